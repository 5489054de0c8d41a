package main

import (
	"net/http"
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
	} {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(1))
		f.Add(seed, uint8(2))
	}
	s := newTestServer(f, map[string]string{"HUIZONG_LOGIN_PER_IP": "1000000", "HUIZONG_LOGIN_PER_ACCOUNT": "1000000"})
	w := s.seed()
	paths := []string{"/api/v1/orgs", "/api/v1/users", "/api/v1/auth/login"}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		path := paths[int(which)%len(paths)]
		s.t = t
		r := s.do(req{method: "POST", path: path, token: w.tokens["adminA"], body: body})
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
