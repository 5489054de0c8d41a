package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/huizong/huizong/services"
)

// The contract for collection tasks, beyond the interface comments:
//   - Stores keep every field of a Task as given (lists in order).
//   - Task(s, id) finds a task when s is ScopeAll, when OrgPath contains
//     s.OrgID, or when SchoolIDs contains s.OrgID; otherwise ErrNotFound.
//   - Tasks lists by OrgPath only (a school's scope lists nothing), ID
//     descending, keyset ID < Page.After, with Page.Normalize.
//   - TasksForSchool matches SchoolIDs exactly and DueOn >= dueFrom as
//     strings, in the same order and paging.
func runTasks(t *testing.T, open func(t *testing.T) Store) {
	t.Run("RoundTrip", func(t *testing.T) { testTaskRoundTrip(t, open(t)) })
	t.Run("Scope", func(t *testing.T) { testTaskScope(t, open(t)) })
	t.Run("Paginate", func(t *testing.T) { testTaskPaginate(t, open(t)) })
	t.Run("ForSchool", func(t *testing.T) { testTasksForSchool(t, open(t)) })
}

// task is a task of org (its path) targeting schools.
func task(id, due string, path []string, schools ...string) services.Task {
	return services.Task{ID: id, Name: "任务 " + id, Templates: []string{"safety_drill"}, Period: "2025Q1",
		From: "2025-01-01", To: "2025-03-31", OrgID: path[len(path)-1], OrgPath: path, SchoolIDs: schools,
		DueOn: due, MinPerSchool: 1, CreatedBy: "u1", CreatedAt: at(0), Version: 1}
}

func taskIDs(list []services.Task) []string {
	ids := make([]string, len(list))
	for i, x := range list {
		ids[i] = x.ID
	}
	return ids
}

func createTasks(t *testing.T, s Store, list ...services.Task) {
	t.Helper()
	for _, x := range list {
		noErr(t, "CreateTask "+x.ID, s.CreateTask(t.Context(), x))
	}
}

func testTaskRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	// Enough targets to need more than one insert statement.
	var schools []string
	for i := range 450 {
		schools = append(schools, fmt.Sprintf("s%04d", i))
	}
	want := services.Task{ID: "t1", Name: "2025年春季 'x\"; DROP TABLE tasks; --", Templates: []string{"safety_drill", "teacher_training"},
		Period: "2025AY-S2", From: "2026-02-01", To: "2026-08-31", OrgID: "d1", OrgPath: []string{"c1", "d1"},
		Stages: []string{"小学", "初中"}, SchoolIDs: schools, DueOn: "2026-03-15", MinPerSchool: 3,
		Note: "请各校按时填报\n第二行", CreatedBy: "u9", CreatedAt: at(5), Version: 1}
	noErr(t, "CreateTask", s.CreateTask(ctx, want))
	for _, sc := range []services.Scope{services.ScopeAll(), services.ScopeOrg("d1"), services.ScopeOrg("s0449")} {
		got, err := s.Task(ctx, sc, "t1")
		noErr(t, "Task", err)
		if d := diff(want, got); d != "" {
			t.Errorf("Task(%+v) mismatch (-want +got):\n%s", sc, d)
		}
		checkUTC(t, "Task", got.CreatedAt)
	}
	dup := want
	dup.Name = "other"
	wantErr(t, "CreateTask(duplicate)", s.CreateTask(ctx, dup), services.ErrConflict)
	got, err := s.Task(ctx, services.ScopeAll(), "t1")
	noErr(t, "Task", err)
	if got.Name != want.Name {
		t.Errorf("duplicate create changed the name to %q", got.Name)
	}
	_, err = s.Task(ctx, services.ScopeAll(), "nope")
	wantErr(t, "Task(unknown)", err, services.ErrNotFound)
	// A bare task: no stages, no note.
	bare := task("t2", "2025-04-10", []string{"c1"}, "s1")
	noErr(t, "CreateTask(bare)", s.CreateTask(ctx, bare))
	got, err = s.Task(ctx, services.ScopeOrg("c1"), "t2")
	noErr(t, "Task(bare)", err)
	if d := diff(bare, got); d != "" {
		t.Errorf("bare task mismatch (-want +got):\n%s", d)
	}
}

func testTaskScope(t *testing.T, s Store) {
	ctx := t.Context()
	seedTree(t, s)
	createTasks(t, s,
		task("t1", "2025-04-10", []string{"c1", "d1"}, "s1", "s2"),
		task("t2", "2025-04-10", []string{"c1"}, "s1", "s3"),
		task("t3", "2025-04-10", []string{"c2", "d3"}, "s4"),
	)
	tests := []struct {
		name    string
		scope   services.Scope
		visible []string // by Task
		listed  []string // by Tasks, newest first
	}{
		{"all", services.ScopeAll(), []string{"t1", "t2", "t3"}, []string{"t3", "t2", "t1"}},
		{"zero", services.Scope{}, nil, nil},
		{"city", services.ScopeOrg("c1"), []string{"t1", "t2"}, []string{"t2", "t1"}},
		{"district", services.ScopeOrg("d1"), []string{"t1"}, []string{"t1"}},
		// A district sees neither the city's task nor its schools' targets.
		{"other district", services.ScopeOrg("d2"), nil, nil},
		{"target school", services.ScopeOrg("s1"), []string{"t1", "t2"}, nil},
		{"target school 3", services.ScopeOrg("s3"), []string{"t2"}, nil},
		{"other city", services.ScopeOrg("c2"), []string{"t3"}, []string{"t3"}},
		{"unknown", services.ScopeOrg("zz"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, id := range []string{"t1", "t2", "t3"} {
				got, err := s.Task(ctx, tt.scope, id)
				if slices.Contains(tt.visible, id) {
					noErr(t, "Task "+id, err)
					if got.ID != id {
						t.Errorf("Task(%s).ID = %q", id, got.ID)
					}
				} else {
					wantErr(t, "Task "+id, err, services.ErrNotFound)
				}
			}
			list, err := s.Tasks(ctx, tt.scope, services.Page{})
			noErr(t, "Tasks", err)
			if d := cmp.Diff(tt.listed, taskIDs(list), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Tasks ids (-want +got):\n%s", d)
			}
		})
	}
}

func testTaskPaginate(t *testing.T, s Store) {
	ctx := t.Context()
	var all []services.Task
	for i := range 7 {
		all = append(all, task(fmt.Sprintf("t%02d", i), "2025-04-10", []string{"c1", "d1"}, "s1"))
	}
	createTasks(t, s, all...)
	createTasks(t, s, task("t99", "2025-04-10", []string{"c1", "d2"}, "s3"))
	var got []string
	p := services.Page{Limit: 3}
	for range 10 {
		page, err := s.Tasks(ctx, services.ScopeOrg("d1"), p)
		noErr(t, "Tasks", err)
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		got = append(got, taskIDs(page)...)
		if len(page) < 3 {
			break
		}
		p.After = page[len(page)-1].ID
	}
	want := []string{"t06", "t05", "t04", "t03", "t02", "t01", "t00"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("paged ids (-want +got):\n%s", d)
	}
	list, err := s.Tasks(ctx, services.ScopeAll(), services.Page{Limit: 2, After: "t03"})
	noErr(t, "Tasks(all, after)", err)
	if d := cmp.Diff([]string{"t02", "t01"}, taskIDs(list)); d != "" {
		t.Errorf("Tasks(all, after t03) (-want +got):\n%s", d)
	}
	// Listed tasks carry every field.
	list, err = s.Tasks(ctx, services.ScopeOrg("d2"), services.Page{})
	noErr(t, "Tasks(d2)", err)
	if d := diff([]services.Task{task("t99", "2025-04-10", []string{"c1", "d2"}, "s3")}, list); d != "" {
		t.Errorf("Tasks content (-want +got):\n%s", d)
	}
}

func testTasksForSchool(t *testing.T, s Store) {
	ctx := t.Context()
	createTasks(t, s,
		task("t1", "2025-03-31", []string{"c1", "d1"}, "s1", "s2"),
		task("t2", "2025-04-01", []string{"c1", "d1"}, "s1"),
		task("t3", "2025-05-01", []string{"c1"}, "s1", "s3"),
		task("t4", "2025-06-01", []string{"c1", "d1"}, "s2"),
		task("t5", "2025-07-01", []string{"c1", "d1"}, "s1"),
	)
	tests := []struct {
		school, from string
		p            services.Page
		want         []string
	}{
		{"s1", "", services.Page{}, []string{"t5", "t3", "t2", "t1"}},
		{"s1", "2025-04-01", services.Page{}, []string{"t5", "t3", "t2"}},
		{"s1", "2025-04-02", services.Page{}, []string{"t5", "t3"}},
		{"s1", "", services.Page{Limit: 2}, []string{"t5", "t3"}},
		{"s1", "", services.Page{Limit: 2, After: "t3"}, []string{"t2", "t1"}},
		{"s2", "", services.Page{}, []string{"t4", "t1"}},
		{"s3", "2025-06-01", services.Page{}, nil},
		{"d1", "", services.Page{}, nil},
		{"' OR 1=1 --", "", services.Page{}, nil},
	}
	for _, tt := range tests {
		got, err := s.TasksForSchool(ctx, tt.school, tt.from, tt.p)
		noErr(t, "TasksForSchool", err)
		if d := cmp.Diff(tt.want, taskIDs(got), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("TasksForSchool(%s, %q, %+v) (-want +got):\n%s", tt.school, tt.from, tt.p, d)
		}
	}
	got, err := s.TasksForSchool(ctx, "s3", "", services.Page{})
	noErr(t, "TasksForSchool(s3)", err)
	if d := diff([]services.Task{task("t3", "2025-05-01", []string{"c1"}, "s1", "s3")}, got); d != "" {
		t.Errorf("TasksForSchool content (-want +got):\n%s", d)
	}
}
