package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huizong/huizong/services"
)

// maxGroup bounds how many write transactions share one commit. Offline
// batches fill groups (16 records of each batch in flight): at 256 a
// commit's log write and fsync are shared by four times as many records
// as at 64 (huizong-bench -mix batch: 5,180 vs 4,910 records/s).
const maxGroup = 256

// writeReq is one write transaction waiting for the writer: fn, or cfn
// for one that also moves totals (a record write).
type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	cfn  func(tx *sql.Tx, cells *cellSink) error
	done chan error
}

func (r writeReq) call(tx *sql.Tx, cells *cellSink) error {
	if r.cfn != nil {
		return r.cfn(tx, cells)
	}
	return r.fn(tx)
}

// cellSink takes the totals deltas of one write transaction. Alone, the
// transaction applies them at once. In a group each member's deltas are
// kept until it succeeds, and the group applies the deltas of all its
// members together, merged by cell: a burst of records of one school,
// template and month moves each of its cells once, not once per record.
type cellSink struct {
	apply   func(deltas []services.Cell) error // alone: apply now
	pending []services.Cell
}

// add applies deltas, or keeps them for the group. A delta refused on its
// own (services.CheckDelta) fails the member at once, in its savepoint.
func (k *cellSink) add(deltas []services.Cell) error {
	if k.apply != nil {
		return k.apply(deltas)
	}
	for _, d := range deltas {
		if err := services.CheckDelta("sqlite.applyCells", d); err != nil {
			return err
		}
	}
	k.pending = append(k.pending, deltas...)
	return nil
}

// cellMerge sums the deltas of a group's members, by cell, in the order
// cells first appear.
type cellMerge struct {
	cells []services.Cell
	at    map[services.CellKey]int
}

// add merges deltas; an error means a merged sum does not fit in int64
// (the group then runs its members one by one, each told on its own).
func (m *cellMerge) add(deltas []services.Cell) error {
	if m.at == nil {
		m.at = map[services.CellKey]int{}
	}
	for _, d := range deltas {
		if i, ok := m.at[d.CellKey]; ok {
			if err := m.cells[i].Add(d, 1); err != nil {
				return err
			}
			continue
		}
		d.Sums = maps.Clone(d.Sums)
		m.at[d.CellKey] = len(m.cells)
		m.cells = append(m.cells, d)
	}
	return nil
}

// take returns the merged deltas that change something and empties m.
func (m *cellMerge) take() []services.Cell {
	var out []services.Cell
	for _, c := range m.cells {
		if c.Count != 0 || len(c.Sums) > 0 {
			out = append(out, c)
		}
	}
	m.cells, m.at = nil, nil
	return out
}

// errRegroup rolls a group back when its merged totals could not be
// applied: its members then commit one by one.
type errRegroup struct{ err error }

func (e errRegroup) Error() string { return "group totals: " + e.err.Error() }

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
	// apply moves totals cells by deltas inside a write transaction.
	apply func(ctx context.Context, tx *sql.Tx, deltas []services.Cell) error
	// regroups counts groups whose merged totals failed and that then
	// committed member by member.
	regroups atomic.Int64
	// wholeFallbacks counts groups that ran again with savepoints because
	// a member failed.
	wholeFallbacks atomic.Int64
	// restart is set by the checkpointer when the log should start over.
	restart *atomic.Bool
	queue   chan writeReq
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
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

func newCommitter(db *sql.DB, prepared map[string]*sql.Stmt,
	apply func(ctx context.Context, tx *sql.Tx, deltas []services.Cell) error, restart *atomic.Bool) *committer {
	c := &committer{db: db, prepared: prepared, apply: apply, restart: restart, queue: make(chan writeReq, maxGroup),
		stop: make(chan struct{})}
	c.wg.Add(1)
	go c.loop()
	return c
}

// errClosed answers writes after Close.
var errClosed = errors.New("store closed")

// do runs fn in a write transaction and reports its outcome once the
// transaction holding it has committed (or rolled back).
func (c *committer) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return c.send(writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// doCells is do for a transaction that moves totals through cells.
func (c *committer) doCells(ctx context.Context, fn func(tx *sql.Tx, cells *cellSink) error) error {
	return c.send(writeReq{ctx: ctx, cfn: fn, done: make(chan error, 1)})
}

func (c *committer) send(req writeReq) error {
	ctx := req.ctx
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
		c.restartLog()
	}
}

// restartLog starts the write-ahead log over when the checkpointer asks
// (checkpoint.go): between two commits, so no write waits for a lock, and
// cheaply, since the checkpointer has copied most of the log already.
func (c *committer) restartLog() {
	if c.restart == nil || !c.restart.CompareAndSwap(true, false) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(RESTART)`)
}

// run commits one group. A lone transaction runs plainly under its own
// context. A group runs under a context of its own, its members one after
// the other and the totals deltas of its members applied together
// (merged by cell) after them, or before a member that does not go
// through a cellSink and may read the cells.
//
// A group first runs without savepoints: a savepoint makes SQLite copy
// every page a member touches first, and the members of a group touch the
// same pages (the newest leaf of each index), so each would copy them
// again. Should a member fail, that attempt is rolled back whole and the
// group runs again with each member in its own savepoint, so only the
// member at fault is refused. Members may therefore run twice; a failed
// attempt leaves nothing behind.
func (c *committer) run(group []writeReq) {
	if len(group) == 1 {
		r := group[0]
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			return
		}
		r.done <- inTx(r.ctx, c.db, func(tx *sql.Tx) error {
			return r.call(tx, &cellSink{apply: func(d []services.Cell) error { return c.apply(r.ctx, tx, d) }})
		})
		return
	}
	if c.runWhole(group) {
		return
	}
	c.runSavepoints(group)
}

// errMember aborts a group's attempt without savepoints: a member failed.
var errMember = errors.New("a member failed")

// runWhole tries group without savepoints. It reports false, with nothing
// written and no member told, when a member failed; otherwise every
// member has its answer.
func (c *committer) runWhole(group []writeReq) bool {
	errs := make([]error, len(group))
	var merged cellMerge
	flush := func(tx *sql.Tx) error {
		if cells := merged.take(); len(cells) > 0 {
			if err := c.apply(context.Background(), tx, cells); err != nil {
				return errRegroup{err}
			}
		}
		return nil
	}
	err := inTx(context.Background(), c.db, func(tx *sql.Tx) error {
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err // not run: nothing to undo
				continue
			}
			if r.cfn == nil {
				if err := flush(tx); err != nil {
					return err
				}
			}
			sink := &cellSink{}
			if err := r.call(tx, sink); err != nil {
				return errMember
			}
			if err := merged.add(sink.pending); err != nil {
				return errRegroup{err}
			}
		}
		return flush(tx)
	})
	switch {
	case errors.Is(err, errMember):
		c.wholeFallbacks.Add(1)
		return false
	case errors.As(err, new(errRegroup)):
		c.regroup(group)
		return true
	}
	for i, r := range group {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		r.done <- errs[i]
	}
	return true
}

// regroup runs each member of a group whose merged totals failed (a
// merged cell would overflow, or could not be written) on its own, so
// only the one at fault is refused.
func (c *committer) regroup(group []writeReq) {
	c.regroups.Add(1)
	for _, r := range group {
		c.run([]writeReq{r})
	}
}

// runSavepoints runs group with each member in a savepoint: a member that
// fails rolls back to it and leaves the others alone.
func (c *committer) runSavepoints(group []writeReq) {
	errs := make([]error, len(group))
	var merged cellMerge
	flush := func(tx *sql.Tx) error {
		if cells := merged.take(); len(cells) > 0 {
			if err := c.apply(context.Background(), tx, cells); err != nil {
				return errRegroup{err}
			}
		}
		return nil
	}
	err := inTx(context.Background(), c.db, func(tx *sql.Tx) error {
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if r.cfn == nil {
				if err := flush(tx); err != nil {
					return err
				}
			}
			if _, err := execPrepared(context.Background(), tx, c.prepared, savepointSQL); err != nil {
				return err
			}
			sink := &cellSink{}
			if err := r.call(tx, sink); err != nil {
				errs[i] = err
				if _, err := execPrepared(context.Background(), tx, c.prepared, rollbackToSQL); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
			} else if err := merged.add(sink.pending); err != nil {
				return errRegroup{err}
			}
			if _, err := execPrepared(context.Background(), tx, c.prepared, releaseSQL); err != nil {
				return err
			}
		}
		return flush(tx)
	})
	if errors.As(err, new(errRegroup)) {
		c.regroup(group)
		return
	}
	for i, r := range group {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		r.done <- errs[i]
	}
}
