package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/huizong/huizong/services"
)

// FileName is the name of the database file inside the data directory.
const FileName = "huizong.db"

// migrationFiles holds the schema, one numbered file per change. Append a
// file to change the schema; never edit one that has shipped.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options tunes the store; the zero value is the safe default.
type Options struct {
	// Synchronous is "FULL" (the default) or "NORMAL". In WAL mode FULL
	// syncs the log at every commit, so a committed write survives a power
	// cut; NORMAL syncs only at checkpoints, so the last commits before a
	// power cut (never an application crash) may be lost, but the database
	// stays consistent. On the reference machine (STORAGE.md) FULL sustained
	// 2,835 write transactions/s and NORMAL 6,471: choose NORMAL only where
	// losing the last second of reports to a power cut is acceptable.
	Synchronous string
	// ReadConns caps the reader pool; 0 means max(4, GOMAXPROCS).
	ReadConns int
	// BusyTimeout is how long a statement waits for a lock another process
	// holds before failing with services.ErrUnavailable; 0 means 5 s.
	BusyTimeout time.Duration
	// Exclusive takes the data directory's lock (LockDir) for the store's
	// lifetime: the server opens its store so; tools that may run beside
	// it (backup, totals verify, admin reset-password) do not.
	Exclusive bool
	// MaxPages caps the database at that many pages (SQLite's
	// max_page_count; pages are 4 KiB): beyond it writes fail as on a full
	// disk. 0 leaves the size to the disk.
	MaxPages int
}

// Store is the embedded store. Its methods are safe for concurrent use.
type Store struct {
	// backupDSN opens a connection that may run VACUUM INTO, which the
	// query-only readers refuse.
	backupDSN string
	w         *sql.DB // the one writer connection: every write and transaction
	commits   *committer
	prepared  map[string]*sql.Stmt // hot writes, prepared on w
	r         *sql.DB              // query-only readers
	reads     *readStmts           // their prepared statements
	// checkpoints copies the log into the database file in the background.
	checkpoints *checkpointer
	// versions caches decoded template versions: a version never changes,
	// and every record submission reads its template.
	versions templateCache
	// writesFailing is set when a write failed for the disk's sake (full,
	// read-only, I/O error) and cleared when a probe write commits;
	// readiness is false while it is set.
	writesFailing atomic.Bool
	lock          *DirLock // the data directory, when Exclusive
}

// Open opens (creating if need be) the database in dir and brings its
// schema up to date.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	const op = "sqlite.Open"
	syncMode := strings.ToUpper(opts.Synchronous)
	switch syncMode {
	case "":
		syncMode = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("%s: synchronous %q: want FULL or NORMAL", op, opts.Synchronous)
	}
	// Absolute, so the driver never mistakes it for a "file:" URI.
	path, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if strings.ContainsRune(path, '?') {
		// The driver splits its DSN at the first '?'.
		return nil, fmt.Errorf("%s: path %q contains '?'", op, path)
	}
	var lock *DirLock
	if opts.Exclusive {
		if lock, err = LockDir(dir); err != nil {
			return nil, err
		}
	} else if err := ensureDir(dir); err != nil {
		return nil, err
	}
	s, err := open(ctx, path, opts)
	if err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// open opens the database file at path; Open has checked the directory.
func open(ctx context.Context, path string, opts Options) (*Store, error) {
	const op = "sqlite.Open"
	syncMode := strings.ToUpper(opts.Synchronous)
	if syncMode == "" {
		syncMode = "FULL"
	}
	// Created here, 0600, so the operating system names the cause of a
	// directory the server may not write (permission denied, read-only
	// file system), which SQLite reports only as "unable to open".
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, describePathErr(path, err)
	}
	f.Close()
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	common := []string{fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()), "foreign_keys(ON)", "journal_mode(WAL)",
		"cache_size(-16000)", "temp_store(MEMORY)"} // cache in KiB, per connection
	if opts.MaxPages > 0 {
		common = append(common, fmt.Sprintf("max_page_count(%d)", opts.MaxPages))
	}
	drv := newDriver()
	w := sql.OpenDB(connector{drv, dsn(path, url.Values{
		"_txlock": {"immediate"}, // take the write lock at BEGIN, not midway
		// The log is checkpointed in the background (checkpoint.go).
		"_pragma": slices.Concat(common, []string{"synchronous(" + syncMode + ")", "wal_autocheckpoint(0)",
			"journal_size_limit(67108864)"}), // a log grown past 64 MiB shrinks back when it restarts
	})})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if _, err := migrate(ctx, w, migrationFiles); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %s: %w", op, path, describeErr(err))
	}

	n := opts.ReadConns
	if n <= 0 {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	backupDSN := dsn(path, url.Values{"_pragma": common})
	r := sql.OpenDB(connector{drv, dsn(path, url.Values{"_pragma": slices.Concat(common, []string{"query_only(1)"})})})
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	prepared, err := prepareWrites(ctx, w, hotWrites())
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("%s: prepare: %w", op, mapErr(err))
	}
	ck := sql.OpenDB(connector{drv, dsn(path, url.Values{"_pragma": slices.Concat(common, []string{"synchronous(" + syncMode + ")"})})})
	ck.SetMaxOpenConns(1)
	s := &Store{backupDSN: backupDSN, w: w, r: r, reads: newReadStmts(r), prepared: prepared, checkpoints: startCheckpointer(ck)}
	s.commits = newCommitter(w, prepared, s.applyCells, &s.checkpoints.due)
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %s: %w", op, path, describeErr(err))
	}
	// The log and shared-memory files SQLite made take the process umask;
	// they hold the same secrets as the database.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.Close()
			return nil, describePathErr(path+suffix, err)
		}
	}
	return s, nil
}

// dsn builds a driver name: a plain path, then the driver's parameters.
func dsn(path string, q url.Values) string { return path + "?" + q.Encode() }

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the numbered files of fsys, in order.
func migrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the migrations of fsys that db has not seen, each in its
// own transaction together with its schema_migrations row, and returns the
// versions it applied.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS) ([]int, error) {
	ms, err := migrations(fsys)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int
	for _, m := range ms {
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			// Checked inside the transaction, so two processes opening the
			// same file cannot both apply a migration.
			var done bool
			if err := tx.QueryRowContext(ctx,
				`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMilli()); err != nil {
				return err
			}
			applied = append(applied, m.version)
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return applied, nil
}

// inTx runs fn in a transaction on db, committing if it returns nil.
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// tx runs fn in a write transaction (committed in a group with the
// transactions that queued behind the previous commit).
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := s.commits.do(ctx, fn)
	s.noteErr(err)
	if errors.Is(err, errClosed) {
		return fmt.Errorf("%w: %w", services.ErrUnavailable, err)
	}
	return err
}

// txCells is tx for a write that moves totals: its deltas go to cells,
// which applies them, or merges them with its group's (groupcommit.go).
func (s *Store) txCells(ctx context.Context, fn func(tx *sql.Tx, cells *cellSink) error) error {
	err := s.commits.doCells(ctx, fn)
	s.noteErr(err)
	if errors.Is(err, errClosed) {
		return fmt.Errorf("%w: %w", services.ErrUnavailable, err)
	}
	return err
}

// mapErr turns driver errors into the service sentinels, keeping the
// driver's error in the chain for logs.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return services.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", services.ErrConflict, err)
		}
		if storageFailure(err) {
			return fmt.Errorf("%w: %w", services.ErrStorage, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			// Still locked after busy_timeout: another process holds the
			// file (a backup tool, a second server).
			return fmt.Errorf("%w: %w", services.ErrUnavailable, err)
		}
	}
	return err
}

// wrap maps err and names the operation.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, mapErr(err))
}

// Name names the store.
func (s *Store) Name() string { return "sqlite" }

// Ping checks that both pools can reach the database and, after a write
// failed for the disk's sake, that a write commits again.
func (s *Store) Ping(ctx context.Context) error {
	if s.writesFailing.Load() {
		return s.probeWrite(ctx)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return wrap("sqlite.Ping", err)
	}
	return wrap("sqlite.Ping", s.r.PingContext(ctx))
}

// Close checkpoints the log into the database file and closes both pools,
// so a stopped server leaves one self-contained file behind.
func (s *Store) Close() error {
	s.commits.close()
	kerr := s.checkpoints.close()
	serr := errors.Join(closeStmts(s.prepared), s.reads.close(), kerr)
	rerr := s.r.Close()
	// Readers are closed first so the checkpoint can reset the whole log.
	_, cerr := s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	werr := s.w.Close()
	lerr := s.lock.Unlock() // last: nothing of the database is open now
	if err := errors.Join(serr, rerr, cerr, werr, lerr); err != nil {
		return fmt.Errorf("sqlite.Close: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the database to path while the store
// keeps serving: VACUUM INTO reads one snapshot in a read transaction, so
// writers carry on and the copy holds exactly the commits before it began.
// It refuses to overwrite an existing file.
func (s *Store) Backup(ctx context.Context, path string) error {
	const op = "sqlite.Backup"
	// The copy holds password hashes and the signing keys: it is created
	// empty with mode 0600 (VACUUM INTO fills an empty file), so it is
	// never readable by others, not even while being written.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", op, describePathErr(path, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("%s: %w", op, err)
	}
	// Not on the writer, which would hold up every write until the copy is
	// done, and not on a reader, which query_only forbids to write even the
	// new file: a connection of its own.
	db, err := sql.Open("sqlite", s.backupDSN)
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%s: %w", op, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		// The file did not exist before: a half-written copy must not be
		// mistaken for a backup.
		os.Remove(path)
		return wrap(op, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Restore replaces the database in dir with backupFile and returns the
// name the replaced database was kept under ("" when there was none). It
// takes the data directory's lock, so it refuses while a server runs on
// dir (ErrLocked, naming the server's process id). The backup is checked
// first (SQLite integrity check, and it must be a huizong database), then
// copied beside the live file and synced; the live file and its log are
// renamed to huizong.db.before-restore-<time> (with its -wal, so nothing
// it held is lost), and the copy renamed into place, so a crash leaves
// either the old or the new database, and the old one is never deleted.
func Restore(ctx context.Context, backupFile, dir string, now time.Time) (kept string, err error) {
	const op = "sqlite.Restore"
	if err := checkBackup(ctx, backupFile); err != nil {
		return "", fmt.Errorf("%s: %s: %w", op, backupFile, err)
	}
	lock, err := LockDir(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	defer lock.Unlock()
	tmp, err := copyTemp(backupFile, dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	target := filepath.Join(dir, FileName)
	if _, err := os.Stat(target); err == nil {
		kept = target + ".before-restore-" + now.UTC().Format("20060102T150405Z")
		// The log first: a crash between the two renames leaves the old
		// database with its log still beside it under one of the names.
		if err := os.Rename(target+"-wal", kept+"-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w", op, err)
		}
		if err := os.Rename(target, kept); err != nil {
			return "", fmt.Errorf("%s: %w", op, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	// The shared-memory index belongs to the old log; SQLite rebuilds it.
	if err := os.Remove(target + "-shm"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	return kept, nil
}

// checkBackup opens path read-only and checks it is an intact huizong
// database.
func checkBackup(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check(1)`).Scan(&result); err != nil {
		return fmt.Errorf("not a readable SQLite database: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("integrity check failed: %s", result)
	}
	var ok bool
	if err := db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations')`).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return errors.New("not a huizong database (no schema_migrations table)")
	}
	return nil
}

// copyTemp copies src to a new file in dir, synced, and returns its name.
func copyTemp(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, FileName+".restore-*")
	if err != nil {
		return "", err
	}
	name := out.Name()
	_, err = out.ReadFrom(in)
	if err == nil {
		err = out.Chmod(0o600)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Times are stored as unix milliseconds; the zero time as NULL.

func msOf(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func timeOf(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64).UTC()
}

// nullIfEmpty stores "" as NULL, so unique indexes ignore it.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
