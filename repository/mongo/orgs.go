package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// orgDoc is an org unit as stored.
type orgDoc struct {
	ID        string   `bson:"_id"`
	Kind      string   `bson:"kind"`
	Name      string   `bson:"name"`
	ParentID  string   `bson:"parent_id"`
	Path      []string `bson:"path"`
	Code      string   `bson:"code"`
	CodeKey   string   `bson:"code_key"`
	Stages    []string `bson:"stages"`
	Students  int      `bson:"students"`
	Staff     int      `bson:"staff"`
	Version   int64    `bson:"version"`
	CreatedAt int64    `bson:"created_at"`
	UpdatedAt int64    `bson:"updated_at"`
}

// uniqueKey is v, or a key no other document has when v is empty.
func uniqueKey(v, id string) string {
	if v == "" {
		return "id:" + id
	}
	return v
}

func fromOrg(o services.Org) orgDoc {
	return orgDoc{
		ID: o.ID, Kind: string(o.Kind), Name: o.Name, ParentID: o.ParentID, Path: o.Path,
		Code: o.Code, CodeKey: uniqueKey(o.Code, o.ID), Stages: o.Stages, Students: o.Students, Staff: o.Staff,
		Version: o.Version, CreatedAt: ms(o.CreatedAt), UpdatedAt: ms(o.UpdatedAt),
	}
}

func toOrg(d orgDoc) services.Org {
	return services.Org{
		ID: d.ID, Kind: services.OrgKind(d.Kind), Name: d.Name, ParentID: d.ParentID, Path: d.Path,
		Code: d.Code, Stages: d.Stages, Students: d.Students, Staff: d.Staff,
		Version: d.Version, CreatedAt: timeOf(d.CreatedAt), UpdatedAt: timeOf(d.UpdatedAt),
	}
}

// CreateOrg inserts o; ErrConflict if its id or school code is taken.
func (s *Store) CreateOrg(ctx context.Context, o services.Org) error {
	_, err := s.orgs.InsertOne(ctx, fromOrg(o))
	return wrap("mongo.CreateOrg", err)
}

// Org returns the unit id inside sc.
func (s *Store) Org(ctx context.Context, sc services.Scope, id string) (services.Org, error) {
	const op = "mongo.Org"
	f, ok := withScope(bson.D{{Key: "_id", Value: id}}, sc)
	if !ok {
		return services.Org{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	var d orgDoc
	if err := s.orgs.FindOne(ctx, f).Decode(&d); err != nil {
		return services.Org{}, wrap(op, err)
	}
	return toOrg(d), nil
}

// Orgs lists units inside sc in id order.
func (s *Store) Orgs(ctx context.Context, sc services.Scope, q services.OrgQuery) ([]services.Org, error) {
	f := orgsFilter(sc, q)
	if f == nil {
		return nil, nil
	}
	docs, err := findPage[orgDoc](ctx, s.orgs, f, q.Page)
	if err != nil {
		return nil, wrap("mongo.Orgs", err)
	}
	out := make([]services.Org, len(docs))
	for i, d := range docs {
		out[i] = toOrg(d)
	}
	return out, nil
}

// orgsFilter matches the units of a list or count; nil matches nothing.
func orgsFilter(sc services.Scope, q services.OrgQuery) bson.D {
	f, ok := withScope(bson.D{}, sc)
	if !ok {
		return nil
	}
	if q.ParentID != "" {
		f = append(f, bson.E{Key: "parent_id", Value: q.ParentID})
	}
	if q.Kind != "" {
		f = append(f, bson.E{Key: "kind", Value: string(q.Kind)})
	}
	if q.Code != "" {
		f = append(f, bson.E{Key: "code", Value: q.Code})
	}
	return f
}

// CountOrgs counts the units inside sc that match q (its page ignored).
func (s *Store) CountOrgs(ctx context.Context, sc services.Scope, q services.OrgQuery) (int64, error) {
	n, err := count(ctx, s.orgs, orgsFilter(sc, q))
	return n, wrap("mongo.CountOrgs", err)
}

// UpdateOrg replaces a unit's mutable fields at version o.Version.
func (s *Store) UpdateOrg(ctx context.Context, sc services.Scope, o services.Org) (services.Org, error) {
	const op = "mongo.UpdateOrg"
	f, ok := withScope(bson.D{{Key: "_id", Value: o.ID}, {Key: "version", Value: o.Version}}, sc)
	if !ok {
		return services.Org{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	set := bson.D{
		{Key: "name", Value: o.Name}, {Key: "code", Value: o.Code}, {Key: "code_key", Value: uniqueKey(o.Code, o.ID)},
		{Key: "stages", Value: o.Stages}, {Key: "students", Value: o.Students}, {Key: "staff", Value: o.Staff},
		{Key: "updated_at", Value: ms(o.UpdatedAt)}, {Key: "version", Value: o.Version + 1},
	}
	var d orgDoc
	err := s.orgs.FindOneAndUpdate(ctx, f, bson.D{{Key: "$set", Value: set}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return services.Org{}, s.missOrStale(ctx, op, s.orgs, sc, o.ID)
	}
	if err != nil {
		return services.Org{}, wrap(op, err)
	}
	return toOrg(d), nil
}

// missOrStale tells why a versioned write matched nothing: the object is
// gone or out of scope (ErrNotFound), or its version moved on (ErrStale).
func (s *Store) missOrStale(ctx context.Context, op string, coll *mongo.Collection, sc services.Scope, id string) error {
	f, ok := withScope(bson.D{{Key: "_id", Value: id}}, sc)
	if !ok {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	n, err := coll.CountDocuments(ctx, f)
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", op, services.ErrStale)
}

// DeleteOrg removes an empty unit at version.
func (s *Store) DeleteOrg(ctx context.Context, sc services.Scope, id string, version int64) error {
	const op = "mongo.DeleteOrg"
	o, err := s.Org(ctx, sc, id)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if o.Version != version {
		return fmt.Errorf("%s: %w", op, services.ErrStale)
	}
	for _, c := range []struct {
		coll *mongo.Collection
		f    bson.D
	}{
		{s.orgs, bson.D{{Key: "parent_id", Value: id}}},
		{s.users, bson.D{{Key: "org_id", Value: id}}},
	} {
		n, err := c.coll.CountDocuments(ctx, c.f, options.Count().SetLimit(1))
		if err != nil {
			return wrap(op, err)
		}
		if n > 0 {
			return fmt.Errorf("%s: %w", op, services.ErrConflict)
		}
	}
	res, err := s.orgs.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version}})
	if err != nil {
		return wrap(op, err)
	}
	if res.DeletedCount == 0 {
		return s.missOrStale(ctx, op, s.orgs, sc, id)
	}
	return nil
}
