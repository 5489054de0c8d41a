package mongo

import (
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

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

// TestDataSurvivesReconnect: a new client on the same database sees what
// the first wrote, and New is idempotent on existing indexes.
func TestDataSurvivesReconnect(t *testing.T) {
	ctx := t.Context()
	db := server.Database(t)
	first, err := New(ctx, server.Client, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	o := services.Org{ID: "city1", Kind: services.OrgCity, Name: "成都市", Path: []string{"city1"}, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := first.CreateOrg(ctx, o); err != nil {
		t.Fatal(err)
	}
	opts := Options{Timeout: 30 * time.Second}
	if server.Ferret {
		opts.MaxPoolSize = 1
	}
	second, err := Connect(ctx, server.URI, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	got, err := second.Org(ctx, services.ScopeAll(), "city1")
	if err != nil || got.Name != "成都市" {
		t.Fatalf("after reconnect: %+v, %v", got, err)
	}
	if err := second.Ping(ctx); err != nil || second.Name() != "mongodb" {
		t.Errorf("Ping %v, Name %q", err, second.Name())
	}
}

// TestSweepPending: users a crashed import left pending are invisible,
// hold no usernames after the sweep, and a retry of the import works.
func TestSweepPending(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := services.User{ID: "u1", Username: "wang", Name: "王", Mobile: "13800000001", Role: services.RoleTeacher,
		OrgID: "s1", OrgPath: []string{"c1", "d1", "s1"}, PasswordHash: "x", Version: 1, CreatedAt: now, UpdatedAt: now}
	// What a crash between insert and activation leaves behind.
	d := fromUser(u)
	d.Pending, d.PendingSince = "batch-crashed", now.Add(-time.Hour).UnixMilli()
	if _, err := s.users.InsertOne(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByLogin(ctx, "wang"); err == nil {
		t.Fatal("a pending user can sign in")
	}
	if n, _ := s.CountUsers(ctx, services.ScopeAll(), services.UserQuery{}); n != 0 {
		t.Errorf("CountUsers counts pending users: %d", n)
	}
	if err := s.SweepPending(ctx, now.Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.users.CountDocuments(ctx, bson.D{}); n != 0 {
		t.Fatalf("%d documents left after the sweep", n)
	}
	if err := s.CreateUsers(ctx, []services.User{u}); err != nil {
		t.Fatalf("retry after the sweep: %v", err)
	}
	if _, err := s.UserByLogin(ctx, "13800000001"); err != nil {
		t.Errorf("imported user not found by mobile: %v", err)
	}
	// A fresh pending batch (an import under way) is left alone.
	d2 := fromUser(services.User{ID: "u2", Username: "li", Version: 1})
	d2.Pending, d2.PendingSince = "batch-running", now.UnixMilli()
	if _, err := s.users.InsertOne(ctx, d2); err != nil {
		t.Fatal(err)
	}
	if err := s.SweepPending(ctx, now.Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.users.CountDocuments(ctx, bson.D{{Key: "_id", Value: "u2"}}); n != 1 {
		t.Error("the sweep removed a running import")
	}
}
