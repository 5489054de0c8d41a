package sqlite

import (
	"testing"

	"github.com/huizong/huizong/services"
)

func TestAddSumsText(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"", "", ""},
		{"count:10000", "", "count:10000"},
		{"", "count:10000", "count:10000"},
		{"count:10000,students:5", "students:7,staff:2", "count:10000,staff:2,students:12"},
		{"count:10000", "count:-10000", ""},
		{"a:1,a:2", "b:-1", "a:3,b:-1"},
	}
	for _, tt := range tests {
		got, err := addSumsText(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("addSumsText(%q, %q) = %q, %v; want %q", tt.a, tt.b, got, err, tt.want)
		}
	}
	if _, err := addSumsText("count:x", "count:1"); err == nil {
		t.Error("malformed sums accepted")
	}
}

// TestDistrictSumsDrift: the districts' monthly sums are checked against
// the cells by a district's verify, and rebuilt by its rebuild.
func TestDistrictSumsDrift(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createTree(t, s, "s")
	tmpl := services.Template{Key: "drill", Version: 1, Fields: []services.TemplateField{
		{Key: "count", Type: services.FieldInteger, Role: services.RoleMeasure}}}
	r := services.Record{ID: "r", ClientID: "c", Template: "drill", TemplateVersion: 1, OrgID: "s", OrgPath: []string{"c", "d", "s"},
		AuthorID: "u", OccurredOn: "2025-03-01", Data: []byte(`{"count":2}`), Status: services.StatusApproved, Version: 1}
	r.Rollup = services.RollupOf(r, tmpl)
	if err := s.CreateRecord(ctx, r, services.RecordEvent{ID: "e", Version: 1}); err != nil {
		t.Fatal(err)
	}
	rollup := func(r services.Record) (services.Rollup, error) { return services.RollupOf(r, tmpl), nil }
	check := func(want int) {
		t.Helper()
		drift, err := s.ReconcileTotals(ctx, "d", rollup, false)
		if err != nil || len(drift) != want {
			t.Fatalf("verify d: %d drifted (%v), want %d: %+v", len(drift), err, want, drift)
		}
	}
	check(0)
	if _, err := s.w.ExecContext(ctx, `UPDATE totals_district SET n = n + 1, schools = 0`); err != nil {
		t.Fatal(err)
	}
	check(1)
	if _, err := s.ReconcileTotals(ctx, "d", rollup, true); err != nil {
		t.Fatal(err)
	}
	check(0)
}

// createTree creates city c, its district d and the district's schools.
func createTree(t testing.TB, s *Store, schools ...string) {
	t.Helper()
	orgs := []services.Org{{ID: "c", Kind: services.OrgCity, Name: "c", Path: []string{"c"}, Version: 1},
		{ID: "d", Kind: services.OrgDistrict, Name: "d", ParentID: "c", Path: []string{"c", "d"}, Version: 1}}
	for _, id := range schools {
		orgs = append(orgs, services.Org{ID: id, Kind: services.OrgSchool, Name: id, ParentID: "d", Path: []string{"c", "d", id}, Version: 1})
	}
	for _, o := range orgs {
		if err := s.CreateOrg(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}
