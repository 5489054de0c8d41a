package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/huizong/huizong/services"
)

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// seed stores a small tree c1 > d1 > s1 with a teacher in s1.
func seed(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	for _, o := range []services.Org{
		{ID: "c1", Kind: services.OrgCity, Name: "c1", Path: []string{"c1"}, Version: 1, CreatedAt: t0},
		{ID: "d1", Kind: services.OrgDistrict, Name: "d1", ParentID: "c1", Path: []string{"c1", "d1"}, Version: 1, CreatedAt: t0},
		{ID: "s1", Kind: services.OrgSchool, Name: "s1", ParentID: "d1", Path: []string{"c1", "d1", "s1"}, Version: 1, CreatedAt: t0},
	} {
		if err := s.CreateOrg(ctx, o); err != nil {
			t.Fatalf("CreateOrg: %v", err)
		}
	}
	if err := s.CreateUsers(ctx, []services.User{{ID: "u1", Username: "teacher", Role: services.RoleTeacher,
		OrgID: "s1", OrgPath: []string{"c1", "d1", "s1"}, PasswordHash: "h", Version: 1, CreatedAt: t0}}); err != nil {
		t.Fatalf("CreateUsers: %v", err)
	}
}

// plan returns the EXPLAIN QUERY PLAN lines of query.
func plan(t *testing.T, db *sql.DB, query string, args []any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatalf("explain scan: %v", err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return lines
}

func TestListsUseIndexes(t *testing.T) {
	s := openTest(t)
	seed(t, s)
	d1 := services.ScopeOrg("d1")
	page := services.Page{After: "a", Limit: 10}
	all := services.ScopeAll()
	orgs := func(sc services.Scope, q services.OrgQuery) func() (string, []any) {
		q.Page = page
		return func() (string, []any) { return orgsQuery(sc, q, false) }
	}
	users := func(sc services.Scope, q services.UserQuery) func() (string, []any) {
		q.Page = page
		return func() (string, []any) { return usersQuery(sc, q, false) }
	}
	count := func(sc services.Scope, q services.OrgQuery) func() (string, []any) {
		return func() (string, []any) { return orgsQuery(sc, q, true) }
	}
	countUsers := func(sc services.Scope, q services.UserQuery) func() (string, []any) {
		return func() (string, []any) { return usersQuery(sc, q, true) }
	}
	fixed := func(query string, args ...any) func() (string, []any) {
		return func() (string, []any) { return query, args }
	}
	tests := []struct {
		name  string
		query func() (string, []any)
		// index is the search the plan must contain.
		index string
	}{
		{"orgs scoped", orgs(d1, services.OrgQuery{}), "SEARCH a USING PRIMARY KEY (ancestor_id=? AND org_id>?)"},
		{"orgs scoped by parent", orgs(d1, services.OrgQuery{ParentID: "d1"}), "orgs_parent (parent_id=? AND id>?)"},
		{"orgs scoped by kind", orgs(d1, services.OrgQuery{Kind: services.OrgSchool}), "SEARCH a USING PRIMARY KEY (ancestor_id=? AND org_id>?)"},
		{"orgs scoped by code", orgs(d1, services.OrgQuery{Code: "1234567890"}), "(code=?)"},
		{"orgs all", orgs(all, services.OrgQuery{}), "SEARCH o USING PRIMARY KEY (id>?)"},
		{"orgs all by parent", orgs(all, services.OrgQuery{ParentID: "d1"}), "orgs_parent (parent_id=? AND id>?)"},
		{"users scoped", users(d1, services.UserQuery{}), "SEARCH a USING PRIMARY KEY (ancestor_id=? AND user_id>?)"},
		{"users scoped by org", users(d1, services.UserQuery{OrgID: "s1"}), "users_org (org_id=? AND id>?)"},
		{"users scoped by role", users(d1, services.UserQuery{Role: services.RoleTeacher}), "SEARCH a USING PRIMARY KEY (ancestor_id=? AND user_id>?)"},
		{"users all", users(all, services.UserQuery{}), "SEARCH u USING PRIMARY KEY (id>?)"},
		{"users all by role", users(all, services.UserQuery{Role: services.RoleTeacher}), "users_role (role=? AND id>?)"},
		{"count orgs scoped", count(d1, services.OrgQuery{Kind: services.OrgSchool}), "SEARCH a USING PRIMARY KEY (ancestor_id=? AND org_id>?)"},
		{"count users scoped", countUsers(d1, services.UserQuery{}), "SEARCH a USING PRIMARY KEY (ancestor_id=? AND user_id>?)"},
		{"user by login", fixed(userByLoginQuery, "x", "x", "x"), "MULTI-INDEX OR"},
		{"user sessions", fixed(userSessionsQuery, "u1", 0), "sessions_user (user_id=?)"},
		{"delete sessions", fixed(deleteSessionsQuery, 0, 0), "MULTI-INDEX OR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, args := tt.query()
			lines := plan(t, s.r, query, args)
			joined := strings.Join(lines, "\n")
			for _, l := range lines {
				// "SCAN x" without an index reads the whole table.
				if strings.HasPrefix(l, "SCAN ") && !strings.Contains(l, "INDEX") {
					t.Errorf("full table scan:\n%s", joined)
				}
			}
			if !strings.Contains(joined, "SEARCH") {
				t.Errorf("no index search:\n%s", joined)
			}
			if !strings.Contains(joined, tt.index) {
				t.Errorf("plan does not use %s:\n%s", tt.index, joined)
			}
			// Login sorts its at most two matches; every list must not sort.
			if strings.Contains(joined, "TEMP B-TREE") && tt.name != "user by login" {
				t.Errorf("sorts instead of reading in index order:\n%s", joined)
			}
			if strings.Contains(tt.name, "scoped") && !strings.Contains(joined, "ancestor_id=?") {
				t.Errorf("scope not matched by the scope key:\n%s", joined)
			}
			t.Logf("%s", joined)
		})
	}
}

func TestReopenAppliesNothingTwice(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	seed(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close checkpointed the log away.
	if _, err := os.Stat(filepath.Join(dir, FileName+"-wal")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("-wal left after Close: %v", err)
	}

	s = openAt(t, dir)
	applied, err := migrate(ctx, s.w, migrationFiles)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("migrate on an up-to-date database applied %v", applied)
	}
	all, _ := migrations(migrationFiles)
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(all) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(all))
	}
	u, err := s.UserByLogin(ctx, "teacher")
	if err != nil || u.ID != "u1" {
		t.Errorf("UserByLogin after reopen = %q, %v", u.ID, err)
	}

	// A later migration appended to the set is applied once, alone.
	next := fstest.MapFS{}
	for _, m := range all {
		next["migrations/"+m.name] = &fstest.MapFile{Data: []byte(m.sql)}
	}
	next["migrations/9999_extra.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE extra (id TEXT PRIMARY KEY);`)}
	for i, want := range [][]int{{9999}, nil} {
		got, err := migrate(ctx, s.w, next)
		if err != nil {
			t.Fatalf("migrate run %d: %v", i, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("migrate run %d applied (-want +got):\n%s", i, d)
		}
	}
}

func TestMigrationNames(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"no number", fstest.MapFS{"migrations/init.sql": {Data: []byte("SELECT 1;")}}},
		{"duplicate", fstest.MapFS{
			"migrations/0002_a.sql": {Data: []byte("SELECT 1;")},
			"migrations/2_b.sql":    {Data: []byte("SELECT 1;")},
		}},
	}
	for _, tt := range tests {
		if _, err := migrations(tt.fsys); err == nil {
			t.Errorf("%s: migrations accepted %v", tt.name, tt.fsys)
		}
	}
}

// openAt opens dir, closed at cleanup.
func openAt(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func countSessions(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), `SELECT count(*) FROM sessions`).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

func TestBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	seed(t, s)

	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.CreateSession(ctx, services.Session{ID: fmt.Sprintf("g%d-%06d", g, i), UserID: "u1",
					CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
				if err != nil {
					errs <- err
					return
				}
				written.Add(1)
			}
		})
	}
	time.Sleep(400 * time.Millisecond)
	before := countSessions(t, s)
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	time.Sleep(600 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	if before == 0 || written.Load() <= int64(before) {
		t.Fatalf("writes did not continue around the backup: %d before, %d in all", before, written.Load())
	}

	if err := s.Backup(ctx, backup); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Backup over an existing file: err = %v, want ErrExist", err)
	}

	// Restore into a directory holding another database and a stale log.
	dir := t.TempDir()
	other := openAt(t, dir)
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.WriteFile(filepath.Join(dir, FileName+suffix), []byte("stale garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode = %v, %v; want 0600 (it holds password hashes and signing keys)", fi.Mode().Perm(), err)
	}
	kept, err := Restore(ctx, backup, dir, time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if want := filepath.Join(dir, FileName+".before-restore-20261202T100000Z"); kept != want {
		t.Errorf("kept = %q, want %q", kept, want)
	}
	allowed := map[string]bool{FileName: true, filepath.Base(kept): true, filepath.Base(kept) + "-wal": true, LockFileName: true}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !allowed[e.Name()] {
			t.Errorf("Restore left %s behind", e.Name())
		}
	}
	if fi, err := os.Stat(kept); err != nil || fi.Size() == 0 {
		t.Errorf("the replaced database was not kept: %v", err)
	}
	r := openAt(t, dir)
	var check string
	if err := r.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	if got := countSessions(t, r); got < before || int64(got) > written.Load() {
		t.Errorf("restored %d sessions, want between %d and %d", got, before, written.Load())
	}
	if _, err := r.Org(ctx, services.ScopeOrg("d1"), "s1"); err != nil {
		t.Errorf("Org after restore: %v", err)
	}
	if u, err := r.UserByLogin(ctx, "teacher"); err != nil || u.ID != "u1" {
		t.Errorf("UserByLogin after restore = %q, %v", u.ID, err)
	}
}

func TestRestoreRefuses(t *testing.T) {
	ctx := t.Context()
	src := t.TempDir()
	junk := filepath.Join(src, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(src, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	dir := t.TempDir()
	s := openAt(t, dir)
	seed(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{junk, foreign, filepath.Join(src, "missing.db"), src} {
		if _, err := Restore(ctx, bad, dir, time.Now()); err == nil {
			t.Errorf("Restore(%s) succeeded", filepath.Base(bad))
		}
	}
	// The live database is untouched and nothing was left beside it.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files in dir after refused restores: %v", entries)
	}
	s = openAt(t, dir)
	if _, err := s.UserByLogin(ctx, "teacher"); err != nil {
		t.Errorf("UserByLogin after refused restores: %v", err)
	}
}

func TestDataDirLock(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s)
	backup := filepath.Join(t.TempDir(), "b.db")
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	pid := fmt.Sprintf("pid %d", os.Getpid())
	// A second server on the same directory is refused, naming the holder.
	if _, err := Open(ctx, dir, Options{Exclusive: true}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), pid) {
		t.Errorf("second exclusive Open: err = %v, want ErrLocked naming %s", err, pid)
	}
	// So is a restore, and the live database is untouched.
	if _, err := Restore(ctx, backup, dir, time.Now()); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), pid) {
		t.Errorf("Restore under a live store: err = %v, want ErrLocked naming %s", err, pid)
	}
	if _, err := s.UserByLogin(ctx, "teacher"); err != nil {
		t.Errorf("the live store after a refused restore: %v", err)
	}
	for _, name := range []string{"", FileName, FileName + "-wal", FileName + "-shm", LockFileName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		want := os.FileMode(0o600)
		if name == "" {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Join(dir, name), fi.Mode().Perm(), want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Once the store is closed, both work.
	if _, err := Restore(ctx, backup, dir, time.Now()); err != nil {
		t.Errorf("Restore after Close: %v", err)
	}
	s2, err := Open(ctx, dir, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("exclusive Open after Close: %v", err)
	}
	s2.Close()
}

func TestFullDiskIsStorageUnavailable(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s)
	var pages int
	if err := s.r.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// max_page_count at today's size: the next write that needs a page
	// fails exactly as on a full disk (SQLITE_FULL).
	s, err = Open(ctx, dir, Options{MaxPages: pages})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping before the disk fills: %v", err)
	}
	var werr error
	for i := range 2000 {
		werr = s.CreateSession(ctx, services.Session{ID: fmt.Sprintf("full%04d", i), UserID: "u1", CurrentHash: strings.Repeat("ab", 32),
			CreatedAt: time.Now(), RotatedAt: time.Now(), LastUsedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
		if werr != nil {
			break
		}
	}
	if !errors.Is(werr, services.ErrStorage) || services.KindOf(werr) != services.KindUnavailable {
		t.Fatalf("write on a full database: err = %v, want ErrStorage (503)", werr)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after a write failed for a full disk: ready, want not ready")
	}
}

func TestBusyIsUnavailable(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Another process holds the write lock.
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	err = s.CreateKey(ctx, services.SigningKey{ID: "k1", Algorithm: "EdDSA", PrivateKey: []byte{1}, CreatedAt: t0})
	if !errors.Is(err, services.ErrUnavailable) {
		t.Errorf("write while locked: err = %v, want ErrUnavailable", err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, services.SigningKey{ID: "k1", Algorithm: "EdDSA", PrivateKey: []byte{1}, CreatedAt: t0}); err != nil {
		t.Errorf("write after unlock: %v", err)
	}
}

func TestOpenSettings(t *testing.T) {
	ctx := t.Context()
	if _, err := Open(ctx, t.TempDir(), Options{Synchronous: "OFF"}); err == nil {
		t.Error("Open accepted synchronous OFF")
	}
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(ctx, dir, Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	tests := []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "1"},
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "5000"},
		{s.w, "query_only", "0"},
		{s.r, "journal_mode", "wal"},
		{s.r, "query_only", "1"},
		{s.r, "busy_timeout", "5000"},
	}
	for _, tt := range tests {
		var got string
		if err := tt.db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM users`); err == nil {
		t.Error("a reader connection wrote")
	}
	if s.Name() != "sqlite" {
		t.Errorf("Name = %q", s.Name())
	}
}
