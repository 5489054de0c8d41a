package mongo

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

type warningDoc struct {
	Field string  `bson:"field"`
	Code  string  `bson:"code"`
	Limit float64 `bson:"limit"`
}

type reviewDoc struct {
	By      string `bson:"by"`
	Role    string `bson:"role"`
	At      int64  `bson:"at"`
	Action  string `bson:"action"`
	Comment string `bson:"comment"`
}

type changeDoc struct {
	Field  string `bson:"field"`
	Before any    `bson:"before"`
	After  any    `bson:"after"`
}

type eventDoc struct {
	ID        string      `bson:"id"`
	Version   int64       `bson:"version"`
	At        int64       `bson:"at"`
	ActorID   string      `bson:"actor_id"`
	ActorRole string      `bson:"actor_role"`
	Action    string      `bson:"action"`
	Comment   string      `bson:"comment"`
	Changes   []changeDoc `bson:"changes"`
}

// recordDoc is a record as stored. Its template data is a document of its
// own; its history is embedded, so an update and its history entry are
// one atomic write without transactions. ClientKey (author/client id)
// carries the unique index that makes retried creates find the first one.
type recordDoc struct {
	ID              string      `bson:"_id"`
	ClientID        string      `bson:"client_id"`
	ClientKey       string      `bson:"client_key"`
	AuthorID        string      `bson:"author_id"`
	AuthorRole      string      `bson:"author_role"`
	Template        string      `bson:"template"`
	TemplateVersion int64       `bson:"template_version"`
	Extensions      []extRefDoc `bson:"extensions,omitempty"`
	OrgID           string      `bson:"org_id"`
	Path            []string    `bson:"path"`
	// District is the shard key's first field (docs/sharding.md): the
	// district of the org ("" for a city's own records). Never changes.
	District    string       `bson:"dk"`
	OccurredOn  string       `bson:"occurred_on"`
	EndOn       string       `bson:"end_on"`
	Title       string       `bson:"title"`
	Description string       `bson:"description"`
	Data        bson.Raw     `bson:"data"`
	Attachments []string     `bson:"attachments"`
	Status      string       `bson:"status"`
	Warnings    []warningDoc `bson:"warnings"`
	Review      reviewDoc    `bson:"review"`
	Hash        string       `bson:"hash"`
	Version     int64        `bson:"version"`
	CreatedAt   int64        `bson:"created_at"`
	UpdatedAt   int64        `bson:"updated_at"`
	DeletedAt   int64        `bson:"deleted_at"`
	SubmittedAt int64        `bson:"submitted_at"`
	// Rollup, Touched and RollupPending keep totals right (totals.go).
	Rollup        *rollupDoc `bson:"rollup"`
	Touched       []string   `bson:"touched"`
	RollupPending bool       `bson:"rollup_pending"`
	History       []eventDoc `bson:"history,omitempty"`
}

// noHistory leaves the embedded history out of reads.
var noHistory = bson.D{{Key: "history", Value: 0}}

// dataDoc turns a record's JSON data into a BSON document.
func dataDoc(raw json.RawMessage) (bson.Raw, error) {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON(raw, false, &d); err != nil {
		return nil, fmt.Errorf("record data: %w", err)
	}
	return bson.Marshal(d)
}

// dataJSON turns stored data back into JSON.
func dataJSON(raw bson.Raw) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	b, err := bson.MarshalExtJSON(raw, false, false)
	if err != nil {
		return nil, fmt.Errorf("record data: %w", err)
	}
	return b, nil
}

func fromEvent(ev services.RecordEvent) eventDoc {
	d := eventDoc{ID: ev.ID, Version: ev.Version, At: ms(ev.At), ActorID: ev.ActorID, ActorRole: string(ev.ActorRole),
		Action: ev.Action, Comment: ev.Comment, Changes: []changeDoc{}}
	for _, c := range ev.Changes {
		d.Changes = append(d.Changes, changeDoc(c))
	}
	return d
}

func toEvent(recordID string, d eventDoc) services.RecordEvent {
	ev := services.RecordEvent{ID: d.ID, RecordID: recordID, Version: d.Version, At: timeOf(d.At), ActorID: d.ActorID,
		ActorRole: services.Role(d.ActorRole), Action: d.Action, Comment: d.Comment}
	for _, c := range d.Changes {
		ev.Changes = append(ev.Changes, services.Change{Field: c.Field, Before: plain(c.Before), After: plain(c.After)})
	}
	return ev
}

// plain turns decoded BSON values into the JSON-shaped values the
// services use.
func plain(v any) any {
	switch x := v.(type) {
	case bson.A:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case bson.D:
		out := make(map[string]any, len(x))
		for _, e := range x {
			out[e.Key] = plain(e.Value)
		}
		return out
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

func fromRecord(r services.Record) (recordDoc, error) {
	data, err := dataDoc(r.Data)
	if err != nil {
		return recordDoc{}, err
	}
	d := recordDoc{ID: r.ID, ClientID: r.ClientID, ClientKey: r.AuthorID + "/" + r.ClientID, AuthorID: r.AuthorID,
		AuthorRole: string(r.AuthorRole), Template: r.Template, TemplateVersion: r.TemplateVersion, OrgID: r.OrgID,
		Path: r.OrgPath, District: services.DistrictOf(r.OrgPath), OccurredOn: r.OccurredOn, EndOn: r.EndOn, Title: r.Title, Description: r.Description,
		Data: data, Attachments: r.Attachments, Status: string(r.Status), Hash: r.Hash, Version: r.Version,
		CreatedAt: ms(r.CreatedAt), UpdatedAt: ms(r.UpdatedAt), DeletedAt: ms(r.DeletedAt),
		SubmittedAt: ms(r.SubmittedAt),
		Review: reviewDoc{By: r.Review.By, Role: string(r.Review.Role), At: ms(r.Review.At), Action: r.Review.Action,
			Comment: r.Review.Comment}}
	for _, e := range r.Extensions {
		d.Extensions = append(d.Extensions, extRefDoc(e))
	}
	if d.Attachments == nil {
		d.Attachments = []string{}
	}
	for _, w := range r.Warnings {
		d.Warnings = append(d.Warnings, warningDoc(w))
	}
	if d.Warnings == nil {
		d.Warnings = []warningDoc{}
	}
	return d, nil
}

func toRecord(d recordDoc) (services.Record, error) {
	data, err := dataJSON(d.Data)
	if err != nil {
		return services.Record{}, err
	}
	r := services.Record{ID: d.ID, ClientID: d.ClientID, Template: d.Template, TemplateVersion: d.TemplateVersion,
		OrgID: d.OrgID, OrgPath: d.Path, AuthorID: d.AuthorID, AuthorRole: services.Role(d.AuthorRole),
		OccurredOn: d.OccurredOn, EndOn: d.EndOn, Title: d.Title, Description: d.Description, Data: data,
		Attachments: d.Attachments, Status: services.RecordStatus(d.Status), Hash: d.Hash, Version: d.Version,
		CreatedAt: timeOf(d.CreatedAt), UpdatedAt: timeOf(d.UpdatedAt), DeletedAt: timeOf(d.DeletedAt),
		SubmittedAt: timeOf(d.SubmittedAt),
		Review: services.Review{By: d.Review.By, Role: services.Role(d.Review.Role), At: timeOf(d.Review.At),
			Action: d.Review.Action, Comment: d.Review.Comment}}
	for _, e := range d.Extensions {
		r.Extensions = append(r.Extensions, services.ExtensionRef(e))
	}
	for _, w := range d.Warnings {
		r.Warnings = append(r.Warnings, services.Warning(w))
	}
	return r, nil
}

// recordScope adds s to a record filter: the subtree, and the author for
// a teacher's scope. ok is false for the empty scope.
func recordScope(f bson.D, s services.Scope, authorKey string) (bson.D, bool) {
	f, ok := withScope(f, s)
	if ok && s.AuthorID != "" {
		f = append(f, bson.E{Key: authorKey, Value: s.AuthorID})
	}
	return f, ok
}

// recordFilter adds sc to a filter on records: recordScope, and the
// district key when the scope lies in one district (so a sharded cluster
// sends the query to that district's shard only).
func recordFilter(f bson.D, sc services.Scope) (bson.D, bool) {
	f, ok := recordScope(f, sc, "author_id")
	if ok && sc.District != "" {
		f = append(f, bson.E{Key: "dk", Value: sc.District})
	}
	return f, ok
}

// byID is the filter on one record: its id and its district, the whole
// shard key.
func recordKey(district, id string) bson.D {
	return bson.D{{Key: "dk", Value: district}, {Key: "_id", Value: id}}
}

// CreateRecord inserts r with its first history event in one document,
// then adds it to the totals.
func (s *Store) CreateRecord(ctx context.Context, r services.Record, ev services.RecordEvent) error {
	const op = "mongo.CreateRecord"
	// Refused before it is stored when its contribution would overflow
	// a cell (see totals.go).
	if err := s.checkRollup(ctx, services.DistrictOf(r.OrgPath), r.ID, r.Rollup); err != nil {
		return wrap(op, err)
	}
	d, err := s.insertRecord(ctx, r, ev)
	if err != nil {
		return wrap(op, err)
	}
	// What it inserted is what applying reads: no need to read it back.
	// A failure here leaves the record pending: FinishTotals completes it.
	// The record itself is stored, so the create succeeded.
	_ = s.applyPending(ctx, pendingDoc{ID: d.ID, District: d.District, Version: d.Version, Rollup: d.Rollup, Touched: d.Touched, Pending: d.RollupPending})
	return nil
}

// insertRecord stores r marked pending for totals (when it counts): the
// first half of CreateRecord, apart so tests can crash after it.
func (s *Store) insertRecord(ctx context.Context, r services.Record, ev services.RecordEvent) (recordDoc, error) {
	d, err := fromRecord(r)
	if err != nil {
		return recordDoc{}, err
	}
	d.History = []eventDoc{fromEvent(ev)}
	d.Rollup, d.Touched = fromRollup(r.Rollup), cellIDs(r.Rollup)
	d.RollupPending = len(d.Touched) > 0
	_, err = s.records.InsertOne(ctx, d)
	return d, err
}

func (s *Store) findRecord(ctx context.Context, op string, f bson.D, sc services.Scope) (services.Record, error) {
	f, ok := recordFilter(f, sc)
	if !ok {
		return services.Record{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	var d recordDoc
	if err := s.records.FindOne(ctx, f, options.FindOne().SetProjection(noHistory)).Decode(&d); err != nil {
		return services.Record{}, wrap(op, err)
	}
	r, err := toRecord(d)
	if err != nil {
		return services.Record{}, fmt.Errorf("%s: %w", op, err)
	}
	return r, nil
}

// Record returns the record id inside sc, withdrawn or not.
func (s *Store) Record(ctx context.Context, sc services.Scope, id string) (services.Record, error) {
	return s.findRecord(ctx, "mongo.Record", bson.D{{Key: "_id", Value: id}}, sc)
}

// RecordByClientID returns the record authorID created with clientID.
func (s *Store) RecordByClientID(ctx context.Context, sc services.Scope, authorID, clientID string) (services.Record, error) {
	// The author's id too: with no district to route on (a city-level
	// author) the author's index finds it.
	return s.findRecord(ctx, "mongo.RecordByClientID", bson.D{{Key: "client_key", Value: authorID + "/" + clientID},
		{Key: "author_id", Value: authorID}}, sc)
}

// Records lists records inside sc that match q.
func (s *Store) Records(ctx context.Context, sc services.Scope, q services.RecordQuery) ([]services.Record, error) {
	const op = "mongo.Records"
	if sc.AuthorID != "" && q.AuthorID != "" && sc.AuthorID != q.AuthorID {
		return nil, nil
	}
	f, ok := recordFilter(bson.D{}, sc)
	if !ok {
		return nil, nil
	}
	if q.AuthorID != "" && sc.AuthorID == "" {
		f = append(f, bson.E{Key: "author_id", Value: q.AuthorID})
	}
	if q.OrgID != "" {
		if sc.All {
			f = append(f, bson.E{Key: "path", Value: q.OrgID})
		} else {
			// The scope already matches on path: both must hold.
			f = append(f, bson.E{Key: "$and", Value: bson.A{bson.D{{Key: "path", Value: q.OrgID}}}})
		}
	}
	if q.Template != "" {
		f = append(f, bson.E{Key: "template", Value: q.Template})
	}
	switch {
	case q.Status != "" && !q.Sync && q.Status == services.StatusWithdrawn:
		return nil, nil
	case q.Status != "":
		f = append(f, bson.E{Key: "status", Value: string(q.Status)})
	case !q.Sync:
		f = append(f, bson.E{Key: "status", Value: bson.D{{Key: "$ne", Value: string(services.StatusWithdrawn)}}})
	}
	if len(q.Statuses) > 0 {
		in := bson.A{}
		for _, st := range q.Statuses {
			in = append(in, string(st))
		}
		f = appendAnd(f, bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: in}}}})
	}
	for _, k := range slices.Sorted(maps.Keys(q.Data)) {
		field := "data." + k // keys are checked by the service
		switch v := q.Data[k]; v {
		case "":
			f = append(f, bson.E{Key: field, Value: bson.D{{Key: "$exists", Value: false}}})
		case "true", "false":
			f = append(f, bson.E{Key: field, Value: bson.D{{Key: "$in", Value: bson.A{v, v == "true"}}}})
		default:
			f = append(f, bson.E{Key: field, Value: v})
		}
	}
	occurred := bson.D{}
	if q.From != "" {
		occurred = append(occurred, bson.E{Key: "$gte", Value: q.From})
	}
	if q.To != "" {
		occurred = append(occurred, bson.E{Key: "$lte", Value: q.To})
	}
	if len(occurred) > 0 {
		f = append(f, bson.E{Key: "occurred_on", Value: occurred})
	}
	limit := int64(q.PageLimit())
	o := options.Find().SetProjection(noHistory).SetLimit(limit)
	if q.Sync {
		var and bson.A
		and = append(and, bson.D{{Key: "updated_at", Value: bson.D{{Key: "$gt", Value: ms(q.UpdatedSince)}}}})
		if q.After.ID != "" {
			at := ms(q.After.UpdatedAt)
			and = append(and, bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: "updated_at", Value: bson.D{{Key: "$gt", Value: at}}}},
				bson.D{{Key: "updated_at", Value: at}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: q.After.ID}}}},
			}}})
		}
		f = appendAnd(f, and...)
		o.SetSort(bson.D{{Key: "updated_at", Value: 1}, {Key: "_id", Value: 1}})
	} else {
		if q.After.ID != "" {
			f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: q.After.ID}}})
		}
		o.SetSort(bson.D{{Key: "_id", Value: -1}})
	}
	docs, err := findAll[recordDoc](ctx, s.records, f, o)
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]services.Record, 0, len(docs))
	for _, d := range docs {
		r, err := toRecord(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// appendAnd adds conditions to f's $and (making one if need be).
func appendAnd(f bson.D, conds ...any) bson.D {
	for i, e := range f {
		if e.Key == "$and" {
			f[i].Value = append(e.Value.(bson.A), conds...)
			return f
		}
	}
	return append(f, bson.E{Key: "$and", Value: bson.A(conds)})
}

// UpdateRecord swaps in r at r.Version+1 and appends ev to the embedded
// history in the same single-document update.
func (s *Store) UpdateRecord(ctx context.Context, sc services.Scope, r services.Record, ev services.RecordEvent) (services.Record, error) {
	const op = "mongo.UpdateRecord"
	f, ok := recordFilter(bson.D{{Key: "_id", Value: r.ID}, {Key: "version", Value: r.Version}}, sc)
	if !ok {
		return services.Record{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	// Refused before it is stored when its contribution would overflow
	// a cell (see totals.go).
	if err := s.checkRollup(ctx, services.DistrictOf(r.OrgPath), r.ID, r.Rollup); err != nil {
		return services.Record{}, wrap(op, err)
	}
	d, matched, err := s.writeRecord(ctx, f, r, ev)
	if err != nil {
		return services.Record{}, wrap(op, err)
	}
	if !matched {
		// Outside the scope (or gone) is not found; there but moved on is stale.
		if _, ferr := s.Record(ctx, sc, r.ID); ferr != nil {
			return services.Record{}, fmt.Errorf("%s: %w", op, ferr)
		}
		return services.Record{}, fmt.Errorf("%s: %w", op, services.ErrStale)
	}
	// As in CreateRecord, a failure leaves the record pending.
	_ = s.applyRollup(ctx, services.DistrictOf(r.OrgPath), r.ID)
	// The stored record is r at the next version, with the fields an
	// update never changes as they were stored.
	var kept struct {
		ClientID   string `bson:"client_id"`
		AuthorID   string `bson:"author_id"`
		AuthorRole string `bson:"author_role"`
		CreatedAt  int64  `bson:"created_at"`
	}
	err = s.records.FindOne(ctx, recordKey(services.DistrictOf(r.OrgPath), r.ID),
		options.FindOne().SetProjection(bson.D{{Key: "client_id", Value: 1}, {Key: "author_id", Value: 1},
			{Key: "author_role", Value: 1}, {Key: "created_at", Value: 1}})).Decode(&kept)
	if err != nil {
		return services.Record{}, wrap(op, err)
	}
	d.ClientID, d.AuthorID, d.AuthorRole, d.CreatedAt = kept.ClientID, kept.AuthorID, kept.AuthorRole, kept.CreatedAt
	d.Version = r.Version + 1
	stored, err := toRecord(d)
	if err != nil {
		return services.Record{}, fmt.Errorf("%s: %w", op, err)
	}
	return stored, nil
}

// writeRecord stores r at the next version if f matches, with ev appended
// and the record marked pending for totals: the first half of
// UpdateRecord, apart so tests can crash after it.
func (s *Store) writeRecord(ctx context.Context, f bson.D, r services.Record, ev services.RecordEvent) (recordDoc, bool, error) {
	d, err := fromRecord(r)
	if err != nil {
		return recordDoc{}, false, err
	}
	set := bson.D{
		{Key: "template", Value: d.Template}, {Key: "template_version", Value: d.TemplateVersion},
		{Key: "extensions", Value: d.Extensions},
		{Key: "org_id", Value: d.OrgID}, {Key: "path", Value: d.Path}, {Key: "occurred_on", Value: d.OccurredOn},
		{Key: "end_on", Value: d.EndOn}, {Key: "title", Value: d.Title}, {Key: "description", Value: d.Description},
		{Key: "data", Value: d.Data}, {Key: "attachments", Value: d.Attachments}, {Key: "status", Value: d.Status},
		{Key: "warnings", Value: d.Warnings}, {Key: "review", Value: d.Review}, {Key: "hash", Value: d.Hash},
		{Key: "version", Value: r.Version + 1}, {Key: "updated_at", Value: d.UpdatedAt}, {Key: "deleted_at", Value: d.DeletedAt},
		{Key: "submitted_at", Value: d.SubmittedAt},
		// The new contribution, and the cells to bring up to it, change
		// in this same write (see totals.go).
		{Key: "rollup", Value: fromRollup(r.Rollup)}, {Key: "rollup_pending", Value: true},
	}
	update := bson.D{{Key: "$set", Value: set}, {Key: "$push", Value: bson.D{{Key: "history", Value: bson.D{
		{Key: "$each", Value: bson.A{fromEvent(ev)}}}}}}}
	if ids := cellIDs(r.Rollup); len(ids) > 0 {
		update = append(update, bson.E{Key: "$addToSet", Value: bson.D{{Key: "touched", Value: bson.D{{Key: "$each", Value: ids}}}}})
	}
	// UpdateOne, then a read: findAndModify with a projection is beyond
	// the portable subset (FerretDB refuses it).
	res, err := s.records.UpdateOne(ctx, f, update)
	if err != nil {
		return recordDoc{}, false, err
	}
	return d, res.MatchedCount > 0, nil
}

// RecordHistory lists a record's events after afterVersion.
func (s *Store) RecordHistory(ctx context.Context, sc services.Scope, id string, afterVersion int64, limit int) ([]services.RecordEvent, error) {
	const op = "mongo.RecordHistory"
	f, ok := recordFilter(bson.D{{Key: "_id", Value: id}}, sc)
	if !ok {
		return nil, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	var d struct {
		History []eventDoc `bson:"history"`
	}
	err := s.records.FindOne(ctx, f, options.FindOne().SetProjection(bson.D{{Key: "history", Value: 1}})).Decode(&d)
	if err != nil {
		return nil, wrap(op, err)
	}
	limit = services.Page{Limit: limit}.Normalize().Limit
	var out []services.RecordEvent
	for _, e := range d.History {
		if e.Version > afterVersion && len(out) < limit {
			out = append(out, toEvent(id, e))
		}
	}
	return out, nil
}
