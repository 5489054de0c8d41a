package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// layoutVersion is the version of the stored layout this code reads and
// writes. Version 2 added the district key a sharded cluster routes on
// (docs/sharding.md): records carry dk, their unique client key index is
// {dk, client_key}, and cell ids start with the cell's district.
const layoutVersion = 2

// Layout documents in the meta collection.
const (
	layoutID  = "layout"
	upgradeID = "layout-upgrade"
)

// upgradeStale is how old an upgrade lock may be before another instance
// takes the upgrade over (its holder crashed: every step is idempotent).
const upgradeStale = 10 * time.Minute

// upgrade brings a database written by an earlier huizong to the current
// layout, once, whichever instance starts first; the others wait for it.
// An empty database starts at the current layout.
func (s *Store) upgrade(ctx context.Context, log *slog.Logger) error {
	for {
		v, err := s.layout(ctx)
		if err != nil {
			return err
		}
		switch {
		case v == layoutVersion:
			return nil
		case v > layoutVersion:
			return fmt.Errorf("mongo: the database has layout %d, written by a newer huizong (this one knows %d)", v, layoutVersion)
		}
		empty, err := s.empty(ctx)
		if err != nil {
			return err
		}
		if empty {
			return s.setLayout(ctx)
		}
		host, _ := os.Hostname()
		now := time.Now()
		_, err = s.meta.InsertOne(ctx, bson.D{{Key: "_id", Value: upgradeID}, {Key: "at", Value: ms(now)},
			{Key: "by", Value: fmt.Sprintf("%s pid %d", host, os.Getpid())}})
		if isDuplicate(err) {
			var lock struct {
				At int64  `bson:"at"`
				By string `bson:"by"`
			}
			if err := s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: upgradeID}}).Decode(&lock); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
				return mapErr(err)
			}
			if lock.At != 0 && now.Sub(timeOf(lock.At)) > upgradeStale {
				log.Warn("mongo: taking over an upgrade abandoned by another instance", slog.String("by", lock.By))
				if _, err := s.meta.DeleteOne(ctx, bson.D{{Key: "_id", Value: upgradeID}, {Key: "at", Value: lock.At}}); err != nil {
					return mapErr(err)
				}
				continue
			}
			log.Info("mongo: waiting for another instance to upgrade the database layout", slog.String("by", lock.By))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Second):
			}
			continue
		}
		if err != nil {
			return mapErr(err)
		}
		// Holding the lock: another instance may have finished meanwhile.
		if v, err := s.layout(ctx); err != nil || v == layoutVersion {
			_, _ = s.meta.DeleteOne(ctx, bson.D{{Key: "_id", Value: upgradeID}})
			return err
		}
		log.Info("mongo: upgrading the database layout", slog.Int("from", v), slog.Int("to", layoutVersion))
		if err := s.upgradeToDistrictKeys(ctx); err != nil {
			return fmt.Errorf("mongo: upgrade to layout %d: %w", layoutVersion, mapErr(err))
		}
		if err := s.setLayout(ctx); err != nil {
			return err
		}
		_, err = s.meta.DeleteOne(ctx, bson.D{{Key: "_id", Value: upgradeID}})
		log.Info("mongo: layout upgraded; totals are rebuilt from the records in the background")
		return mapErr(err)
	}
}

// layout is the stored layout version: 1 for a database without one.
func (s *Store) layout(ctx context.Context) (int, error) {
	var m struct {
		Version int `bson:"version"`
	}
	err := s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: layoutID}}).Decode(&m)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return 1, nil
	case err != nil:
		return 0, fmt.Errorf("mongo: read layout: %w", mapErr(err))
	}
	return m.Version, nil
}

func (s *Store) setLayout(ctx context.Context) error {
	_, err := s.meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: layoutID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: layoutVersion}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("mongo: write layout: %w", mapErr(err))
	}
	return nil
}

// empty reports whether the database holds no record and no org yet.
func (s *Store) empty(ctx context.Context) (bool, error) {
	for _, c := range []*mongo.Collection{s.records, s.orgs} {
		n, err := c.CountDocuments(ctx, bson.D{}, options.Count().SetLimit(1))
		if err != nil {
			return false, fmt.Errorf("mongo: count %s: %w", c.Name(), mapErr(err))
		}
		if n > 0 {
			return false, nil
		}
	}
	return true, nil
}

// upgradeToDistrictKeys is the layout 1 to 2 upgrade. Every step can run
// again after a crash. Records get their district key; cells are dropped
// and every record marked pending, so FinishTotals (at start, in the
// background) rebuilds them under the new ids from the records.
func (s *Store) upgradeToDistrictKeys(ctx context.Context) error {
	// One record still without a key names a district (or a city) whose
	// records all get it in one update: as many rounds as districts.
	missing := bson.D{{Key: "dk", Value: bson.D{{Key: "$exists", Value: false}}}}
	for {
		var r struct {
			OrgID string   `bson:"org_id"`
			Path  []string `bson:"path"`
		}
		err := s.records.FindOne(ctx, missing, options.FindOne().SetProjection(bson.D{{Key: "org_id", Value: 1}, {Key: "path", Value: 1}})).Decode(&r)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return err
		}
		d := services.DistrictOf(r.Path)
		f := append(slices.Clone(missing), bson.E{Key: "path", Value: d})
		if d == "" { // a city's own records
			f = append(slices.Clone(missing), bson.E{Key: "org_id", Value: r.OrgID})
		}
		if _, err := s.records.UpdateMany(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "dk", Value: d}}}}); err != nil {
			return err
		}
	}
	if _, err := s.totals.DeleteMany(ctx, bson.D{}); err != nil {
		return err
	}
	if _, err := s.records.UpdateMany(ctx, bson.D{},
		bson.D{{Key: "$set", Value: bson.D{{Key: "touched", Value: bson.A{}}, {Key: "rollup_pending", Value: true}}}}); err != nil {
		return err
	}
	// The unique client key index of layout 1 is not prefixed by the
	// shard key; ensureIndexes made {dk, client_key} before this runs.
	return dropIndex(ctx, s.records, "client_key")
}

// dropIndex drops index name of coll when it exists.
func dropIndex(ctx context.Context, coll *mongo.Collection, name string) error {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return err
	}
	for _, sp := range specs {
		if sp.Name == name {
			return coll.Indexes().DropOne(ctx, name)
		}
	}
	return nil
}
