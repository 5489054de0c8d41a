package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// indicatorDoc is a stored indicator; owner_id and path make it visible
// like a template (viewFilter).
type indicatorDoc struct {
	Key         string   `bson:"_id"`
	Name        string   `bson:"name"`
	NameEN      string   `bson:"name_en"`
	Description string   `bson:"description"`
	OwnerID     string   `bson:"owner_id"`
	Path        []string `bson:"path"`
	Numerator   []string `bson:"numerator"`
	Denominator []string `bson:"denominator"`
	Factor      float64  `bson:"factor"`
	Unit        string   `bson:"unit"`
	Decimals    int      `bson:"decimals"`
	Builtin     bool     `bson:"builtin"`
	Version     int64    `bson:"version"`
	CreatedBy   string   `bson:"created_by"`
	CreatedAt   int64    `bson:"created_at"`
	UpdatedAt   int64    `bson:"updated_at"`
}

// CreateIndicator inserts ind; ErrConflict if its key is taken.
func (s *Store) CreateIndicator(ctx context.Context, ind services.Indicator) error {
	path := ind.OwnerPath
	if path == nil {
		path = []string{}
	}
	_, err := s.indicators.InsertOne(ctx, indicatorDoc{Key: ind.Key, Name: ind.Name, NameEN: ind.NameEN,
		Description: ind.Description, OwnerID: ind.OwnerID, Path: path, Numerator: ind.Numerator,
		Denominator: ind.Denominator, Factor: ind.Factor, Unit: ind.Unit, Decimals: ind.Decimals, Builtin: ind.Builtin,
		Version: ind.Version, CreatedBy: ind.CreatedBy, CreatedAt: ms(ind.CreatedAt), UpdatedAt: ms(ind.UpdatedAt)})
	return wrap("mongo.CreateIndicator", err)
}

func toIndicator(d indicatorDoc) services.Indicator {
	return services.Indicator{Key: d.Key, Name: d.Name, NameEN: d.NameEN, Description: d.Description, OwnerID: d.OwnerID,
		OwnerPath: d.Path, Numerator: d.Numerator, Denominator: d.Denominator, Factor: d.Factor, Unit: d.Unit,
		Decimals: d.Decimals, Builtin: d.Builtin, Version: d.Version, CreatedBy: d.CreatedBy,
		CreatedAt: timeOf(d.CreatedAt), UpdatedAt: timeOf(d.UpdatedAt)}
}

// Indicator returns key if v may see it.
func (s *Store) Indicator(ctx context.Context, v services.TemplateView, key string) (services.Indicator, error) {
	var d indicatorDoc
	if err := s.indicators.FindOne(ctx, append(bson.D{{Key: "_id", Value: key}}, viewFilter(v)...)).Decode(&d); err != nil {
		return services.Indicator{}, wrap("mongo.Indicator", err)
	}
	return toIndicator(d), nil
}

// Indicators lists the indicators v may see, in key order.
func (s *Store) Indicators(ctx context.Context, v services.TemplateView, p services.Page) ([]services.Indicator, error) {
	p = p.Normalize()
	f := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: p.After}}}}, viewFilter(v)...)
	docs, err := findAll[indicatorDoc](ctx, s.indicators, f,
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(p.Limit)))
	if err != nil {
		return nil, wrap("mongo.Indicators", err)
	}
	out := make([]services.Indicator, len(docs))
	for i, d := range docs {
		out[i] = toIndicator(d)
	}
	return out, nil
}
