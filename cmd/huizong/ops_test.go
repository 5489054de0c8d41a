package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHealthReadyAndSwagger(t *testing.T) {
	s := newTestServer(t, nil)
	var ready struct {
		Status string `json:"status"`
		Store  string `json:"store"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/healthz"})
	s.must(http.StatusOK, req{method: "GET", path: "/readyz"}).decode(t, &ready)
	want := "sqlite"
	if usingMongo() {
		want = "mongodb"
	}
	if ready.Store != want {
		t.Errorf("readyz store %q, want %q", ready.Store, want)
	}
	doc := s.must(http.StatusOK, req{method: "GET", path: "/swagger/doc.json"})
	for _, op := range []string{`"operationId": "login"`, `"operationId": "createOrg"`, `"operationId": "importUsers"`, `"BearerAuth"`} {
		if !bytes.Contains(doc.body, []byte(op)) {
			t.Errorf("swagger doc lacks %s", op)
		}
	}
	s.must(http.StatusOK, req{method: "GET", path: "/swagger/index.html"})
	s.app.router.Drain()
	s.must(http.StatusServiceUnavailable, req{method: "GET", path: "/readyz"})
}

func TestFirstStartAndRestartKeepData(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_ADMIN_PASSWORD": ""})
	out := s.out.String()
	i := strings.Index(out, "password: ")
	if i < 0 {
		t.Fatalf("first start printed no password: %q", out)
	}
	generated := strings.Fields(out[i+len("password: "):])[0]
	first := s.login("admin", generated)
	tok := first.AccessToken
	// A generated password must be changed before anything else works.
	if p := s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/orgs", token: tok, body: map[string]any{"kind": "city", "name": "成都市"}}).problem(t); p.Code != "password_change_required" {
		t.Errorf("before the password change: code %q, want password_change_required", p.Code)
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: tok})
	const chosen = "Admin-chosen-2025"
	s.must(http.StatusNoContent, req{method: "PUT", path: "/api/v1/me/password", token: tok, body: map[string]string{"current_password": generated, "new_password": chosen}})
	generated = chosen
	var tp tokenPair
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": first.RefreshToken}}).decode(t, &tp)
	tok = tp.AccessToken
	var school idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: tok, body: map[string]any{"kind": "city", "name": "成都市"}}).decode(t, &school)

	s.out.Reset()
	s.restart()
	if strings.Contains(s.out.String(), "password") {
		t.Errorf("second start printed a password again: %q", s.out.String())
	}
	// Same admin, same password, same data, same signing key (old tokens still valid).
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: tok})
	tok = s.login("admin", generated).AccessToken
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + school.ID, token: tok})
}

func TestOrgCRUDTreeAndPaging(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	admin := w.tokens["adminA"]
	// Update with the ETag, then the old ETag is stale.
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1, token: admin})
	tag := r.header.Get("ETag")
	var o struct {
		Name      string   `json:"name"`
		Students  int      `json:"students"`
		Stages    []string `json:"stages"`
		Ancestors []string `json:"ancestors"`
		Version   int64    `json:"version"`
	}
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + w.schoolA1, token: admin, header: map[string]string{"If-Match": tag},
		body: map[string]any{"students": 1800, "stages": []string{"小学"}, "name": "  成华区实验小学（本部） "}}).decode(t, &o)
	if o.Students != 1800 || o.Name != "成华区实验小学（本部）" || o.Version != 2 || len(o.Ancestors) != 2 || o.Ancestors[0] != w.city {
		t.Errorf("updated org: %+v", o)
	}
	s.must(http.StatusNotModified, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1, token: admin, header: map[string]string{"If-None-Match": `"v2"`}})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1, token: admin, header: map[string]string{"If-None-Match": tag}})
	s.must(http.StatusPreconditionFailed, req{method: "PATCH", path: "/api/v1/orgs/" + w.schoolA1, token: admin, header: map[string]string{"If-Match": tag}, body: map[string]any{"staff": 1}})

	// A unit with users cannot go; an empty one can.
	s.must(http.StatusConflict, req{method: "DELETE", path: "/api/v1/orgs/" + w.schoolA1, token: admin, header: map[string]string{"If-Match": `"v2"`}})
	var empty idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: admin, body: map[string]any{"kind": "school", "name": "待撤并学校", "parent_id": w.distA}}).decode(t, &empty)
	s.must(http.StatusNoContent, req{method: "DELETE", path: "/api/v1/orgs/" + empty.ID, token: admin, header: map[string]string{"If-Match": `"v1"`}})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/orgs/" + empty.ID, token: admin})

	// Tree: the district admin sees their district and its schools, with an ETag.
	tree := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/tree", token: admin})
	var got struct {
		Roots []struct {
			ID       string `json:"id"`
			Children []struct {
				ID string `json:"id"`
			} `json:"children"`
		} `json:"roots"`
	}
	tree.decode(t, &got)
	if len(got.Roots) != 1 || got.Roots[0].ID != w.distA || len(got.Roots[0].Children) != 2 {
		t.Errorf("tree: %s", tree.body)
	}
	s.must(http.StatusNotModified, req{method: "GET", path: "/api/v1/orgs/tree", token: admin, header: map[string]string{"If-None-Match": tree.header.Get("ETag")}})

	// Paging walks every school once.
	for i := range 5 {
		s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: admin, body: map[string]any{"kind": "school", "name": fmt.Sprintf("学校%d", i), "parent_id": w.distA}})
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs?kind=school&limit=2&cursor=" + cursor, token: admin}).decode(t, &page)
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Fatalf("school %s listed twice", it.ID)
			}
			seen[it.ID] = true
		}
		if page.NextCursor == "" || pages > 10 {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 7 {
		t.Errorf("paged through %d schools, want 7", len(seen))
	}
	// Totals only when asked, scoped like the list.
	var counted struct {
		Items []any  `json:"items"`
		Total *int64 `json:"total"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs?kind=school&limit=2&count=true", token: admin}).decode(t, &counted)
	if counted.Total == nil || *counted.Total != 7 || len(counted.Items) != 2 {
		t.Errorf("count=true: total %v, %d items; want 7 and 2", counted.Total, len(counted.Items))
	}
	counted.Total = nil
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs?kind=school", token: admin}).decode(t, &counted)
	if counted.Total != nil {
		t.Errorf("a total without count=true")
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users?count=true", token: w.tokens["principalA1"]}).decode(t, &counted)
	if counted.Total == nil || *counted.Total != 3 {
		t.Errorf("principal's user total %v, want 3", counted.Total)
	}
	s.must(http.StatusBadRequest, req{method: "GET", path: "/api/v1/orgs?count=maybe", token: admin})
}

func TestUserImport(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	var code idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"],
		body: map[string]any{"kind": "school", "name": "成华区第三小学", "parent_id": w.distA, "code": "2151010003"}}).decode(t, &code)
	upload := func(name, content string, query string) response {
		var body bytes.Buffer
		boundary := "huizongboundary"
		fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=%q\r\nContent-Type: text/csv\r\n\r\n%s\r\n--%s--\r\n", boundary, name, content, boundary)
		return s.do(req{method: "POST", path: "/api/v1/users:import" + query, token: w.tokens["adminA"], body: body.Bytes(),
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=" + boundary}})
	}
	bad := "姓名,手机号,角色,学校\n" +
		"王一,13611110001,教师,成华区实验小学\n" +
		"王二,13611110002,校长,2151010003\n" +
		"王三,1361111,教师,成华区实验小学\n" + // line 4: bad mobile
		"王四,13611110004,教师,锦江区实验小学\n" + // line 5: school of another district
		"王五,13611110001,教师,成华区实验小学\n" // line 6: repeats line 2
	r := upload("teachers.csv", bad, "")
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad import: status %d %s", r.status, r.body)
	}
	p := r.problem(t)
	for _, f := range []string{"rows[4].mobile", "rows[5].school", "rows[6].mobile"} {
		if !p.hasField(f) {
			t.Errorf("report does not name %s: %+v", f, p.Errors)
		}
	}
	var list struct {
		Items []struct {
			Mobile string `json:"mobile"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users?limit=100", token: w.tokens["adminA"]}).decode(t, &list)
	for _, u := range list.Items {
		if strings.HasPrefix(u.Mobile, "136111") {
			t.Fatalf("a bad import stored %s", u.Mobile)
		}
	}

	good := "\ufeff姓名,手机号,角色,学校\n王一,13611110001,教师,成华区实验小学\n\n王二,+86 136-1111-0002,校长,2151010003\n"
	dry := upload("teachers.csv", good, "?dry_run=true")
	if dry.status != http.StatusOK {
		t.Fatalf("dry run: %d %s", dry.status, dry.body)
	}
	r = upload("teachers.csv", good, "")
	if r.status != http.StatusCreated {
		t.Fatalf("good import: %d %s", r.status, r.body)
	}
	var report struct {
		Created int `json:"created"`
		Rows    []struct {
			Line            int    `json:"line"`
			Status          string `json:"status"`
			InitialPassword string `json:"initial_password"`
			User            struct {
				Username string `json:"username"`
				OrgID    string `json:"org_id"`
				Role     string `json:"role"`
			} `json:"user"`
		} `json:"rows"`
	}
	r.decode(t, &report)
	if report.Created != 2 || report.Rows[1].Line != 4 || report.Rows[1].User.OrgID != code.ID || report.Rows[1].User.Role != "principal" {
		t.Fatalf("report: %s", r.body)
	}
	s.login(report.Rows[0].User.Username, report.Rows[0].InitialPassword)
	s.login("13611110002", report.Rows[1].InitialPassword)
	// The same file again: every row is taken now, nothing is created.
	if r := upload("teachers.csv", good, ""); r.status != http.StatusUnprocessableEntity {
		t.Errorf("re-import: %d %s", r.status, r.body)
	}
}

// TestServeShutsDownGracefully runs the real server: a request in flight
// when SIGTERM (here: ctx cancel) arrives still finishes, and the store is
// closed so the next start opens it cleanly.
func TestServeShutsDownGracefully(t *testing.T) {
	if usingMongo() {
		t.Skip("serve opens the store from the configuration")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, map[string]string{"HUIZONG_ADDR": "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- serve(ctx, cfg, newLogger(cfg, &syncWriter{w: &logs}), io.Discard, ready) }()
	addr := <-ready
	base := "http://" + addr
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(base + "/readyz")
				if err != nil {
					return // the listener is closed: shutdown began
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	close(stop)
	wg.Wait()
	if ok.Load() == 0 || failed.Load() != 0 {
		t.Errorf("requests during shutdown: %d ok, %d failed", ok.Load(), failed.Load())
	}
	// Started again on the same data: the admin is still there.
	s := &testServer{t: t, dir: dir, cfg: cfg, clock: &clock{now: time.Now()}}
	s.start()
	s.login("admin", adminPassword)
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestBackupCommandUnderLoadRestores: `huizong backup` while requests keep
// writing, then `huizong restore` into a fresh data dir gives a working
// server with the data.
func TestBackupCommandUnderLoadRestores(t *testing.T) {
	if usingMongo() {
		t.Skip("backup is for the embedded store")
	}
	s := newTestServer(t, nil)
	w := s.seed()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var created atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := s.do(req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"],
					body: map[string]any{"kind": "school", "name": fmt.Sprintf("负载学校%d-%d", g, i), "parent_id": w.distA}})
				if r.status == http.StatusCreated {
					created.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	file := filepath.Join(t.TempDir(), "huizong-backup.db")
	var out bytes.Buffer
	env := func(k string) string {
		return map[string]string{"HUIZONG_DATA_DIR": s.dir, "HUIZONG_LOG_LEVEL": "error"}[k]
	}
	beforeBackup := created.Load()
	if err := run(context.Background(), []string{"backup", "-config", "../../configs/huizong.yaml", file}, env, &out, io.Discard); err != nil {
		t.Fatalf("backup: %v", err)
	}
	atBackup := created.Load()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if atBackup == 0 {
		t.Fatal("no writes ran during the backup")
	}

	restored := t.TempDir()
	env2 := func(k string) string {
		return map[string]string{"HUIZONG_DATA_DIR": restored, "HUIZONG_LOG_LEVEL": "error"}[k]
	}
	if err := run(context.Background(), []string{"restore", "-config", "../../configs/huizong.yaml", file}, env2, &out, io.Discard); err != nil {
		t.Fatalf("restore: %v", err)
	}
	r := &testServer{t: t, dir: restored, cfg: testConfig(t, restored, nil), clock: &clock{now: time.Now()}}
	r.start()
	tok := r.login("admina", userPassword).AccessToken
	n := 0
	cursor := ""
	for {
		var page struct {
			Items      []any  `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		r.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs?kind=school&limit=100&cursor=" + cursor, token: tok}).decode(t, &page)
		n += len(page.Items)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	// The copy holds the two seeded schools, every school created before
	// the backup began, and nothing created after it ended.
	if n < 2+int(beforeBackup) || n > 2+int(atBackup) {
		t.Errorf("restored store has %d schools, want %d to %d", n, 2+beforeBackup, 2+atBackup)
	}
	t.Logf("schools created: %d before the backup, %d when it ended, %d in all; %d in the restore", beforeBackup, atBackup, created.Load(), n)
	r.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: tok, body: map[string]any{"kind": "school", "name": "恢复后新建", "parent_id": w.distA}})
}
