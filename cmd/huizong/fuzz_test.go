package main

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzRequestBodies sends arbitrary bodies to the JSON endpoints through
// the real router and store: whatever arrives, the answer is a deliberate
// one (never a 500), and errors are problem+json.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"school","name":"实验小学","parent_id":"x"}`,
		`{"name":{"$ne":null}}`,
		`{"students":1e309}`,
		`{"stages":["小学","小学"]}`,
		`[`, `null`, `"str"`, `{"kind":"city","name":"\u0000"}`,
		`{"username":"a","password":"b","device":"` + "\xff\xfe" + `"}`,
		`{"client_id":"3f1c9a52-8d7e-4b7a-9c11-2a6f0e5d4b21","template":"safety_drill","occurred_on":"2025-10-09","title":"演练","data":{"kind":"消防","students":12}}`,
		`{"template":"safety_drill","occurred_on":"2025-10-09","title":"x","data":{"students":{"$gt":0},"a.b":1}}`,
		`{"records":[{"client_id":"3f1c9a52-8d7e-4b7a-9c11-2a6f0e5d4b22","template":"safety_drill"},7,null]}`,
		`{"key":"k","name":"n","fields":[{"key":"a","label":"A","type":"integer","role":"measure","min":5,"max":1}]}`,
	} {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(1))
		f.Add(seed, uint8(2))
		f.Add(seed, uint8(3))
		f.Add(seed, uint8(4))
		f.Add(seed, uint8(5))
	}
	s := newTestServer(f, map[string]string{"HUIZONG_LOGIN_PER_IP": "1000000", "HUIZONG_LOGIN_PER_ACCOUNT": "1000000"})
	w := s.seed()
	paths := []string{"/api/v1/orgs", "/api/v1/users", "/api/v1/auth/login", "/api/v1/records", "/api/v1/records:batch", "/api/v1/templates"}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		path := paths[int(which)%len(paths)]
		token := w.tokens["adminA"]
		if strings.HasPrefix(path, "/api/v1/records") {
			token = w.tokens["teacherA1"]
		}
		s.t = t
		r := s.do(req{method: "POST", path: path, token: token, body: body})
		if r.status >= 500 {
			t.Fatalf("POST %s %q: status %d %s", path, body, r.status, r.body)
		}
		if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("POST %s %q: status %d with %s", path, body, r.status, r.header.Get("Content-Type"))
		}
		if r.status == http.StatusCreated && r.header.Get("Location") == "" {
			t.Fatalf("201 without Location")
		}
	})
}
