package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/huizong/huizong/services"
)

// extensionDoc is a stored services.TemplateExtension (the definition).
type extensionDoc struct {
	OwnerPath []string               `json:"owner_path"`
	Options   map[string][]optionDoc `json:"options,omitempty"`
	Fields    []fieldDoc             `json:"fields,omitempty"`
	Summary   string                 `json:"summary,omitempty"`
	UpdatedBy string                 `json:"updated_by,omitempty"`
	UpdatedAt int64                  `json:"updated_at"`
}

// SaveExtension stores e as version e.Version and makes it current, if
// the current version is e.Version-1 (none for version 1).
func (s *Store) SaveExtension(ctx context.Context, e services.TemplateExtension) error {
	const op = "sqlite.SaveExtension"
	d := extensionDoc{OwnerPath: e.OwnerPath, Summary: e.Summary.ZH, UpdatedBy: e.UpdatedBy, UpdatedAt: unixMs(e.UpdatedAt),
		Fields: fromTemplate(services.Template{Fields: e.Fields}).Fields}
	if len(e.Options) > 0 {
		d.Options = map[string][]optionDoc{}
		for k, opts := range e.Options {
			for _, o := range opts {
				d.Options[k] = append(d.Options[k], optionDoc(o))
			}
		}
	}
	def, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var cur int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM template_extensions WHERE template = ? AND owner_id = ? AND current = 1`,
			e.Template, e.OwnerID).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		}
		if cur != e.Version-1 {
			return services.ErrStale
		}
		if _, err := tx.ExecContext(ctx, `UPDATE template_extensions SET current = 0 WHERE template = ? AND owner_id = ? AND current = 1`,
			e.Template, e.OwnerID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO template_extensions (template, owner_id, version, current, definition)
			VALUES (?, ?, ?, 1, ?)`, e.Template, e.OwnerID, e.Version, string(def))
		return err
	})
	return wrap(op, err)
}

// Extensions returns the current extensions of key owned by owners.
func (s *Store) Extensions(ctx context.Context, key string, owners []string) ([]services.TemplateExtension, error) {
	const op = "sqlite.Extensions"
	if len(owners) == 0 {
		return nil, nil
	}
	args := []any{key}
	for _, o := range owners {
		args = append(args, o)
	}
	rows, err := s.query(ctx, `SELECT owner_id, version, definition FROM template_extensions
		WHERE template = ? AND current = 1 AND owner_id IN (?`+strings.Repeat(`, ?`, len(owners)-1)+`)`, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []services.TemplateExtension
	for rows.Next() {
		var (
			owner, def string
			version    int64
		)
		if err := rows.Scan(&owner, &version, &def); err != nil {
			return nil, wrap(op, err)
		}
		e, err := decodeExtension(key, owner, version, def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, e)
	}
	return out, wrap(op, rows.Err())
}

// ExtensionVersion returns one stored version.
func (s *Store) ExtensionVersion(ctx context.Context, key, owner string, version int64) (services.TemplateExtension, error) {
	const op = "sqlite.ExtensionVersion"
	var def string
	if err := s.queryRow(ctx, `SELECT definition FROM template_extensions WHERE template = ? AND owner_id = ? AND version = ?`,
		key, owner, version).Scan(&def); err != nil {
		return services.TemplateExtension{}, wrap(op, err)
	}
	e, err := decodeExtension(key, owner, version, def)
	if err != nil {
		return services.TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	return e, nil
}

func decodeExtension(key, owner string, version int64, def string) (services.TemplateExtension, error) {
	var d extensionDoc
	if err := json.Unmarshal([]byte(def), &d); err != nil {
		return services.TemplateExtension{}, err
	}
	e := services.TemplateExtension{Template: key, OwnerID: owner, OwnerPath: d.OwnerPath, Version: version,
		Summary: services.TemplateSummary{ZH: d.Summary}, UpdatedBy: d.UpdatedBy, UpdatedAt: timeOfMs(d.UpdatedAt),
		Fields: toTemplate(templateDoc{Fields: d.Fields}).Fields}
	for k, opts := range d.Options {
		if e.Options == nil {
			e.Options = map[string][]services.Option{}
		}
		for _, o := range opts {
			e.Options[k] = append(e.Options[k], services.Option(o))
		}
	}
	return e, nil
}
