package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/huizong/huizong/handlers"
)

// TestObjectsOutsideScopeAre404 walks every route with an id: another
// school's principal and another district's admin get 404, and nothing
// changes.
func TestObjectsOutsideScopeAre404(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	tests := []struct {
		name, caller, method, path string
		body                       any
		ifMatch                    bool
	}{
		{"principal reads a user of another school", "principalA1", "GET", "/api/v1/users/" + w.users["teacherB1"], nil, false},
		{"principal reads a user of a sibling school", "principalA1", "GET", "/api/v1/users/" + w.users["principalA2"], nil, false},
		{"principal edits a user of another school", "principalA1", "PATCH", "/api/v1/users/" + w.users["teacherB1"], map[string]any{"name": "x"}, true},
		{"principal resets a password in another school", "principalA1", "POST", "/api/v1/users/" + w.users["teacherB1"] + "/password", nil, false},
		{"principal reads another school", "principalA1", "GET", "/api/v1/orgs/" + w.schoolB1, nil, false},
		{"district admin reads another district", "adminA", "GET", "/api/v1/orgs/" + w.distB, nil, false},
		{"district admin reads a school of another district", "adminA", "GET", "/api/v1/orgs/" + w.schoolB1, nil, false},
		{"district admin edits a school of another district", "adminA", "PATCH", "/api/v1/orgs/" + w.schoolB1, map[string]any{"name": "x"}, true},
		{"district admin deletes a school of another district", "adminA", "DELETE", "/api/v1/orgs/" + w.schoolB1, nil, true},
		{"district admin reads a user of another district", "adminA", "GET", "/api/v1/users/" + w.users["principalB1"], nil, false},
		{"district admin edits a user of another district", "adminA", "PATCH", "/api/v1/users/" + w.users["teacherB1"], map[string]any{"disabled": true}, true},
		{"district admin reads the city", "adminA", "GET", "/api/v1/orgs/" + w.city, nil, false},
		{"teacher reads a colleague", "teacherA1", "GET", "/api/v1/users/" + w.users["teacherA1b"], nil, false},
		{"tree rooted outside scope", "adminA", "GET", "/api/v1/orgs/tree?root=" + w.distB, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req{method: tt.method, path: tt.path, token: w.tokens[tt.caller], body: tt.body}
			if tt.ifMatch {
				r.header = map[string]string{"If-Match": `"v1"`}
			}
			want := http.StatusNotFound
			if tt.caller == "teacherA1" && strings.HasPrefix(tt.path, "/api/v1/users") {
				want = http.StatusForbidden // teachers may not list or read accounts at all
			}
			p := s.must(want, r).problem(t)
			if p.Status != want {
				t.Errorf("problem status %d", p.Status)
			}
		})
	}
	// Nothing changed: the objects still read as before for their own admins.
	var u struct {
		Name     string `json:"name"`
		Disabled bool   `json:"disabled"`
		Version  int64  `json:"version"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users/" + w.users["teacherB1"], token: w.tokens["adminB"]}).decode(t, &u)
	// Version 3: seeding changed the password twice (accounts an admin
	// creates must change their password before they may work).
	if u.Name != "teacherB1" || u.Disabled || u.Version != 3 {
		t.Errorf("teacherB1 changed: %+v", u)
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + w.schoolB1, token: w.tokens["adminB"]})
	s.login("teacherb1", userPassword)
}

// TestCreateOnlyInsideScope: admins create users and schools only inside
// their subtree, and only roles below their own.
func TestCreateOnlyInsideScope(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	tests := []struct {
		name, caller string
		path         string
		body         map[string]any
		status       int
		field        string
	}{
		{"principal creates a teacher in another school", "principalA1", "/api/v1/users",
			map[string]any{"name": "王老师", "mobile": "13700000001", "role": "teacher", "org_id": w.schoolB1}, 422, "org_id"},
		{"principal creates a principal", "principalA1", "/api/v1/users",
			map[string]any{"name": "王校长", "mobile": "13700000002", "role": "principal", "org_id": w.schoolA1}, 422, "role"},
		{"district admin creates a user in another district", "adminA", "/api/v1/users",
			map[string]any{"name": "李老师", "mobile": "13700000003", "role": "teacher", "org_id": w.schoolB1}, 422, "org_id"},
		{"district admin creates a city admin", "adminA", "/api/v1/users",
			map[string]any{"name": "赵", "mobile": "13700000004", "role": "city_admin", "org_id": w.city}, 422, "role"},
		{"district admin creates a school in another district", "adminA", "/api/v1/orgs",
			map[string]any{"kind": "school", "name": "新学校", "parent_id": w.distB}, 422, "parent_id"},
		{"district admin creates a district", "adminA", "/api/v1/orgs",
			map[string]any{"kind": "district", "name": "新区", "parent_id": w.city}, 422, "parent_id"},
		{"teacher creates a user", "teacherA1", "/api/v1/users",
			map[string]any{"name": "x", "mobile": "13700000005", "role": "teacher", "org_id": w.schoolA1}, 403, ""},
		{"principal creates a school", "principalA1", "/api/v1/orgs",
			map[string]any{"kind": "school", "name": "x", "parent_id": w.distA}, 403, ""},
		{"principal creates a teacher in own school", "principalA1", "/api/v1/users",
			map[string]any{"name": "孙老师", "mobile": "13700000006", "role": "teacher", "org_id": w.schoolA1}, 201, ""},
		{"district admin creates a school", "adminA", "/api/v1/orgs",
			map[string]any{"kind": "school", "name": "成华区第三小学", "parent_id": w.distA, "code": "2151010003", "stages": []string{"小学"}, "students": 900, "staff": 60}, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.must(tt.status, req{method: "POST", path: tt.path, token: w.tokens[tt.caller], body: tt.body})
			if tt.field != "" {
				if p := r.problem(t); !p.hasField(tt.field) {
					t.Errorf("problem does not name %s: %+v", tt.field, p)
				}
			}
		})
	}
	// A principal's user list holds only their school.
	var list struct {
		Items []struct {
			OrgID string `json:"org_id"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users?limit=100", token: w.tokens["principalA1"]}).decode(t, &list)
	if len(list.Items) != 4 { // the principal, two teachers, the new teacher
		t.Errorf("principal sees %d users, want 4", len(list.Items))
	}
	for _, it := range list.Items {
		if it.OrgID != w.schoolA1 {
			t.Errorf("principal sees a user of %s", it.OrgID)
		}
	}
}

// TestPolicyCoversEveryRoute walks the router: every API route is in the
// policy table, and a teacher is refused on every admin route.
func TestPolicyCoversEveryRoute(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	for _, r := range s.app.router.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		key := r.Method + " " + r.Path
		role, ok := handlers.Policy(key)
		if !ok {
			t.Errorf("route %s is missing from the policy table", key)
			continue
		}
		if role.Rank() <= 1 {
			continue
		}
		path := strings.NewReplacer(":id", w.users["teacherA1b"], "\\:", ":").Replace(r.Path)
		resp := s.do(req{method: r.Method, path: path, token: w.tokens["teacherA1"], body: map[string]any{}})
		if resp.status != http.StatusForbidden {
			t.Errorf("teacher on %s: status %d, want 403", key, resp.status)
		}
	}
}
