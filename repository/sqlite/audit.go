package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/huizong/huizong/services"
)

const auditCols = `a.id, a.at, a.kind, a.actor_id, a.actor_name, a.login, a.ip, a.user_agent,
	a.subject_type, a.subject_id, a.subject_name, a.org_path, a.detail`

// AppendAudit stores events, each with one scope row per unit on its
// path, in one transaction.
func (s *Store) AppendAudit(ctx context.Context, events []services.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if err := appendAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("sqlite.AppendAudit", err)
}

func appendAudit(ctx context.Context, tx *sql.Tx, e services.AuditEvent) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, at, kind, actor_id, actor_name, login, ip, user_agent,
			subject_type, subject_id, subject_name, org_path, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, msOf(e.At), string(e.Kind), e.ActorID, e.ActorName, e.Login, e.IP, e.UserAgent,
		e.SubjectType, e.SubjectID, e.SubjectName, toJSON(e.OrgPath), e.Detail); err != nil {
		return err
	}
	for _, a := range e.OrgPath {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO audit_scope (ancestor_id, audit_id) VALUES (?, ?)`,
			a, e.ID); err != nil {
			return err
		}
	}
	return nil
}

// AuditEvents lists the events inside sc matching q, newest first: a
// range of audit_scope's key (or of audit's) read backwards.
func (s *Store) AuditEvents(ctx context.Context, sc services.Scope, q services.AuditQuery) ([]services.AuditEvent, error) {
	const op = "sqlite.AuditEvents"
	if sc.Empty() {
		return nil, nil
	}
	p := q.Page.Normalize()
	var (
		b    strings.Builder
		args []any
		key  = "a.id"
	)
	if sc.All {
		b.WriteString(`SELECT ` + auditCols + ` FROM audit a WHERE 1`)
	} else {
		b.WriteString(`SELECT ` + auditCols + ` FROM audit_scope x CROSS JOIN audit a ON a.id = x.audit_id WHERE x.ancestor_id = ?`)
		args, key = append(args, sc.OrgID), "x.audit_id"
	}
	if len(q.Kinds) > 0 {
		b.WriteString(` AND a.kind IN (?` + strings.Repeat(`, ?`, len(q.Kinds)-1) + `)`)
		for _, k := range q.Kinds {
			args = append(args, string(k))
		}
	}
	if q.ActorID != "" {
		b.WriteString(` AND a.actor_id = ?`)
		args = append(args, q.ActorID)
	}
	if q.SubjectID != "" {
		b.WriteString(` AND a.subject_id = ?`)
		args = append(args, q.SubjectID)
	}
	if !q.From.IsZero() {
		b.WriteString(` AND a.at >= ?`)
		args = append(args, msOf(q.From))
	}
	if !q.To.IsZero() {
		b.WriteString(` AND a.at < ?`)
		args = append(args, msOf(q.To))
	}
	if p.After != "" {
		b.WriteString(` AND ` + key + ` < ?`)
		args = append(args, p.After)
	}
	b.WriteString(` ORDER BY ` + key + ` DESC LIMIT ?`)
	rows, err := s.query(ctx, b.String(), append(args, p.Limit)...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []services.AuditEvent
	for rows.Next() {
		var (
			e          services.AuditEvent
			kind, path string
			at         sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &at, &kind, &e.ActorID, &e.ActorName, &e.Login, &e.IP, &e.UserAgent,
			&e.SubjectType, &e.SubjectID, &e.SubjectName, &path, &e.Detail); err != nil {
			return nil, wrap(op, err)
		}
		e.At, e.Kind = timeOf(at), services.AuditKind(kind)
		if err := fromJSON(path, &e.OrgPath); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, e)
	}
	return out, wrap(op, rows.Err())
}
