package mongo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// TestShardPlanIndexes: every unique index the store creates on a sharded
// collection starts with the collection's whole shard key (MongoDB
// refuses to shard a collection otherwise), a hashed key has no unique
// index, and
// every collection in the plan is one the store uses.
func TestShardPlanIndexes(t *testing.T) {
	s := openTest(t)
	byName := map[string][]index{}
	names := map[string]bool{"attachments.chunks": true} // GridFS makes {files_id, n}
	for coll, idx := range s.indexes() {
		byName[coll.Name()] = idx
	}
	for _, c := range []*mongo.Collection{s.orgs, s.users, s.sessions, s.keys, s.idempotency, s.batches, s.templates,
		s.templateVersions, s.records, s.attachments, s.tasks, s.totals, s.audit, s.indicators, s.extensions,
		s.extensionVersions, s.meta} {
		names[c.Name()] = true
	}
	for _, k := range ShardPlan() {
		if !names[k.Collection] {
			t.Errorf("plan shards %s, which the store does not use", k.Collection)
		}
		var key []string
		hashed := false
		for _, e := range k.Key {
			key = append(key, e.Key)
			hashed = hashed || e.Value == "hashed"
		}
		for _, ix := range byName[k.Collection] {
			if ix.model.Options == nil {
				continue
			}
			var o options.IndexOptions
			for _, set := range ix.model.Options.List() {
				_ = set(&o)
			}
			if o.Unique == nil || !*o.Unique {
				continue
			}
			var fields []string
			for _, e := range ix.model.Keys.(bson.D) {
				fields = append(fields, e.Key)
			}
			if hashed || len(fields) < len(key) || !slices.Equal(fields[:len(key)], key) {
				t.Errorf("%s: unique index %s %v does not start with the shard key %v", k.Collection, ix.name, fields, key)
			}
		}
	}
	var b bytes.Buffer
	if err := WriteShardPlan(&b, "hz"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`sh.enableSharding("hz")`, `sh.shardCollection("hz.records", { dk: 1, client_key: 1 })`,
		`sh.shardCollection("hz.totals", { s1: 1, _id: 1 })`, `sh.shardCollection("hz.audit", { _id: "hashed" })`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("shard plan lacks %s:\n%s", want, b.String())
		}
	}
}

// commandLog keeps the commands a client sent, by collection.
type commandLog struct {
	mu   sync.Mutex
	cmds []bson.Raw
}

func (l *commandLog) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.cmds = append(l.cmds, slices.Clone(e.Command))
	}}
}

// filters returns, for every command on coll since the last reset, the
// command name and each filter it carries (find, count, update and
// delete statements).
func (l *commandLog) filters(coll string) (out []struct {
	cmd    string
	filter bson.Raw
}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.cmds {
		elems, _ := c.Elements()
		if len(elems) == 0 {
			continue
		}
		name := elems[0].Key()
		if v, ok := elems[0].Value().StringValueOK(); !ok || v != coll {
			continue
		}
		add := func(f bson.RawValue) {
			if d, ok := f.DocumentOK(); ok {
				out = append(out, struct {
					cmd    string
					filter bson.Raw
				}{name, bson.Raw(d)})
			}
		}
		switch name {
		case "find", "count":
			add(c.Lookup(map[string]string{"find": "filter", "count": "query"}[name]))
		case "update", "delete":
			stmts, _ := c.Lookup(name + "s").Array().Values()
			for _, st := range stmts {
				add(st.Document().Lookup("q"))
			}
		case "aggregate":
			t := fmt.Sprintf("aggregate on %s", coll)
			out = append(out, struct {
				cmd    string
				filter bson.Raw
			}{t, nil})
		}
	}
	return out
}

// reset forgets the commands seen so far.
func (l *commandLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = nil
}

// TestHotQueriesCarryShardKey watches the commands a school's day sends
// (a teacher creates and edits a record, lists and reads it, the principal
// approves it, school and district totals are read): every filter on
// records carries the district key dk and every filter on totals its
// district s1, so a sharded cluster routes each to one shard.
func TestHotQueriesCarryShardKey(t *testing.T) {
	var log commandLog
	co := options.Client().ApplyURI(server.URI).SetMonitor(log.monitor()).SetTimeout(60 * time.Second)
	if server.Ferret {
		co.SetMaxPoolSize(1)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	ctx := t.Context()
	s, err := New(ctx, client, server.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	log.reset()

	teacher := services.Scope{OrgID: "s1", District: "d1", AuthorID: "u1"}
	principal := services.Scope{OrgID: "s1", District: "d1"}
	district := services.Scope{OrgID: "d1", District: "d1"}
	r := crashRecord(services.StatusSubmitted, "fire", 3, 1)
	noErr(t, s.CreateRecord(ctx, r, crashEvent(1)))
	got, err := s.RecordByClientID(ctx, teacher, "u1", "c1")
	noErr(t, err)
	if _, err := s.Records(ctx, teacher, services.RecordQuery{Limit: 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Records(ctx, district, services.RecordQuery{Template: "drill", Limit: 20}); err != nil {
		t.Fatal(err)
	}
	next := crashRecord(services.StatusSubmitted, "quake", 5, 1)
	next.Version = got.Version
	edited, err := s.UpdateRecord(ctx, teacher, next, crashEvent(2))
	noErr(t, err)
	approved := crashRecord(services.StatusApproved, "quake", 5, int(edited.Version))
	if _, err := s.UpdateRecord(ctx, principal, approved, crashEvent(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, principal, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordHistory(ctx, principal, "r1", 0, 10); err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]string{{"c1", "d1"}, {"c1", "d1", "s1"}} {
		noErr(t, s.Cells(ctx, district, services.CellQuery{OrgPath: path, Templates: []string{"drill"}},
			func(services.CellGroup) error { return nil }))
	}

	check := func(coll, key string) {
		fs := log.filters(coll)
		if len(fs) == 0 {
			t.Fatalf("no command on %s seen", coll)
		}
		for _, f := range fs {
			if f.filter == nil {
				t.Errorf("%s: %s cannot be routed", coll, f.cmd)
				continue
			}
			if _, err := f.filter.LookupErr(key); err != nil {
				t.Errorf("%s %s without the shard key %s: %s", coll, f.cmd, key, f.filter)
			}
		}
		t.Logf("%s: %d filters, each with %s", coll, len(fs), key)
	}
	check("records", "dk")
	check("totals", "s1")
}

// TestShardPlanOnCluster runs the plan's commands on a real sharded
// cluster and then the conformance-relevant writes, when
// HUIZONG_TEST_MONGODB_URI points at a mongos.
func TestShardPlanOnCluster(t *testing.T) {
	if os.Getenv("HUIZONG_TEST_MONGODB_URI") == "" || server.Ferret {
		t.Skip("needs HUIZONG_TEST_MONGODB_URI pointing at a mongos")
	}
	ctx := t.Context()
	var hello struct {
		Msg string `bson:"msg"`
	}
	noErr(t, server.Client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello))
	if hello.Msg != "isdbgrid" {
		t.Skip("HUIZONG_TEST_MONGODB_URI is not a mongos")
	}
	db := server.Database(t)
	admin := server.Client.Database("admin")
	noErr(t, admin.RunCommand(ctx, bson.D{{Key: "enableSharding", Value: db}}).Err())
	for _, k := range ShardPlan() {
		noErr(t, admin.RunCommand(ctx, bson.D{{Key: "shardCollection", Value: db + "." + k.Collection}, {Key: "key", Value: k.Key}}).Err())
	}
	s, err := New(ctx, server.Client, db)
	noErr(t, err)
	r := crashRecord(services.StatusApproved, "fire", 3, 1)
	noErr(t, s.CreateRecord(ctx, r, crashEvent(1)))
	// The retry of a create finds the first record by its client id.
	if _, err := s.RecordByClientID(ctx, services.Scope{OrgID: "s1", District: "d1"}, "u1", "c1"); err != nil {
		t.Fatal(err)
	}
	drift, err := s.ReconcileTotals(ctx, "s1", func(rec services.Record) (services.Rollup, error) {
		return services.RollupOf(rec, crashTemplate), nil
	}, false)
	noErr(t, err)
	if len(drift) != 0 {
		t.Errorf("totals drift on a sharded cluster: %+v", drift)
	}
}
