package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/huizong/huizong/services"
)

// indicatorDoc is a stored services.Indicator (the definition column).
type indicatorDoc struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	NameEN      string   `json:"name_en,omitempty"`
	Description string   `json:"description,omitempty"`
	OwnerID     string   `json:"owner_id,omitempty"`
	OwnerPath   []string `json:"owner_path,omitempty"`
	Numerator   []string `json:"numerator"`
	Denominator []string `json:"denominator"`
	Factor      float64  `json:"factor"`
	Unit        string   `json:"unit,omitempty"`
	Decimals    int      `json:"decimals"`
	Builtin     bool     `json:"builtin,omitempty"`
	Version     int64    `json:"version"`
	CreatedBy   string   `json:"created_by,omitempty"`
	CreatedAt   int64    `json:"created_at"`
	UpdatedAt   int64    `json:"updated_at"`
}

// CreateIndicator inserts ind; ErrConflict if its key is taken.
func (s *Store) CreateIndicator(ctx context.Context, ind services.Indicator) error {
	const op = "sqlite.CreateIndicator"
	def, err := json.Marshal(indicatorDoc{Key: ind.Key, Name: ind.Name, NameEN: ind.NameEN, Description: ind.Description,
		OwnerID: ind.OwnerID, OwnerPath: ind.OwnerPath, Numerator: ind.Numerator, Denominator: ind.Denominator,
		Factor: ind.Factor, Unit: ind.Unit, Decimals: ind.Decimals, Builtin: ind.Builtin, Version: ind.Version,
		CreatedBy: ind.CreatedBy, CreatedAt: unixMs(ind.CreatedAt), UpdatedAt: unixMs(ind.UpdatedAt)})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO indicators (key, owner_id, owner_path, builtin, definition) VALUES (?, ?, ?, ?, ?)`,
			ind.Key, ind.OwnerID, toJSON(ind.OwnerPath), ind.Builtin, string(def))
		return err
	})
	return wrap(op, err)
}

// Indicator returns key if v may see it.
func (s *Store) Indicator(ctx context.Context, v services.TemplateView, key string) (services.Indicator, error) {
	const op = "sqlite.Indicator"
	cond, args := templateVisible(v)
	var def string
	if err := s.queryRow(ctx, `SELECT t.definition FROM indicators t WHERE t.key = ?`+cond,
		append([]any{key}, args...)...).Scan(&def); err != nil {
		return services.Indicator{}, wrap(op, err)
	}
	ind, err := decodeIndicator(def)
	if err != nil {
		return services.Indicator{}, fmt.Errorf("%s: %w", op, err)
	}
	return ind, nil
}

// Indicators lists the indicators v may see, in key order.
func (s *Store) Indicators(ctx context.Context, v services.TemplateView, p services.Page) ([]services.Indicator, error) {
	const op = "sqlite.Indicators"
	p = p.Normalize()
	cond, args := templateVisible(v)
	rows, err := s.query(ctx, `SELECT t.definition FROM indicators t WHERE t.key > ?`+cond+` ORDER BY t.key LIMIT ?`,
		append(append([]any{p.After}, args...), p.Limit)...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []services.Indicator
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			return nil, wrap(op, err)
		}
		ind, err := decodeIndicator(def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, ind)
	}
	return out, wrap(op, rows.Err())
}

func decodeIndicator(def string) (services.Indicator, error) {
	var d indicatorDoc
	if err := json.Unmarshal([]byte(def), &d); err != nil {
		return services.Indicator{}, err
	}
	return services.Indicator{Key: d.Key, Name: d.Name, NameEN: d.NameEN, Description: d.Description, OwnerID: d.OwnerID,
		OwnerPath: d.OwnerPath, Numerator: d.Numerator, Denominator: d.Denominator, Factor: d.Factor, Unit: d.Unit,
		Decimals: d.Decimals, Builtin: d.Builtin, Version: d.Version, CreatedBy: d.CreatedBy,
		CreatedAt: timeOfMs(d.CreatedAt), UpdatedAt: timeOfMs(d.UpdatedAt)}, nil
}
