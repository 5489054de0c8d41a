package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/huizong/huizong/services"
)

const taskCols = `t.id, t.name, t.templates, t.period, t.period_from, t.period_to, t.org_id, t.org_path, t.stages,
	t.school_ids, t.due_on, t.min_per_school, t.note, t.created_by, t.created_at, t.version`

func scanTask(row scanner) (services.Task, error) {
	var (
		t                                  services.Task
		templates, path, stages, schoolIDs string
		createdAt                          sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Name, &templates, &t.Period, &t.From, &t.To, &t.OrgID, &path, &stages,
		&schoolIDs, &t.DueOn, &t.MinPerSchool, &t.Note, &t.CreatedBy, &createdAt, &t.Version); err != nil {
		return services.Task{}, err
	}
	t.CreatedAt = timeOf(createdAt)
	for _, l := range []struct {
		col  string
		list *[]string
	}{{templates, &t.Templates}, {path, &t.OrgPath}, {stages, &t.Stages}, {schoolIDs, &t.SchoolIDs}} {
		if err := fromJSON(l.col, l.list); err != nil {
			return services.Task{}, err
		}
	}
	return t, nil
}

// targetChunk is how many task_targets rows one INSERT writes.
const targetChunk = 200

// CreateTask inserts t with its scope and target rows in one transaction.
func (s *Store) CreateTask(ctx context.Context, t services.Task) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (id, name, templates, period, period_from, period_to,
			org_id, org_path, stages, school_ids, due_on, min_per_school, note, created_by, created_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, toJSON(t.Templates), t.Period, t.From, t.To, t.OrgID, toJSON(t.OrgPath), toJSON(t.Stages),
			toJSON(t.SchoolIDs), t.DueOn, t.MinPerSchool, t.Note, t.CreatedBy, msOf(t.CreatedAt), t.Version); err != nil {
			return err
		}
		for _, a := range t.OrgPath {
			// OR IGNORE: a path naming an id twice is odd, not a conflict.
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO task_scope (ancestor_id, task_id) VALUES (?, ?)`,
				a, t.ID); err != nil {
				return err
			}
		}
		for start := 0; start < len(t.SchoolIDs); start += targetChunk {
			chunk := t.SchoolIDs[start:min(start+targetChunk, len(t.SchoolIDs))]
			args := make([]any, 0, 3*len(chunk))
			for _, id := range chunk {
				args = append(args, id, t.ID, t.DueOn)
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO task_targets (school_id, task_id, due_on) VALUES (?, ?, ?)`+
				strings.Repeat(`, (?, ?, ?)`, len(chunk)-1), args...); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("sqlite.CreateTask", err)
}

// Task returns the task id inside sc: under its bureau, or targeting sc's
// unit.
func (s *Store) Task(ctx context.Context, sc services.Scope, id string) (services.Task, error) {
	const op = "sqlite.Task"
	if sc.Empty() {
		return services.Task{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	q, args := `SELECT `+taskCols+` FROM tasks t WHERE t.id = ?`, []any{id}
	if !sc.All {
		q += ` AND (EXISTS (SELECT 1 FROM task_scope a WHERE a.ancestor_id = ? AND a.task_id = t.id)
			OR EXISTS (SELECT 1 FROM task_targets g WHERE g.school_id = ? AND g.task_id = t.id))`
		args = append(args, sc.OrgID, sc.OrgID)
	}
	t, err := scanTask(s.queryRow(ctx, q, args...))
	return t, wrap(op, err)
}

// Tasks lists the tasks under sc, newest first: one range of task_scope's
// key (or of the table's) read backwards.
func (s *Store) Tasks(ctx context.Context, sc services.Scope, p services.Page) ([]services.Task, error) {
	if sc.Empty() {
		return nil, nil
	}
	p = p.Normalize()
	var (
		b    strings.Builder
		args []any
		key  = "t.id"
	)
	if sc.All {
		b.WriteString(`SELECT ` + taskCols + ` FROM tasks t WHERE 1`)
	} else {
		b.WriteString(`SELECT ` + taskCols + ` FROM task_scope a CROSS JOIN tasks t ON t.id = a.task_id WHERE a.ancestor_id = ?`)
		args, key = append(args, sc.OrgID), "a.task_id"
	}
	if p.After != "" {
		b.WriteString(` AND ` + key + ` < ?`)
		args = append(args, p.After)
	}
	b.WriteString(` ORDER BY ` + key + ` DESC LIMIT ?`)
	return s.queryTasks(ctx, "sqlite.Tasks", b.String(), append(args, p.Limit)...)
}

// TasksForSchool lists the tasks targeting schoolID due on or after
// dueFrom, newest first, along task_targets' key.
func (s *Store) TasksForSchool(ctx context.Context, schoolID, dueFrom string, p services.Page) ([]services.Task, error) {
	p = p.Normalize()
	q := `SELECT ` + taskCols + ` FROM task_targets g CROSS JOIN tasks t ON t.id = g.task_id
		WHERE g.school_id = ? AND g.due_on >= ?`
	args := []any{schoolID, dueFrom}
	if p.After != "" {
		q += ` AND g.task_id < ?`
		args = append(args, p.After)
	}
	q += ` ORDER BY g.task_id DESC LIMIT ?`
	return s.queryTasks(ctx, "sqlite.TasksForSchool", q, append(args, p.Limit)...)
}

func (s *Store) queryTasks(ctx context.Context, op, q string, args ...any) ([]services.Task, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []services.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, t)
	}
	return out, wrap(op, rows.Err())
}
