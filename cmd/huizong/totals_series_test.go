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
