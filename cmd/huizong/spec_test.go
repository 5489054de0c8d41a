package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/huizong/huizong/docs"
)

// The spec is the contract: every response the integration tests get is
// checked against it (kin-openapi, after converting the Swagger 2.0
// document to OpenAPI 3): the operation is documented, the status
// declared, the content type declared, the body matches the schema, and
// the ETag, Location and Retry-After headers sent are declared. A
// mismatch fails the test that made the request.
type specChecker struct {
	doc    *openapi3.T
	router routers.Router
}

var loadSpec = sync.OnceValues(func() (*specChecker, error) {
	var v2 openapi2.T
	if err := json.Unmarshal(docs.JSON(), &v2); err != nil {
		return nil, err
	}
	v3, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, err
	}
	v3.Servers = nil // any host: the test servers listen on random ports
	for _, ref := range v3.Components.Schemas {
		nullable(ref, map[*openapi3.Schema]bool{})
	}
	r, err := legacy.NewRouter(v3)
	if err != nil {
		return nil, err
	}
	return &specChecker{doc: v3, router: r}, nil
})

// nullable carries x-nullable over to OpenAPI 3's nullable where
// openapi2conv leaves it (inside additionalProperties).
func nullable(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	sc := ref.Value
	seen[sc] = true
	if v, ok := sc.Extensions["x-nullable"].(bool); ok && v {
		sc.Nullable = true
	}
	for _, p := range sc.Properties {
		nullable(p, seen)
	}
	nullable(sc.Items, seen)
	nullable(sc.AdditionalProperties.Schema, seen)
}

// checked headers: those the server sends that a client acts on.
var specHeaders = []string{"ETag", "Location", "Retry-After"}

// check returns what about the answer to hr the spec does not say.
func (c *specChecker) check(hr *http.Request, status int, header http.Header, body []byte) []string {
	if !strings.HasPrefix(hr.URL.Path, "/api/") || hr.Method == http.MethodOptions {
		return nil // CORS preflights are the middleware's, not operations
	}
	route, params, err := c.router.FindRoute(hr)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return nil // no such operation, and the server says so
		}
		return []string{fmt.Sprintf("%s %s: not in the spec (%v)", hr.Method, hr.URL.Path, err)}
	}
	op := route.Operation
	resp := op.Responses.Status(status)
	if resp == nil {
		return []string{fmt.Sprintf("%s %s (%s): status %d not declared", hr.Method, route.Path, op.OperationID, status)}
	}
	var out []string
	for _, h := range specHeaders {
		if header.Get(h) != "" && resp.Value.Headers[h] == nil {
			out = append(out, fmt.Sprintf("%s %s (%s): header %s of %d not declared", hr.Method, route.Path, op.OperationID, h, status))
		}
	}
	if status == http.StatusNoContent || status == http.StatusNotModified {
		return out
	}
	if header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return append(out, fmt.Sprintf("%s %s: gzip: %v", hr.Method, route.Path, err))
		}
		if body, err = io.ReadAll(zr); err != nil {
			return append(out, fmt.Sprintf("%s %s: gzip: %v", hr.Method, route.Path, err))
		}
	}
	// Swagger 2.0 gives an operation one schema for all it produces: the
	// JSON one. Other bodies (XLSX, CSV, Markdown, images) are checked for
	// their declared content type only.
	ct, _, _ := strings.Cut(header.Get("Content-Type"), ";")
	skipBody := ct != "application/json" && ct != "application/problem+json"
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: skipBody},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		msg := err.Error()
		if len(msg) > 600 {
			msg = msg[:600] + "…"
		}
		out = append(out, fmt.Sprintf("%s %s (%s) %d %s: %s", hr.Method, route.Path, op.OperationID, status, header.Get("Content-Type"), msg))
	}
	return out
}

// specMode says what a mismatch does: "fail" (default) or "log" (set
// HUIZONG_SPEC_CHECK=log to list them all), "off" to skip.
func specMode() string {
	if m := os.Getenv("HUIZONG_SPEC_CHECK"); m != "" {
		return m
	}
	return "fail"
}

// checkSpec checks one answer against the spec.
func (s *testServer) checkSpec(hr *http.Request, status int, header http.Header, body []byte) {
	mode := specMode()
	if mode == "off" {
		return
	}
	c, err := loadSpec()
	if err != nil {
		s.t.Fatalf("spec: %v", err)
	}
	for _, m := range c.check(hr, status, header, body) {
		if mode == "log" {
			fmt.Fprintln(os.Stderr, "SPEC:", m)
		} else {
			s.t.Errorf("spec: %s", m)
		}
	}
}

// TestServedSpec: /swagger/doc.json is the generated swagger.json byte
// for byte (no empty host or schemes), and it is valid as converted.
func TestServedSpec(t *testing.T) {
	s := newTestServer(t, nil)
	r := s.must(http.StatusOK, req{method: "GET", path: "/swagger/doc.json"})
	file, err := os.ReadFile("../../docs/swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.body, file) {
		t.Error("the served spec is not docs/swagger.json")
	}
	var top map[string]any
	r.decode(t, &top)
	for _, k := range []string{"host", "schemes"} {
		if _, ok := top[k]; ok {
			t.Errorf("the spec has %q: %v", k, top[k])
		}
	}
	c, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.doc.Validate(context.Background()); err != nil {
		t.Errorf("as OpenAPI 3: %v", err)
	}
}

// TestRoutesDocumented: every route the router serves is an operation of
// the spec, and every operation of the spec is routed.
func TestRoutesDocumented(t *testing.T) {
	s := newTestServer(t, nil)
	c, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, r := range s.app.router.Routes() {
		if strings.HasPrefix(r.Path, "/swagger/") {
			continue // the spec and its UI
		}
		parts := strings.Split(strings.ReplaceAll(r.Path, `\:`, ":"), "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		routed[r.Method+" "+strings.Join(parts, "/")] = true
	}
	for _, k := range slices.Sorted(maps.Keys(routed)) {
		if !documented[k] {
			t.Errorf("routed, not in the spec: %s", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(documented)) {
		if !routed[k] {
			t.Errorf("in the spec, not routed: %s", k)
		}
	}
	if len(routed) < 50 {
		t.Errorf("only %d routes", len(routed))
	}
}

// TestPatchZeroValues: a PATCH body carries false, 0 and "" as values
// (each PATCH has its own schema, every property x-nullable, so a
// generated client sends them): a school's headcount set to 0, a user
// disabled and enabled again, a template retired.
func TestPatchZeroValues(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	var org struct {
		Students int `json:"students"`
		Version  int `json:"version"`
	}
	tag := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1, token: w.admin}).header.Get("ETag")
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + w.schoolA1, token: w.admin, header: map[string]string{"If-Match": tag},
		body: map[string]any{"students": 0}}).decode(t, &org)
	if org.Students != 0 {
		t.Errorf("students %d after PATCH 0", org.Students)
	}
	user := w.users["teacherA1"]
	for _, disabled := range []bool{true, false} {
		tag := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users/" + user, token: w.admin}).header.Get("ETag")
		var u struct {
			Disabled bool `json:"disabled"`
		}
		s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/users/" + user, token: w.admin, header: map[string]string{"If-Match": tag},
			body: map[string]any{"disabled": disabled}}).decode(t, &u)
		if u.Disabled != disabled {
			t.Errorf("disabled %v after PATCH %v", u.Disabled, disabled)
		}
	}
	s.login("teachera1", userPassword) // enabled again: signs in
	adminA := w.tokens["adminA"]
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: adminA, body: sportsDay("sports_day")})
	var tmpl struct {
		Active bool `json:"active"`
	}
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, header: ifMatchV(1),
		body: map[string]any{"active": false}}).decode(t, &tmpl)
	if tmpl.Active {
		t.Error("template still active after PATCH active: false")
	}
}
