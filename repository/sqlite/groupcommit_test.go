package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroupCommitIsolatesFailures runs many write transactions at once,
// every third of which writes and then fails: grouped into shared commits,
// each must still be all or nothing, and every caller must get its own
// outcome.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openAt(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE gc (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	const n = 300
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.tx(ctx, func(tx *sql.Tx) error {
				for j := range 2 {
					if _, err := tx.ExecContext(ctx, `INSERT INTO gc (k) VALUES (?)`, fmt.Sprintf("%d-%d", i, j)); err != nil {
						return err
					}
				}
				if i%3 == 0 {
					return boom
				}
				if i%7 == 0 {
					// A unique violation inside a group.
					_, err := tx.ExecContext(ctx, `INSERT INTO gc (k) VALUES (?)`, fmt.Sprintf("%d-0", i))
					return err
				}
				return nil
			})
		}()
	}
	wg.Wait()
	want := 0
	for i, err := range errs {
		switch {
		case i%3 == 0:
			if !errors.Is(err, boom) {
				t.Errorf("write %d: %v, want boom", i, err)
			}
		case i%7 == 0:
			if err == nil {
				t.Errorf("write %d: no unique violation", i)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			want += 2
		}
	}
	var got int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM gc`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%d rows, want %d: a failed transaction left writes behind", got, want)
	}
	var leaked int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM gc WHERE CAST(substr(k, 1, instr(k, '-') - 1) AS INTEGER) % 3 = 0`).Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Errorf("%d rows of failed transactions", leaked)
	}
}

// TestGroupCommitCancelled: a write whose context ends before it runs is
// not applied, and Close answers queued writes instead of hanging them.
func TestGroupCommitCancelled(t *testing.T) {
	s := openAt(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.tx(ctx, func(*sql.Tx) error { ran = true; return nil })
	if err == nil || ran {
		t.Errorf("cancelled write: err %v, ran %v", err, ran)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.commits.close()
		if err := s.tx(context.Background(), func(*sql.Tx) error { return nil }); err == nil {
			t.Error("write after close succeeded")
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("close hung")
	}
}
