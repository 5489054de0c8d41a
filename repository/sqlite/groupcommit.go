package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxGroup bounds how many write transactions share one commit.
const maxGroup = 64

// writeReq is one write transaction waiting for the writer.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
}

// committer runs every write transaction of the store on its one writer
// connection with group commit: while one commit (and its fsync under
// synchronous=FULL) is under way, the transactions that arrive queue up,
// and the next commit takes all of them, each in its own savepoint. A
// transaction that fails rolls back to its savepoint and leaves the
// others alone, so each keeps its all-or-nothing meaning while a burst of
// submissions pays for one fsync instead of dozens.
type committer struct {
	db       *sql.DB
	prepared map[string]*sql.Stmt
	queue    chan writeReq
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	// mu orders enqueueing against close: do holds it shared while it
	// sends, close takes it exclusively before closing stop, so every
	// request that made it into the queue is there before the loop drains
	// it for the last time. Without it a send could win the select against
	// a closed stop after that drain and wait forever.
	mu     sync.RWMutex
	closed bool
}

// The savepoint statements, prepared with the other hot writes.
const (
	savepointSQL  = `SAVEPOINT w`
	releaseSQL    = `RELEASE w`
	rollbackToSQL = `ROLLBACK TO w`
)

func newCommitter(db *sql.DB, prepared map[string]*sql.Stmt) *committer {
	c := &committer{db: db, prepared: prepared, queue: make(chan writeReq, maxGroup), stop: make(chan struct{})}
	c.wg.Add(1)
	go c.loop()
	return c
}

// errClosed answers writes after Close.
var errClosed = errors.New("store closed")

// do runs fn in a write transaction and reports its outcome once the
// transaction holding it has committed (or rolled back).
func (c *committer) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	req := writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	select {
	case c.queue <- req:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	c.mu.RUnlock()
	// Once queued, fn may already be running: wait for it, whatever the
	// context says, so the caller never returns while fn uses its values.
	return <-req.done
}

// close stops the writer after the queued writes are done.
func (c *committer) close() {
	c.once.Do(func() {
		// The loop keeps draining while senders finish, so this waits
		// only for sends already under way.
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.stop)
		c.wg.Wait()
	})
}

func (c *committer) loop() {
	defer c.wg.Done()
	for {
		var first writeReq
		select {
		case first = <-c.queue:
		case <-c.stop:
			// Writes that won the race with stop still get an answer.
			for {
				select {
				case r := <-c.queue:
					c.run([]writeReq{r})
				default:
					return
				}
			}
		}
		group := []writeReq{first}
	fill:
		for len(group) < maxGroup {
			select {
			case r := <-c.queue:
				group = append(group, r)
			default:
				break fill
			}
		}
		c.run(group)
	}
}

// run commits one group. A lone transaction runs plainly under its own
// context; a group runs under a context of its own, each member in a
// savepoint under the member's context.
func (c *committer) run(group []writeReq) {
	if len(group) == 1 {
		r := group[0]
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			return
		}
		r.done <- inTx(r.ctx, c.db, r.fn)
		return
	}
	errs := make([]error, len(group))
	err := inTx(context.Background(), c.db, func(tx *sql.Tx) error {
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if _, err := execPrepared(context.Background(), tx, c.prepared, savepointSQL); err != nil {
				return err
			}
			if err := r.fn(tx); err != nil {
				errs[i] = err
				if _, err := execPrepared(context.Background(), tx, c.prepared, rollbackToSQL); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
			}
			if _, err := execPrepared(context.Background(), tx, c.prepared, releaseSQL); err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range group {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		r.done <- errs[i]
	}
}
