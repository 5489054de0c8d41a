package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/huizong/huizong/services"
)

const orgCols = `o.id, o.kind, o.name, o.parent_id, o.path, o.code, o.stages, o.students, o.staff,
	o.version, o.created_at, o.updated_at`

// orgScope restricts a query on "orgs o" to s (s must not be empty).
func orgScope(s services.Scope) (string, []any) {
	if s.All {
		return "", nil
	}
	return ` AND EXISTS (SELECT 1 FROM org_scope a WHERE a.ancestor_id = ? AND a.org_id = o.id)`, []any{s.OrgID}
}

func scanOrg(row scanner) (services.Org, error) {
	var (
		o                    services.Org
		kind, path, stages   string
		code                 sql.NullString
		createdAt, updatedAt sql.NullInt64
	)
	if err := row.Scan(&o.ID, &kind, &o.Name, &o.ParentID, &path, &code, &stages, &o.Students, &o.Staff,
		&o.Version, &createdAt, &updatedAt); err != nil {
		return services.Org{}, err
	}
	o.Kind, o.Code = services.OrgKind(kind), code.String
	o.CreatedAt, o.UpdatedAt = timeOf(createdAt), timeOf(updatedAt)
	if err := fromJSON(path, &o.Path); err != nil {
		return services.Org{}, err
	}
	if err := fromJSON(stages, &o.Stages); err != nil {
		return services.Org{}, err
	}
	return o, nil
}

// CreateOrg inserts o and its ancestor rows.
func (s *Store) CreateOrg(ctx context.Context, o services.Org) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO orgs (id, kind, name, parent_id, path, code, stages,
			students, staff, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, string(o.Kind), o.Name, o.ParentID, toJSON(o.Path), nullIfEmpty(o.Code), toJSON(o.Stages),
			o.Students, o.Staff, o.Version, msOf(o.CreatedAt), msOf(o.UpdatedAt)); err != nil {
			return err
		}
		for _, a := range o.Path {
			// OR IGNORE: a path naming an id twice is odd, not a conflict.
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO org_scope (ancestor_id, org_id) VALUES (?, ?)`,
				a, o.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("sqlite.CreateOrg", err)
}

// Org returns the unit id inside sc.
func (s *Store) Org(ctx context.Context, sc services.Scope, id string) (services.Org, error) {
	const op = "sqlite.Org"
	if sc.Empty() {
		return services.Org{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, args := orgScope(sc)
	o, err := scanOrg(s.queryRow(ctx, `SELECT `+orgCols+` FROM orgs o WHERE o.id = ?`+cond,
		append([]any{id}, args...)...))
	return o, wrap(op, err)
}

// orgsQuery builds the list query: over the whole table in id order, or
// driven by the scope table's (ancestor_id, org_id) key so the scoped list
// is one index range in id order. Only fixed fragments are concatenated;
// every value is a parameter.
//
// With count set it counts the matches instead: no page, no order.
func orgsQuery(sc services.Scope, q services.OrgQuery, count bool) (string, []any) {
	p := q.Page.Normalize()
	cols := orgCols
	if count {
		cols, p.After = "count(*)", ""
	}
	var b strings.Builder
	var args []any
	order := "o.id"
	switch {
	case sc.All || q.ParentID != "":
		// With a parent filter the (parent_id, id) index is narrower than
		// the scope's range, and the scope becomes a key lookup per unit.
		cond, cargs := orgScope(sc)
		b.WriteString(`SELECT ` + cols + ` FROM orgs o WHERE o.id > ?` + cond)
		args = append(args, p.After)
		args = append(args, cargs...)
	default:
		b.WriteString(`SELECT ` + cols + ` FROM org_scope a JOIN orgs o ON o.id = a.org_id
			WHERE a.ancestor_id = ? AND a.org_id > ?`)
		args = append(args, sc.OrgID, p.After)
		order = "a.org_id"
	}
	if q.ParentID != "" {
		b.WriteString(` AND o.parent_id = ?`)
		args = append(args, q.ParentID)
	}
	if q.Kind != "" {
		b.WriteString(` AND o.kind = ?`)
		args = append(args, string(q.Kind))
	}
	if q.Code != "" {
		b.WriteString(` AND o.code = ?`)
		args = append(args, q.Code)
	}
	if count {
		return b.String(), args
	}
	// Order by the column the chosen key is sorted on, so SQLite reads
	// the page in order and stops at the limit instead of sorting.
	b.WriteString(` ORDER BY ` + order + ` LIMIT ?`)
	args = append(args, p.Limit)
	return b.String(), args
}

// Orgs lists units inside sc in id order.
func (s *Store) Orgs(ctx context.Context, sc services.Scope, q services.OrgQuery) ([]services.Org, error) {
	const op = "sqlite.Orgs"
	if sc.Empty() {
		return nil, nil
	}
	query, args := orgsQuery(sc, q, false)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []services.Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, o)
	}
	return list, wrap(op, rows.Err())
}

// CountOrgs counts the units inside sc that match q (its page ignored).
func (s *Store) CountOrgs(ctx context.Context, sc services.Scope, q services.OrgQuery) (int64, error) {
	if sc.Empty() {
		return 0, nil
	}
	query, args := orgsQuery(sc, q, true)
	var n int64
	err := s.queryRow(ctx, query, args...).Scan(&n)
	return n, wrap("sqlite.CountOrgs", err)
}

// UpdateOrg replaces the mutable fields of o.ID at o.Version inside sc.
// The tree shape (kind, parent, path) never changes here.
func (s *Store) UpdateOrg(ctx context.Context, sc services.Scope, o services.Org) (services.Org, error) {
	const op = "sqlite.UpdateOrg"
	if sc.Empty() {
		return services.Org{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, cargs := orgScope(sc)
	var out services.Org
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE orgs AS o SET name = ?, code = ?, stages = ?, students = ?, staff = ?,
			updated_at = ?, version = version + 1 WHERE o.id = ? AND o.version = ?`+cond,
			append([]any{o.Name, nullIfEmpty(o.Code), toJSON(o.Stages), o.Students, o.Staff,
				msOf(o.UpdatedAt), o.ID, o.Version}, cargs...)...)
		if err != nil {
			return err
		}
		if err := versionMatched(ctx, tx, res, `SELECT 1 FROM orgs o WHERE o.id = ?`+cond,
			append([]any{o.ID}, cargs...)); err != nil {
			return err
		}
		out, err = scanOrg(tx.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs o WHERE o.id = ?`, o.ID))
		return err
	})
	if err != nil {
		return services.Org{}, wrap(op, err)
	}
	return out, nil
}

// versionMatched explains an UPDATE ... WHERE id = ? AND version = ? that
// touched nothing: ErrNotFound when exists (the same id and scope, without
// the version) finds nothing, ErrStale when it does.
func versionMatched(ctx context.Context, tx *sql.Tx, res sql.Result, exists string, args []any) error {
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return err
	}
	var one int
	if err := tx.QueryRowContext(ctx, exists, args...).Scan(&one); err != nil {
		return err // sql.ErrNoRows maps to ErrNotFound
	}
	return services.ErrStale
}

// DeleteOrg removes a unit at version inside sc, unless units or users
// still hang under it; the check and the delete share one transaction.
func (s *Store) DeleteOrg(ctx context.Context, sc services.Scope, id string, version int64) error {
	const op = "sqlite.DeleteOrg"
	if sc.Empty() {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, cargs := orgScope(sc)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var v int64
		if err := tx.QueryRowContext(ctx, `SELECT o.version FROM orgs o WHERE o.id = ?`+cond,
			append([]any{id}, cargs...)...).Scan(&v); err != nil {
			return err
		}
		if v != version {
			return services.ErrStale
		}
		var used bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM orgs WHERE parent_id = ?)
			OR EXISTS (SELECT 1 FROM org_scope WHERE ancestor_id = ? AND org_id <> ?)
			OR EXISTS (SELECT 1 FROM users WHERE org_id = ?)
			OR EXISTS (SELECT 1 FROM user_scope WHERE ancestor_id = ?)`,
			id, id, id, id, id).Scan(&used); err != nil {
			return err
		}
		if used {
			return fmt.Errorf("%w: unit has child units or users", services.ErrConflict)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM orgs WHERE id = ?`, id)
		return err
	})
	return wrap(op, err)
}

// toJSON encodes a list column; nil is stored as [].
func toJSON(list []string) string {
	if len(list) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(list) // a []string always encodes
	return string(b)
}

// fromJSON decodes a list column; [] comes back nil.
func fromJSON(s string, list *[]string) error {
	*list = nil
	if s == "" || s == "[]" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), list); err != nil {
		return fmt.Errorf("decode list column: %w", err)
	}
	return nil
}
