package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/huizong/huizong/services"
)

const sessionCols = `id, user_id, device, user_agent, ip, current_hash, prev_hash, generation,
	created_at, rotated_at, last_used_at, expires_at, revoked_at`

// The session queries whose plans the tests check.
const (
	userSessionsQuery = `SELECT ` + sessionCols + ` FROM sessions
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
		ORDER BY created_at DESC, id DESC`
	deleteSessionsQuery = `DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?`
)

func scanSession(row scanner) (services.Session, error) {
	var (
		s                                   services.Session
		created, rotated, used, exp, revoke sql.NullInt64
	)
	if err := row.Scan(&s.ID, &s.UserID, &s.Device, &s.UserAgent, &s.IP, &s.CurrentHash, &s.PrevHash,
		&s.Generation, &created, &rotated, &used, &exp, &revoke); err != nil {
		return services.Session{}, err
	}
	s.CreatedAt, s.RotatedAt, s.LastUsedAt = timeOf(created), timeOf(rotated), timeOf(used)
	s.ExpiresAt, s.RevokedAt = timeOf(exp), timeOf(revoke)
	return s, nil
}

// CreateSession inserts a session; ErrConflict if its id exists.
func (s *Store) CreateSession(ctx context.Context, ss services.Session) error {
	_, err := s.execW(ctx, `INSERT INTO sessions (`+sessionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ss.ID, ss.UserID, ss.Device, ss.UserAgent, ss.IP, ss.CurrentHash, ss.PrevHash, ss.Generation,
		msOf(ss.CreatedAt), msOf(ss.RotatedAt), msOf(ss.LastUsedAt), msOf(ss.ExpiresAt), msOf(ss.RevokedAt))
	return wrap("sqlite.CreateSession", err)
}

// Session returns the session id.
func (s *Store) Session(ctx context.Context, id string) (services.Session, error) {
	ss, err := scanSession(s.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	return ss, wrap("sqlite.Session", err)
}

// RotateSession applies r if the session is still at generation; the
// generation in the WHERE clause makes it a compare-and-swap, so of two
// refreshes racing with the same token exactly one wins. A rotation is a
// use, so it also sets LastUsedAt.
func (s *Store) RotateSession(ctx context.Context, id string, generation int64, r services.Rotation) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET current_hash = ?, prev_hash = ?, generation = ?,
			rotated_at = ?, last_used_at = ?, expires_at = ?, ip = ? WHERE id = ? AND generation = ?`,
			r.CurrentHash, r.PrevHash, r.Generation, msOf(r.RotatedAt), msOf(r.RotatedAt), msOf(r.ExpiresAt), r.IP,
			id, generation)
		if err != nil {
			return err
		}
		return versionMatched(ctx, tx, res, `SELECT 1 FROM sessions WHERE id = ?`, []any{id})
	})
	return wrap("sqlite.RotateSession", err)
}

// RevokeSession marks the session id of userID revoked at at, keeping the
// first time if it already was; ErrNotFound if userID has no such session.
func (s *Store) RevokeSession(ctx context.Context, userID, id string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ?
			WHERE id = ? AND user_id = ? AND revoked_at IS NULL`, msOf(at), id, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var one int
		return tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ? AND user_id = ?`, id, userID).Scan(&one)
	})
	return wrap("sqlite.RevokeSession", err)
}

// RevokeUserSessions revokes every session of userID but except.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) error {
	_, err := s.execW(ctx, `UPDATE sessions SET revoked_at = ?
		WHERE user_id = ? AND id <> ? AND revoked_at IS NULL`, msOf(at), userID, except)
	return wrap("sqlite.RevokeUserSessions", err)
}

// UserSessions lists the sessions of userID active at now, newest first.
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]services.Session, error) {
	const op = "sqlite.UserSessions"
	rows, err := s.query(ctx, userSessionsQuery, userID, now.UnixMilli())
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []services.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, ss)
	}
	return list, wrap(op, rows.Err())
}

// DeleteSessions removes sessions that expired or were revoked before
// before, and returns how many.
func (s *Store) DeleteSessions(ctx context.Context, before time.Time) (int64, error) {
	const op = "sqlite.DeleteSessions"
	ms := before.UnixMilli()
	res, err := s.execW(ctx, deleteSessionsQuery, ms, ms)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return n, nil
}
