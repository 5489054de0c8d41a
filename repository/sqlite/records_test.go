package sqlite

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
)

// queryPlan returns the detail lines of EXPLAIN QUERY PLAN for query.
func queryPlan(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatalf("scan plan: %v", err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("plan rows: %v", err)
	}
	return lines
}

// seedMany fills records and record_scope with n records in one
// transaction, skewed like a real district (most records in one school,
// two templates, a few authors), and runs ANALYZE, so the planner decides
// with statistics as well as without.
func seedMany(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := t.Context()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
			INSERT INTO records (id, client_id, author_id, author_role, template, template_version, org_id, org_path,
				occurred_on, status, version, created_at, updated_at)
			SELECT printf('r%08d', i), printf('c%08d', i), 'u' || (i % 7), 'teacher', 't' || (i % 2), 1,
				CASE WHEN i % 10 = 0 THEN 's2' ELSE 's1' END,
				CASE WHEN i % 10 = 0 THEN '["c1","d1","s2"]' ELSE '["c1","d1","s1"]' END,
				'2025-03-01', CASE WHEN i % 3 = 0 THEN 'submitted' ELSE 'approved' END, 1, i, 1000 + i
			FROM seq`, n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO record_scope (ancestor_id, record_id, template, updated_at)
			SELECT j.value, r.id, r.template, r.updated_at FROM records r, json_each(r.org_path) j`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `ANALYZE`)
		return err
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// TestRecordPlans checks with EXPLAIN QUERY PLAN that every record list
// reads one index range in list order: no full scan of records, no sort of
// the matches (a TEMP B-TREE), so a page costs the same at a million
// records as at ten.
func TestRecordPlans(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	cursor := services.RecordCursor{ID: "r00000100"}
	syncCursor := services.RecordCursor{ID: "r00000100", UpdatedAt: now.Add(time.Hour)}
	d1, all := services.ScopeOrg("d1"), services.ScopeAll()
	teacher := services.Scope{OrgID: "s1", AuthorID: "u1"}
	tests := []struct {
		name  string
		scope services.Scope
		q     services.RecordQuery
		want  []string // plan lines, in order
	}{
		{"scoped list", d1, services.RecordQuery{After: cursor},
			[]string{"SEARCH a USING PRIMARY KEY (ancestor_id=? AND record_id<?)", "SEARCH r USING INDEX sqlite_autoindex_records_1 (id=?)"}},
		// A subtree's records of one template: one range of
		// record_scope_template, not every record of the subtree.
		{"scoped template and status", d1, services.RecordQuery{Template: "t1", Status: services.StatusSubmitted},
			[]string{"SEARCH a USING COVERING INDEX record_scope_template (ancestor_id=? AND template=?)", "SEARCH r USING INDEX sqlite_autoindex_records_1 (id=?)"}},
		{"scoped template, next page", d1, services.RecordQuery{Template: "t1", After: cursor},
			[]string{"SEARCH a USING COVERING INDEX record_scope_template (ancestor_id=? AND template=? AND record_id<?)", "SEARCH r USING INDEX sqlite_autoindex_records_1 (id=?)"}},
		{"subtree inside scope", services.ScopeOrg("c1"), services.RecordQuery{OrgID: "s1", After: cursor},
			[]string{"SEARCH a USING PRIMARY KEY (ancestor_id=? AND record_id<?)", "SEARCH r USING INDEX sqlite_autoindex_records_1 (id=?)",
				"SEARCH x EXISTS USING PRIMARY KEY (ancestor_id=? AND record_id=?)"}},
		{"author list", teacher, services.RecordQuery{After: cursor},
			[]string{"SEARCH r USING INDEX records_author (author_id=? AND id<?)", "SEARCH x EXISTS USING PRIMARY KEY (ancestor_id=? AND record_id=?)"}},
		{"author filter", all, services.RecordQuery{AuthorID: "u2", Template: "t1"},
			[]string{"SEARCH r USING INDEX records_author (author_id=?)"}},
		{"template and status", all, services.RecordQuery{Template: "t1", Status: services.StatusSubmitted, After: cursor},
			[]string{"SEARCH r USING INDEX records_template (template=? AND id<?)"}},
		{"everything", all, services.RecordQuery{After: cursor},
			[]string{"SEARCH r USING INDEX sqlite_autoindex_records_1 (id<?)"}},
		{"sync", all, services.RecordQuery{Sync: true, UpdatedSince: now, After: syncCursor},
			[]string{"SEARCH r USING INDEX records_updated ((updated_at,id)>(?,?))"}},
		{"sync first page", all, services.RecordQuery{Sync: true, UpdatedSince: now, Template: "t1"},
			[]string{"SEARCH r USING INDEX records_updated (updated_at>?)"}},
		{"scoped sync", d1, services.RecordQuery{Sync: true, UpdatedSince: now, After: syncCursor},
			[]string{"SEARCH a USING COVERING INDEX record_scope_updated (ancestor_id=? AND (updated_at,record_id)>(?,?))",
				"SEARCH r USING INDEX sqlite_autoindex_records_1 (id=?)"}},
		{"author sync", teacher, services.RecordQuery{Sync: true, UpdatedSince: now, After: syncCursor},
			[]string{"SEARCH r USING INDEX records_author_updated (author_id=? AND (updated_at,id)>(?,?))",
				"SEARCH x EXISTS USING PRIMARY KEY (ancestor_id=? AND record_id=?)"}},
	}
	s := openTest(t)
	for _, stats := range []bool{false, true} {
		if stats {
			seedMany(t, s, 5000)
		}
		for _, tt := range tests {
			name := tt.name
			if stats {
				name += " with statistics"
			}
			t.Run(name, func(t *testing.T) {
				query, args := recordsQuery(tt.scope, tt.q)
				got := queryPlan(t, s, query, args...)
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
				}
				// Whatever the exact wording, never a scan of records or a sort.
				for _, line := range got {
					if strings.HasPrefix(line, "SCAN") || strings.Contains(line, "TEMP B-TREE") {
						t.Errorf("plan line %q reads the whole table or sorts", line)
					}
				}
				// And the query still runs.
				rows, err := s.r.QueryContext(t.Context(), query, args...)
				if err != nil {
					t.Fatalf("query: %v", err)
				}
				rows.Close()
			})
		}
	}
}

// TestRecordPointPlans checks the point reads and the writes' lookups.
func TestRecordPointPlans(t *testing.T) {
	s := openTest(t)
	cond, cargs := recordScope(services.Scope{OrgID: "d1", AuthorID: "u1"})
	tests := []struct {
		name  string
		query string
		args  []any
		want  string // a fragment of some plan line
	}{
		{"by id", `SELECT ` + recordCols + ` FROM records r WHERE r.id = ?` + cond, append([]any{"r1"}, cargs...),
			"id=?)"},
		{"by client id", `SELECT ` + recordCols + ` FROM records r WHERE r.author_id = ? AND r.client_id = ?` + cond,
			append([]any{"u1", "c1"}, cargs...), "SEARCH r USING INDEX sqlite_autoindex_records_2 (author_id=? AND client_id=?)"},
		{"history", `SELECT id FROM record_events WHERE record_id = ? AND version > ? ORDER BY version LIMIT ?`,
			[]any{"r1", 0, 20}, "SEARCH record_events USING PRIMARY KEY (record_id=? AND version>?)"},
		{"scope rewrite", `DELETE FROM record_scope WHERE record_id = ? AND ancestor_id IN (SELECT value FROM json_each(?))`,
			[]any{"r1", `["c1"]`}, "SEARCH record_scope USING PRIMARY KEY (ancestor_id=? AND record_id=?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := queryPlan(t, s, tt.query, tt.args...)
			if !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Errorf("plan:\n  %s\nwant a line with %q", strings.Join(got, "\n  "), tt.want)
			}
			for _, line := range got {
				// json_each is a table-valued function over the argument,
				// not a table.
				if strings.HasPrefix(line, "SCAN") && !strings.Contains(line, "json_each") || strings.Contains(line, "TEMP B-TREE") {
					t.Errorf("plan line %q reads a whole table or sorts", line)
				}
			}
		})
	}
}
