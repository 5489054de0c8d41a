package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// auditDoc is an audit event as stored; Path scopes it like every other
// document (an event of no unit has an empty path, so only ScopeAll
// reads it).
type auditDoc struct {
	ID          string   `bson:"_id"`
	At          int64    `bson:"at"`
	Kind        string   `bson:"kind"`
	ActorID     string   `bson:"actor_id"`
	ActorName   string   `bson:"actor_name"`
	Login       string   `bson:"login"`
	IP          string   `bson:"ip"`
	UserAgent   string   `bson:"user_agent"`
	SubjectType string   `bson:"subject_type"`
	SubjectID   string   `bson:"subject_id"`
	SubjectName string   `bson:"subject_name"`
	Path        []string `bson:"path"`
	Detail      string   `bson:"detail"`
}

// AppendAudit stores events with one insert; ErrConflict if an id exists
// (the events before it are stored).
func (s *Store) AppendAudit(ctx context.Context, events []services.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	docs := make([]auditDoc, len(events))
	for i, e := range events {
		path := e.OrgPath
		if path == nil {
			path = []string{}
		}
		docs[i] = auditDoc{ID: e.ID, At: ms(e.At), Kind: string(e.Kind), ActorID: e.ActorID,
			ActorName: e.ActorName, Login: e.Login, IP: e.IP, UserAgent: e.UserAgent, SubjectType: e.SubjectType,
			SubjectID: e.SubjectID, SubjectName: e.SubjectName, Path: path, Detail: e.Detail}
	}
	_, err := s.audit.InsertMany(ctx, docs)
	return wrap("mongo.AppendAudit", err)
}

// AuditEvents lists the events inside sc matching q, newest first.
func (s *Store) AuditEvents(ctx context.Context, sc services.Scope, q services.AuditQuery) ([]services.AuditEvent, error) {
	const op = "mongo.AuditEvents"
	f, ok := withScope(bson.D{}, sc)
	if !ok {
		return nil, nil
	}
	if len(q.Kinds) > 0 {
		kinds := make(bson.A, len(q.Kinds))
		for i, k := range q.Kinds {
			kinds[i] = string(k)
		}
		f = append(f, bson.E{Key: "kind", Value: bson.D{{Key: "$in", Value: kinds}}})
	}
	if q.ActorID != "" {
		f = append(f, bson.E{Key: "actor_id", Value: q.ActorID})
	}
	if q.SubjectID != "" {
		f = append(f, bson.E{Key: "subject_id", Value: q.SubjectID})
	}
	if at := (bson.D{}); !q.From.IsZero() || !q.To.IsZero() {
		if !q.From.IsZero() {
			at = append(at, bson.E{Key: "$gte", Value: ms(q.From)})
		}
		if !q.To.IsZero() {
			at = append(at, bson.E{Key: "$lt", Value: ms(q.To)})
		}
		f = append(f, bson.E{Key: "at", Value: at})
	}
	p := q.Page.Normalize()
	if p.After != "" {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: p.After}}})
	}
	docs, err := findAll[auditDoc](ctx, s.audit, f,
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(p.Limit)))
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]services.AuditEvent, len(docs))
	for i, d := range docs {
		out[i] = services.AuditEvent{ID: d.ID, At: timeOf(d.At), Kind: services.AuditKind(d.Kind), ActorID: d.ActorID,
			ActorName: d.ActorName, Login: d.Login, IP: d.IP, UserAgent: d.UserAgent, SubjectType: d.SubjectType,
			SubjectID: d.SubjectID, SubjectName: d.SubjectName, OrgPath: d.Path, Detail: d.Detail}
	}
	return out, nil
}
