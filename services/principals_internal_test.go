package services

import (
	"testing"
	"time"
)

// TestPrincipalCacheStaleRead: what an Authenticate read before an
// invalidation is not stored after it; a full cache starts over.
func TestPrincipalCacheStaleRead(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewPrincipalCache(time.Second, 2, func() time.Time { return now })
	p := Principal{User: User{ID: "u1"}, SessionID: "s1"}
	_, gen, ok := c.lookup("tok")
	if ok {
		t.Fatal("hit on an empty cache")
	}
	c.Invalidate() // a revocation lands between the reads and the store
	c.store("tok", p, gen, now.Add(time.Hour))
	if _, _, ok := c.lookup("tok"); ok {
		t.Fatal("a principal read before an invalidation was stored after it")
	}
	_, gen, _ = c.lookup("tok")
	c.store("tok", p, gen, now.Add(time.Hour))
	if got, _, ok := c.lookup("tok"); !ok || got.User.ID != "u1" {
		t.Fatalf("lookup after store: %v %v", got, ok)
	}
	c.store("a", p, gen, now.Add(time.Hour))
	c.store("b", p, gen, now.Add(time.Hour)) // full: starts over
	if _, _, ok := c.lookup("tok"); ok {
		t.Fatal("a full cache kept growing")
	}
	c.store("short", p, gen, now.Add(10*time.Millisecond))
	now = now.Add(20 * time.Millisecond)
	if _, _, ok := c.lookup("short"); ok {
		t.Fatal("an entry outlived its token or session")
	}
}
