package services

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huizong/huizong/services/media"
)

func TestDecodeBudgetSemaphoreBound(t *testing.T) {
	for _, tt := range []struct {
		name   string
		budget int64
		sizes  []int64
	}{
		{"equal shares", 100, []int64{25, 25, 25, 25, 25, 25, 25, 25, 25, 25}},
		{"mixed", 100, []int64{90, 10, 50, 50, 30, 70, 1, 99, 40, 60, 20, 80}},
		{"larger than the budget run alone", 100, []int64{500, 30, 1000, 30, 30}},
		{"zero counts as one byte", 3, []int64{0, 0, 0, 0, 0, 0}},
		{"real budget", DecodeBudget, []int64{media.MaxDecodedBytes, 144 << 20, 400 << 20, 72 << 20, media.MaxDecodedBytes, 10 << 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newDecodeBudget(tt.budget)
			var inUse, peak atomic.Int64
			var wg sync.WaitGroup
			for _, n := range tt.sizes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					held, err := b.acquire(context.Background(), n)
					if err != nil {
						t.Error(err)
						return
					}
					if want := min(max(1, n), tt.budget); held != want {
						t.Errorf("acquire(%d) took %d, want %d", n, held, want)
					}
					now := inUse.Add(held)
					for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
					}
					time.Sleep(2 * time.Millisecond)
					inUse.Add(-held)
					b.release(held)
				}()
			}
			wg.Wait()
			if p := peak.Load(); p > tt.budget || p <= 0 {
				t.Errorf("peak in use %d, budget %d", p, tt.budget)
			}
			// Everything was given back: the whole budget is free again.
			if !b.sem.TryAcquire(tt.budget) {
				t.Error("budget not fully released")
			}
		})
	}
}

func TestDecodeBudgetSemaphoreCancel(t *testing.T) {
	b := newDecodeBudget(100)
	held, err := b.acquire(context.Background(), 80)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.acquire(ctx, 50)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("acquire over budget returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelling ctx did not unblock the waiter")
	}
	// The cancelled waiter took nothing: 20 bytes are still free.
	b.release(held)
	if !b.sem.TryAcquire(100) {
		t.Error("cancelled waiter left part of the budget taken")
	}
}

// The service budgets decode memory by default, with room for two of the
// largest images Inspect lets through.
func TestAttachmentDecodeBudgetDefaults(t *testing.T) {
	if DecodeBudget < 2*media.MaxDecodedBytes {
		t.Errorf("DecodeBudget %d admits fewer than two of the largest images (%d)", DecodeBudget, media.MaxDecodedBytes)
	}
	a := NewAttachments(nil, nil, 1)
	if a.memory == nil || a.memory.total != DecodeBudget {
		t.Errorf("NewAttachments budget %+v, want %d", a.memory, DecodeBudget)
	}
}
