package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/huizong/huizong/services"
)

// CreateKey inserts a signing key; ErrConflict if its id exists.
func (s *Store) CreateKey(ctx context.Context, k services.SigningKey) error {
	_, err := s.execW(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at, retired_at)
		VALUES (?, ?, ?, ?, ?)`, k.ID, k.Algorithm, k.PrivateKey, msOf(k.CreatedAt), msOf(k.RetiredAt))
	return wrap("sqlite.CreateKey", err)
}

// Keys lists every key, newest first.
func (s *Store) Keys(ctx context.Context) ([]services.SigningKey, error) {
	const op = "sqlite.Keys"
	rows, err := s.query(ctx, `SELECT id, algorithm, private_key, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var keys []services.SigningKey
	for rows.Next() {
		var (
			k                services.SigningKey
			created, retired sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &retired); err != nil {
			return nil, wrap(op, err)
		}
		k.CreatedAt, k.RetiredAt = timeOf(created), timeOf(retired)
		keys = append(keys, k)
	}
	return keys, wrap(op, rows.Err())
}

// RetireKey marks the key id retired at at; ErrNotFound if there is none.
func (s *Store) RetireKey(ctx context.Context, id string, at time.Time) error {
	const op = "sqlite.RetireKey"
	res, err := s.execW(ctx, `UPDATE signing_keys SET retired_at = ? WHERE id = ?`, msOf(at), id)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	return nil
}
