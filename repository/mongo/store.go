// Package mongo is huizong's MongoDB store: the store for production and
// for scale (a replica set, a sharded cluster or Atlas, shared by many
// stateless huizong instances). It uses only the portable subset of
// MongoDB that FerretDB also serves (see STORAGE.md): string _ids, point
// reads and writes by _id, simple filters, no multi-document transactions
// (every write is idempotent and restartable instead), updates with $set
// and $inc. Times are stored as unix milliseconds (0 is the zero time).
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/huizong/huizong/services"
)

// Options tune the client Connect builds.
type Options struct {
	// Timeout bounds every operation (default 10 s).
	Timeout time.Duration
	// MaxPoolSize caps connections (0: the driver's default). Tests on
	// FerretDB pass 1: its updates lose writes over several connections.
	MaxPoolSize uint64
	// Log receives what opening the store reports (a layout upgrade);
	// nil discards it.
	Log *slog.Logger
}

// Store is the MongoDB store.
type Store struct {
	client *mongo.Client
	owned  bool
	db     *mongo.Database

	orgs, users, sessions, keys, idempotency *mongo.Collection
	// batches marks the CreateUsers batches that were inserted whole.
	batches *mongo.Collection

	templates, templateVersions, records, attachments *mongo.Collection
	// files holds attachment bytes (GridFS, so one backup of the database
	// holds everything).
	files *mongo.GridFSBucket
	// tasks holds collection tasks.
	tasks *mongo.Collection
	// totals holds the pre-aggregated cells (totals.go).
	totals *mongo.Collection
	// audit holds the audit log (audit.go).
	audit *mongo.Collection
	// indicators holds indicator definitions (indicators.go).
	indicators *mongo.Collection
	// extensions and extensionVersions hold template extensions
	// (extensions.go).
	extensions, extensionVersions *mongo.Collection
	// meta holds the layout version (layout.go).
	meta *mongo.Collection
}

// Connect builds a client for uri (majority writes, operation timeout),
// checks that the deployment answers and opens the store on database.
func Connect(ctx context.Context, uri, database string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	co := options.Client().ApplyURI(uri).
		SetTimeout(opts.Timeout).
		SetWriteConcern(writeconcern.Majority()).
		SetAppName("huizong")
	if opts.MaxPoolSize > 0 {
		co.SetMaxPoolSize(opts.MaxPoolSize)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("mongo.Connect: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := client.Ping(pingCtx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo.Connect: ping: %w", mapErr(err))
	}
	s, err := open(ctx, client, database, opts.Log)
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	s.owned = true
	return s, nil
}

// New opens the store on an existing client, creates its indexes and
// upgrades an older layout (idempotent: every instance does it at start).
func New(ctx context.Context, client *mongo.Client, database string) (*Store, error) {
	return open(ctx, client, database, nil)
}

func open(ctx context.Context, client *mongo.Client, database string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := client.Database(database)
	s := &Store{
		client:      client,
		db:          db,
		orgs:        db.Collection("orgs"),
		users:       db.Collection("users"),
		sessions:    db.Collection("sessions"),
		keys:        db.Collection("signing_keys"),
		idempotency: db.Collection("idempotency"),
		batches:     db.Collection("user_batches"),

		templates:         db.Collection("templates"),
		templateVersions:  db.Collection("template_versions"),
		records:           db.Collection("records"),
		attachments:       db.Collection("attachments"),
		files:             db.GridFSBucket(options.GridFSBucket().SetName("attachments")),
		tasks:             db.Collection("tasks"),
		totals:            db.Collection("totals"),
		audit:             db.Collection("audit"),
		indicators:        db.Collection("indicators"),
		extensions:        db.Collection("template_extensions"),
		extensionVersions: db.Collection("extension_versions"),
		meta:              db.Collection("meta"),
	}
	if err := s.ensureIndexes(ctx); err != nil {
		return nil, err
	}
	if err := s.upgrade(ctx, log); err != nil {
		return nil, err
	}
	return s, nil
}

// index is a named index.
type index struct {
	name  string
	model mongo.IndexModel
}

// indexes lists every index, by collection. Unique keys are never over
// missing values: code_key and mobile_key are always present (the code or
// mobile, else "id:<id>").
func (s *Store) indexes() map[*mongo.Collection][]index {
	idx := func(name string, unique bool, keys ...string) index {
		d := bson.D{}
		for _, k := range keys {
			d = append(d, bson.E{Key: k, Value: 1})
		}
		o := options.Index().SetName(name)
		if unique {
			o.SetUnique(true)
		}
		return index{name: name, model: mongo.IndexModel{Keys: d, Options: o}}
	}
	return map[*mongo.Collection][]index{
		s.orgs: {
			idx("path_id", false, "path", "_id"),
			idx("parent_id", false, "parent_id", "_id"),
			idx("kind_id", false, "kind", "_id"),
			idx("code_key", true, "code_key"),
		},
		s.users: {
			idx("username", true, "username"),
			idx("mobile_key", true, "mobile_key"),
			idx("path_id", false, "path", "_id"),
			idx("org_id", false, "org_id", "_id"),
			idx("pending", false, "pending"),
		},
		s.sessions: {
			idx("user_id", false, "user_id", "created_at"),
			idx("expires_at", false, "expires_at"),
		},
		s.idempotency: {
			idx("expires_at", false, "expires_at"),
		},
		s.batches: {
			idx("created_at", false, "created_at"),
		},
		s.templates: {
			idx("owner_id", false, "owner_id", "_id"),
			idx("path_id", false, "path", "_id"),
		},
		s.records: {
			// Unique per district: prefixed by the shard key (shard.go).
			idx("dk_client_key", true, "dk", "client_key"),
			idx("path_id", false, "path", "_id"),
			// A subtree's records of one template (an export's sheet).
			idx("path_template_id", false, "path", "template", "_id"),
			idx("author_id", false, "author_id", "_id"),
			idx("template_status", false, "template", "status", "_id"),
			idx("updated_id", false, "updated_at", "_id"),
			idx("path_updated", false, "path", "updated_at", "_id"),
			idx("org_id", false, "org_id"),
			idx("rollup_pending", false, "rollup_pending", "updated_at"),
		},
		s.totals: {
			idx("district", false, "s1", "st", "dk", "mo"),
			idx("city", false, "s0", "st", "dk", "mo"),
			idx("org", false, "o", "st", "dk", "mo"),
		},
		s.attachments: {
			idx("client_key", true, "client_key"),
		},
		s.tasks: {
			idx("path_id", false, "path", "_id"),
			idx("targets_id", false, "targets", "_id"),
		},
		s.indicators: {
			idx("owner_id", false, "owner_id", "_id"),
			idx("path_id", false, "path", "_id"),
		},
		s.audit: {
			idx("path_id", false, "path", "_id"),
			idx("kind_id", false, "kind", "_id"),
			idx("actor_id", false, "actor_id", "_id"),
			idx("subject_id", false, "subject_id", "_id"),
		},
	}
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	for coll, models := range s.indexes() {
		// Only missing indexes are built: a restart costs one listing per
		// collection, and FerretDB's createIndexes breaks on an index that
		// already exists.
		have := map[string]bool{}
		specs, err := coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			return fmt.Errorf("mongo: list indexes on %s: %w", coll.Name(), mapErr(err))
		}
		for _, sp := range specs {
			have[sp.Name] = true
		}
		var missing []mongo.IndexModel
		for _, ix := range models {
			if !have[ix.name] {
				missing = append(missing, ix.model)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
			return fmt.Errorf("mongo: create indexes on %s: %w", coll.Name(), mapErr(err))
		}
	}
	return nil
}

// Name names the store.
func (s *Store) Name() string { return "mongodb" }

// Ping checks that the deployment answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongo.Ping: %w", mapErr(err))
	}
	return nil
}

// Close disconnects the client if Connect made it.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// isDuplicate reports a unique key violation on MongoDB or on FerretDB.
func isDuplicate(err error) bool {
	return mongo.IsDuplicateKeyError(err) || (err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed"))
}

// mapErr turns driver errors into the service sentinels.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return services.ErrNotFound
	case isDuplicate(err):
		return fmt.Errorf("%w: %w", services.ErrConflict, err)
	case mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.Is(err, mongo.ErrClientDisconnected):
		// The deployment is out of reach: to a phone, as the embedded
		// store's failing disk (503 storage_unavailable, Retry-After).
		return fmt.Errorf("%w: %w", services.ErrStorage, err)
	}
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError")) {
		return fmt.Errorf("%w: %w", services.ErrUnavailable, err)
	}
	return err
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, mapErr(err))
}

// ms stores a time as unix milliseconds; 0 is the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOf(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// scopeFilter is the match that keeps a query inside s; ok is false for
// the zero scope, which matches nothing.
func scopeFilter(s services.Scope) (bson.E, bool) {
	switch {
	case s.All:
		return bson.E{}, true
	case s.OrgID == "":
		return bson.E{}, false
	}
	return bson.E{Key: "path", Value: s.OrgID}, true
}

// withScope appends the scope match to f.
func withScope(f bson.D, s services.Scope) (bson.D, bool) {
	e, ok := scopeFilter(s)
	if !ok {
		return nil, false
	}
	if e.Key != "" {
		f = append(f, e)
	}
	return f, true
}

// findPage runs a keyset-paginated find in _id order.
func findPage[T any](ctx context.Context, coll *mongo.Collection, f bson.D, p services.Page) ([]T, error) {
	p = p.Normalize()
	if p.After != "" {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: p.After}}})
	}
	return findAll[T](ctx, coll, f, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(p.Limit)))
}

// findAll decodes every document a find returns; callers bound it with a
// limit.
func findAll[T any](ctx context.Context, coll *mongo.Collection, f bson.D, opts *options.FindOptionsBuilder) ([]T, error) {
	cur, err := coll.Find(ctx, f, opts)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// count counts the documents f matches; a nil filter matches nothing.
func count(ctx context.Context, coll *mongo.Collection, f bson.D) (int64, error) {
	if f == nil {
		return 0, nil
	}
	return coll.CountDocuments(ctx, f)
}
