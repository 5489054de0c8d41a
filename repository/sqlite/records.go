package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/huizong/huizong/services"
)

const recordCols = `r.id, r.client_id, r.author_id, r.author_role, r.template, r.template_version, r.org_id,
	r.org_path, r.occurred_on, r.end_on, r.title, r.description, r.data, r.attachments, r.status, r.warnings,
	r.review_by, r.review_role, r.review_at, r.review_action, r.review_comment, r.hash, r.version,
	r.created_at, r.updated_at, r.deleted_at, r.submitted_at, r.extensions`

// exportCols are the columns a bulk read brings: what an export sheet
// writes and a task counts. Every column read costs a lock of the
// connection and a copy: at a million rows the full set took half the
// export.
const exportCols = `r.id, r.author_id, r.template, r.template_version, r.org_id, r.org_path, r.occurred_on, r.title,
	r.data, r.attachments, r.status, r.review_by, r.review_at, r.created_at, r.submitted_at`

// scanExportRecord scans exportCols.
func scanExportRecord(row scanner) (services.Record, error) {
	var (
		r                              services.Record
		path, data, atts, st           string
		reviewAt, createdAt, submitted sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.AuthorID, &r.Template, &r.TemplateVersion, &r.OrgID, &path, &r.OccurredOn, &r.Title,
		&data, &atts, &st, &r.Review.By, &reviewAt, &createdAt, &submitted); err != nil {
		return services.Record{}, err
	}
	r.Status, r.Review.At, r.Data = services.RecordStatus(st), timeOf(reviewAt), json.RawMessage(data)
	r.CreatedAt, r.SubmittedAt = timeOf(createdAt), timeOf(submitted)
	if err := fromJSON(path, &r.OrgPath); err != nil {
		return services.Record{}, err
	}
	if err := fromJSON(atts, &r.Attachments); err != nil {
		return services.Record{}, err
	}
	return r, nil
}

// warningDoc is a stored Warning.
type warningDoc struct {
	Field string  `json:"field"`
	Code  string  `json:"code"`
	Limit float64 `json:"limit,omitempty"`
}

// changeDoc is a stored Change; its values read back as JSON values.
type changeDoc struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

func encodeWarnings(ws []services.Warning) (string, error) {
	if len(ws) == 0 {
		return "[]", nil
	}
	docs := make([]warningDoc, len(ws))
	for i, w := range ws {
		docs[i] = warningDoc(w)
	}
	b, err := json.Marshal(docs)
	return string(b), err
}

func decodeWarnings(s string) ([]services.Warning, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var docs []warningDoc
	if err := json.Unmarshal([]byte(s), &docs); err != nil {
		return nil, fmt.Errorf("decode warnings: %w", err)
	}
	ws := make([]services.Warning, len(docs))
	for i, d := range docs {
		ws[i] = services.Warning(d)
	}
	return ws, nil
}

func encodeChanges(cs []services.Change) (string, error) {
	if len(cs) == 0 {
		return "[]", nil
	}
	docs := make([]changeDoc, len(cs))
	for i, c := range cs {
		docs[i] = changeDoc(c)
	}
	b, err := json.Marshal(docs)
	if err != nil {
		return "", fmt.Errorf("encode changes: %w", err)
	}
	return string(b), nil
}

func decodeChanges(s string) ([]services.Change, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var docs []changeDoc
	if err := json.Unmarshal([]byte(s), &docs); err != nil {
		return nil, fmt.Errorf("decode changes: %w", err)
	}
	cs := make([]services.Change, len(docs))
	for i, d := range docs {
		cs[i] = services.Change(d)
	}
	return cs, nil
}

// dataText is the stored form of a record's data: the JSON as given, "{}"
// for none. Anything else is refused: a stored value that is not JSON
// would break every later read of the record.
func dataText(d json.RawMessage) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	if !json.Valid(d) {
		return "", errors.New("record data is not valid JSON")
	}
	return string(d), nil
}

// syncMs is t as a bound on updated_at: the zero time is before anything.
func syncMs(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixMilli()
}

func scanRecord(row scanner) (services.Record, error) { return scanRecordWith(row) }

// scanRecordWith scans recordCols and then extra columns into extra.
func scanRecordWith(row scanner, extra ...any) (services.Record, error) {
	var (
		r                                 services.Record
		role, path, data, atts, st, warns string
		exts                              string
		reviewRole                        string
		reviewAt, createdAt, deletedAt    sql.NullInt64
		submittedAt                       sql.NullInt64
		updatedAt                         int64
	)
	dest := []any{&r.ID, &r.ClientID, &r.AuthorID, &role, &r.Template, &r.TemplateVersion, &r.OrgID,
		&path, &r.OccurredOn, &r.EndOn, &r.Title, &r.Description, &data, &atts, &st, &warns,
		&r.Review.By, &reviewRole, &reviewAt, &r.Review.Action, &r.Review.Comment, &r.Hash, &r.Version,
		&createdAt, &updatedAt, &deletedAt, &submittedAt, &exts}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return services.Record{}, err
	}
	r.AuthorRole, r.Status, r.Review.Role = services.Role(role), services.RecordStatus(st), services.Role(reviewRole)
	r.Review.At, r.CreatedAt, r.UpdatedAt, r.DeletedAt = timeOf(reviewAt), timeOf(createdAt), timeOfMs(updatedAt), timeOf(deletedAt)
	r.SubmittedAt = timeOf(submittedAt)
	r.Data = json.RawMessage(data)
	if err := fromJSON(path, &r.OrgPath); err != nil {
		return services.Record{}, err
	}
	if err := fromJSON(atts, &r.Attachments); err != nil {
		return services.Record{}, err
	}
	if exts != "" && exts != "[]" {
		if err := json.Unmarshal([]byte(exts), &r.Extensions); err != nil {
			return services.Record{}, err
		}
	}
	var err error
	if r.Warnings, err = decodeWarnings(warns); err != nil {
		return services.Record{}, err
	}
	return r, nil
}

// recordScope restricts a query on "records r" to sc (sc must not be
// empty): one primary-key probe of record_scope, and the author.
func recordScope(sc services.Scope) (string, []any) {
	var cond string
	var args []any
	if !sc.All {
		cond += ` AND EXISTS (SELECT 1 FROM record_scope x WHERE x.ancestor_id = ? AND x.record_id = r.id)`
		args = append(args, sc.OrgID)
	}
	if sc.AuthorID != "" {
		cond += ` AND r.author_id = ?`
		args = append(args, sc.AuthorID)
	}
	return cond, args
}

// insertRecordScope writes the ancestor rows of record id.
func (s *Store) insertRecordScope(ctx context.Context, tx *sql.Tx, id, template string, path []string, updatedAt int64) error {
	q, args := scopeRows(id, template, path, updatedAt)
	if q == "" {
		return nil
	}
	_, err := s.execTx(ctx, tx, q, args...)
	return err
}

// scopeRows is the statement and arguments inserting the record_scope
// rows of record id: one per org of path ("" when path is empty).
func scopeRows(id, template string, path []string, updatedAt int64) (string, []any) {
	if len(path) == 0 {
		return "", nil
	}
	args := make([]any, 0, 4*len(path))
	for _, a := range path {
		args = append(args, a, id, template, updatedAt)
	}
	// OR IGNORE: a path naming an id twice is odd, not a conflict.
	return scopeInsert(len(path)), args
}

// scopeInsert is the statement inserting n record_scope rows at once.
func scopeInsert(n int) string {
	return `INSERT OR IGNORE INTO record_scope (ancestor_id, record_id, template, updated_at) VALUES (?, ?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?, ?)`, n-1)
}

const insertEventSQL = `INSERT INTO record_events (record_id, version, id, at, actor_id, actor_role,
		action, comment, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

const insertRecordSQL = `INSERT INTO records (id, client_id, author_id, author_role, template,
			template_version, org_id, org_path, occurred_on, end_on, title, description, data, attachments, status,
			warnings, review_by, review_role, review_at, review_action, review_comment, hash, version, created_at,
			updated_at, deleted_at, submitted_at, rollup, extensions)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, recordID string, ev services.RecordEvent) error {
	args, err := eventArgs(recordID, ev)
	if err != nil {
		return err
	}
	_, err = s.execTx(ctx, tx, insertEventSQL, args...)
	return err
}

// eventArgs are insertEventSQL's arguments for ev of record recordID.
func eventArgs(recordID string, ev services.RecordEvent) ([]any, error) {
	changes, err := encodeChanges(ev.Changes)
	if err != nil {
		return nil, err
	}
	return []any{recordID, ev.Version, ev.ID, msOf(ev.At), ev.ActorID, string(ev.ActorRole), ev.Action, ev.Comment,
		changes}, nil
}

// CreateRecord inserts r, its scope rows and its first event in one
// transaction.
func (s *Store) CreateRecord(ctx context.Context, r services.Record, ev services.RecordEvent) error {
	const op = "sqlite.CreateRecord"
	warns, err := encodeWarnings(r.Warnings)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	data, err := dataText(r.Data)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	rollup, err := encodeRollup(r.Rollup)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	// Everything but the SQL is done here, before the writer takes it.
	updated := unixMs(r.UpdatedAt)
	args := []any{r.ID, r.ClientID, r.AuthorID, string(r.AuthorRole), r.Template, r.TemplateVersion, r.OrgID,
		toJSON(r.OrgPath), r.OccurredOn, r.EndOn, r.Title, r.Description, data, toJSON(r.Attachments),
		string(r.Status), warns, r.Review.By, string(r.Review.Role), msOf(r.Review.At), r.Review.Action,
		r.Review.Comment, r.Hash, r.Version, msOf(r.CreatedAt), updated, msOf(r.DeletedAt),
		msOf(r.SubmittedAt), rollup, extensionsJSON(r.Extensions)}
	scope, scopeArgs := scopeRows(r.ID, r.Template, r.OrgPath, updated)
	event, err := eventArgs(r.ID, ev)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	deltas := services.RollupDelta(services.Rollup{}, r.Rollup)
	err = s.txCells(ctx, func(tx *sql.Tx, cells *cellSink) error {
		if _, err := s.execTx(ctx, tx, insertRecordSQL, args...); err != nil {
			return err
		}
		if scope != "" {
			if _, err := s.execTx(ctx, tx, scope, scopeArgs...); err != nil {
				return err
			}
		}
		if _, err := s.execTx(ctx, tx, insertEventSQL, event...); err != nil {
			return err
		}
		return cells.add(deltas)
	})
	return wrap(op, err)
}

// Record returns the record id inside sc.
func (s *Store) Record(ctx context.Context, sc services.Scope, id string) (services.Record, error) {
	const op = "sqlite.Record"
	if sc.Empty() {
		return services.Record{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, args := recordScope(sc)
	r, err := scanRecord(s.queryRow(ctx, `SELECT `+recordCols+` FROM records r WHERE r.id = ?`+cond,
		append([]any{id}, args...)...))
	return r, wrap(op, err)
}

// RecordByClientID returns the record authorID created as clientID.
func (s *Store) RecordByClientID(ctx context.Context, sc services.Scope, authorID, clientID string) (services.Record, error) {
	const op = "sqlite.RecordByClientID"
	if sc.Empty() {
		return services.Record{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, args := recordScope(sc)
	r, err := scanRecord(s.queryRow(ctx, `SELECT `+recordCols+` FROM records r
		WHERE r.author_id = ? AND r.client_id = ?`+cond, append([]any{authorID, clientID}, args...)...))
	return r, wrap(op, err)
}

// recordsQuery builds a record list. It picks the index that drives the
// query, the way orgsQuery does, and writes the ORDER BY on that index's
// columns so SQLite reads one page in order and stops at the limit:
//
//   - an author (the scope's or the query's): records_author (newest
//     first) or records_author_updated (sync);
//   - else a subtree (the query's OrgID, or a scope below the whole tree):
//     record_scope's primary key, record_scope_template when a template
//     is named too, or record_scope_updated (sync), joined to the records
//     in that order (CROSS JOIN fixes the order);
//   - else a template: records_template (sync uses records_updated);
//   - else the whole table: its primary key or records_updated.
//
// Every other filter is checked per row; its column is written with a
// unary + so the planner never trades the ordered index for it. Only fixed
// fragments are concatenated; every value is a parameter.
func recordsQuery(sc services.Scope, q services.RecordQuery) (string, []any) {
	limit := q.PageLimit()
	cols := recordCols
	if q.Bulk {
		cols = exportCols
	}
	author := sc.AuthorID
	if author == "" {
		author = q.AuthorID
	}
	ancestor := q.OrgID
	if ancestor == "" && !sc.All {
		ancestor = sc.OrgID
	}
	var (
		b           strings.Builder
		args        []any
		idCol, uCol string // the driving key's id and updated_at columns
	)
	switch {
	case author != "":
		b.WriteString(`SELECT ` + cols + ` FROM records r WHERE r.author_id = ?`)
		args = append(args, author)
		idCol, uCol = "r.id", "r.updated_at"
		ancestor = "" // checked per row below
	case ancestor != "" && q.Template != "" && !q.Sync:
		b.WriteString(`SELECT ` + cols + ` FROM record_scope a CROSS JOIN records r ON r.id = a.record_id
			WHERE a.ancestor_id = ? AND a.template = ?`)
		args = append(args, ancestor, q.Template)
		idCol, uCol = "a.record_id", "a.updated_at"
	case ancestor != "":
		b.WriteString(`SELECT ` + cols + ` FROM record_scope a CROSS JOIN records r ON r.id = a.record_id
			WHERE a.ancestor_id = ?`)
		args = append(args, ancestor)
		idCol, uCol = "a.record_id", "a.updated_at"
	case q.Template != "" && !q.Sync:
		b.WriteString(`SELECT ` + cols + ` FROM records r WHERE r.template = ?`)
		args = append(args, q.Template)
		idCol, uCol = "r.id", "r.updated_at"
	default:
		b.WriteString(`SELECT ` + cols + ` FROM records r WHERE 1`)
		idCol, uCol = "r.id", "r.updated_at"
	}
	// The scope and the subtree, where they do not drive the query.
	for _, org := range []string{scopeOrg(sc), q.OrgID} {
		if org != "" && org != ancestor {
			b.WriteString(` AND EXISTS (SELECT 1 FROM record_scope x WHERE x.ancestor_id = ? AND x.record_id = r.id)`)
			args = append(args, org)
		}
	}
	for _, f := range []struct{ col, op, val string }{
		{"+r.author_id", "=", sc.AuthorID},
		{"+r.author_id", "=", q.AuthorID},
		{"+r.template", "=", q.Template},
		{"+r.status", "=", string(q.Status)},
		{"+r.occurred_on", ">=", q.From},
		{"+r.occurred_on", "<=", q.To},
	} {
		if f.val != "" {
			b.WriteString(` AND ` + f.col + ` ` + f.op + ` ?`)
			args = append(args, f.val)
		}
	}
	if len(q.Statuses) > 0 {
		b.WriteString(` AND +r.status IN (?` + strings.Repeat(`, ?`, len(q.Statuses)-1) + `)`)
		for _, st := range q.Statuses {
			args = append(args, string(st))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(q.Data)) {
		// The path is a parameter too: keys are checked by the service,
		// and nothing is spliced into the SQL.
		switch v := q.Data[k]; v {
		case "":
			b.WriteString(` AND json_extract(r.data, ?) IS NULL`)
			args = append(args, "$."+k)
		case "true", "false":
			b.WriteString(` AND json_extract(r.data, ?) IN (?, ?)`)
			args = append(args, "$."+k, v, map[string]int{"true": 1, "false": 0}[v])
		default:
			b.WriteString(` AND json_extract(r.data, ?) = ?`)
			args = append(args, "$."+k, v)
		}
	}
	if q.Sync {
		// One lower bound, so it is the one the index range starts at. A
		// cursor past UpdatedSince implies it (UpdatedAt >= the cursor's >
		// UpdatedSince); a cursor at or before it is implied by it.
		since, after := syncMs(q.UpdatedSince), syncMs(q.After.UpdatedAt)
		if q.After.ID != "" && after > since {
			b.WriteString(` AND (` + uCol + `, ` + idCol + `) > (?, ?)`)
			args = append(args, after, q.After.ID)
		} else {
			b.WriteString(` AND ` + uCol + ` > ?`)
			args = append(args, since)
		}
		b.WriteString(` ORDER BY ` + uCol + `, ` + idCol + ` LIMIT ?`)
	} else {
		b.WriteString(` AND +r.status <> 'withdrawn'`)
		if q.After.ID != "" {
			b.WriteString(` AND ` + idCol + ` < ?`)
			args = append(args, q.After.ID)
		}
		b.WriteString(` ORDER BY ` + idCol + ` DESC LIMIT ?`)
	}
	args = append(args, limit)
	return b.String(), args
}

// scopeOrg is the unit sc is limited to, "" for the whole tree.
func scopeOrg(sc services.Scope) string {
	if sc.All {
		return ""
	}
	return sc.OrgID
}

// Records lists records inside sc that match q.
func (s *Store) Records(ctx context.Context, sc services.Scope, q services.RecordQuery) ([]services.Record, error) {
	const op = "sqlite.Records"
	if sc.Empty() {
		return nil, nil
	}
	query, args := recordsQuery(sc, q)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	scan := scanRecord
	if q.Bulk {
		scan = scanExportRecord
	}
	var list []services.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, r)
	}
	return list, wrap(op, rows.Err())
}

// UpdateRecord stores r as version r.Version+1 inside sc, rewrites its
// scope rows and appends ev, in one transaction.
func (s *Store) UpdateRecord(ctx context.Context, sc services.Scope, r services.Record, ev services.RecordEvent) (services.Record, error) {
	const op = "sqlite.UpdateRecord"
	if sc.Empty() {
		return services.Record{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	warns, err := encodeWarnings(r.Warnings)
	if err != nil {
		return services.Record{}, fmt.Errorf("%s: %w", op, err)
	}
	data, err := dataText(r.Data)
	if err != nil {
		return services.Record{}, fmt.Errorf("%s: %w", op, err)
	}
	rollup, err := encodeRollup(r.Rollup)
	if err != nil {
		return services.Record{}, fmt.Errorf("%s: %w", op, err)
	}
	cond, cargs := recordScope(sc)
	updated := unixMs(r.UpdatedAt)
	var out services.Record
	err = s.txCells(ctx, func(tx *sql.Tx, cells *cellSink) error {
		var (
			version            int64
			oldPath, oldRollup string
		)
		if err := tx.QueryRowContext(ctx, `SELECT r.version, r.org_path, r.rollup FROM records r WHERE r.id = ?`+cond,
			append([]any{r.ID}, cargs...)...).Scan(&version, &oldPath, &oldRollup); err != nil {
			return err
		}
		if version != r.Version {
			return services.ErrStale
		}
		before, err := decodeRollup(oldRollup)
		if err != nil {
			return err
		}
		if err := cells.add(services.RollupDelta(before, r.Rollup)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE records SET template = ?, template_version = ?, org_id = ?,
			org_path = ?, occurred_on = ?, end_on = ?, title = ?, description = ?, data = ?, attachments = ?,
			status = ?, warnings = ?, review_by = ?, review_role = ?, review_at = ?, review_action = ?,
			review_comment = ?, hash = ?, version = ?, updated_at = ?, deleted_at = ?, submitted_at = ?,
			rollup = ?, extensions = ? WHERE id = ?`,
			r.Template, r.TemplateVersion, r.OrgID, toJSON(r.OrgPath), r.OccurredOn, r.EndOn, r.Title,
			r.Description, data, toJSON(r.Attachments), string(r.Status), warns, r.Review.By,
			string(r.Review.Role), msOf(r.Review.At), r.Review.Action, r.Review.Comment, r.Hash, r.Version+1,
			updated, msOf(r.DeletedAt), msOf(r.SubmittedAt), rollup, extensionsJSON(r.Extensions), r.ID); err != nil {
			return err
		}
		// The scope rows carry updated_at for the sync list: rewrite them
		// (primary-key deletes, then inserts; the path may have changed).
		if _, err := tx.ExecContext(ctx, `DELETE FROM record_scope WHERE record_id = ?
			AND ancestor_id IN (SELECT value FROM json_each(?))`, r.ID, oldPath); err != nil {
			return err
		}
		if err := s.insertRecordScope(ctx, tx, r.ID, r.Template, r.OrgPath, updated); err != nil {
			return err
		}
		if err := s.insertEvent(ctx, tx, r.ID, ev); err != nil {
			return err
		}
		out, err = scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordCols+` FROM records r WHERE r.id = ?`, r.ID))
		return err
	})
	if err != nil {
		return services.Record{}, wrap(op, err)
	}
	return out, nil
}

// RecordHistory lists the events of record id inside sc after
// afterVersion, in version order.
func (s *Store) RecordHistory(ctx context.Context, sc services.Scope, id string, afterVersion int64, limit int) ([]services.RecordEvent, error) {
	const op = "sqlite.RecordHistory"
	if sc.Empty() {
		return nil, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, cargs := recordScope(sc)
	var one int
	if err := s.queryRow(ctx, `SELECT 1 FROM records r WHERE r.id = ?`+cond,
		append([]any{id}, cargs...)...).Scan(&one); err != nil {
		return nil, wrap(op, err)
	}
	rows, err := s.query(ctx, `SELECT id, record_id, version, at, actor_id, actor_role, action, comment,
		changes FROM record_events WHERE record_id = ? AND version > ? ORDER BY version LIMIT ?`,
		id, afterVersion, services.Page{Limit: limit}.Normalize().Limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []services.RecordEvent
	for rows.Next() {
		var (
			ev            services.RecordEvent
			at            sql.NullInt64
			role, changes string
		)
		if err := rows.Scan(&ev.ID, &ev.RecordID, &ev.Version, &at, &ev.ActorID, &role, &ev.Action, &ev.Comment,
			&changes); err != nil {
			return nil, wrap(op, err)
		}
		ev.At, ev.ActorRole = timeOf(at), services.Role(role)
		if ev.Changes, err = decodeChanges(changes); err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, ev)
	}
	return list, wrap(op, rows.Err())
}

// extensionsJSON is a record's pinned extensions as stored.
func extensionsJSON(refs []services.ExtensionRef) string {
	if len(refs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(refs)
	return string(b)
}
