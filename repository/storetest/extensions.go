package storetest

import (
	"testing"

	"github.com/huizong/huizong/services"
)

// The contract for template extensions: SaveExtension stores version 1
// of a (template, owner) once (a second version 1 is ErrConflict or
// ErrStale), then each next version only on top of the current one
// (ErrStale otherwise); Extensions answers the current version of each
// owner asked for; every version stays readable by ExtensionVersion.
// Stores keep every field as given. Records keep the extension refs they
// pin.
func testExtensions(t *testing.T, s Store) {
	ctx := t.Context()
	ext := func(owner string, version int64, path []string, options ...string) services.TemplateExtension {
		e := services.TemplateExtension{Template: "honor_award", OwnerID: owner, OwnerPath: path, Version: version,
			UpdatedBy: "u1", UpdatedAt: at(int(version))}
		for _, o := range options {
			if e.Options == nil {
				e.Options = map[string][]services.Option{}
			}
			e.Options["category"] = append(e.Options["category"], services.Option{Value: o, Label: o, LabelEN: "EN " + o})
		}
		if version > 1 {
			e.Fields = []services.TemplateField{{Key: "sponsor", Label: "资助单位", Type: services.FieldText, MaxLength: 50}}
			e.Summary.ZH = "{scope}表彰{category:count}。"
		}
		return e
	}
	v1 := ext("d1", 1, []string{"c1", "d1"}, "诚信好少年")
	noErr(t, "SaveExtension v1", s.SaveExtension(ctx, v1))
	if err := s.SaveExtension(ctx, v1); err == nil {
		t.Fatal("a second version 1 was stored")
	}
	v2 := ext("d1", 2, []string{"c1", "d1"}, "诚信好少年", "最美教师")
	noErr(t, "SaveExtension v2", s.SaveExtension(ctx, v2))
	wantErr(t, "SaveExtension stale", s.SaveExtension(ctx, ext("d1", 2, []string{"c1", "d1"})), services.ErrStale)
	city := ext("c1", 1, []string{"c1"}, "市级先进")
	noErr(t, "SaveExtension city", s.SaveExtension(ctx, city))

	list, err := s.Extensions(ctx, "honor_award", []string{"c1", "d1", "s1"})
	noErr(t, "Extensions", err)
	got := map[string]services.TemplateExtension{}
	for _, e := range list {
		got[e.OwnerID] = e
	}
	if d := diff(map[string]services.TemplateExtension{"d1": v2, "c1": city}, got); d != "" {
		t.Errorf("current extensions (-want +got):\n%s", d)
	}
	if list, _ := s.Extensions(ctx, "honor_award", []string{"d2"}); len(list) != 0 {
		t.Errorf("extensions of another owner: %+v", list)
	}
	if list, _ := s.Extensions(ctx, "safety_drill", []string{"d1"}); len(list) != 0 {
		t.Errorf("extensions of another template: %+v", list)
	}
	old, err := s.ExtensionVersion(ctx, "honor_award", "d1", 1)
	noErr(t, "ExtensionVersion 1", err)
	if d := diff(v1, old); d != "" {
		t.Errorf("version 1 (-want +got):\n%s", d)
	}
	_, err = s.ExtensionVersion(ctx, "honor_award", "d1", 3)
	wantErr(t, "ExtensionVersion unknown", err, services.ErrNotFound)

	// Records keep what they pin.
	seedTree(t, s)
	noErr(t, "CreateTemplate", s.CreateTemplate(ctx, template("honor_award", "awards")))
	r := record("rx", "u1", "honor_award", 1, "c1", "d1", "s1")
	r.Extensions = []services.ExtensionRef{{Owner: "c1", Version: 1}, {Owner: "d1", Version: 2}}
	noErr(t, "CreateRecord", s.CreateRecord(ctx, r, created(r)))
	back, err := s.Record(ctx, services.ScopeAll(), "rx")
	noErr(t, "Record", err)
	if d := diff(r.Extensions, back.Extensions); d != "" {
		t.Errorf("pinned extensions (-want +got):\n%s", d)
	}
	next := back
	next.Extensions = []services.ExtensionRef{{Owner: "d1", Version: 2}}
	_, err = s.UpdateRecord(ctx, services.ScopeAll(), next, services.RecordEvent{ID: "ev-rx-2", Version: 2, At: at(3)})
	noErr(t, "UpdateRecord", err)
	back, _ = s.Record(ctx, services.ScopeAll(), "rx")
	if d := diff(next.Extensions, back.Extensions); d != "" {
		t.Errorf("pinned extensions after an update (-want +got):\n%s", d)
	}
}
