package mongo

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/huizong/huizong/services"
)

// TestOverflowSumRoom checks the backstop of moveCell on the real server:
// the filter sumRoom builds matches exactly while the increment fits, up
// to the int64 limits, and not once it would not (or the $inc would
// wrap, or fail half-way).
func TestOverflowSumRoom(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	_, err := s.totals.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "top"}, {Key: "s", Value: bson.D{{Key: "count", Value: int64(math.MaxInt64 - 5)}}}},
		bson.D{{Key: "_id", Value: "bottom"}, {Key: "s", Value: bson.D{{Key: "count", Value: int64(math.MinInt64 + 5)}}}},
		bson.D{{Key: "_id", Value: "empty"}},
	})
	noErr(t, err)
	tests := []struct {
		id    string
		d     int64
		match bool
		after int64
	}{
		{"top", 6, false, math.MaxInt64 - 5},
		{"top", 5, true, math.MaxInt64},
		{"top", 1, false, math.MaxInt64},
		{"top", -1, true, math.MaxInt64 - 1},
		{"bottom", -6, false, math.MinInt64 + 5},
		{"bottom", -5, true, math.MinInt64},
		{"bottom", -1, false, math.MinInt64},
		{"bottom", 1, true, math.MinInt64 + 1},
		{"empty", math.MaxInt64, true, math.MaxInt64},
	}
	for _, tt := range tests {
		res, err := s.totals.UpdateOne(ctx, bson.D{{Key: "_id", Value: tt.id}, sumRoom("count", tt.d)},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "s.count", Value: tt.d}}}})
		noErr(t, err)
		if got := res.MatchedCount > 0; got != tt.match {
			t.Errorf("%s %+d: matched %v, want %v", tt.id, tt.d, got, tt.match)
		}
		var doc struct {
			S map[string]int64 `bson:"s"`
		}
		noErr(t, s.totals.FindOne(ctx, bson.D{{Key: "_id", Value: tt.id}}).Decode(&doc))
		if doc.S["count"] != tt.after {
			t.Errorf("%s %+d: sum %d, want %d", tt.id, tt.d, doc.S["count"], tt.after)
		}
	}
}

// TestOverflowPendingRecord stores a record whose contribution would
// overflow its cell without applying it (as a write racing another into
// the same cell can leave it): applying it is refused with TotalOverflow
// and moves no cell, and FinishTotals applies the other pending records,
// reports it, and does not loop on it.
func TestOverflowPendingRecord(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	rec := func(id, day string, sum int64) services.Record {
		r := crashRecord(services.StatusApproved, "fire", 1, 1)
		r.ID, r.ClientID, r.OccurredOn = id, "client-"+id, day
		r.Rollup = services.RollupOf(r, crashTemplate)
		r.Rollup.Sums = map[string]int64{"count": sum}
		return r
	}
	full := rec("full", "2025-03-01", math.MaxInt64-1)
	noErr(t, s.CreateRecord(ctx, full, crashEvent(1)))
	over := rec("over", "2025-03-02", 5)
	if _, err := s.insertRecord(ctx, over, crashEvent(1)); err != nil {
		t.Fatal(err)
	}
	other := rec("other", "2025-04-01", 3)
	if _, err := s.insertRecord(ctx, other, crashEvent(1)); err != nil {
		t.Fatal(err)
	}
	err := s.applyRollup(ctx, services.DistrictOf(over.OrgPath), "over")
	if !overflowed(err) || !strings.Contains(err.Error(), "total_overflow") {
		t.Fatalf("applyRollup of an overflowing record: %v, want TotalOverflow", err)
	}
	n, err := s.FinishTotals(ctx, time.Now())
	if n != 1 || err == nil || !strings.Contains(err.Error(), "1 records would overflow") {
		t.Fatalf("FinishTotals = %d, %v; want 1 applied and the overflowing one reported", n, err)
	}
	got := map[string]int64{}
	noErr(t, s.Cells(ctx, services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1", "s1"},
		Statuses: []services.RecordStatus{services.StatusApproved}, ByMonth: true, Dim: "kind", ByValue: true},
		func(g services.CellGroup) error {
			got[g.Bucket] = g.Sums["count"]
			return nil
		}))
	if got["2025-03"] != math.MaxInt64-1 || got["2025-04"] != 3 || len(got) != 2 {
		t.Errorf("cells %v, want 2025-03 untouched at %d and 2025-04 at 3", got, int64(math.MaxInt64-1))
	}
	if d := pendingOf(t, s, "over"); !d.Pending {
		t.Error("the overflowing record is no longer pending")
	}
}
