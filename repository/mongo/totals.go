package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// Totals without multi-document transactions.
//
// A record document carries its current contribution (rollup), the ids of
// every cell it may have added to (touched) and rollup_pending while its
// cells may not reflect it yet; all three change in the same single-document
// write as the record. Applying the record then moves each of those cells
// to the record's contribution at its version: the cell remembers, per
// record, which version it counts and what that added (m.<record id>), and
// the move is a compare-and-set on that marker, so a retry, a second
// instance or a repair after a crash never counts a record twice or lets an
// older version overwrite a newer one. A marker is kept (as a tombstone
// with nothing in it) when a record leaves a cell, for the same reason.
// When every cell is moved, the record's touched list shrinks to its
// current cells and rollup_pending is cleared — again only if the record
// is still at that version.

// rollupDoc is a stored services.Rollup.
type rollupDoc struct {
	OrgID    string            `bson:"o"`
	OrgPath  []string          `bson:"p"`
	Template string            `bson:"t"`
	Status   string            `bson:"s"`
	Month    string            `bson:"m"`
	Author   string            `bson:"a"`
	Dims     map[string]string `bson:"d"`
	Sums     map[string]int64  `bson:"v"`
	// Distinct holds the values of the distinct measures (people).
	Distinct map[string][]string `bson:"x,omitempty"`
	// OccurredOn and Record are kept for templates with stock measures.
	OccurredOn string `bson:"day,omitempty"`
	Record     string `bson:"r,omitempty"`
}

func fromRollup(r services.Rollup) *rollupDoc {
	if r.Empty() {
		return nil
	}
	return &rollupDoc{OrgID: r.OrgID, OrgPath: r.OrgPath, Template: r.Template, Status: string(r.Status),
		Month: r.Month, Author: r.Author, Dims: r.Dims, Sums: r.Sums, Distinct: r.Distinct,
		OccurredOn: r.OccurredOn, Record: r.Record}
}

func toRollup(d *rollupDoc) services.Rollup {
	if d == nil {
		return services.Rollup{}
	}
	return services.Rollup{OrgID: d.OrgID, OrgPath: d.OrgPath, Template: d.Template,
		Status: services.RecordStatus(d.Status), Month: d.Month, Author: d.Author, Dims: d.Dims, Sums: d.Sums,
		Distinct: d.Distinct, OccurredOn: d.OccurredOn, Record: d.Record}
}

// cellIDs lists the ids of the cells r adds to.
func cellIDs(r services.Rollup) []string {
	cells := r.Cells()
	ids := make([]string, len(cells)) // never nil: stored as an array
	for i, c := range cells {
		ids[i] = cellID(c)
	}
	return ids
}

// cellID is a cell's _id: its district (the s1 field, "" for a city's own
// cells), a dot, then the hash of its key. With the district in the id, a
// cell read or written by id alone (a tombstone has no other field) still
// carries the shard key {s1, _id} (docs/sharding.md), and an id never
// names cells of two districts.
func cellID(c services.Cell) string { return keyID(c.OrgPath, c.CellKey) }

// keyID is the id of the cell with key k of the org at path.
func keyID(path []string, k services.CellKey) string { return services.DistrictOf(path) + "." + k.ID() }

// cellDistrict is the district an id from cellID names.
func cellDistrict(id string) string {
	d, _, _ := strings.Cut(id, ".")
	return d
}

// cellByID is the filter on one cell: the whole shard key.
func cellByID(id string) bson.D {
	return bson.D{{Key: "s1", Value: cellDistrict(id)}, {Key: "_id", Value: id}}
}

// markerDoc is what a cell counts for one record.
type markerDoc struct {
	V int64            `bson:"v"`
	N int64            `bson:"n"`
	S map[string]int64 `bson:"s,omitempty"`
}

// cellDoc is a stored cell. A tombstone-only cell (a record left before
// it was ever counted there) has no key fields and matches no query.
type cellDoc struct {
	ID       string               `bson:"_id"`
	OrgID    string               `bson:"o"`
	City     string               `bson:"s0"`
	District string               `bson:"s1"`
	School   bool                 `bson:"sc"`
	Template string               `bson:"t"`
	Status   string               `bson:"st"`
	Month    string               `bson:"mo"`
	Dim      string               `bson:"dk"`
	Value    string               `bson:"dv"`
	N        int64                `bson:"n"`
	S        map[string]int64     `bson:"s"`
	M        map[string]markerDoc `bson:"m,omitempty"`
	Rev      int64                `bson:"rv"`
}

func toCell(d cellDoc) services.Cell {
	c := services.Cell{CellKey: services.CellKey{OrgID: d.OrgID, Template: d.Template,
		Status: services.RecordStatus(d.Status), Month: d.Month, Dim: d.Dim, Value: d.Value},
		School: d.School, Count: d.N, Sums: map[string]int64{}}
	for k, v := range d.S {
		if v != 0 {
			c.Sums[k] = v
		}
	}
	c.OrgPath = services.CellPath(d.City, d.District, d.OrgID)
	return c
}

func pathAt(path []string, i int) string {
	if i < len(path) {
		return path[i]
	}
	return ""
}

// Overflow. Sums are int64 fixed point (services.MeasureScale), and $inc
// would wrap or fail half-way through a record's cells. Moving a cell
// therefore reads its sums with the record's marker (the read the
// compare-and-set needs anyway), works out the new sums with checked
// arithmetic (movedSums), and refuses the move with
// services.TotalOverflow when one would not fit. The read alone races
// with other records moving the same cell, so the update's filter also
// requires each changed sum to leave room for the increment (sumRoom): a
// concurrent move that used the room makes the filter miss, and the next
// attempt reads again and refuses. applyPending checks every cell of the
// record before moving any (checkCells), so a refused contribution leaves
// no cell half-moved; the record then stays pending, counted nowhere, and
// FinishTotals reports it instead of retrying it in a loop.
//
// Refusing before the record is stored needs CreateRecord and
// UpdateRecord to call checkRollup first (records.go): the record and its
// cells are separate documents, and a record stored whose contribution
// cannot be applied would leave its totals pending for good. That check
// reads the cells' sums before the write; only a concurrent write to the
// same cell between that read and the move can still end in a stored
// record left pending.

// maxMoveAttempts bounds the compare-and-set retries on one cell; each
// failed attempt means another writer moved it, so this is never reached
// in practice.
const maxMoveAttempts = 50

// moveCell makes cell id count record rec at version v as want (zero
// Count and Sums: not at all). A move that would take a sum beyond int64
// is refused with services.TotalOverflow, the cell unchanged.
func (s *Store) moveCell(ctx context.Context, id, rec string, v int64, want services.Cell) error {
	marker := "m." + rec
	for range maxMoveAttempts {
		var doc struct {
			M map[string]markerDoc `bson:"m"`
			S map[string]int64     `bson:"s"`
		}
		err := s.totals.FindOne(ctx, cellByID(id),
			options.FindOne().SetProjection(bson.D{{Key: marker, Value: 1}, {Key: "s", Value: 1}})).Decode(&doc)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return err
		}
		cur, has := doc.M[rec]
		if has && cur.V >= v {
			return nil // this version, or a newer one, is counted already
		}
		delta, err := movedSums("mongo.moveCell", doc.S, cur, want)
		if err != nil {
			return err
		}
		set := bson.D{{Key: marker, Value: markerDoc{V: v, N: want.Count, S: nonZero(want.Sums)}}}
		if !want.Zero() {
			set = append(set, bson.E{Key: "o", Value: want.OrgID}, bson.E{Key: "s0", Value: pathAt(want.OrgPath, 0)},
				bson.E{Key: "s1", Value: pathAt(want.OrgPath, 1)}, bson.E{Key: "sc", Value: want.School},
				bson.E{Key: "t", Value: want.Template}, bson.E{Key: "st", Value: string(want.Status)},
				bson.E{Key: "mo", Value: want.Month}, bson.E{Key: "dk", Value: want.Dim}, bson.E{Key: "dv", Value: want.Value})
		}
		inc := bson.D{{Key: "n", Value: want.Count - cur.N}, {Key: "rv", Value: int64(1)}}
		f := cellByID(id)
		if has {
			f = append(f, bson.E{Key: marker + ".v", Value: cur.V})
		} else {
			f = append(f, bson.E{Key: marker, Value: bson.D{{Key: "$exists", Value: false}}})
		}
		for _, k := range slices.Sorted(maps.Keys(delta)) {
			inc = append(inc, bson.E{Key: "s." + k, Value: delta[k]})
			f = append(f, sumRoom(k, delta[k]))
		}
		res, err := s.totals.UpdateOne(ctx, f, bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: inc}},
			options.UpdateOne().SetUpsert(true))
		switch {
		case isDuplicate(err):
			continue // the cell exists with another marker or less room: read again
		case err != nil:
			return err
		case res.MatchedCount > 0 || res.UpsertedCount > 0:
			return nil
		}
	}
	return fmt.Errorf("cell %s: %w", id, services.ErrStale)
}

// movedSums is the $inc of sums that moves a cell holding sums from
// counting a record as cur to counting it as want, zero changes left out.
// It is services.TotalOverflow (first measure in key order) when a change
// or a new sum would not fit in int64.
func movedSums(op string, sums map[string]int64, cur markerDoc, want services.Cell) (map[string]int64, error) {
	keys := map[string]bool{}
	for k := range want.Sums {
		keys[k] = true
	}
	for k := range cur.S {
		keys[k] = true
	}
	delta := make(map[string]int64, len(keys))
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		d, ok := services.SubFixed(want.Sums[k], cur.S[k])
		if ok {
			_, ok = services.AddFixed(sums[k], d)
		}
		if !ok {
			return nil, services.TotalOverflow(op, k)
		}
		if d != 0 {
			delta[k] = d
		}
	}
	return delta, nil
}

// sumRoom is the filter condition that sum key has room for the increment
// d: at most MaxInt64-d (at least MinInt64-d for a decrement). $not also
// matches a cell without the sum (or without the document, for the
// upsert), where any single increment fits.
func sumRoom(key string, d int64) bson.E {
	cond := bson.D{{Key: "$gt", Value: int64(math.MaxInt64) - d}}
	if d < 0 {
		cond = bson.D{{Key: "$lt", Value: int64(math.MinInt64) - d}}
	}
	return bson.E{Key: "s." + key, Value: bson.D{{Key: "$not", Value: cond}}}
}

// checkCells refuses, with services.TotalOverflow, moving the cells ids
// to count record rec at version v as want (a cell missing from want: not
// at all), when any sum would not fit in int64. It only reads: moveCell
// checks again as it moves.
func (s *Store) checkCells(ctx context.Context, rec string, v int64, ids []string, want map[string]services.Cell) error {
	if len(ids) == 0 {
		return nil
	}
	marker := "m." + rec
	type sumsDoc struct {
		ID string               `bson:"_id"`
		M  map[string]markerDoc `bson:"m"`
		S  map[string]int64     `bson:"s"`
	}
	// A record's cells are all in its own district.
	docs, err := findAll[sumsDoc](ctx, s.totals, bson.D{{Key: "s1", Value: cellDistrict(ids[0])}, {Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: marker, Value: 1}, {Key: "s", Value: 1}}))
	if err != nil {
		return err
	}
	byID := make(map[string]sumsDoc, len(docs))
	for _, d := range docs {
		byID[d.ID] = d
	}
	for _, id := range ids {
		d := byID[id]
		cur, has := d.M[rec]
		if has && cur.V >= v {
			continue
		}
		if _, err := movedSums("mongo.checkCells", d.S, cur, want[id]); err != nil {
			return err
		}
	}
	return nil
}

// checkRollup refuses, with services.TotalOverflow, a write that would
// give record rec the contribution to when some cell could not take it
// without overflowing: CreateRecord and UpdateRecord call it before they
// store the record, so a refused write leaves nothing behind.
func (s *Store) checkRollup(ctx context.Context, district, rec string, to services.Rollup) error {
	want := map[string]services.Cell{}
	var ids []string
	for _, c := range to.Cells() {
		id := cellID(c)
		want[id] = c
		ids = append(ids, id)
	}
	// The cells the record counts in now and leaves: taking a
	// contribution out can overflow too (a negative one from a full cell).
	var d pendingDoc
	err := s.records.FindOne(ctx, recordKey(district, rec),
		options.FindOne().SetProjection(bson.D{{Key: "touched", Value: 1}})).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	for _, id := range d.Touched {
		if _, ok := want[id]; !ok {
			ids = append(ids, id)
		}
	}
	// Whatever version the write gets, markers of every version count.
	return s.checkCells(ctx, rec, math.MaxInt64, ids, want)
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// pendingDoc is what applying a record reads of it.
type pendingDoc struct {
	ID       string     `bson:"_id"`
	District string     `bson:"dk"`
	Version  int64      `bson:"version"`
	Rollup   *rollupDoc `bson:"rollup"`
	Touched  []string   `bson:"touched"`
	Pending  bool       `bson:"rollup_pending"`
}

var pendingProjection = bson.D{{Key: "dk", Value: 1}, {Key: "version", Value: 1}, {Key: "rollup", Value: 1}, {Key: "touched", Value: 1},
	{Key: "rollup_pending", Value: 1}}

// applyRollup brings the cells of record id up to its current
// contribution and clears its pending mark.
func (s *Store) applyRollup(ctx context.Context, district, id string) error {
	var d pendingDoc
	err := s.records.FindOne(ctx, recordKey(district, id), options.FindOne().SetProjection(pendingProjection)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.applyPending(ctx, d)
}

func (s *Store) applyPending(ctx context.Context, d pendingDoc) error {
	if !d.Pending {
		return nil
	}
	want := map[string]services.Cell{}
	var current []string
	for _, c := range toRollup(d.Rollup).Cells() {
		id := cellID(c)
		want[id] = c
		current = append(current, id)
	}
	ids := slices.Clone(current)
	for _, id := range d.Touched {
		if _, ok := want[id]; !ok {
			ids = append(ids, id)
		}
	}
	// Every cell is checked before any moves, so a contribution that
	// would overflow one leaves all of them as they were.
	if err := s.checkCells(ctx, d.ID, d.Version, ids, want); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.moveCell(ctx, id, d.ID, d.Version, want[id]); err != nil {
			return err
		}
	}
	if current == nil {
		current = []string{}
	}
	_, err := s.records.UpdateOne(ctx, append(recordKey(d.District, d.ID), bson.E{Key: "version", Value: d.Version}),
		bson.D{{Key: "$set", Value: bson.D{{Key: "touched", Value: current}, {Key: "rollup_pending", Value: false}}}})
	return err
}

// Cells sums the cells under q.OrgPath inside sc into the groups q asks
// for. The database only filters (the portable subset); grouping is done
// here, from a cursor.
func (s *Store) Cells(ctx context.Context, sc services.Scope, q services.CellQuery, fn func(services.CellGroup) error) error {
	const op = "mongo.Cells"
	if len(q.OrgPath) == 0 || sc.Empty() || !sc.Covers(q.OrgPath) {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	f := cellsFilter(q.OrgPath)
	statuses := q.Statuses
	if len(statuses) == 0 {
		statuses = []services.RecordStatus{services.StatusApproved, services.StatusSubmitted}
	}
	in := bson.A{}
	for _, st := range statuses {
		in = append(in, string(st))
	}
	f = append(f, bson.E{Key: "st", Value: bson.D{{Key: "$in", Value: in}}}, bson.E{Key: "dk", Value: q.Dim})
	months := bson.D{}
	if q.FromMonth != "" {
		months = append(months, bson.E{Key: "$gte", Value: q.FromMonth})
	}
	if q.ToMonth != "" {
		months = append(months, bson.E{Key: "$lte", Value: q.ToMonth})
	}
	if len(months) > 0 {
		f = append(f, bson.E{Key: "mo", Value: months})
	}
	if len(q.Templates) > 0 {
		f = append(f, bson.E{Key: "t", Value: bson.D{{Key: "$in", Value: q.Templates}}})
	}
	cur, err := s.totals.Find(ctx, f, options.Find().SetProjection(bson.D{{Key: "m", Value: 0}}))
	if err != nil {
		return wrap(op, err)
	}
	defer cur.Close(ctx)
	type acc struct {
		g       services.CellGroup
		schools map[string]bool
		values  map[string]bool
	}
	groups := map[[4]string]*acc{}
	for cur.Next(ctx) {
		var d cellDoc
		if err := cur.Decode(&d); err != nil {
			return wrap(op, err)
		}
		c := toCell(d)
		if c.Zero() {
			continue
		}
		var key [4]string
		switch q.ByOrg {
		case services.OrgChild:
			key[0] = c.OrgID
			if depth := len(q.OrgPath); len(c.OrgPath) > depth {
				key[0] = c.OrgPath[depth]
			}
		case services.OrgLeaf:
			key[0] = c.OrgID
		}
		if q.ByTemplate {
			key[1] = c.Template
		}
		if q.ByMonth {
			key[2] = c.Month
			if b, ok := q.Buckets[c.Month]; ok {
				key[2] = b
			}
		}
		if q.ByValue {
			key[3] = c.Value
		}
		a, ok := groups[key]
		if !ok {
			a = &acc{g: services.CellGroup{OrgID: key[0], Template: key[1], Bucket: key[2], Value: key[3],
				Sums: map[string]int64{}}, schools: map[string]bool{}, values: map[string]bool{}}
			if q.ByOrg == services.OrgLeaf {
				a.g.OrgPath, a.g.School = c.OrgPath, c.School
			}
			groups[key] = a
		}
		a.g.Count += c.Count
		for k, v := range c.Sums {
			sum, ok := services.AddFixed(a.g.Sums[k], v)
			if !ok {
				// A group whose sum does not fit in int64 is refused,
				// not wrapped.
				return services.TotalOverflow(op, k)
			}
			a.g.Sums[k] = sum
		}
		if c.School {
			a.schools[c.OrgID] = true
		}
		a.values[c.Value] = true
	}
	if err := cur.Err(); err != nil {
		return wrap(op, err)
	}
	for _, a := range groups {
		a.g.Schools, a.g.Values = len(a.schools), len(a.values)
		if err := fn(a.g); err != nil {
			return err
		}
	}
	return nil
}

// cellsFilter matches the cells under an org path.
func cellsFilter(path []string) bson.D {
	switch len(path) {
	case 1:
		return bson.D{{Key: "s0", Value: path[0]}}
	case 2:
		return bson.D{{Key: "s1", Value: path[1]}}
	}
	return bson.D{{Key: "s1", Value: path[1]}, {Key: "o", Value: path[len(path)-1]}}
}

// FinishTotals applies the records a crash left pending, those last
// written before `before` (younger ones are most likely being applied by
// the instance that wrote them; applying them twice would be harmless).
func (s *Store) FinishTotals(ctx context.Context, before time.Time) (int, error) {
	const op = "mongo.FinishTotals"
	f := bson.D{{Key: "rollup_pending", Value: true}, {Key: "updated_at", Value: bson.D{{Key: "$lt", Value: ms(before)}}}}
	done := 0
	// Records whose contribution would overflow a cell stay pending; they
	// are left out of the following batches and reported once at the end,
	// so they neither hold up the others nor loop.
	var refused []string
	var firstRefusal error
	for {
		q := f
		if len(refused) > 0 {
			q = append(slices.Clone(f), bson.E{Key: "_id", Value: bson.D{{Key: "$nin", Value: refused}}})
		}
		docs, err := findAll[pendingDoc](ctx, s.records, q, options.Find().SetProjection(pendingProjection).SetLimit(500))
		if err != nil {
			return done, wrap(op, err)
		}
		for _, d := range docs {
			err := s.applyPending(ctx, d)
			if overflowed(err) {
				refused = append(refused, d.ID)
				if firstRefusal == nil {
					firstRefusal = fmt.Errorf("record %s: %w", d.ID, err)
				}
				continue
			}
			if err != nil {
				return done, wrap(op, err)
			}
			done++
		}
		if len(docs) < 500 {
			break
		}
	}
	if firstRefusal != nil {
		return done, fmt.Errorf("%s: %d records would overflow totals and stay pending: %w", op, len(refused), firstRefusal)
	}
	return done, nil
}

// overflowed reports whether err refuses a contribution because a sum
// would not fit in int64 (services.TotalOverflow).
func overflowed(err error) bool {
	var e *services.Error
	return errors.As(err, &e) && e.Kind == services.KindInvalid && len(e.Fields) == 1 &&
		e.Fields[0].Code == services.CodeTotalOverflow
}

// ReconcileTotals finishes the unit's pending records, then compares its
// cells with its records; with fix it rewrites every cell that differs
// (markers included) with a compare-and-set on the cell's revision.
func (s *Store) ReconcileTotals(ctx context.Context, orgID string, rollup func(services.Record) (services.Rollup, error), fix bool) ([]services.CellDrift, error) {
	const op = "mongo.ReconcileTotals"
	drift, err := s.reconcile(ctx, orgID, rollup, fix)
	if err != nil {
		return nil, wrap(op, err)
	}
	return drift, nil
}

// contribution is what one record adds to one cell.
type contribution struct {
	version int64
	cell    services.Cell
}

func (s *Store) reconcile(ctx context.Context, orgID string, rollup func(services.Record) (services.Rollup, error), fix bool) ([]services.CellDrift, error) {
	// Records still being applied first, so only real drift remains.
	pending, err := findAll[pendingDoc](ctx, s.records, bson.D{{Key: "org_id", Value: orgID}, {Key: "rollup_pending", Value: true}},
		options.Find().SetProjection(pendingProjection))
	if err != nil {
		return nil, err
	}
	for _, d := range pending {
		// One that would overflow stays pending and shows as drift.
		if err := s.applyPending(ctx, d); err != nil && !overflowed(err) {
			return nil, err
		}
	}
	want := map[services.CellKey]*services.Cell{}
	byCell := map[string]map[string]contribution{} // cell id -> record id -> what it adds
	cur, err := s.records.Find(ctx, bson.D{{Key: "org_id", Value: orgID}}, options.Find().SetProjection(noHistory))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d recordDoc
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		r, err := toRecord(d)
		if err != nil {
			return nil, err
		}
		ru, err := rollup(r)
		if err != nil {
			return nil, err
		}
		for _, c := range ru.Cells() {
			if w, ok := want[c.CellKey]; ok {
				if err := w.Add(c, 1); err != nil {
					return nil, err
				}
			} else {
				cc := c
				cc.Sums = maps.Clone(c.Sums)
				want[c.CellKey] = &cc
			}
			id := cellID(c)
			if byCell[id] == nil {
				byCell[id] = map[string]contribution{}
			}
			byCell[id][r.ID] = contribution{version: r.Version, cell: c}
		}
		if fix && !sameRollup(toRollup(d.Rollup), ru) {
			// The stored contribution is wrong: store the right one and
			// let the applier move the cells (it also fixes touched).
			if _, err := s.records.UpdateOne(ctx, append(recordKey(d.District, r.ID), bson.E{Key: "version", Value: r.Version}),
				bson.D{{Key: "$set", Value: bson.D{{Key: "rollup", Value: fromRollup(ru)}, {Key: "rollup_pending", Value: true}}},
					{Key: "$addToSet", Value: bson.D{{Key: "touched", Value: bson.D{{Key: "$each", Value: cellIDs(ru)}}}}}}); err != nil {
				return nil, err
			}
			if err := s.applyRollup(ctx, d.District, r.ID); err != nil {
				return nil, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	got := map[services.CellKey]services.Cell{}
	docs := map[string]cellDoc{}
	cdocs, err := findAll[cellDoc](ctx, s.totals, bson.D{{Key: "o", Value: orgID}}, options.Find())
	if err != nil {
		return nil, err
	}
	for _, d := range cdocs {
		c := toCell(d)
		got[c.CellKey] = c
		docs[d.ID] = d
	}
	drift := services.DiffCells(want, got)
	if !fix {
		return drift, nil
	}
	for _, dr := range drift {
		key, path := dr.Want.CellKey, dr.Want.OrgPath
		if dr.Want.Template == "" {
			key = dr.Got.CellKey
		}
		if len(path) == 0 { // a cell that should count nothing
			path = dr.Got.OrgPath
		}
		id := keyID(path, key)
		w := want[key]
		if err := s.rewriteCell(ctx, id, docs[id], w, byCell[id]); err != nil {
			return nil, err
		}
	}
	return drift, nil
}

// rewriteCell replaces a drifted cell by what its records add, markers
// included, if nobody moved it since it was read.
func (s *Store) rewriteCell(ctx context.Context, id string, old cellDoc, want *services.Cell, recs map[string]contribution) error {
	d := cellDoc{ID: id, M: map[string]markerDoc{}, Rev: old.Rev + 1, S: map[string]int64{}}
	if want != nil {
		d.OrgID, d.City, d.District, d.School = want.OrgID, pathAt(want.OrgPath, 0), pathAt(want.OrgPath, 1), want.School
		d.Template, d.Status, d.Month, d.Dim, d.Value = want.Template, string(want.Status), want.Month, want.Dim, want.Value
		d.N, d.S = want.Count, nonZero(want.Sums)
	}
	for rec, c := range recs {
		d.M[rec] = markerDoc{V: c.version, N: c.cell.Count, S: nonZero(c.cell.Sums)}
	}
	// Markers of records that no longer add here stay, emptied, so an
	// old version still being applied somewhere cannot come back.
	for rec, m := range old.M {
		if _, ok := d.M[rec]; !ok {
			d.M[rec] = markerDoc{V: m.V}
		}
	}
	res, err := s.totals.ReplaceOne(ctx, append(cellByID(id), bson.E{Key: "rv", Value: old.Rev}), d,
		options.Replace().SetUpsert(old.ID == ""))
	if err != nil && !isDuplicate(err) {
		return err
	}
	if err == nil && res.MatchedCount == 0 && res.UpsertedCount == 0 {
		return nil // moved meanwhile: the next verify looks again
	}
	return nil
}

func sameRollup(a, b services.Rollup) bool {
	return a.OrgID == b.OrgID && a.Template == b.Template && a.Status == b.Status && a.Month == b.Month &&
		a.Author == b.Author && slices.Equal(a.OrgPath, b.OrgPath) && maps.Equal(nilMap(a.Dims), nilMap(b.Dims)) &&
		maps.Equal(nonZero(a.Sums), nonZero(b.Sums)) &&
		maps.EqualFunc(a.Distinct, b.Distinct, slices.Equal[[]string]) && a.OccurredOn == b.OccurredOn && a.Record == b.Record
}

func nilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
