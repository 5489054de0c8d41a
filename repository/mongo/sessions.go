package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// sessionDoc is a device session as stored.
type sessionDoc struct {
	ID          string `bson:"_id"`
	UserID      string `bson:"user_id"`
	Device      string `bson:"device"`
	UserAgent   string `bson:"user_agent"`
	IP          string `bson:"ip"`
	CurrentHash string `bson:"current_hash"`
	PrevHash    string `bson:"prev_hash"`
	Generation  int64  `bson:"generation"`
	CreatedAt   int64  `bson:"created_at"`
	RotatedAt   int64  `bson:"rotated_at"`
	LastUsedAt  int64  `bson:"last_used_at"`
	ExpiresAt   int64  `bson:"expires_at"`
	RevokedAt   int64  `bson:"revoked_at"`
}

func fromSession(s services.Session) sessionDoc {
	return sessionDoc{
		ID: s.ID, UserID: s.UserID, Device: s.Device, UserAgent: s.UserAgent, IP: s.IP,
		CurrentHash: s.CurrentHash, PrevHash: s.PrevHash, Generation: s.Generation,
		CreatedAt: ms(s.CreatedAt), RotatedAt: ms(s.RotatedAt), LastUsedAt: ms(s.LastUsedAt),
		ExpiresAt: ms(s.ExpiresAt), RevokedAt: ms(s.RevokedAt),
	}
}

func toSession(d sessionDoc) services.Session {
	return services.Session{
		ID: d.ID, UserID: d.UserID, Device: d.Device, UserAgent: d.UserAgent, IP: d.IP,
		CurrentHash: d.CurrentHash, PrevHash: d.PrevHash, Generation: d.Generation,
		CreatedAt: timeOf(d.CreatedAt), RotatedAt: timeOf(d.RotatedAt), LastUsedAt: timeOf(d.LastUsedAt),
		ExpiresAt: timeOf(d.ExpiresAt), RevokedAt: timeOf(d.RevokedAt),
	}
}

// CreateSession inserts a session; ErrConflict if its id exists.
func (s *Store) CreateSession(ctx context.Context, ss services.Session) error {
	_, err := s.sessions.InsertOne(ctx, fromSession(ss))
	return wrap("mongo.CreateSession", err)
}

// Session returns one session by id.
func (s *Store) Session(ctx context.Context, id string) (services.Session, error) {
	var d sessionDoc
	if err := s.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return services.Session{}, wrap("mongo.Session", err)
	}
	return toSession(d), nil
}

// RotateSession applies r if the session is still at generation: one
// conditional update, so exactly one of concurrent rotations wins.
func (s *Store) RotateSession(ctx context.Context, id string, generation int64, r services.Rotation) error {
	const op = "mongo.RotateSession"
	res, err := s.sessions.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "generation", Value: generation}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "current_hash", Value: r.CurrentHash}, {Key: "prev_hash", Value: r.PrevHash},
			{Key: "generation", Value: r.Generation}, {Key: "rotated_at", Value: ms(r.RotatedAt)},
			{Key: "last_used_at", Value: ms(r.RotatedAt)}, {Key: "expires_at", Value: ms(r.ExpiresAt)}, {Key: "ip", Value: r.IP},
		}}})
	if err != nil {
		return wrap(op, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	return s.missOrStale(ctx, op, s.sessions, services.ScopeAll(), id)
}

// RevokeSession marks the user's session revoked; the first revocation
// time stays.
func (s *Store) RevokeSession(ctx context.Context, userID, id string, at time.Time) error {
	const op = "mongo.RevokeSession"
	own := bson.D{{Key: "_id", Value: id}, {Key: "user_id", Value: userID}}
	n, err := s.sessions.CountDocuments(ctx, own)
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	_, err = s.sessions.UpdateOne(ctx, append(own, bson.E{Key: "revoked_at", Value: int64(0)}),
		bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: ms(at)}}}})
	return wrap(op, err)
}

// RevokeUserSessions revokes every live session of the user but except.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) error {
	_, err := s.sessions.UpdateMany(ctx, bson.D{
		{Key: "user_id", Value: userID},
		{Key: "_id", Value: bson.D{{Key: "$ne", Value: except}}},
		{Key: "revoked_at", Value: int64(0)},
	}, bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: ms(at)}}}})
	return wrap("mongo.RevokeUserSessions", err)
}

// maxUserSessions bounds the device list.
const maxUserSessions = 100

// UserSessions lists the user's active sessions at now, newest first.
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]services.Session, error) {
	const op = "mongo.UserSessions"
	docs, err := findAll[sessionDoc](ctx, s.sessions, bson.D{
		{Key: "user_id", Value: userID},
		{Key: "revoked_at", Value: int64(0)},
		{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: ms(now)}}},
	}, options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(maxUserSessions))
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]services.Session, len(docs))
	for i, d := range docs {
		out[i] = toSession(d)
	}
	return out, nil
}

// DeleteSessions removes sessions that expired or were revoked before.
func (s *Store) DeleteSessions(ctx context.Context, before time.Time) (int64, error) {
	const op = "mongo.DeleteSessions"
	b := ms(before)
	var total int64
	for _, f := range []bson.D{
		{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: b}}}},
		{{Key: "revoked_at", Value: bson.D{{Key: "$gt", Value: int64(0)}, {Key: "$lt", Value: b}}}},
	} {
		res, err := s.sessions.DeleteMany(ctx, f)
		if err != nil {
			return total, wrap(op, err)
		}
		total += res.DeletedCount
	}
	return total, nil
}
