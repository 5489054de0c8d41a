package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type taskBody struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Templates    []string `json:"templates"`
	Period       string   `json:"period"`
	From         string   `json:"from"`
	To           string   `json:"to"`
	OrgID        string   `json:"org_id"`
	Stages       []string `json:"stages"`
	SchoolIDs    []string `json:"school_ids"`
	Targets      int      `json:"targets"`
	DueOn        string   `json:"due_on"`
	MinPerSchool int      `json:"min_per_school"`
	Version      int64    `json:"version"`
}

type ratesBody struct {
	OrgID          string  `json:"org_id"`
	Targets        int     `json:"targets"`
	Complete       int     `json:"complete"`
	OnTime         int     `json:"on_time"`
	ReportingRate  float64 `json:"reporting_rate"`
	TimelinessRate float64 `json:"timeliness_rate"`
}

type schoolProgressBody struct {
	SchoolID   string `json:"school_id"`
	SchoolName string `json:"school_name"`
	DistrictID string `json:"district_id"`
	Submitted  int    `json:"submitted"`
	Approved   int    `json:"approved"`
	Returned   int    `json:"returned"`
	Done       int    `json:"done"`
	Needed     int    `json:"needed"`
	Complete   bool   `json:"complete"`
	OnTime     bool   `json:"on_time"`
	Late       bool   `json:"late"`
}

type progressBody struct {
	Task      taskBody             `json:"task"`
	Overdue   bool                 `json:"overdue"`
	Total     ratesBody            `json:"total"`
	Districts []ratesBody          `json:"districts"`
	Schools   []schoolProgressBody `json:"schools"`
}

type myTaskBody struct {
	ID        string `json:"id"`
	DueOn     string `json:"due_on"`
	Period    string `json:"period"`
	Needed    int    `json:"needed"`
	Done      int    `json:"done"`
	Submitted int    `json:"submitted"`
	Approved  int    `json:"approved"`
	Returned  int    `json:"returned"`
	Complete  bool   `json:"complete"`
	OnTime    bool   `json:"on_time"`
	Overdue   bool   `json:"overdue"`
}

func TestTasks(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA, adminB, city := w.tokens["adminA"], w.tokens["adminB"], w.tokens["cityadmin"]
	teacherA1, principalA1, principalA2 := w.tokens["teacherA1"], w.tokens["principalA1"], w.tokens["principalA2"]

	// A third school in district A, the only one teaching 初中.
	var a3 idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: adminA,
		body: map[string]any{"kind": "school", "name": "成华区第三中学", "parent_id": w.distA, "stages": []string{"初中"}}}).decode(t, &a3)

	loc := s.cfg.Location
	today := s.clock.Now().In(loc)
	period := today.Format("200601")
	first := today.Format("2006-01") + "-01"
	due := today.Format("2006-01-02")
	create := func(token string, body map[string]any) taskBody {
		t.Helper()
		s.clock.Advance(time.Second) // ids sort by creation time
		resp := s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/tasks", token: token, body: body})
		var tb taskBody
		resp.decode(t, &tb)
		if loc := resp.header.Get("Location"); loc != "/api/v1/tasks/"+tb.ID {
			t.Errorf("Location %q", loc)
		}
		return tb
	}

	// District A asks all its schools for two drills this month, due today.
	t1 := create(adminA, map[string]any{"name": " 本月应急演练 ", "templates": []string{"safety_drill"}, "period": period,
		"due_on": due, "min_per_school": 2, "note": "请上传照片"})
	wantTargets := []string{w.schoolA1, w.schoolA2, a3.ID}
	slices.Sort(wantTargets)
	if t1.Name != "本月应急演练" || t1.OrgID != w.distA || t1.MinPerSchool != 2 || t1.Period != period || t1.From != first ||
		!slices.Equal(t1.SchoolIDs, wantTargets) || t1.Targets != 3 {
		t.Fatalf("created %+v", t1)
	}
	// By stage: only the school teaching 初中.
	t3 := create(adminA, map[string]any{"name": "初中学段", "templates": []string{"teaching_research"}, "period": period,
		"org_id": w.distA, "stages": []string{"初中"}, "due_on": due})
	if !slices.Equal(t3.SchoolIDs, []string{a3.ID}) || t3.MinPerSchool != 1 {
		t.Errorf("stage task %+v", t3)
	}
	// The city picks one school in each district, due in ten days.
	t2 := create(city, map[string]any{"name": "市级抽查", "templates": []string{"safety_drill", "teacher_training"},
		"period": period, "org_id": w.city, "school_ids": []string{w.schoolB1, w.schoolA1},
		"due_on": today.AddDate(0, 0, 10).Format("2006-01-02")})
	if !slices.Equal(t2.SchoolIDs, slices.Sorted(slices.Values([]string{w.schoolA1, w.schoolB1}))) {
		t.Errorf("city task targets %v", t2.SchoolIDs)
	}

	t.Run("validation", func(t *testing.T) {
		s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/tasks", token: principalA1,
			body: map[string]any{"name": "x", "templates": []string{"safety_drill"}, "period": period, "due_on": due}})
		// Another district's bureau does not exist for district A.
		s.must(http.StatusNotFound, req{method: "POST", path: "/api/v1/tasks", token: adminA,
			body: map[string]any{"name": "x", "templates": []string{"safety_drill"}, "period": period, "org_id": w.distB, "due_on": due}})
		tests := []struct {
			name   string
			body   map[string]any
			fields []string
		}{
			{"everything wrong", map[string]any{"name": " ", "templates": []string{"nope", "safety_drill", "safety_drill"},
				"period": "2025Q5", "due_on": "2025-13-01", "min_per_school": 0, "school_ids": []string{w.schoolB1, w.distA},
				"stages": []string{"大学"}, "note": strings.Repeat("长", 2001)},
				[]string{"name", "templates[0]", "templates[2]", "period", "due_on", "min_per_school", "school_ids[0]",
					"school_ids[1]", "stages[0]", "stages", "note"}},
			{"nothing", map[string]any{}, []string{"name", "templates", "period", "due_on"}},
			{"school as org", map[string]any{"name": "x", "templates": []string{"safety_drill"}, "period": period,
				"org_id": w.schoolA1, "due_on": due}, []string{"org_id"}},
			{"due before period", map[string]any{"name": "x", "templates": []string{"safety_drill"}, "period": period,
				"due_on": "2001-01-01", "min_per_school": 1001}, []string{"due_on", "min_per_school"}},
			{"no school of stage", map[string]any{"name": "x", "templates": []string{"safety_drill"}, "period": period,
				"stages": []string{"高中"}, "due_on": due}, []string{"school_ids"}},
		}
		for _, tt := range tests {
			resp := s.do(req{method: "POST", path: "/api/v1/tasks", token: adminA, body: tt.body})
			if resp.status != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422; %s", tt.name, resp.status, resp.body)
				continue
			}
			p := resp.problem(t)
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Field)
				if e.Message == "" || e.Message == "无效" {
					t.Errorf("%s: field %s code %s has no message", tt.name, e.Field, e.Code)
				}
			}
			slices.Sort(got)
			if d := cmp.Diff(slices.Sorted(slices.Values(tt.fields)), got); d != "" {
				t.Errorf("%s: fields (-want +got):\n%s", tt.name, d)
			}
		}
		s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/tasks", token: adminA,
			body: map[string]any{"name": "x", "templates": []string{"safety_drill"}, "period": period, "due_on": due, "owner": "me"}})
	})

	// Records. On time: A1 files three drills (one approved, one
	// returned), A2 one drill and a draft; noise that must not count: a
	// drill before the period and a training record at A2.
	onDay := func(body map[string]any, day string) map[string]any { body["occurred_on"] = day; return body }
	d1 := s.createRecord(teacherA1, onDay(drill(uuid(), 10), first))
	s.createRecord(teacherA1, onDay(drill(uuid(), 20), today.Format("2006-01-02")))
	d3 := s.createRecord(teacherA1, onDay(drill(uuid(), 30), first))
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + d1.ID + "/approve", token: principalA1, header: ifMatchV(d1.Version)})
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + d3.ID + "/return", token: principalA1,
		header: ifMatchV(d3.Version), body: map[string]any{"comment": "请补充照片"}})
	s.createRecord(principalA2, onDay(drill(uuid(), 5), first))
	draft := onDay(drill(uuid(), 6), first)
	draft["status"] = "draft"
	s.createRecord(principalA2, draft)
	s.createRecord(principalA2, onDay(drill(uuid(), 7), today.AddDate(0, -1, -today.Day()+1).Format("2006-01-02")))
	s.createRecord(principalA2, map[string]any{"client_id": uuid(), "template": "teacher_training", "occurred_on": first,
		"title": "校本培训", "data": map[string]any{"level": "校本", "participants": 30}})
	// Late: two days after the due day, A2 files its second drill and B1 its first.
	s.clock.Advance(48 * time.Hour)
	// Access tokens have expired meanwhile.
	for name := range w.tokens {
		w.tokens[name] = s.login(strings.ToLower(name), userPassword).AccessToken
	}
	w.admin = s.adminToken()
	adminA, adminB, city = w.tokens["adminA"], w.tokens["adminB"], w.tokens["cityadmin"]
	teacherA1, principalA1, principalA2 = w.tokens["teacherA1"], w.tokens["principalA1"], w.tokens["principalA2"]
	s.createRecord(principalA2, onDay(drill(uuid(), 8), first))
	s.createRecord(w.tokens["teacherB1"], onDay(drill(uuid(), 9), first))

	t.Run("progress", func(t *testing.T) {
		var pr progressBody
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks/" + t1.ID + "/progress", token: adminA}).decode(t, &pr)
		want := map[string]schoolProgressBody{
			w.schoolA1: {SchoolID: w.schoolA1, SchoolName: "成华区实验小学", DistrictID: w.distA, Submitted: 1, Approved: 1,
				Returned: 1, Done: 2, Needed: 2, Complete: true, OnTime: true},
			w.schoolA2: {SchoolID: w.schoolA2, SchoolName: "成华区第二中学", DistrictID: w.distA, Submitted: 2, Done: 2,
				Needed: 2, Complete: true, Late: true},
			a3.ID: {SchoolID: a3.ID, SchoolName: "成华区第三中学", DistrictID: w.distA, Needed: 2},
		}
		var wantSchools []schoolProgressBody
		for _, id := range wantTargets {
			wantSchools = append(wantSchools, want[id])
		}
		if d := cmp.Diff(wantSchools, pr.Schools); d != "" {
			t.Errorf("schools (-want +got):\n%s", d)
		}
		wantTotal := ratesBody{OrgID: w.distA, Targets: 3, Complete: 2, OnTime: 1, ReportingRate: 0.6667, TimelinessRate: 0.3333}
		if d := cmp.Diff(wantTotal, pr.Total); d != "" {
			t.Errorf("total (-want +got):\n%s", d)
		}
		if d := cmp.Diff([]ratesBody{wantTotal}, pr.Districts); d != "" {
			t.Errorf("districts (-want +got):\n%s", d)
		}
		if !pr.Overdue || pr.Task.ID != t1.ID {
			t.Errorf("overdue %v task %s", pr.Overdue, pr.Task.ID)
		}

		// The city's task, per district: both schools filed before its
		// due day, ten days out.
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks/" + t2.ID + "/progress", token: city}).decode(t, &pr)
		wantDistricts := []ratesBody{
			{OrgID: w.distA, Targets: 1, Complete: 1, OnTime: 1, ReportingRate: 1, TimelinessRate: 1},
			{OrgID: w.distB, Targets: 1, Complete: 1, OnTime: 1, ReportingRate: 1, TimelinessRate: 1},
		}
		slices.SortFunc(wantDistricts, func(a, b ratesBody) int { return strings.Compare(a.OrgID, b.OrgID) })
		if d := cmp.Diff(wantDistricts, pr.Districts); d != "" {
			t.Errorf("city task districts (-want +got):\n%s", d)
		}
		if pr.Total.Targets != 2 || pr.Total.ReportingRate != 1 || pr.Overdue {
			t.Errorf("city task total %+v overdue %v", pr.Total, pr.Overdue)
		}
	})

	t.Run("missing", func(t *testing.T) {
		var ml struct {
			Items []struct {
				SchoolID   string `json:"school_id"`
				SchoolName string `json:"school_name"`
				Done       int    `json:"done"`
				Needed     int    `json:"needed"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks/" + t1.ID + "/missing", token: adminA}).decode(t, &ml)
		if len(ml.Items) != 1 || ml.Items[0].SchoolID != a3.ID || ml.Items[0].SchoolName != "成华区第三中学" ||
			ml.Items[0].Done != 0 || ml.Items[0].Needed != 2 || ml.NextCursor != "" {
			t.Errorf("missing %+v", ml)
		}
		// The stage task: A3 is missing; paging one at a time ends.
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks/" + t3.ID + "/missing?limit=1", token: adminA}).decode(t, &ml)
		if len(ml.Items) != 1 || ml.NextCursor == "" {
			t.Fatalf("missing page 1 %+v", ml)
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks/" + t3.ID + "/missing?limit=1&cursor=" + ml.NextCursor, token: adminA}).decode(t, &ml)
		if len(ml.Items) != 0 || ml.NextCursor != "" {
			t.Errorf("missing page 2 %+v", ml)
		}
	})

	t.Run("mine", func(t *testing.T) {
		mine := func(token string) []myTaskBody {
			t.Helper()
			var l struct {
				Items []myTaskBody `json:"items"`
			}
			s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me/tasks", token: token}).decode(t, &l)
			return l.Items
		}
		got := mine(principalA1)
		if len(got) != 2 || got[0].ID != t2.ID || got[1].ID != t1.ID {
			t.Fatalf("principal A1 tasks %+v", got)
		}
		if g := got[1]; g.Needed != 2 || g.Done != 2 || g.Approved != 1 || g.Returned != 1 || !g.Complete || !g.OnTime || g.Overdue || g.DueOn != due {
			t.Errorf("A1 on t1 %+v", g)
		}
		// A teacher sees the school's counts, not only their own.
		if tg := mine(teacherA1); len(tg) != 2 || tg[1].Done != 2 {
			t.Errorf("teacher A1 tasks %+v", tg)
		}
		if g := mine(principalA2); len(g) != 1 || g[0].ID != t1.ID || g[0].Done != 2 || !g[0].Complete || g[0].OnTime {
			t.Errorf("principal A2 tasks %+v", g)
		}
		if g := mine(w.tokens["principalB1"]); len(g) != 1 || g[0].ID != t2.ID || g[0].Done != 1 || g[0].Needed != 1 {
			t.Errorf("principal B1 tasks %+v", g)
		}
		if g := mine(adminA); len(g) != 0 {
			t.Errorf("a bureau has no tasks of its own: %+v", g)
		}
	})

	t.Run("list and scope", func(t *testing.T) {
		list := func(token string) []string {
			t.Helper()
			var l struct {
				Items []taskBody `json:"items"`
			}
			s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks", token: token}).decode(t, &l)
			var ids []string
			for _, x := range l.Items {
				ids = append(ids, x.ID)
			}
			return ids
		}
		if d := cmp.Diff([]string{t3.ID, t1.ID}, list(adminA)); d != "" {
			t.Errorf("district A list (-want +got):\n%s", d)
		}
		if got := list(city); len(got) < 3 || got[0] != t2.ID || got[1] != t3.ID || got[2] != t1.ID {
			t.Errorf("city list %v", got)
		}
		if got := list(adminB); len(got) != 0 {
			t.Errorf("district B list %v", got)
		}
		// Paging.
		var page struct {
			Items      []taskBody `json:"items"`
			NextCursor string     `json:"next_cursor"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks?limit=1", token: adminA}).decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].ID != t3.ID || page.NextCursor == "" {
			t.Fatalf("page 1 %+v", page)
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks?limit=1&cursor=" + page.NextCursor, token: adminA}).decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].ID != t1.ID {
			t.Errorf("page 2 %+v", page)
		}

		for _, path := range []string{"", "/progress", "/missing"} {
			s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/tasks/" + t1.ID + path, token: adminB})
			// A district does not follow the city's task.
			s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/tasks/" + t2.ID + path, token: adminA})
			s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/tasks/nope" + path, token: adminA})
		}
		// Schools read the tasks that target them, and no others.
		var got taskBody
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks/" + t1.ID, token: teacherA1}).decode(t, &got)
		if got.ID != t1.ID {
			t.Errorf("teacher read %+v", got)
		}
		s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/tasks/" + t1.ID, token: w.tokens["principalB1"]})
		s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/tasks/" + t3.ID, token: principalA1})
		// Progress is for bureaus.
		s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/tasks/" + t1.ID + "/progress", token: principalA1})
		s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/tasks", token: principalA1})
		// The sysadmin sees everything.
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/tasks/" + t1.ID + "/progress", token: w.admin})
	})
}
