package sqlite

import (
	"context"
	"database/sql"
	"errors"
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
