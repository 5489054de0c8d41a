package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// storageFailure reports whether err is the disk's fault rather than the
// request's: SQLite's full, I/O, read-only, cannot-open and permission
// codes, and the same causes as system errors.
func storageFailure(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.EDQUOT) || errors.Is(err, fs.ErrPermission)
}

// cause names why a storage operation failed in the words an operator
// acts on.
func cause(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return "no space left on device (or the database reached max_pages)"
		case sqlite3.SQLITE_READONLY:
			return "read-only file system or database file not writable"
		case sqlite3.SQLITE_CANTOPEN:
			return "cannot open the database file (permission denied or missing directory)"
		case sqlite3.SQLITE_PERM:
			return "permission denied"
		case sqlite3.SQLITE_IOERR:
			return "input/output error"
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return "the database file is damaged or not a huizong database"
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "no space left on device"
	case errors.Is(err, syscall.EROFS):
		return "read-only file system"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, syscall.ENOTDIR):
		return "a path component is not a directory"
	case errors.Is(err, syscall.EIO):
		return "input/output error"
	}
	return ""
}

// describePathErr names path and the cause of err, for start-up messages.
func describePathErr(path string, err error) error {
	if c := cause(err); c != "" {
		return fmt.Errorf("%s: %s: %w", path, c, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// health remembers that a write failed for the disk's sake, so readiness
// turns false until a probe write succeeds: a load balancer then sends
// phones to an instance that can keep their records.
func (s *Store) noteErr(err error) {
	if err != nil && storageFailure(err) {
		s.writesFailing.Store(true)
	}
}

// probeWrite commits, through the group committer like any write, a
// transaction that needs fresh pages as a record does (64 KiB written,
// then deleted, so the file keeps nothing of it): a probe rewriting one
// row in place could succeed on a full disk where every real write fails.
// It clears the failing mark when it commits.
func (s *Store) probeWrite(ctx context.Context) error {
	err := s.commits.do(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO readiness_probe (id, at, pad) VALUES (1, ?, zeroblob(65536))
			ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad`, time.Now().UnixMilli()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE readiness_probe SET pad = NULL WHERE id = 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite.Ping: write probe: %w", mapErr(err))
	}
	s.writesFailing.Store(false)
	return nil
}

// describeErr maps err like mapErr and, for a storage failure, says why.
func describeErr(err error) error {
	if c := cause(err); c != "" {
		return fmt.Errorf("%s: %w", c, mapErr(err))
	}
	return mapErr(err)
}

// execW runs one statement on the writer outside the group committer,
// noting a storage failure for readiness like every write.
func (s *Store) execW(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := s.w.ExecContext(ctx, query, args...)
	s.noteErr(err)
	return res, err
}
