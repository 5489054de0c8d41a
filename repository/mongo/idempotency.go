package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/huizong/huizong/services"
)

// idemDoc is a claimed idempotency key as stored.
type idemDoc struct {
	ID          string `bson:"_id"`
	UserID      string `bson:"user_id"`
	RequestHash string `bson:"request_hash"`
	Done        bool   `bson:"done"`
	Status      int    `bson:"status"`
	Location    string `bson:"location"`
	ETag        string `bson:"etag"`
	Body        []byte `bson:"body"`
	CreatedAt   int64  `bson:"created_at"`
	ExpiresAt   int64  `bson:"expires_at"`
}

func toIdem(d idemDoc) services.IdempotentRequest {
	return services.IdempotentRequest{ID: d.ID, UserID: d.UserID, RequestHash: d.RequestHash, Done: d.Done,
		Status: d.Status, Location: d.Location, ETag: d.ETag, Body: d.Body,
		CreatedAt: timeOf(d.CreatedAt), ExpiresAt: timeOf(d.ExpiresAt)}
}

// ClaimIdempotency inserts r unless its _id exists (the unique _id makes
// exactly one of concurrent claims win) and returns the stored one if so.
func (s *Store) ClaimIdempotency(ctx context.Context, r services.IdempotentRequest) (services.IdempotentRequest, bool, error) {
	const op = "mongo.ClaimIdempotency"
	for range 3 {
		_, err := s.idempotency.InsertOne(ctx, idemDoc{ID: r.ID, UserID: r.UserID, RequestHash: r.RequestHash,
			Status: r.Status, Location: r.Location, ETag: r.ETag, Body: r.Body, Done: r.Done,
			CreatedAt: ms(r.CreatedAt), ExpiresAt: ms(r.ExpiresAt)})
		if err == nil {
			return r, true, nil
		}
		if !isDuplicate(err) {
			return services.IdempotentRequest{}, false, wrap(op, err)
		}
		var d idemDoc
		err = s.idempotency.FindOne(ctx, bson.D{{Key: "_id", Value: r.ID}}).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // released between our insert and read: claim again
		}
		if err != nil {
			return services.IdempotentRequest{}, false, wrap(op, err)
		}
		return toIdem(d), false, nil
	}
	return services.IdempotentRequest{}, false, fmt.Errorf("%s: %w", op, services.ErrConflict)
}

// CompleteIdempotency stores the answer of a claimed request.
func (s *Store) CompleteIdempotency(ctx context.Context, r services.IdempotentRequest) error {
	const op = "mongo.CompleteIdempotency"
	res, err := s.idempotency.UpdateOne(ctx, bson.D{{Key: "_id", Value: r.ID}, {Key: "created_at", Value: ms(r.CreatedAt)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "done", Value: true}, {Key: "status", Value: r.Status},
			{Key: "location", Value: r.Location}, {Key: "etag", Value: r.ETag}, {Key: "body", Value: r.Body}}}})
	if err != nil {
		return wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	return nil
}

// ReleaseIdempotency deletes an unfinished claim made at claimedAt.
func (s *Store) ReleaseIdempotency(ctx context.Context, id string, claimedAt time.Time) error {
	_, err := s.idempotency.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "done", Value: false}, {Key: "created_at", Value: ms(claimedAt)}})
	return wrap("mongo.ReleaseIdempotency", err)
}

// DeleteIdempotency removes requests that expired before before.
func (s *Store) DeleteIdempotency(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.idempotency.DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: ms(before)}}}})
	if err != nil {
		return 0, wrap("mongo.DeleteIdempotency", err)
	}
	return res.DeletedCount, nil
}
