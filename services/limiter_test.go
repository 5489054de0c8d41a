package services

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// testClock is a settable clock safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLimiter(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 10, 9, 8, 30, 0, 0, time.UTC)}
	l := NewLimiter(10*time.Second, 3, 100, clk.Now)

	type step struct {
		advance time.Duration
		key     string
		ok      bool
		retry   time.Duration
	}
	steps := []step{
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, 10 * time.Second}, // burst spent
		{0, "b", true, 0},                 // keys are independent
		{4 * time.Second, "a", false, 6 * time.Second},
		{6 * time.Second, "a", true, 0}, // one token earned
		{0, "a", false, 10 * time.Second},
		{time.Hour, "a", true, 0}, // refilled, but only to burst
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, 10 * time.Second},
	}
	for i, s := range steps {
		clk.Add(s.advance)
		ok, retry := l.Allow(s.key)
		if ok != s.ok || retry != s.retry {
			t.Fatalf("step %d: Allow(%q) = %v, %v; want %v, %v", i, s.key, ok, retry, s.ok, s.retry)
		}
	}
}

func TestLimiterBoundedKeys(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 10, 9, 8, 30, 0, 0, time.UTC)}
	l := NewLimiter(time.Second, 2, 50, clk.Now)
	for i := range 1000 {
		l.Allow(fmt.Sprint("ip-", i))
		if n := l.Len(); n > 50 {
			t.Fatalf("after %d keys the limiter holds %d, want <= 50", i+1, n)
		}
	}
	// Idle keys go first: a throttled key survives a sweep of idle ones.
	l = NewLimiter(time.Minute, 1, 3, clk.Now)
	l.Allow("attacker")
	clk.Add(time.Second)
	l.Allow("idle-1")
	l.Allow("idle-2")
	clk.Add(2 * time.Minute) // idle-1, idle-2 and attacker refill fully...
	l.Allow("attacker")      // ...but attacker spends again
	l.Allow("new")           // full: the sweep drops the idle keys
	if ok, _ := l.Allow("attacker"); ok {
		t.Fatal("a throttled key was evicted in favour of idle ones")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 10, 9, 8, 30, 0, 0, time.UTC)}
	l := NewLimiter(time.Hour, 10, 1000, clk.Now)
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, _ := l.Allow("k"); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Fatalf("%d of 50 concurrent requests allowed, want exactly the burst of 10", allowed)
	}
}

func TestNilLimiterAllows(t *testing.T) {
	var l *Limiter
	if ok, _ := l.Allow("x"); !ok {
		t.Fatal("nil limiter refused")
	}
}

func TestLimiterAllowN(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 10, 9, 8, 30, 0, 0, time.UTC)}
	l := NewLimiter(100*time.Millisecond, 1000, 100, clk.Now) // a burst of 1,000, 10 a second
	tests := []struct {
		advance time.Duration
		n       int
		ok      bool
		retry   time.Duration
	}{
		{0, 100, true, 0},                     // a batch of 100
		{0, 850, true, 0},                     // 950 spent
		{0, 100, false, 5 * time.Second},      // 50 left: all or nothing, 50 more in 5 s
		{0, 50, true, 0},                      // exactly what is left
		{time.Second, 10, true, 0},            // 10 refilled in a second
		{0, 1, false, 100 * time.Millisecond}, // empty
		{200 * time.Second, 5000, true, 0},    // over the burst is charged as the burst
		{0, 1, false, 100 * time.Millisecond},
	}
	for i, tt := range tests {
		clk.Add(tt.advance)
		ok, retry := l.AllowN("teacher", tt.n)
		if ok != tt.ok || retry != tt.retry {
			t.Errorf("step %d: AllowN(%d) = %v, %v; want %v, %v", i, tt.n, ok, retry, tt.ok, tt.retry)
		}
	}
}
