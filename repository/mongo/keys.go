package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// keyDoc is a token signing key as stored.
type keyDoc struct {
	ID         string `bson:"_id"`
	Algorithm  string `bson:"algorithm"`
	PrivateKey []byte `bson:"private_key"`
	CreatedAt  int64  `bson:"created_at"`
	RetiredAt  int64  `bson:"retired_at"`
}

// CreateKey inserts a signing key; ErrConflict if its id exists.
func (s *Store) CreateKey(ctx context.Context, k services.SigningKey) error {
	_, err := s.keys.InsertOne(ctx, keyDoc{ID: k.ID, Algorithm: k.Algorithm, PrivateKey: k.PrivateKey,
		CreatedAt: ms(k.CreatedAt), RetiredAt: ms(k.RetiredAt)})
	return wrap("mongo.CreateKey", err)
}

// maxKeys bounds the key set read; rotation retires old keys long before.
const maxKeys = 1000

// Keys lists every key, newest first.
func (s *Store) Keys(ctx context.Context) ([]services.SigningKey, error) {
	const op = "mongo.Keys"
	docs, err := findAll[keyDoc](ctx, s.keys, bson.D{},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(maxKeys))
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]services.SigningKey, len(docs))
	for i, d := range docs {
		out[i] = services.SigningKey{ID: d.ID, Algorithm: d.Algorithm, PrivateKey: d.PrivateKey,
			CreatedAt: timeOf(d.CreatedAt), RetiredAt: timeOf(d.RetiredAt)}
	}
	return out, nil
}

// RetireKey marks a key retired at at; ErrNotFound if there is none.
func (s *Store) RetireKey(ctx context.Context, id string, at time.Time) error {
	const op = "mongo.RetireKey"
	res, err := s.keys.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "retired_at", Value: ms(at)}}}})
	if err != nil {
		return wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	return nil
}
