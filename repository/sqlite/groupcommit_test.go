package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
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
	// Groups with a failing member were tried whole first, then again
	// with savepoints: the rows above show the retry left nothing twice.
	if n := s.commits.wholeFallbacks.Load(); n == 0 {
		t.Error("no group fell back to savepoints: the failures never shared a commit")
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

// TestGroupTotalsMerged submits records of one school, template and
// month at once, so commits group them and merge their cells; a few are
// edited and withdrawn while others arrive, one would overflow its cell
// (the group then commits one by one and refuses only that one), and a
// plain transaction that reads the cells lands among them. The totals
// must equal a recount of the records.
func TestGroupTotalsMerged(t *testing.T) {
	ctx := t.Context()
	s := openAt(t, t.TempDir())
	createTree(t, s, "s")
	tmpl := services.Template{Key: "drill", Version: 1, Fields: []services.TemplateField{
		{Key: "count", Type: services.FieldInteger, Role: services.RoleMeasure},
		{Key: "kind", Type: services.FieldEnum, Role: services.RoleDimension,
			Options: []services.Option{{Value: "fire"}, {Value: "quake"}}}}}
	record := func(i int, count int64, month string) services.Record {
		kind := []string{"fire", "quake"}[i%2]
		r := services.Record{ID: fmt.Sprintf("r%03d", i), ClientID: fmt.Sprintf("c%03d", i), Template: "drill", TemplateVersion: 1,
			OrgID: "s", OrgPath: []string{"c", "d", "s"}, AuthorID: "u", OccurredOn: "2025-" + month + "-01",
			Data: []byte(fmt.Sprintf(`{"count":%d,"kind":%q}`, count, kind)), Status: services.StatusApproved, Version: 1}
		r.Rollup = services.RollupOf(r, tmpl)
		return r
	}
	// A cell of April almost full, alone first.
	full := record(1000, 1, "04")
	full.Rollup.Sums = map[string]int64{"count": math.MaxInt64 - 5}
	if err := s.CreateRecord(ctx, full, services.RecordEvent{ID: "efull", Version: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	const over = 77 // goes to the full April cell: refused
	errs := make([]error, n)
	var wg sync.WaitGroup
	// The writer is held while the records queue, so they commit in
	// groups (of up to maxGroup), the one beyond int64 among them.
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.tx(ctx, func(*sql.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	time.AfterFunc(200*time.Millisecond, func() { close(release) })
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			month := "03"
			if i == over {
				month = "04"
			}
			r := record(i, int64(1+i), month)
			if i == over {
				r = record(i+923, 1, month) // the full record's kind
				r.ID, r.ClientID = "r077", "c077"
			}
			if errs[i] = s.CreateRecord(ctx, r, services.RecordEvent{ID: "e" + r.ID, Version: 1}); errs[i] != nil {
				return
			}
			if i%10 == 0 { // edited at once: another kind, another count
				next := record(i+1, 5, month)
				next.ID, next.ClientID = r.ID, r.ClientID
				_, errs[i] = s.UpdateRecord(ctx, services.ScopeAll(), next, services.RecordEvent{ID: "u" + r.ID, Version: 2})
			}
			if i%25 == 0 { // a plain write among the grouped ones
				errs[i] = s.tx(ctx, func(tx *sql.Tx) error {
					var cells int
					return tx.QueryRowContext(ctx, `SELECT count(*) FROM totals`).Scan(&cells)
				})
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == over:
			var se *services.Error
			if !errors.As(err, &se) || len(se.Fields) == 0 || se.Fields[0].Code != services.CodeTotalOverflow {
				t.Errorf("the record beyond int64: %v, want total_overflow", err)
			}
		case err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	if n := s.commits.regroups.Load(); n == 0 {
		t.Error("no group fell back to one by one: the refusal inside a group was not exercised")
	}
	// The recount: the full record's contribution was set by hand (no
	// data holds that much), so it is counted as stored.
	rollup := func(r services.Record) (services.Rollup, error) {
		if r.ID == full.ID {
			return full.Rollup, nil
		}
		return services.RollupOf(r, tmpl), nil
	}
	for _, unit := range []string{"s", "d"} {
		drift, err := s.ReconcileTotals(ctx, unit, rollup, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(drift) != 0 {
			t.Errorf("%s: merged group totals drifted from the records: %+v", unit, drift)
		}
	}
}
