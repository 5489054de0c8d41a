package services

import (
	"math"
	"sync"
	"time"
)

// Limiter is an in-memory token bucket per key (an account, a client IP):
// each key holds up to burst tokens and earns one every interval. The
// number of keys is bounded; when full, buckets that refilled completely
// (idle keys, indistinguishable from new ones) are dropped first, then an
// arbitrary one, so memory stays flat under a flood of distinct keys. It is
// safe for concurrent use. A nil *Limiter allows everything.
type Limiter struct {
	every   time.Duration
	burst   float64
	maxKeys int
	clock   Clock

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a Limiter that lets each key spend burst requests at
// once and one more every interval, tracking at most maxKeys keys.
func NewLimiter(every time.Duration, burst, maxKeys int, clock Clock) *Limiter {
	if every <= 0 {
		every = time.Second
	}
	if burst < 1 {
		burst = 1
	}
	if maxKeys < 1 {
		maxKeys = 10000
	}
	return &Limiter{
		every:   every,
		burst:   float64(burst),
		maxKeys: maxKeys,
		clock:   clock,
		buckets: make(map[string]*bucket),
	}
}

// Allow spends one token of key. When none is left it reports false and
// how long until one is.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.AllowN(key, 1)
}

// AllowN spends n tokens of key at once (a batch of n records), or none:
// when fewer are left it reports false and how long until there are
// enough. n above the burst is charged as the burst, so the largest
// request allowed can always pass once the bucket is full.
func (l *Limiter) AllowN(key string, n int) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	cost := min(max(float64(n), 1), l.burst)
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= cost {
		b.tokens -= cost
		return true, 0
	}
	wait := time.Duration(math.Ceil((cost - b.tokens) * float64(l.every)))
	return false, wait
}

// Len reports how many keys are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
		b.at = now
	}
}

// evict makes room for one key. The full sweep runs at most once per
// interval so a flood of new keys costs O(1) per key in between.
func (l *Limiter) evict(now time.Time) {
	if now.Sub(l.lastSweep) >= l.every {
		l.lastSweep = now
		for k, b := range l.buckets {
			l.refill(b, now)
			if b.tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
	}
}
