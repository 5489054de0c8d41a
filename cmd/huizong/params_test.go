package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEveryRouteIsInTheSpec: the server takes the query parameters the
// served spec declares, so every API route must be in it.
func TestEveryRouteIsInTheSpec(t *testing.T) {
	s := newTestServer(t, nil)
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/swagger/doc.json"}).decode(t, &spec)
	for _, r := range s.app.router.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		var parts []string
		for _, p := range strings.Split(strings.ReplaceAll(r.Path, "\\:", ":"), "/") {
			if strings.HasPrefix(p, ":") {
				p = "{" + p[1:] + "}"
			}
			parts = append(parts, p)
		}
		path := strings.Join(parts, "/")
		if _, ok := spec.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s is not in the served spec (as %s)", r.Method, r.Path, path)
		}
	}
}

// TestUnknownQueryParametersRefused: a query parameter the endpoint does
// not take is 400 unknown_parameter naming it, never silently ignored
// (a misspelt filter would answer an unfiltered figure).
func TestUnknownQueryParametersRefused(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	tok := w.tokens["adminA"]
	for _, c := range []struct {
		method, path string
		unknown      []string
	}{
		{"GET", "/api/v1/totals?org_id=" + w.distA + "&level=" + url.QueryEscape("市级"), []string{"level"}},
		{"GET", "/api/v1/totals?templates=safety_drill&groupby=kind", []string{"groupby", "templates"}},
		{"GET", "/api/v1/records?org=" + w.distA, []string{"org"}},
		{"GET", "/api/v1/records?data.=x", []string{"data."}},
		{"GET", "/api/v1/users?page=2&limit=5", []string{"page"}},
		{"GET", "/api/v1/me?verbose=1", []string{"verbose"}},
		{"GET", "/api/v1/orgs/tree?depth=2", []string{"depth"}},
		{"GET", "/api/v1/audit?actor=x", []string{"actor"}},
		{"POST", "/api/v1/records?draft=true", []string{"draft"}},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			p := s.must(http.StatusBadRequest, req{method: c.method, path: c.path, token: tok, body: map[string]any{}}).problem(t)
			if p.Code != "unknown_parameter" || len(p.Errors) != len(c.unknown) {
				t.Fatalf("problem %+v, want unknown_parameter naming %v", p, c.unknown)
			}
			for i, name := range c.unknown {
				if p.Errors[i].Field != name || p.Errors[i].Code != "unknown_parameter" || p.Errors[i].Message == "" {
					t.Errorf("errors[%d] = %+v, want %s", i, p.Errors[i], name)
				}
			}
			if !strings.Contains(p.Title, "查询参数") {
				t.Errorf("title %q is not in Chinese", p.Title)
			}
		})
	}
	// What the spec declares is taken, data.<key> filters included.
	for _, path := range []string{
		"/api/v1/records?data.kind=" + url.QueryEscape("消防") + "&template=safety_drill&limit=5",
		"/api/v1/totals?org_id=" + w.distA + "&authors=true&group_by=org",
		"/api/v1/users?role=teacher&count=true",
	} {
		s.must(http.StatusOK, req{method: "GET", path: path, token: tok})
	}
	// Unauthenticated is still 401 first.
	s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/totals?level=x"})
}
