package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// optionDoc is one enum value as stored.
type optionDoc struct {
	Value   string `bson:"value"`
	Label   string `bson:"label"`
	LabelEN string `bson:"label_en"`
}

// fieldDoc is one template field as stored.
type fieldDoc struct {
	Key         string      `bson:"key"`
	Label       string      `bson:"label"`
	LabelEN     string      `bson:"label_en"`
	Type        string      `bson:"type"`
	Required    bool        `bson:"required"`
	Unit        string      `bson:"unit"`
	Min         *float64    `bson:"min,omitempty"`
	Max         *float64    `bson:"max,omitempty"`
	MaxLength   int         `bson:"max_length"`
	Options     []optionDoc `bson:"options"`
	Role        string      `bson:"role"`
	Default     *float64    `bson:"default,omitempty"`
	Check       string      `bson:"check"`
	Per         string      `bson:"per,omitempty"`
	Aggregation string      `bson:"aggregation,omitempty"`
}

// templateDoc is one version of a template: the current one in
// "templates" (_id = key), every one in "template_versions" (_id =
// key@version). Path is the owner's path, named like every scoped path.
type templateDoc struct {
	ID        string     `bson:"_id"`
	Key       string     `bson:"key"`
	OwnerID   string     `bson:"owner_id"`
	Path      []string   `bson:"path"`
	Name      string     `bson:"name"`
	NameEN    string     `bson:"name_en"`
	Category  string     `bson:"category"`
	Levels    []string   `bson:"levels"`
	Active    bool       `bson:"active"`
	Builtin   bool       `bson:"builtin"`
	Summary   string     `bson:"summary,omitempty"`
	Fields    []fieldDoc `bson:"fields"`
	Version   int64      `bson:"version"`
	CreatedBy string     `bson:"created_by"`
	UpdatedBy string     `bson:"updated_by"`
	CreatedAt int64      `bson:"created_at"`
	UpdatedAt int64      `bson:"updated_at"`
}

func versionID(key string, v int64) string { return key + "@" + strconv.FormatInt(v, 10) }

func fromTemplate(t services.Template) templateDoc {
	d := templateDoc{ID: t.Key, Key: t.Key, OwnerID: t.OwnerID, Path: t.OwnerPath, Name: t.Name, NameEN: t.NameEN,
		Category: t.Category, Active: t.Active, Builtin: t.Builtin, Version: t.Version, CreatedBy: t.CreatedBy,
		UpdatedBy: t.UpdatedBy, CreatedAt: ms(t.CreatedAt), UpdatedAt: ms(t.UpdatedAt)}
	for _, l := range t.Levels {
		d.Levels = append(d.Levels, string(l))
	}
	d.Summary = t.Summary.ZH
	for _, f := range t.Fields {
		fd := fieldDoc{Key: f.Key, Label: f.Label, LabelEN: f.LabelEN, Type: string(f.Type), Required: f.Required,
			Unit: f.Unit, Min: f.Min, Max: f.Max, MaxLength: f.MaxLength, Role: string(f.Role), Default: f.Default, Check: f.Check, Per: f.Per, Aggregation: f.Aggregation}
		for _, o := range f.Options {
			fd.Options = append(fd.Options, optionDoc(o))
		}
		d.Fields = append(d.Fields, fd)
	}
	return d
}

func toTemplate(d templateDoc) services.Template {
	t := services.Template{Key: d.Key, OwnerID: d.OwnerID, OwnerPath: d.Path, Name: d.Name, NameEN: d.NameEN,
		Category: d.Category, Active: d.Active, Builtin: d.Builtin, Version: d.Version, CreatedBy: d.CreatedBy,
		UpdatedBy: d.UpdatedBy, CreatedAt: timeOf(d.CreatedAt), UpdatedAt: timeOf(d.UpdatedAt)}
	for _, l := range d.Levels {
		t.Levels = append(t.Levels, services.OrgKind(l))
	}
	t.Summary.ZH = d.Summary
	for _, fd := range d.Fields {
		f := services.TemplateField{Key: fd.Key, Label: fd.Label, LabelEN: fd.LabelEN, Type: services.FieldType(fd.Type),
			Required: fd.Required, Unit: fd.Unit, Min: fd.Min, Max: fd.Max, MaxLength: fd.MaxLength,
			Role: services.FieldRole(fd.Role), Default: fd.Default, Check: fd.Check, Per: fd.Per, Aggregation: fd.Aggregation}
		for _, o := range fd.Options {
			f.Options = append(f.Options, services.Option(o))
		}
		t.Fields = append(t.Fields, f)
	}
	return t
}

// viewFilter matches the templates v may see: built in, owned by a unit
// on v.Path, or owned inside v.Scope.
func viewFilter(v services.TemplateView) bson.D {
	if v.Scope.All {
		return bson.D{}
	}
	owners := append([]string{""}, v.Path...)
	or := bson.A{bson.D{{Key: "owner_id", Value: bson.D{{Key: "$in", Value: owners}}}}}
	if v.Scope.OrgID != "" {
		or = append(or, bson.D{{Key: "path", Value: v.Scope.OrgID}})
	}
	return bson.D{{Key: "$or", Value: or}}
}

// saveVersion stores d as a version; writing the same version twice is
// harmless (the content is the same).
func (s *Store) saveVersion(ctx context.Context, d templateDoc) error {
	d.ID = versionID(d.Key, d.Version)
	_, err := s.templateVersions.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	if isDuplicate(err) {
		// Two writers upserted the same version at once: one won.
		return nil
	}
	return err
}

// CreateTemplate inserts t and its first version.
func (s *Store) CreateTemplate(ctx context.Context, t services.Template) error {
	const op = "mongo.CreateTemplate"
	d := fromTemplate(t)
	if _, err := s.templates.InsertOne(ctx, d); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.saveVersion(ctx, d))
}

// Template returns the current version of key if v may see it.
func (s *Store) Template(ctx context.Context, v services.TemplateView, key string) (services.Template, error) {
	const op = "mongo.Template"
	f := append(bson.D{{Key: "_id", Value: key}}, viewFilter(v)...)
	var d templateDoc
	if err := s.templates.FindOne(ctx, f).Decode(&d); err != nil {
		return services.Template{}, wrap(op, err)
	}
	return toTemplate(d), nil
}

// TemplateVersion returns one stored version of key. A version whose copy
// a crash kept from being written is still the current one.
func (s *Store) TemplateVersion(ctx context.Context, key string, version int64) (services.Template, error) {
	const op = "mongo.TemplateVersion"
	var d templateDoc
	err := s.templateVersions.FindOne(ctx, bson.D{{Key: "_id", Value: versionID(key, version)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		err = s.templates.FindOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "version", Value: version}}).Decode(&d)
	}
	if err != nil {
		return services.Template{}, wrap(op, err)
	}
	return toTemplate(d), nil
}

// Templates lists the current versions v may see, in key order.
func (s *Store) Templates(ctx context.Context, v services.TemplateView, q services.TemplateQuery) ([]services.Template, error) {
	const op = "mongo.Templates"
	f := viewFilter(v)
	if q.Category != "" {
		f = append(f, bson.E{Key: "category", Value: q.Category})
	}
	if q.Active != nil {
		f = append(f, bson.E{Key: "active", Value: *q.Active})
	}
	docs, err := findPage[templateDoc](ctx, s.templates, f, q.Page)
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]services.Template, len(docs))
	for i, d := range docs {
		out[i] = toTemplate(d)
	}
	return out, nil
}

// UpdateTemplate stores t as the next version if the current one is still
// t.Version. The version being replaced is copied first (a crash may have
// kept it from being copied when it was made), then the current document
// is swapped by compare-and-set, then the new version is copied.
func (s *Store) UpdateTemplate(ctx context.Context, v services.TemplateView, t services.Template) (services.Template, error) {
	const op = "mongo.UpdateTemplate"
	f := append(bson.D{{Key: "_id", Value: t.Key}}, viewFilter(v)...)
	var cur templateDoc
	if err := s.templates.FindOne(ctx, f).Decode(&cur); err != nil {
		return services.Template{}, wrap(op, err)
	}
	if cur.Version != t.Version {
		return services.Template{}, fmt.Errorf("%s: %w", op, services.ErrStale)
	}
	if err := s.saveVersion(ctx, cur); err != nil {
		return services.Template{}, wrap(op, err)
	}
	next := fromTemplate(t)
	next.OwnerID, next.Path, next.Builtin, next.CreatedBy, next.CreatedAt = cur.OwnerID, cur.Path, cur.Builtin, cur.CreatedBy, cur.CreatedAt
	next.Version = cur.Version + 1
	res, err := s.templates.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.Key}, {Key: "version", Value: cur.Version}}, next)
	if err != nil {
		return services.Template{}, wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return services.Template{}, fmt.Errorf("%s: %w", op, services.ErrStale)
	}
	if err := s.saveVersion(ctx, next); err != nil {
		return services.Template{}, wrap(op, err)
	}
	return toTemplate(next), nil
}
