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

// CreateUsers inserts every user or none. Without transactions the batch
// is inserted pending, then made visible with one update; on a failure
// (a taken username or mobile) what was inserted is deleted. A crash in
// between leaves invisible pending users that SweepPending removes.
func (s *Store) CreateUsers(ctx context.Context, users []services.User) error {
	const op = "mongo.CreateUsers"
	if len(users) == 0 {
		return nil
	}
	batch := services.NewID(time.Now())
	now := time.Now().UnixMilli()
	docs := make([]any, len(users))
	for i, u := range users {
		d := fromUser(u)
		d.Pending, d.PendingSince = batch, now
		docs[i] = d
	}
	_, err := s.users.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	if err != nil {
		// Remove what this batch inserted, even if the caller gave up.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, derr := s.users.DeleteMany(cctx, bson.D{{Key: "pending", Value: batch}}); derr != nil {
			return fmt.Errorf("%s: %w (and removing the partial batch: %v)", op, mapErr(err), derr)
		}
		return wrap(op, err)
	}
	if _, err := s.users.UpdateMany(ctx, bson.D{{Key: "pending", Value: batch}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: ""}, {Key: "pending_since", Value: int64(0)}}}}); err != nil {
		return wrap(op, err)
	}
	return nil
}

// SweepPending deletes users a crashed CreateUsers left pending since
// before; they were never visible, so nothing else refers to them.
func (s *Store) SweepPending(ctx context.Context, before time.Time) error {
	_, err := s.users.DeleteMany(ctx, bson.D{
		{Key: "pending", Value: bson.D{{Key: "$ne", Value: ""}}},
		{Key: "pending_since", Value: bson.D{{Key: "$lt", Value: before.UnixMilli()}}},
	})
	return wrap("mongo.SweepPending", err)
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
