package main

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSeedFigures: the figures of the work summaries in shared/seeds come
// out of one API call each, with last year's beside them (compare=previous):
// drills by kind with participants (开展消防、地震等应急疏散演练), city-level
// commendations by category with a district's own category (表彰市级优秀班主任),
// teacher training coverage from trainees (教师培训覆盖率), seats added and
// investment by construction kind (新增学位、投入万元), first-year pupils and
// staff from profiles (招收一年级新生), and petition satisfaction (信访满意率).
func TestSeedFigures(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA1": adminA,
		"principalA2": adminA}}
	rec := func(template, day string, data map[string]any) map[string]any {
		return map[string]any{"client_id": uuid(), "template": template, "occurred_on": day, "title": template, "data": data}
	}
	s.must(http.StatusOK, req{method: "PUT", path: "/api/v1/templates/honor_award/extension", token: adminA,
		body: map[string]any{"options": map[string]any{"category": []map[string]string{{"value": "诚信好少年"}}}}})
	for _, y := range []struct {
		year  string
		scale int
	}{{"2024", 1}, {"2025", 2}} {
		day := y.year + "-10-15"
		k := y.scale
		a.approve("teacherA1", rec("safety_drill", day, map[string]any{"kind": "消防", "drills": 2 * k, "students": 1000 * k}))
		a.approve("principalA2", rec("safety_drill", day, map[string]any{"kind": "地震", "drills": k, "students": 500 * k}))
		a.approve("teacherA1", rec("honor_award", day, map[string]any{"level": "市级", "recipient_kind": "教师", "category": "优秀班主任", "count": 20 * k}))
		a.approve("principalA2", rec("honor_award", day, map[string]any{"level": "市级", "recipient_kind": "学生", "category": "诚信好少年", "count": 5 * k}))
		a.approve("principalA1", rec("construction", day, map[string]any{"kind": "新建", "stage": "竣工", "investment_wan": 300 * k, "seats_added": 450 * k}))
		a.approve("principalA2", rec("construction", day, map[string]any{"kind": "维修改造", "stage": "竣工", "investment_wan": 52 * k}))
		// Two profiles of school A1 in the year: the later one stands.
		a.approve("principalA1", rec("school_profile", y.year+"-09-10", map[string]any{"students": 900, "staff": 60, "new_students": 140 * k}))
		a.approve("principalA1", rec("school_profile", y.year+"-09-20", map[string]any{"students": 910, "staff": 61 + k, "new_students": 150 * k}))
		a.approve("principalA2", rec("school_profile", y.year+"-09-15", map[string]any{"students": 400, "staff": 30, "new_students": 60 * k}))
		trainees := []string{w.users["teacherA1"]}
		if k == 2 {
			trainees = append(trainees, w.users["teacherA1b"], w.users["principalA1"])
		}
		a.approve("principalA1", rec("teacher_training", day, map[string]any{"level": "校本", "participants": 90, "trainees": trainees}))
		a.approve("principalA1", rec("petition", day, map[string]any{"channel": "12345热线", "received": 40 * k, "resolved": 40 * k, "satisfied": 30 + 9*k}))
	}

	type fig struct {
		query, key string
		sums       []string
		want       map[string][]float64 // row key -> current values of sums, then previous ones
	}
	base := "org_id=" + w.distA + "&period=2025AY&compare=previous&"
	for _, f := range []fig{
		{base + "template=safety_drill&group_by=kind", "kind", []string{"drills", "students"},
			map[string][]float64{"消防": {4, 2000, 2, 1000}, "地震": {2, 1000, 1, 500}}},
		{base + "template=honor_award&group_by=category&filter=" + url.QueryEscape("level:市级"), "category", []string{"count"},
			map[string][]float64{"优秀班主任": {40, 20}, "诚信好少年": {10, 5}}},
		{base + "template=construction&group_by=kind", "kind", []string{"seats_added", "investment_wan"},
			map[string][]float64{"新建": {900, 600, 450, 300}, "维修改造": {0, 104, 0, 52}}},
		{base + "template=school_profile", "", []string{"new_students", "staff"},
			map[string][]float64{"-": {420, 93, 210, 92}}},
	} {
		var b struct {
			Rows []compareRow `json:"rows"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?" + f.query, token: adminA}).decode(t, &b)
		got := map[string][]float64{}
		for _, r := range b.Rows {
			k := "-"
			if v := r.Keys[f.key]; f.key != "" && v != nil {
				k = *v
			}
			var vals []float64
			for _, m := range f.sums {
				vals = append(vals, r.Sums[m])
			}
			for _, m := range f.sums {
				vals = append(vals, r.Previous.Sums[m])
			}
			got[k] = vals
		}
		for k, want := range f.want {
			if g := got[k]; len(g) != len(want) || !equalFloats(g, want) {
				t.Errorf("%s: %s = %v, want %v", f.query, k, g, want)
			}
		}
	}
	for _, c := range []struct {
		key                  string
		value, previous, chg float64
	}{
		// 3 trained of the 93 staff the latest profiles give (63 and 30);
		// last year 1 of them.
		{"teacher_training_coverage", 3.2, 1.1, 2.1},
		// 48 satisfied of 80 resolved; last year 39 of 40.
		{"petition_satisfaction_rate", 60, 97.5, -37.5},
	} {
		var v indicatorValues
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/indicators/" + c.key + "/values?" + base, token: adminA}).decode(t, &v)
		if len(v.Rows) != 1 || v.Rows[0].Value == nil || *v.Rows[0].Value != c.value || v.Rows[0].Previous == nil ||
			v.Rows[0].Previous.Value == nil || *v.Rows[0].Previous.Value != c.previous || *v.Rows[0].Change != c.chg {
			t.Errorf("%s = %+v, want %v (last year %v)", c.key, v.Rows, c.value, c.previous)
		}
	}
}

func equalFloats(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}
