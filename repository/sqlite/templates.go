package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/huizong/huizong/services"
)

// templateDoc is a template version as stored in the definition column.
// It has its own JSON names so renaming a Go field never breaks stored
// versions.
type templateDoc struct {
	Key       string     `json:"key"`
	OwnerID   string     `json:"owner_id,omitempty"`
	OwnerPath []string   `json:"owner_path,omitempty"`
	Name      string     `json:"name"`
	NameEN    string     `json:"name_en,omitempty"`
	Category  string     `json:"category,omitempty"`
	Levels    []string   `json:"levels,omitempty"`
	Active    bool       `json:"active"`
	Builtin   bool       `json:"builtin,omitempty"`
	Summary   string     `json:"summary,omitempty"`
	Fields    []fieldDoc `json:"fields"`
	Version   int64      `json:"version"`
	CreatedBy string     `json:"created_by,omitempty"`
	UpdatedBy string     `json:"updated_by,omitempty"`
	CreatedAt int64      `json:"created_at,omitempty"` // unix ms, 0 for the zero time
	UpdatedAt int64      `json:"updated_at,omitempty"`
}

// fieldDoc is a stored TemplateField.
type fieldDoc struct {
	Key         string      `json:"key"`
	Label       string      `json:"label"`
	LabelEN     string      `json:"label_en,omitempty"`
	Type        string      `json:"type"`
	Required    bool        `json:"required,omitempty"`
	Unit        string      `json:"unit,omitempty"`
	Min         *float64    `json:"min,omitempty"`
	Max         *float64    `json:"max,omitempty"`
	MaxLength   int         `json:"max_length,omitempty"`
	Options     []optionDoc `json:"options,omitempty"`
	Role        string      `json:"role,omitempty"`
	Default     *float64    `json:"default,omitempty"`
	Check       string      `json:"check,omitempty"`
	Per         string      `json:"per,omitempty"`
	Aggregation string      `json:"aggregation,omitempty"`
}

// optionDoc is a stored Option.
type optionDoc struct {
	Value   string `json:"value"`
	Label   string `json:"label"`
	LabelEN string `json:"label_en,omitempty"`
}

// unixMs is t in unix milliseconds, 0 for the zero time: the form of times
// inside JSON documents and of columns that are never NULL.
func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// timeOfMs undoes unixMs.
func timeOfMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func fromTemplate(t services.Template) templateDoc {
	d := templateDoc{Key: t.Key, OwnerID: t.OwnerID, OwnerPath: t.OwnerPath, Name: t.Name, NameEN: t.NameEN,
		Category: t.Category, Active: t.Active, Builtin: t.Builtin, Version: t.Version,
		CreatedBy: t.CreatedBy, UpdatedBy: t.UpdatedBy, CreatedAt: unixMs(t.CreatedAt), UpdatedAt: unixMs(t.UpdatedAt)}
	for _, l := range t.Levels {
		d.Levels = append(d.Levels, string(l))
	}
	d.Summary = t.Summary.ZH
	d.Fields = make([]fieldDoc, len(t.Fields))
	for i, f := range t.Fields {
		fd := fieldDoc{Key: f.Key, Label: f.Label, LabelEN: f.LabelEN, Type: string(f.Type), Required: f.Required,
			Unit: f.Unit, Min: f.Min, Max: f.Max, MaxLength: f.MaxLength, Role: string(f.Role), Default: f.Default,
			Check: f.Check, Per: f.Per, Aggregation: f.Aggregation}
		for _, o := range f.Options {
			fd.Options = append(fd.Options, optionDoc(o))
		}
		d.Fields[i] = fd
	}
	return d
}

func toTemplate(d templateDoc) services.Template {
	t := services.Template{Key: d.Key, OwnerID: d.OwnerID, OwnerPath: d.OwnerPath, Name: d.Name, NameEN: d.NameEN,
		Category: d.Category, Active: d.Active, Builtin: d.Builtin, Version: d.Version,
		CreatedBy: d.CreatedBy, UpdatedBy: d.UpdatedBy, CreatedAt: timeOfMs(d.CreatedAt), UpdatedAt: timeOfMs(d.UpdatedAt)}
	for _, l := range d.Levels {
		t.Levels = append(t.Levels, services.OrgKind(l))
	}
	t.Summary.ZH = d.Summary
	for _, f := range d.Fields {
		tf := services.TemplateField{Key: f.Key, Label: f.Label, LabelEN: f.LabelEN, Type: services.FieldType(f.Type),
			Required: f.Required, Unit: f.Unit, Min: f.Min, Max: f.Max, MaxLength: f.MaxLength,
			Role: services.FieldRole(f.Role), Default: f.Default, Check: f.Check, Per: f.Per, Aggregation: f.Aggregation}
		for _, o := range f.Options {
			tf.Options = append(tf.Options, services.Option(o))
		}
		t.Fields = append(t.Fields, tf)
	}
	return t
}

func encodeTemplate(t services.Template) (string, error) {
	b, err := json.Marshal(fromTemplate(t))
	if err != nil {
		return "", fmt.Errorf("encode template %s: %w", t.Key, err)
	}
	return string(b), nil
}

func decodeTemplate(s string) (services.Template, error) {
	var d templateDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return services.Template{}, fmt.Errorf("decode template: %w", err)
	}
	return toTemplate(d), nil
}

// templateVisible restricts a query on "templates t" to what v may see:
// built-in templates, those owned by a unit on v.Path and those whose
// owner path passes through v.Scope. Templates are few, so the path test
// runs per row.
func templateVisible(v services.TemplateView) (string, []any) {
	if v.Scope.All {
		return "", nil
	}
	cond := ` AND (t.owner_id = '' OR t.owner_id IN (SELECT value FROM json_each(?))`
	args := []any{toJSON(v.Path)}
	if v.Scope.OrgID != "" {
		cond += ` OR EXISTS (SELECT 1 FROM json_each(t.owner_path) WHERE value = ?)`
		args = append(args, v.Scope.OrgID)
	}
	return cond + `)`, args
}

// CreateTemplate inserts t as its current version and as version t.Version.
func (s *Store) CreateTemplate(ctx context.Context, t services.Template) error {
	const op = "sqlite.CreateTemplate"
	def, err := encodeTemplate(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO templates (key, owner_id, owner_path, builtin, active, category,
			version, definition) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Key, t.OwnerID, toJSON(t.OwnerPath), t.Builtin, t.Active, t.Category, t.Version, def); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO template_versions (key, version, definition) VALUES (?, ?, ?)`,
			t.Key, t.Version, def)
		return err
	})
	return wrap(op, err)
}

// Template returns the current version of key if v may see it.
func (s *Store) Template(ctx context.Context, v services.TemplateView, key string) (services.Template, error) {
	const op = "sqlite.Template"
	cond, args := templateVisible(v)
	var version int64
	var def string
	if err := s.queryRow(ctx, `SELECT t.version, t.definition FROM templates t WHERE t.key = ?`+cond,
		append([]any{key}, args...)...).Scan(&version, &def); err != nil {
		return services.Template{}, wrap(op, err)
	}
	t, err := s.versions.decode(key, version, def)
	return t, wrap(op, err)
}

// TemplateVersion returns one stored version of key, unscoped.
func (s *Store) TemplateVersion(ctx context.Context, key string, version int64) (services.Template, error) {
	const op = "sqlite.TemplateVersion"
	if t, ok := s.versions.get(key, version); ok {
		return t, nil
	}
	var def string
	if err := s.queryRow(ctx, `SELECT definition FROM template_versions WHERE key = ? AND version = ?`,
		key, version).Scan(&def); err != nil {
		return services.Template{}, wrap(op, err)
	}
	t, err := s.versions.decode(key, version, def)
	return t, wrap(op, err)
}

// templateCache holds decoded template versions. Versions are immutable,
// so entries never go stale; the cache is cleared when it reaches its
// bound. Callers must not modify what it returns.
type templateCache struct {
	mu sync.RWMutex
	m  map[string]services.Template
}

const maxCachedVersions = 1000

func cacheKey(key string, version int64) string { return key + "@" + strconv.FormatInt(version, 10) }

func (c *templateCache) get(key string, version int64) (services.Template, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.m[cacheKey(key, version)]
	return t, ok
}

// decode returns version of key, decoding def unless it is cached.
func (c *templateCache) decode(key string, version int64, def string) (services.Template, error) {
	if t, ok := c.get(key, version); ok {
		return t, nil
	}
	t, err := decodeTemplate(def)
	if err != nil || t.Key != key || t.Version != version {
		return t, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedVersions {
		c.m = make(map[string]services.Template)
	}
	c.m[cacheKey(key, version)] = t
	return t, nil
}

// Templates lists the current versions v may see, in key order.
func (s *Store) Templates(ctx context.Context, v services.TemplateView, q services.TemplateQuery) ([]services.Template, error) {
	const op = "sqlite.Templates"
	p := q.Page.Normalize()
	cond, args := templateVisible(v)
	var b strings.Builder
	b.WriteString(`SELECT t.key, t.version, t.definition FROM templates t WHERE t.key > ?` + cond)
	args = append([]any{p.After}, args...)
	if q.Category != "" {
		b.WriteString(` AND t.category = ?`)
		args = append(args, q.Category)
	}
	if q.Active != nil {
		b.WriteString(` AND t.active = ?`)
		args = append(args, *q.Active)
	}
	b.WriteString(` ORDER BY t.key LIMIT ?`)
	args = append(args, p.Limit)
	rows, err := s.query(ctx, b.String(), args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []services.Template
	for rows.Next() {
		var (
			key, def string
			version  int64
		)
		if err := rows.Scan(&key, &version, &def); err != nil {
			return nil, wrap(op, err)
		}
		t, err := s.versions.decode(key, version, def)
		if err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, t)
	}
	return list, wrap(op, rows.Err())
}

// UpdateTemplate stores t as version t.Version+1 if v may see it and it is
// still at t.Version. Identity and provenance come from the stored
// version, whatever t says.
func (s *Store) UpdateTemplate(ctx context.Context, v services.TemplateView, t services.Template) (services.Template, error) {
	const op = "sqlite.UpdateTemplate"
	cond, args := templateVisible(v)
	var next string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var def string
		if err := tx.QueryRowContext(ctx, `SELECT t.definition FROM templates t WHERE t.key = ?`+cond,
			append([]any{t.Key}, args...)...).Scan(&def); err != nil {
			return err
		}
		cur, err := decodeTemplate(def)
		if err != nil {
			return err
		}
		if cur.Version != t.Version {
			return services.ErrStale
		}
		out := cur
		out.Name, out.NameEN, out.Category, out.Levels, out.Active = t.Name, t.NameEN, t.Category, t.Levels, t.Active
		out.Fields, out.Summary, out.UpdatedBy, out.UpdatedAt = t.Fields, t.Summary, t.UpdatedBy, t.UpdatedAt
		out.Version = cur.Version + 1
		next, err = encodeTemplate(out)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE templates SET active = ?, category = ?, version = ?, definition = ?
			WHERE key = ?`, out.Active, out.Category, out.Version, next, out.Key); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO template_versions (key, version, definition) VALUES (?, ?, ?)`,
			out.Key, out.Version, next)
		return err
	})
	if err != nil {
		return services.Template{}, wrap(op, err)
	}
	// Read back through the same encoding, so the caller gets exactly what
	// a later read returns (times at millisecond precision, in UTC).
	stored, err := decodeTemplate(next)
	return stored, wrap(op, err)
}
