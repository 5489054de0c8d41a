package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/huizong/huizong/services"
)

const userCols = `u.id, u.username, u.name, u.mobile, u.role, u.org_id, u.org_path, u.password_hash,
	u.must_change_password, u.disabled, u.password_changed_at, u.version, u.created_at, u.updated_at`

// userScope restricts a query on "users u" to s (s must not be empty).
func userScope(s services.Scope) (string, []any) {
	if s.All {
		return "", nil
	}
	return ` AND EXISTS (SELECT 1 FROM user_scope a WHERE a.ancestor_id = ? AND a.user_id = u.id)`, []any{s.OrgID}
}

func scanUser(row scanner) (services.User, error) {
	var (
		u                               services.User
		mobile                          sql.NullString
		role, path                      string
		changedAt, createdAt, updatedAt sql.NullInt64
	)
	if err := row.Scan(&u.ID, &u.Username, &u.Name, &mobile, &role, &u.OrgID, &path, &u.PasswordHash,
		&u.MustChangePassword, &u.Disabled, &changedAt, &u.Version, &createdAt, &updatedAt); err != nil {
		return services.User{}, err
	}
	u.Mobile, u.Role = mobile.String, services.Role(role)
	u.PasswordChangedAt, u.CreatedAt, u.UpdatedAt = timeOf(changedAt), timeOf(createdAt), timeOf(updatedAt)
	if err := fromJSON(path, &u.OrgPath); err != nil {
		return services.User{}, err
	}
	return u, nil
}

// setUserScope writes the ancestor rows of user id.
func setUserScope(ctx context.Context, tx *sql.Tx, id string, path []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_scope WHERE user_id = ?`, id); err != nil {
		return err
	}
	for _, a := range path {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO user_scope (ancestor_id, user_id) VALUES (?, ?)`,
			a, id); err != nil {
			return err
		}
	}
	return nil
}

// CreateUsers inserts all of users in one transaction, or none of them.
func (s *Store) CreateUsers(ctx context.Context, users []services.User) error {
	if len(users) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO users (id, username, name, mobile, role, org_id, org_path,
			password_hash, must_change_password, disabled, password_changed_at, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		scope, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO user_scope (ancestor_id, user_id) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer scope.Close()
		for _, u := range users {
			if _, err := ins.ExecContext(ctx, u.ID, u.Username, u.Name, nullIfEmpty(u.Mobile), string(u.Role),
				u.OrgID, toJSON(u.OrgPath), u.PasswordHash, u.MustChangePassword, u.Disabled,
				msOf(u.PasswordChangedAt), u.Version, msOf(u.CreatedAt), msOf(u.UpdatedAt)); err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
			for _, a := range u.OrgPath {
				if _, err := scope.ExecContext(ctx, a, u.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return wrap("sqlite.CreateUsers", err)
}

// User returns the user id inside sc.
func (s *Store) User(ctx context.Context, sc services.Scope, id string) (services.User, error) {
	const op = "sqlite.User"
	if sc.Empty() {
		return services.User{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, args := userScope(sc)
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`+cond,
		append([]any{id}, args...)...))
	return u, wrap(op, err)
}

// usersQuery builds the list query like orgsQuery.
//
// With count set it counts the matches instead: no page, no order.
func usersQuery(sc services.Scope, q services.UserQuery, count bool) (string, []any) {
	p := q.Page.Normalize()
	cols := userCols
	if count {
		cols, p.After = "count(*)", ""
	}
	var b strings.Builder
	var args []any
	order := "u.id"
	switch {
	case sc.All || q.OrgID != "":
		// With an org filter the (org_id, id) index is narrower than the
		// scope's range, and the scope becomes a key lookup per user.
		cond, cargs := userScope(sc)
		b.WriteString(`SELECT ` + cols + ` FROM users u WHERE u.id > ?` + cond)
		args = append(args, p.After)
		args = append(args, cargs...)
	default:
		b.WriteString(`SELECT ` + cols + ` FROM user_scope a JOIN users u ON u.id = a.user_id
			WHERE a.ancestor_id = ? AND a.user_id > ?`)
		args = append(args, sc.OrgID, p.After)
		order = "a.user_id"
	}
	if q.OrgID != "" {
		b.WriteString(` AND u.org_id = ?`)
		args = append(args, q.OrgID)
	}
	if q.Role != "" {
		b.WriteString(` AND u.role = ?`)
		args = append(args, string(q.Role))
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

// Users lists users inside sc in id order.
func (s *Store) Users(ctx context.Context, sc services.Scope, q services.UserQuery) ([]services.User, error) {
	const op = "sqlite.Users"
	if sc.Empty() {
		return nil, nil
	}
	query, args := usersQuery(sc, q, false)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []services.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, u)
	}
	return list, wrap(op, rows.Err())
}

// userByLoginQuery prefers a username match over a mobile match.
const userByLoginQuery = `SELECT ` + userCols + ` FROM users u
	WHERE u.username = ? OR u.mobile = ? ORDER BY u.username = ? DESC LIMIT 1`

// UserByLogin finds a user by username, else by mobile number.
func (s *Store) UserByLogin(ctx context.Context, login string) (services.User, error) {
	const op = "sqlite.UserByLogin"
	if login == "" {
		return services.User{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	u, err := scanUser(s.queryRow(ctx, userByLoginQuery, login, login, login))
	return u, wrap(op, err)
}

// UpdateUser replaces everything but the id, username and creation time of
// u.ID at u.Version inside sc, and moves its scope rows with its org.
func (s *Store) UpdateUser(ctx context.Context, sc services.Scope, u services.User) (services.User, error) {
	const op = "sqlite.UpdateUser"
	if sc.Empty() {
		return services.User{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, cargs := userScope(sc)
	var out services.User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users AS u SET name = ?, mobile = ?, role = ?, org_id = ?,
			org_path = ?, password_hash = ?, must_change_password = ?, disabled = ?, password_changed_at = ?,
			updated_at = ?, version = version + 1 WHERE u.id = ? AND u.version = ?`+cond,
			append([]any{u.Name, nullIfEmpty(u.Mobile), string(u.Role), u.OrgID, toJSON(u.OrgPath), u.PasswordHash,
				u.MustChangePassword, u.Disabled, msOf(u.PasswordChangedAt), msOf(u.UpdatedAt),
				u.ID, u.Version}, cargs...)...)
		if err != nil {
			return err
		}
		if err := versionMatched(ctx, tx, res, `SELECT 1 FROM users u WHERE u.id = ?`+cond,
			append([]any{u.ID}, cargs...)); err != nil {
			return err
		}
		if err := setUserScope(ctx, tx, u.ID, u.OrgPath); err != nil {
			return err
		}
		out, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, u.ID))
		return err
	})
	if err != nil {
		return services.User{}, wrap(op, err)
	}
	return out, nil
}

// CountUsers counts the users inside sc that match q (its page ignored).
func (s *Store) CountUsers(ctx context.Context, sc services.Scope, q services.UserQuery) (int64, error) {
	if sc.Empty() {
		return 0, nil
	}
	query, args := usersQuery(sc, q, true)
	var n int64
	err := s.queryRow(ctx, query, args...).Scan(&n)
	return n, wrap("sqlite.CountUsers", err)
}
