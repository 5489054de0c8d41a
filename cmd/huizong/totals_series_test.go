package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTotalsNeverMixTemplates: without exactly one template named, the
// template is part of every row's keys, so two templates' "students" (drill
// participations, aided children) or their "专题讲座" never add up.
func TestTotalsNeverMixTemplates(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"]}}
	adminA := w.tokens["adminA"]
	day := "2025-10-09"
	a.approve("teacherA1", drillOn(day, "消防", 1180))
	a.approve("teacherA1", drillOn(day, "地震", 1180))
	a.approve("teacherA1", map[string]any{"client_id": uuid(), "template": "student_aid", "occurred_on": day, "title": "资助",
		"data": map[string]any{"program": "学前教育资助", "students": 1200, "amount_yuan": 520000}})
	a.approve("teacherA1", map[string]any{"client_id": uuid(), "template": "outreach", "occurred_on": day, "title": "讲座",
		"data": map[string]any{"kind": "专题讲座", "sessions": 2, "teachers": 3}})
	a.approve("teacherA1", map[string]any{"client_id": uuid(), "template": "teaching_research", "occurred_on": day, "title": "讲座",
		"data": map[string]any{"kind": "专题讲座", "sessions": 5, "participants": 40}})

	q := "org_id=" + w.distA + "&period=2025AY"
	tests := []struct {
		name, query, sum string
		groupBy          []string
		want             map[string]string // keys -> count/sum
	}{
		{"no group_by", q, "students", []string{"template"},
			map[string]string{"outreach": "1/0", "safety_drill": "2/2360", "student_aid": "1/1200", "teaching_research": "1/0"}},
		{"by kind", q + "&group_by=kind", "sessions", []string{"kind", "template"},
			map[string]string{"专题讲座|outreach": "1/2", "专题讲座|teaching_research": "1/5", "消防|safety_drill": "1/0",
				"地震|safety_drill": "1/0"}},
		{"two templates named", q + "&template=outreach,teaching_research&group_by=kind", "sessions", []string{"kind", "template"},
			map[string]string{"专题讲座|outreach": "1/2", "专题讲座|teaching_research": "1/5"}},
		{"one template", q + "&template=safety_drill&group_by=kind", "students", []string{"kind"},
			map[string]string{"消防": "1/1180", "地震": "1/1180"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b struct {
				GroupBy []string    `json:"group_by"`
				Rows    []totalsRow `json:"rows"`
			}
			s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?" + tt.query, token: adminA}).decode(t, &b)
			if !slices.Equal(b.GroupBy, tt.groupBy) {
				t.Errorf("group_by = %v, want %v", b.GroupBy, tt.groupBy)
			}
			if d := cmp.Diff(tt.want, totalsBody{Rows: b.Rows}.counts(tt.sum, tt.groupBy...)); d != "" {
				t.Errorf("rows (-want +got):\n%s", d)
			}
		})
	}
}

// TestTotalsDimensionFilter: filter=key:value[,key:value|value] keeps the
// records with those dimension values; the answer echoes it and each
// row's record list holds exactly the row's records.
func TestTotalsDimensionFilter(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA2": w.tokens["adminA"]}}
	adminA := w.tokens["adminA"]
	honor := func(level, category string, count int) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "honor_award", "occurred_on": "2025-11-03", "title": "表彰",
			"data": map[string]any{"level": level, "recipient_kind": "教师", "category": category, "count": count}}
	}
	a.approve("teacherA1", honor("市级", "优秀班主任", 30))
	a.approve("principalA2", honor("市级", "优秀班主任", 23))
	a.approve("teacherA1", honor("市级", "优秀教师", 12))
	a.approve("teacherA1", honor("区县级", "优秀班主任", 40))
	a.approve("teacherA1", honor("省级", "骨干教师", 2))
	a.approve("teacherA1", drillOn("2025-11-03", "消防", 100))

	base := "org_id=" + w.distA + "&period=2025AY&template=honor_award"
	tests := []struct {
		name, query string
		want        map[string]string // keys -> count/sum of count
		groupBy     []string
	}{
		{"市级优秀班主任", base + "&filter=" + url.QueryEscape("level:市级,category:优秀班主任"), map[string]string{"-": "2/53"}, []string{""}},
		{"by school", base + "&group_by=org&filter=" + url.QueryEscape("level:市级,category:优秀班主任"),
			map[string]string{w.schoolA1: "1/30", w.schoolA2: "1/23"}, []string{"org"}},
		{"several values", base + "&group_by=category&filter=" + url.QueryEscape("level:市级|省级"),
			map[string]string{"优秀班主任": "2/53", "优秀教师": "1/12", "骨干教师": "1/2"}, []string{"category"}},
		{"one level by category", base + "&group_by=level,category&filter=" + url.QueryEscape("level:区县级"),
			map[string]string{"区县级|优秀班主任": "1/40"}, []string{"level", "category"}},
		// Without a template, templates lacking the dimension drop out.
		{"no template", "org_id=" + w.distA + "&period=2025AY&filter=" + url.QueryEscape("level:市级"),
			map[string]string{"honor_award": "3/65"}, []string{"template"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b struct {
				Filter map[string][]string `json:"filter"`
				Rows   []totalsRow         `json:"rows"`
			}
			s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?" + tt.query, token: adminA}).decode(t, &b)
			if len(b.Filter) == 0 {
				t.Errorf("the answer does not echo the filter")
			}
			if d := cmp.Diff(tt.want, totalsBody{Rows: b.Rows}.counts("count", tt.groupBy...)); d != "" {
				t.Errorf("rows (-want +got):\n%s", d)
			}
			for _, r := range b.Rows {
				u, err := url.Parse(r.RecordsURL)
				if err != nil {
					t.Fatal(err)
				}
				if len(b.Filter["level"]) > 1 {
					continue // a record list takes one value per key
				}
				if l := s.listRecords(adminA, u.RawQuery+"&limit=100"); int64(len(l.Items)) != r.Count {
					t.Errorf("row %v: %d records behind %d (%s)", r.Keys, len(l.Items), r.Count, r.RecordsURL)
				}
			}
		})
	}
	for _, c := range []struct{ filter, code string }{
		{"level", "filter_format"},
		{"nonsense:1", "filter_key"},
		{"level:市级,level:省级", "duplicate"},
		{":市级", "filter_format"},
	} {
		p := s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/totals?" + base + "&filter=" + url.QueryEscape(c.filter), token: adminA}).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != "filter" || p.Errors[0].Code != c.code {
			t.Errorf("filter=%s: %+v, want filter %s", c.filter, p.Errors, c.code)
		}
	}
	s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/totals?" + base + "&authors=true&filter=level:市级", token: adminA})
}

// TestPlausibilityPerOccurrence: the safety drill's head counts are
// checked per drill: 2 drills of 2,360 at a 1,200-student school are
// plausible, 1 drill of 2,360 is not.
func TestPlausibilityPerOccurrence(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	tag := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1, token: w.admin}).header.Get("ETag")
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + w.schoolA1, token: w.admin,
		header: map[string]string{"If-Match": tag}, body: map[string]any{"students": 1200, "staff": 90}})
	for _, c := range []struct {
		drills  int
		warning bool
	}{{2, false}, {1, true}, {3, false}} {
		body := drillOn("2025-10-09", "消防", 2360)
		body["data"].(map[string]any)["drills"] = c.drills
		r := s.createRecord(w.tokens["teacherA1"], body)
		if got := len(r.Warnings) > 0 && r.Warnings[0].Code == "above_students"; got != c.warning {
			t.Errorf("%d drills of 2360: warnings %+v, want above_students %v", c.drills, r.Warnings, c.warning)
		}
	}
}

type compareRow struct {
	Keys     map[string]*string `json:"keys"`
	Count    int64              `json:"count"`
	Sums     map[string]float64 `json:"sums"`
	Previous *struct {
		Count      int64              `json:"count"`
		Sums       map[string]float64 `json:"sums"`
		SchoolRate *float64           `json:"school_rate"`
		RecordsURL string             `json:"records_url"`
	} `json:"previous"`
	Change *struct {
		Count       int64              `json:"count"`
		Sums        map[string]float64 `json:"sums"`
		SchoolRate  *float64           `json:"school_rate"`
		CountGrowth *float64           `json:"count_growth"`
	} `json:"change"`
}

// TestTotalsCompareWithPrevious: compare=previous adds last period's
// figures and the change to every row ("较上年增加36场次", "增长9个百分点"),
// rows only last year had included, period buckets moved forward.
func TestTotalsCompareWithPrevious(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA2": w.tokens["adminA"]}}
	adminA := w.tokens["adminA"]
	drills := func(day, kind string, n int) map[string]any {
		b := drillOn(day, kind, 100*n)
		b["data"].(map[string]any)["drills"] = n
		return b
	}
	// 2024AY: 3 fire drills in one school, 2 flood drills.
	a.approve("teacherA1", drills("2024-10-10", "消防", 3))
	a.approve("teacherA1", drills("2025-03-10", "防汛", 2))
	// 2025AY: 5 fire drills in two schools, 1 earthquake drill.
	a.approve("teacherA1", drills("2025-10-10", "消防", 4))
	a.approve("principalA2", drills("2025-10-20", "消防", 1))
	a.approve("teacherA1", drills("2026-03-10", "地震", 1))

	get := func(query string) (prev map[string]string, rows []compareRow) {
		t.Helper()
		var b struct {
			Previous map[string]string `json:"previous"`
			Rows     []compareRow      `json:"rows"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?org_id=" + w.distA + "&template=safety_drill&compare=previous&" + query,
			token: adminA}).decode(t, &b)
		return b.Previous, b.Rows
	}
	type fig struct{ Count, PrevCount, Change, Drills, PrevDrills, DrillsChange float64 }
	figs := func(rows []compareRow, key string) map[string]fig {
		out := map[string]fig{}
		for _, r := range rows {
			k := "-"
			if v := r.Keys[key]; v != nil {
				k = *v
			}
			if r.Previous == nil || r.Change == nil {
				t.Fatalf("row %s lacks previous or change", k)
			}
			out[k] = fig{float64(r.Count), float64(r.Previous.Count), float64(r.Change.Count),
				r.Sums["drills"], r.Previous.Sums["drills"], r.Change.Sums["drills"]}
		}
		return out
	}

	prev, rows := get("period=2025AY&group_by=kind")
	if prev["period"] != "2024AY" || prev["from"] != "2024-09-01" || prev["to"] != "2025-08-31" {
		t.Errorf("previous = %v, want 2024AY", prev)
	}
	want := map[string]fig{
		"消防": {2, 1, 1, 5, 3, 2},
		"地震": {1, 0, 1, 1, 0, 1},
		"防汛": {0, 1, -1, 0, 2, -2}, // only last year: kept, with nothing this year
	}
	if d := cmp.Diff(want, figs(rows, "kind")); d != "" {
		t.Errorf("by kind (-want +got):\n%s", d)
	}

	// The whole district: school coverage moved from 1 of 2 schools to 2 of 2.
	_, rows = get("period=2025AY")
	if len(rows) != 1 {
		t.Fatalf("rows = %+v", rows)
	}
	r := rows[0]
	if r.Previous.SchoolRate == nil || *r.Previous.SchoolRate != 0.5 || r.Change.SchoolRate == nil || *r.Change.SchoolRate != 0.5 {
		t.Errorf("school rate change: previous %v, change %v", r.Previous.SchoolRate, r.Change.SchoolRate)
	}
	if r.Change.CountGrowth == nil || *r.Change.CountGrowth != 0.5 { // 3 records against 2
		t.Errorf("count growth %v, want 0.5", r.Change.CountGrowth)
	}
	// Last year's records are one link away.
	u, err := url.Parse(r.Previous.RecordsURL)
	if err != nil || u.Query().Get("from") != "2024-09-01" {
		t.Fatalf("previous records_url %q", r.Previous.RecordsURL)
	}
	if l := s.listRecords(adminA, u.RawQuery+"&limit=100"); len(l.Items) != 2 {
		t.Errorf("%d records behind last year's row, want 2", len(l.Items))
	}

	// Months line up with the same month a year before.
	_, rows = get("period=2025AY&group_by=month")
	want = map[string]fig{
		"202510": {2, 1, 1, 5, 3, 2},
		"202603": {1, 1, 0, 1, 2, -1},
	}
	if d := cmp.Diff(want, figs(rows, "month")); d != "" {
		t.Errorf("by month (-want +got):\n%s", d)
	}
	// A month is compared with the month before; dates with a year before.
	if prev, _ := get("period=202510"); prev["period"] != "202509" {
		t.Errorf("previous of 202510 = %v", prev)
	}
	if prev, rows := get("from=2025-10-01&to=2025-10-31"); prev["from"] != "2024-10-01" || prev["to"] != "2024-10-31" ||
		len(rows) != 1 || rows[0].Previous.Count != 1 {
		t.Errorf("previous of October 2025 = %v, rows %+v", prev, rows)
	}
	for _, q := range []string{"compare=last", "compare=previous&period=2000"} {
		p := s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/totals?org_id=" + w.distA + "&" + q, token: adminA}).problem(t)
		if !p.hasField("compare") {
			t.Errorf("%s: %+v does not name compare", q, p)
		}
	}
}
