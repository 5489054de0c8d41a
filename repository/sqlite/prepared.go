package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// hotWrites are the statements every record submission runs. They are
// prepared once on the writer connection at open: parsing a 26-column
// INSERT costs more than running it, and the single writer is what bounds
// how many records a second the store takes.
func hotWrites() []string {
	q := []string{insertRecordSQL, insertEventSQL, savepointSQL, releaseSQL, rollbackToSQL,
		dropEmptyCellSQL, dropEmptyDistrictSQL}
	for n := 1; n <= 4; n++ {
		q = append(q, scopeInsert(n))
	}
	for n := 1; n <= maxUpsertCells; n++ {
		q = append(q, upsertCellsSQL(n), upsertDistrictSQL(n))
	}
	return q
}

// prepareWrites prepares qs on db (the writer, one connection).
func prepareWrites(ctx context.Context, db *sql.DB, qs []string) (map[string]*sql.Stmt, error) {
	out := make(map[string]*sql.Stmt, len(qs))
	for _, q := range qs {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			closeStmts(out)
			return nil, err
		}
		out[q] = st
	}
	return out, nil
}

func closeStmts(m map[string]*sql.Stmt) error {
	var errs []error
	for _, st := range m {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// queryTx runs q in tx, through its prepared statement when it is a hot
// one, and returns its rows.
func (s *Store) queryTx(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st, ok := s.prepared[q]; ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}

// execTx runs q in tx, through its prepared statement when it is a hot one.
func (s *Store) execTx(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	return execPrepared(ctx, tx, s.prepared, q, args...)
}

func execPrepared(ctx context.Context, tx *sql.Tx, prepared map[string]*sql.Stmt, q string, args ...any) (sql.Result, error) {
	if st, ok := prepared[q]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// maxReadStmts bounds the read statements kept prepared: queries are
// built from a few fixed shapes (a scope's condition, a filter or not),
// but a list with an IN of any length would otherwise grow it forever.
const maxReadStmts = 256

// readStmts prepares read queries on the reader pool once, on first use,
// and keeps them: database/sql then prepares each on a connection the
// first time that connection runs it, and never parses it again.
type readStmts struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newReadStmts(db *sql.DB) *readStmts {
	return &readStmts{db: db, m: map[string]*sql.Stmt{}}
}

// get returns q prepared, or nil when the cache is full or q does not
// prepare (the caller then runs it unprepared, and sees the error there).
func (c *readStmts) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.RLock()
	st, ok := c.m[q]
	c.mu.RUnlock()
	if ok {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st
	}
	if len(c.m) >= maxReadStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.m[q] = st
	return st
}

func (c *readStmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return closeStmts(c.m)
}

// queryRow runs a read of one row on the readers, prepared.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.reads.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, q, args...)
}

// query runs a read on the readers, prepared.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.reads.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, q, args...)
}
