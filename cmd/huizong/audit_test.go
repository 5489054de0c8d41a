package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

type auditItem struct {
	ID          string `json:"id"`
	At          string `json:"at"`
	Kind        string `json:"kind"`
	ActorID     string `json:"actor_id"`
	ActorName   string `json:"actor_name"`
	Login       string `json:"login"`
	IP          string `json:"ip"`
	UserAgent   string `json:"user_agent"`
	SubjectType string `json:"subject_type"`
	SubjectID   string `json:"subject_id"`
	SubjectName string `json:"subject_name"`
	OrgID       string `json:"org_id"`
	Detail      string `json:"detail"`
}

type auditList struct {
	Items      []auditItem `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

// audit reads one page of the audit log as token with the query q.
func (s *testServer) audit(token string, q url.Values) auditList {
	s.t.Helper()
	var l auditList
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/audit?" + q.Encode(), token: token}).decode(s.t, &l)
	return l
}

func kinds(l auditList) []string {
	out := make([]string, len(l.Items))
	for i, e := range l.Items {
		out[i] = e.Kind
	}
	return out
}

// TestAuditLog: account and security events reach the audit log with who,
// from where and why, and each administrator reads the events of their
// own subtree only.
func TestAuditLog(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	admin, adminA, adminB, city := w.admin, w.tokens["adminA"], w.tokens["adminB"], w.tokens["cityadmin"]

	// Failed sign-ins: an unknown login, and a wrong password for a
	// teacher of district A.
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/login", header: map[string]string{"User-Agent": "guesser/1.0"},
		body: map[string]string{"username": "Nobody.Here", "password": "x-guess-1"}})
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"username": "teachera1", "password": "x-guess-2"}})

	failed := s.audit(admin, url.Values{"kind": {"login_failed"}})
	if len(failed.Items) != 2 {
		t.Fatalf("login_failed events = %+v, want 2", failed.Items)
	}
	wrong, unknown := failed.Items[0], failed.Items[1]
	if unknown.Login != "nobody.here" || unknown.Detail != "unknown_login" || unknown.IP != "127.0.0.1" ||
		unknown.UserAgent != "guesser/1.0" || unknown.ActorID != "" || unknown.OrgID != "" {
		t.Errorf("unknown login event = %+v", unknown)
	}
	if wrong.Login != "teachera1" || wrong.Detail != "wrong_password" || wrong.SubjectID != w.users["teacherA1"] ||
		wrong.OrgID != w.schoolA1 || wrong.IP == "" {
		t.Errorf("wrong password event = %+v", wrong)
	}
	// The district sees its teacher's failure, not the unknown login;
	// the other district sees neither.
	if l := s.audit(adminA, url.Values{"kind": {"login_failed"}}); len(l.Items) != 1 || l.Items[0].ID != wrong.ID {
		t.Errorf("district A's login failures = %+v, want only its teacher's", l.Items)
	}
	if l := s.audit(adminB, url.Values{"kind": {"login_failed"}}); len(l.Items) != 0 {
		t.Errorf("district B reads district A's failures: %+v", l.Items)
	}

	// Account changes by district A's administrator.
	target := w.users["teacherA1b"]
	tag := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users/" + target, token: adminA}).header.Get("ETag")
	patch := func(body map[string]any) {
		t.Helper()
		tag = s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/users/" + target, token: adminA, body: body,
			header: map[string]string{"If-Match": tag}}).header.Get("ETag")
	}
	patch(map[string]any{"disabled": true})
	patch(map[string]any{"disabled": false})
	patch(map[string]any{"role": "principal"})
	patch(map[string]any{"org_id": w.schoolA2})
	patch(map[string]any{"name": "只改名字"}) // no security event
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/users/" + target + "/password", token: adminA, body: map[string]any{}})

	about := s.audit(adminA, url.Values{"subject_id": {target}})
	want := []string{"password_reset", "org_changed", "org_changed", "role_changed", "user_enabled", "user_disabled", "password_changed", "password_changed", "login", "user_created"}
	if got := kinds(about); !slices.Equal(got, want) {
		t.Errorf("events about the account = %v, want %v", got, want)
	}
	for _, e := range about.Items[:6] { // the account's own password changes come next
		if e.ActorID != w.users["adminA"] || e.ActorName != "admina" || e.SubjectName != "teachera1b" {
			t.Errorf("event %s: actor %s (%s), subject %s", e.Kind, e.ActorID, e.ActorName, e.SubjectName)
		}
	}
	if e := about.Items[3]; e.Detail != "teacher -> principal" {
		t.Errorf("role change detail %q", e.Detail)
	}
	if e := about.Items[1]; e.Detail != w.schoolA1+" -> "+w.schoolA2 {
		t.Errorf("org change detail %q", e.Detail)
	}
	if e := about.Items[len(about.Items)-1]; e.ActorName != "admin" {
		t.Errorf("created by %q, want admin", e.ActorName)
	}

	// Sign-out and revoking another session.
	tp := s.login("teacherb1", userPassword)
	s.login("teacherb1", userPassword)
	var sessions struct {
		Items []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me/sessions", token: tp.AccessToken}).decode(t, &sessions)
	var revoked string
	for _, x := range sessions.Items {
		if !x.Current {
			revoked = x.ID
		}
	}
	s.must(http.StatusNoContent, req{method: "DELETE", path: "/api/v1/me/sessions/" + revoked, token: tp.AccessToken})
	s.must(http.StatusNoContent, req{method: "POST", path: "/api/v1/auth/logout", token: tp.AccessToken})
	byB := s.audit(adminB, url.Values{"actor_id": {w.users["teacherB1"]}, "kind": {"logout,session_revoked"}})
	if got := kinds(byB); !slices.Equal(got, []string{"logout", "session_revoked"}) {
		t.Errorf("teacher B1's session events = %v", got)
	}

	// Templates and keys.
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates/safety_drill/copy", token: adminA,
		body: map[string]any{"key": "chenghua_drill", "name": "成华区应急演练"}})
	s.must(http.StatusNoContent, req{method: "POST", path: "/api/v1/admin/signing-keys:rotate", token: admin})
	if l := s.audit(adminA, url.Values{"kind": {"template_copied"}}); len(l.Items) != 1 ||
		l.Items[0].SubjectID != "chenghua_drill" || l.Items[0].Detail != "from safety_drill" || l.Items[0].OrgID != w.distA {
		t.Errorf("template copy event = %+v", l.Items)
	}
	if l := s.audit(adminB, url.Values{"kind": {"template_copied"}}); len(l.Items) != 0 {
		t.Errorf("district B reads district A's template events: %+v", l.Items)
	}
	if l := s.audit(admin, url.Values{"kind": {"signing_key_rotated"}}); len(l.Items) != 1 || l.Items[0].SubjectID == "" {
		t.Errorf("key rotation events = %+v", l.Items)
	}
	if l := s.audit(city, url.Values{"kind": {"signing_key_rotated"}}); len(l.Items) != 0 {
		t.Errorf("a city admin reads key rotations: %+v", l.Items)
	}
	// The city reads both districts' events.
	if l := s.audit(city, url.Values{"kind": {"logout,template_copied"}}); len(l.Items) != 2 {
		t.Errorf("city's events = %v, want both districts'", kinds(l))
	}

	// Paging walks the whole log without repeats.
	seen := map[string]bool{}
	q := url.Values{"limit": {"7"}}
	for pages := 0; ; pages++ {
		l := s.audit(admin, q)
		for _, e := range l.Items {
			if seen[e.ID] {
				t.Fatalf("event %s on two pages", e.ID)
			}
			seen[e.ID] = true
		}
		if l.NextCursor == "" {
			break
		}
		if pages > 50 {
			t.Fatal("paging does not end")
		}
		q.Set("cursor", l.NextCursor)
	}
	if len(seen) < 30 {
		t.Errorf("paged through %d events, want every one (30+)", len(seen))
	}

	// Who may read it, and bad filters.
	for _, who := range []string{"teacherA1", "principalA1"} {
		s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/audit", token: w.tokens[who]})
	}
	for _, c := range []struct{ query, field string }{
		{"kind=login,nonsense", "kind"},
		{"from=yesterday", "from"},
		{"from=2026-01-02&to=2026-01-01", "to"},
		{"actor_id=%24where", "actor_id"},
		{"cursor=!!", "cursor"},
	} {
		p := s.must(http.StatusBadRequest, req{method: "GET", path: "/api/v1/audit?" + c.query, token: admin}).problem(t)
		if !p.hasField(c.field) {
			t.Errorf("%s: problem %+v does not name %s", c.query, p, c.field)
		}
	}
	// A date range of today holds everything; one of another year nothing.
	if l := s.audit(admin, url.Values{"from": {"2020-01-01"}, "to": {"2020-12-31"}}); len(l.Items) != 0 {
		t.Errorf("events in 2020: %v", kinds(l))
	}
}
