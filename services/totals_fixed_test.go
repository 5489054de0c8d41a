package services

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fitsInt64 is the reference: the exact result and whether int64 holds it.
func fitsInt64(x *big.Int) (int64, bool) { return x.Int64(), x.IsInt64() }

func TestAddFixed(t *testing.T) {
	const maxI, minI = math.MaxInt64, math.MinInt64
	tests := []struct {
		a, b int64
		want int64
		ok   bool
	}{
		{0, 0, 0, true},
		{1, -1, 0, true},
		{maxI - 1, 1, maxI, true},
		{maxI, 1, 0, false},
		{maxI, maxI, 0, false},
		{minI + 1, -1, minI, true},
		{minI, -1, 0, false},
		{minI, minI, 0, false},
		{maxI, minI, -1, true},
		{math.MaxInt64 / 2, math.MaxInt64/2 + 1, maxI, true},
		// 92,800 records of MaxMeasure, added one cell at a time, once
		// wrapped: the last step of it.
		{92_233 * MaxMeasure * MeasureScale, MaxMeasure * MeasureScale, 0, false},
	}
	for _, tt := range tests {
		got, ok := AddFixed(tt.a, tt.b)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("AddFixed(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSubFixed(t *testing.T) {
	const maxI, minI = math.MaxInt64, math.MinInt64
	tests := []struct {
		a, b int64
		want int64
		ok   bool
	}{
		{0, 0, 0, true},
		{0, minI, 0, false},
		{-1, minI, maxI, true},
		{maxI, -1, 0, false},
		{minI, 1, 0, false},
		{minI, -1, minI + 1, true},
		{maxI, maxI, 0, true},
		{-2, maxI, 0, false},
		{-1, maxI, minI, true},
	}
	for _, tt := range tests {
		got, ok := SubFixed(tt.a, tt.b)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("SubFixed(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.ok)
		}
	}
}

// TestFixedProperty compares the checked operations with exact big
// integer arithmetic, on operands drawn near the limits and anywhere.
func TestFixedProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return math.MaxInt64 - rng.Int64N(1<<20)
		case 1:
			return math.MinInt64 + rng.Int64N(1<<20)
		case 2:
			return rng.Int64N(1<<20) - 1<<19
		}
		return int64(rng.Uint64())
	}
	for range 100_000 {
		a, b := draw(), draw()
		want, fits := fitsInt64(new(big.Int).Add(big.NewInt(a), big.NewInt(b)))
		if got, ok := AddFixed(a, b); ok != fits || (ok && got != want) {
			t.Fatalf("AddFixed(%d, %d) = %d, %v; want %d, %v", a, b, got, ok, want, fits)
		}
		want, fits = fitsInt64(new(big.Int).Sub(big.NewInt(a), big.NewInt(b)))
		if got, ok := SubFixed(a, b); ok != fits || (ok && got != want) {
			t.Fatalf("SubFixed(%d, %d) = %d, %v; want %d, %v", a, b, got, ok, want, fits)
		}
	}
}

func TestFixedOf(t *testing.T) {
	tests := []struct {
		x    float64
		want int64
		ok   bool
	}{
		{0, 0, true},
		{1.5, 15000, true},
		{-0.00005, -1, true}, // rounds half away from zero
		{0.00004, 0, true},
		{MaxMeasure, MaxMeasure * MeasureScale, true},
		{-MaxMeasure, -MaxMeasure * MeasureScale, true},
		{MaxMeasure + 1, 0, false},
		{1e18, 0, false}, // the template default that wrapped a district
		{math.Inf(1), 0, false},
		{math.Inf(-1), 0, false},
		{math.NaN(), 0, false},
	}
	for _, tt := range tests {
		got, ok := FixedOf(tt.x)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FixedOf(%g) = %d, %v; want %d, %v", tt.x, got, ok, tt.want, tt.ok)
		}
	}
}

// overflowField is the field of a TotalOverflow error, "" for any other.
func overflowField(err error) string {
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindInvalid || len(e.Fields) != 1 || e.Fields[0].Code != "total_overflow" {
		return ""
	}
	return e.Fields[0].Field
}

func TestCellAddOverflow(t *testing.T) {
	c := Cell{Count: 2, Sums: map[string]int64{"a": math.MaxInt64 - 1, "b": 5}}
	err := c.Add(Cell{Count: 1, Sums: map[string]int64{"a": 2, "b": 1, "c": math.MinInt64}}, 1)
	if got := overflowField(err); got != "data.a" {
		t.Fatalf("Add past the limit: %v, want TotalOverflow of data.a", err)
	}
	want := Cell{Count: 2, Sums: map[string]int64{"a": math.MaxInt64 - 1, "b": 5}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("a refused Add changed the cell (-want +got):\n%s", diff)
	}
	if err := c.Add(Cell{Count: 1, Sums: map[string]int64{"a": 1, "b": 5}}, 1); err != nil {
		t.Fatalf("Add up to the limit: %v", err)
	}
	if err := c.Add(Cell{Count: 1, Sums: map[string]int64{"b": 10}}, -1); err != nil {
		t.Fatalf("Add of a negative: %v", err)
	}
	want = Cell{Count: 2, Sums: map[string]int64{"a": math.MaxInt64}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	low := Cell{Sums: map[string]int64{"a": math.MinInt64 + 1}}
	if got := overflowField(low.Add(Cell{Sums: map[string]int64{"a": 2}}, -1)); got != "data.a" {
		t.Errorf("subtracting past the bottom: field %q", got)
	}
}

func TestRollupDeltaOverflow(t *testing.T) {
	ru := func(sum int64, kind string) Rollup {
		return Rollup{OrgID: "s1", OrgPath: []string{"c1", "d1", "s1"}, Template: "drill", Status: StatusApproved,
			Month: "2025-03", Author: "u1", Dims: map[string]string{"kind": kind}, Sums: map[string]int64{"count": sum}}
	}
	tests := []struct {
		name     string
		from, to Rollup
		want     int64 // the DimAll cell's count delta
		refused  bool
	}{
		{"exactly the bottom", ru(math.MaxInt64, "fire"), ru(-1, "fire"), math.MinInt64, true},
		{"exact swing", ru(math.MaxInt64/2, "fire"), ru(-math.MaxInt64/2, "fire"), -(math.MaxInt64 - 1), false},
		{"too far up", ru(math.MinInt64, "fire"), ru(1, "fire"), math.MaxInt64, true},
		{"too far down", ru(2, "fire"), ru(math.MinInt64+1, "fire"), math.MinInt64, true},
		{"new cell only", Rollup{}, ru(math.MaxInt64-1, "fire"), math.MaxInt64 - 1, false},
		{"left cell only", ru(math.MinInt64+1, "fire"), Rollup{}, math.MaxInt64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deltas := RollupDelta(tt.from, tt.to)
			var all *Cell
			refused := false
			for i, d := range deltas {
				if d.Dim == DimAll {
					all = &deltas[i]
				}
				if err := CheckDelta("test", d); err != nil {
					if overflowField(err) != "data.count" {
						t.Errorf("CheckDelta: %v", err)
					}
					refused = true
				}
			}
			if all == nil || all.Sums["count"] != tt.want {
				t.Fatalf("DimAll delta %+v, want count sum %d", all, tt.want)
			}
			if refused != tt.refused {
				t.Errorf("refused %v, want %v", refused, tt.refused)
			}
		})
	}
	// A change of dimension value moves the whole contribution between
	// cells: each side is exact.
	deltas := RollupDelta(ru(math.MaxInt64-1, "fire"), ru(math.MinInt64+1, "quake"))
	got := map[string]int64{}
	for _, d := range deltas {
		if d.Dim == "kind" {
			got[d.Value] = d.Sums["count"]
		}
	}
	if want := map[string]int64{"fire": -(math.MaxInt64 - 1), "quake": math.MinInt64 + 1}; !cmp.Equal(want, got) {
		t.Errorf("dimension move: %v, want %v", got, want)
	}
}

func TestRollupOfOutOfRange(t *testing.T) {
	tmpl := Template{Key: "drill", Fields: []TemplateField{
		{Key: "count", Type: FieldNumber, Role: RoleMeasure},
		{Key: "ok", Type: FieldNumber, Role: RoleMeasure},
	}}
	r := Record{Template: "drill", Status: StatusApproved, OccurredOn: "2025-03-01", OrgID: "s1",
		Data: []byte(`{"count":1e18,"ok":2.5}`)}
	got := RollupOf(r, tmpl).Sums
	if want := map[string]int64{"count": 0, "ok": 25000}; !cmp.Equal(want, got) {
		t.Errorf("RollupOf with a value beyond MaxMeasure: sums %v, want %v", got, want)
	}
}

func TestTotalsRowOverflow(t *testing.T) {
	a := &aggregator{rows: map[string]*rowAcc{}}
	a.add(CellGroup{Count: 1, Sums: map[string]int64{"count": math.MaxInt64 - 1}}, "")
	a.add(CellGroup{Count: 1, Sums: map[string]int64{"count": 1}}, "")
	if a.err != nil {
		t.Fatalf("up to the limit: %v", a.err)
	}
	if got := a.rows[""].sums["count"]; got != math.MaxInt64 {
		t.Fatalf("row sum %d, want %d", got, int64(math.MaxInt64))
	}
	a.add(CellGroup{Count: 1, Sums: map[string]int64{"count": 1}}, "")
	if got := overflowField(a.err); got != "data.count" {
		t.Errorf("past the limit: %v, want TotalOverflow of data.count", a.err)
	}
}

func TestTemplateDefaultCap(t *testing.T) {
	base := func(mut func(t *Template)) Template {
		tt := testTemplate()
		mut(&tt)
		return tt
	}
	capArgs := map[string]any{"min": "-10000000000", "max": "10000000000"}
	for _, tc := range []struct {
		name string
		t    Template
		want []FieldError
	}{
		{"default at the cap", base(func(t *Template) { t.Fields[2].Max = nil; t.Fields[2].Default = num(MaxMeasure) }), nil},
		{"default 1e18", base(func(t *Template) { t.Fields[2].Max = nil; t.Fields[2].Default = num(1e18) }),
			[]FieldError{{Field: "fields[2].default", Code: "out_of_range", Args: capArgs}}},
		{"default just past the cap", base(func(t *Template) { t.Fields[1].Default = num(MaxMeasure + 1) }),
			[]FieldError{{Field: "fields[1].default", Code: "out_of_range", Args: capArgs}}},
		{"negative default", base(func(t *Template) { t.Fields[1].Min = nil; t.Fields[1].Default = num(-1e18) }),
			[]FieldError{{Field: "fields[1].default", Code: "out_of_range", Args: capArgs}}},
		{"default within a max past the cap", base(func(t *Template) { t.Fields[2].Max = num(1e18); t.Fields[2].Default = num(1e17) }),
			[]FieldError{{Field: "fields[2].max", Code: "out_of_range", Args: capArgs},
				{Field: "fields[2].default", Code: "out_of_range", Args: capArgs}}},
		{"min past the cap", base(func(t *Template) { t.Fields[3].Min = num(-1e11) }),
			[]FieldError{{Field: "fields[3].min", Code: "out_of_range", Args: capArgs}}},
		{"max past the cap, not a measure", base(func(t *Template) { t.Fields[3].Max = num(1e11) }),
			[]FieldError{{Field: "fields[3].max", Code: "out_of_range", Args: capArgs}}},
		{"bounds at the cap", base(func(t *Template) { t.Fields[3].Min = num(-MaxMeasure); t.Fields[3].Max = num(MaxMeasure) }), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := CheckTemplate(tc.t)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestTemplateDefaultOverflowInRecords: a template stored before defaults
// were capped still cannot put one into a record.
func TestTemplateDefaultOverflowInRecords(t *testing.T) {
	org := Org{ID: "s1", Kind: OrgSchool, Students: 300}
	for _, tc := range []struct {
		name  string
		typ   FieldType
		def   float64
		data  string
		clean string
		errs  []FieldError
	}{
		{"default 1e18", FieldNumber, 1e18, `{"kind":"消防"}`, "",
			[]FieldError{{Field: "data.drills", Code: "max", Args: map[string]any{"max": "10000000000"}}}},
		{"default -1e18", FieldNumber, -1e18, `{"kind":"消防"}`, "",
			[]FieldError{{Field: "data.drills", Code: "max", Args: map[string]any{"max": "10000000000"}}}},
		{"integer default 1e18", FieldInteger, 1e18, `{"kind":"消防"}`, "",
			[]FieldError{{Field: "data.drills", Code: "integer"}}},
		{"a value given instead", FieldNumber, 1e18, `{"kind":"消防","drills":3}`, `{"kind":"消防","drills":3}`, nil},
		{"default at the cap", FieldInteger, MaxMeasure, `{"kind":"消防"}`, `{"kind":"消防","drills":10000000000}`, nil},
		{"default at the negative cap", FieldNumber, -MaxMeasure, `{"kind":"消防"}`, `{"kind":"消防","drills":-10000000000}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := testTemplate()
			tmpl.Fields[1].Type, tmpl.Fields[1].Min, tmpl.Fields[1].Default = tc.typ, nil, num(tc.def)
			clean, _, _, errs := CheckRecordData(tmpl, []byte(tc.data), org, "2025-10-10")
			if diff := cmp.Diff(tc.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if string(clean) != tc.clean {
				t.Errorf("clean %s, want %s", clean, tc.clean)
			}
		})
	}
}
