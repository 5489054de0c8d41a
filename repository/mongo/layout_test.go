package mongo

import (
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// TestLayoutUpgrade writes records and totals, turns the database back
// into layout 1 (no district keys, cell ids without the district, a
// global unique client key index), and opens it with two instances at
// once: one upgrades, the other waits; afterwards every record has its
// district key, the old index is gone, and the totals rebuilt from the
// records are exact.
func TestLayoutUpgrade(t *testing.T) {
	ctx := t.Context()
	db := server.Database(t)
	s, err := New(ctx, server.Client, db)
	noErr(t, err)
	school := crashRecord(services.StatusApproved, "fire", 3, 1)
	noErr(t, s.CreateRecord(ctx, school, crashEvent(1)))
	other := crashRecord(services.StatusSubmitted, "quake", 4, 1)
	other.ID, other.ClientID, other.OrgID, other.OrgPath = "r2", "c2", "s2", []string{"c1", "d2", "s2"}
	other.Rollup = services.RollupOf(other, crashTemplate)
	noErr(t, s.CreateRecord(ctx, other, crashEvent(1)))
	city := crashRecord(services.StatusApproved, "fire", 1, 1)
	city.ID, city.ClientID, city.OrgID, city.OrgPath = "r3", "c3", "c1", []string{"c1"}
	city.Rollup = services.Rollup{}
	noErr(t, s.CreateRecord(ctx, city, crashEvent(1)))

	// Back to layout 1.
	_, err = s.records.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$unset", Value: bson.D{{Key: "dk", Value: ""}}}})
	noErr(t, err)
	cells, err := findAll[bson.M](ctx, s.totals, bson.D{}, options.Find())
	noErr(t, err)
	if len(cells) == 0 {
		t.Fatal("no cells written")
	}
	for _, c := range cells {
		id := c["_id"].(string)
		_, old, _ := strings.Cut(id, ".")
		_, err := s.totals.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		noErr(t, err)
		c["_id"] = old
		_, err = s.totals.InsertOne(ctx, c)
		noErr(t, err)
	}
	for _, r := range []services.Record{school, other} {
		var old []string
		for _, id := range cellIDs(r.Rollup) {
			_, h, _ := strings.Cut(id, ".")
			old = append(old, h)
		}
		_, err := s.records.UpdateOne(ctx, bson.D{{Key: "_id", Value: r.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "touched", Value: old}}}})
		noErr(t, err)
	}
	noErr(t, s.records.Indexes().DropOne(ctx, "dk_client_key"))
	_, err = s.records.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "client_key", Value: 1}},
		Options: options.Index().SetName("client_key").SetUnique(true)})
	noErr(t, err)
	_, err = s.meta.DeleteMany(ctx, bson.D{})
	noErr(t, err)

	// Two instances start on it at once.
	var wg sync.WaitGroup
	stores := make([]*Store, 2)
	errs := make([]error, 2)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = New(ctx, server.Client, db)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		noErr(t, err)
	}
	up := stores[0]
	v, err := up.layout(ctx)
	noErr(t, err)
	if v != layoutVersion {
		t.Fatalf("layout %d after the upgrade, want %d", v, layoutVersion)
	}
	for id, want := range map[string]string{"r1": "d1", "r2": "d2", "r3": ""} {
		var d struct {
			District *string `bson:"dk"`
		}
		noErr(t, up.records.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d))
		if d.District == nil || *d.District != want {
			t.Errorf("record %s: district key %v, want %q", id, d.District, want)
		}
	}
	specs, err := up.records.Indexes().ListSpecifications(ctx)
	noErr(t, err)
	names := map[string]bool{}
	for _, sp := range specs {
		names[sp.Name] = true
	}
	if names["client_key"] || !names["dk_client_key"] {
		t.Errorf("record indexes after the upgrade: %v", names)
	}
	// The start-up finish rebuilds the cells under their new ids.
	_, err = up.FinishTotals(ctx, time.Now().Add(time.Hour))
	noErr(t, err)
	rebuilt, err := findAll[cellDoc](ctx, up.totals, bson.D{}, options.Find())
	noErr(t, err)
	if len(rebuilt) != len(cells) {
		t.Errorf("%d cells after the rebuild, %d before", len(rebuilt), len(cells))
	}
	for _, c := range rebuilt {
		if !strings.HasPrefix(c.ID, c.District+".") {
			t.Errorf("cell %s is not prefixed by its district %q", c.ID, c.District)
		}
	}
	for _, org := range []string{"s1", "s2"} {
		drift, err := up.ReconcileTotals(ctx, org, func(r services.Record) (services.Rollup, error) {
			return services.RollupOf(r, crashTemplate), nil
		}, false)
		noErr(t, err)
		if len(drift) != 0 {
			t.Errorf("%s: totals drift after the upgrade: %+v", org, drift)
		}
	}
	// And the retry of a create still finds its record.
	if _, err := up.RecordByClientID(ctx, services.Scope{OrgID: "s1", District: "d1", AuthorID: "u1"}, "u1", "c1"); err != nil {
		t.Errorf("RecordByClientID after the upgrade: %v", err)
	}
}
