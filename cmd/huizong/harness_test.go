package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huizong/huizong/configs"
	"github.com/huizong/huizong/repository/mongo"
	"github.com/huizong/huizong/repository/mongo/mongotest"
	"github.com/huizong/huizong/repository/sqlite"
	"github.com/huizong/huizong/services"
)

// adminPassword is the first sysadmin's password in every test server.
const adminPassword = "admin-pass-2025"

// cheapPasswords keeps argon2id fast under the race detector; the real
// parameters are tested in services.
var cheapPasswords = services.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testServer is a whole huizong behind httptest on a real store.
type testServer struct {
	t     testing.TB
	dir   string
	cfg   configs.Config
	store store
	app   *app
	http  *httptest.Server
	clock *clock
	out   bytes.Buffer
}

// testConfig is the default configuration with a temp data dir.
func testConfig(t testing.TB, dir string, env map[string]string) configs.Config {
	t.Helper()
	vars := map[string]string{"HUIZONG_DATA_DIR": dir, "HUIZONG_ADMIN_PASSWORD": adminPassword, "HUIZONG_LOG_LEVEL": "error",
		"HUIZONG_SHUTDOWN_DELAY": "0s"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := configs.Load("../../configs/huizong.yaml", func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// mongoServer is the MongoDB the tests run against when
// HUIZONG_TEST_STORE=mongodb: HUIZONG_TEST_MONGODB_URI, or FerretDB
// started in this test binary. Otherwise tests use the embedded store.
var mongoServer *mongotest.Server

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	if os.Getenv("HUIZONG_TEST_STORE") == "mongodb" || os.Getenv("HUIZONG_TEST_MONGODB_URI") != "" {
		os.Exit(mongotest.Main(m, func(s *mongotest.Server) { mongoServer = s }))
	}
	os.Exit(m.Run())
}

// usingMongo reports whether the tests run on the MongoDB store.
func usingMongo() bool { return mongoServer != nil }

// openTestStore opens the embedded store in cfg.DataDir, or database
// mongoDB on the test MongoDB.
func openTestStore(t testing.TB, cfg configs.Config, mongoDB string) store {
	t.Helper()
	ctx := context.Background()
	if usingMongo() {
		opts := mongo.Options{Timeout: 60 * time.Second}
		if mongoServer.Ferret {
			opts.MaxPoolSize = 1
		}
		st, err := mongo.Connect(ctx, mongoServer.URI, mongoDB, opts)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st, err := sqlite.Open(ctx, cfg.DataDir, sqlite.Options{Synchronous: cfg.SQLite.Synchronous})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newTestServer(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir(), clock: &clock{now: time.Now().UTC()}}
	s.cfg = testConfig(t, s.dir, env)
	if usingMongo() && env["HUIZONG_MONGODB_DATABASE"] == "" {
		s.cfg.MongoDB.Database = mongoServer.Database(t)
	}
	s.start()
	return s
}

// start opens the store and serves it; restart closes and starts again
// on the same data.
func (s *testServer) start() { s.startWith(cheapPasswords) }

func (s *testServer) startWith(params services.PasswordParams) {
	t := s.t
	t.Helper()
	s.store = openTestStore(t, s.cfg, s.cfg.MongoDB.Database)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(context.Background(), s.cfg, s.store, log, &s.out, options{clock: s.clock.Now, passwordParams: &params})
	if err != nil {
		t.Fatal(err)
	}
	s.app = a
	s.http = httptest.NewServer(a.router)
	t.Cleanup(s.stop)
}

func (s *testServer) stop() {
	if s.http == nil {
		return
	}
	s.http.Close()
	s.http = nil
	if err := s.store.Close(); err != nil {
		s.t.Errorf("close store: %v", err)
	}
}

func (s *testServer) restart() {
	s.stop()
	s.start()
}

// response is a finished request.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem+json answer and checks its media type.
func (r response) problem(t testing.TB) problemBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problemBody
	r.decode(t, &p)
	return p
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field   string `json:"field"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (p problemBody) hasField(field string) bool {
	for _, e := range p.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

// req describes one request.
type req struct {
	method, path, token string
	body                any // a string or []byte is sent as is; anything else as JSON
	header              map[string]string
}

func (s *testServer) do(r req) response {
	s.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequest(r.method, s.http.URL+r.path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := s.http.Client().Do(hr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	s.checkSpec(hr, resp.StatusCode, resp.Header, data)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// must does r and fails the test unless the status is want.
func (s *testServer) must(want int, r req) response {
	s.t.Helper()
	resp := s.do(r)
	if resp.status != want {
		s.t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, resp.status, want, resp.body)
	}
	return resp
}

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func (s *testServer) login(username, password string) tokenPair {
	s.t.Helper()
	var tp tokenPair
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": username, "password": password}}).decode(s.t, &tp)
	return tp
}

// activate signs in an account an admin created (it must change its
// password before anything but /me works), changes the password and back,
// refreshing after each change as a phone does, and returns an access
// token that may do everything the role allows. It costs one sign-in.
func (s *testServer) activate(login, password string) string {
	s.t.Helper()
	tp := s.login(login, password)
	for _, step := range [][2]string{{password, password + "-tmp"}, {password + "-tmp", password}} {
		s.must(http.StatusNoContent, req{method: "PUT", path: "/api/v1/me/password", token: tp.AccessToken,
			body: map[string]string{"current_password": step[0], "new_password": step[1]}})
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tp.RefreshToken}}).decode(s.t, &tp)
	}
	return tp.AccessToken
}

func (s *testServer) adminToken() string {
	s.t.Helper()
	return s.login("admin", adminPassword).AccessToken
}

type idOnly struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// world is a small tree: one city, two districts, schools in each, and a
// user of every role.
type world struct {
	admin                        string
	city, distA, distB           string
	schoolA1, schoolA2, schoolB1 string
	users                        map[string]string // name -> id
	tokens                       map[string]string // name -> access token
}

const userPassword = "Teach-2025-pass"

func (s *testServer) seed() world {
	s.t.Helper()
	w := world{admin: s.adminToken(), users: map[string]string{}, tokens: map[string]string{}}
	org := func(kind, name, parent string) string {
		var o idOnly
		s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: w.admin,
			body: map[string]any{"kind": kind, "name": name, "parent_id": parent}}).decode(s.t, &o)
		return o.ID
	}
	w.city = org("city", "成都市", "")
	w.distA = org("district", "成华区", w.city)
	w.distB = org("district", "锦江区", w.city)
	w.schoolA1 = org("school", "成华区实验小学", w.distA)
	w.schoolA2 = org("school", "成华区第二中学", w.distA)
	w.schoolB1 = org("school", "锦江区实验小学", w.distB)
	for _, u := range []struct{ name, role, org, mobile string }{
		{"cityadmin", "city_admin", w.city, "13900000001"},
		{"adminA", "district_admin", w.distA, "13900000002"},
		{"adminB", "district_admin", w.distB, "13900000003"},
		{"principalA1", "principal", w.schoolA1, "13900000004"},
		{"principalA2", "principal", w.schoolA2, "13900000005"},
		{"principalB1", "principal", w.schoolB1, "13900000006"},
		{"teacherA1", "teacher", w.schoolA1, "13900000007"},
		{"teacherA1b", "teacher", w.schoolA1, "13900000008"},
		{"teacherB1", "teacher", w.schoolB1, "13900000009"},
	} {
		var o idOnly
		s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/users", token: w.admin, body: map[string]any{
			"username": strings.ToLower(u.name), "name": u.name, "mobile": u.mobile, "role": u.role, "org_id": u.org, "password": userPassword,
		}}).decode(s.t, &o)
		w.users[u.name] = o.ID
		w.tokens[u.name] = s.activate(strings.ToLower(u.name), userPassword)
	}
	return w
}
