package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/huizong/huizong/services"
)

// rollupDoc is a stored services.Rollup (records.rollup).
type rollupDoc struct {
	OrgID    string            `json:"o"`
	OrgPath  []string          `json:"p"`
	Template string            `json:"t"`
	Status   string            `json:"s"`
	Month    string            `json:"m"`
	Author   string            `json:"a"`
	Dims     map[string]string `json:"d,omitempty"`
	Sums     map[string]int64  `json:"v,omitempty"`
	// Distinct holds the values of the distinct measures (people).
	Distinct map[string][]string `json:"x,omitempty"`
	// OccurredOn and Record are kept for templates with stock measures.
	OccurredOn string `json:"day,omitempty"`
	Record     string `json:"r,omitempty"`
}

func encodeRollup(r services.Rollup) (string, error) {
	if r.Empty() {
		return "", nil
	}
	b, err := json.Marshal(rollupDoc{OrgID: r.OrgID, OrgPath: r.OrgPath, Template: r.Template,
		Status: string(r.Status), Month: r.Month, Author: r.Author, Dims: r.Dims, Sums: r.Sums, Distinct: r.Distinct,
		OccurredOn: r.OccurredOn, Record: r.Record})
	return string(b), err
}

func decodeRollup(s string) (services.Rollup, error) {
	if s == "" {
		return services.Rollup{}, nil
	}
	var d rollupDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return services.Rollup{}, fmt.Errorf("stored rollup: %w", err)
	}
	return services.Rollup{OrgID: d.OrgID, OrgPath: d.OrgPath, Template: d.Template,
		Status: services.RecordStatus(d.Status), Month: d.Month, Author: d.Author, Dims: d.Dims, Sums: d.Sums,
		Distinct: d.Distinct, OccurredOn: d.OccurredOn, Record: d.Record}, nil
}

// encodeSums writes sums as "key:value,..." in key order: cheaper to read
// back than JSON, and keys are field keys (no ':' or ',').
func encodeSums(sums map[string]int64) string {
	keys := make([]string, 0, len(sums))
	for k, v := range sums {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(sums[k], 10))
	}
	return b.String()
}

// pathAt is element i of an org path, "" past its end.
func pathAt(path []string, i int) string {
	if i < len(path) {
		return path[i]
	}
	return ""
}

const (
	cellKeyWhere = `district_id = ? AND status = ? AND dim = ? AND month = ? AND template = ? AND org_id = ? AND value = ?`
	writeCellSQL = `INSERT OR REPLACE INTO totals (district_id, status, dim, month, template, org_id, value,
		city_id, school, n, sums) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	dropEmptyCellSQL     = `DELETE FROM totals WHERE ` + cellKeyWhere + ` AND n = 0`
	dropEmptyDistrictSQL = `DELETE FROM totals_district WHERE district_id = ? AND status = ? AND dim = ?
		AND template = ? AND month = ? AND value = ? AND n = 0`
)

func cellKeyArgs(c services.Cell) []any {
	return []any{pathAt(c.OrgPath, 1), string(c.Status), c.Dim, c.Month, c.Template, c.OrgID, c.Value}
}

// applyCells adds deltas to the stored cells inside tx, the writer's
// transaction: one upsert for up to maxUpsertCells cells (sums added by
// hz_add_sums) that returns their new counts, then one upsert of the
// district's monthly sums (a school counts there while its cell is not
// empty); cells a negative delta emptied are dropped.
//
// A delta that would take a cell's (or a district's) sum beyond int64 is
// refused with services.TotalOverflow: hz_add_sums fails the upsert, the
// record's savepoint rolls back with it, and nothing of the write stays.
// Deltas RollupDelta saturated are refused before any SQL runs.
func (s *Store) applyCells(ctx context.Context, tx *sql.Tx, deltas []services.Cell) error {
	const op = "sqlite.applyCells"
	for _, d := range deltas {
		if err := services.CheckDelta(op, d); err != nil {
			return err
		}
	}
	return overflowErr(op, s.upsertCells(ctx, tx, deltas))
}

// upsertCells is applyCells once the deltas are known to be exact.
func (s *Store) upsertCells(ctx context.Context, tx *sql.Tx, deltas []services.Cell) error {
	for len(deltas) > 0 {
		chunk := deltas[:min(len(deltas), maxUpsertCells)]
		deltas = deltas[len(chunk):]
		args := make([]any, 0, 11*len(chunk))
		for _, d := range chunk {
			args = append(append(args, cellKeyArgs(d)...), pathAt(d.OrgPath, 0), d.School, d.Count, encodeSums(d.Sums))
		}
		rows, err := s.queryTx(ctx, tx, upsertCellsSQL(len(chunk)), args...)
		if err != nil {
			return err
		}
		after := make(map[services.CellKey]int64, len(chunk))
		for rows.Next() {
			var (
				k  services.CellKey
				st string
				n  int64
			)
			if err := rows.Scan(&st, &k.Dim, &k.Template, &k.OrgID, &k.Month, &k.Value, &n); err != nil {
				rows.Close()
				return err
			}
			k.Status = services.RecordStatus(st)
			after[k] = n
		}
		if err := rows.Close(); err != nil {
			return err
		}
		dargs := make([]any, 0, 10*len(chunk))
		var empty [][]any
		for _, d := range chunk {
			if d.Count < 0 {
				// A cell without records holds no sums either: records
				// bring both.
				if _, err := s.execTx(ctx, tx, dropEmptyCellSQL, cellKeyArgs(d)...); err != nil {
					return err
				}
			}
			if !inDistrictSums(d.Dim) {
				continue
			}
			schools := 0
			if n, before := after[d.CellKey], after[d.CellKey]-d.Count; d.School {
				switch {
				case before <= 0 && n > 0:
					schools = 1
				case before > 0 && n <= 0:
					schools = -1
				}
			}
			key := districtKeyArgs(d)
			dargs = append(append(dargs, key...), pathAt(d.OrgPath, 0), d.Count, encodeSums(d.Sums), schools)
			if d.Count < 0 {
				empty = append(empty, key)
			}
		}
		if len(dargs) > 0 {
			if _, err := s.execTx(ctx, tx, upsertDistrictSQL(len(dargs)/10), dargs...); err != nil {
				return err
			}
		}
		for _, key := range empty {
			if _, err := s.execTx(ctx, tx, dropEmptyDistrictSQL, key...); err != nil {
				return err
			}
		}
	}
	return nil
}

// inDistrictSums reports whether cells of kind dim are also summed per
// district: all but combinations, the distinct kinds (authors, people:
// distinct counts cannot be summed) and stock cells (one per record).
func inDistrictSums(dim string) bool { return services.Summable(dim) }

func districtKeyArgs(c services.Cell) []any {
	return []any{pathAt(c.OrgPath, 1), string(c.Status), c.Dim, c.Template, c.Month, c.Value}
}

// cellsWhere selects the cells under path: a city's through totals_city,
// a district's and a school's through the primary key.
func cellsWhere(path []string) (string, []any) {
	switch len(path) {
	case 1:
		return `city_id = ?`, []any{path[0]}
	case 2:
		return `district_id = ?`, []any{path[1]}
	default:
		return `district_id = ? AND org_id = ?`, []any{path[1], path[len(path)-1]}
	}
}

func scanCell(rows scanner) (services.Cell, error) {
	var (
		c              services.Cell
		st, sums       string
		district, city string
		school         bool
	)
	if err := rows.Scan(&district, &st, &c.Dim, &c.Month, &c.Template, &c.OrgID, &c.Value, &city, &school, &c.Count, &sums); err != nil {
		return services.Cell{}, err
	}
	c.Status, c.School = services.RecordStatus(st), school
	c.OrgPath = services.CellPath(city, district, c.OrgID)
	var err error
	c.Sums, err = addSums(nil, sums)
	return c, err
}

// cellCols are the columns scanCell reads.
const cellCols = `district_id, status, dim, month, template, org_id, value, city_id, school, n, sums`

// Cells sums the cells under q.OrgPath inside sc in SQL, grouped as q
// asks: the rows SQLite hands over are the answer's, not the cells'.
func (s *Store) Cells(ctx context.Context, sc services.Scope, q services.CellQuery, fn func(services.CellGroup) error) error {
	const op = "sqlite.Cells"
	if len(q.OrgPath) == 0 || sc.Empty() || !sc.Covers(q.OrgPath) {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	var (
		sel  []string
		args []any
	)
	district := useDistrictSums(q)
	// Grouping expressions first (their parameters come first too).
	switch q.ByOrg {
	case services.OrgChild:
		if district {
			sel = append(sel, `CASE WHEN district_id = '' THEN city_id ELSE district_id END`)
		} else if len(q.OrgPath) == 1 {
			// A city's children are its districts; its own records
			// (district_id '') stay under the city.
			sel = append(sel, `CASE WHEN district_id = '' THEN org_id ELSE district_id END`)
		} else {
			sel = append(sel, `org_id`)
		}
	case services.OrgLeaf:
		sel = append(sel, `org_id`)
	default:
		sel = append(sel, `''`)
	}
	if q.ByTemplate {
		sel = append(sel, `template`)
	} else {
		sel = append(sel, `''`)
	}
	switch {
	case q.ByMonth && len(q.Buckets) > 0:
		var b strings.Builder
		b.WriteString(`CASE month`)
		for _, m := range slices.Sorted(maps.Keys(q.Buckets)) {
			b.WriteString(` WHEN ? THEN ?`)
			args = append(args, m, q.Buckets[m])
		}
		b.WriteString(` ELSE month END`)
		sel = append(sel, b.String())
	case q.ByMonth:
		sel = append(sel, `month`)
	default:
		sel = append(sel, `''`)
	}
	if q.ByValue {
		sel = append(sel, `value`)
	} else {
		sel = append(sel, `''`)
	}
	// Distinct counts cost a temporary b-tree each: schools need one only
	// when a group spans units, values only for authors.
	schools := `COUNT(DISTINCT CASE WHEN school THEN org_id END)`
	if q.ByOrg == services.OrgLeaf || (q.ByOrg == services.OrgChild && len(q.OrgPath) > 1) {
		schools = `max(school)` // one unit per group
	}
	values := `1`
	if !q.ByValue {
		values = `COUNT(DISTINCT value)`
		if !services.CountsDistinct(q.Dim) {
			values = `1`
		}
	}
	var b strings.Builder
	where, wargs := cellsWhere(q.OrgPath)
	// A district's or a school's cells are one range of the primary key.
	// The planner, misled by a city column of one value, preferred a
	// skip-scan of the city index over every district (five times the
	// cells, then a filter): the primary key is named.
	if district {
		from := `totals_district INDEXED BY sqlite_autoindex_totals_district_1`
		if len(q.OrgPath) == 1 {
			from, where = `totals_district`, `city_id = ?`
		}
		b.WriteString(`SELECT ` + strings.Join(sel, `, `) + `, SUM(n), group_concat(sums, ','), SUM(schools), 1,
			min(district_id), min(city_id), 0 FROM ` + from + ` WHERE `)
	} else {
		from := `totals INDEXED BY sqlite_autoindex_totals_1`
		if len(q.OrgPath) == 1 {
			from = `totals`
		}
		b.WriteString(`SELECT ` + strings.Join(sel, `, `) + `, SUM(n), group_concat(sums, ','), ` + schools + `, ` + values + `,
			min(district_id), min(city_id), max(school) FROM ` + from + ` WHERE `)
	}
	b.WriteString(where)
	args = append(args, wargs...)
	statuses := q.Statuses
	if len(statuses) == 0 {
		statuses = []services.RecordStatus{services.StatusApproved, services.StatusSubmitted}
	}
	b.WriteString(` AND status IN (?` + strings.Repeat(`, ?`, len(statuses)-1) + `)`)
	for _, st := range statuses {
		args = append(args, string(st))
	}
	b.WriteString(` AND dim = ?`)
	args = append(args, q.Dim)
	if q.FromMonth != "" {
		b.WriteString(` AND month >= ?`)
		args = append(args, q.FromMonth)
	}
	if q.ToMonth != "" {
		b.WriteString(` AND month <= ?`)
		args = append(args, q.ToMonth)
	}
	if len(q.Templates) > 0 {
		b.WriteString(` AND template IN (?` + strings.Repeat(`, ?`, len(q.Templates)-1) + `)`)
		for _, t := range q.Templates {
			args = append(args, t)
		}
	}
	b.WriteString(` GROUP BY 1, 2, 3, 4`)
	rows, err := s.query(ctx, b.String(), args...)
	if err != nil {
		return wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			g              services.CellGroup
			sums           sql.NullString
			district, city string
			school         bool
		)
		if err := rows.Scan(&g.OrgID, &g.Template, &g.Bucket, &g.Value, &g.Count, &sums, &g.Schools, &g.Values,
			&district, &city, &school); err != nil {
			return wrap(op, err)
		}
		if g.Sums, err = addSums(nil, sums.String); err != nil {
			// A group whose sum does not fit in int64 is refused, not
			// wrapped.
			return wrap(op, overflowErr(op, err))
		}
		if q.ByOrg == services.OrgLeaf {
			g.OrgPath, g.School = services.CellPath(city, district, g.OrgID), school
		}
		if err := fn(g); err != nil {
			return err
		}
	}
	return wrap(op, rows.Err())
}

// useDistrictSums reports whether q can be answered from the districts'
// monthly sums: a district's or a city's totals, units summed (or a
// city's by district), kept apart by template, status, value and month,
// and a kind of cell they keep. The schools they count add up across
// districts, but not across months, templates, statuses or values.
func useDistrictSums(q services.CellQuery) bool {
	if len(q.OrgPath) > 2 || !inDistrictSums(q.Dim) || len(q.Statuses) != 1 {
		return false
	}
	if (!q.ByTemplate && len(q.Templates) != 1) || (q.Dim != services.DimAll && !q.ByValue) {
		return false
	}
	if q.ByOrg == services.OrgLeaf || (q.ByOrg == services.OrgChild && len(q.OrgPath) != 1) {
		return false
	}
	if q.FromMonth != "" && q.FromMonth == q.ToMonth {
		return true
	}
	if !q.ByMonth {
		return false
	}
	seen := make(map[string]bool, len(q.Buckets))
	for _, b := range q.Buckets {
		if seen[b] {
			return false // several months in one bucket
		}
		seen[b] = true
	}
	return true
}

// addSums adds the "key:value,..." sums in s (empty parts allowed, keys
// repeated) to dst. Every addition is checked: a total that does not fit
// in int64 is a sumsOverflow, never a wrapped number (hz_add_sums and
// hz_norm_sums fail with it in SQL, Cells and reconciling in Go).
func addSums(dst map[string]int64, s string) (map[string]int64, error) {
	if dst == nil {
		dst = map[string]int64{}
	}
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, ",")
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, ":")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("stored sums %q: malformed", kv)
		}
		sum, fits := services.AddFixed(dst[k], n)
		if !fits {
			return nil, sumsOverflow{key: k}
		}
		dst[k] = sum
	}
	return dst, nil
}

// querier is what reconciling reads through: a read or a write
// transaction.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// ReconcileTotals compares the stored cells of orgID with its records'
// contributions, and with fix rewrites them (and each record's stored
// contribution) in one transaction. Without fix it reads one snapshot.
func (s *Store) ReconcileTotals(ctx context.Context, orgID string, rollup func(services.Record) (services.Rollup, error), fix bool) ([]services.CellDrift, error) {
	const op = "sqlite.ReconcileTotals"
	var drift []services.CellDrift
	run := func(q querier) error {
		var err error
		drift, err = s.reconcile(ctx, q, orgID, rollup, fix)
		return err
	}
	if fix {
		if err := s.tx(ctx, func(tx *sql.Tx) error { return run(tx) }); err != nil {
			return nil, wrap(op, overflowErr(op, err))
		}
		return drift, nil
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if err := run(tx); err != nil {
		return nil, wrap(op, overflowErr(op, err))
	}
	return drift, nil
}

func (s *Store) reconcile(ctx context.Context, q querier, orgID string, rollup func(services.Record) (services.Rollup, error), fix bool) ([]services.CellDrift, error) {
	var pathText string
	if err := q.QueryRowContext(ctx, `SELECT path FROM orgs WHERE id = ?`, orgID).Scan(&pathText); err != nil {
		return nil, err
	}
	var path []string
	if err := fromJSON(pathText, &path); err != nil {
		return nil, err
	}
	// What the records say.
	want := map[services.CellKey]*services.Cell{}
	type restate struct{ id, rollup string }
	var stale []restate
	rows, err := q.QueryContext(ctx, `SELECT `+recordCols+`, r.rollup FROM records r WHERE r.org_id = ?`, orgID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var stored string
		r, err := scanRecordWith(rows, &stored)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ru, err := rollup(r)
		if err != nil {
			rows.Close()
			return nil, err
		}
		for _, c := range ru.Cells() {
			if w, ok := want[c.CellKey]; ok {
				if err := w.Add(c, 1); err != nil {
					rows.Close()
					return nil, err
				}
			} else {
				c.Sums = maps.Clone(c.Sums)
				want[c.CellKey] = &c
			}
		}
		text, err := encodeRollup(ru)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if text != stored {
			stale = append(stale, restate{r.ID, text})
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	// What is stored.
	where, args := cellsWhere(path)
	if len(path) < 3 {
		where += ` AND org_id = ?`
		args = append(args, orgID)
	}
	got := map[services.CellKey]services.Cell{}
	rows, err = q.QueryContext(ctx, `SELECT `+cellCols+` FROM totals WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		c, err := scanCell(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		got[c.CellKey] = c
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	drift := services.DiffCells(want, got)
	district, city := pathAt(path, 1), path[0]
	if len(path) <= 2 {
		// A district (or a city, for its own records) also answers for
		// its monthly sums: they must equal its units' cells summed.
		dd, err := districtDrift(ctx, q, district, city)
		if err != nil {
			return nil, err
		}
		if fix && len(dd) > 0 {
			if err := rebuildDistrictSums(ctx, q, district, city); err != nil {
				return nil, err
			}
		}
		drift = append(drift, dd...)
	}
	if !fix || (len(drift) == 0 && len(stale) == 0) {
		return drift, nil
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM totals WHERE `+where, args...); err != nil {
		return nil, err
	}
	for _, c := range want {
		if c.Zero() {
			continue
		}
		if _, err := q.ExecContext(ctx, writeCellSQL, append(cellKeyArgs(*c), pathAt(c.OrgPath, 0), c.School,
			c.Count, encodeSums(c.Sums))...); err != nil {
			return nil, err
		}
	}
	for _, r := range stale {
		if _, err := q.ExecContext(ctx, `UPDATE records SET rollup = ? WHERE id = ?`, r.rollup, r.id); err != nil {
			return nil, err
		}
	}
	// The unit's district sums follow its rewritten cells.
	if err := rebuildDistrictSums(ctx, q, district, city); err != nil {
		return nil, err
	}
	return drift, nil
}

// districtSumsOf is what totals_district holds for one district of one
// city, or would hold according to the cells (derived).
func districtSumsOf(ctx context.Context, q querier, district, city string, derived bool) (map[services.CellKey]services.Cell, error) {
	query := `SELECT status, dim, template, month, value, n, sums, schools FROM totals_district
		WHERE district_id = ? AND city_id = ?`
	if derived {
		query = `SELECT status, dim, template, month, value, SUM(n), hz_norm_sums(group_concat(sums, ',')), SUM(school)
			FROM totals WHERE district_id = ? AND city_id = ? AND dim NOT IN ('*', '@', '~') AND substr(dim, 1, 1) <> '#'
			GROUP BY status, dim, template, month, value`
	}
	rows, err := q.QueryContext(ctx, query, district, city)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	owner := district
	if owner == "" {
		owner = city
	}
	out := map[services.CellKey]services.Cell{}
	for rows.Next() {
		var (
			c       services.Cell
			st      string
			sums    sql.NullString
			schools int64
		)
		if err := rows.Scan(&st, &c.Dim, &c.Template, &c.Month, &c.Value, &c.Count, &sums, &schools); err != nil {
			return nil, err
		}
		c.OrgID, c.Status = owner, services.RecordStatus(st)
		if c.Sums, err = addSums(nil, sums.String); err != nil {
			return nil, err
		}
		// The schools counter is compared with the sums.
		c.Sums["#schools"] = schools
		out[c.CellKey] = c
	}
	return out, rows.Err()
}

// districtDrift compares a district's monthly sums with its units' cells.
func districtDrift(ctx context.Context, q querier, district, city string) ([]services.CellDrift, error) {
	want, err := districtSumsOf(ctx, q, district, city, true)
	if err != nil {
		return nil, err
	}
	got, err := districtSumsOf(ctx, q, district, city, false)
	if err != nil {
		return nil, err
	}
	w := make(map[services.CellKey]*services.Cell, len(want))
	for k, c := range want {
		w[k] = &c
	}
	return services.DiffCells(w, got), nil
}

// rebuildDistrictSums rewrites a district's monthly sums from the cells.
func rebuildDistrictSums(ctx context.Context, q querier, district, city string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM totals_district WHERE district_id = ? AND city_id = ?`, district, city); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT INTO totals_district (district_id, status, dim, template, month, value, city_id, n, sums, schools)
		SELECT district_id, status, dim, template, month, value, city_id, SUM(n), hz_norm_sums(group_concat(sums, ',')), SUM(school)
		FROM totals WHERE district_id = ? AND city_id = ? AND dim NOT IN ('*', '@', '~') AND substr(dim, 1, 1) <> '#'
		GROUP BY status, dim, template, month, value`, district, city)
	return err
}

// FinishTotals has nothing to do: totals change in the record's own
// transaction.
func (s *Store) FinishTotals(context.Context, time.Time) (int, error) { return 0, nil }
