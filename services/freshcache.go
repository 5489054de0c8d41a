package services

import (
	"sync"
	"time"
)

// freshCache keeps values for a short while, and never one read before
// the latest invalidation: a reader takes the generation with its miss
// (lookup) and passes it to store, which refuses the value when an
// invalidation came in between. Full, it starts over rather than track
// ages. PrincipalCache and Refs are built on it.
type freshCache[V any] struct {
	ttl   time.Duration
	max   int
	clock Clock

	mu      sync.RWMutex
	gen     uint64 // bumped by every invalidation
	entries map[string]freshEntry[V]
}

type freshEntry[V any] struct {
	v     V
	until time.Time
}

func newFreshCache[V any](ttl time.Duration, max int, clock Clock) *freshCache[V] {
	return &freshCache[V]{ttl: ttl, max: max, clock: clock, entries: map[string]freshEntry[V]{}}
}

// lookup returns the value kept for key, if still fresh, and the
// generation a caller that misses must pass to store.
func (c *freshCache[V]) lookup(key string) (V, uint64, bool) {
	now := c.clock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, c.gen, false
	}
	return e.v, c.gen, true
}

// store keeps v for key until the earlier of TTL and expires (zero: TTL),
// unless the cache was invalidated since gen was read (v may be stale).
func (c *freshCache[V]) store(key string, v V, gen uint64, expires time.Time) {
	until := c.clock().Add(c.ttl)
	if !expires.IsZero() && expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[key] = freshEntry[V]{v: v, until: until}
}

// invalidate forgets everything kept.
func (c *freshCache[V]) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}
