package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite" // the driver, to make drift by hand

	"github.com/huizong/huizong/repository/sqlite"
)

type totalsRow struct {
	Keys         map[string]*string `json:"keys"`
	Count        int64              `json:"count"`
	Sums         map[string]float64 `json:"sums"`
	Schools      int                `json:"schools"`
	SchoolsTotal int                `json:"schools_total"`
	SchoolRate   *float64           `json:"school_rate"`
	Authors      *int               `json:"authors"`
	Staff        int                `json:"staff"`
	StaffRate    *float64           `json:"staff_rate"`
	RecordsURL   string             `json:"records_url"`
}

type totalsBody struct {
	Org struct {
		ID string `json:"id"`
	} `json:"org"`
	Period string      `json:"period"`
	From   string      `json:"from"`
	To     string      `json:"to"`
	Rows   []totalsRow `json:"rows"`
}

func (s *testServer) totals(token, query string) totalsBody {
	s.t.Helper()
	var b totalsBody
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?" + query, token: token}).decode(s.t, &b)
	return b
}

// key renders a row's keys in group_by order, "-" for null.
func (r totalsRow) key(groupBy ...string) string {
	out := ""
	for i, g := range groupBy {
		if i > 0 {
			out += "|"
		}
		if v := r.Keys[g]; v != nil {
			out += *v
		} else {
			out += "-"
		}
	}
	return out
}

// counts maps each row's keys to its count (and the given sum).
func (b totalsBody) counts(sum string, groupBy ...string) map[string]string {
	out := map[string]string{}
	for _, r := range b.Rows {
		v := fmt.Sprint(r.Count)
		if sum != "" {
			v += fmt.Sprintf("/%g", r.Sums[sum])
		}
		out[r.key(groupBy...)] = v
	}
	return out
}

// approver files records and gets them approved.
type approver struct {
	s        *testServer
	w        world
	approver map[string]string // author name -> approver token
}

func (a approver) approve(author string, body map[string]any) recordBody {
	a.s.t.Helper()
	r := a.s.createRecord(a.w.tokens[author], body)
	var out recordBody
	a.s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r.ID + "/approve", token: a.approver[author],
		header: ifMatchV(r.Version)}).decode(a.s.t, &out)
	return out
}

func drillOn(day, kind string, students int) map[string]any {
	return map[string]any{"client_id": uuid(), "template": "safety_drill", "occurred_on": day, "title": "演练",
		"data": map[string]any{"kind": kind, "students": students, "staff": 10}}
}

func TestTotals(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "teacherA1b": w.tokens["principalA1"],
		"teacherB1": w.tokens["principalB1"], "principalA2": w.tokens["adminA"]}}
	adminA := w.tokens["adminA"]

	// School year and semester boundaries: 31 Aug is the old school year,
	// 31 Jan the first semester, 1 Feb the second.
	a.approve("teacherA1", drillOn("2025-08-31", "消防", 100))
	a.approve("teacherA1", drillOn("2025-09-01", "消防", 200))
	a.approve("teacherA1b", drillOn("2025-10-15", "地震", 300))
	a.approve("teacherA1", drillOn("2026-01-31", "消防", 400))
	a.approve("teacherA1", drillOn("2026-02-01", "防汛", 500))
	a.approve("principalA2", drillOn("2025-11-20", "消防", 600))
	a.approve("teacherB1", drillOn("2025-11-20", "消防", 700))
	// Submitted, not approved: only counted on request.
	s.createRecord(w.tokens["teacherA1"], drillOn("2025-12-01", "地震", 50))
	// Returned: never counted.
	ret := s.createRecord(w.tokens["teacherA1"], drillOn("2025-12-02", "地震", 60))
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + ret.ID + "/return", token: w.tokens["principalA1"],
		header: ifMatchV(1), body: map[string]any{"comment": "补充"}})

	t.Run("grouped by school and kind", func(t *testing.T) {
		b := s.totals(adminA, "org_id="+w.distA+"&period=2025AY&template=safety_drill&group_by=org,kind")
		want := map[string]string{
			w.schoolA1 + "|消防": "2/600", w.schoolA1 + "|地震": "1/300", w.schoolA1 + "|防汛": "1/500",
			w.schoolA2 + "|消防": "1/600",
		}
		if diff := cmp.Diff(want, b.counts("students", "org", "kind")); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if b.From != "2025-09-01" || b.To != "2026-08-31" {
			t.Errorf("2025AY spans %s..%s", b.From, b.To)
		}
	})
	t.Run("period buckets", func(t *testing.T) {
		tests := []struct {
			query string
			group string
			want  map[string]string
		}{
			{"period=2025AY", "semester", map[string]string{"2025AY-S1": "4", "2025AY-S2": "1"}},
			{"period=2025AY-S1", "month", map[string]string{"202509": "1", "202510": "1", "202511": "1", "202601": "1"}},
			{"period=2025AY-S2", "school_year", map[string]string{"2025AY": "1"}},
			{"from=2025-08-01&to=2026-02-28", "school_year", map[string]string{"2024AY": "1", "2025AY": "5"}},
			{"period=2025", "quarter", map[string]string{"2025Q3": "2", "2025Q4": "2"}},
			{"period=2026Q1", "year", map[string]string{"2026": "2"}},
			// Dates that cut months: only the days asked for count.
			{"from=2025-08-31&to=2025-09-01", "month", map[string]string{"202508": "1", "202509": "1"}},
			{"from=2025-09-02&to=2026-01-30", "month", map[string]string{"202510": "1", "202511": "1"}},
			{"from=2025-10-15&to=2025-10-15", "year", map[string]string{"2025": "1"}},
		}
		for _, tt := range tests {
			b := s.totals(adminA, "org_id="+w.distA+"&template=safety_drill&group_by="+tt.group+"&"+tt.query)
			if diff := cmp.Diff(tt.want, b.counts("", tt.group)); diff != "" {
				t.Errorf("%s by %s (-want +got):\n%s", tt.query, tt.group, diff)
			}
		}
	})
	t.Run("status", func(t *testing.T) {
		for query, want := range map[string]string{"": "4", "&status=submitted": "1", "&status=approved,submitted": "5"} {
			b := s.totals(adminA, "org_id="+w.schoolA1+"&period=2025AY&template=safety_drill"+query)
			if got := b.counts("", ""); got["-"] != want {
				t.Errorf("status %q: %v, want %s", query, got, want)
			}
		}
	})
	t.Run("city sees districts", func(t *testing.T) {
		b := s.totals(w.tokens["cityadmin"], "org_id="+w.city+"&period=2025AY&group_by=org,template")
		want := map[string]string{w.distA + "|safety_drill": "5/2000", w.distB + "|safety_drill": "1/700"}
		if diff := cmp.Diff(want, b.counts("students", "org", "template")); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		for _, r := range b.Rows {
			if r.key("org") == w.distA && (r.Schools != 2 || r.SchoolsTotal != 2 || r.SchoolRate == nil || *r.SchoolRate != 1) {
				t.Errorf("district A coverage: %d of %d schools, rate %v", r.Schools, r.SchoolsTotal, r.SchoolRate)
			}
		}
	})
	t.Run("drill-down lists the records behind a row", func(t *testing.T) {
		b := s.totals(adminA, "org_id="+w.distA+"&period=2025AY&template=safety_drill&group_by=org,kind")
		for _, r := range b.Rows {
			u, err := url.Parse(r.RecordsURL)
			if err != nil {
				t.Fatal(err)
			}
			l := s.listRecords(adminA, u.RawQuery+"&limit=100")
			if int64(len(l.Items)) != r.Count {
				t.Errorf("row %s: %d records behind %d (%s)", r.key("org", "kind"), len(l.Items), r.Count, r.RecordsURL)
			}
		}
	})
	t.Run("scope", func(t *testing.T) {
		tests := []struct {
			who, org string
			want     int
		}{
			{"principalA1", w.distA, http.StatusNotFound},
			{"principalA1", w.schoolA2, http.StatusNotFound},
			{"principalA1", w.schoolA1, http.StatusOK},
			{"adminB", w.schoolA1, http.StatusNotFound},
			{"adminA", w.city, http.StatusNotFound},
			{"adminA", w.schoolA2, http.StatusOK},
			{"teacherA1", w.schoolA1, http.StatusForbidden},
		}
		for _, tt := range tests {
			s.must(tt.want, req{method: "GET", path: "/api/v1/totals?period=2025AY&org_id=" + tt.org, token: w.tokens[tt.who]})
		}
	})
	t.Run("bad queries name the field", func(t *testing.T) {
		for query, field := range map[string]string{
			"period=2025W01":                "period",
			"period=2025&from=2025-01-01":   "period",
			"from=2025-02-30&to=2025-03-01": "from",
			"from=2025-03-01&to=2025-02-01": "to",
			"group_by=week":                 "group_by[0]",
			"group_by=month,quarter":        "group_by[1]",
			"template=nope":                 "template[0]",
			"status=draft":                  "status[0]",
			"from=2000-01-01&to=2025-01-01": "to",
			"group_by=kind&template=nope":   "template[0]",
		} {
			p := s.do(req{method: "GET", path: "/api/v1/totals?org_id=" + w.distA + "&" + query, token: adminA}).problem(t)
			if p.Status/100 != 4 || !p.hasField(field) {
				t.Errorf("%s: %d %+v, want a 4xx naming %s", query, p.Status, p.Errors, field)
			}
		}
	})
	t.Run("reopen and withdraw leave the totals", func(t *testing.T) {
		r := a.approve("teacherA1", drillOn("2025-09-20", "地震", 1000))
		count := func() string {
			return s.totals(adminA, "org_id="+w.schoolA1+"&period=202509&template=safety_drill").counts("students", "")["-"]
		}
		if got := count(); got != "2/1200" {
			t.Fatalf("after approve: %s", got)
		}
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + r.ID + "/reopen", token: w.tokens["principalA1"],
			header: ifMatchV(r.Version), body: map[string]any{"reason": "数据有误"}})
		if got := count(); got != "1/200" {
			t.Fatalf("after reopen: %s", got)
		}
		s.must(http.StatusNoContent, req{method: "DELETE", path: "/api/v1/records/" + r.ID, token: w.tokens["teacherA1"],
			header: ifMatchV(r.Version + 1)})
		if got := count(); got != "1/200" {
			t.Fatalf("after withdraw: %s", got)
		}
	})
	t.Run("verify finds no drift", func(t *testing.T) {
		var rep struct {
			Units   int `json:"units"`
			Drifted int `json:"drifted"`
		}
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/totals:verify", token: w.admin}).decode(t, &rep)
		if rep.Drifted != 0 || rep.Units < 6 {
			t.Errorf("verify: %+v", rep)
		}
		s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/totals:verify", token: adminA})
	})
}

func TestTotalsAcrossTemplateVersions(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"]}}
	adminA := w.tokens["adminA"]
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: adminA, body: sportsDay("sports_day")})
	a.approve("teacherA1", map[string]any{"client_id": uuid(), "template": "sports_day", "occurred_on": "2025-10-09",
		"title": "田径运动会", "data": map[string]any{"events": 12, "kind": "田径"}})
	// v2 renames the measure (events -> items) and drops an option.
	v2 := map[string]any{"fields": []map[string]any{
		{"key": "items", "label": "项目数", "type": "integer", "role": "measure", "min": 0, "required": true},
		{"key": "kind", "label": "类型", "type": "enum", "role": "dimension", "options": []map[string]any{{"value": "球类", "label": "球类"}}},
	}}
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, header: ifMatchV(1), body: v2})
	a.approve("teacherA1", map[string]any{"client_id": uuid(), "template": "sports_day", "occurred_on": "2025-10-10",
		"title": "篮球赛", "data": map[string]any{"items": 5, "kind": "球类"}})
	b := s.totals(adminA, "org_id="+w.distA+"&period=2025AY&template=sports_day&group_by=kind")
	got := map[string]map[string]float64{}
	for _, r := range b.Rows {
		got[r.key("kind")] = r.Sums
	}
	want := map[string]map[string]float64{"田径": {"events": 12}, "球类": {"items": 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sums by kind across versions (-want +got):\n%s", diff)
	}
	all := s.totals(adminA, "org_id="+w.distA+"&period=2025AY&template=sports_day")
	if len(all.Rows) != 1 || all.Rows[0].Count != 2 || all.Rows[0].Sums["events"] != 12 || all.Rows[0].Sums["items"] != 5 {
		t.Errorf("all versions together: %+v", all.Rows)
	}
}

func TestTotalsCoverage(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "teacherA1b": w.tokens["principalA1"]}}
	// School A1 has 4 staff; A2 has 10.
	for org, staff := range map[string]int{w.schoolA1: 4, w.schoolA2: 10} {
		var o idOnly
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + org, token: w.admin}).decode(t, &o)
		s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + org, token: w.admin, header: ifMatchV(o.Version),
			body: map[string]any{"staff": staff}})
	}
	training := func(day string) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "teacher_training", "occurred_on": day, "title": "培训",
			"data": map[string]any{"level": "市级", "participants": 1}}
	}
	a.approve("teacherA1", training("2025-10-01"))
	a.approve("teacherA1", training("2025-11-01")) // the same teacher twice counts once
	a.approve("teacherA1b", training("2025-11-02"))
	a.approve("teacherA1", drillOn("2025-10-09", "消防", 100))

	b := s.totals(w.tokens["adminA"], "org_id="+w.distA+"&period=2025AY&template=teacher_training&group_by=org&authors=true")
	if len(b.Rows) != 1 {
		t.Fatalf("rows %+v", b.Rows)
	}
	r := b.Rows[0]
	if r.Count != 3 || r.Authors == nil || *r.Authors != 2 || r.Staff != 4 || r.StaffRate == nil || *r.StaffRate != 0.5 {
		t.Errorf("school A1 training coverage: %+v authors %v rate %v", r, deref(r.Authors), r.StaffRate)
	}
	// The whole district: 2 of 14 staff trained, 1 of 2 schools held a drill.
	d := s.totals(w.tokens["adminA"], "org_id="+w.distA+"&period=2025AY&template=teacher_training&authors=true")
	if r := d.Rows[0]; r.Staff != 14 || r.StaffRate == nil || *r.StaffRate != 0.1429 {
		t.Errorf("district staff rate: staff %d rate %v", r.Staff, r.StaffRate)
	}
	// A range that cuts November: October from totals, 1 November from
	// the records; teacher A1 counts once.
	part := s.totals(w.tokens["adminA"], "org_id="+w.distA+"&from=2025-10-01&to=2025-11-01&template=teacher_training&group_by=org&authors=true")
	if len(part.Rows) != 1 || part.Rows[0].Count != 2 || deref(part.Rows[0].Authors) != 1 || part.Rows[0].Schools != 1 {
		t.Errorf("partial months: %+v authors %v", part.Rows, deref(part.Rows[0].Authors))
	}
	// Two dimensions at once, the same way.
	combo := s.totals(w.tokens["adminA"], "org_id="+w.distA+"&period=2025AY&template=teacher_training&group_by=org,level,mode")
	if len(combo.Rows) != 1 || combo.Rows[0].key("org", "level", "mode") != w.schoolA1+"|市级|-" || combo.Rows[0].Count != 3 || combo.Rows[0].Schools != 1 {
		t.Errorf("two dimensions: %+v", combo.Rows)
	}
	dr := s.totals(w.tokens["adminA"], "org_id="+w.distA+"&period=2025AY&template=safety_drill&group_by=kind")
	if r := dr.Rows[0]; r.Schools != 1 || r.SchoolsTotal != 2 || r.SchoolRate == nil || *r.SchoolRate != 0.5 || r.Authors != nil {
		t.Errorf("share of schools with a 消防 drill: %+v", r)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestTotalsDefaultPeriodFollowsTimeZone: without a period the totals
// are the current school year, judged in the configured time zone. At
// 17:00 UTC on 31 August it is already 1 September in Shanghai.
func TestTotalsDefaultPeriodFollowsTimeZone(t *testing.T) {
	tests := []struct {
		tz   string
		want string
	}{
		{"Asia/Shanghai", "2025AY"},
		{"UTC", "2024AY"},
		{"America/Los_Angeles", "2024AY"},
	}
	for _, tt := range tests {
		t.Run(tt.tz, func(t *testing.T) {
			s := &testServer{t: t, dir: t.TempDir(), clock: &clock{now: time.Date(2025, 8, 31, 17, 0, 0, 0, time.UTC)}}
			s.cfg = testConfig(t, s.dir, map[string]string{"HUIZONG_TIMEZONE": tt.tz})
			if usingMongo() {
				s.cfg.MongoDB.Database = mongoServer.Database(t)
			}
			s.start()
			w := s.seed()
			b := s.totals(w.tokens["adminA"], "org_id="+w.distA)
			if b.Period != tt.want {
				t.Errorf("default period %s, want %s", b.Period, tt.want)
			}
		})
	}
}

// TestTotalsCommand: `huizong totals verify` passes on good totals and
// fails naming the drift on bad ones; `huizong totals rebuild` repairs
// them. It runs next to the server, as an operator would.
func TestTotalsCommand(t *testing.T) {
	if usingMongo() {
		t.Skip("the drift is made by hand in the embedded store's file")
	}
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"]}}
	a.approve("teacherA1", drillOn("2025-10-09", "消防", 100))
	env := func(k string) string {
		return map[string]string{"HUIZONG_DATA_DIR": s.dir, "HUIZONG_LOG_LEVEL": "error"}[k]
	}
	totals := func(action string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"totals", "-config", "../../configs/huizong.yaml", action}, env, &out, io.Discard)
		return out.String(), err
	}
	if out, err := totals("verify"); err != nil || !strings.Contains(out, " 0 drifted cells") {
		t.Fatalf("verify on good totals: %v\n%s", err, out)
	}
	// Drift made by hand, as a bug or a restored old backup would.
	db, err := sql.Open("sqlite", filepath.Join(s.dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE totals SET n = n + 5 WHERE dim = ''`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err := totals("verify")
	if err == nil || !strings.Contains(out, "safety_drill") || !strings.Contains(err.Error(), "rebuild") {
		t.Fatalf("verify on drifted totals: %v\n%s", err, out)
	}
	if out, err := totals("rebuild"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if out, err := totals("verify"); err != nil || !strings.Contains(out, " 0 drifted cells") {
		t.Fatalf("verify after rebuild: %v\n%s", err, out)
	}
	if b := s.totals(w.tokens["adminA"], "org_id="+w.schoolA1+"&period=2025AY"); len(b.Rows) != 1 || b.Rows[0].Count != 1 {
		t.Errorf("totals after rebuild: %+v", b.Rows)
	}
	if _, err := totals("nonsense"); err == nil {
		t.Error("an unknown action was accepted")
	}
}
