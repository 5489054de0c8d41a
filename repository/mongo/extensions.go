package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// extRefDoc is a record's pinned extension version.
type extRefDoc struct {
	Owner   string `bson:"owner"`
	Version int64  `bson:"version"`
}

// extensionDoc is one version of a template extension. The collection
// template_extensions holds the current one of each (template, owner)
// under _id template/owner; extension_versions every version under
// template/owner/version. A save writes the version first (idempotent),
// then moves the current one by compare-and-set on its version.
type extensionDoc struct {
	ID        string                       `bson:"_id"`
	Template  string                       `bson:"template"`
	OwnerID   string                       `bson:"owner_id"`
	Path      []string                     `bson:"path"`
	Options   map[string][]services.Option `bson:"options"`
	Fields    []fieldDoc                   `bson:"fields"`
	Summary   string                       `bson:"summary,omitempty"`
	Version   int64                        `bson:"version"`
	UpdatedBy string                       `bson:"updated_by"`
	UpdatedAt int64                        `bson:"updated_at"`
}

func extensionKey(template, owner string) string { return template + "/" + owner }

func fromExtension(e services.TemplateExtension) extensionDoc {
	d := extensionDoc{ID: extensionKey(e.Template, e.OwnerID), Template: e.Template, OwnerID: e.OwnerID, Path: e.OwnerPath,
		Options: e.Options, Summary: e.Summary.ZH, Version: e.Version, UpdatedBy: e.UpdatedBy, UpdatedAt: ms(e.UpdatedAt), Fields: []fieldDoc{}}
	if d.Options == nil {
		d.Options = map[string][]services.Option{}
	}
	d.Fields = append(d.Fields, fromTemplate(services.Template{Fields: e.Fields}).Fields...)
	return d
}

func toExtension(d extensionDoc) services.TemplateExtension {
	e := services.TemplateExtension{Template: d.Template, OwnerID: d.OwnerID, OwnerPath: d.Path, Options: d.Options,
		Summary: services.TemplateSummary{ZH: d.Summary}, Version: d.Version, UpdatedBy: d.UpdatedBy, UpdatedAt: timeOf(d.UpdatedAt)}
	e.Fields = toTemplate(templateDoc{Fields: d.Fields}).Fields
	if len(e.Options) == 0 {
		e.Options = nil
	}
	return e
}

// SaveExtension stores e as version e.Version.
func (s *Store) SaveExtension(ctx context.Context, e services.TemplateExtension) error {
	const op = "mongo.SaveExtension"
	d := fromExtension(e)
	v := d
	v.ID = fmt.Sprintf("%s/%d", d.ID, d.Version)
	if _, err := s.extensionVersions.ReplaceOne(ctx, bson.D{{Key: "_id", Value: v.ID}}, v,
		options.Replace().SetUpsert(true)); err != nil && !isDuplicate(err) {
		return wrap(op, err)
	}
	if e.Version == 1 {
		_, err := s.extensions.InsertOne(ctx, d)
		return wrap(op, err)
	}
	res, err := s.extensions.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "version", Value: e.Version - 1}}, d)
	if err != nil {
		return wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("%s: %w", op, services.ErrStale)
	}
	return nil
}

// Extensions returns the current extensions of key owned by owners.
func (s *Store) Extensions(ctx context.Context, key string, owners []string) ([]services.TemplateExtension, error) {
	if len(owners) == 0 {
		return nil, nil
	}
	ids := make(bson.A, len(owners))
	for i, o := range owners {
		ids[i] = extensionKey(key, o)
	}
	docs, err := findAll[extensionDoc](ctx, s.extensions, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetLimit(int64(len(owners))))
	if err != nil {
		return nil, wrap("mongo.Extensions", err)
	}
	out := make([]services.TemplateExtension, len(docs))
	for i, d := range docs {
		out[i] = toExtension(d)
	}
	return out, nil
}

// ExtensionVersion returns one stored version.
func (s *Store) ExtensionVersion(ctx context.Context, key, owner string, version int64) (services.TemplateExtension, error) {
	const op = "mongo.ExtensionVersion"
	var d extensionDoc
	err := s.extensionVersions.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%s/%d", extensionKey(key, owner), version)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return services.TemplateExtension{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	if err != nil {
		return services.TemplateExtension{}, wrap(op, err)
	}
	return toExtension(d), nil
}
