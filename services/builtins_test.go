package services_test

import (
	"context"
	"slices"
	"testing"

	"github.com/huizong/huizong/services"
)

// TestBuiltinsUpgrade: a restart installs nothing twice; a built-in
// nobody changed is brought up to this release's definition as a new
// version (an older deployment gains teacher_training's trainees); one an
// administrator changed is left alone.
func TestBuiltinsUpgrade(t *testing.T) {
	ctx := context.Background()
	st, clk := openStore(t), newClock()
	tmpls := services.NewTemplates(st, st, nil, clk.Now)
	if n, err := tmpls.EnsureBuiltins(ctx); err != nil || n != len(services.BuiltinTemplates()) {
		t.Fatalf("first start: %d, %v", n, err)
	}
	if n, err := tmpls.EnsureBuiltins(ctx); err != nil || n != 0 {
		t.Fatalf("restart installed or upgraded %d (%v), want none", n, err)
	}
	all := services.TemplateView{Scope: services.ScopeAll()}

	// An older release's teacher_training, without trainees, and an
	// honor_award an admin changed.
	st2 := openStore(t)
	old := builtin(t, "teacher_training")
	old.Fields = slices.DeleteFunc(old.Fields, func(f services.TemplateField) bool { return f.Key == "trainees" })
	old.Levels = []services.OrgKind{services.OrgSchool, services.OrgDistrict}
	changed := builtin(t, "honor_award")
	changed.Name, changed.UpdatedBy = "表彰奖励（区）", "admin1"
	for _, x := range []services.Template{old, changed} {
		if err := st2.CreateTemplate(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	tmpls2 := services.NewTemplates(st2, st2, nil, clk.Now)
	if _, err := tmpls2.EnsureBuiltins(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st2.Template(ctx, all, "teacher_training")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Field("trainees"); got.Version != 2 || !ok || !slices.Contains(got.Levels, services.OrgCity) {
		t.Errorf("teacher_training after the upgrade: version %d, fields %v, levels %v", got.Version, got.Fields, got.Levels)
	}
	if v1, err := st2.TemplateVersion(ctx, "teacher_training", 1); err != nil || len(v1.Fields) != len(old.Fields) {
		t.Errorf("version 1 is gone or changed: %v", err)
	}
	if got, _ := st2.Template(ctx, all, "honor_award"); got.Version != 1 || got.Name != "表彰奖励（区）" {
		t.Errorf("an admin's change was overwritten: %+v", got)
	}
	if n, err := tmpls2.EnsureBuiltins(ctx); err != nil || n != 0 {
		t.Errorf("a second upgrade run did %d (%v), want nothing", n, err)
	}
}

func builtin(t *testing.T, key string) services.Template {
	t.Helper()
	for _, x := range services.BuiltinTemplates() {
		if x.Key == key {
			return x
		}
	}
	t.Fatalf("no built-in %s", key)
	return services.Template{}
}
