package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/huizong/huizong/services"
)

// ClaimIdempotency inserts r unless its id exists, and returns the stored
// request when it does.
func (s *Store) ClaimIdempotency(ctx context.Context, r services.IdempotentRequest) (services.IdempotentRequest, bool, error) {
	const op = "sqlite.ClaimIdempotency"
	var stored services.IdempotentRequest
	claimed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency (id, user_id, request_hash, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.UserID, r.RequestHash, msOf(r.CreatedAt), msOf(r.ExpiresAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			claimed = n == 1
			return err
		}
		var done int
		var created, expires sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT id, user_id, request_hash, done, status, location, etag, body, created_at, expires_at
			FROM idempotency WHERE id = ?`, r.ID).Scan(&stored.ID, &stored.UserID, &stored.RequestHash, &done, &stored.Status,
			&stored.Location, &stored.ETag, &stored.Body, &created, &expires)
		stored.Done, stored.CreatedAt, stored.ExpiresAt = done == 1, timeOf(created), timeOf(expires)
		return err
	})
	if err != nil {
		return services.IdempotentRequest{}, false, wrap(op, err)
	}
	if claimed {
		return r, true, nil
	}
	return stored, false, nil
}

// CompleteIdempotency stores the answer of a claimed request.
func (s *Store) CompleteIdempotency(ctx context.Context, r services.IdempotentRequest) error {
	const op = "sqlite.CompleteIdempotency"
	res, err := s.execW(ctx, `UPDATE idempotency SET done = 1, status = ?, location = ?, etag = ?, body = ?
		WHERE id = ? AND created_at = ?`, r.Status, r.Location, r.ETag, r.Body, r.ID, msOf(r.CreatedAt))
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return wrap(op, errors.Join(err, sql.ErrNoRows))
	}
	return nil
}

// ReleaseIdempotency deletes an unfinished claim made at claimedAt.
func (s *Store) ReleaseIdempotency(ctx context.Context, id string, claimedAt time.Time) error {
	_, err := s.execW(ctx, `DELETE FROM idempotency WHERE id = ? AND done = 0 AND created_at = ?`, id, msOf(claimedAt))
	return wrap("sqlite.ReleaseIdempotency", err)
}

// DeleteIdempotency removes requests that expired before before.
func (s *Store) DeleteIdempotency(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.execW(ctx, `DELETE FROM idempotency WHERE expires_at < ?`, msOf(before))
	if err != nil {
		return 0, wrap("sqlite.DeleteIdempotency", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("sqlite.DeleteIdempotency", err)
}
