package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/huizong/huizong/services"
)

// Run runs the whole suite against the store open returns. Every subtest
// calls open once and expects a fresh, empty store; open registers the
// store's Close with t.Cleanup itself (Run never closes it).
//
// The contract the suite pins down, beyond the interface comments:
//   - Stores keep what they are given: ids, Version, CreatedAt and UpdatedAt
//     come from the caller on create; times come back in UTC, at millisecond
//     precision; a zero time comes back zero; empty and nil lists are equal.
//   - A Scope covers an object when its path (Org.Path, User.OrgPath)
//     contains Scope.OrgID; the zero Scope covers nothing (lists are empty,
//     point reads and writes ErrNotFound); an object outside the scope is
//     ErrNotFound, never ErrStale.
//   - Lists are in id order, keyset paginated (ids > Page.After), and apply
//     Page.Normalize (Limit 0 means DefaultLimit). OrgQuery and UserQuery
//     filters are exact matches (UserQuery.OrgID matches User.OrgID, the
//     direct unit, not the subtree).
//   - UpdateOrg replaces Name, Code, Stages, Students, Staff and UpdatedAt
//     (Kind, ParentID and Path stay: units do not move). UpdateUser replaces
//     everything but ID, Username and CreatedAt. Both return the stored
//     object with Version+1.
//   - An empty school code or mobile number is "none" and never conflicts,
//     and UserByLogin("") finds nobody.
//   - RotateSession also sets LastUsedAt to r.RotatedAt; an unknown session
//     is ErrNotFound. RevokeSession of an unknown session or one of another
//     user is ErrNotFound; revoking again keeps the first RevokedAt, as does
//     RevokeUserSessions. DeleteSessions removes sessions whose ExpiresAt or
//     RevokedAt is strictly before the cut-off.
//   - RetireKey of an unknown key is ErrNotFound.
//
// The contract for templates, records and attachments is spelled out in
// records.go.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Ping", func(t *testing.T) { testPing(t, open(t)) })
	t.Run("Orgs", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testOrgRoundTrip(t, open(t)) })
		t.Run("Conflicts", func(t *testing.T) { testOrgConflicts(t, open(t)) })
		t.Run("Scope", func(t *testing.T) { testOrgScope(t, open(t)) })
		t.Run("List", func(t *testing.T) { testOrgList(t, open(t)) })
		t.Run("Paginate", func(t *testing.T) { testOrgPaginate(t, open(t)) })
		t.Run("Update", func(t *testing.T) { testOrgUpdate(t, open(t)) })
		t.Run("Delete", func(t *testing.T) { testOrgDelete(t, open(t)) })
	})
	t.Run("Users", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testUserRoundTrip(t, open(t)) })
		t.Run("AllOrNothing", func(t *testing.T) { testUserAllOrNothing(t, open(t)) })
		t.Run("Conflicts", func(t *testing.T) { testUserConflicts(t, open(t)) })
		t.Run("Login", func(t *testing.T) { testUserLogin(t, open(t)) })
		t.Run("Scope", func(t *testing.T) { testUserScope(t, open(t)) })
		t.Run("List", func(t *testing.T) { testUserList(t, open(t)) })
		t.Run("Paginate", func(t *testing.T) { testUserPaginate(t, open(t)) })
		t.Run("Update", func(t *testing.T) { testUserUpdate(t, open(t)) })
		t.Run("Count", func(t *testing.T) { testUserCount(t, open(t)) })
		t.Run("ConcurrentCreate", func(t *testing.T) { testUserConcurrentCreate(t, open(t)) })
	})
	t.Run("Sessions", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testSessionRoundTrip(t, open(t)) })
		t.Run("Rotate", func(t *testing.T) { testSessionRotate(t, open(t)) })
		t.Run("ConcurrentRotate", func(t *testing.T) { testSessionConcurrentRotate(t, open(t)) })
		t.Run("Revoke", func(t *testing.T) { testSessionRevoke(t, open(t)) })
		t.Run("RevokeUser", func(t *testing.T) { testSessionRevokeUser(t, open(t)) })
		t.Run("UserSessions", func(t *testing.T) { testUserSessions(t, open(t)) })
		t.Run("Delete", func(t *testing.T) { testSessionDelete(t, open(t)) })
	})
	t.Run("Keys", func(t *testing.T) { testKeys(t, open(t)) })
	t.Run("Idempotency", func(t *testing.T) {
		t.Run("ClaimCompleteReplay", func(t *testing.T) { testIdempotencyClaim(t, open(t)) })
		t.Run("Release", func(t *testing.T) { testIdempotencyRelease(t, open(t)) })
		t.Run("ConcurrentClaim", func(t *testing.T) { testIdempotencyConcurrent(t, open(t)) })
		t.Run("Expire", func(t *testing.T) { testIdempotencyExpire(t, open(t)) })
	})
	t.Run("Templates", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testTemplateRoundTrip(t, open(t)) })
		t.Run("Conflict", func(t *testing.T) { testTemplateConflict(t, open(t)) })
		t.Run("Visibility", func(t *testing.T) { testTemplateVisibility(t, open(t)) })
		t.Run("List", func(t *testing.T) { testTemplateList(t, open(t)) })
		t.Run("Paginate", func(t *testing.T) { testTemplatePaginate(t, open(t)) })
		t.Run("Update", func(t *testing.T) { testTemplateUpdate(t, open(t)) })
		t.Run("ConcurrentUpdate", func(t *testing.T) { testTemplateConcurrentUpdate(t, open(t)) })
	})
	t.Run("Records", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testRecordRoundTrip(t, open(t)) })
		t.Run("Conflicts", func(t *testing.T) { testRecordConflicts(t, open(t)) })
		t.Run("Scope", func(t *testing.T) { testRecordScope(t, open(t)) })
		t.Run("List", func(t *testing.T) { testRecordList(t, open(t)) })
		t.Run("Paginate", func(t *testing.T) { testRecordPaginate(t, open(t)) })
		t.Run("Sync", func(t *testing.T) { testRecordSync(t, open(t)) })
		t.Run("Update", func(t *testing.T) { testRecordUpdate(t, open(t)) })
		t.Run("ConcurrentUpdate", func(t *testing.T) { testRecordConcurrentUpdate(t, open(t)) })
		t.Run("History", func(t *testing.T) { testRecordHistory(t, open(t)) })
	})
	t.Run("Attachments", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testAttachmentRoundTrip(t, open(t)) })
		t.Run("Large", func(t *testing.T) { testAttachmentLarge(t, open(t)) })
		t.Run("Conflicts", func(t *testing.T) { testAttachmentConflicts(t, open(t)) })
		t.Run("Scope", func(t *testing.T) { testAttachmentScope(t, open(t)) })
		t.Run("Bytes", func(t *testing.T) { testAttachmentBytes(t, open(t)) })
	})
	t.Run("Tasks", func(t *testing.T) { runTasks(t, open) })
	t.Run("Totals", func(t *testing.T) { runTotals(t, open) })
	t.Run("Audit", func(t *testing.T) { runAudit(t, open) })
	t.Run("Indicators", func(t *testing.T) { testIndicators(t, open(t)) })
	t.Run("Extensions", func(t *testing.T) { testExtensions(t, open(t)) })
}

// base is the suite's clock: an instant with nanoseconds in a zone other
// than UTC, so stores must normalise both.
var base = time.Date(2025, 3, 1, 8, 30, 0, 123456789, time.FixedZone("CST", 8*3600))

// at returns base plus d minutes.
func at(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }

// opts compare stored objects: times in UTC at millisecond precision, nil
// and empty lists alike.
var opts = cmp.Options{
	cmp.Transformer("ms", func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC().Truncate(time.Millisecond)
	}),
	cmpopts.EquateEmpty(),
}

func diff(want, got any) string { return cmp.Diff(want, got, opts) }

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func checkUTC(t *testing.T, what string, ts ...time.Time) {
	t.Helper()
	for _, x := range ts {
		if !x.IsZero() && x.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, x, x.Location())
		}
	}
}

func testPing(t *testing.T, s Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if s.Name() == "" {
		t.Error("Name is empty")
	}
}

// The tree used by the scope tests:
//
//	c1 ─┬─ d1 ─┬─ s1
//	    │      └─ s2
//	    └─ d2 ─── s3
//	c2 ─── d3 ─── s4
func tree() []services.Org {
	mk := func(id string, kind services.OrgKind, parent string, path ...string) services.Org {
		o := services.Org{ID: id, Kind: kind, Name: "unit " + id, ParentID: parent, Path: path,
			Version: 1, CreatedAt: at(0), UpdatedAt: at(0)}
		if kind == services.OrgSchool {
			o.Stages = []string{"小学"}
			o.Students = 100
			o.Staff = 10
		}
		return o
	}
	return []services.Org{
		mk("c1", services.OrgCity, "", "c1"),
		mk("c2", services.OrgCity, "", "c2"),
		mk("d1", services.OrgDistrict, "c1", "c1", "d1"),
		mk("d2", services.OrgDistrict, "c1", "c1", "d2"),
		mk("d3", services.OrgDistrict, "c2", "c2", "d3"),
		mk("s1", services.OrgSchool, "d1", "c1", "d1", "s1"),
		mk("s2", services.OrgSchool, "d1", "c1", "d1", "s2"),
		mk("s3", services.OrgSchool, "d2", "c1", "d2", "s3"),
		mk("s4", services.OrgSchool, "d3", "c2", "d3", "s4"),
	}
}

// seedTree stores tree() and returns it.
func seedTree(t *testing.T, s Store) []services.Org {
	t.Helper()
	orgs := tree()
	for _, o := range orgs {
		noErr(t, "CreateOrg "+o.ID, s.CreateOrg(t.Context(), o))
	}
	return orgs
}

func orgIDs(orgs []services.Org) []string {
	ids := make([]string, len(orgs))
	for i, o := range orgs {
		ids[i] = o.ID
	}
	return ids
}

func userIDs(users []services.User) []string {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return ids
}

func testOrgRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	city := services.Org{ID: "c1", Kind: services.OrgCity, Name: "某市教育局", Path: []string{"c1"},
		Version: 1, CreatedAt: at(0), UpdatedAt: at(0)}
	school := services.Org{
		ID: "s1", Kind: services.OrgSchool, Name: "第一中学 'x\"; DROP TABLE orgs; --", ParentID: "c1",
		Path: []string{"c1", "s1"}, Code: "3133001234", Stages: []string{"初中", "高中"},
		Students: 1234, Staff: 98, Version: 3, CreatedAt: at(1), UpdatedAt: at(2),
	}
	noErr(t, "CreateOrg", s.CreateOrg(ctx, city))
	noErr(t, "CreateOrg", s.CreateOrg(ctx, school))
	for _, want := range []services.Org{city, school} {
		got, err := s.Org(ctx, services.ScopeAll(), want.ID)
		noErr(t, "Org", err)
		if d := diff(want, got); d != "" {
			t.Errorf("Org(%s) mismatch (-want +got):\n%s", want.ID, d)
		}
		checkUTC(t, "Org", got.CreatedAt, got.UpdatedAt)
	}
	_, err := s.Org(ctx, services.ScopeAll(), "nope")
	wantErr(t, "Org(unknown)", err, services.ErrNotFound)
}

func testOrgConflicts(t *testing.T, s Store) {
	ctx := t.Context()
	orgs := seedTree(t, s)
	dup := orgs[5]
	dup.Name = "other"
	wantErr(t, "CreateOrg(duplicate id)", s.CreateOrg(ctx, dup), services.ErrConflict)

	// Many schools without a code are fine; a second school with a code is not.
	for _, o := range orgs {
		if o.Code != "" {
			t.Fatal("tree schools must have no code")
		}
	}
	coded := services.Org{ID: "s8", Kind: services.OrgSchool, Name: "coded", ParentID: "d1",
		Path: []string{"c1", "d1", "s8"}, Code: "1234567890", Version: 1, CreatedAt: at(0), UpdatedAt: at(0)}
	noErr(t, "CreateOrg(coded)", s.CreateOrg(ctx, coded))
	again := coded
	again.ID, again.Path = "s9", []string{"c1", "d1", "s9"}
	wantErr(t, "CreateOrg(duplicate code)", s.CreateOrg(ctx, again), services.ErrConflict)
	_, err := s.Org(ctx, services.ScopeAll(), "s9")
	wantErr(t, "Org(s9) after conflict", err, services.ErrNotFound)
	// The first one is unchanged.
	got, err := s.Org(ctx, services.ScopeAll(), "s1")
	noErr(t, "Org(s1)", err)
	if d := diff(orgs[5], got); d != "" {
		t.Errorf("s1 changed after duplicate create (-want +got):\n%s", d)
	}
}

func testOrgScope(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	tests := []struct {
		name    string
		scope   services.Scope
		visible []string
	}{
		{"all", services.ScopeAll(), []string{"c1", "c2", "d1", "d2", "d3", "s1", "s2", "s3", "s4"}},
		{"zero", services.Scope{}, nil},
		{"city", services.ScopeOrg("c1"), []string{"c1", "d1", "d2", "s1", "s2", "s3"}},
		{"district", services.ScopeOrg("d1"), []string{"d1", "s1", "s2"}},
		{"school", services.ScopeOrg("s3"), []string{"s3"}},
		{"unknown", services.ScopeOrg("zz"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.Orgs(ctx, tt.scope, services.OrgQuery{Page: services.Page{Limit: 100}})
			noErr(t, "Orgs", err)
			if d := cmp.Diff(tt.visible, orgIDs(list), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Orgs ids (-want +got):\n%s", d)
			}
			for _, o := range tree() {
				got, err := s.Org(ctx, tt.scope, o.ID)
				if slices.Contains(tt.visible, o.ID) {
					noErr(t, "Org "+o.ID, err)
					if got.ID != o.ID {
						t.Errorf("Org(%s).ID = %q", o.ID, got.ID)
					}
				} else {
					wantErr(t, "Org "+o.ID, err, services.ErrNotFound)
				}
			}
		})
	}
}

func testOrgList(t *testing.T, s Store) {
	ctx := t.Context()
	orgs := seedTree(t, s)
	coded := services.Org{ID: "s5", Kind: services.OrgSchool, Name: "coded", ParentID: "d2",
		Path: []string{"c1", "d2", "s5"}, Code: "1111111111", Version: 1, CreatedAt: at(0), UpdatedAt: at(0)}
	noErr(t, "CreateOrg", s.CreateOrg(ctx, coded))
	all, d1 := services.ScopeAll(), services.ScopeOrg("d1")
	tests := []struct {
		name  string
		scope services.Scope
		q     services.OrgQuery
		want  []string
	}{
		{"parent", all, services.OrgQuery{ParentID: "d1"}, []string{"s1", "s2"}},
		{"parent top", all, services.OrgQuery{ParentID: "c1"}, []string{"d1", "d2"}},
		{"kind", all, services.OrgQuery{Kind: services.OrgDistrict}, []string{"d1", "d2", "d3"}},
		{"kind scoped", services.ScopeOrg("c1"), services.OrgQuery{Kind: services.OrgSchool}, []string{"s1", "s2", "s3", "s5"}},
		{"code", all, services.OrgQuery{Code: "1111111111"}, []string{"s5"}},
		{"code other scope", d1, services.OrgQuery{Code: "1111111111"}, nil},
		{"parent outside scope", d1, services.OrgQuery{ParentID: "d2"}, nil},
		{"parent and kind", d1, services.OrgQuery{ParentID: "d1", Kind: services.OrgSchool}, []string{"s1", "s2"}},
		{"kind mismatch", all, services.OrgQuery{ParentID: "d1", Kind: services.OrgCity}, nil},
		{"after", all, services.OrgQuery{Kind: services.OrgSchool, Page: services.Page{After: "s2"}}, []string{"s3", "s4", "s5"}},
		{"limit", all, services.OrgQuery{Page: services.Page{Limit: 2}}, []string{"c1", "c2"}},
		{"injection", all, services.OrgQuery{ParentID: "' OR 1=1 --"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Orgs(ctx, tt.scope, tt.q)
			noErr(t, "Orgs", err)
			if d := cmp.Diff(tt.want, orgIDs(got), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Orgs ids (-want +got):\n%s", d)
			}
			if tt.q.Page == (services.Page{}) {
				n, err := s.CountOrgs(ctx, tt.scope, tt.q)
				noErr(t, "CountOrgs", err)
				if n != int64(len(tt.want)) {
					t.Errorf("CountOrgs = %d, want %d", n, len(tt.want))
				}
			}
		})
	}
	// Listed units carry every field.
	got, err := s.Orgs(ctx, all, services.OrgQuery{ParentID: "d1"})
	noErr(t, "Orgs", err)
	if d := diff(orgs[5:7], got); d != "" {
		t.Errorf("Orgs content (-want +got):\n%s", d)
	}
}

func testOrgPaginate(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	for _, scope := range []services.Scope{services.ScopeAll(), services.ScopeOrg("c1")} {
		want, err := s.Orgs(ctx, scope, services.OrgQuery{Page: services.Page{Limit: 100}})
		noErr(t, "Orgs", err)
		if !slices.IsSorted(orgIDs(want)) {
			t.Fatalf("Orgs not in id order: %v", orgIDs(want))
		}
		var got []string
		after := ""
		for range 20 {
			page, err := s.Orgs(ctx, scope, services.OrgQuery{Page: services.Page{After: after, Limit: 2}})
			noErr(t, "Orgs page", err)
			if len(page) > 2 {
				t.Fatalf("page of %d, want at most 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, orgIDs(page)...)
			after = page[len(page)-1].ID
		}
		if d := cmp.Diff(orgIDs(want), got); d != "" {
			t.Errorf("paginated %+v (-want +got):\n%s", scope, d)
		}
	}
}

func testOrgUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	orgs := seedTree(t, s)
	s1 := orgs[5]
	upd := s1
	upd.Name, upd.Code, upd.Stages, upd.Students, upd.Staff = "新名字", "3100000001", []string{"初中"}, 500, 40
	upd.UpdatedAt = at(10)
	// The store keeps the tree shape whatever the caller sends.
	sent := upd
	sent.Kind, sent.ParentID, sent.Path, sent.CreatedAt = services.OrgCity, "d2", []string{"x"}, at(99)
	got, err := s.UpdateOrg(ctx, services.ScopeOrg("d1"), sent)
	noErr(t, "UpdateOrg", err)
	want := upd
	want.Version = s1.Version + 1
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateOrg returned (-want +got):\n%s", d)
	}
	stored, err := s.Org(ctx, services.ScopeAll(), "s1")
	noErr(t, "Org", err)
	if d := diff(want, stored); d != "" {
		t.Errorf("stored after UpdateOrg (-want +got):\n%s", d)
	}
	// Scope still works after an update (Path was kept).
	if _, err := s.Org(ctx, services.ScopeOrg("d1"), "s1"); err != nil {
		t.Errorf("Org in scope after update: %v", err)
	}

	// The version the caller held is now stale.
	wantErr(t, "UpdateOrg(stale)", func() error { _, err := s.UpdateOrg(ctx, services.ScopeAll(), upd); return err }(), services.ErrStale)
	// Outside the scope it does not exist, whatever the version.
	for _, v := range []int64{want.Version, s1.Version} {
		o := want
		o.Version = v
		_, err := s.UpdateOrg(ctx, services.ScopeOrg("d2"), o)
		wantErr(t, fmt.Sprintf("UpdateOrg(outside scope, v%d)", v), err, services.ErrNotFound)
		_, err = s.UpdateOrg(ctx, services.Scope{}, o)
		wantErr(t, "UpdateOrg(zero scope)", err, services.ErrNotFound)
	}
	unknown := want
	unknown.ID = "nope"
	_, err = s.UpdateOrg(ctx, services.ScopeAll(), unknown)
	wantErr(t, "UpdateOrg(unknown)", err, services.ErrNotFound)

	// Taking another school's code conflicts and changes nothing.
	s2 := orgs[6]
	s2.Code = "3100000001"
	_, err = s.UpdateOrg(ctx, services.ScopeAll(), s2)
	wantErr(t, "UpdateOrg(duplicate code)", err, services.ErrConflict)
	stored2, err := s.Org(ctx, services.ScopeAll(), "s2")
	noErr(t, "Org", err)
	if d := diff(orgs[6], stored2); d != "" {
		t.Errorf("s2 after conflicting update (-want +got):\n%s", d)
	}

	// A second update from the new version works; the code may be cleared.
	next := want
	next.Code = ""
	got2, err := s.UpdateOrg(ctx, services.ScopeAll(), next)
	noErr(t, "UpdateOrg(second)", err)
	if got2.Version != want.Version+1 || got2.Code != "" {
		t.Errorf("second update: version %d code %q, want %d and empty", got2.Version, got2.Code, want.Version+1)
	}
}

func testOrgDelete(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	all := services.ScopeAll()
	// d1 has children; s3 has a user.
	wantErr(t, "DeleteOrg(with children)", s.DeleteOrg(ctx, all, "d1", 1), services.ErrConflict)
	noErr(t, "CreateUsers", s.CreateUsers(ctx, []services.User{user("u1", "teacher3", "s3", "c1", "d2", "s3")}))
	wantErr(t, "DeleteOrg(with users)", s.DeleteOrg(ctx, all, "s3", 1), services.ErrConflict)
	if _, err := s.Org(ctx, all, "s3"); err != nil {
		t.Fatalf("s3 gone after refused delete: %v", err)
	}

	wantErr(t, "DeleteOrg(stale)", s.DeleteOrg(ctx, all, "s1", 7), services.ErrStale)
	wantErr(t, "DeleteOrg(outside scope)", s.DeleteOrg(ctx, services.ScopeOrg("d2"), "s1", 1), services.ErrNotFound)
	wantErr(t, "DeleteOrg(zero scope)", s.DeleteOrg(ctx, services.Scope{}, "s1", 1), services.ErrNotFound)
	wantErr(t, "DeleteOrg(unknown)", s.DeleteOrg(ctx, all, "nope", 1), services.ErrNotFound)

	noErr(t, "DeleteOrg(s1)", s.DeleteOrg(ctx, services.ScopeOrg("d1"), "s1", 1))
	_, err := s.Org(ctx, all, "s1")
	wantErr(t, "Org after delete", err, services.ErrNotFound)
	wantErr(t, "DeleteOrg again", s.DeleteOrg(ctx, all, "s1", 1), services.ErrNotFound)
	list, err := s.Orgs(ctx, services.ScopeOrg("d1"), services.OrgQuery{})
	noErr(t, "Orgs", err)
	if d := cmp.Diff([]string{"d1", "s2"}, orgIDs(list)); d != "" {
		t.Errorf("Orgs(d1) after delete (-want +got):\n%s", d)
	}
	// Once its last child is gone the district can go too, and its id and
	// code are free again.
	noErr(t, "DeleteOrg(s2)", s.DeleteOrg(ctx, all, "s2", 1))
	noErr(t, "DeleteOrg(d1)", s.DeleteOrg(ctx, all, "d1", 1))
	noErr(t, "CreateOrg(s1 again)", s.CreateOrg(ctx, tree()[5]))
}

// user returns a teacher of org with path, version 1.
func user(id, username, org string, path ...string) services.User {
	return services.User{
		ID: id, Username: username, Name: "用户 " + id, Role: services.RoleTeacher,
		OrgID: org, OrgPath: path, PasswordHash: "$argon2id$" + id, MustChangePassword: true,
		Version: 1, CreatedAt: at(0), UpdatedAt: at(0),
	}
}

func testUserRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	full := services.User{
		ID: "u1", Username: "Zhang.San", Name: "张三", Mobile: "13800000001", Role: services.RolePrincipal,
		OrgID: "s1", OrgPath: []string{"c1", "d1", "s1"}, PasswordHash: "$argon2id$v=19$abc",
		MustChangePassword: true, Disabled: true, PasswordChangedAt: at(5),
		Version: 4, CreatedAt: at(1), UpdatedAt: at(2),
	}
	admin := services.User{ID: "u2", Username: "root", Name: "管理员", Role: services.RoleSysadmin,
		PasswordHash: "h", Version: 1, CreatedAt: at(3), UpdatedAt: at(3)}
	noErr(t, "CreateUsers", s.CreateUsers(ctx, []services.User{full, admin}))
	for _, want := range []services.User{full, admin} {
		got, err := s.User(ctx, services.ScopeAll(), want.ID)
		noErr(t, "User", err)
		if d := diff(want, got); d != "" {
			t.Errorf("User(%s) (-want +got):\n%s", want.ID, d)
		}
		checkUTC(t, "User", got.CreatedAt, got.UpdatedAt, got.PasswordChangedAt)
	}
	_, err := s.User(ctx, services.ScopeAll(), "nope")
	wantErr(t, "User(unknown)", err, services.ErrNotFound)
	// A user without an org is only visible to the whole tree.
	_, err = s.User(ctx, services.ScopeOrg("c1"), "u2")
	wantErr(t, "User(no org, scoped)", err, services.ErrNotFound)
	noErr(t, "CreateUsers(empty)", s.CreateUsers(ctx, nil))
}

func testUserAllOrNothing(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	noErr(t, "CreateUsers", s.CreateUsers(ctx, []services.User{user("u1", "taken", "s1", "c1", "d1", "s1")}))
	tests := []struct {
		name  string
		batch []services.User
	}{
		{"username taken", []services.User{
			user("u2", "a", "s1", "c1", "d1", "s1"),
			user("u3", "b", "s1", "c1", "d1", "s1"),
			user("u4", "taken", "s1", "c1", "d1", "s1"),
			user("u5", "c", "s1", "c1", "d1", "s1"),
		}},
		{"username twice in batch", []services.User{
			user("u2", "a", "s1", "c1", "d1", "s1"),
			user("u3", "b", "s1", "c1", "d1", "s1"),
			user("u4", "b", "s1", "c1", "d1", "s1"),
		}},
		{"id taken", []services.User{
			user("u2", "a", "s1", "c1", "d1", "s1"),
			user("u1", "b", "s1", "c1", "d1", "s1"),
		}},
		{"mobile twice in batch", func() []services.User {
			a, b := user("u2", "a", "s1", "c1", "d1", "s1"), user("u3", "b", "s1", "c1", "d1", "s1")
			a.Mobile, b.Mobile = "13900000000", "13900000000"
			return []services.User{a, b}
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "CreateUsers", s.CreateUsers(ctx, tt.batch), services.ErrConflict)
			for _, u := range tt.batch {
				if u.ID == "u1" {
					continue
				}
				_, err := s.User(ctx, services.ScopeAll(), u.ID)
				wantErr(t, "User "+u.ID+" after failed batch", err, services.ErrNotFound)
			}
			n, err := s.CountUsers(ctx, services.ScopeAll(), services.UserQuery{})
			noErr(t, "CountUsers", err)
			if n != 1 {
				t.Errorf("CountUsers = %d after failed batch, want 1", n)
			}
		})
	}
	// The usernames of the failed batches are still free.
	noErr(t, "CreateUsers(retry)", s.CreateUsers(ctx, []services.User{user("u2", "a", "s1", "c1", "d1", "s1"), user("u3", "b", "s1", "c1", "d1", "s1")}))
}

func testUserConflicts(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	var batch []services.User
	for i := range 5 {
		// Empty mobile numbers never conflict.
		batch = append(batch, user(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i), "s1", "c1", "d1", "s1"))
	}
	batch[0].Mobile = "13800000001"
	noErr(t, "CreateUsers", s.CreateUsers(ctx, batch))
	dup := user("u9", "other", "s1", "c1", "d1", "s1")
	dup.Mobile = "13800000001"
	wantErr(t, "CreateUsers(mobile taken)", s.CreateUsers(ctx, []services.User{dup}), services.ErrConflict)
	dup.Mobile = "13800000002"
	noErr(t, "CreateUsers(other mobile)", s.CreateUsers(ctx, []services.User{dup}))
	n, err := s.CountUsers(ctx, services.ScopeAll(), services.UserQuery{})
	noErr(t, "CountUsers", err)
	if n != 6 {
		t.Errorf("CountUsers = %d, want 6", n)
	}
}

func testUserLogin(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	a := user("u1", "zhangsan", "s1", "c1", "d1", "s1")
	a.Mobile = "13800000001"
	b := user("u2", "lisi", "s2", "c1", "d1", "s2")
	noErr(t, "CreateUsers", s.CreateUsers(ctx, []services.User{a, b}))
	tests := []struct {
		login string
		want  string
		err   error
	}{
		{"zhangsan", "u1", nil},
		{"13800000001", "u1", nil},
		{"lisi", "u2", nil},
		{"wangwu", "", services.ErrNotFound},
		{"", "", services.ErrNotFound},
		{"u1", "", services.ErrNotFound},
		{"' OR '1'='1", "", services.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.UserByLogin(ctx, tt.login)
		if tt.err != nil {
			wantErr(t, fmt.Sprintf("UserByLogin(%q)", tt.login), err, tt.err)
			continue
		}
		noErr(t, fmt.Sprintf("UserByLogin(%q)", tt.login), err)
		if got.ID != tt.want {
			t.Errorf("UserByLogin(%q) = %s, want %s", tt.login, got.ID, tt.want)
		}
	}
	got, err := s.UserByLogin(ctx, "zhangsan")
	noErr(t, "UserByLogin", err)
	if d := diff(a, got); d != "" {
		t.Errorf("UserByLogin content (-want +got):\n%s", d)
	}
}

// seedUsers stores tree() and one teacher per school, a district admin
// per district, a city admin per city and a sysadmin without an org.
func seedUsers(t *testing.T, s Store) []services.User {
	t.Helper()
	orgs := seedTree(t, s)
	var users []services.User
	for _, o := range orgs {
		u := user("u-"+o.ID, "user-"+o.ID, o.ID, o.Path...)
		u.Role = map[services.OrgKind]services.Role{
			services.OrgCity: services.RoleCityAdmin, services.OrgDistrict: services.RoleDistrictAdmin,
			services.OrgSchool: services.RoleTeacher}[o.Kind]
		users = append(users, u)
	}
	p := user("u-s1p", "principal-s1", "s1", "c1", "d1", "s1")
	p.Role = services.RolePrincipal
	root := user("u-root", "root", "")
	root.Role = services.RoleSysadmin
	users = append(users, p, root)
	noErr(t, "CreateUsers", s.CreateUsers(t.Context(), users))
	slices.SortFunc(users, func(a, b services.User) int { return strings.Compare(a.ID, b.ID) })
	return users
}

func testUserScope(t *testing.T, s Store) {
	ctx := t.Context()
	users := seedUsers(t, s)
	tests := []struct {
		name    string
		scope   services.Scope
		visible []string
	}{
		{"all", services.ScopeAll(), userIDs(users)},
		{"zero", services.Scope{}, nil},
		{"city", services.ScopeOrg("c1"), []string{"u-c1", "u-d1", "u-d2", "u-s1", "u-s1p", "u-s2", "u-s3"}},
		{"district", services.ScopeOrg("d1"), []string{"u-d1", "u-s1", "u-s1p", "u-s2"}},
		{"other district", services.ScopeOrg("d2"), []string{"u-d2", "u-s3"}},
		{"school", services.ScopeOrg("s1"), []string{"u-s1", "u-s1p"}},
		{"unknown", services.ScopeOrg("zz"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.Users(ctx, tt.scope, services.UserQuery{Page: services.Page{Limit: 100}})
			noErr(t, "Users", err)
			if d := cmp.Diff(tt.visible, userIDs(list), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Users ids (-want +got):\n%s", d)
			}
			for _, u := range users {
				got, err := s.User(ctx, tt.scope, u.ID)
				if slices.Contains(tt.visible, u.ID) {
					noErr(t, "User "+u.ID, err)
					if d := diff(u, got); d != "" {
						t.Errorf("User(%s) (-want +got):\n%s", u.ID, d)
					}
				} else {
					wantErr(t, "User "+u.ID, err, services.ErrNotFound)
				}
			}
		})
	}
}

func testUserList(t *testing.T, s Store) {
	ctx := t.Context()
	users := seedUsers(t, s)
	all, d1 := services.ScopeAll(), services.ScopeOrg("d1")
	tests := []struct {
		name  string
		scope services.Scope
		q     services.UserQuery
		want  []string
	}{
		{"org", all, services.UserQuery{OrgID: "s1"}, []string{"u-s1", "u-s1p"}},
		{"org is not subtree", all, services.UserQuery{OrgID: "d1"}, []string{"u-d1"}},
		{"role", all, services.UserQuery{Role: services.RoleTeacher}, []string{"u-s1", "u-s2", "u-s3", "u-s4"}},
		{"role scoped", d1, services.UserQuery{Role: services.RoleTeacher}, []string{"u-s1", "u-s2"}},
		{"org and role", d1, services.UserQuery{OrgID: "s1", Role: services.RolePrincipal}, []string{"u-s1p"}},
		{"org outside scope", d1, services.UserQuery{OrgID: "s3"}, nil},
		{"sysadmin", all, services.UserQuery{Role: services.RoleSysadmin}, []string{"u-root"}},
		{"after", all, services.UserQuery{Role: services.RoleTeacher, Page: services.Page{After: "u-s1"}}, []string{"u-s2", "u-s3", "u-s4"}},
		{"limit", d1, services.UserQuery{Page: services.Page{Limit: 3}}, []string{"u-d1", "u-s1", "u-s1p"}},
		{"injection", all, services.UserQuery{OrgID: "x' OR 1=1 --"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Users(ctx, tt.scope, tt.q)
			noErr(t, "Users", err)
			if d := cmp.Diff(tt.want, userIDs(got), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Users ids (-want +got):\n%s", d)
			}
			if tt.q.Page == (services.Page{}) {
				n, err := s.CountUsers(ctx, tt.scope, tt.q)
				noErr(t, "CountUsers", err)
				if n != int64(len(tt.want)) {
					t.Errorf("CountUsers = %d, want %d", n, len(tt.want))
				}
			}
		})
	}
	got, err := s.Users(ctx, all, services.UserQuery{OrgID: "s1"})
	noErr(t, "Users", err)
	var want []services.User
	for _, u := range users {
		if u.OrgID == "s1" {
			want = append(want, u)
		}
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Users content (-want +got):\n%s", d)
	}
}

func testUserPaginate(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	// 25 users, more than DefaultLimit, in one batch.
	var batch []services.User
	for i := range 25 {
		org, path := "s1", []string{"c1", "d1", "s1"}
		if i%3 == 0 {
			org, path = "s3", []string{"c1", "d2", "s3"}
		}
		batch = append(batch, user(services.NewID(at(i)), fmt.Sprintf("user%02d", i), org, path...))
	}
	noErr(t, "CreateUsers", s.CreateUsers(ctx, batch))
	def, err := s.Users(ctx, services.ScopeAll(), services.UserQuery{})
	noErr(t, "Users", err)
	if len(def) != services.DefaultLimit {
		t.Errorf("Users with Limit 0 returned %d, want DefaultLimit %d", len(def), services.DefaultLimit)
	}
	for _, scope := range []services.Scope{services.ScopeAll(), services.ScopeOrg("d1"), services.ScopeOrg("c1")} {
		var want []string
		for _, u := range batch {
			if scope.Covers(u.OrgPath) {
				want = append(want, u.ID)
			}
		}
		slices.Sort(want)
		var got []string
		after := ""
		for range 30 {
			page, err := s.Users(ctx, scope, services.UserQuery{Page: services.Page{After: after, Limit: 4}})
			noErr(t, "Users page", err)
			if len(page) > 4 {
				t.Fatalf("page of %d, want at most 4", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, userIDs(page)...)
			after = page[len(page)-1].ID
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("paginated %+v (-want +got):\n%s", scope, d)
		}
	}
}

func testUserUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	users := seedUsers(t, s)
	byID := func(id string) services.User {
		i := slices.IndexFunc(users, func(u services.User) bool { return u.ID == id })
		return users[i]
	}
	other := byID("u-s2")
	other.Mobile = "13900000002"
	other, err := s.UpdateUser(ctx, services.ScopeAll(), other)
	noErr(t, "UpdateUser(other)", err)

	orig := byID("u-s1")
	upd := orig
	upd.Name, upd.Mobile, upd.Role = "新名字", "13900000001", services.RolePrincipal
	upd.OrgID, upd.OrgPath = "s3", []string{"c1", "d2", "s3"}
	upd.PasswordHash, upd.MustChangePassword, upd.Disabled = "new-hash", false, true
	upd.PasswordChangedAt, upd.UpdatedAt = at(20), at(20)
	sent := upd
	sent.Username, sent.CreatedAt = "renamed", at(99)
	got, err := s.UpdateUser(ctx, services.ScopeOrg("d1"), sent)
	noErr(t, "UpdateUser", err)
	want := upd
	want.Version = orig.Version + 1
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateUser returned (-want +got):\n%s", d)
	}
	stored, err := s.User(ctx, services.ScopeAll(), orig.ID)
	noErr(t, "User", err)
	if d := diff(want, stored); d != "" {
		t.Errorf("stored after UpdateUser (-want +got):\n%s", d)
	}
	// The user moved to s3: its scope follows the new OrgPath.
	_, err = s.User(ctx, services.ScopeOrg("d1"), orig.ID)
	wantErr(t, "User(old scope)", err, services.ErrNotFound)
	if _, err := s.User(ctx, services.ScopeOrg("d2"), orig.ID); err != nil {
		t.Errorf("User(new scope): %v", err)
	}
	list, err := s.Users(ctx, services.ScopeOrg("d1"), services.UserQuery{})
	noErr(t, "Users", err)
	if d := cmp.Diff([]string{"u-d1", "u-s1p", "u-s2"}, userIDs(list)); d != "" {
		t.Errorf("Users(d1) after move (-want +got):\n%s", d)
	}
	// The new mobile number signs in; the username did not change.
	if u, err := s.UserByLogin(ctx, "13900000001"); err != nil || u.ID != orig.ID {
		t.Errorf("UserByLogin(new mobile) = %s, %v", u.ID, err)
	}
	if u, err := s.UserByLogin(ctx, orig.Username); err != nil || u.ID != orig.ID {
		t.Errorf("UserByLogin(username) = %s, %v", u.ID, err)
	}
	_, err = s.UserByLogin(ctx, "renamed")
	wantErr(t, "UserByLogin(renamed)", err, services.ErrNotFound)

	_, err = s.UpdateUser(ctx, services.ScopeAll(), upd)
	wantErr(t, "UpdateUser(stale)", err, services.ErrStale)
	_, err = s.UpdateUser(ctx, services.ScopeOrg("d1"), want)
	wantErr(t, "UpdateUser(outside scope)", err, services.ErrNotFound)
	_, err = s.UpdateUser(ctx, services.ScopeOrg("d1"), upd)
	wantErr(t, "UpdateUser(outside scope, stale)", err, services.ErrNotFound)
	_, err = s.UpdateUser(ctx, services.Scope{}, want)
	wantErr(t, "UpdateUser(zero scope)", err, services.ErrNotFound)
	unknown := want
	unknown.ID = "nope"
	_, err = s.UpdateUser(ctx, services.ScopeAll(), unknown)
	wantErr(t, "UpdateUser(unknown)", err, services.ErrNotFound)

	// Taking another user's mobile number conflicts and changes nothing.
	dup := want
	dup.Mobile, dup.Name = other.Mobile, "changed"
	_, err = s.UpdateUser(ctx, services.ScopeAll(), dup)
	wantErr(t, "UpdateUser(mobile taken)", err, services.ErrConflict)
	stored, err = s.User(ctx, services.ScopeAll(), orig.ID)
	noErr(t, "User", err)
	if d := diff(want, stored); d != "" {
		t.Errorf("stored after conflicting update (-want +got):\n%s", d)
	}
	// Clearing the mobile number frees it.
	cleared := want
	cleared.Mobile = ""
	_, err = s.UpdateUser(ctx, services.ScopeAll(), cleared)
	noErr(t, "UpdateUser(clear mobile)", err)
	_, err = s.UserByLogin(ctx, "13900000001")
	wantErr(t, "UserByLogin(cleared mobile)", err, services.ErrNotFound)
}

func testUserCount(t *testing.T, s Store) {
	ctx := t.Context()
	for _, sc := range []services.Scope{{}, services.ScopeOrg("nowhere")} {
		if n, err := s.CountUsers(ctx, sc, services.UserQuery{}); err != nil || n != 0 {
			t.Errorf("CountUsers in %+v = %d, %v; want 0", sc, n, err)
		}
		if n, err := s.CountOrgs(ctx, sc, services.OrgQuery{}); err != nil || n != 0 {
			t.Errorf("CountOrgs in %+v = %d, %v; want 0", sc, n, err)
		}
	}
	n, err := s.CountUsers(ctx, services.ScopeAll(), services.UserQuery{})
	noErr(t, "CountUsers", err)
	if n != 0 {
		t.Errorf("CountUsers on an empty store = %d", n)
	}
	users := seedUsers(t, s)
	n, err = s.CountUsers(ctx, services.ScopeAll(), services.UserQuery{})
	noErr(t, "CountUsers", err)
	if n != int64(len(users)) {
		t.Errorf("CountUsers = %d, want %d", n, len(users))
	}
}

func testUserConcurrentCreate(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateUsers(ctx, []services.User{user(fmt.Sprintf("u%d", i), "same", "s1", "c1", "d1", "s1")})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, services.ErrConflict):
			t.Errorf("goroutine %d: err = %v, want nil or ErrConflict", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates succeeded, want exactly 1", ok)
	}
	c, err := s.CountUsers(ctx, services.ScopeAll(), services.UserQuery{})
	noErr(t, "CountUsers", err)
	if c != 1 {
		t.Errorf("CountUsers = %d, want 1", c)
	}
}

// session returns an active session of user created at minute m.
func session(id, userID string, m int) services.Session {
	return services.Session{
		ID: id, UserID: userID, Device: "iPhone", UserAgent: "huizong/1.0", IP: "10.0.0.1",
		CurrentHash: "hash-" + id, CreatedAt: at(m), RotatedAt: at(m), LastUsedAt: at(m), ExpiresAt: at(m + 60*24*30),
	}
}

func testSessionRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	full := services.Session{
		ID: "s1", UserID: "u1", Device: "华为 Mate", UserAgent: "Mozilla/5.0", IP: "2001:db8::1",
		CurrentHash: "cur", PrevHash: "prev", Generation: 3,
		CreatedAt: at(0), RotatedAt: at(1), LastUsedAt: at(2), ExpiresAt: at(100), RevokedAt: at(3),
	}
	plain := session("s2", "u1", 5)
	for _, want := range []services.Session{full, plain} {
		noErr(t, "CreateSession", s.CreateSession(ctx, want))
		got, err := s.Session(ctx, want.ID)
		noErr(t, "Session", err)
		if d := diff(want, got); d != "" {
			t.Errorf("Session(%s) (-want +got):\n%s", want.ID, d)
		}
		checkUTC(t, "Session", got.CreatedAt, got.RotatedAt, got.LastUsedAt, got.ExpiresAt, got.RevokedAt)
	}
	wantErr(t, "CreateSession(duplicate)", s.CreateSession(ctx, plain), services.ErrConflict)
	_, err := s.Session(ctx, "nope")
	wantErr(t, "Session(unknown)", err, services.ErrNotFound)
}

func testSessionRotate(t *testing.T, s Store) {
	ctx := t.Context()
	orig := session("s1", "u1", 0)
	noErr(t, "CreateSession", s.CreateSession(ctx, orig))
	r := services.Rotation{CurrentHash: "h1", PrevHash: orig.CurrentHash, Generation: 1,
		RotatedAt: at(10), ExpiresAt: at(5000), IP: "10.0.0.2"}
	noErr(t, "RotateSession", s.RotateSession(ctx, "s1", 0, r))
	want := orig
	want.CurrentHash, want.PrevHash, want.Generation = r.CurrentHash, r.PrevHash, r.Generation
	want.RotatedAt, want.LastUsedAt, want.ExpiresAt, want.IP = r.RotatedAt, r.RotatedAt, r.ExpiresAt, r.IP
	got, err := s.Session(ctx, "s1")
	noErr(t, "Session", err)
	if d := diff(want, got); d != "" {
		t.Errorf("after RotateSession (-want +got):\n%s", d)
	}
	// Replaying the same rotation is stale and changes nothing.
	r2 := r
	r2.CurrentHash = "h-other"
	wantErr(t, "RotateSession(stale)", s.RotateSession(ctx, "s1", 0, r2), services.ErrStale)
	wantErr(t, "RotateSession(future)", s.RotateSession(ctx, "s1", 5, r2), services.ErrStale)
	got, err = s.Session(ctx, "s1")
	noErr(t, "Session", err)
	if d := diff(want, got); d != "" {
		t.Errorf("after stale RotateSession (-want +got):\n%s", d)
	}
	// The next generation rotates.
	r3 := services.Rotation{CurrentHash: "h2", PrevHash: "h1", Generation: 2, RotatedAt: at(20), ExpiresAt: at(6000), IP: "10.0.0.3"}
	noErr(t, "RotateSession(next)", s.RotateSession(ctx, "s1", 1, r3))
	got, err = s.Session(ctx, "s1")
	noErr(t, "Session", err)
	if got.Generation != 2 || got.CurrentHash != "h2" || got.PrevHash != "h1" {
		t.Errorf("after second rotation: generation %d current %q prev %q", got.Generation, got.CurrentHash, got.PrevHash)
	}
	wantErr(t, "RotateSession(unknown)", s.RotateSession(ctx, "nope", 0, r), services.ErrNotFound)
}

func testSessionConcurrentRotate(t *testing.T, s Store) {
	ctx := t.Context()
	noErr(t, "CreateSession", s.CreateSession(ctx, session("s1", "u1", 0)))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.RotateSession(ctx, "s1", 0, services.Rotation{
				CurrentHash: fmt.Sprintf("h%d", i), PrevHash: "hash-s1", Generation: 1,
				RotatedAt: at(1), ExpiresAt: at(1000)})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both rotated", winner, i)
			}
			winner = i
		case !errors.Is(err, services.ErrStale):
			t.Errorf("goroutine %d: err = %v, want nil or ErrStale", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no rotation succeeded")
	}
	got, err := s.Session(ctx, "s1")
	noErr(t, "Session", err)
	if want := fmt.Sprintf("h%d", winner); got.CurrentHash != want || got.Generation != 1 {
		t.Errorf("session at generation %d hash %q, want 1 and %q", got.Generation, got.CurrentHash, want)
	}
}

func testSessionRevoke(t *testing.T, s Store) {
	ctx := t.Context()
	noErr(t, "CreateSession", s.CreateSession(ctx, session("s1", "u1", 0)))
	noErr(t, "CreateSession", s.CreateSession(ctx, session("s2", "u1", 1)))
	// Another user cannot revoke it.
	wantErr(t, "RevokeSession(other user)", s.RevokeSession(ctx, "u2", "s1", at(5)), services.ErrNotFound)
	wantErr(t, "RevokeSession(unknown)", s.RevokeSession(ctx, "u1", "nope", at(5)), services.ErrNotFound)
	got, err := s.Session(ctx, "s1")
	noErr(t, "Session", err)
	if !got.RevokedAt.IsZero() {
		t.Fatalf("s1 revoked by another user at %v", got.RevokedAt)
	}
	noErr(t, "RevokeSession", s.RevokeSession(ctx, "u1", "s1", at(5)))
	noErr(t, "RevokeSession(again)", s.RevokeSession(ctx, "u1", "s1", at(9)))
	got, err = s.Session(ctx, "s1")
	noErr(t, "Session", err)
	if d := diff(at(5), got.RevokedAt); d != "" {
		t.Errorf("RevokedAt (-want +got):\n%s", d)
	}
	if got.Active(at(6)) {
		t.Error("revoked session still active")
	}
	other, err := s.Session(ctx, "s2")
	noErr(t, "Session", err)
	if !other.RevokedAt.IsZero() {
		t.Errorf("s2 revoked too at %v", other.RevokedAt)
	}
}

func testSessionRevokeUser(t *testing.T, s Store) {
	ctx := t.Context()
	for i, u := range []string{"u1", "u1", "u1", "u2"} {
		noErr(t, "CreateSession", s.CreateSession(ctx, session(fmt.Sprintf("s%d", i), u, i)))
	}
	noErr(t, "RevokeSession", s.RevokeSession(ctx, "u1", "s0", at(3)))
	noErr(t, "RevokeUserSessions", s.RevokeUserSessions(ctx, "u1", "s2", at(7)))
	want := map[string]time.Time{"s0": at(3), "s1": at(7), "s2": {}, "s3": {}}
	for id, revoked := range want {
		got, err := s.Session(ctx, id)
		noErr(t, "Session", err)
		if d := diff(revoked, got.RevokedAt); d != "" {
			t.Errorf("%s RevokedAt (-want +got):\n%s", id, d)
		}
	}
	// Without an exception every session goes.
	noErr(t, "RevokeUserSessions(all)", s.RevokeUserSessions(ctx, "u1", "", at(8)))
	got, err := s.UserSessions(ctx, "u1", at(9))
	noErr(t, "UserSessions", err)
	if len(got) != 0 {
		t.Errorf("UserSessions after revoking all = %v", got)
	}
	noErr(t, "RevokeUserSessions(no sessions)", s.RevokeUserSessions(ctx, "u9", "", at(8)))
}

func testUserSessions(t *testing.T, s Store) {
	ctx := t.Context()
	mk := func(id, userID string, created int, expires int) services.Session {
		ss := session(id, userID, created)
		ss.ExpiresAt = at(expires)
		return ss
	}
	all := []services.Session{
		mk("a", "u1", 1, 100),
		mk("b", "u1", 3, 100),
		mk("c", "u1", 2, 100),
		mk("d", "u1", 4, 50),  // expires before now
		mk("e", "u1", 5, 100), // revoked below
		mk("f", "u2", 6, 100), // another user
		mk("g", "u1", 7, 60),  // expires exactly at now: no longer active
	}
	for _, ss := range all {
		noErr(t, "CreateSession", s.CreateSession(ctx, ss))
	}
	noErr(t, "RevokeSession", s.RevokeSession(ctx, "u1", "e", at(8)))
	got, err := s.UserSessions(ctx, "u1", at(60))
	noErr(t, "UserSessions", err)
	want := []services.Session{all[1], all[2], all[0]}
	if d := diff(want, got); d != "" {
		t.Errorf("UserSessions (-want +got):\n%s", d)
	}
	got, err = s.UserSessions(ctx, "nobody", at(60))
	noErr(t, "UserSessions(nobody)", err)
	if len(got) != 0 {
		t.Errorf("UserSessions(nobody) = %v", got)
	}
}

func testSessionDelete(t *testing.T, s Store) {
	ctx := t.Context()
	mk := func(id string, expires int) services.Session {
		ss := session(id, "u1", 0)
		ss.ExpiresAt = at(expires)
		return ss
	}
	for _, ss := range []services.Session{
		mk("expired", 10),
		mk("expires-at-cut", 50),
		mk("revoked-early", 100),
		mk("revoked-late", 100),
		mk("live", 100),
	} {
		noErr(t, "CreateSession", s.CreateSession(ctx, ss))
	}
	noErr(t, "RevokeSession", s.RevokeSession(ctx, "u1", "revoked-early", at(20)))
	noErr(t, "RevokeSession", s.RevokeSession(ctx, "u1", "revoked-late", at(70)))
	n, err := s.DeleteSessions(ctx, at(50))
	noErr(t, "DeleteSessions", err)
	if n != 2 {
		t.Errorf("DeleteSessions = %d, want 2", n)
	}
	for id, gone := range map[string]bool{"expired": true, "revoked-early": true, "expires-at-cut": false, "revoked-late": false, "live": false} {
		_, err := s.Session(ctx, id)
		if gone {
			wantErr(t, "Session "+id, err, services.ErrNotFound)
		} else {
			noErr(t, "Session "+id, err)
		}
	}
	n, err = s.DeleteSessions(ctx, at(50))
	noErr(t, "DeleteSessions(again)", err)
	if n != 0 {
		t.Errorf("DeleteSessions again = %d, want 0", n)
	}
}

func testKeys(t *testing.T, s Store) {
	ctx := t.Context()
	got, err := s.Keys(ctx)
	noErr(t, "Keys(empty)", err)
	if len(got) != 0 {
		t.Errorf("Keys on an empty store = %v", got)
	}
	keys := []services.SigningKey{
		{ID: "k1", Algorithm: "EdDSA", PrivateKey: []byte{0x30, 0x2e, 0, 1, 0xff}, CreatedAt: at(0)},
		{ID: "k3", Algorithm: "EdDSA", PrivateKey: []byte{3, 0, 3}, CreatedAt: at(20)},
		{ID: "k2", Algorithm: "ES256", PrivateKey: []byte{2, 2}, CreatedAt: at(10), RetiredAt: at(15)},
	}
	for _, k := range keys {
		noErr(t, "CreateKey", s.CreateKey(ctx, k))
	}
	dup := keys[0]
	dup.CreatedAt = at(30)
	wantErr(t, "CreateKey(duplicate)", s.CreateKey(ctx, dup), services.ErrConflict)
	got, err = s.Keys(ctx)
	noErr(t, "Keys", err)
	want := []services.SigningKey{keys[1], keys[2], keys[0]}
	if d := diff(want, got); d != "" {
		t.Errorf("Keys (-want +got):\n%s", d)
	}
	for _, k := range got {
		checkUTC(t, "Keys", k.CreatedAt, k.RetiredAt)
	}
	noErr(t, "RetireKey", s.RetireKey(ctx, "k1", at(40)))
	wantErr(t, "RetireKey(unknown)", s.RetireKey(ctx, "nope", at(40)), services.ErrNotFound)
	got, err = s.Keys(ctx)
	noErr(t, "Keys", err)
	want[2].RetiredAt = at(40)
	if d := diff(want, got); d != "" {
		t.Errorf("Keys after RetireKey (-want +got):\n%s", d)
	}
}
