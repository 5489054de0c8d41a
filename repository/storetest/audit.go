package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
)

// The contract for the audit log, beyond the interface comments:
//   - Stores keep every field of an AuditEvent as given.
//   - AuditEvents lists ID descending, keyset ID < Page.After, with
//     Page.Normalize; ScopeAll sees every event, ScopeOrg(x) the events
//     whose OrgPath contains x (so none of an empty path), the zero Scope
//     nothing.
//   - Kinds, ActorID and SubjectID are exact matches (Kinds any of them);
//     From <= At < To.
func runAudit(t *testing.T, open func(t *testing.T) Store) {
	t.Run("RoundTrip", func(t *testing.T) { testAuditRoundTrip(t, open(t)) })
	t.Run("Query", func(t *testing.T) { testAuditQuery(t, open(t)) })
}

// auditEvent is an event at minute m of kind, by actor, in path.
func auditEvent(m int, kind services.AuditKind, actor string, path ...string) services.AuditEvent {
	return services.AuditEvent{ID: fmt.Sprintf("a%04d", m), At: at(m), Kind: kind, ActorID: actor,
		ActorName: "user-" + actor, SubjectType: "user", SubjectID: "s" + actor, OrgPath: path}
}

func auditIDs(list []services.AuditEvent) []string {
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.ID
	}
	return ids
}

func testAuditRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	want := services.AuditEvent{ID: "a0001", At: at(1), Kind: services.AuditLoginFailed, Login: "张三'; DROP TABLE audit; --",
		IP: "203.0.113.9", UserAgent: "huizong-app/2.1 (Android 14)", SubjectType: "user", SubjectID: "u1",
		SubjectName: "zhangsan", ActorName: "", OrgPath: []string{"c1", "d1", "s1"}, Detail: "wrong_password"}
	noErr(t, "AppendAudit", s.AppendAudit(ctx, []services.AuditEvent{want}))
	wantErr(t, "AppendAudit(duplicate)", s.AppendAudit(ctx, []services.AuditEvent{want}), services.ErrConflict)
	for _, sc := range []services.Scope{services.ScopeAll(), services.ScopeOrg("c1"), services.ScopeOrg("s1")} {
		got, err := s.AuditEvents(ctx, sc, services.AuditQuery{})
		noErr(t, "AuditEvents", err)
		if len(got) != 1 {
			t.Fatalf("AuditEvents(%+v) = %v, want the one event", sc, auditIDs(got))
		}
		if d := diff(want, got[0]); d != "" {
			t.Errorf("AuditEvents(%+v) mismatch (-want +got):\n%s", sc, d)
		}
		checkUTC(t, "AuditEvents", got[0].At)
	}
}

func testAuditQuery(t *testing.T, s Store) {
	ctx := t.Context()
	events := []services.AuditEvent{
		auditEvent(1, services.AuditLoginFailed, ""),               // unknown login: no unit
		auditEvent(2, services.AuditLogin, "u1", "c1", "d1", "s1"), // teacher of s1
		auditEvent(3, services.AuditPasswordChanged, "u1", "c1", "d1", "s1"),
		auditEvent(4, services.AuditRoleChanged, "u9", "c1", "d2", "s7"), // another district
		auditEvent(5, services.AuditKeyRotated, "u0"),                    // no unit
		auditEvent(6, services.AuditUserDisabled, "u9", "c1", "d1"),      // a district admin
	}
	noErr(t, "AppendAudit", s.AppendAudit(ctx, events[:1]))
	noErr(t, "AppendAudit", s.AppendAudit(ctx, events[1:]))
	type tc struct {
		name string
		sc   services.Scope
		q    services.AuditQuery
		want []string
	}
	for _, c := range []tc{
		{"all", services.ScopeAll(), services.AuditQuery{}, []string{"a0006", "a0005", "a0004", "a0003", "a0002", "a0001"}},
		{"zero scope", services.Scope{}, services.AuditQuery{}, nil},
		{"district", services.ScopeOrg("d1"), services.AuditQuery{}, []string{"a0006", "a0003", "a0002"}},
		{"city", services.ScopeOrg("c1"), services.AuditQuery{}, []string{"a0006", "a0004", "a0003", "a0002"}},
		{"school", services.ScopeOrg("s1"), services.AuditQuery{}, []string{"a0003", "a0002"}},
		{"kind", services.ScopeAll(), services.AuditQuery{Kinds: []services.AuditKind{services.AuditLogin}}, []string{"a0002"}},
		{"kinds", services.ScopeOrg("c1"), services.AuditQuery{Kinds: []services.AuditKind{services.AuditLogin, services.AuditRoleChanged}},
			[]string{"a0004", "a0002"}},
		{"actor", services.ScopeAll(), services.AuditQuery{ActorID: "u9"}, []string{"a0006", "a0004"}},
		{"actor in district", services.ScopeOrg("d1"), services.AuditQuery{ActorID: "u9"}, []string{"a0006"}},
		{"subject", services.ScopeAll(), services.AuditQuery{SubjectID: "su1"}, []string{"a0003", "a0002"}},
		{"from to", services.ScopeAll(), services.AuditQuery{From: at(2), To: at(5)}, []string{"a0004", "a0003", "a0002"}},
		{"page", services.ScopeAll(), services.AuditQuery{Page: services.Page{Limit: 2}}, []string{"a0006", "a0005"}},
		{"after", services.ScopeAll(), services.AuditQuery{Page: services.Page{After: "a0005", Limit: 2}}, []string{"a0004", "a0003"}},
		{"after in scope", services.ScopeOrg("d1"), services.AuditQuery{Page: services.Page{After: "a0003"}}, []string{"a0002"}},
		{"from only", services.ScopeOrg("d1"), services.AuditQuery{From: at(3).Add(time.Millisecond)}, []string{"a0006"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.AuditEvents(ctx, c.sc, c.q)
			noErr(t, "AuditEvents", err)
			if ids := auditIDs(got); !slices.Equal(ids, c.want) && (len(ids) > 0 || len(c.want) > 0) {
				t.Errorf("AuditEvents = %v, want %v", ids, c.want)
			}
		})
	}
}
