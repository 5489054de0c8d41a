package mongo

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/huizong/huizong/repository/mongo/mongotest"
	"github.com/huizong/huizong/repository/storetest"
	"github.com/huizong/huizong/services"
)

// server is the package's MongoDB (FerretDB unless
// HUIZONG_TEST_MONGODB_URI is set), started once in TestMain.
var server *mongotest.Server

func TestMain(m *testing.M) {
	os.Exit(mongotest.Main(m, func(s *mongotest.Server) { server = s }))
}

// openTest opens the store on a fresh database.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.Context(), server.Client, server.Database(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return openTest(t) })
}

// TestDataSurvivesReconnect: what one client wrote, a new client on the
// same database reads back after the first disconnected; New on existing
// indexes is a no-op, and closing a store made by New leaves the caller's
// client connected.
func TestDataSurvivesReconnect(t *testing.T) {
	ctx := t.Context()
	db := server.Database(t)
	opts := Options{Timeout: 30 * time.Second}
	if server.Ferret {
		opts.MaxPoolSize = 1
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	org := services.Org{ID: "city1", Kind: services.OrgCity, Name: "成都市", Path: []string{"city1"}, Version: 1, CreatedAt: now, UpdatedAt: now}
	user := services.User{ID: "u1", Username: "wang", Name: "王", Mobile: "13800000001", Role: services.RoleCityAdmin,
		OrgID: "city1", OrgPath: []string{"city1"}, PasswordHash: "x", Version: 1, CreatedAt: now, UpdatedAt: now}
	sess := services.Session{ID: "s1", UserID: "u1", CurrentHash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	key := services.SigningKey{ID: "k1", Algorithm: "EdDSA", PrivateKey: []byte{1, 2, 3}, CreatedAt: now}

	first, err := Connect(ctx, server.URI, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"CreateOrg":     first.CreateOrg(ctx, org),
		"CreateUsers":   first.CreateUsers(ctx, []services.User{user}),
		"CreateSession": first.CreateSession(ctx, sess),
		"CreateKey":     first.CreateKey(ctx, key),
	} {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := first.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded: Close did not disconnect its own client")
	}

	second, err := Connect(ctx, server.URI, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Ping(ctx); err != nil || second.Name() != "mongodb" {
		t.Errorf("Ping %v, Name %q", err, second.Name())
	}
	gotOrg, err := second.Org(ctx, services.ScopeAll(), "city1")
	if err != nil {
		t.Fatalf("Org after reconnect: %v", err)
	}
	if d := cmp.Diff(org, gotOrg); d != "" {
		t.Errorf("Org after reconnect (-want +got):\n%s", d)
	}
	gotUser, err := second.UserByLogin(ctx, "13800000001")
	if err != nil {
		t.Fatalf("UserByLogin after reconnect: %v", err)
	}
	if d := cmp.Diff(user, gotUser); d != "" {
		t.Errorf("User after reconnect (-want +got):\n%s", d)
	}
	gotSess, err := second.Session(ctx, "s1")
	if err != nil || gotSess.CurrentHash != "h" {
		t.Errorf("Session after reconnect: %+v, %v", gotSess, err)
	}
	keys, err := second.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != "k1" {
		t.Errorf("Keys after reconnect: %+v, %v", keys, err)
	}

	wrapped, err := New(ctx, server.Client, db)
	if err != nil {
		t.Fatalf("New on existing indexes: %v", err)
	}
	if err := wrapped.Close(); err != nil {
		t.Fatal(err)
	}
	if err := server.Client.Ping(ctx, nil); err != nil {
		t.Errorf("closing a store made by New disconnected the caller's client: %v", err)
	}
}

// pendingUser inserts u as a CreateUsers batch would have left it.
func pendingUser(t *testing.T, s *Store, u services.User, batch string, since time.Time) {
	t.Helper()
	d := fromUser(u)
	d.Pending, d.PendingSince = batch, since.UnixMilli()
	if _, err := s.users.InsertOne(t.Context(), d); err != nil {
		t.Fatal(err)
	}
}

// batchMarker marks batch complete, as CreateUsers does before activating.
func batchMarker(t *testing.T, s *Store, batch string, at time.Time) {
	t.Helper()
	if _, err := s.batches.InsertOne(t.Context(), batchDoc{ID: batch, CreatedAt: at.UnixMilli()}); err != nil {
		t.Fatal(err)
	}
}

func teacher(id, username, mobile string, now time.Time) services.User {
	return services.User{ID: id, Username: username, Name: "用户 " + id, Mobile: mobile, Role: services.RoleTeacher,
		OrgID: "s1", OrgPath: []string{"c1", "d1", "s1"}, PasswordHash: "x", Version: 1, CreatedAt: now, UpdatedAt: now}
}

// visibleIDs lists the users every read sees.
func visibleIDs(t *testing.T, s *Store) []string {
	t.Helper()
	list, err := s.Users(t.Context(), services.ScopeAll(), services.UserQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, u := range list {
		ids = append(ids, u.ID)
	}
	return ids
}

// TestSweepPending: what a crashed CreateUsers leaves behind is invisible
// and is settled by the sweep: deleted if the batch was not inserted
// whole, activated if it was (also when activation stopped half-way); a
// batch still under way is left alone.
func TestSweepPending(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := now.Add(-time.Hour)
	tests := []struct {
		name   string
		crash  func(t *testing.T, s *Store)
		before []string // visible before the sweep
		want   []string // visible after it
		left   int64    // documents left in users
	}{
		{"insert incomplete", func(t *testing.T, s *Store) {
			pendingUser(t, s, teacher("u1", "wang", "13800000001", now), "b1", old)
		}, []string{}, []string{}, 0},
		{"inserted whole", func(t *testing.T, s *Store) {
			pendingUser(t, s, teacher("u1", "wang", "13800000001", now), "b1", old)
			pendingUser(t, s, teacher("u2", "li", "", now), "b1", old)
			batchMarker(t, s, "b1", old)
		}, []string{}, []string{"u1", "u2"}, 2},
		{"activation stopped half-way", func(t *testing.T, s *Store) {
			pendingUser(t, s, teacher("u1", "wang", "13800000001", now), "", old)
			pendingUser(t, s, teacher("u2", "li", "", now), "b1", old)
			batchMarker(t, s, "b1", old)
		}, []string{"u1"}, []string{"u1", "u2"}, 2},
		{"still under way", func(t *testing.T, s *Store) {
			pendingUser(t, s, teacher("u1", "wang", "13800000001", now), "b1", now)
			batchMarker(t, s, "b1", now)
		}, []string{}, []string{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t)
			tt.crash(t, s)
			// Pending users are invisible to lists, point reads and sign-in.
			if d := cmp.Diff(tt.before, visibleIDs(t, s)); d != "" {
				t.Errorf("visible before the sweep (-want +got):\n%s", d)
			}
			for _, u := range []struct{ id, login string }{{"u1", "wang"}, {"u2", "li"}} {
				_, err := s.User(ctx, services.ScopeAll(), u.id)
				_, lerr := s.UserByLogin(ctx, u.login)
				if slices.Contains(tt.before, u.id) {
					continue
				}
				if !errors.Is(err, services.ErrNotFound) || !errors.Is(lerr, services.ErrNotFound) {
					t.Errorf("pending %s: User err = %v, UserByLogin err = %v; want ErrNotFound", u.id, err, lerr)
				}
			}
			if err := s.SweepPending(ctx, now.Add(-10*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, visibleIDs(t, s)); d != "" {
				t.Errorf("visible after the sweep (-want +got):\n%s", d)
			}
			if n, err := s.users.CountDocuments(ctx, bson.D{}); err != nil || n != tt.left {
				t.Errorf("%d documents left after the sweep (%v), want %d", n, err, tt.left)
			}
			if n, err := s.CountUsers(ctx, services.ScopeAll(), services.UserQuery{}); err != nil || n != int64(len(tt.want)) {
				t.Errorf("CountUsers = %d (%v), want %d", n, err, len(tt.want))
			}
			// Markers of settled batches are gone; a running batch keeps its own.
			wantMarkers := int64(0)
			if tt.left > 0 && len(tt.want) == 0 {
				wantMarkers = 1
			}
			if n, err := s.batches.CountDocuments(ctx, bson.D{}); err != nil || n != wantMarkers {
				t.Errorf("%d batch markers left (%v), want %d", n, err, wantMarkers)
			}
		})
	}
}

// TestCreateUsersAfterCrash: a retry of an import that crashed need not
// wait for housekeeping once the crashed batch is past its lease, while a
// batch still under way keeps its usernames.
func TestCreateUsersAfterCrash(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	pendingUser(t, s, teacher("old1", "wang", "13800000001", now), "crashed", now.Add(-time.Hour))
	pendingUser(t, s, teacher("new1", "li", "", now), "running", now)

	if err := s.CreateUsers(ctx, []services.User{teacher("u1", "wang", "13800000001", now), teacher("u2", "zhao", "", now)}); err != nil {
		t.Fatalf("retry after a crash: %v", err)
	}
	if u, err := s.UserByLogin(ctx, "13800000001"); err != nil || u.ID != "u1" {
		t.Errorf("UserByLogin(mobile) = %q, %v; want u1", u.ID, err)
	}
	err := s.CreateUsers(ctx, []services.User{teacher("u3", "li", "", now)})
	if !errors.Is(err, services.ErrConflict) {
		t.Errorf("taking the username of a running batch: err = %v, want ErrConflict", err)
	}
	if d := cmp.Diff([]string{"u1", "u2"}, visibleIDs(t, s)); d != "" {
		t.Errorf("visible users (-want +got):\n%s", d)
	}
	if n, err := s.batches.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Errorf("%d batch markers left after successful creates (%v)", n, err)
	}
}

// TestCreateUsersCallerGone: a caller that gave up before the insert
// leaves nothing behind, not even invisible users.
func TestCreateUsersCallerGone(t *testing.T) {
	s := openTest(t)
	now := time.Now().UTC()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.CreateUsers(ctx, []services.User{teacher("u1", "wang", "", now)}); err == nil {
		t.Fatal("CreateUsers with a cancelled context succeeded")
	}
	if n, err := s.users.CountDocuments(t.Context(), bson.D{}); err != nil || n != 0 {
		t.Errorf("%d user documents left (%v), want 0", n, err)
	}
	if err := s.CreateUsers(t.Context(), []services.User{teacher("u1", "wang", "", now)}); err != nil {
		t.Errorf("CreateUsers afterwards: %v", err)
	}
}

// TestSweepOrphanFiles: bytes a crash left without metadata go; the files
// of a stored attachment stay.
func TestSweepOrphanFiles(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Now()
	kept := services.Attachment{ID: "att1", ClientID: "c1", OwnerID: "u1", OrgID: "o1", OrgPath: []string{"o1"},
		Name: "a.jpg", ContentType: "image/jpeg", Size: 3, ThumbSize: 2, CreatedAt: now}
	if err := s.CreateAttachment(ctx, kept, []byte("abc"), []byte("ab")); err != nil {
		t.Fatal(err)
	}
	// A server died after uploading these and before their metadata.
	for _, id := range []string{"orphan", "orphan.thumb"} {
		if err := s.files.UploadFromStreamWithID(ctx, id, id, strings.NewReader("xyz")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.SweepOrphanFiles(ctx, now.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep of older files: %d %v, want 0", n, err)
	}
	n, err := s.SweepOrphanFiles(ctx, now.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d %v, want 2", n, err)
	}
	for _, thumb := range []bool{false, true} {
		if _, _, err := s.AttachmentContent(ctx, services.ScopeAll(), "att1", thumb); err != nil {
			t.Errorf("kept attachment (thumb %v): %v", thumb, err)
		}
	}
	var buf strings.Builder
	if _, err := s.files.DownloadToStream(ctx, "orphan", &buf); !errors.Is(err, mongo.ErrFileNotFound) {
		t.Errorf("orphan still there: %v", err)
	}
}
