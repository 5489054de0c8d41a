package services_test

import (
	"context"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
)

// TestRefsServeNothingStale: through Refs a unit read twice is read once,
// a write through Refs is seen by the very next read, and a write around
// it (another process) after the TTL.
func TestRefsServeNothingStale(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := newClock()
	refs := services.NewRefs(st, st, st, time.Second, 100, clk.Now)
	now := clk.Now()
	city := services.Org{ID: "c1", Kind: services.OrgCity, Name: "市", Path: []string{"c1"}, Version: 1, CreatedAt: now, UpdatedAt: now}
	noErr(t, refs.CreateOrg(ctx, city))
	read := func() services.Org {
		t.Helper()
		o, err := refs.Org(ctx, services.ScopeAll(), "c1")
		noErr(t, err)
		return o
	}
	first := read()
	first.Path[0] = "changed by a caller" // a caller's copy: the cache keeps its own
	if got := read(); got.Path[0] != "c1" {
		t.Fatalf("a caller's change reached the cache: %v", got.Path)
	}

	city.Name, city.UpdatedAt = "成都市", now.Add(time.Second)
	updated, err := refs.UpdateOrg(ctx, services.ScopeAll(), city)
	noErr(t, err)
	if got := read(); got.Name != "成都市" || got.Version != updated.Version {
		t.Fatalf("after a write through Refs: %+v, want the new name at version %d", got, updated.Version)
	}

	other := updated
	other.Name = "另一个进程改的"
	_, err = st.UpdateOrg(ctx, services.ScopeAll(), other) // around the cache
	noErr(t, err)
	if got := read(); got.Name != "成都市" {
		t.Fatalf("within the TTL the cached unit is served, got %q", got.Name)
	}
	clk.Add(1100 * time.Millisecond)
	if got := read(); got.Name != "另一个进程改的" {
		t.Fatalf("after the TTL: %q, want the other process's write", got.Name)
	}

	noErr(t, refs.DeleteOrg(ctx, services.ScopeAll(), "c1", read().Version))
	if _, err := refs.Org(ctx, services.ScopeAll(), "c1"); err == nil {
		t.Fatal("a deleted unit is still served")
	}
}
