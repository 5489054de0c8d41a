package mongo

import (
	"fmt"
	"io"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ShardKey is how one collection is sharded on a sharded cluster.
type ShardKey struct {
	// Collection is the collection's name.
	Collection string
	// Key is the shard key: field names with 1 (ranged) or "hashed".
	Key bson.D
	// Why says why this key, and what it routes.
	Why string
}

// ShardPlan is the shard key of every collection that grows with use;
// the others (orgs, users, sessions, templates, tasks, indicators,
// extensions, keys, idempotency keys, attachment metadata) stay unsharded
// on the primary shard: a province holds tens of thousands of them, and
// their unique indexes (username, mobile, org code, client ids) need one
// place. docs/sharding.md explains each choice; the store's indexes obey
// it (TestShardPlanIndexes): every unique index of a sharded collection
// starts with its whole shard key, and the hot queries carry the key's
// first field (TestHotQueriesCarryShardKey).
func ShardPlan() []ShardKey {
	return []ShardKey{
		{Collection: "records", Key: bson.D{{Key: "dk", Value: 1}, {Key: "client_key", Value: 1}},
			Why: "district, then the phone's client key: a district's and a school's lists, reviews, exports and task progress " +
				"go to the district's shard; the unique client key index (what makes a phone's retry safe) is the shard key itself; " +
				"client keys end in a random UUID, so a district's inserts spread over its chunks"},
		{Collection: "totals", Key: bson.D{{Key: "s1", Value: 1}, {Key: "_id", Value: 1}},
			Why: "district, then cell id (itself prefixed by the district): a district's or a school's totals are read from one shard; " +
				"a city's totals gather from every shard"},
		{Collection: "audit", Key: bson.D{{Key: "_id", Value: "hashed"}},
			Why: "written on every action, read rarely: hashed ids spread the inserts; reads gather from every shard"},
		{Collection: "attachments.chunks", Key: bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: 1}},
			Why: "GridFS photo bytes, the largest collection: a file's chunks stay together and are read in order"},
	}
}

// WriteShardPlan writes the mongosh commands that shard database by the
// plan: what `huizong mongo shard-plan` prints for an operator. Run them
// on a mongos before the first huizong instance starts (an empty
// database), or on an existing database after creating the shard key
// indexes the commands also list.
func WriteShardPlan(w io.Writer, database string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "// huizong: shard the %s database (mongosh, connected to a mongos).\n", database)
	fmt.Fprintf(&b, "// Collections not listed stay unsharded on the primary shard (see docs/sharding.md).\n")
	fmt.Fprintf(&b, "sh.enableSharding(%q)\n", database)
	for _, k := range ShardPlan() {
		fmt.Fprintf(&b, "\n// %s: %s\n", k.Collection, k.Why)
		fmt.Fprintf(&b, "db.getSiblingDB(%q).getCollection(%q).createIndex(%s)\n", database, k.Collection, keyJS(k.Key))
		fmt.Fprintf(&b, "sh.shardCollection(%q, %s)\n", database+"."+k.Collection, keyJS(k.Key))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// keyJS writes a key document as mongosh reads it: { dk: 1, _id: 1 }.
func keyJS(d bson.D) string {
	parts := make([]string, len(d))
	for i, e := range d {
		switch v := e.Value.(type) {
		case string:
			parts[i] = fmt.Sprintf("%s: %q", e.Key, v)
		default:
			parts[i] = fmt.Sprintf("%s: %v", e.Key, v)
		}
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}
