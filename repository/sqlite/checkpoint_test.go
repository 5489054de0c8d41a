package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCheckpointKeepsLogSmall writes 192 MiB through the writer, with
// the automatic checkpoint off: the background checkpointer must keep the
// write-ahead log far below that, and everything must be in the database.
func TestCheckpointKeepsLogSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 192 MiB")
	}
	dir := t.TempDir()
	s := openAt(t, dir)
	ctx := t.Context()
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE ck_blobs (id INTEGER PRIMARY KEY, b BLOB)`); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		maxWAL int64
	)
	const n = 3072 // of 64 KiB
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if fi, err := os.Stat(filepath.Join(dir, "huizong.db-wal")); err == nil {
				mu.Lock()
				maxWAL = max(maxWAL, fi.Size())
				mu.Unlock()
			}
		}
	}()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if err := s.tx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO ck_blobs (id, b) VALUES (?, zeroblob(65536))`, i)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	<-watched
	var count int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM ck_blobs`).Scan(&count); err != nil || count != n {
		t.Fatalf("%d rows (%v), want %d", count, err, n)
	}
	t.Logf("largest write-ahead log: %.1f MiB for %d MiB written", float64(maxWAL)/(1<<20), n/16)
	if maxWAL > 96<<20 {
		t.Errorf("the write-ahead log reached %.1f MiB: the background checkpoint does not keep up", float64(maxWAL)/(1<<20))
	}
}
