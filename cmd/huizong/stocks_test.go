package main

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStocks: enrolment and staff are figures of state (存量): each
// school's latest profile in the period, summed over schools, never two
// profiles of one school added up; by month the value at each month's
// end; titles are held until a record withdraws them; profiles replace
// the org headcounts as denominators.
func TestStocks(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	a := approver{s: s, w: w, approver: map[string]string{"principalA1": adminA, "principalA2": adminA}}
	profile := func(day string, students, staff, fresh int) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "school_profile", "occurred_on": day, "title": "学校基本情况",
			"data": map[string]any{"stage": "小学", "students": students, "staff": staff, "teachers": staff - 5, "classes": students / 45,
				"new_students": fresh}}
	}
	a.approve("principalA1", profile("2024-09-10", 950, 78, 140))
	a.approve("principalA1", profile("2025-09-10", 1000, 80, 150))
	a.approve("principalA1", profile("2025-10-10", 1010, 82, 152)) // corrected: replaces the September one
	a.approve("principalA2", profile("2025-09-15", 500, 40, 90))

	type fig struct{ Count, Students, Staff, New float64 }
	get := func(query string, key string) map[string]fig {
		t.Helper()
		var b struct {
			Rows []struct {
				Keys map[string]*string `json:"keys"`
				totalsRow
			} `json:"rows"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?template=school_profile&org_id=" + w.distA + "&" + query, token: adminA}).decode(t, &b)
		out := map[string]fig{}
		for _, r := range b.Rows {
			k := "-"
			if v := r.Keys[key]; key != "" && v != nil {
				k = *v
			}
			out[k] = fig{float64(r.Count), r.Sums["students"], r.Sums["staff"], r.Sums["new_students"]}
		}
		return out
	}
	for _, tt := range []struct {
		name, query, key string
		want             map[string]fig
	}{
		{"district", "period=2025AY", "", map[string]fig{"-": {3, 1510, 122, 242}}},
		{"by school", "period=2025AY&group_by=org", "org", map[string]fig{w.schoolA1: {2, 1010, 82, 152}, w.schoolA2: {1, 500, 40, 90}}},
		// September's end: both September profiles; October's: A1's
		// correction, A2's September profile still standing.
		// A month without records still has its state: the value standing
		// at its end.
		{"by month", "period=2025AY-S1&group_by=month", "month", map[string]fig{"202509": {2, 1500, 120, 240}, "202510": {1, 1510, 122, 242},
			"202511": {0, 1510, 122, 242}, "202512": {0, 1510, 122, 242}, "202601": {0, 1510, 122, 242}}},
		{"last year", "period=2024AY", "", map[string]fig{"-": {1, 950, 78, 140}}},
		// A range that cuts October to the day.
		{"to 9 October", "from=2025-09-01&to=2025-10-09", "", map[string]fig{"-": {2, 1500, 120, 240}}},
		{"by stage", "period=2025AY&group_by=stage", "stage", map[string]fig{"小学": {3, 1510, 122, 242}}},
	} {
		if d := cmp.Diff(tt.want, get(tt.query, tt.key)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
	// Against last year: 1510 against 950.
	var cmpBody struct {
		Rows []compareRow `json:"rows"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?template=school_profile&period=2025AY&compare=previous&org_id=" + w.distA,
		token: adminA}).decode(t, &cmpBody)
	if len(cmpBody.Rows) != 1 || cmpBody.Rows[0].Change.Sums["students"] != 560 {
		t.Errorf("compare: %+v", cmpBody.Rows)
	}

	// Profiles are the denominators: staff coverage counts against 82 + 40.
	training := map[string]any{"client_id": uuid(), "template": "teacher_training", "occurred_on": "2025-10-09", "title": "培训",
		"data": map[string]any{"level": "校本", "participants": 1, "trainees": []string{w.users["principalA1"]}}}
	a.approve("principalA1", training)
	var tb struct {
		Rows []peopleRow `json:"rows"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?template=teacher_training&period=2025AY&org_id=" + w.distA, token: adminA}).decode(t, &tb)
	if len(tb.Rows) != 1 || tb.Rows[0].Staff != 122 || tb.Rows[0].StaffRate == nil || *tb.Rows[0].StaffRate != 0.0082 {
		t.Errorf("coverage against the profiles: %+v", tb.Rows)
	}

	// Titles: held from the grant until withdrawn.
	title := func(day string, held int) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "school_title", "occurred_on": day, "title": "校园足球特色学校",
			"data": map[string]any{"title": "校园足球特色学校", "level": "国家级", "year_granted": 2020, "held": held}}
	}
	a.approve("principalA1", title("2020-05-01", 1))
	a.approve("principalA2", title("2025-10-01", 1))
	a.approve("principalA1", title("2026-03-01", 0)) // withdrawn
	held := func(query string) float64 {
		t.Helper()
		var b struct {
			Rows []totalsRow `json:"rows"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?template=school_title&group_by=title&org_id=" + w.distA + "&" + query,
			token: adminA}).decode(t, &b)
		if len(b.Rows) != 1 {
			t.Fatalf("%s: rows %+v", query, b.Rows)
		}
		return b.Rows[0].Sums["held"]
	}
	for query, want := range map[string]float64{"period=2024": 1, "period=2025": 2, "period=2025AY": 1, "period=2026Q1": 1} {
		if got := held(query); got != want {
			t.Errorf("schools holding the title, %s: %v, want %v", query, got, want)
		}
	}
}
