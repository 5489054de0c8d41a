package main

import (
	"bytes"
	"encoding/csv"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/huizong/huizong/handlers"
)

// The Swagger UI pages' Content-Security-Policy.
const frictionSwaggerCSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"

// TestFrictionRootAndSwagger: / points to the docs, and the Swagger UI
// pages are served under a strict CSP and may not be framed.
func TestFrictionRootAndSwagger(t *testing.T) {
	s := newTestServer(t, nil)
	var root handlers.RootResponse
	r := s.must(http.StatusOK, req{method: "GET", path: "/"})
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET / content type %q", ct)
	}
	r.decode(t, &root)
	want := handlers.RootResponse{Name: "huizong", Docs: "/swagger/index.html", OpenAPI: "/swagger/doc.json", Health: "/healthz", Ready: "/readyz"}
	if root != want {
		t.Errorf("GET / = %+v, want %+v", root, want)
	}
	for _, path := range []string{root.Docs, "/swagger/swagger-ui.css", "/swagger/swagger-initializer.js"} {
		r := s.must(http.StatusOK, req{method: "GET", path: path})
		if got := r.header.Get("Content-Security-Policy"); got != frictionSwaggerCSP {
			t.Errorf("%s: Content-Security-Policy %q", path, got)
		}
		if got := r.header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", path, got)
		}
	}
	frictionSpec(t, s, root.OpenAPI)
	// The bare directory leads to the UI.
	resp, err := noRedirect(s).Get(s.http.URL + "/swagger/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/swagger/index.html" {
		t.Errorf("/swagger/: %d to %q", resp.StatusCode, loc)
	}
}

// TestFrictionSwaggerUIOff: swagger_ui=false hides the UI, not the spec.
func TestFrictionSwaggerUIOff(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_SWAGGER_UI": "false"})
	for _, path := range []string{"/swagger/index.html", "/swagger/swagger-ui-bundle.js", "/swagger/", "/swagger/doc.json/index.html"} {
		s.must(http.StatusNotFound, req{method: "GET", path: path})
	}
	frictionSpec(t, s, "/swagger/doc.json")
	// gin-swagger alone would pick index.html out of the query string.
	frictionSpec(t, s, "/swagger/doc.json?index.html")
	var root handlers.RootResponse
	s.must(http.StatusOK, req{method: "GET", path: "/"}).decode(t, &root)
	if root.Docs != "" || root.OpenAPI != "/swagger/doc.json" {
		t.Errorf("GET / without the UI = %+v", root)
	}
}

// frictionSpec checks that path answers the OpenAPI document.
func frictionSpec(t *testing.T, s *testServer, path string) {
	t.Helper()
	r := s.must(http.StatusOK, req{method: "GET", path: path})
	var spec struct {
		Swagger string         `json:"swagger"`
		Paths   map[string]any `json:"paths"`
	}
	r.decode(t, &spec)
	if spec.Swagger == "" || spec.Paths["/api/v1/users:import-template"] == nil {
		t.Errorf("%s: not the spec with the import template: %.200s", path, r.body)
	}
}

func noRedirect(s *testServer) *http.Client {
	c := *s.http.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// TestFrictionImportTemplate: a principal downloads the import template in
// both formats, and each imports back (dry run) as it comes; a wrong role
// is answered with the role words, never with sysadmin.
func TestFrictionImportTemplate(t *testing.T) {
	s := newTestServer(t, nil)
	admin := s.adminToken()
	s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/users:import-template"})
	s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/users:import-template?format=xls", token: admin})

	wantHeader := []string{"姓名", "手机号", "角色", "学校", "用户名", "初始密码"}
	// The example row names a school: make one of that name, with a
	// principal, in a fresh tree.
	csvRows := frictionCSV(t, s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users:import-template?format=csv", token: admin}).body)
	if len(csvRows) != 2 || len(csvRows[1]) != len(wantHeader) {
		t.Fatalf("csv template rows %q", csvRows)
	}
	org := func(kind, name, parent string) string {
		var o idOnly
		s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: admin,
			body: map[string]any{"kind": kind, "name": name, "parent_id": parent}}).decode(t, &o)
		return o.ID
	}
	school := org("school", csvRows[1][3], org("district", "成华区", org("city", "成都市", "")))
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/users", token: admin, body: map[string]any{
		"username": "principal", "name": "王校长", "mobile": "13900000004", "role": "principal", "org_id": school, "password": userPassword,
	}})
	principal := s.activate("principal", userPassword)

	for _, tt := range []struct{ format, contentType string }{
		{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"csv", "text/csv; charset=utf-8"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			path := "/api/v1/users:import-template?format=" + tt.format
			if tt.format == "xlsx" {
				path = "/api/v1/users:import-template" // the default
			}
			r := s.must(http.StatusOK, req{method: "GET", path: path, token: principal})
			if ct := r.header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("content type %q, want %q", ct, tt.contentType)
			}
			name := "用户导入模板." + tt.format
			cd := r.header.Get("Content-Disposition")
			if !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "filename*=UTF-8''"+url.PathEscape(name)) {
				t.Errorf("Content-Disposition %q", cd)
			}
			var rows [][]string
			if tt.format == "csv" {
				if !bytes.HasPrefix(r.body, []byte("\uFEFF")) {
					t.Errorf("csv without a BOM: %q", r.body[:min(len(r.body), 16)])
				}
				rows = frictionCSV(t, r.body)
			} else {
				f, err := excelize.OpenReader(bytes.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if rows, err = f.GetRows("用户"); err != nil {
					t.Fatal(err)
				}
			}
			if len(rows) != 2 || !reflect.DeepEqual(rows[0], wantHeader) {
				t.Fatalf("template rows %q, want the header %q and one example", rows, wantHeader)
			}
			var report handlers.ImportResponse
			s.must(http.StatusOK, frictionUpload(principal, name, r.body, "?dry_run=true")).decode(t, &report)
			if !report.DryRun || len(report.Rows) != 1 || report.Rows[0].Status != "valid" || report.Rows[0].Line != 2 {
				t.Errorf("dry run of the template: %+v", report)
			}
		})
	}

	// A role the import does not know names the words it does.
	bad := "\uFEFF姓名,手机号,角色,学校\r\n张三,13800138000,管理员," + csvRows[1][3] + "\r\n"
	p := s.must(http.StatusUnprocessableEntity, frictionUpload(principal, "u.csv", []byte(bad), "?dry_run=true")).problem(t)
	found := false
	for _, e := range p.Errors {
		if e.Field != "rows[2].role" {
			continue
		}
		found = true
		if e.Code != "enum" || strings.Contains(e.Message, "sysadmin") || !strings.Contains(e.Message, "教师") || !strings.Contains(e.Message, "校长") {
			t.Errorf("role error %+v, want the role words", e)
		}
	}
	if !found {
		t.Errorf("no role error: %+v", p.Errors)
	}
}

// frictionCSV reads a UTF-8 CSV with a BOM.
func frictionCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// frictionUpload is a users:import request of one file.
func frictionUpload(token, name string, content []byte, query string) req {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = mw.Close()
	return req{method: "POST", path: "/api/v1/users:import" + query, token: token, body: body.Bytes(),
		header: map[string]string{"Content-Type": mw.FormDataContentType()}}
}
