package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/huizong/huizong/services"
)

func idemRequest(id string, at time.Time) services.IdempotentRequest {
	return services.IdempotentRequest{ID: id, UserID: "u1", RequestHash: "h-" + id, CreatedAt: at, ExpiresAt: at.Add(24 * time.Hour)}
}

func testIdempotencyClaim(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	r := idemRequest("k1", at)
	got, claimed, err := s.ClaimIdempotency(ctx, r)
	if err != nil || !claimed {
		t.Fatalf("first claim: claimed %v, err %v", claimed, err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("first claim returned (-want +got):\n%s", diff)
	}
	again := r
	again.RequestHash, again.CreatedAt = "other", at.Add(time.Second)
	got, claimed, err = s.ClaimIdempotency(ctx, again)
	if err != nil || claimed {
		t.Fatalf("second claim: claimed %v, err %v", claimed, err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("second claim returned the stored request (-want +got):\n%s", diff)
	}
	done := r
	done.Done, done.Status, done.Location, done.ETag, done.Body = true, 201, "/api/v1/orgs/x", `"v1"`, []byte(`{"id":"x"}`)
	if err := s.CompleteIdempotency(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, claimed, err = s.ClaimIdempotency(ctx, again)
	if err != nil || claimed {
		t.Fatalf("claim after complete: claimed %v, err %v", claimed, err)
	}
	if diff := cmp.Diff(done, got); diff != "" {
		t.Errorf("stored answer (-want +got):\n%s", diff)
	}
	// A done request is never released.
	if err := s.ReleaseIdempotency(ctx, r.ID, r.CreatedAt); err != nil {
		t.Fatal(err)
	}
	if _, claimed, _ := s.ClaimIdempotency(ctx, again); claimed {
		t.Error("a done request was released")
	}
}

func testIdempotencyRelease(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	r := idemRequest("k2", at)
	if _, claimed, err := s.ClaimIdempotency(ctx, r); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	// Releasing with another claim time leaves the claim alone.
	if err := s.ReleaseIdempotency(ctx, r.ID, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, claimed, _ := s.ClaimIdempotency(ctx, r); claimed {
		t.Fatal("released a claim made at another time")
	}
	if err := s.ReleaseIdempotency(ctx, r.ID, at); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := s.ClaimIdempotency(ctx, r); err != nil || !claimed {
		t.Fatalf("claim after release: %v %v", claimed, err)
	}
	if err := s.ReleaseIdempotency(ctx, "unknown", at); err != nil {
		t.Errorf("release of an unknown key: %v", err)
	}
}

func testIdempotencyConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := idemRequest("k3", at)
			r.RequestHash = fmt.Sprint("h", i)
			_, claimed, err := s.ClaimIdempotency(ctx, r)
			if err != nil {
				t.Error(err)
				return
			}
			if claimed {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 8 concurrent claims won, want 1", wins)
	}
}

func testIdempotencyExpire(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	old, fresh := idemRequest("old", at), idemRequest("fresh", at.Add(48*time.Hour))
	for _, r := range []services.IdempotentRequest{old, fresh} {
		if _, _, err := s.ClaimIdempotency(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteIdempotency(ctx, at.Add(25*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteIdempotency: %d, %v; want 1", n, err)
	}
	if _, claimed, _ := s.ClaimIdempotency(ctx, old); !claimed {
		t.Error("expired request still stored")
	}
	if _, claimed, _ := s.ClaimIdempotency(ctx, fresh); claimed {
		t.Error("fresh request was deleted")
	}
}
