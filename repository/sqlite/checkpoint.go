package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointEvery is how often the background checkpointer copies the
// write-ahead log into the database file.
const checkpointEvery = 250 * time.Millisecond

// checkpointer copies committed pages from the write-ahead log into the
// database file on a connection of its own, so the writer never does it
// inside a commit: SQLite's automatic checkpoint (every 1,000 pages of
// log, a few times a second under load) would otherwise stall every
// submission queued behind that commit while pages are copied and the
// database file synced. PASSIVE never blocks the writer or readers; once
// the whole log is copied, the next write starts it over from the
// beginning, so the log stays small.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// due asks the writer to start the log over (committer.restartLog).
	due atomic.Bool
}

func startCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, stop: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(checkpointEvery)
		defer tick.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tick.C:
				c.checkpoint()
			}
		}
	}()
	return c
}

// restartFrames is the log length (in pages) past which a checkpoint
// that copied everything also starts the log over.
const restartFrames = 2048

// checkpoint copies what the log holds into the database file without
// blocking anyone (PASSIVE). Under a steady stream of commits the log is
// never found wholly copied when the next write begins, so it would grow
// without end: once it is long, the writer is asked to start it over
// between two commits (committer.restartLog), which then copies only what
// came in since this pass. The writer does it, not this connection: a
// RESTART here would wait for the write lock, which the writer takes back
// at once after every commit.
func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A failure (the disk) shows on the writer's next commit; the log
	// keeps everything meanwhile.
	var busy, log, done int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		return
	}
	if log > restartFrames {
		c.due.Store(true)
	}
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
	return c.db.Close()
}
