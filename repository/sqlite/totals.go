package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
}

func encodeRollup(r services.Rollup) (string, error) {
	if r.Empty() {
		return "", nil
	}
	b, err := json.Marshal(rollupDoc{OrgID: r.OrgID, OrgPath: r.OrgPath, Template: r.Template,
		Status: string(r.Status), Month: r.Month, Author: r.Author, Dims: r.Dims, Sums: r.Sums})
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
		Status: services.RecordStatus(d.Status), Month: d.Month, Author: d.Author, Dims: d.Dims, Sums: d.Sums}, nil
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

func decodeSums(s string) (map[string]int64, error) {
	out := make(map[string]int64, strings.Count(s, ",")+1)
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, ",")
		k, v, ok := strings.Cut(kv, ":")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("stored sums %q: malformed", kv)
		}
		out[k] = n
	}
	return out, nil
}

// pathAt is element i of an org path, "" past its end.
func pathAt(path []string, i int) string {
	if i < len(path) {
		return path[i]
	}
	return ""
}

const (
	cellKeyWhere  = `district_id = ? AND status = ? AND dim = ? AND month = ? AND template = ? AND org_id = ? AND value = ?`
	readCellSQL   = `SELECT n, sums FROM totals WHERE ` + cellKeyWhere
	deleteCellSQL = `DELETE FROM totals WHERE ` + cellKeyWhere
	writeCellSQL  = `INSERT OR REPLACE INTO totals (district_id, status, dim, month, template, org_id, value,
		city_id, school, n, sums) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func cellKeyArgs(c services.Cell) []any {
	return []any{pathAt(c.OrgPath, 1), string(c.Status), c.Dim, c.Month, c.Template, c.OrgID, c.Value}
}

// applyCells adds deltas to the stored cells inside tx, the writer's
// transaction, so no other write interleaves between read and write.
func (s *Store) applyCells(ctx context.Context, tx *sql.Tx, deltas []services.Cell) error {
	for _, d := range deltas {
		key := cellKeyArgs(d)
		var (
			n    int64
			sums string
		)
		cur := services.Cell{CellKey: d.CellKey}
		err := tx.StmtContext(ctx, s.prepared[readCellSQL]).QueryRowContext(ctx, key...).Scan(&n, &sums)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			cur.Count = n
			if cur.Sums, err = decodeSums(sums); err != nil {
				return err
			}
		}
		cur.Add(d, 1)
		if cur.Zero() {
			_, err = s.execTx(ctx, tx, deleteCellSQL, key...)
		} else {
			_, err = s.execTx(ctx, tx, writeCellSQL, append(key, pathAt(d.OrgPath, 0), d.School,
				cur.Count, encodeSums(cur.Sums))...)
		}
		if err != nil {
			return err
		}
	}
	return nil
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

func scanCell(rows scanner, dim string) (services.Cell, error) {
	var (
		c              services.Cell
		st, sums       string
		district, city string
		school         bool
	)
	if err := rows.Scan(&district, &st, &c.Month, &c.Template, &c.OrgID, &c.Value, &city, &school, &c.Count, &sums); err != nil {
		return services.Cell{}, err
	}
	c.Status, c.Dim, c.School = services.RecordStatus(st), dim, school
	c.OrgPath = leafPath(city, district, c.OrgID)
	var err error
	c.Sums, err = decodeSums(sums)
	return c, err
}

const cellCols = `district_id, status, month, template, org_id, value, city_id, school, n, sums`

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
	// Grouping expressions first (their parameters come first too).
	switch q.ByOrg {
	case services.OrgChild:
		if len(q.OrgPath) == 1 {
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
	var b strings.Builder
	b.WriteString(`SELECT ` + strings.Join(sel, `, `) + `, SUM(n), group_concat(sums, ','),
		COUNT(DISTINCT CASE WHEN school THEN org_id END), COUNT(DISTINCT value), min(district_id), min(city_id), max(school)
		FROM totals WHERE `)
	where, wargs := cellsWhere(q.OrgPath)
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
	rows, err := s.r.QueryContext(ctx, b.String(), args...)
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
			return wrap(op, err)
		}
		if q.ByOrg == services.OrgLeaf {
			g.OrgPath, g.School = leafPath(city, district, g.OrgID), school
		}
		if err := fn(g); err != nil {
			return err
		}
	}
	return wrap(op, rows.Err())
}

// leafPath is the org path of a cell's unit as far as cells know it:
// city, district, then the unit.
func leafPath(city, district, org string) []string {
	path := []string{city}
	if district != "" {
		path = append(path, district)
		if org != district {
			path = append(path, org)
		}
	} else if org != city {
		path = append(path, org)
	}
	return path
}

// addSums adds the "key:value,..." sums in s (empty parts allowed, keys
// repeated) to dst.
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
		dst[k] += n
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
			return nil, wrap(op, err)
		}
		return drift, nil
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if err := run(tx); err != nil {
		return nil, wrap(op, err)
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
				w.Add(c, 1)
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
	rows, err = q.QueryContext(ctx, `SELECT dim, `+cellCols+` FROM totals WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var dim string
		c, err := scanCell(rowsWithDim{rows, &dim}, "")
		if err != nil {
			rows.Close()
			return nil, err
		}
		c.Dim = dim
		got[c.CellKey] = c
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	drift := services.DiffCells(want, got)
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
	return drift, nil
}

// rowsWithDim scans a leading dim column before the cell columns.
type rowsWithDim struct {
	*sql.Rows
	dim *string
}

func (r rowsWithDim) Scan(dest ...any) error { return r.Rows.Scan(append([]any{r.dim}, dest...)...) }

// FinishTotals has nothing to do: totals change in the record's own
// transaction.
func (s *Store) FinishTotals(context.Context, time.Time) (int, error) { return 0, nil }
