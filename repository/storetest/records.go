package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/huizong/huizong/services"
)

// The contract for templates, records and attachments, beyond the
// interface comments (see also Run):
//   - Templates: Key is unique. A template is visible to a TemplateView v
//     when it is built in (OwnerID ""), when OwnerID is on v.Path, or when
//     v.Scope covers OwnerPath. Lists are in key order, keyset on
//     Page.After (a key), with Page.Normalize; Category and Active filter
//     exactly. UpdateTemplate replaces Name, NameEN, Category, Levels,
//     Active, Fields, UpdatedBy and UpdatedAt and keeps Key, OwnerID,
//     OwnerPath, Builtin, CreatedBy and CreatedAt; every version stays
//     readable through TemplateVersion. Fields round-trip exactly.
//   - Records: a Scope covers a record when OrgPath contains Scope.OrgID,
//     and Scope.AuthorID, when set, also requires AuthorID to match (the
//     same for attachments and OwnerID). Record.Data comes back as equal
//     JSON (compared decoded, numbers as float64), and Change.Before and
//     After as the same JSON values. Lists without Sync are newest first
//     (ID descending, keyset ID < After.ID) without withdrawn records;
//     with Sync they hold records with UpdatedAt > UpdatedSince, withdrawn
//     ones included, ordered by (UpdatedAt, ID) and keyset on that pair.
//     Template, Status and AuthorID filter exactly, OrgID by subtree,
//     From and To bound OccurredOn inclusively. UpdateRecord replaces every
//     field but ID, ClientID, AuthorID, AuthorRole and CreatedAt.
//   - Attachments: a failed create leaves nothing of the new upload.

// recOpts compare records and events: opts, plus JSON compared by value.
var recOpts = cmp.Options{
	opts,
	cmp.FilterValues(func(a, b json.RawMessage) bool { return len(a) > 0 || len(b) > 0 },
		cmp.Transformer("json", func(m json.RawMessage) any {
			var v any
			if err := json.Unmarshal(m, &v); err != nil {
				return fmt.Sprintf("invalid JSON %q: %v", m, err)
			}
			return v
		})),
	cmp.Transformer("change", func(c services.Change) jsonChange {
		return jsonChange{Field: c.Field, Before: jsonValue(c.Before), After: jsonValue(c.After)}
	}),
}

// jsonChange is a Change with its values as they read back from JSON.
type jsonChange struct {
	Field         string
	Before, After any
}

// jsonValue is v as JSON would give it back: numbers float64, lists []any.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable %v: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Sprintf("undecodable %s: %v", b, err)
	}
	return out
}

func recDiff(want, got any) string { return cmp.Diff(want, got, recOpts) }

func ptr(f float64) *float64 { return &f }

// template returns a template owned by the last unit of path ("" and no
// path for a built-in one), version 1.
func template(key, category string, path ...string) services.Template {
	owner := ""
	if len(path) > 0 {
		owner = path[len(path)-1]
	}
	return services.Template{
		Key: key, OwnerID: owner, OwnerPath: path, Name: "模板 " + key, NameEN: "Template " + key,
		Category: category, Levels: []services.OrgKind{services.OrgSchool}, Active: true, Builtin: owner == "",
		Fields: []services.TemplateField{
			{Key: "count", Label: "人数", LabelEN: "Count", Type: services.FieldInteger, Required: true,
				Unit: "人", Min: ptr(0), Max: ptr(5000), Role: services.RoleMeasure, Default: ptr(1),
				Check: services.CheckStudents, Per: "drills", Aggregation: services.AggregateSum},
			{Key: "kind", Label: "类型", Type: services.FieldEnum, Role: services.RoleDimension,
				Options: []services.Option{{Value: "fire", Label: "消防", LabelEN: "Fire"},
					{Value: "quake", Label: "地震", LabelEN: "Earthquake"}, {Value: "flood", Label: "防汛"}}},
			{Key: "note", Label: "备注", Type: services.FieldText, MaxLength: 500},
		},
		Summary: services.TemplateSummary{ZH: "{scope}共开展{kind}" + key + "{count}。"},
		Version: 1, CreatedBy: "admin", UpdatedBy: "admin", CreatedAt: at(0), UpdatedAt: at(0),
	}
}

func templateKeys(list []services.Template) []string {
	keys := make([]string, len(list))
	for i, t := range list {
		keys[i] = t.Key
	}
	return keys
}

// seedTemplates stores a built-in template and one owned by each of c1,
// d1, s1 and d3.
func seedTemplates(t *testing.T, s Store) []services.Template {
	t.Helper()
	list := []services.Template{
		template("builtin", "safety"),
		template("city", "safety", "c1"),
		template("district", "moral", "c1", "d1"),
		template("school", "safety", "c1", "d1", "s1"),
		template("other", "safety", "c2", "d3"),
	}
	for _, tp := range list {
		noErr(t, "CreateTemplate "+tp.Key, s.CreateTemplate(t.Context(), tp))
	}
	return list
}

func testTemplateRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	want := template("drill", "safety", "c1", "d1")
	want.Fields[0].Min = ptr(-2.5) // a negative bound and a zero one both survive
	want.Fields[0].Max = ptr(0)
	want.Fields = append(want.Fields, services.TemplateField{Key: "photos", Label: "照片",
		Type: services.FieldAttachments, Max: ptr(9)})
	want.Levels = []services.OrgKind{services.OrgSchool, services.OrgDistrict}
	want.UpdatedAt = at(5)
	noErr(t, "CreateTemplate", s.CreateTemplate(ctx, want))

	got, err := s.Template(ctx, services.TemplateView{Scope: services.ScopeAll()}, "drill")
	noErr(t, "Template", err)
	if d := diff(want, got); d != "" {
		t.Errorf("Template (-want +got):\n%s", d)
	}
	checkUTC(t, "Template", got.CreatedAt, got.UpdatedAt)
	// Pointers that were nil stay nil; set ones keep their value.
	if got.Fields[1].Min != nil || got.Fields[0].Max == nil || *got.Fields[0].Max != 0 {
		t.Errorf("field bounds: %+v", got.Fields)
	}
	v1, err := s.TemplateVersion(ctx, "drill", 1)
	noErr(t, "TemplateVersion", err)
	if d := diff(want, v1); d != "" {
		t.Errorf("TemplateVersion(1) (-want +got):\n%s", d)
	}
	_, err = s.TemplateVersion(ctx, "drill", 2)
	wantErr(t, "TemplateVersion(2)", err, services.ErrNotFound)
	_, err = s.TemplateVersion(ctx, "nope", 1)
	wantErr(t, "TemplateVersion(unknown)", err, services.ErrNotFound)
	_, err = s.Template(ctx, services.TemplateView{Scope: services.ScopeAll()}, "nope")
	wantErr(t, "Template(unknown)", err, services.ErrNotFound)

	// Listed templates carry every field.
	list, err := s.Templates(ctx, services.TemplateView{Scope: services.ScopeAll()}, services.TemplateQuery{})
	noErr(t, "Templates", err)
	if d := diff([]services.Template{want}, list); d != "" {
		t.Errorf("Templates (-want +got):\n%s", d)
	}
}

func testTemplateConflict(t *testing.T, s Store) {
	ctx := t.Context()
	first := template("drill", "safety")
	noErr(t, "CreateTemplate", s.CreateTemplate(ctx, first))
	second := template("drill", "moral", "c1")
	second.Name = "另一个"
	wantErr(t, "CreateTemplate(duplicate key)", s.CreateTemplate(ctx, second), services.ErrConflict)
	got, err := s.Template(ctx, services.TemplateView{Scope: services.ScopeAll()}, "drill")
	noErr(t, "Template", err)
	if d := diff(first, got); d != "" {
		t.Errorf("Template after duplicate create (-want +got):\n%s", d)
	}
	v1, err := s.TemplateVersion(ctx, "drill", 1)
	noErr(t, "TemplateVersion", err)
	if d := diff(first, v1); d != "" {
		t.Errorf("TemplateVersion after duplicate create (-want +got):\n%s", d)
	}
}

func testTemplateVisibility(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	seedTemplates(t, s)
	all := []string{"builtin", "city", "district", "other", "school"}
	tests := []struct {
		name string
		view services.TemplateView
		want []string
	}{
		{"all", services.TemplateView{Scope: services.ScopeAll()}, all},
		{"zero", services.TemplateView{}, []string{"builtin"}},
		{"teacher s1", services.TemplateView{Scope: services.ScopeOrg("s1"), Path: []string{"c1", "d1", "s1"}},
			[]string{"builtin", "city", "district", "school"}},
		{"teacher s2", services.TemplateView{Scope: services.ScopeOrg("s2"), Path: []string{"c1", "d1", "s2"}},
			[]string{"builtin", "city", "district"}},
		{"district d1", services.TemplateView{Scope: services.ScopeOrg("d1"), Path: []string{"c1", "d1"}},
			[]string{"builtin", "city", "district", "school"}},
		{"district d2", services.TemplateView{Scope: services.ScopeOrg("d2"), Path: []string{"c1", "d2"}},
			[]string{"builtin", "city"}},
		{"city c1", services.TemplateView{Scope: services.ScopeOrg("c1"), Path: []string{"c1"}},
			[]string{"builtin", "city", "district", "school"}},
		{"city c2", services.TemplateView{Scope: services.ScopeOrg("c2"), Path: []string{"c2"}},
			[]string{"builtin", "other"}},
		{"scope without path", services.TemplateView{Scope: services.ScopeOrg("d1")},
			[]string{"builtin", "district", "school"}},
		{"path without scope", services.TemplateView{Path: []string{"c2", "d3"}}, []string{"builtin", "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.Templates(ctx, tt.view, services.TemplateQuery{})
			noErr(t, "Templates", err)
			if d := cmp.Diff(tt.want, templateKeys(list), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Templates keys (-want +got):\n%s", d)
			}
			for _, key := range all {
				got, err := s.Template(ctx, tt.view, key)
				if slices.Contains(tt.want, key) {
					noErr(t, "Template "+key, err)
					if got.Key != key {
						t.Errorf("Template(%s).Key = %q", key, got.Key)
					}
				} else {
					wantErr(t, "Template "+key, err, services.ErrNotFound)
				}
			}
		})
	}
}

func testTemplateList(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	seedTemplates(t, s)
	off := template("retired", "moral")
	off.Active = false
	noErr(t, "CreateTemplate", s.CreateTemplate(ctx, off))
	yes, no := true, false
	all := services.TemplateView{Scope: services.ScopeAll()}
	d1 := services.TemplateView{Scope: services.ScopeOrg("d1"), Path: []string{"c1", "d1"}}
	tests := []struct {
		name string
		view services.TemplateView
		q    services.TemplateQuery
		want []string
	}{
		{"category", all, services.TemplateQuery{Category: "moral"}, []string{"district", "retired"}},
		{"category scoped", d1, services.TemplateQuery{Category: "safety"}, []string{"builtin", "city", "school"}},
		{"active", all, services.TemplateQuery{Active: &yes}, []string{"builtin", "city", "district", "other", "school"}},
		{"inactive", all, services.TemplateQuery{Active: &no}, []string{"retired"}},
		{"category and active", all, services.TemplateQuery{Category: "moral", Active: &yes}, []string{"district"}},
		{"after", all, services.TemplateQuery{Page: services.Page{After: "district"}}, []string{"other", "retired", "school"}},
		{"after scoped", d1, services.TemplateQuery{Page: services.Page{After: "city"}}, []string{"district", "retired", "school"}},
		{"limit", all, services.TemplateQuery{Page: services.Page{Limit: 2}}, []string{"builtin", "city"}},
		{"no match", all, services.TemplateQuery{Category: "' OR 1=1 --"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Templates(ctx, tt.view, tt.q)
			noErr(t, "Templates", err)
			if d := cmp.Diff(tt.want, templateKeys(got), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Templates keys (-want +got):\n%s", d)
			}
		})
	}
}

func testTemplatePaginate(t *testing.T, s Store) {
	ctx := t.Context()
	var want []string
	for i := range 25 {
		tp := template(fmt.Sprintf("t%02d", i), "safety")
		noErr(t, "CreateTemplate", s.CreateTemplate(ctx, tp))
		want = append(want, tp.Key)
	}
	all := services.TemplateView{Scope: services.ScopeAll()}
	first, err := s.Templates(ctx, all, services.TemplateQuery{})
	noErr(t, "Templates", err)
	if d := cmp.Diff(want[:services.DefaultLimit], templateKeys(first)); d != "" {
		t.Errorf("Templates with limit 0 (-want +got):\n%s", d)
	}
	var got []string
	after := ""
	for range 20 {
		page, err := s.Templates(ctx, all, services.TemplateQuery{Page: services.Page{After: after, Limit: 7}})
		noErr(t, "Templates page", err)
		if len(page) > 7 {
			t.Fatalf("page of %d, want at most 7", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, templateKeys(page)...)
		after = page[len(page)-1].Key
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("paginated templates (-want +got):\n%s", d)
	}
}

func testTemplateUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	list := seedTemplates(t, s)
	orig := list[2] // "district", owned by d1
	upd := orig
	upd.Name, upd.NameEN, upd.Category, upd.Active = "新模板", "New", "health", false
	upd.Levels = []services.OrgKind{services.OrgDistrict}
	upd.Fields = []services.TemplateField{{Key: "hours", Label: "课时", Type: services.FieldNumber,
		Min: ptr(0.5), Role: services.RoleMeasure}}
	upd.Summary.ZH = "{scope}培训{hours}。"
	upd.UpdatedBy, upd.UpdatedAt = "editor", at(10)
	// The store keeps the identity and provenance whatever the caller sends.
	sent := upd
	sent.OwnerID, sent.OwnerPath, sent.Builtin = "d2", []string{"c1", "d2"}, true
	sent.CreatedBy, sent.CreatedAt = "someone", at(99)
	view := services.TemplateView{Scope: services.ScopeOrg("d1"), Path: []string{"c1", "d1"}}
	got, err := s.UpdateTemplate(ctx, view, sent)
	noErr(t, "UpdateTemplate", err)
	want := upd
	want.Version = 2
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateTemplate returned (-want +got):\n%s", d)
	}
	stored, err := s.Template(ctx, view, "district")
	noErr(t, "Template", err)
	if d := diff(want, stored); d != "" {
		t.Errorf("Template after update (-want +got):\n%s", d)
	}
	for v, w := range map[int64]services.Template{1: orig, 2: want} {
		got, err := s.TemplateVersion(ctx, "district", v)
		noErr(t, "TemplateVersion", err)
		if d := diff(w, got); d != "" {
			t.Errorf("TemplateVersion(%d) (-want +got):\n%s", v, d)
		}
	}
	// Lists show the current version.
	health, err := s.Templates(ctx, view, services.TemplateQuery{Category: "health"})
	noErr(t, "Templates", err)
	if d := diff([]services.Template{want}, health); d != "" {
		t.Errorf("Templates(health) (-want +got):\n%s", d)
	}
	moral, err := s.Templates(ctx, view, services.TemplateQuery{Category: "moral"})
	noErr(t, "Templates", err)
	if len(moral) != 0 {
		t.Errorf("Templates(moral) = %v, want none", templateKeys(moral))
	}

	_, err = s.UpdateTemplate(ctx, view, upd)
	wantErr(t, "UpdateTemplate(stale)", err, services.ErrStale)
	// Invisible is not found, whatever the version.
	for _, v := range []int64{1, 2} {
		o := want
		o.Version = v
		_, err := s.UpdateTemplate(ctx, services.TemplateView{Scope: services.ScopeOrg("d2"), Path: []string{"c1", "d2"}}, o)
		wantErr(t, fmt.Sprintf("UpdateTemplate(invisible, v%d)", v), err, services.ErrNotFound)
		_, err = s.UpdateTemplate(ctx, services.TemplateView{}, o)
		wantErr(t, "UpdateTemplate(zero view)", err, services.ErrNotFound)
	}
	unknown := want
	unknown.Key = "nope"
	_, err = s.UpdateTemplate(ctx, services.TemplateView{Scope: services.ScopeAll()}, unknown)
	wantErr(t, "UpdateTemplate(unknown)", err, services.ErrNotFound)
	_, err = s.TemplateVersion(ctx, "district", 3)
	wantErr(t, "TemplateVersion(3)", err, services.ErrNotFound)

	// A built-in template is updated by whoever may (the service decides).
	b := list[0]
	b.Name, b.UpdatedAt = "改名", at(20)
	gotB, err := s.UpdateTemplate(ctx, services.TemplateView{Scope: services.ScopeAll()}, b)
	noErr(t, "UpdateTemplate(builtin)", err)
	if gotB.Version != 2 || gotB.Name != "改名" || !gotB.Builtin || gotB.OwnerID != "" {
		t.Errorf("builtin after update: %+v", gotB)
	}
	// And the next update goes on from the new version.
	want.Name = "第三版"
	got3, err := s.UpdateTemplate(ctx, view, want)
	noErr(t, "UpdateTemplate(third)", err)
	if got3.Version != 3 || got3.Name != "第三版" {
		t.Errorf("third version: %d %q", got3.Version, got3.Name)
	}
}

func testTemplateConcurrentUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	tp := template("drill", "safety")
	noErr(t, "CreateTemplate", s.CreateTemplate(ctx, tp))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, stale := 0, 0
	for i := range 8 {
		wg.Go(func() {
			u := tp
			u.Name = fmt.Sprint("writer ", i)
			_, err := s.UpdateTemplate(ctx, services.TemplateView{Scope: services.ScopeAll()}, u)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, services.ErrStale):
				stale++
			default:
				t.Errorf("UpdateTemplate: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || stale != 7 {
		t.Errorf("%d updates won and %d were stale, want 1 and 7", wins, stale)
	}
	_, err := s.TemplateVersion(ctx, "drill", 3)
	wantErr(t, "TemplateVersion(3)", err, services.ErrNotFound)
}

// record returns a submitted record by author for the last unit of path,
// created at minute m, version 1.
func record(id, author, tmpl string, m int, path ...string) services.Record {
	return services.Record{
		ID: id, ClientID: "client-" + id, Template: tmpl, TemplateVersion: 1,
		OrgID: path[len(path)-1], OrgPath: path, AuthorID: author, AuthorRole: services.RoleTeacher,
		OccurredOn: "2025-03-01", Title: "活动 " + id,
		Data:   json.RawMessage(`{"count":3,"kind":"fire"}`),
		Status: services.StatusSubmitted, Hash: "hash-" + id, Version: 1, CreatedAt: at(m), UpdatedAt: at(m),
	}
}

// created is the first history event of r.
func created(r services.Record) services.RecordEvent {
	return services.RecordEvent{ID: "ev-" + r.ID + "-1", RecordID: r.ID, Version: 1, At: r.CreatedAt,
		ActorID: r.AuthorID, ActorRole: r.AuthorRole, Action: "create"}
}

func recordIDs(list []services.Record) []string {
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.ID
	}
	return ids
}

func createRecords(t *testing.T, s Store, list ...services.Record) {
	t.Helper()
	for _, r := range list {
		noErr(t, "CreateRecord "+r.ID, s.CreateRecord(t.Context(), r, created(r)))
	}
}

// seedRecords stores one record per school: r1 in s1 by u1, r2 in s2 by
// u2, r3 in s3 by u3, r4 in s4 by u4.
func seedRecords(t *testing.T, s Store) []services.Record {
	t.Helper()
	list := []services.Record{
		record("r1", "u1", "drill", 1, "c1", "d1", "s1"),
		record("r2", "u2", "drill", 2, "c1", "d1", "s2"),
		record("r3", "u3", "drill", 3, "c1", "d2", "s3"),
		record("r4", "u4", "drill", 4, "c2", "d3", "s4"),
	}
	createRecords(t, s, list...)
	return list
}

func testRecordRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	want := record("r1", "u1", "drill", 0, "c1", "d1", "s1")
	want.TemplateVersion = 3
	want.OccurredOn, want.EndOn = "2025-02-27", "2025-03-01"
	want.Description = "全校 \"疏散\" 演练\n第二行"
	want.Data = json.RawMessage(`{"count": 1200, "hours": 1.5, "kind": "quake", "tags": ["a", "b"],
		"done": true, "note": null, "nested": {"x": -3}, "text": "中文 <&>"}`)
	want.Attachments = []string{"a2", "a1"}
	want.Warnings = []services.Warning{{Field: "count", Code: "above_students", Limit: 1000},
		{Field: "hours", Code: "odd"}}
	want.Review = services.Review{By: "p1", Role: services.RolePrincipal, At: at(3), Action: "return", Comment: "补充照片"}
	want.UpdatedAt = at(3)
	ev := created(want)
	ev.Comment = "首次提交"
	noErr(t, "CreateRecord", s.CreateRecord(ctx, want, ev))

	all := services.ScopeAll()
	got, err := s.Record(ctx, all, "r1")
	noErr(t, "Record", err)
	if d := recDiff(want, got); d != "" {
		t.Errorf("Record (-want +got):\n%s", d)
	}
	checkUTC(t, "Record", got.CreatedAt, got.UpdatedAt, got.DeletedAt, got.Review.At)
	if !got.DeletedAt.IsZero() {
		t.Errorf("DeletedAt = %v, want zero", got.DeletedAt)
	}
	byClient, err := s.RecordByClientID(ctx, all, "u1", "client-r1")
	noErr(t, "RecordByClientID", err)
	if d := recDiff(want, byClient); d != "" {
		t.Errorf("RecordByClientID (-want +got):\n%s", d)
	}
	_, err = s.RecordByClientID(ctx, all, "u2", "client-r1")
	wantErr(t, "RecordByClientID(other author)", err, services.ErrNotFound)
	_, err = s.Record(ctx, all, "nope")
	wantErr(t, "Record(unknown)", err, services.ErrNotFound)

	list, err := s.Records(ctx, all, services.RecordQuery{})
	noErr(t, "Records", err)
	if d := recDiff([]services.Record{want}, list); d != "" {
		t.Errorf("Records (-want +got):\n%s", d)
	}
	hist, err := s.RecordHistory(ctx, all, "r1", 0, 0)
	noErr(t, "RecordHistory", err)
	if d := recDiff([]services.RecordEvent{ev}, hist); d != "" {
		t.Errorf("RecordHistory (-want +got):\n%s", d)
	}
	if len(hist) == 1 {
		checkUTC(t, "RecordEvent", hist[0].At)
	}

	// A minimal record (no lists, no review) comes back as minimal.
	bare := record("r2", "u1", "drill", 1, "c1", "d1", "s1")
	bare.Data = json.RawMessage(`{}`)
	noErr(t, "CreateRecord(bare)", s.CreateRecord(ctx, bare, created(bare)))
	gotBare, err := s.Record(ctx, all, "r2")
	noErr(t, "Record(bare)", err)
	if d := recDiff(bare, gotBare); d != "" {
		t.Errorf("Record(bare) (-want +got):\n%s", d)
	}
	checkUTC(t, "Record(bare)", gotBare.Review.At)
}

func testRecordConflicts(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	all := services.ScopeAll()
	first := record("r1", "u1", "drill", 0, "c1", "d1", "s1")
	createRecords(t, s, first)

	sameID := record("r1", "u2", "other", 1, "c1", "d2", "s3")
	wantErr(t, "CreateRecord(duplicate id)", s.CreateRecord(ctx, sameID, created(sameID)), services.ErrConflict)
	sameClient := record("r2", "u1", "other", 1, "c1", "d1", "s1")
	sameClient.ClientID = first.ClientID
	wantErr(t, "CreateRecord(duplicate client id)", s.CreateRecord(ctx, sameClient, created(sameClient)), services.ErrConflict)

	// Nothing of the refused records remains.
	got, err := s.Record(ctx, all, "r1")
	noErr(t, "Record", err)
	if d := recDiff(first, got); d != "" {
		t.Errorf("r1 after duplicate creates (-want +got):\n%s", d)
	}
	_, err = s.Record(ctx, all, "r2")
	wantErr(t, "Record(r2)", err, services.ErrNotFound)
	_, err = s.RecordHistory(ctx, all, "r2", 0, 0)
	wantErr(t, "RecordHistory(r2)", err, services.ErrNotFound)
	hist, err := s.RecordHistory(ctx, all, "r1", 0, 0)
	noErr(t, "RecordHistory", err)
	if d := recDiff([]services.RecordEvent{created(first)}, hist); d != "" {
		t.Errorf("r1 history after duplicate creates (-want +got):\n%s", d)
	}
	list, err := s.Records(ctx, all, services.RecordQuery{Sync: true})
	noErr(t, "Records", err)
	if d := cmp.Diff([]string{"r1"}, recordIDs(list)); d != "" {
		t.Errorf("Records after duplicate creates (-want +got):\n%s", d)
	}

	// Another author may use the same client id; so may the same author
	// with a new one, and the refused id is free.
	other := record("r3", "u2", "drill", 2, "c1", "d1", "s2")
	other.ClientID = first.ClientID
	noErr(t, "CreateRecord(other author)", s.CreateRecord(ctx, other, created(other)))
	noErr(t, "CreateRecord(r2 again)", s.CreateRecord(ctx, record("r2", "u1", "drill", 3, "c1", "d1", "s1"),
		created(record("r2", "u1", "drill", 3, "c1", "d1", "s1"))))
	gotOther, err := s.RecordByClientID(ctx, all, "u2", first.ClientID)
	noErr(t, "RecordByClientID(u2)", err)
	if gotOther.ID != "r3" {
		t.Errorf("RecordByClientID(u2) = %s, want r3", gotOther.ID)
	}
}

func testRecordScope(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	seedRecords(t, s)
	ids := []string{"r1", "r2", "r3", "r4"}
	tests := []struct {
		name    string
		scope   services.Scope
		visible []string // in id order
	}{
		{"all", services.ScopeAll(), ids},
		{"zero", services.Scope{}, nil},
		{"author only", services.Scope{AuthorID: "u1"}, nil},
		{"city", services.ScopeOrg("c1"), []string{"r1", "r2", "r3"}},
		{"district", services.ScopeOrg("d1"), []string{"r1", "r2"}},
		{"school", services.ScopeOrg("s3"), []string{"r3"}},
		{"unknown", services.ScopeOrg("zz"), nil},
		{"author in scope", services.Scope{OrgID: "d1", AuthorID: "u2"}, []string{"r2"}},
		{"author outside scope", services.Scope{OrgID: "d1", AuthorID: "u3"}, nil},
		{"all of one author", services.Scope{All: true, AuthorID: "u4"}, []string{"r4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Clone(tt.visible)
			slices.Reverse(want)
			list, err := s.Records(ctx, tt.scope, services.RecordQuery{})
			noErr(t, "Records", err)
			if d := cmp.Diff(want, recordIDs(list), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Records ids (-want +got):\n%s", d)
			}
			synced, err := s.Records(ctx, tt.scope, services.RecordQuery{Sync: true})
			noErr(t, "Records(sync)", err)
			if d := cmp.Diff(tt.visible, recordIDs(synced), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Records(sync) ids (-want +got):\n%s", d)
			}
			for i, id := range ids {
				author := fmt.Sprint("u", i+1)
				r, err := s.Record(ctx, tt.scope, id)
				rc, cerr := s.RecordByClientID(ctx, tt.scope, author, "client-"+id)
				h, herr := s.RecordHistory(ctx, tt.scope, id, 0, 0)
				if slices.Contains(tt.visible, id) {
					noErr(t, "Record "+id, err)
					noErr(t, "RecordByClientID "+id, cerr)
					noErr(t, "RecordHistory "+id, herr)
					if r.ID != id || rc.ID != id || len(h) != 1 {
						t.Errorf("%s: Record %q, RecordByClientID %q, %d events", id, r.ID, rc.ID, len(h))
					}
				} else {
					wantErr(t, "Record "+id, err, services.ErrNotFound)
					wantErr(t, "RecordByClientID "+id, cerr, services.ErrNotFound)
					wantErr(t, "RecordHistory "+id, herr, services.ErrNotFound)
				}
			}
		})
	}
}

func testRecordList(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	mk := func(id, author, tmpl string, status services.RecordStatus, on string, path ...string) services.Record {
		r := record(id, author, tmpl, 0, path...)
		r.Status, r.OccurredOn = status, on
		if status == services.StatusWithdrawn {
			r.DeletedAt = at(1)
		}
		return r
	}
	createRecords(t, s,
		mk("r01", "u1", "drill", services.StatusSubmitted, "2025-03-01", "c1", "d1", "s1"),
		mk("r02", "u1", "drill", services.StatusDraft, "2025-03-02", "c1", "d1", "s1"),
		mk("r03", "u1", "lesson", services.StatusApproved, "2025-03-03", "c1", "d1", "s1"),
		mk("r04", "u2", "drill", services.StatusApproved, "2025-03-04", "c1", "d1", "s2"),
		mk("r05", "u2", "lesson", services.StatusReturned, "2025-03-05", "c1", "d1", "s2"),
		mk("r06", "u3", "drill", services.StatusSubmitted, "2025-03-06", "c1", "d2", "s3"),
		mk("r07", "u3", "drill", services.StatusWithdrawn, "2025-03-07", "c1", "d2", "s3"),
		mk("r08", "u4", "drill", services.StatusSubmitted, "2025-03-08", "c2", "d3", "s4"),
		mk("r09", "da", "lesson", services.StatusSubmitted, "2025-04-01", "c1", "d1"),
		mk("r10", "u1", "drill", services.StatusWithdrawn, "2025-03-01", "c1", "d1", "s1"),
	)
	all := services.ScopeAll()
	c1, d1 := services.ScopeOrg("c1"), services.ScopeOrg("d1")
	tests := []struct {
		name  string
		scope services.Scope
		q     services.RecordQuery
		want  []string
	}{
		{"everything", all, services.RecordQuery{}, []string{"r09", "r08", "r06", "r05", "r04", "r03", "r02", "r01"}},
		{"template", all, services.RecordQuery{Template: "lesson"}, []string{"r09", "r05", "r03"}},
		{"template scoped", d1, services.RecordQuery{Template: "drill"}, []string{"r04", "r02", "r01"}},
		{"status", all, services.RecordQuery{Status: services.StatusSubmitted}, []string{"r09", "r08", "r06", "r01"}},
		{"template and status", c1, services.RecordQuery{Template: "drill", Status: services.StatusSubmitted}, []string{"r06", "r01"}},
		{"status withdrawn", all, services.RecordQuery{Status: services.StatusWithdrawn}, nil},
		{"author", all, services.RecordQuery{AuthorID: "u1"}, []string{"r03", "r02", "r01"}},
		{"author scoped", c1, services.RecordQuery{AuthorID: "u2"}, []string{"r05", "r04"}},
		{"author outside scope", d1, services.RecordQuery{AuthorID: "u3"}, nil},
		{"author and scope author", services.Scope{OrgID: "c1", AuthorID: "u1"}, services.RecordQuery{AuthorID: "u1", Template: "drill"}, []string{"r02", "r01"}},
		{"author against scope author", services.Scope{OrgID: "c1", AuthorID: "u1"}, services.RecordQuery{AuthorID: "u2"}, nil},
		{"org subtree", all, services.RecordQuery{OrgID: "d1"}, []string{"r09", "r05", "r04", "r03", "r02", "r01"}},
		{"org school", c1, services.RecordQuery{OrgID: "s2"}, []string{"r05", "r04"}},
		{"org outside scope", d1, services.RecordQuery{OrgID: "d2"}, nil},
		{"org wider than scope", d1, services.RecordQuery{OrgID: "c1", Template: "lesson"}, []string{"r09", "r05", "r03"}},
		{"org and author", all, services.RecordQuery{OrgID: "d1", AuthorID: "u2"}, []string{"r05", "r04"}},
		{"from", all, services.RecordQuery{From: "2025-03-06"}, []string{"r09", "r08", "r06"}},
		{"to", all, services.RecordQuery{To: "2025-03-02"}, []string{"r02", "r01"}},
		{"from and to", c1, services.RecordQuery{From: "2025-03-03", To: "2025-03-05"}, []string{"r05", "r04", "r03"}},
		{"one day", all, services.RecordQuery{From: "2025-03-04", To: "2025-03-04"}, []string{"r04"}},
		{"after", all, services.RecordQuery{After: services.RecordCursor{ID: "r05"}}, []string{"r04", "r03", "r02", "r01"}},
		{"after scoped", d1, services.RecordQuery{After: services.RecordCursor{ID: "r05"}, Limit: 2}, []string{"r04", "r03"}},
		{"after author", all, services.RecordQuery{AuthorID: "u1", After: services.RecordCursor{ID: "r03"}}, []string{"r02", "r01"}},
		{"after template", all, services.RecordQuery{Template: "drill", After: services.RecordCursor{ID: "r06"}}, []string{"r04", "r02", "r01"}},
		{"limit", all, services.RecordQuery{Limit: 3}, []string{"r09", "r08", "r06"}},
		{"injection", all, services.RecordQuery{Template: "' OR 1=1 --"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Records(ctx, tt.scope, tt.q)
			noErr(t, "Records", err)
			if d := cmp.Diff(tt.want, recordIDs(got), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Records ids (-want +got):\n%s", d)
			}
		})
	}
	// Withdrawn records stay readable one by one.
	w, err := s.Record(ctx, d1, "r10")
	noErr(t, "Record(withdrawn)", err)
	if w.Status != services.StatusWithdrawn || w.DeletedAt.IsZero() {
		t.Errorf("withdrawn record: status %q, deleted at %v", w.Status, w.DeletedAt)
	}
}

func testRecordPaginate(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	var (
		ids  []string
		recs []services.Record
	)
	for i := range 105 {
		path := []string{"c1", "d1", "s1"}
		if i%3 == 0 {
			path = []string{"c1", "d2", "s3"}
		}
		r := record(fmt.Sprintf("r%03d", i), fmt.Sprint("u", i%2), "drill", i, path...)
		if i%5 == 0 {
			r.Template = "lesson"
		}
		noErr(t, "CreateRecord", s.CreateRecord(ctx, r, created(r)))
		ids = append(ids, r.ID)
		recs = append(recs, r)
	}
	slices.Reverse(ids)
	slices.Reverse(recs)
	all := services.ScopeAll()
	got, err := s.Records(ctx, all, services.RecordQuery{})
	noErr(t, "Records", err)
	if d := cmp.Diff(ids[:services.DefaultLimit], recordIDs(got)); d != "" {
		t.Errorf("Records with limit 0 (-want +got):\n%s", d)
	}
	got, err = s.Records(ctx, all, services.RecordQuery{Limit: 1000})
	noErr(t, "Records", err)
	if d := cmp.Diff(ids[:services.MaxLimit], recordIDs(got)); d != "" {
		t.Errorf("Records with limit 1000 (-want +got):\n%s", d)
	}
	got, err = s.Records(ctx, all, services.RecordQuery{Sync: true, Limit: 1000})
	noErr(t, "Records(sync)", err)
	if len(got) != services.MaxLimit {
		t.Errorf("Records(sync) with limit 1000 gave %d, want %d", len(got), services.MaxLimit)
	}

	for _, tc := range []struct {
		name  string
		scope services.Scope
		q     services.RecordQuery
		keep  func(r services.Record) bool
	}{
		{"all", all, services.RecordQuery{}, func(services.Record) bool { return true }},
		{"scoped", services.ScopeOrg("d1"), services.RecordQuery{}, func(r services.Record) bool { return r.OrgID == "s1" }},
		{"author", services.ScopeOrg("c1"), services.RecordQuery{AuthorID: "u1"}, func(r services.Record) bool { return r.AuthorID == "u1" }},
		{"template", all, services.RecordQuery{Template: "drill"}, func(r services.Record) bool { return r.Template == "drill" }},
		{"scoped template", services.ScopeOrg("d2"), services.RecordQuery{Template: "lesson"},
			func(r services.Record) bool { return r.OrgID == "s3" && r.Template == "lesson" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, r := range recs {
				if tc.keep(r) {
					want = append(want, r.ID)
				}
			}
			var got []string
			q := tc.q
			q.Limit = 9
			for range 30 {
				page, err := s.Records(ctx, tc.scope, q)
				noErr(t, "Records page", err)
				if len(page) > 9 {
					t.Fatalf("page of %d, want at most 9", len(page))
				}
				if len(page) == 0 {
					break
				}
				got = append(got, recordIDs(page)...)
				q.After = services.RecordCursor{ID: page[len(page)-1].ID}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("paginated (-want +got):\n%s", d)
			}
		})
	}
}

func testRecordSync(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	// Ids and change times disagree on purpose; r2, r5 and r6 changed in
	// the same millisecond.
	mk := func(id string, m int, path ...string) services.Record {
		r := record(id, "u1", "drill", 0, path...)
		r.UpdatedAt = at(m)
		return r
	}
	r1, r2, r3 := mk("r1", 30, "c1", "d1", "s1"), mk("r2", 20, "c1", "d1", "s1"), mk("r3", 10, "c1", "d1", "s2")
	r4, r5, r6 := mk("r4", 40, "c1", "d2", "s3"), mk("r5", 20, "c1", "d1", "s2"), mk("r6", 20, "c1", "d1", "s1")
	r6.Status, r6.DeletedAt = services.StatusWithdrawn, at(20)
	r7 := mk("r7", 50, "c2", "d3", "s4")
	r7.AuthorID, r7.Template = "u2", "lesson"
	createRecords(t, s, r1, r2, r3, r4, r5, r6, r7)

	all := services.ScopeAll()
	tests := []struct {
		name  string
		scope services.Scope
		q     services.RecordQuery
		want  []string
	}{
		{"everything", all, services.RecordQuery{}, []string{"r3", "r2", "r5", "r6", "r1", "r4", "r7"}},
		{"since is strict", all, services.RecordQuery{UpdatedSince: at(20)}, []string{"r1", "r4", "r7"}},
		{"since just before", all, services.RecordQuery{UpdatedSince: at(20).Add(-time.Millisecond)}, []string{"r2", "r5", "r6", "r1", "r4", "r7"}},
		{"since the end", all, services.RecordQuery{UpdatedSince: at(50)}, nil},
		{"scoped", services.ScopeOrg("d1"), services.RecordQuery{}, []string{"r3", "r2", "r5", "r6", "r1"}},
		{"scoped since", services.ScopeOrg("d1"), services.RecordQuery{UpdatedSince: at(10)}, []string{"r2", "r5", "r6", "r1"}},
		{"author scope", services.Scope{All: true, AuthorID: "u2"}, services.RecordQuery{}, []string{"r7"}},
		{"author", services.ScopeOrg("c1"), services.RecordQuery{AuthorID: "u1", UpdatedSince: at(15)}, []string{"r2", "r5", "r6", "r1", "r4"}},
		{"template", all, services.RecordQuery{Template: "lesson"}, []string{"r7"}},
		{"org", all, services.RecordQuery{OrgID: "s1"}, []string{"r2", "r6", "r1"}},
		{"status", all, services.RecordQuery{Status: services.StatusWithdrawn}, []string{"r6"}},
		{"cursor in a tie", all, services.RecordQuery{After: services.RecordCursor{UpdatedAt: at(20), ID: "r5"}}, []string{"r6", "r1", "r4", "r7"}},
		{"cursor with since", all, services.RecordQuery{UpdatedSince: at(10), After: services.RecordCursor{UpdatedAt: at(20), ID: "r2"}, Limit: 3}, []string{"r5", "r6", "r1"}},
		{"cursor scoped", services.ScopeOrg("s1"), services.RecordQuery{After: services.RecordCursor{UpdatedAt: at(20), ID: "r2"}}, []string{"r6", "r1"}},
		{"zero scope", services.Scope{}, services.RecordQuery{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			q.Sync = true
			got, err := s.Records(ctx, tt.scope, q)
			noErr(t, "Records", err)
			if d := cmp.Diff(tt.want, recordIDs(got), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Records(sync) ids (-want +got):\n%s", d)
			}
		})
	}

	// Paging through with the cursor of each page's last record visits
	// every record once, ties included.
	for _, scope := range []services.Scope{all, services.ScopeOrg("c1"), {All: true, AuthorID: "u1"}} {
		var got []string
		q := services.RecordQuery{Sync: true, Limit: 2}
		for range 10 {
			page, err := s.Records(ctx, scope, q)
			noErr(t, "Records page", err)
			if len(page) == 0 {
				break
			}
			got = append(got, recordIDs(page)...)
			last := page[len(page)-1]
			q.After = services.RecordCursor{UpdatedAt: last.UpdatedAt, ID: last.ID}
		}
		want, err := s.Records(ctx, scope, services.RecordQuery{Sync: true})
		noErr(t, "Records", err)
		if d := cmp.Diff(recordIDs(want), got); d != "" {
			t.Errorf("paginated sync in %+v (-want +got):\n%s", scope, d)
		}
	}

	// An update moves the record to the end of the sync order.
	r3.Version, r3.UpdatedAt, r3.Title = 1, at(60), "changed"
	ev := created(r3)
	ev.ID, ev.Version, ev.Action, ev.At = "ev-r3-2", 2, "edit", at(60)
	_, err := s.UpdateRecord(ctx, all, r3, ev)
	noErr(t, "UpdateRecord", err)
	got, err := s.Records(ctx, services.ScopeOrg("d1"), services.RecordQuery{Sync: true, UpdatedSince: at(25)})
	noErr(t, "Records", err)
	if d := cmp.Diff([]string{"r1", "r3"}, recordIDs(got)); d != "" {
		t.Errorf("sync after update (-want +got):\n%s", d)
	}
}

func testRecordUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	list := seedRecords(t, s)
	orig := list[0] // r1 in s1 by u1
	upd := orig
	upd.TemplateVersion = 2
	upd.OccurredOn, upd.EndOn = "2025-03-02", "2025-03-04"
	upd.Title, upd.Description = "新标题", "新描述"
	upd.Data = json.RawMessage(`{"count":5,"kind":"quake","tags":["x"]}`)
	upd.Attachments = []string{"a9"}
	upd.Status = services.StatusApproved
	upd.Warnings = []services.Warning{{Field: "count", Code: "above_staff", Limit: 4}}
	upd.Review = services.Review{By: "p1", Role: services.RolePrincipal, At: at(10), Action: "approve"}
	upd.Hash, upd.UpdatedAt = "hash-2", at(10)
	// The store keeps who made the record, and when, whatever is sent.
	sent := upd
	sent.ClientID, sent.AuthorID, sent.AuthorRole, sent.CreatedAt = "other", "u9", services.RoleSysadmin, at(99)
	ev := services.RecordEvent{ID: "ev-r1-2", RecordID: "r1", Version: 2, At: at(10), ActorID: "p1",
		ActorRole: services.RolePrincipal, Action: "approve", Comment: "好",
		Changes: []services.Change{
			{Field: "count", Before: 3.0, After: 5.0},
			{Field: "kind", Before: "fire", After: "quake"},
			{Field: "tags", Before: nil, After: []any{"x"}},
			{Field: "done", Before: false, After: true},
		}}
	scope := services.Scope{OrgID: "d1"}
	got, err := s.UpdateRecord(ctx, scope, sent, ev)
	noErr(t, "UpdateRecord", err)
	want := upd
	want.Version = 2
	if d := recDiff(want, got); d != "" {
		t.Errorf("UpdateRecord returned (-want +got):\n%s", d)
	}
	stored, err := s.Record(ctx, scope, "r1")
	noErr(t, "Record", err)
	if d := recDiff(want, stored); d != "" {
		t.Errorf("Record after update (-want +got):\n%s", d)
	}
	byClient, err := s.RecordByClientID(ctx, scope, "u1", orig.ClientID)
	noErr(t, "RecordByClientID", err)
	if byClient.Version != 2 {
		t.Errorf("RecordByClientID version %d, want 2", byClient.Version)
	}
	hist, err := s.RecordHistory(ctx, scope, "r1", 0, 0)
	noErr(t, "RecordHistory", err)
	if d := recDiff([]services.RecordEvent{created(orig), ev}, hist); d != "" {
		t.Errorf("RecordHistory (-want +got):\n%s", d)
	}

	// The version the caller held is stale now; its event is not kept.
	late := upd
	late.Title = "迟到"
	lateEv := ev
	lateEv.ID = "ev-r1-late"
	_, err = s.UpdateRecord(ctx, scope, late, lateEv)
	wantErr(t, "UpdateRecord(stale)", err, services.ErrStale)
	// Outside the scope, or by someone else's hand, it does not exist.
	for _, v := range []int64{1, 2} {
		r := want
		r.Version = v
		e := ev
		e.ID, e.Version = fmt.Sprint("ev-r1-x", v), v+1
		for _, sc := range []services.Scope{services.ScopeOrg("d2"), {}, {OrgID: "s1", AuthorID: "u2"}} {
			_, err := s.UpdateRecord(ctx, sc, r, e)
			wantErr(t, fmt.Sprintf("UpdateRecord(%+v, v%d)", sc, v), err, services.ErrNotFound)
		}
	}
	unknown := want
	unknown.ID = "nope"
	_, err = s.UpdateRecord(ctx, services.ScopeAll(), unknown, services.RecordEvent{ID: "ev-nope", RecordID: "nope", Version: 3})
	wantErr(t, "UpdateRecord(unknown)", err, services.ErrNotFound)
	stored, err = s.Record(ctx, services.ScopeAll(), "r1")
	noErr(t, "Record", err)
	if d := recDiff(want, stored); d != "" {
		t.Errorf("Record after refused updates (-want +got):\n%s", d)
	}
	hist, err = s.RecordHistory(ctx, scope, "r1", 0, 0)
	noErr(t, "RecordHistory", err)
	if len(hist) != 2 {
		t.Errorf("history has %d events after refused updates, want 2", len(hist))
	}

	// The author withdraws it: a tombstone, still readable, gone from lists.
	w := want
	w.Status, w.DeletedAt, w.UpdatedAt = services.StatusWithdrawn, at(20), at(20)
	w.Review = services.Review{}
	wev := services.RecordEvent{ID: "ev-r1-3", RecordID: "r1", Version: 3, At: at(20), ActorID: "u1",
		ActorRole: services.RoleTeacher, Action: "withdraw"}
	got, err = s.UpdateRecord(ctx, services.Scope{OrgID: "s1", AuthorID: "u1"}, w, wev)
	noErr(t, "UpdateRecord(withdraw)", err)
	w.Version = 3
	if d := recDiff(w, got); d != "" {
		t.Errorf("withdrawn record (-want +got):\n%s", d)
	}
	checkUTC(t, "withdrawn", got.DeletedAt)
	ids, err := s.Records(ctx, scope, services.RecordQuery{})
	noErr(t, "Records", err)
	if d := cmp.Diff([]string{"r2"}, recordIDs(ids)); d != "" {
		t.Errorf("Records after withdraw (-want +got):\n%s", d)
	}
}

func testRecordConcurrentUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	r := record("r1", "u1", "drill", 0, "c1", "d1", "s1")
	createRecords(t, s, r)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, stale := 0, 0
	for i := range 8 {
		wg.Go(func() {
			u := r
			u.Title = fmt.Sprint("writer ", i)
			ev := services.RecordEvent{ID: fmt.Sprint("ev-", i), RecordID: "r1", Version: 2, At: at(1),
				ActorID: "u1", Action: "edit"}
			_, err := s.UpdateRecord(ctx, services.ScopeAll(), u, ev)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, services.ErrStale):
				stale++
			default:
				t.Errorf("UpdateRecord: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || stale != 7 {
		t.Errorf("%d updates won and %d were stale, want 1 and 7", wins, stale)
	}
	hist, err := s.RecordHistory(ctx, services.ScopeAll(), "r1", 0, 0)
	noErr(t, "RecordHistory", err)
	if len(hist) != 2 {
		t.Errorf("history has %d events, want 2", len(hist))
	}
	got, err := s.Record(ctx, services.ScopeAll(), "r1")
	noErr(t, "Record", err)
	if got.Version != 2 || len(hist) == 2 && got.Title != "writer "+hist[1].ID[len("ev-"):] {
		t.Errorf("record at version %d titled %q; history %+v", got.Version, got.Title, hist)
	}
}

func testRecordHistory(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	r := record("r1", "u1", "drill", 0, "c1", "d1", "s1")
	createRecords(t, s, r)
	events := []services.RecordEvent{created(r)}
	for v := int64(2); v <= 25; v++ {
		ev := services.RecordEvent{ID: fmt.Sprint("ev-", v), RecordID: "r1", Version: v, At: at(int(v)),
			ActorID: "u1", ActorRole: services.RoleTeacher, Action: "edit",
			Changes: []services.Change{{Field: "count", Before: float64(v - 1), After: float64(v)}}}
		r.UpdatedAt = ev.At
		got, err := s.UpdateRecord(ctx, services.ScopeAll(), r, ev)
		noErr(t, "UpdateRecord", err)
		r = got
		events = append(events, ev)
	}
	all := services.ScopeAll()
	tests := []struct {
		name  string
		after int64
		limit int
		want  []services.RecordEvent
	}{
		{"default limit", 0, 0, events[:services.DefaultLimit]},
		{"after", 20, 0, events[20:]},
		{"after and limit", 3, 4, events[3:7]},
		{"past the end", 25, 10, nil},
		{"limit capped", 0, 1000, events},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RecordHistory(ctx, all, "r1", tt.after, tt.limit)
			noErr(t, "RecordHistory", err)
			if d := recDiff(tt.want, got); d != "" {
				t.Errorf("RecordHistory (-want +got):\n%s", d)
			}
		})
	}
	_, err := s.RecordHistory(ctx, all, "nope", 0, 0)
	wantErr(t, "RecordHistory(unknown)", err, services.ErrNotFound)
	_, err = s.RecordHistory(ctx, services.Scope{OrgID: "s1", AuthorID: "u2"}, "r1", 0, 0)
	wantErr(t, "RecordHistory(other author)", err, services.ErrNotFound)
}

// attachment returns the metadata of a file uploaded by owner in the last
// unit of path.
func attachment(id, owner string, size int, path ...string) services.Attachment {
	return services.Attachment{ID: id, ClientID: "client-" + id, OwnerID: owner, OrgID: path[len(path)-1],
		OrgPath: path, Name: "照片 " + id + ".jpg", ContentType: "image/jpeg", Size: int64(size),
		SHA256: "sha-" + id, Width: 4000, Height: 3000, CreatedAt: at(0)}
}

// content returns n bytes holding every byte value.
func content(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ seed
	}
	return b
}

func testAttachmentRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	all := services.ScopeAll()
	body, thumb := content(70000, 7), content(3000, 9)
	want := attachment("a1", "u1", len(body), "c1", "d1", "s1")
	want.ThumbSize = int64(len(thumb))
	noErr(t, "CreateAttachment", s.CreateAttachment(ctx, want, body, thumb))
	bare := attachment("a2", "u1", 1, "c1", "d1", "s1")
	bare.ContentType, bare.Width, bare.Height = "application/pdf", 0, 0
	noErr(t, "CreateAttachment(no thumb)", s.CreateAttachment(ctx, bare, []byte{0}, nil))

	got, err := s.Attachment(ctx, all, "a1")
	noErr(t, "Attachment", err)
	if d := diff(want, got); d != "" {
		t.Errorf("Attachment (-want +got):\n%s", d)
	}
	checkUTC(t, "Attachment", got.CreatedAt)
	byClient, err := s.AttachmentByClientID(ctx, all, "u1", "client-a1")
	noErr(t, "AttachmentByClientID", err)
	if d := diff(want, byClient); d != "" {
		t.Errorf("AttachmentByClientID (-want +got):\n%s", d)
	}
	_, err = s.AttachmentByClientID(ctx, all, "u2", "client-a1")
	wantErr(t, "AttachmentByClientID(other owner)", err, services.ErrNotFound)

	tests := []struct {
		name     string
		id       string
		thumb    bool
		wantMeta services.Attachment
		want     []byte
		err      error
	}{
		{"content", "a1", false, want, body, nil},
		{"thumb", "a1", true, want, thumb, nil},
		{"one byte", "a2", false, bare, []byte{0}, nil},
		{"no thumb", "a2", true, services.Attachment{}, nil, services.ErrNotFound},
		{"unknown", "nope", false, services.Attachment{}, nil, services.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, b, err := s.AttachmentContent(ctx, all, tt.id, tt.thumb)
			if tt.err != nil {
				wantErr(t, "AttachmentContent", err, tt.err)
				return
			}
			noErr(t, "AttachmentContent", err)
			if d := diff(tt.wantMeta, meta); d != "" {
				t.Errorf("AttachmentContent metadata (-want +got):\n%s", d)
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("AttachmentContent gave %d bytes, want the %d stored", len(b), len(tt.want))
			}
		})
	}
}

func testAttachmentLarge(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	body := content(10<<20, 3) // the largest file allowed
	a := attachment("big", "u1", len(body), "c1", "d1", "s1")
	noErr(t, "CreateAttachment", s.CreateAttachment(ctx, a, body, nil))
	_, got, err := s.AttachmentContent(ctx, services.ScopeOrg("s1"), "big", false)
	noErr(t, "AttachmentContent", err)
	if !bytes.Equal(got, body) {
		t.Errorf("AttachmentContent gave %d bytes, not the %d stored", len(got), len(body))
	}
}

func testAttachmentConflicts(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	all := services.ScopeAll()
	body := content(1000, 1)
	first := attachment("a1", "u1", len(body), "c1", "d1", "s1")
	noErr(t, "CreateAttachment", s.CreateAttachment(ctx, first, body, nil))

	sameID := attachment("a1", "u2", 10, "c1", "d2", "s3")
	sameID.ThumbSize = 5
	wantErr(t, "CreateAttachment(duplicate id)", s.CreateAttachment(ctx, sameID, content(10, 2), content(5, 3)), services.ErrConflict)
	sameClient := attachment("a2", "u1", 10, "c1", "d1", "s1")
	sameClient.ClientID, sameClient.ThumbSize = first.ClientID, 5
	wantErr(t, "CreateAttachment(duplicate client id)", s.CreateAttachment(ctx, sameClient, content(10, 2), content(5, 3)), services.ErrConflict)

	// Nothing of the refused uploads remains.
	meta, got, err := s.AttachmentContent(ctx, all, "a1", false)
	noErr(t, "AttachmentContent", err)
	if d := diff(first, meta); d != "" {
		t.Errorf("a1 after duplicate uploads (-want +got):\n%s", d)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("a1 content changed after duplicate uploads")
	}
	_, _, err = s.AttachmentContent(ctx, all, "a1", true)
	wantErr(t, "AttachmentContent(a1 thumb)", err, services.ErrNotFound)
	_, err = s.Attachment(ctx, all, "a2")
	wantErr(t, "Attachment(a2)", err, services.ErrNotFound)
	for _, thumb := range []bool{false, true} {
		_, _, err = s.AttachmentContent(ctx, all, "a2", thumb)
		wantErr(t, "AttachmentContent(a2)", err, services.ErrNotFound)
	}

	// The refused id is free; another owner may reuse the client id.
	again := attachment("a2", "u1", 4, "c1", "d1", "s1")
	noErr(t, "CreateAttachment(a2 again)", s.CreateAttachment(ctx, again, []byte("abcd"), nil))
	_, got, err = s.AttachmentContent(ctx, all, "a2", false)
	noErr(t, "AttachmentContent(a2)", err)
	if string(got) != "abcd" {
		t.Errorf("a2 content %q, want abcd", got)
	}
	other := attachment("a3", "u2", 4, "c1", "d1", "s2")
	other.ClientID = first.ClientID
	noErr(t, "CreateAttachment(other owner)", s.CreateAttachment(ctx, other, []byte("efgh"), nil))
}

func testAttachmentScope(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	files := []services.Attachment{
		attachment("a1", "u1", 3, "c1", "d1", "s1"),
		attachment("a2", "u2", 3, "c1", "d1", "s2"),
		attachment("a3", "u3", 3, "c1", "d2", "s3"),
		attachment("a4", "u4", 3, "c2", "d3", "s4"),
	}
	for _, a := range files {
		a.ThumbSize = 2
		noErr(t, "CreateAttachment", s.CreateAttachment(ctx, a, []byte("abc"), []byte("xy")))
	}
	tests := []struct {
		name    string
		scope   services.Scope
		visible []string
	}{
		{"all", services.ScopeAll(), []string{"a1", "a2", "a3", "a4"}},
		{"zero", services.Scope{}, nil},
		{"owner only", services.Scope{AuthorID: "u1"}, nil},
		{"city", services.ScopeOrg("c1"), []string{"a1", "a2", "a3"}},
		{"district", services.ScopeOrg("d1"), []string{"a1", "a2"}},
		{"school", services.ScopeOrg("s3"), []string{"a3"}},
		{"owner in scope", services.Scope{OrgID: "d1", AuthorID: "u2"}, []string{"a2"}},
		{"owner outside scope", services.Scope{OrgID: "d1", AuthorID: "u3"}, nil},
		{"all of one owner", services.Scope{All: true, AuthorID: "u4"}, []string{"a4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, a := range files {
				owner := fmt.Sprint("u", i+1)
				m, err := s.Attachment(ctx, tt.scope, a.ID)
				mc, cerr := s.AttachmentByClientID(ctx, tt.scope, owner, a.ClientID)
				_, b, berr := s.AttachmentContent(ctx, tt.scope, a.ID, false)
				_, th, terr := s.AttachmentContent(ctx, tt.scope, a.ID, true)
				if slices.Contains(tt.visible, a.ID) {
					noErr(t, "Attachment "+a.ID, err)
					noErr(t, "AttachmentByClientID "+a.ID, cerr)
					noErr(t, "AttachmentContent "+a.ID, berr)
					noErr(t, "AttachmentContent(thumb) "+a.ID, terr)
					if m.ID != a.ID || mc.ID != a.ID || string(b) != "abc" || string(th) != "xy" {
						t.Errorf("%s: got %q, %q, content %q, thumb %q", a.ID, m.ID, mc.ID, b, th)
					}
				} else {
					wantErr(t, "Attachment "+a.ID, err, services.ErrNotFound)
					wantErr(t, "AttachmentByClientID "+a.ID, cerr, services.ErrNotFound)
					wantErr(t, "AttachmentContent "+a.ID, berr, services.ErrNotFound)
					wantErr(t, "AttachmentContent(thumb) "+a.ID, terr, services.ErrNotFound)
				}
			}
		})
	}
}

func testAttachmentBytes(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	tests := []struct {
		id, owner      string
		size, thumb    int
		wantU1, wantU2 int64
	}{
		{"b1", "u1", 1000, 100, 1100, 0},
		{"b2", "u1", 5000, 0, 6100, 0},
		{"b3", "u2", 70000, 3000, 6100, 73000},
	}
	for _, tt := range tests {
		a := attachment(tt.id, tt.owner, tt.size, "c1", "d1", "s1")
		a.ThumbSize = int64(tt.thumb)
		var thumb []byte
		if tt.thumb > 0 {
			thumb = content(tt.thumb, 3)
		}
		noErr(t, "CreateAttachment", s.CreateAttachment(ctx, a, content(tt.size, 1), thumb))
		for owner, want := range map[string]int64{"u1": tt.wantU1, "u2": tt.wantU2, "nobody": 0} {
			got, err := s.AttachmentBytes(ctx, owner)
			noErr(t, "AttachmentBytes", err)
			if got != want {
				t.Errorf("after %s: AttachmentBytes(%s) = %d, want %d", tt.id, owner, got, want)
			}
		}
	}
}
