package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestBadInputGetsProblems: malformed JSON, unknown fields, wrong types,
// oversize bodies and hostile payloads get problem+json naming the field,
// never a 500.
func TestBadInputGetsProblems(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	admin := w.tokens["adminA"]
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		header map[string]string
		status int
		code   string
		field  string
	}{
		{"malformed JSON", "POST", "/api/v1/orgs", `{"kind": "school",`, nil, 400, "bad_request", "body"},
		{"not an object", "POST", "/api/v1/orgs", `[1,2]`, nil, 400, "bad_request", "body"},
		{"empty body", "POST", "/api/v1/orgs", ``, nil, 400, "bad_request", "body"},
		{"trailing data", "POST", "/api/v1/orgs", `{"kind":"school"} {}`, nil, 400, "bad_request", "body"},
		{"unknown field", "POST", "/api/v1/orgs", `{"kind":"school","name":"x","parent_id":"p","colour":"red"}`, nil, 422, "validation_failed", "colour"},
		{"mass assignment of version", "POST", "/api/v1/orgs", `{"kind":"school","name":"x","version":7}`, nil, 422, "validation_failed", "version"},
		{"mass assignment of id", "POST", "/api/v1/users", `{"id":"x","name":"x","role":"teacher"}`, nil, 422, "validation_failed", "id"},
		{"wrong type: number as string", "POST", "/api/v1/orgs", `{"kind":"school","name":"x","students":"many"}`, nil, 400, "bad_request", "students"},
		{"wrong type: string as number", "POST", "/api/v1/orgs", `{"kind":"school","name":123}`, nil, 400, "bad_request", "name"},
		{"NoSQL operator in a field", "POST", "/api/v1/users", `{"username":{"$ne":null},"name":"x"}`, nil, 400, "bad_request", "username"},
		{"NoSQL $where", "POST", "/api/v1/orgs", `{"name":{"$where":"sleep(1000)"}}`, nil, 400, "bad_request", "name"},
		{"SQL in a field is just text, and invalid", "POST", "/api/v1/orgs", `{"kind":"school","name":"'; DROP TABLE orgs; --","parent_id":"\") OR 1=1 --"}`, nil, 422, "validation_failed", "parent_id"},
		{"wrong enum", "POST", "/api/v1/orgs", `{"kind":"village","name":"x"}`, nil, 422, "validation_failed", "kind"},
		{"bad school code", "POST", "/api/v1/orgs", map[string]any{"kind": "school", "name": "x", "parent_id": w.distA, "code": "12ab"}, nil, 422, "validation_failed", "code"},
		{"bad stage", "POST", "/api/v1/orgs", map[string]any{"kind": "school", "name": "x", "parent_id": w.distA, "stages": []string{"大学"}}, nil, 422, "validation_failed", "stages[0]"},
		{"negative headcount", "POST", "/api/v1/orgs", map[string]any{"kind": "school", "name": "x", "parent_id": w.distA, "students": -1}, nil, 422, "validation_failed", "students"},
		{"missing name", "POST", "/api/v1/orgs", map[string]any{"kind": "school", "parent_id": w.distA}, nil, 422, "validation_failed", "name"},
		{"bad mobile", "POST", "/api/v1/users", map[string]any{"name": "x", "mobile": "12345", "role": "teacher", "org_id": w.schoolA1}, nil, 422, "validation_failed", "mobile"},
		{"weak password", "POST", "/api/v1/users", map[string]any{"name": "x", "mobile": "13600000001", "role": "teacher", "org_id": w.schoolA1, "password": "12345678"}, nil, 422, "validation_failed", "password"},
		{"taken mobile", "POST", "/api/v1/users", map[string]any{"name": "x", "mobile": "13900000007", "role": "teacher", "org_id": w.schoolA1}, nil, 422, "validation_failed", "mobile"},
		{"deep nesting", "POST", "/api/v1/orgs", strings.Repeat(`{"a":`, 101) + "1" + strings.Repeat("}", 101), nil, 422, "validation_failed", "a"},
		{"oversize body", "POST", "/api/v1/orgs", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "payload_too_large", ""},
		{"wrong media type", "POST", "/api/v1/orgs", `kind=school`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"limit not a number", "GET", "/api/v1/orgs?limit=lots", nil, nil, 400, "bad_request", "limit"},
		{"bad cursor", "GET", "/api/v1/orgs?cursor=%24ne", nil, nil, 400, "bad_request", "cursor"},
		{"If-Match missing", "PATCH", "/api/v1/orgs/" + w.schoolA1, map[string]any{"name": "y"}, nil, 428, "precondition_required", ""},
		{"If-Match stale", "PATCH", "/api/v1/orgs/" + w.schoolA1, map[string]any{"name": "y"}, map[string]string{"If-Match": `"v9"`}, 412, "precondition_failed", ""},
		{"change kind", "PATCH", "/api/v1/orgs/" + w.schoolA1, map[string]any{"kind": "district"}, map[string]string{"If-Match": `"v1"`}, 422, "validation_failed", "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(req{method: tt.method, path: tt.path, token: admin, body: tt.body, header: tt.header})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			p := r.problem(t)
			if p.Code != tt.code || p.Status != tt.status || p.Title == "" || p.RequestID == "" {
				t.Errorf("problem %+v, want code %s", p, tt.code)
			}
			if tt.field != "" && !p.hasField(tt.field) {
				t.Errorf("problem does not name field %q: %+v", tt.field, p.Errors)
			}
		})
	}
	// The limit is capped, not an error.
	var list struct {
		Items []any `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs?limit=100000", token: admin}).decode(t, &list)
}

func TestProblemsSpeakChineseByDefault(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	body := map[string]any{"kind": "school", "parent_id": w.distA}
	zh := s.must(422, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"], body: body}).problem(t)
	en := s.must(422, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"], body: body,
		header: map[string]string{"Accept-Language": "en-US,en;q=0.9"}}).problem(t)
	zhExplicit := s.must(422, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"], body: body,
		header: map[string]string{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}}).problem(t)
	if zh.Title != "提交的内容未通过校验" || zh.Errors[0].Message != "必填" {
		t.Errorf("default language: %+v", zh)
	}
	if en.Title != "The request content is invalid" || en.Errors[0].Message != "is required" {
		t.Errorf("English: %+v", en)
	}
	if zhExplicit.Title != zh.Title {
		t.Errorf("zh-CN: %+v", zhExplicit)
	}
}

func TestNotFoundMethodNotAllowedAndPanics(t *testing.T) {
	s := newTestServer(t, nil)
	s.app.router.GET("/test-panic", func(c *gin.Context) { panic("boom") })
	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/no/such/path", 404, "not_found"},
		{"GET", "/api/v1/nothing-here", 404, "not_found"},
		{"DELETE", "/healthz", 405, "method_not_allowed"},
		{"GET", "/test-panic", 500, "internal"},
	} {
		r := s.do(req{method: tt.method, path: tt.path})
		if r.status != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, r.status, tt.status)
			continue
		}
		if p := r.problem(t); p.Code != tt.code || strings.Contains(string(r.body), "boom") {
			t.Errorf("%s %s: %s", tt.method, tt.path, r.body)
		}
	}
	// The server still answers after the panic.
	s.must(http.StatusOK, req{method: "GET", path: "/healthz"})
}

func TestCORSAllowsOnlyConfiguredOrigins(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_CORS_ORIGINS": "https://app.huizong.cn"})
	good := s.do(req{method: "OPTIONS", path: "/api/v1/me", header: map[string]string{"Origin": "https://app.huizong.cn", "Access-Control-Request-Method": "GET"}})
	if good.status != http.StatusNoContent || good.header.Get("Access-Control-Allow-Origin") != "https://app.huizong.cn" {
		t.Errorf("allowed origin: %d %v", good.status, good.header)
	}
	evil := s.do(req{method: "GET", path: "/healthz", header: map[string]string{"Origin": "https://evil.example"}})
	if evil.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("evil origin got ACAO %q", evil.header.Get("Access-Control-Allow-Origin"))
	}
}

func TestAuthenticatedAnswersAreNotCached(t *testing.T) {
	s := newTestServer(t, nil)
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: s.adminToken(), header: map[string]string{"X-Request-ID": "trace-123"}})
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Request-ID") != "trace-123" {
		t.Errorf("headers %v", r.header)
	}
	if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "password_hash") {
		t.Errorf("a hash leaked: %s", r.body)
	}
}

func TestGzipWhenAccepted(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	// Naming the encoding ourselves turns off the client's transparent
	// decompression, so the test sees the wire.
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/tree", token: w.admin, header: map[string]string{"Accept-Encoding": "gzip"}})
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip: %v", r.header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Contains(plain, []byte("成华区实验小学")) {
		t.Fatalf("gunzipped body %q, %v", plain, err)
	}
	// Not for clients that did not ask, nor for answers without a body.
	if r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: w.admin, header: map[string]string{"Accept-Encoding": "identity"}}); r.header.Get("Content-Encoding") != "" {
		t.Errorf("identity got %q", r.header.Get("Content-Encoding"))
	}
	if r := s.must(http.StatusNoContent, req{method: "POST", path: "/api/v1/auth/logout", token: w.tokens["teacherB1"], header: map[string]string{"Accept-Encoding": "gzip"}}); r.header.Get("Content-Encoding") != "" || len(r.body) != 0 {
		t.Errorf("204 got encoding %q and %d bytes", r.header.Get("Content-Encoding"), len(r.body))
	}
	// Answers under 1 KiB, like this problem, go plain, with their length.
	if p := s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/orgs/nope", token: w.admin, header: map[string]string{"Accept-Encoding": "gzip"}}); p.header.Get("Content-Encoding") != "" || p.header.Get("Content-Length") != strconv.Itoa(len(p.body)) || p.header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("small problem: %v, %d bytes; want plain with Content-Length and Vary", p.header, len(p.body))
	}
}
