package main

import (
	"net/http"
	"net/url"
	"testing"
)

type indicatorValues struct {
	Rows []struct {
		Keys        map[string]string `json:"keys"`
		Numerator   float64           `json:"numerator"`
		Denominator float64           `json:"denominator"`
		Value       *float64          `json:"value"`
		Change      *float64          `json:"change"`
		Previous    *struct {
			Numerator   float64  `json:"numerator"`
			Denominator float64  `json:"denominator"`
			Value       *float64 `json:"value"`
		} `json:"previous"`
		Terms []struct {
			Side      string  `json:"side"`
			Term      string  `json:"term"`
			Value     float64 `json:"value"`
			TotalsURL string  `json:"totals_url"`
		} `json:"terms"`
	} `json:"rows"`
}

// TestIndicators: 信访满意率 and the other built-in ratios come out of one
// call, traceable term by term to the totals behind them; a district
// defines its own with filters and org figures; a bad term is 422 naming
// it; compare=previous gives the change in points.
func TestIndicators(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	a := approver{s: s, w: w, approver: map[string]string{"principalA1": adminA, "principalA2": adminA, "teacherA1": w.tokens["principalA1"]}}
	petition := func(day string, received, resolved, satisfied int) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "petition", "occurred_on": day, "title": "信访",
			"data": map[string]any{"channel": "12345热线", "received": received, "resolved": resolved, "satisfied": satisfied}}
	}
	a.approve("principalA1", petition("2024-10-10", 50, 40, 30))
	a.approve("principalA1", petition("2025-10-10", 120, 110, 106))
	a.approve("principalA2", petition("2025-11-10", 80, 90, 91))

	values := func(token, key, query string) indicatorValues {
		t.Helper()
		var v indicatorValues
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/indicators/" + key + "/values?" + query, token: token}).decode(t, &v)
		return v
	}
	v := values(adminA, "petition_satisfaction_rate", "org_id="+w.distA+"&period=2025AY&compare=previous")
	if len(v.Rows) != 1 {
		t.Fatalf("rows %+v", v.Rows)
	}
	r := v.Rows[0]
	// 197 satisfied of 200 resolved: 98.5%; last year 30 of 40: 75%.
	if r.Numerator != 197 || r.Denominator != 200 || r.Value == nil || *r.Value != 98.5 ||
		r.Previous == nil || *r.Previous.Value != 75 || r.Change == nil || *r.Change != 23.5 {
		t.Errorf("信访满意率 = %+v (previous %+v)", r, r.Previous)
	}
	// Every term's totals query answers the term's value.
	for _, term := range r.Terms {
		u, err := url.Parse(term.TotalsURL)
		if err != nil || term.TotalsURL == "" {
			t.Fatalf("term %s: totals_url %q", term.Term, term.TotalsURL)
		}
		b := s.totals(adminA, u.RawQuery)
		key := map[string]string{"petition.satisfied": "satisfied", "petition.resolved": "resolved"}[term.Term]
		if len(b.Rows) != 1 || b.Rows[0].Sums[key] != term.Value {
			t.Errorf("term %s = %v, its totals say %+v", term.Term, term.Value, b.Rows)
		}
	}
	// By school.
	v = values(adminA, "petition_resolution_rate", "org_id="+w.distA+"&period=2025AY&group_by=org")
	got := map[string]float64{}
	for _, r := range v.Rows {
		got[r.Keys["org"]] = *r.Value
	}
	if got[w.schoolA1] != 91.7 || got[w.schoolA2] != 112.5 {
		t.Errorf("办结率 by school = %v", got)
	}

	// Schools holding drills over all schools; drills by a district filter.
	a.approve("teacherA1", drillOn("2025-10-09", "消防", 100))
	v = values(adminA, "drill_school_coverage", "org_id="+w.distA+"&period=2025AY")
	if len(v.Rows) != 1 || v.Rows[0].Numerator != 1 || v.Rows[0].Denominator != 2 || *v.Rows[0].Value != 50 {
		t.Errorf("演练学校覆盖率 = %+v", v.Rows)
	}

	// A district's own: fire drills per primary school.
	tag := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1, token: w.admin}).header.Get("ETag")
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + w.schoolA1, token: w.admin, header: map[string]string{"If-Match": tag},
		body: map[string]any{"stages": []string{"小学"}}})
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/indicators", token: adminA, body: map[string]any{
		"key": "fire_drills_per_primary", "name": "小学校均消防演练场次",
		"numerator": []string{"safety_drill.drills[kind=消防]"}, "denominator": []string{"org.schools[stage=小学]"}, "decimals": 1}})
	v = values(adminA, "fire_drills_per_primary", "org_id="+w.distA+"&period=2025AY")
	if len(v.Rows) != 1 || v.Rows[0].Numerator != 1 || v.Rows[0].Denominator != 1 || *v.Rows[0].Value != 1 {
		t.Errorf("fire drills per primary school = %+v", v.Rows)
	}
	// District B cannot see district A's indicator.
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/indicators/fire_drills_per_primary", token: w.tokens["adminB"]})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/indicators/fire_drills_per_primary", token: w.tokens["principalA1"]})

	// Bad terms are named.
	for _, c := range []struct {
		numerator, field, code string
	}{
		{"nonsense(", "numerator[0]", "term_format"},
		{"no_such_template.x", "numerator[0]", "term_template"},
		{"safety_drill.colour", "numerator[0]", "term_measure"},
		{"safety_drill.drills[level=市级]", "numerator[0]", "term_dimension"},
		{"safety_drill.drills[kind=火灾]", "numerator[0]", "term_option"},
		{"people(safety_drill.students)", "numerator[0]", "term_people"},
	} {
		p := s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/indicators", token: adminA, body: map[string]any{
			"key": "bad", "name": "坏", "numerator": []string{c.numerator}, "denominator": []string{"org.staff"}}}).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != c.field || p.Errors[0].Code != c.code {
			t.Errorf("%s: %+v, want %s %s", c.numerator, p.Errors, c.field, c.code)
		}
	}
	s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/indicators", token: w.tokens["principalA1"],
		body: map[string]any{"key": "x", "name": "x", "numerator": []string{"org.staff"}, "denominator": []string{"org.staff"}}})
	var list struct {
		Items []struct {
			Key     string `json:"key"`
			Builtin bool   `json:"builtin"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/indicators?limit=100", token: adminA}).decode(t, &list)
	if len(list.Items) != 7 {
		t.Errorf("indicators = %+v, want the 6 built-ins and the district's", list.Items)
	}
	s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/indicators/petition_resolution_rate/values?group_by=kind", token: adminA})
	s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/indicators/petition_resolution_rate/values", token: w.tokens["teacherA1"]})
}
