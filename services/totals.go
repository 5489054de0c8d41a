package services

import (
	"crypto/sha256"
	"encoding/base32"
	"maps"
	"math"
	"slices"
	"strings"
)

// Totals are kept pre-aggregated in cells: for every org unit, template,
// status and month, the number of records and the sum of each measure.
// Each record adds itself to a few cells (its Rollup): the cell of all its
// records, one per dimension value it has, one for its combination of
// dimension values, and one for its author (so distinct authors can be
// counted). A query reads cells, never records, except for the days of a
// month a date range cuts through.

// Measures are summed exactly in fixed point: MeasureScale units per 1.
const (
	MeasureScale = 10000
	// MaxMeasure bounds one measure value (its absolute value).
	MaxMeasure = 1e10
)

// The kinds of cell besides one per dimension key.
const (
	// DimAll is the cell of every record.
	DimAll = ""
	// DimCombo is the cell of one combination of dimension values
	// (encoded by ComboValue), for totals grouped by several dimensions.
	DimCombo = "*"
	// DimAuthor is the cell of one author's records.
	DimAuthor = "@"
	// dimDistinct prefixes the cells of a distinct measure (DistinctDim):
	// one cell per person of a people field, or per value of a text field
	// counted distinct.
	dimDistinct = "#"
	// DimLast is the cell of one record of a template with stock
	// measures (aggregation last or state): its value is LastValue, so a
	// query finds each school's latest record, and the cell's sums are the
	// record's measures.
	DimLast = "~"
)

// Summable reports whether cells of kind dim add up across units into a
// meaningful sum (combinations, distinct kinds and stock cells do not).
func Summable(dim string) bool { return dim != DimCombo && dim != DimLast && !CountsDistinct(dim) }

// LastValue is the value of a DimLast cell: the day the record occurred
// on, its id (so two records of a day stay apart) and its dimension
// values, separated by record separators; it sorts by day, then id.
func LastValue(occurredOn, recordID string, dims map[string]string) string {
	return occurredOn + "\x1e" + recordID + "\x1e" + ComboValue(dims)
}

// ParseLastValue decodes a LastValue.
func ParseLastValue(v string) (occurredOn, recordID string, dims map[string]string) {
	parts := strings.SplitN(v, "\x1e", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], ParseCombo(parts[2])
}

// DistinctDim is the kind of cell of the distinct measure key.
func DistinctDim(key string) string { return dimDistinct + key }

// CountsDistinct reports whether cells of kind dim are counted by their
// distinct values (authors, people) rather than summed: such cells never
// add up across units.
func CountsDistinct(dim string) bool { return dim == DimAuthor || strings.HasPrefix(dim, dimDistinct) }

// Rollup is what one record adds to totals; the zero Rollup adds nothing
// (drafts, returned and withdrawn records).
type Rollup struct {
	OrgID    string
	OrgPath  []string
	Template string
	Status   RecordStatus
	// Month is YYYY-MM of the record's OccurredOn.
	Month  string
	Author string
	// Dims holds every dimension of the record's template version: its
	// value, "" when the record leaves it out.
	Dims map[string]string
	// Sums holds every measure of the template version, in MeasureScale
	// units (0 when the record leaves it out).
	Sums map[string]int64
	// Distinct holds the values of every distinct measure (the person
	// ids of a people field, the normalised text of a distinct text
	// field), sorted; a field left out has none.
	Distinct map[string][]string
	// OccurredOn and Record (the record's day and id) are set when the
	// template has stock measures: the record then adds a DimLast cell.
	OccurredOn string
	Record     string
}

// Empty reports whether r adds nothing.
func (r Rollup) Empty() bool { return r.Template == "" }

// Counts reports whether records of status st count in totals.
func Counts(st RecordStatus) bool { return st == StatusApproved || st == StatusSubmitted }

// countsInTotals reports whether r adds anything to totals.
func countsInTotals(r Record) bool { return Counts(r.Status) && r.DeletedAt.IsZero() }

// RollupOf is the contribution of r, written against template version t
// (r's pinned version), to totals.
func RollupOf(r Record, t Template) Rollup {
	if !countsInTotals(r) || len(r.OccurredOn) < 7 {
		return Rollup{}
	}
	data, err := DecodeRecordData(r.Data)
	if err != nil {
		// Stored data is canonical; data that is not still counts once.
		data = map[string]any{}
	}
	out := Rollup{OrgID: r.OrgID, OrgPath: r.OrgPath, Template: r.Template, Status: r.Status,
		Month: r.OccurredOn[:7], Author: r.AuthorID, Dims: map[string]string{}, Sums: map[string]int64{}}
	if t.HasStock() {
		out.OccurredOn, out.Record = r.OccurredOn, r.ID
	}
	for _, f := range t.Fields {
		switch f.Role {
		case RoleDimension:
			out.Dims[f.Key] = dimValue(data[f.Key])
		case RoleMeasure:
			// A value FixedOf refuses (beyond MaxMeasure) passed no record
			// check since the cap exists; one stored before counts without
			// it rather than as whatever the conversion would wrap to.
			out.Sums[f.Key] = 0
			if x, ok := data[f.Key].(float64); ok {
				if v, ok := FixedOf(x); ok {
					out.Sums[f.Key] = v
				}
			}
		}
		if f.Distinct() {
			if vals := distinctValues(data[f.Key]); len(vals) > 0 {
				if out.Distinct == nil {
					out.Distinct = map[string][]string{}
				}
				out.Distinct[f.Key] = vals
			}
		}
	}
	return out
}

// distinctValues are the values a distinct measure counts from a stored
// value: a people field's ids, a text's normalised form (spaces folded,
// Latin letters lower-cased), sorted and without repeats.
func distinctValues(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		if s := strings.ToLower(strings.Join(strings.Fields(x), " ")); s != "" {
			out = append(out, s)
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// dimValue is the cell value of a dimension: an enum option, "true" or
// "false", "" when absent.
func dimValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return ""
}

// CellKey names one cell.
type CellKey struct {
	OrgID    string
	Template string
	Status   RecordStatus
	Month    string
	// Dim is DimAll, DimCombo, DimAuthor or a dimension key; Value is the
	// dimension value, combination or author id.
	Dim   string
	Value string
}

// ID is a stable short identifier of the cell, the same on every store
// and every instance.
func (k CellKey) ID() string {
	h := sha256.New()
	for _, s := range []string{k.OrgID, k.Template, string(k.Status), k.Month, k.Dim, k.Value} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:15]))
}

// Cell is one pre-aggregated total.
type Cell struct {
	CellKey
	// OrgPath is the org path of OrgID (ancestors, then itself).
	OrgPath []string
	// School is true when OrgID is a school (so rows can count schools).
	School bool
	Count  int64
	// Sums are in MeasureScale units.
	Sums map[string]int64
}

// Zero reports whether the cell holds nothing.
func (c Cell) Zero() bool {
	if c.Count != 0 {
		return false
	}
	for _, v := range c.Sums {
		if v != 0 {
			return false
		}
	}
	return true
}

// Add adds sign times d's count and sums to c (sign is 1 or -1). A sum
// that would not fit in int64 is refused with TotalOverflow (naming the
// first such measure in key order) and leaves c unchanged.
func (c *Cell) Add(d Cell, sign int64) error {
	next := make(map[string]int64, len(d.Sums))
	bad := ""
	for k, v := range d.Sums {
		s, ok := addSigned(c.Sums[k], v, sign)
		if !ok && (bad == "" || k < bad) {
			bad = k
		}
		next[k] = s
	}
	if bad != "" {
		return TotalOverflow("totals.add", bad)
	}
	c.Count += sign * d.Count
	if c.Sums == nil {
		c.Sums = map[string]int64{}
	}
	for k, v := range next {
		c.Sums[k] = v
		if v == 0 {
			delete(c.Sums, k)
		}
	}
	return nil
}

// ComboValue encodes a combination of dimension values: key=value pairs
// in key order, separated by unit separators.
func ComboValue(dims map[string]string) string {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(dims[k])
	}
	return b.String()
}

// ParseCombo decodes a ComboValue.
func ParseCombo(v string) map[string]string {
	out := map[string]string{}
	if v == "" {
		return out
	}
	for _, kv := range strings.Split(v, "\x1f") {
		k, val, _ := strings.Cut(kv, "=")
		out[k] = val
	}
	return out
}

// CellPath is the org path of a cell's unit from what cells keep of it:
// its city, its district ("" for a city's own records) and the unit.
func CellPath(city, district, unit string) []string {
	path := []string{city}
	if district != "" {
		path = append(path, district)
	}
	if unit != city && unit != district {
		path = append(path, unit)
	}
	return path
}

// IsSchoolPath reports whether an org path ends at a school: the tree is
// city, district, school.
func IsSchoolPath(path []string) bool { return len(path) == 3 }

// Cells lists the cells r adds one record to, in a fixed order.
func (r Rollup) Cells() []Cell {
	if r.Empty() {
		return nil
	}
	keys := make([]string, 0, len(r.Dims))
	for k := range r.Dims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cell := func(dim, value string, sums map[string]int64) Cell {
		return Cell{CellKey: CellKey{OrgID: r.OrgID, Template: r.Template, Status: r.Status, Month: r.Month,
			Dim: dim, Value: value}, OrgPath: r.OrgPath, School: IsSchoolPath(r.OrgPath), Count: 1, Sums: sums}
	}
	sums := make(map[string]int64, len(r.Sums))
	for k, v := range r.Sums {
		if v != 0 {
			sums[k] = v
		}
	}
	out := make([]Cell, 0, len(keys)+3)
	out = append(out, cell(DimAll, "", sums))
	for _, k := range keys {
		out = append(out, cell(k, r.Dims[k], sums))
	}
	out = append(out, cell(DimCombo, ComboValue(r.Dims), sums), cell(DimAuthor, r.Author, nil))
	if r.Record != "" {
		out = append(out, cell(DimLast, LastValue(r.OccurredOn, r.Record, r.Dims), sums))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Distinct)) {
		for _, v := range r.Distinct[k] {
			out = append(out, cell(DistinctDim(k), v, nil))
		}
	}
	return out
}

// RollupDelta is what moving a record from contribution from to to
// changes, one entry per cell (count and sums as differences), cells
// that do not change left out. A difference that does not fit in int64
// (contributions of opposite signs near the limits) saturates at
// math.MaxInt64 or math.MinInt64, which CheckDelta refuses: it has no
// error to return, and a wrapped difference would look like a valid one.
func RollupDelta(from, to Rollup) []Cell {
	old := map[CellKey]Cell{}
	var order []CellKey
	// A rollup adds to each of its cells once, so every cell has at most
	// one old and one new contribution.
	for _, c := range from.Cells() {
		old[c.CellKey] = c
		order = append(order, c.CellKey)
	}
	cur := map[CellKey]Cell{}
	for _, c := range to.Cells() {
		cur[c.CellKey] = c
		if _, ok := old[c.CellKey]; !ok {
			order = append(order, c.CellKey)
		}
	}
	out := make([]Cell, 0, len(order))
	for _, k := range order {
		f, inFrom := old[k]
		t := cur[k]
		d := Cell{CellKey: k, OrgPath: t.OrgPath, School: t.School, Count: t.Count - f.Count, Sums: map[string]int64{}}
		if inFrom {
			d.OrgPath, d.School = f.OrgPath, f.School
		}
		for m, v := range t.Sums {
			d.Sums[m] = subSaturating(v, f.Sums[m])
		}
		for m, v := range f.Sums {
			if _, ok := t.Sums[m]; !ok {
				d.Sums[m] = subSaturating(0, v)
			}
		}
		for m, v := range d.Sums {
			if v == 0 {
				delete(d.Sums, m)
			}
		}
		if !d.Zero() {
			out = append(out, d)
		}
	}
	return out
}

// subSaturating is a-b, or the int64 limit on the side it overflowed to
// (a-b overflows upwards only when a >= 0 and b < 0).
func subSaturating(a, b int64) int64 {
	d, ok := SubFixed(a, b)
	switch {
	case ok:
		return d
	case a >= 0:
		return math.MaxInt64
	default:
		return math.MinInt64
	}
}

// DiffCells lists the cells where got differs from want (zero cells and
// missing ones are alike).
func DiffCells(want map[CellKey]*Cell, got map[CellKey]Cell) []CellDrift {
	var out []CellDrift
	for k, w := range want {
		g := got[k]
		if !sameCell(*w, g) {
			out = append(out, CellDrift{Want: *w, Got: g})
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && !g.Zero() {
			out = append(out, CellDrift{Want: Cell{CellKey: k}, Got: g})
		}
	}
	slices.SortFunc(out, func(a, b CellDrift) int {
		return strings.Compare(a.Want.ID(), b.Want.ID())
	})
	return out
}

func sameCell(a, b Cell) bool {
	if a.Count != b.Count {
		return false
	}
	for k, v := range a.Sums {
		if b.Sums[k] != v {
			return false
		}
	}
	for k, v := range b.Sums {
		if a.Sums[k] != v {
			return false
		}
	}
	return true
}
