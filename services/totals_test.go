package services

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRollupOf(t *testing.T) {
	tmpl := testTemplate()
	base := Record{ID: "r1", Template: "drill", TemplateVersion: 1, OrgID: "s1", OrgPath: []string{"c", "d", "s1"},
		AuthorID: "u1", OccurredOn: "2025-10-09", Status: StatusApproved,
		Data: json.RawMessage(`{"kind":"消防","drills":2,"students":1200,"done":true}`)}
	with := func(f func(*Record)) Record {
		r := base
		f(&r)
		return r
	}
	tests := []struct {
		name string
		r    Record
		want Rollup
	}{
		{"approved", base, Rollup{OrgID: "s1", OrgPath: base.OrgPath, Template: "drill", Status: StatusApproved,
			Month: "2025-10", Author: "u1", Dims: map[string]string{"kind": "消防"},
			Sums: map[string]int64{"drills": 2 * MeasureScale, "students": 1200 * MeasureScale}}},
		{"submitted counts too", with(func(r *Record) { r.Status = StatusSubmitted }), Rollup{OrgID: "s1",
			OrgPath: base.OrgPath, Template: "drill", Status: StatusSubmitted, Month: "2025-10", Author: "u1",
			Dims: map[string]string{"kind": "消防"}, Sums: map[string]int64{"drills": 2 * MeasureScale, "students": 1200 * MeasureScale}}},
		{"missing values", with(func(r *Record) { r.Data = json.RawMessage(`{}`) }), Rollup{OrgID: "s1",
			OrgPath: base.OrgPath, Template: "drill", Status: StatusApproved, Month: "2025-10", Author: "u1",
			Dims: map[string]string{"kind": ""}, Sums: map[string]int64{"drills": 0, "students": 0}}},
		{"draft", with(func(r *Record) { r.Status = StatusDraft }), Rollup{}},
		{"returned", with(func(r *Record) { r.Status = StatusReturned }), Rollup{}},
		{"withdrawn", with(func(r *Record) { r.Status = StatusWithdrawn }), Rollup{}},
		{"deleted", with(func(r *Record) { r.DeletedAt = time.Unix(1, 0) }), Rollup{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, RollupOf(tt.r, tmpl)); diff != "" {
				t.Errorf("RollupOf (-want +got):\n%s", diff)
			}
		})
	}
	// Fractions are kept to four places, so sums stay exact.
	money := Template{Key: "aid", Fields: []TemplateField{{Key: "amount", Type: FieldNumber, Role: RoleMeasure}}}
	r := Record{Template: "aid", OrgID: "s1", OccurredOn: "2025-10-01", Status: StatusApproved,
		Data: json.RawMessage(`{"amount":0.1}`)}
	var sum int64
	for range 10 {
		sum += RollupOf(r, money).Sums["amount"]
	}
	if sum != MeasureScale {
		t.Errorf("ten times 0.1 = %d/%d, want exactly 1", sum, MeasureScale)
	}
}

func TestRollupCellsAndDelta(t *testing.T) {
	r := Rollup{OrgID: "s1", OrgPath: []string{"c", "d", "s1"}, Template: "award", Status: StatusApproved, Month: "2025-10",
		Author: "u1", Dims: map[string]string{"level": "市级", "rank": "一等奖"}, Sums: map[string]int64{"people": 30000}}
	cells := r.Cells()
	var kinds []string
	for _, c := range cells {
		kinds = append(kinds, c.Dim+"="+c.Value)
		if !c.School || c.Count != 1 {
			t.Errorf("cell %+v: want a school cell counting 1", c.CellKey)
		}
	}
	want := []string{"=", "level=市级", "rank=一等奖", "*=level=市级\x1frank=一等奖", "@=u1"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Fatalf("cells (-want +got):\n%s", diff)
	}
	if got := ParseCombo(cells[3].Value); !cmp.Equal(got, r.Dims) {
		t.Errorf("ParseCombo = %v, want %v", got, r.Dims)
	}

	approved := r
	edited := r
	edited.Dims = map[string]string{"level": "省级", "rank": "一等奖"}
	edited.Sums = map[string]int64{"people": 10000}
	tests := []struct {
		name     string
		from, to Rollup
		want     map[string]int64 // dim=value -> count change
	}{
		{"approve", Rollup{}, approved, map[string]int64{"=": 1, "level=市级": 1, "rank=一等奖": 1,
			"*=level=市级\x1frank=一等奖": 1, "@=u1": 1}},
		{"reopen", approved, Rollup{}, map[string]int64{"=": -1, "level=市级": -1, "rank=一等奖": -1,
			"*=level=市级\x1frank=一等奖": -1, "@=u1": -1}},
		// Sums change in the cells that stay; the level moves.
		{"edit", approved, edited, map[string]int64{"=": 0, "level=市级": -1, "level=省级": 1, "rank=一等奖": 0,
			"*=level=市级\x1frank=一等奖": -1, "*=level=省级\x1frank=一等奖": 1}},
		{"no change", approved, approved, map[string]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]int64{}
			for _, d := range RollupDelta(tt.from, tt.to) {
				got[d.Dim+"="+d.Value] = d.Count
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delta counts (-want +got):\n%s", diff)
			}
		})
	}
	for _, d := range RollupDelta(approved, edited) {
		if d.Dim == DimAll && d.Sums["people"] != -20000 {
			t.Errorf("edit: sum delta %d, want -20000", d.Sums["people"])
		}
	}
}

func TestMonthSplit(t *testing.T) {
	tests := []struct {
		from, to           string
		fromMonth, toMonth string
		edges              [][2]string
	}{
		{"2025-09-01", "2026-08-31", "2025-09", "2026-08", nil},
		{"2025-03-01", "2025-03-31", "2025-03", "2025-03", nil},
		{"2024-02-01", "2024-02-29", "2024-02", "2024-02", nil},
		{"2025-03-10", "2025-03-20", "", "", [][2]string{{"2025-03-10", "2025-03-20"}}},
		{"2025-03-10", "2025-03-31", "", "", [][2]string{{"2025-03-10", "2025-03-31"}}},
		{"2025-03-01", "2025-03-30", "", "", [][2]string{{"2025-03-01", "2025-03-30"}}},
		{"2025-03-10", "2025-04-05", "", "", [][2]string{{"2025-03-10", "2025-03-31"}, {"2025-04-01", "2025-04-05"}}},
		{"2025-03-10", "2025-06-05", "2025-04", "2025-05", [][2]string{{"2025-03-10", "2025-03-31"}, {"2025-06-01", "2025-06-05"}}},
		{"2025-01-01", "2025-06-05", "2025-01", "2025-05", [][2]string{{"2025-06-01", "2025-06-05"}}},
		{"2025-12-31", "2026-01-31", "2026-01", "2026-01", [][2]string{{"2025-12-31", "2025-12-31"}}},
	}
	for _, tt := range tests {
		fm, tm, edges := monthSplit(tt.from, tt.to)
		if fm != tt.fromMonth || tm != tt.toMonth || !cmp.Equal(edges, tt.edges) {
			t.Errorf("monthSplit(%s, %s) = %s..%s %v; want %s..%s %v", tt.from, tt.to, fm, tm, edges,
				tt.fromMonth, tt.toMonth, tt.edges)
		}
	}
}

func TestCellIDsAreStable(t *testing.T) {
	k := CellKey{OrgID: "s1", Template: "drill", Status: StatusApproved, Month: "2025-10", Dim: "kind", Value: "消防"}
	again := CellKey{OrgID: "s1", Template: "drill", Status: StatusApproved, Month: "2025-10", Dim: "kind", Value: "消防"}
	if k.ID() != again.ID() || len(k.ID()) != 24 {
		t.Fatalf("ID %q: want 24 stable characters", k.ID())
	}
	other := k
	other.Value = "地震"
	if other.ID() == k.ID() {
		t.Error("different cells share an id")
	}
	// Fields never run into each other.
	a := CellKey{OrgID: "ab", Template: "c"}
	b := CellKey{OrgID: "a", Template: "bc"}
	if a.ID() == b.ID() {
		t.Error("ids are ambiguous across fields")
	}
}
