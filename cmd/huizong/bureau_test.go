package main

import (
	"net/http"
	"slices"
	"testing"
)

// TestBureauRecords: a bureau files its own figures (district and city
// records of the built-in templates), another admin of the same unit or
// the unit above approves them, and they count in the totals; a record the
// district files on a school's behalf is reviewed by that school.
func TestBureauRecords(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA, cityAdmin := w.tokens["adminA"], w.tokens["cityadmin"]
	var second idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/users", token: w.admin, body: map[string]any{
		"username": "admina2", "name": "adminA2", "mobile": "13900000010", "role": "district_admin", "org_id": w.distA, "password": userPassword,
	}}).decode(t, &second)
	adminA2 := s.activate("admina2", userPassword)

	act := func(token, id, action string, version int64, body map[string]any) response {
		t.Helper()
		return s.do(req{method: "POST", path: "/api/v1/records/" + id + "/" + action, token: token, header: ifMatchV(version), body: body})
	}
	count := func(token, query string) int64 {
		t.Helper()
		var n int64
		for _, r := range s.totals(token, query+"&period=2025AY").Rows {
			n += r.Count
		}
		return n
	}

	t.Run("built-ins a bureau does itself take district and city records", func(t *testing.T) {
		var tmpl struct {
			Levels []string `json:"levels"`
		}
		for key, want := range map[string][]string{
			"honor_award": {"school", "district", "city"}, "safety_drill": {"school", "district", "city"},
			"petition": {"school", "district", "city"}, "school_profile": {"school"}, "home_school": {"school"},
		} {
			s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/" + key, token: adminA}).decode(t, &tmpl)
			if !slices.Equal(tmpl.Levels, want) {
				t.Errorf("%s levels %v, want %v", key, tmpl.Levels, want)
			}
		}
	})

	t.Run("district's own record: four eyes", func(t *testing.T) {
		r := s.createRecord(adminA, map[string]any{"client_id": uuid(), "template": "honor_award", "org_id": w.distA,
			"occurred_on": "2025-10-15", "title": "区优秀教师表彰",
			"data": map[string]any{"level": "区县级", "recipient_kind": "教师", "category": "优秀教师", "count": 25}})
		if r.OrgID != w.distA || r.Status != "submitted" {
			t.Fatalf("record %+v", r)
		}
		if p := act(adminA, r.ID, "approve", r.Version, nil).problem(t); p.Status != http.StatusForbidden || p.Code != "not_reviewer" {
			t.Errorf("author approves own record: %+v", p)
		}
		if resp := act(adminA, r.ID, "return", r.Version, map[string]any{"comment": "x"}); resp.status != http.StatusForbidden {
			t.Errorf("author returns own record: %d %s", resp.status, resp.body)
		}
		if resp := act(w.tokens["adminB"], r.ID, "approve", r.Version, nil); resp.status != http.StatusNotFound && resp.status != http.StatusForbidden {
			t.Errorf("other district approves: %d %s", resp.status, resp.body)
		}
		if resp := act(w.tokens["principalA1"], r.ID, "approve", r.Version, nil); resp.status != http.StatusNotFound && resp.status != http.StatusForbidden {
			t.Errorf("principal below approves: %d %s", resp.status, resp.body)
		}
		var out recordBody
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r.ID + "/approve", token: adminA2, header: ifMatchV(r.Version)}).decode(t, &out)
		if out.Status != "approved" || out.Review == nil || out.Review.By != second.ID {
			t.Errorf("approved: %+v", out)
		}
		if n := count(adminA, "org_id="+w.distA+"&template=honor_award"); n != 1 {
			t.Errorf("district totals count %d, want 1", n)
		}
		if n := count(cityAdmin, "org_id="+w.city+"&template=honor_award"); n != 1 {
			t.Errorf("city totals count %d, want 1", n)
		}
		if n := count(w.tokens["principalA1"], "org_id="+w.schoolA1+"&template=honor_award"); n != 0 {
			t.Errorf("school totals count %d, want 0", n)
		}
		// The city above may reopen it too.
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r.ID + "/reopen", token: cityAdmin,
			header: ifMatchV(out.Version), body: map[string]any{"reason": "数据有误"}})
		if n := count(adminA, "org_id="+w.distA+"&template=honor_award"); n != 0 {
			t.Errorf("after reopen district totals count %d, want 0", n)
		}
	})

	t.Run("district's record for a school: the school reviews it", func(t *testing.T) {
		drill := drillOn("2025-10-16", "消防", 300)
		drill["org_id"] = w.schoolA1
		r := s.createRecord(adminA, drill)
		if r.OrgID != w.schoolA1 {
			t.Fatalf("record org %s, want %s", r.OrgID, w.schoolA1)
		}
		for _, who := range []string{"principalA2", "teacherA1", "principalB1"} {
			if resp := act(w.tokens[who], r.ID, "approve", r.Version, nil); resp.status != http.StatusNotFound && resp.status != http.StatusForbidden {
				t.Errorf("%s approves: %d %s", who, resp.status, resp.body)
			}
		}
		if resp := act(adminA, r.ID, "approve", r.Version, nil); resp.status != http.StatusForbidden {
			t.Errorf("author approves: %d %s", resp.status, resp.body)
		}
		var out recordBody
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r.ID + "/approve", token: w.tokens["principalA1"],
			header: ifMatchV(r.Version)}).decode(t, &out)
		if out.Status != "approved" || out.Review == nil || out.Review.By != w.users["principalA1"] {
			t.Errorf("approved: %+v", out)
		}
		if n := count(w.tokens["principalA1"], "org_id="+w.schoolA1+"&template=safety_drill"); n != 1 {
			t.Errorf("school totals count %d, want 1", n)
		}
		// Its principal reopens it as well.
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r.ID + "/reopen", token: w.tokens["principalA1"],
			header: ifMatchV(out.Version), body: map[string]any{"reason": "人数有误"}})

		// A second one the principal returns, and another district admin
		// (the district above the school) may approve.
		drill = drillOn("2025-10-17", "地震", 200)
		drill["org_id"] = w.schoolA1
		r2 := s.createRecord(adminA, drill)
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r2.ID + "/return", token: w.tokens["principalA1"],
			header: ifMatchV(r2.Version), body: map[string]any{"comment": "补充照片"}})
		r3 := s.createRecord(adminA, func() map[string]any { d := drillOn("2025-10-18", "防汛", 100); d["org_id"] = w.schoolA1; return d }())
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r3.ID + "/approve", token: adminA2, header: ifMatchV(r3.Version)})
	})

	t.Run("city's own record", func(t *testing.T) {
		r := s.createRecord(cityAdmin, map[string]any{"client_id": uuid(), "template": "student_aid", "org_id": w.city,
			"occurred_on": "2025-10-20", "title": "生源地助学贷款",
			"data": map[string]any{"program": "生源地助学贷款", "students": 40, "amount_yuan": 320000}})
		if r.OrgID != w.city {
			t.Fatalf("record org %s, want %s", r.OrgID, w.city)
		}
		if resp := act(cityAdmin, r.ID, "approve", r.Version, nil); resp.status != http.StatusForbidden {
			t.Errorf("author approves: %d %s", resp.status, resp.body)
		}
		if resp := act(adminA, r.ID, "approve", r.Version, nil); resp.status != http.StatusNotFound && resp.status != http.StatusForbidden {
			t.Errorf("district below approves: %d %s", resp.status, resp.body)
		}
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r.ID + "/approve", token: w.admin, header: ifMatchV(r.Version)})
		if n := count(cityAdmin, "org_id="+w.city+"&template=student_aid"); n != 1 {
			t.Errorf("city totals count %d, want 1", n)
		}
		if n := count(adminA, "org_id="+w.distA+"&template=student_aid"); n != 0 {
			t.Errorf("district totals count %d, want 0", n)
		}
	})

	t.Run("a template for the city level", func(t *testing.T) {
		def := sportsDay("city_review")
		def["levels"] = []string{"city"}
		s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: cityAdmin, body: def})
		s.createRecord(cityAdmin, map[string]any{"client_id": uuid(), "template": "city_review", "org_id": w.city,
			"occurred_on": "2025-10-21", "title": "市级评审", "data": map[string]any{"events": 3}})
		p := s.do(req{method: "POST", path: "/api/v1/records", token: adminA, body: map[string]any{"client_id": uuid(),
			"template": "city_review", "org_id": w.distA, "occurred_on": "2025-10-21", "title": "x", "data": map[string]any{"events": 1}}}).problem(t)
		if p.Status != http.StatusUnprocessableEntity || !p.hasField("template") {
			t.Errorf("city template for a district: %+v", p)
		}
		def = sportsDay("province_review")
		def["levels"] = []string{"province"}
		if p := s.do(req{method: "POST", path: "/api/v1/templates", token: cityAdmin, body: def}).problem(t); !p.hasField("levels[0]") {
			t.Errorf("unknown level: %+v", p)
		}
	})
}

// TestBuiltinsStableAcrossRestarts: starting again finds every built-in
// template as it left it, on either store: no new version per restart.
func TestBuiltinsStableAcrossRestarts(t *testing.T) {
	s := newTestServer(t, nil)
	s.restart()
	admin := s.adminToken()
	var list struct {
		Items []struct {
			Key     string `json:"key"`
			Version int64  `json:"version"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates?limit=100", token: admin}).decode(t, &list)
	if len(list.Items) < 14 {
		t.Fatalf("templates %+v", list.Items)
	}
	for _, x := range list.Items {
		if x.Version != 1 {
			t.Errorf("%s at version %d after a restart, want 1", x.Key, x.Version)
		}
	}
}
