package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/huizong/huizong/repository/sqlite"
)

// TestMustChangePasswordEnforced: an account an admin created may only
// read /me, change its password and sign out until it changes it.
func TestMustChangePasswordEnforced(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/users", token: w.tokens["principalA1"], body: map[string]any{
		"username": "new.teacher", "name": "新老师", "role": "teacher", "org_id": w.schoolA1, "password": "Given-on-paper-1"}})
	tp := s.login("new.teacher", "Given-on-paper-1")
	var me struct {
		MustChange bool `json:"must_change_password"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: tp.AccessToken}).decode(t, &me)
	if !me.MustChange {
		t.Fatal("a created account does not have to change its password")
	}
	for _, r := range []req{
		{method: "GET", path: "/api/v1/templates"},
		{method: "GET", path: "/api/v1/records"},
		{method: "POST", path: "/api/v1/records", body: drill(uuid(), 100)},
		{method: "GET", path: "/api/v1/me/sessions"},
	} {
		r.token = tp.AccessToken
		if p := s.must(http.StatusForbidden, r).problem(t); p.Code != "password_change_required" {
			t.Errorf("%s %s: code %q, want password_change_required", r.method, r.path, p.Code)
		}
	}
	s.must(http.StatusNoContent, req{method: "PUT", path: "/api/v1/me/password", token: tp.AccessToken,
		body: map[string]string{"current_password": "Given-on-paper-1", "new_password": "My-own-choice-22"}})
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tp.RefreshToken}}).decode(t, &tp)
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates", token: tp.AccessToken})
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/records", token: tp.AccessToken, body: drill(uuid(), 100)})
	s.must(http.StatusNoContent, req{method: "POST", path: "/api/v1/auth/logout", token: tp.AccessToken})
}

// TestIdempotencyKeyBoundToPath: a key used to approve R1 is not replayed
// for R2; reusing it there is 422 and R2 stays unreviewed.
func TestIdempotencyKeyBoundToPath(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	r1 := s.createRecord(w.tokens["teacherA1"], drill(uuid(), 100))
	r2 := s.createRecord(w.tokens["teacherA1"], drill(uuid(), 200))
	key := map[string]string{"Idempotency-Key": "approve-batch-1", "If-Match": `"v1"`}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r1.ID + "/approve", token: w.tokens["principalA1"], header: key})
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r1.ID + "/approve", token: w.tokens["principalA1"], header: key}) // a replay
	p := s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/records/" + r2.ID + "/approve", token: w.tokens["principalA1"], header: key}).problem(t)
	if p.Code != "idempotency_key_reused" || !p.hasField("Idempotency-Key") {
		t.Errorf("key reused on another path: %+v", p)
	}
	var got recordBody
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records/" + r2.ID, token: w.tokens["principalA1"]}).decode(t, &got)
	if got.Status != "submitted" {
		t.Errorf("R2 is %s after the refused reuse, want submitted", got.Status)
	}
}

// TestNoSecretInReplayTable: a generated password is answered once and
// replayed to a retry with the key, but the stored answer does not hold
// it in clear.
func TestNoSecretInReplayTable(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	key := map[string]string{"Idempotency-Key": "new-teacher-7"}
	body := map[string]any{"username": "gen.teacher", "name": "王老师", "role": "teacher", "org_id": w.schoolA1}
	var first, again struct {
		Password string `json:"initial_password"`
	}
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/users", token: w.tokens["adminA"], body: body, header: key}).decode(t, &first)
	if len(first.Password) < 8 {
		t.Fatalf("no generated password in the answer: %q", first.Password)
	}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/users", token: w.tokens["adminA"], body: body, header: key}).decode(t, &again)
	if again.Password != first.Password {
		t.Errorf("replay password %q, want the first answer's", again.Password)
	}
	if usingMongo() {
		return // the stored rows are read below from the embedded store's file
	}
	db, err := sql.Open("sqlite", filepath.Join(s.dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT body FROM idempotency`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		n++
		if bytes.Contains(b, []byte(first.Password)) || bytes.Contains(b, []byte("gen.teacher")) {
			t.Errorf("a stored replay holds the answer in clear: %q", b)
		}
	}
	if n == 0 {
		t.Fatal("no stored replay found")
	}
}

// TestLoginThrottlePerAddress: wrong passwords from one address throttle
// that address, not the account's owner signing in from another.
func TestLoginThrottlePerAddress(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_TRUSTED_PROXIES": "127.0.0.1"})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	for range 5 {
		s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/login", header: from("203.0.113.7"),
			body: map[string]string{"username": "admin", "password": "guess-guess"}})
	}
	r := s.must(http.StatusTooManyRequests, req{method: "POST", path: "/api/v1/auth/login", header: from("203.0.113.7"),
		body: map[string]string{"username": "admin", "password": adminPassword}})
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/login", header: from("198.51.100.20"),
		body: map[string]string{"username": "admin", "password": adminPassword}})
}

// TestWriteBudget: one account's record writes are bounded (a batch costs
// its records), with 429 and Retry-After beyond; other accounts go on.
func TestWriteBudget(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_RECORD_BURST": "120", "HUIZONG_RECORD_RATE": "1"})
	w := s.seed()
	batch := func(n int) map[string]any {
		recs := make([]any, n)
		for i := range recs {
			recs[i] = drill(uuid(), 10+i)
		}
		return map[string]any{"records": recs}
	}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records:batch", token: w.tokens["teacherA1"], body: batch(100)})
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records:batch", token: w.tokens["teacherA1"], body: batch(20)})
	r := s.must(http.StatusTooManyRequests, req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherA1"], body: drill(uuid(), 5)})
	if p := r.problem(t); p.Code != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Errorf("over budget: code %q, Retry-After %q", p.Code, r.header.Get("Retry-After"))
	}
	s.must(http.StatusTooManyRequests, req{method: "POST", path: "/api/v1/records:batch", token: w.tokens["teacherA1"], body: batch(2)})
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherA1b"], body: drill(uuid(), 5)})
}

// TestBuiltinTemplatesOnlySysadmin: a city admin may not change or retire
// a built-in template every city shares; they copy it instead.
func TestBuiltinTemplatesOnlySysadmin(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/safety_drill", token: w.tokens["cityadmin"]})
	for _, who := range []string{"cityadmin", "adminA"} {
		s.must(http.StatusForbidden, req{method: "PATCH", path: "/api/v1/templates/safety_drill", token: w.tokens[who],
			header: map[string]string{"If-Match": r.header.Get("ETag")}, body: map[string]any{"active": false}})
	}
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates/safety_drill/copy", token: w.tokens["cityadmin"],
		body: map[string]any{"key": "city_safety_drill"}})
	// Still active for everyone.
	var tpl struct {
		Active bool `json:"active"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/safety_drill", token: w.tokens["teacherB1"]}).decode(t, &tpl)
	if !tpl.Active {
		t.Error("a city admin retired a built-in template")
	}
}

// TestResetPasswordCommand: the operator resets the admin's password with
// the server running; the new one signs in, old sessions are revoked.
func TestResetPasswordCommand(t *testing.T) {
	if usingMongo() {
		t.Skip("the command opens the store from the configuration")
	}
	s := newTestServer(t, nil)
	old := s.login("admin", adminPassword)
	env := func(k string) string {
		return map[string]string{"HUIZONG_DATA_DIR": s.dir, "HUIZONG_LOG_LEVEL": "error", "HUIZONG_NEW_PASSWORD": "Recovered-2026-pw"}[k]
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"admin", "reset-password", "admin"}, env, &out, io.Discard); err != nil {
		t.Fatalf("reset-password: %v", err)
	}
	if !strings.Contains(out.String(), "reset") {
		t.Errorf("output %q", out.String())
	}
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "admin", "password": adminPassword}})
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": old.RefreshToken}})
	s.login("admin", "Recovered-2026-pw")

	// Without a password it generates one, prints it, and the account must change it.
	env2 := func(k string) string {
		return map[string]string{"HUIZONG_DATA_DIR": s.dir, "HUIZONG_LOG_LEVEL": "error"}[k]
	}
	out.Reset()
	if err := run(context.Background(), []string{"admin", "reset-password", "admin"}, env2, &out, io.Discard); err != nil {
		t.Fatalf("reset-password, generated: %v", err)
	}
	i := strings.Index(out.String(), "new password: ")
	if i < 0 {
		t.Fatalf("no generated password printed: %q", out.String())
	}
	gen := strings.Fields(out.String()[i+len("new password: "):])[0]
	// A fresh token (this second's reset may still accept the last), then
	// the must-change rule applies to it.
	// The reset ran on the real clock (slow under the race detector: a
	// real argon2id hash): move the server's past it.
	s.clock.Advance(time.Since(s.clock.Now()) + 2*time.Second)
	tok := s.login("admin", gen).AccessToken
	s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/orgs", token: tok})
	// Both resets are in the audit log, done by the operator.
	var log auditList
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/audit?kind=password_reset", token: s.activate("admin", gen)}).decode(t, &log)
	if len(log.Items) != 2 || log.Items[0].ActorName != "operator" || log.Items[0].SubjectName != "admin" || log.Items[0].ActorID != "" {
		t.Errorf("audit of the resets = %+v, want two by the operator", log.Items)
	}
	if err := run(context.Background(), []string{"admin", "reset-password", "nobody"}, env, &out, io.Discard); err == nil {
		t.Error("reset-password of an unknown account succeeded")
	}
}

// TestDataDirLockedWhileServing: a second server and a restore are refused
// while a server runs, naming its PID; nothing it acknowledged is lost;
// after it stops, restore works and keeps the replaced database.
func TestDataDirLockedWhileServing(t *testing.T) {
	if usingMongo() {
		t.Skip("the lock guards the embedded store's directory")
	}
	dir := t.TempDir()
	env := func(extra map[string]string) func(string) string {
		return func(k string) string {
			vars := map[string]string{"HUIZONG_DATA_DIR": dir, "HUIZONG_ADMIN_PASSWORD": adminPassword, "HUIZONG_LOG_LEVEL": "error",
				"HUIZONG_ADDR": "127.0.0.1:0", "HUIZONG_SHUTDOWN_DELAY": "0s"}
			for k, v := range extra {
				vars[k] = v
			}
			return vars[k]
		}
	}
	cfg := testConfig(t, dir, map[string]string{"HUIZONG_ADDR": "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard, ready) }()
	base := "http://" + <-ready
	backup := filepath.Join(t.TempDir(), "b.db")
	if err := run(context.Background(), []string{"backup", backup}, env(nil), io.Discard, io.Discard); err != nil {
		t.Fatalf("backup: %v", err)
	}
	// Writes acknowledged after the backup.
	tok := loginAt(t, base, "admin", adminPassword)
	for i := range 25 {
		resp := postJSON(t, base+"/api/v1/orgs", tok, fmt.Sprintf(`{"kind":"city","name":"城市%d"}`, i))
		if resp != http.StatusCreated {
			t.Fatalf("create %d: %d", i, resp)
		}
	}
	pid := fmt.Sprintf("pid %d", os.Getpid())
	err := run(context.Background(), []string{"serve"}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), pid) {
		t.Errorf("second server: err = %v, want a refusal naming %s", err, pid)
	}
	err = run(context.Background(), []string{"restore", backup}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), pid) {
		t.Errorf("restore under a live server: err = %v, want a refusal naming %s", err, pid)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	// Every acknowledged write survived the refused restore.
	s := &testServer{t: t, dir: dir, cfg: testConfig(t, dir, nil), clock: &clock{now: time.Now()}}
	s.start()
	var list struct {
		Items []any `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs?kind=city&limit=100", token: s.adminToken()}).decode(t, &list)
	if len(list.Items) != 25 {
		t.Errorf("%d cities after the refused restore, want 25", len(list.Items))
	}
	s.stop()
	// Stopped, the restore runs and keeps what it replaced.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"restore", backup}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("restore after stop: %v", err)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, sqlite.FileName+".before-restore-*"))
	if len(kept) == 0 || !strings.Contains(out.String(), "kept as") {
		t.Errorf("the replaced database was not kept: %v, %q", kept, out.String())
	}
}

// TestReadyzDuringShutdownDelay: after SIGTERM (ctx cancelled) /readyz
// answers 503 for shutdown_delay while the API still serves.
func TestReadyzDuringShutdownDelay(t *testing.T) {
	if usingMongo() {
		t.Skip("serve opens the store from the configuration")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, map[string]string{"HUIZONG_ADDR": "127.0.0.1:0", "HUIZONG_SHUTDOWN_DELAY": "1500ms"})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard, ready) }()
	base := "http://" + <-ready
	if got := getStatus(t, base+"/readyz"); got != http.StatusOK {
		t.Fatalf("readyz before shutdown: %d", got)
	}
	start := time.Now()
	cancel()
	time.Sleep(200 * time.Millisecond)
	if got := getStatus(t, base+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz during the shutdown delay: %d, want 503", got)
	}
	if got := getStatus(t, base+"/healthz"); got != http.StatusOK {
		t.Errorf("healthz during the shutdown delay: %d, want 200 (still serving)", got)
	}
	tok := loginAt(t, base, "admin", adminPassword)
	if tok == "" {
		t.Error("sign-in during the shutdown delay failed")
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("stopped after %v, before shutdown_delay", d)
	}
}

// TestFullDiskAnswers503: when the store cannot grow (SQLite's
// max_page_count, which fails writes exactly as a full disk does), writes
// answer 503 storage_unavailable with Retry-After and /readyz is 503.
func TestFullDiskAnswers503(t *testing.T) {
	if usingMongo() {
		t.Skip("the page cap is the embedded store's")
	}
	s := newTestServer(t, nil)
	w := s.seed()
	s.stop()
	ctx := context.Background()
	// Closed, the store checkpointed its log: the file is all its pages.
	fi, err := os.Stat(filepath.Join(s.dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	pages := int(fi.Size() / 4096)
	st, err := sqlite.Open(ctx, s.dir, sqlite.Options{MaxPages: pages + 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := newApp(ctx, s.cfg, st, slog.New(slog.DiscardHandler), io.Discard, options{clock: s.clock.Now, passwordParams: &cheapPasswords})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.router)
	defer srv.Close()
	if got := getStatus(t, srv.URL+"/readyz"); got != http.StatusOK {
		t.Fatalf("readyz before the disk fills: %d", got)
	}
	var last *http.Response
	var body []byte
	for i := 0; i < 500; i++ {
		last, body = postRaw(t, srv.URL+"/api/v1/records", w.tokens["teacherA1"], drill(uuid(), 10+i))
		if last.StatusCode != http.StatusCreated {
			break
		}
	}
	if last.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte(`"code":"storage_unavailable"`)) ||
		last.Header.Get("Retry-After") == "" || !strings.HasPrefix(last.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("write on a full store: %d %v %s", last.StatusCode, last.Header, body)
	}
	if got := getStatus(t, srv.URL+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz while writes fail: %d, want 503", got)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func postRaw(t *testing.T, url, token string, body any) (*http.Response, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	rq, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rq.Header.Set("Content-Type", "application/json")
	if token != "" {
		rq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func postJSON(t *testing.T, url, token, body string) int {
	t.Helper()
	resp, _ := postRaw(t, url, token, json.RawMessage(body))
	return resp.StatusCode
}

func loginAt(t *testing.T, base, username, password string) string {
	t.Helper()
	resp, body := postRaw(t, base+"/api/v1/auth/login", "", map[string]string{"username": username, "password": password})
	var tp tokenPair
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tp) != nil {
		t.Fatalf("sign-in at %s: %d %s", base, resp.StatusCode, body)
	}
	return tp.AccessToken
}

// TestHelpListsCommands: huizong help, --help and -h print the commands.
func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"backup", "--help"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, cmd := range []string{"serve", "backup", "restore", "admin reset-password", "totals verify", "healthcheck"} {
			if !strings.Contains(out.String(), cmd) {
				t.Errorf("%v: help does not list %q", args, cmd)
			}
		}
	}
}

// TestLogTimesInConfiguredZone: log timestamps carry the configured
// zone's offset.
func TestLogTimesInConfiguredZone(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), map[string]string{"HUIZONG_TIMEZONE": "Asia/Shanghai", "HUIZONG_LOG_FORMAT": "json", "HUIZONG_LOG_LEVEL": "info"})
	var buf bytes.Buffer
	newLogger(cfg, &buf).Info("hello")
	var line struct {
		Time string `json:"time"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(line.Time, "+08:00") {
		t.Errorf("log time %q, want the +08:00 offset of Asia/Shanghai", line.Time)
	}
}

// TestAttachmentQuota: one user's stored uploads are bounded; beyond the
// quota an upload is 422 quota_exceeded and another user goes on.
func TestAttachmentQuota(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_ATTACHMENT_QUOTA_MB": "1"})
	w := s.seed()
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("0"), 600<<10)...)
	if r := s.upload(w.tokens["teacherA1"], uuid(), "a.pdf", pdf); r.status != http.StatusCreated {
		t.Fatalf("first upload: %d %s", r.status, r.body)
	}
	r := s.upload(w.tokens["teacherA1"], uuid(), "b.pdf", pdf)
	if r.status != http.StatusUnprocessableEntity || !bytes.Contains(r.body, []byte("quota_exceeded")) {
		t.Fatalf("upload over the quota: %d %s", r.status, r.body)
	}
	if r := s.upload(w.tokens["teacherA1b"], uuid(), "c.pdf", pdf); r.status != http.StatusCreated {
		t.Fatalf("another user's upload: %d %s", r.status, r.body)
	}
}
