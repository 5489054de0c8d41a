package main

import (
	"net/http"
	"testing"
)

type peopleRow struct {
	Keys      map[string]*string `json:"keys"`
	Count     int64              `json:"count"`
	People    map[string]int     `json:"people"`
	Distinct  map[string]int     `json:"distinct"`
	Staff     int                `json:"staff"`
	StaffRate *float64           `json:"staff_rate"`
}

// TestPeopleCoverage: 教师培训覆盖率 is distinct teachers trained over all
// teachers: a principal's record for the whole staff counts every
// teacher in it, the same teacher in two records counts once, and the
// count follows edits and withdrawals exactly.
func TestPeopleCoverage(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	setStaff := func(org string, staff int) {
		tag := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + org, token: w.admin}).header.Get("ETag")
		s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + org, token: w.admin,
			header: map[string]string{"If-Match": tag}, body: map[string]any{"staff": staff, "students": 500}})
	}
	setStaff(w.schoolA1, 5)
	setStaff(w.schoolA2, 3)
	var extra idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/users", token: adminA, body: map[string]any{
		"username": "teachera1c", "name": "王老师", "mobile": "13900000010", "role": "teacher", "org_id": w.schoolA1}}).decode(t, &extra)

	// The school's staff, as a teacher's phone lists it for picking.
	var staff struct {
		Items []struct {
			ID, Name, Role string
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1 + "/staff", token: w.tokens["teacherA1"]}).decode(t, &staff)
	if len(staff.Items) != 4 {
		t.Errorf("staff of school A1 = %+v, want 3 teachers and the principal", staff.Items)
	}
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/orgs/" + w.schoolA1 + "/staff", token: w.tokens["teacherB1"]})
	if p := s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/orgs/" + w.distA + "/staff", token: adminA}).problem(t); p.Errors[0].Code != "not_school" {
		t.Errorf("district staff: %+v", p)
	}

	training := func(participants int, trainees ...string) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "teacher_training", "occurred_on": "2025-10-09", "title": "全体教师校本培训",
			"data": map[string]any{"level": "校本", "participants": participants, "trainees": trainees}}
	}
	a := approver{s: s, w: w, approver: map[string]string{"principalA1": adminA, "teacherA1": w.tokens["principalA1"], "principalA2": adminA}}
	// The principal files the whole-staff training: 90 participations, 3 people.
	a.approve("principalA1", training(90, w.users["teacherA1"], w.users["teacherA1b"], w.users["principalA1"]))
	// A teacher files their own: the same person again.
	a.approve("teacherA1", training(1, w.users["teacherA1"]))
	a.approve("principalA2", training(1, w.users["principalA2"]))

	// Someone of another school is refused, naming the entry.
	p := s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherA1"],
		body: training(1, w.users["teacherA1"], w.users["teacherB1"])}).problem(t)
	if !p.hasField("data.trainees[1]") {
		t.Errorf("a trainee of another school: %+v", p)
	}
	// A district admin is no school staff either.
	s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherA1"],
		body: training(1, w.users["adminA"])})

	totalsAs := func(token, query string) []peopleRow {
		t.Helper()
		var b struct {
			Rows []peopleRow `json:"rows"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?template=teacher_training&period=2025AY&" + query, token: token}).decode(t, &b)
		return b.Rows
	}
	totals := func(query string) []peopleRow { return totalsAs(adminA, query) }
	check := func(what string, rows []peopleRow, want map[string][2]float64) {
		t.Helper()
		got := map[string][2]float64{}
		for _, r := range rows {
			k := "-"
			if v := r.Keys["org"]; v != nil {
				k = *v
			}
			rate := -1.0
			if r.StaffRate != nil {
				rate = *r.StaffRate
			}
			got[k] = [2]float64{float64(r.People["trainees"]), rate}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %v (trainees, staff_rate), want %v", what, k, got[k], v)
			}
		}
	}
	check("by school", totals("org_id="+w.distA+"&group_by=org"), map[string][2]float64{
		w.schoolA1: {3, 0.6}, w.schoolA2: {1, 0.3333},
	})
	check("district", totals("org_id="+w.distA), map[string][2]float64{"-": {4, 0.5}})
	check("city", totalsAs(w.tokens["cityadmin"], "org_id="+w.city+"&group_by=org"), map[string][2]float64{w.distA: {4, 0.5}})

	// A submitted record with the fourth teacher counts when asked for,
	// and stops counting when withdrawn.
	r := s.createRecord(w.tokens["teacherA1"], training(1, extra.ID, w.users["teacherA1"]))
	check("with submitted", totals("org_id="+w.schoolA1+"&status=approved,submitted"), map[string][2]float64{"-": {4, 0.8}})
	s.must(http.StatusNoContent, req{method: "DELETE", path: "/api/v1/records/" + r.ID, token: w.tokens["teacherA1"], header: ifMatchV(r.Version)})
	check("withdrawn", totals("org_id="+w.schoolA1+"&status=approved,submitted"), map[string][2]float64{"-": {3, 0.6}})

	// Research projects by name: one project reported by two schools is one.
	research := func(project string) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "teaching_research", "occurred_on": "2025-11-03", "title": "课题",
			"data": map[string]any{"kind": "课题研究", "level": "区县级", "project": project}}
	}
	a.approve("teacherA1", research("“双减”背景下作业设计研究"))
	a.approve("principalA2", research(" “双减”背景下作业设计研究 "))
	a.approve("teacherA1", research("劳动教育课程开发"))
	var b struct {
		Rows []peopleRow `json:"rows"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?template=teaching_research&period=2025AY&org_id=" + w.distA, token: adminA}).decode(t, &b)
	if len(b.Rows) != 1 || b.Rows[0].Count != 3 || b.Rows[0].Distinct["project"] != 2 {
		t.Errorf("research rows = %+v, want 3 records of 2 projects", b.Rows)
	}

	var rep struct {
		Drifted int `json:"drifted"`
	}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/totals:verify", token: w.admin}).decode(t, &rep)
	if rep.Drifted != 0 {
		t.Errorf("verify: %d drifted cells: %s", rep.Drifted, s.must(http.StatusOK, req{method: "POST", path: "/api/v1/totals:verify", token: w.admin}).body)
	}
}
