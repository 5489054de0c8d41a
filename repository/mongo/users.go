package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// userDoc is an account as stored. Pending is the batch id while an
// all-or-nothing CreateUsers is under way ("" once the batch is whole):
// pending users are invisible to every read and to sign-in.
type userDoc struct {
	ID                 string   `bson:"_id"`
	Username           string   `bson:"username"`
	Name               string   `bson:"name"`
	Mobile             string   `bson:"mobile"`
	MobileKey          string   `bson:"mobile_key"`
	Role               string   `bson:"role"`
	OrgID              string   `bson:"org_id"`
	Path               []string `bson:"path"`
	PasswordHash       string   `bson:"password_hash"`
	MustChangePassword bool     `bson:"must_change_password"`
	Disabled           bool     `bson:"disabled"`
	PasswordChangedAt  int64    `bson:"password_changed_at"`
	Version            int64    `bson:"version"`
	CreatedAt          int64    `bson:"created_at"`
	UpdatedAt          int64    `bson:"updated_at"`
	Pending            string   `bson:"pending"`
	PendingSince       int64    `bson:"pending_since"`
}

func fromUser(u services.User) userDoc {
	return userDoc{
		ID: u.ID, Username: u.Username, Name: u.Name, Mobile: u.Mobile, MobileKey: uniqueKey(u.Mobile, u.ID),
		Role: string(u.Role), OrgID: u.OrgID, Path: u.OrgPath, PasswordHash: u.PasswordHash,
		MustChangePassword: u.MustChangePassword, Disabled: u.Disabled, PasswordChangedAt: ms(u.PasswordChangedAt),
		Version: u.Version, CreatedAt: ms(u.CreatedAt), UpdatedAt: ms(u.UpdatedAt),
	}
}

func toUser(d userDoc) services.User {
	return services.User{
		ID: d.ID, Username: d.Username, Name: d.Name, Mobile: d.Mobile, Role: services.Role(d.Role),
		OrgID: d.OrgID, OrgPath: d.Path, PasswordHash: d.PasswordHash, MustChangePassword: d.MustChangePassword,
		Disabled: d.Disabled, PasswordChangedAt: timeOf(d.PasswordChangedAt), Version: d.Version,
		CreatedAt: timeOf(d.CreatedAt), UpdatedAt: timeOf(d.UpdatedAt),
	}
}

var notPending = bson.E{Key: "pending", Value: ""}

// A CreateUsers batch cuts its own work off after batchTimeout, so a
// batch still pending after pendingLease (the margin covers clock skew
// between instances) was left by a crash and may be recovered.
const (
	batchTimeout = 2 * time.Minute
	pendingLease = 5 * time.Minute
)

// batchDoc marks a CreateUsers batch whose every user was inserted: from
// then on the batch is rolled forward (activated), never deleted, so a
// failure half-way through activation cannot leave part of it visible.
type batchDoc struct {
	ID        string `bson:"_id"`
	CreatedAt int64  `bson:"created_at"`
}

// CreateUsers inserts every user or none. Without transactions the batch
// is inserted pending (invisible to every read and to sign-in), marked
// complete, then made visible with one update; if the insert fails (a
// taken username or mobile) what it inserted is deleted. A crash leaves
// pending users that SweepPending removes, or activates if the batch was
// complete; a retry that conflicts with a batch older than the lease
// sweeps first, so it need not wait for housekeeping.
func (s *Store) CreateUsers(ctx context.Context, users []services.User) error {
	const op = "mongo.CreateUsers"
	if len(users) == 0 {
		return nil
	}
	err := s.createBatch(ctx, users)
	if errors.Is(err, services.ErrConflict) {
		n, serr := s.sweepPending(ctx, time.Now().Add(-pendingLease))
		if serr == nil && n > 0 {
			err = s.createBatch(ctx, users)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// createBatch is one attempt of CreateUsers.
func (s *Store) createBatch(ctx context.Context, users []services.User) error {
	now := time.Now()
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	batch := services.NewID(now)
	docs := make([]any, len(users))
	for i, u := range users {
		d := fromUser(u)
		d.Pending, d.PendingSince = batch, now.UnixMilli()
		docs[i] = d
	}
	// Cleanup and activation go on even if the caller gave up, within the
	// batch's deadline, so the lease stays a bound.
	finish, cancelFinish := context.WithDeadline(context.WithoutCancel(ctx), now.Add(batchTimeout))
	defer cancelFinish()
	abort := func(err error) error {
		if _, derr := s.users.DeleteMany(finish, bson.D{{Key: "pending", Value: batch}}); derr != nil {
			return fmt.Errorf("%w (and removing the partial batch: %v)", mapErr(err), derr)
		}
		return mapErr(err)
	}
	if _, err := s.users.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true)); err != nil {
		return abort(err)
	}
	if _, err := s.batches.InsertOne(ctx, batchDoc{ID: batch, CreatedAt: now.UnixMilli()}); err != nil {
		return abort(err)
	}
	// Only a sweep that judged the batch dead deletes pending users, and
	// the deadline keeps that from happening to a live one; the count
	// makes sure before the batch is rolled forward for good.
	if n, err := s.users.CountDocuments(ctx, bson.D{{Key: "pending", Value: batch}}); err != nil || n != int64(len(users)) {
		_, _ = s.batches.DeleteOne(finish, bson.D{{Key: "_id", Value: batch}})
		if err == nil {
			err = fmt.Errorf("batch %s: %d of %d users left", batch, n, len(users))
		}
		return abort(err)
	}
	var err error
	for range 3 {
		if _, err = s.activate(finish, batch); err == nil || finish.Err() != nil {
			break
		}
	}
	if err != nil {
		return mapErr(err) // SweepPending finishes the activation
	}
	_, _ = s.batches.DeleteOne(finish, bson.D{{Key: "_id", Value: batch}})
	return nil
}

// activate makes a complete batch visible; repeating it is harmless.
func (s *Store) activate(ctx context.Context, batch string) (*mongo.UpdateResult, error) {
	return s.users.UpdateMany(ctx, bson.D{{Key: "pending", Value: batch}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: ""}, {Key: "pending_since", Value: int64(0)}}}})
}

// SweepPending recovers the CreateUsers batches that have been pending
// since before (a crash): a batch marked complete is activated, any other
// is deleted (its users were never visible, so nothing refers to them).
// before must lie at least the lease (5 minutes) in the past, or a batch
// still under way could be cut in two.
func (s *Store) SweepPending(ctx context.Context, before time.Time) error {
	_, err := s.sweepPending(ctx, before)
	return wrap("mongo.SweepPending", err)
}

// sweepPending returns how many pending users it deleted or activated.
func (s *Store) sweepPending(ctx context.Context, before time.Time) (int64, error) {
	type pendingDoc struct {
		Pending string `bson:"pending"`
	}
	docs, err := findAll[pendingDoc](ctx, s.users, bson.D{
		{Key: "pending", Value: bson.D{{Key: "$ne", Value: ""}}},
		{Key: "pending_since", Value: bson.D{{Key: "$lt", Value: before.UnixMilli()}}},
	}, options.Find().SetProjection(bson.D{{Key: "pending", Value: 1}}))
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	var total int64
	for _, d := range docs {
		if seen[d.Pending] {
			continue
		}
		seen[d.Pending] = true
		n, err := s.batches.CountDocuments(ctx, bson.D{{Key: "_id", Value: d.Pending}})
		if err != nil {
			return total, err
		}
		if n > 0 {
			res, err := s.activate(ctx, d.Pending)
			if err != nil {
				return total, err
			}
			total += res.ModifiedCount
			continue
		}
		res, err := s.users.DeleteMany(ctx, bson.D{{Key: "pending", Value: d.Pending}})
		if err != nil {
			return total, err
		}
		total += res.DeletedCount
	}
	// Markers outlive their batch only after a crash; every batch as old
	// as these was settled above.
	if _, err := s.batches.DeleteMany(ctx, bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: before.UnixMilli()}}}}); err != nil {
		return total, err
	}
	return total, nil
}

// User returns the user id inside sc.
func (s *Store) User(ctx context.Context, sc services.Scope, id string) (services.User, error) {
	const op = "mongo.User"
	f, ok := withScope(bson.D{{Key: "_id", Value: id}, notPending}, sc)
	if !ok {
		return services.User{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	var d userDoc
	if err := s.users.FindOne(ctx, f).Decode(&d); err != nil {
		return services.User{}, wrap(op, err)
	}
	return toUser(d), nil
}

// Users lists users inside sc in id order.
func (s *Store) Users(ctx context.Context, sc services.Scope, q services.UserQuery) ([]services.User, error) {
	f := usersFilter(sc, q)
	if f == nil {
		return nil, nil
	}
	docs, err := findPage[userDoc](ctx, s.users, f, q.Page)
	if err != nil {
		return nil, wrap("mongo.Users", err)
	}
	out := make([]services.User, len(docs))
	for i, d := range docs {
		out[i] = toUser(d)
	}
	return out, nil
}

// usersFilter matches the users of a list or count; nil matches nothing.
func usersFilter(sc services.Scope, q services.UserQuery) bson.D {
	f, ok := withScope(bson.D{notPending}, sc)
	if !ok {
		return nil
	}
	if q.OrgID != "" {
		f = append(f, bson.E{Key: "org_id", Value: q.OrgID})
	}
	if q.Role != "" {
		f = append(f, bson.E{Key: "role", Value: string(q.Role)})
	}
	return f
}

// UserByLogin finds a user by username or mobile number.
func (s *Store) UserByLogin(ctx context.Context, login string) (services.User, error) {
	const op = "mongo.UserByLogin"
	if login == "" {
		return services.User{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	// Two point reads on unique indexes rather than an $or.
	keys := []string{"username", "mobile_key"}
	if strings.HasPrefix(login, "id:") {
		keys = keys[:1] // "id:..." mobile keys stand for "no mobile"
	}
	for _, k := range keys {
		var d userDoc
		err := s.users.FindOne(ctx, bson.D{{Key: k, Value: login}, notPending}).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return services.User{}, wrap(op, err)
		}
		return toUser(d), nil
	}
	return services.User{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
}

// UpdateUser replaces a user's fields but id, username and creation time
// at version u.Version.
func (s *Store) UpdateUser(ctx context.Context, sc services.Scope, u services.User) (services.User, error) {
	const op = "mongo.UpdateUser"
	f, ok := withScope(bson.D{{Key: "_id", Value: u.ID}, {Key: "version", Value: u.Version}, notPending}, sc)
	if !ok {
		return services.User{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	d := fromUser(u)
	set := bson.D{
		{Key: "name", Value: d.Name}, {Key: "mobile", Value: d.Mobile}, {Key: "mobile_key", Value: d.MobileKey},
		{Key: "role", Value: d.Role}, {Key: "org_id", Value: d.OrgID}, {Key: "path", Value: d.Path},
		{Key: "password_hash", Value: d.PasswordHash}, {Key: "must_change_password", Value: d.MustChangePassword},
		{Key: "disabled", Value: d.Disabled}, {Key: "password_changed_at", Value: d.PasswordChangedAt},
		{Key: "updated_at", Value: d.UpdatedAt}, {Key: "version", Value: u.Version + 1},
	}
	var out userDoc
	err := s.users.FindOneAndUpdate(ctx, f, bson.D{{Key: "$set", Value: set}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return services.User{}, s.missOrStale(ctx, op, s.users, sc, u.ID)
	}
	if err != nil {
		return services.User{}, wrap(op, err)
	}
	return toUser(out), nil
}

// CountUsers counts the users inside sc that match q (its page ignored).
func (s *Store) CountUsers(ctx context.Context, sc services.Scope, q services.UserQuery) (int64, error) {
	n, err := count(ctx, s.users, usersFilter(sc, q))
	return n, wrap("mongo.CountUsers", err)
}
