package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/huizong/huizong/services"
)

// The contract for indicators: stores keep every field as given; an
// indicator is visible as a template is (services.TemplateView): a
// built-in (no owner) to everyone, one owned by a unit to the units on
// its path and to scopes covering the owner; lists are in key order,
// keyset on key > Page.After.
func testIndicators(t *testing.T, s Store) {
	ctx := t.Context()
	ind := func(key, owner string, path ...string) services.Indicator {
		return services.Indicator{Key: key, Name: "指标 " + key, NameEN: "Indicator " + key, Description: "说明",
			OwnerID: owner, OwnerPath: path, Numerator: []string{"petition.satisfied", "org.schools[stage=小学|初中]"},
			Denominator: []string{"petition.resolved"}, Factor: 100, Unit: "%", Decimals: 1, Builtin: owner == "",
			Version: 1, CreatedBy: "u1", CreatedAt: at(1), UpdatedAt: at(2)}
	}
	all := []services.Indicator{ind("a_builtin", ""), ind("b_d1", "d1", "c1", "d1"), ind("c_d2", "d2", "c1", "d2")}
	for _, x := range all {
		noErr(t, "CreateIndicator "+x.Key, s.CreateIndicator(ctx, x))
	}
	wantErr(t, "CreateIndicator(duplicate)", s.CreateIndicator(ctx, all[1]), services.ErrConflict)
	got, err := s.Indicator(ctx, services.TemplateView{Scope: services.ScopeAll()}, "b_d1")
	noErr(t, "Indicator", err)
	if d := diff(all[1], got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	checkUTC(t, "Indicator", got.CreatedAt, got.UpdatedAt)
	school := services.TemplateView{Scope: services.ScopeOrg("s1"), Path: []string{"c1", "d1", "s1"}}
	city := services.TemplateView{Scope: services.ScopeOrg("c1"), Path: []string{"c1"}}
	for _, c := range []struct {
		name string
		v    services.TemplateView
		want []string
	}{
		{"all", services.TemplateView{Scope: services.ScopeAll()}, []string{"a_builtin", "b_d1", "c_d2"}},
		{"school of d1", school, []string{"a_builtin", "b_d1"}},
		{"city", city, []string{"a_builtin", "b_d1", "c_d2"}},
		{"district d2", services.TemplateView{Scope: services.ScopeOrg("d2"), Path: []string{"c1", "d2"}}, []string{"a_builtin", "c_d2"}},
	} {
		list, err := s.Indicators(ctx, c.v, services.Page{})
		noErr(t, "Indicators", err)
		var keys []string
		for _, x := range list {
			keys = append(keys, x.Key)
		}
		if !slices.Equal(keys, c.want) {
			t.Errorf("%s: %v, want %v", c.name, keys, c.want)
		}
		for _, k := range c.want {
			_, err := s.Indicator(ctx, c.v, k)
			noErr(t, fmt.Sprintf("%s: Indicator %s", c.name, k), err)
		}
	}
	_, err = s.Indicator(ctx, school, "c_d2")
	wantErr(t, "Indicator outside the view", err, services.ErrNotFound)
	page, err := s.Indicators(ctx, services.TemplateView{Scope: services.ScopeAll()}, services.Page{After: "a_builtin", Limit: 1})
	noErr(t, "Indicators page", err)
	if len(page) != 1 || page[0].Key != "b_d1" {
		t.Errorf("page after a_builtin: %+v", page)
	}
}
