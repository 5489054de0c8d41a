package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// taskDoc is a collection task as stored. Path scopes it like every other
// document; Targets (the school ids, indexed) let a school find the tasks
// asking something of it.
type taskDoc struct {
	ID           string   `bson:"_id"`
	Name         string   `bson:"name"`
	Templates    []string `bson:"templates"`
	Period       string   `bson:"period"`
	From         string   `bson:"from"`
	To           string   `bson:"to"`
	OrgID        string   `bson:"org_id"`
	Path         []string `bson:"path"`
	Stages       []string `bson:"stages"`
	Targets      []string `bson:"targets"`
	DueOn        string   `bson:"due_on"`
	MinPerSchool int      `bson:"min_per_school"`
	Note         string   `bson:"note"`
	CreatedBy    string   `bson:"created_by"`
	CreatedAt    int64    `bson:"created_at"`
	Version      int64    `bson:"version"`
}

func fromTask(t services.Task) taskDoc {
	return taskDoc{ID: t.ID, Name: t.Name, Templates: t.Templates, Period: t.Period, From: t.From, To: t.To,
		OrgID: t.OrgID, Path: t.OrgPath, Stages: t.Stages, Targets: t.SchoolIDs, DueOn: t.DueOn,
		MinPerSchool: t.MinPerSchool, Note: t.Note, CreatedBy: t.CreatedBy, CreatedAt: ms(t.CreatedAt), Version: t.Version}
}

func toTask(d taskDoc) services.Task {
	return services.Task{ID: d.ID, Name: d.Name, Templates: d.Templates, Period: d.Period, From: d.From, To: d.To,
		OrgID: d.OrgID, OrgPath: d.Path, Stages: d.Stages, SchoolIDs: d.Targets, DueOn: d.DueOn,
		MinPerSchool: d.MinPerSchool, Note: d.Note, CreatedBy: d.CreatedBy, CreatedAt: timeOf(d.CreatedAt), Version: d.Version}
}

// CreateTask inserts t; ErrConflict if its id exists.
func (s *Store) CreateTask(ctx context.Context, t services.Task) error {
	_, err := s.tasks.InsertOne(ctx, fromTask(t))
	return wrap("mongo.CreateTask", err)
}

// Task returns the task id inside sc: under its bureau, or targeting sc's
// unit.
func (s *Store) Task(ctx context.Context, sc services.Scope, id string) (services.Task, error) {
	const op = "mongo.Task"
	f := bson.D{{Key: "_id", Value: id}}
	switch {
	case sc.Empty():
		return services.Task{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	case !sc.All:
		f = append(f, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "path", Value: sc.OrgID}},
			bson.D{{Key: "targets", Value: sc.OrgID}},
		}})
	}
	var d taskDoc
	if err := s.tasks.FindOne(ctx, f).Decode(&d); err != nil {
		return services.Task{}, wrap(op, err)
	}
	return toTask(d), nil
}

// Tasks lists the tasks under sc, newest first.
func (s *Store) Tasks(ctx context.Context, sc services.Scope, p services.Page) ([]services.Task, error) {
	f, ok := withScope(bson.D{}, sc)
	if !ok {
		return nil, nil
	}
	return s.findTasks(ctx, "mongo.Tasks", f, p)
}

// TasksForSchool lists the tasks targeting schoolID due on or after
// dueFrom, newest first.
func (s *Store) TasksForSchool(ctx context.Context, schoolID, dueFrom string, p services.Page) ([]services.Task, error) {
	f := bson.D{{Key: "targets", Value: schoolID}}
	if dueFrom != "" {
		f = append(f, bson.E{Key: "due_on", Value: bson.D{{Key: "$gte", Value: dueFrom}}})
	}
	return s.findTasks(ctx, "mongo.TasksForSchool", f, p)
}

// findTasks reads one page in _id order, newest first.
func (s *Store) findTasks(ctx context.Context, op string, f bson.D, p services.Page) ([]services.Task, error) {
	p = p.Normalize()
	if p.After != "" {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: p.After}}})
	}
	docs, err := findAll[taskDoc](ctx, s.tasks, f,
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(p.Limit)))
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]services.Task, len(docs))
	for i, d := range docs {
		out[i] = toTask(d)
	}
	return out, nil
}
