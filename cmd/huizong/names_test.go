package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// namedRow is a totals row with the names beside its keys.
type namedRow struct {
	Keys         map[string]*string `json:"keys"`
	Count        int64              `json:"count"`
	OrgName      string             `json:"org_name"`
	TemplateName string             `json:"template_name"`
	Labels       map[string]string  `json:"labels"`
}

func (r namedRow) key(groupBy ...string) string { return totalsRow{Keys: r.Keys}.key(groupBy...) }

// fireCheck is a template whose options have labels apart from values.
func fireCheck() map[string]any {
	return map[string]any{
		"key": "fire_check", "name": "消防检查", "name_en": "Fire check", "category": "safety", "levels": []string{"school"},
		"fields": []map[string]any{
			{"key": "events", "label": "次数", "type": "integer", "role": "measure", "min": 0, "required": true},
			{"key": "kind", "label": "类型", "type": "enum", "role": "dimension", "required": true,
				"options": []map[string]any{{"value": "fire", "label": "消防", "label_en": "Fire"}, {"value": "quake", "label": "地震"}}},
		},
	}
}

func TestNamesHistory(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA2": w.tokens["adminA"]}}
	byTeacher := a.approve("teacherA1", drillOn("2025-10-15", "消防", 100))
	byPrincipal := a.approve("principalA2", drillOn("2025-10-16", "地震", 200))

	type event struct {
		ActorID   string  `json:"actor_id"`
		ActorName *string `json:"actor_name"`
		Action    string  `json:"action"`
	}
	// actors maps each action to its actor's name, "-" when left out.
	actors := func(token, id string) map[string]string {
		var h struct {
			Items []event `json:"items"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records/" + id + "/history", token: token}).decode(t, &h)
		out := map[string]string{}
		for _, e := range h.Items {
			if e.ActorID == "" {
				t.Errorf("%s: no actor id", e.Action)
			}
			out[e.Action] = "-"
			if e.ActorName != nil {
				out[e.Action] = *e.ActorName
			}
		}
		return out
	}
	tests := []struct {
		name, reader, record string
		want                 map[string]string
	}{
		{"author", "teacherA1", byTeacher.ID, map[string]string{"create": "teacherA1", "approve": "principalA1"}},
		{"reviewer", "principalA1", byTeacher.ID, map[string]string{"create": "teacherA1", "approve": "principalA1"}},
		{"district", "adminA", byTeacher.ID, map[string]string{"create": "teacherA1", "approve": "principalA1"}},
		{"district reviewer", "adminA", byPrincipal.ID, map[string]string{"create": "principalA2", "approve": "adminA"}},
		// The district admin lies outside the school: no name.
		{"outside the scope", "principalA2", byPrincipal.ID, map[string]string{"create": "principalA2", "approve": "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, actors(w.tokens[tt.reader], tt.record)); diff != "" {
				t.Errorf("actor names (-want +got):\n%s", diff)
			}
		})
	}

	type named struct {
		AuthorID     string  `json:"author_id"`
		AuthorName   string  `json:"author_name"`
		ReviewerName *string `json:"reviewer_name"`
	}
	t.Run("records", func(t *testing.T) {
		var r named
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records/" + byTeacher.ID, token: w.tokens["teacherA1"]}).decode(t, &r)
		if r.AuthorName != "teacherA1" || r.ReviewerName == nil || *r.ReviewerName != "principalA1" {
			t.Errorf("record names: %+v", r)
		}
		var own named
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records/" + byPrincipal.ID, token: w.tokens["principalA2"]}).decode(t, &own)
		if own.AuthorName != "principalA2" || own.ReviewerName != nil {
			t.Errorf("record names outside the scope: %+v", own)
		}
		var l struct {
			Items []named `json:"items"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records?fields=author_id,author_name", token: w.tokens["adminA"]}).decode(t, &l)
		if len(l.Items) != 2 {
			t.Fatalf("%d records", len(l.Items))
		}
		for _, it := range l.Items {
			if want := map[string]string{w.users["teacherA1"]: "teacherA1", w.users["principalA2"]: "principalA2"}[it.AuthorID]; it.AuthorName != want || it.ReviewerName != nil {
				t.Errorf("listed %+v, want author %s and no reviewer (not picked)", it, want)
			}
		}
	})
}

func TestNamesTotals(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: w.tokens["adminA"], body: fireCheck()})
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA2": w.tokens["adminA"],
		"teacherB1": w.tokens["principalB1"]}}
	a.approve("teacherA1", drillOn("2025-10-15", "消防", 100))
	a.approve("principalA2", drillOn("2025-10-16", "地震", 200))
	a.approve("teacherB1", drillOn("2025-10-17", "消防", 300))
	for _, kind := range []string{"fire", "quake"} {
		a.approve("teacherA1", map[string]any{"client_id": uuid(), "template": "fire_check", "occurred_on": "2025-11-03",
			"title": "检查", "data": map[string]any{"kind": kind, "events": 1}})
	}

	type want struct {
		org, template string
		labels        map[string]string
	}
	tests := []struct {
		name, reader, query, lang string
		groupBy                   []string
		want                      map[string]want
	}{
		{"school and plain kind", "adminA", "org_id=" + w.distA + "&template=safety_drill", "", []string{"org", "kind"}, map[string]want{
			w.schoolA1 + "|消防": {org: "成华区实验小学", labels: map[string]string{"kind": "消防"}},
			w.schoolA2 + "|地震": {org: "成华区第二中学", labels: map[string]string{"kind": "地震"}},
		}},
		{"labelled kind", "adminA", "org_id=" + w.distA + "&template=fire_check", "", []string{"org", "kind"}, map[string]want{
			w.schoolA1 + "|fire":  {org: "成华区实验小学", labels: map[string]string{"kind": "消防"}},
			w.schoolA1 + "|quake": {org: "成华区实验小学", labels: map[string]string{"kind": "地震"}},
		}},
		{"labelled kind in English", "adminA", "org_id=" + w.distA + "&template=fire_check", "en", []string{"kind"}, map[string]want{
			"fire":  {labels: map[string]string{"kind": "Fire"}},
			"quake": {labels: map[string]string{"kind": "地震"}},
		}},
		{"districts", "cityadmin", "template=safety_drill", "", []string{"org"}, map[string]want{
			w.distA: {org: "成华区"}, w.distB: {org: "锦江区"},
		}},
		{"template", "adminA", "", "", []string{"template"}, map[string]want{
			"safety_drill": {template: "应急疏散演练"}, "fire_check": {template: "消防检查"},
		}},
		{"template in English", "adminA", "", "en", []string{"template", "kind"}, map[string]want{
			"safety_drill|消防":  {template: "Emergency evacuation drill", labels: map[string]string{"kind": "消防"}},
			"safety_drill|地震":  {template: "Emergency evacuation drill", labels: map[string]string{"kind": "地震"}},
			"fire_check|fire":  {template: "Fire check", labels: map[string]string{"kind": "Fire"}},
			"fire_check|quake": {template: "Fire check", labels: map[string]string{"kind": "地震"}},
		}},
		{"school's own", "principalA1", "template=fire_check", "", []string{"org", "kind"}, map[string]want{
			w.schoolA1 + "|fire":  {org: "成华区实验小学", labels: map[string]string{"kind": "消防"}},
			w.schoolA1 + "|quake": {org: "成华区实验小学", labels: map[string]string{"kind": "地震"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := "period=2025AY&group_by=" + strings.Join(tt.groupBy, ",")
			if tt.query != "" {
				q += "&" + tt.query
			}
			var b struct {
				Rows []namedRow `json:"rows"`
			}
			s.must(http.StatusOK, req{method: "GET", path: "/api/v1/totals?" + q, token: w.tokens[tt.reader],
				header: map[string]string{"Accept-Language": tt.lang}}).decode(t, &b)
			got := map[string]want{}
			for _, r := range b.Rows {
				got[r.key(tt.groupBy...)] = want{org: r.OrgName, template: r.TemplateName, labels: r.Labels}
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}
