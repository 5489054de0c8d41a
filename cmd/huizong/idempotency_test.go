package main

import (
	"net/http"
	"sync"
	"testing"
)

// TestIdempotencyKey: 20 identical creates racing with one key make one
// org; the retries replay its answer; the key with another body is 422.
func TestIdempotencyKey(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	body := map[string]any{"kind": "school", "name": "成华区幸福小学", "parent_id": w.distA}
	key := map[string]string{"Idempotency-Key": "8b0e1b9c-6a0f-4d4e-9a53-3f3d2f1b7a10"}
	var wg sync.WaitGroup
	results := make([]response, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.do(req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"], body: body, header: key})
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	counts := map[int]int{}
	for _, r := range results {
		counts[r.status]++
		if r.status == http.StatusCreated || r.status == http.StatusOK {
			var o idOnly
			r.decode(t, &o)
			ids[o.ID] = true
		} else if r.status != http.StatusConflict {
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	if counts[http.StatusCreated] != 1 || len(ids) != 1 {
		t.Fatalf("statuses %v, ids %v: want exactly one 201 and one id", counts, ids)
	}
	// A retry afterwards replays the answer.
	r := s.must(http.StatusOK, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"], body: body, header: key})
	var o idOnly
	r.decode(t, &o)
	if !ids[o.ID] || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("Location") == "" {
		t.Errorf("replay: %v %s", r.header, r.body)
	}
	// One school was made.
	var list struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs?kind=school&limit=100", token: w.tokens["adminA"]}).decode(t, &list)
	n := 0
	for _, it := range list.Items {
		if it.Name == "成华区幸福小学" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d schools made, want 1", n)
	}
	// Same key, other body: 422. Same key, another user: a fresh create.
	other := map[string]any{"kind": "school", "name": "别的学校", "parent_id": w.distA}
	if p := s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"], body: other, header: key}).problem(t); p.Code != "idempotency_key_reused" {
		t.Errorf("code %q", p.Code)
	}
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminB"],
		body: map[string]any{"kind": "school", "name": "锦江区幸福小学", "parent_id": w.distB}, header: key})
	// A failed create does not burn the key.
	bad := map[string]string{"Idempotency-Key": "retry-after-fix"}
	s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/users", token: w.tokens["adminA"], body: map[string]any{"name": "x", "role": "teacher"}, header: bad})
	s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/users", token: w.tokens["adminA"], body: map[string]any{"name": "x", "role": "teacher"}, header: bad})
	// A key that is not printable ASCII is a bad request.
	s.must(http.StatusBadRequest, req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"], body: other, header: map[string]string{"Idempotency-Key": "键"}})
}
