package services

import (
	"testing"
	"time"
)

// TestIDSequence: ids increase strictly when the clock stands still or
// steps back, and follow the clock when it moves on.
func TestIDSequence(t *testing.T) {
	var q idSequence
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	steps := []time.Time{t0, t0, t0, t0.Add(-time.Hour), t0, t0.Add(time.Millisecond), t0.Add(time.Second)}
	prev := ""
	for i, at := range steps {
		id := q.next(at)
		if len(id) != 26 || id <= prev {
			t.Fatalf("step %d: id %q not after %q", i, id, prev)
		}
		prev = id
	}
	// Once the clock is past the last id, ids carry the clock's time again.
	later := t0.Add(time.Minute)
	if id := q.next(later); id[:9] != NewID(later)[:9] {
		t.Errorf("id %q does not start with the time of %v (%q)", id, later, NewID(later))
	}
}
