package services

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Tasks runs collection tasks (填报任务): bureaus ask schools for records
// of some templates by a due date, and watch who has filed, live from the
// records themselves (DHIS2's reporting rates without an analytics run).
type Tasks struct {
	store     TaskStore
	records   RecordStore
	orgs      OrgStore
	templates TemplateStore
	now       Clock
	loc       *time.Location
	cal       Calendar
}

// NewTasks returns the task service. Due days end at midnight in loc;
// periods are named by cal.
func NewTasks(store TaskStore, records RecordStore, orgs OrgStore, templates TemplateStore, now Clock, loc *time.Location, cal Calendar) *Tasks {
	if loc == nil {
		loc = time.UTC
	}
	return &Tasks{store: store, records: records, orgs: orgs, templates: templates, now: now, loc: loc, cal: cal}
}

// How long tasks stay on a school's list (/me/tasks) after their due day:
// every task for a month, an unfinished one for half a year.
const (
	myTasksRecentDays  = 30
	myTasksOverdueDays = 180
)

// perSchoolQueries is the target count up to which records are read
// school by school; above it one pass over the task's whole org is
// cheaper.
const perSchoolQueries = 20

// Create stores a new task. Only district and city admins and system
// administrators may; the org, templates and schools must be theirs.
func (s *Tasks) Create(ctx context.Context, p Principal, in TaskInput) (Task, error) {
	const op = "tasks.create"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Task{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	var v Validation
	t := Task{Name: CleanText(in.Name), Note: strings.TrimSpace(in.Note), MinPerSchool: 1}
	checkText(&v, "name", t.Name, true, MaxTaskName)
	checkNote(&v, t.Note)
	if in.MinPerSchool != nil {
		t.MinPerSchool = *in.MinPerSchool
		if t.MinPerSchool < 1 || t.MinPerSchool > MaxMinPerSchool {
			v.Add("min_per_school", "range", "min", 1, "max", MaxMinPerSchool)
		}
	}
	if err := s.checkTemplates(ctx, p, in.Templates, &v, &t); err != nil {
		return Task{}, fmt.Errorf("%s: %w", op, err)
	}
	in.Period = strings.TrimSpace(in.Period)
	if in.Period == "" {
		v.Add("period", "required")
	} else if per, ok := s.cal.Parse(in.Period); !ok {
		v.Add("period", "period")
	} else {
		t.Period, t.From, t.To = per.ID, per.From, per.To
	}
	t.DueOn = strings.TrimSpace(in.DueOn)
	switch {
	case t.DueOn == "":
		v.Add("due_on", "required")
	case !validDate(t.DueOn):
		v.Add("due_on", "date")
	case t.From != "" && t.DueOn < t.From:
		v.Add("due_on", "before_start")
	}
	for i, st := range in.Stages {
		switch {
		case !slices.Contains(Stages, st):
			v.Add(fmt.Sprintf("stages[%d]", i), "enum", "options", strings.Join(Stages, ", "))
		case slices.Contains(in.Stages[:i], st):
			v.Add(fmt.Sprintf("stages[%d]", i), "duplicate")
		default:
			t.Stages = append(t.Stages, st)
		}
	}
	if len(in.Stages) > 0 && len(in.SchoolIDs) > 0 {
		v.Add("stages", "not_allowed")
	}
	orgID := strings.TrimSpace(in.OrgID)
	if orgID == "" {
		orgID = p.User.OrgID
	}
	if orgID == "" {
		v.Add("org_id", "required")
	} else {
		o, err := s.orgs.Org(ctx, p.Scope(), orgID)
		switch {
		case errors.Is(err, ErrNotFound):
			// Another bureau's unit is not there for the caller at all.
			return Task{}, Fail(op, KindNotFound, "not_found", err)
		case err != nil:
			return Task{}, fmt.Errorf("%s: %w", op, err)
		case o.Kind != OrgDistrict && o.Kind != OrgCity:
			v.Add("org_id", "bureau")
		default:
			t.OrgID, t.OrgPath = o.ID, o.Path
		}
	}
	if t.OrgID != "" {
		targets, err := s.resolveTargets(ctx, t.OrgID, in.SchoolIDs, t.Stages, &v)
		if err != nil {
			return Task{}, fmt.Errorf("%s: %w", op, err)
		}
		t.SchoolIDs = targets
	}
	if err := v.Err(op); err != nil {
		return Task{}, err
	}
	now := s.now().UTC()
	t.ID, t.CreatedBy, t.CreatedAt, t.Version = NewID(now), p.User.ID, now, 1
	if err := s.store.CreateTask(ctx, t); err != nil {
		return Task{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

func checkNote(v *Validation, note string) {
	if len([]rune(note)) > MaxTaskNote {
		v.Add("note", "max_length", "max", MaxTaskNote)
	}
}

// checkTemplates validates the template keys and keeps them on t.
func (s *Tasks) checkTemplates(ctx context.Context, p Principal, keys []string, v *Validation, t *Task) error {
	switch {
	case len(keys) == 0:
		v.Add("templates", "required")
		return nil
	case len(keys) > MaxTaskTemplates:
		v.Add("templates", "too_many", "max", MaxTaskTemplates)
		return nil
	}
	view := ViewOf(p)
	for i, k := range keys {
		field := fmt.Sprintf("templates[%d]", i)
		k = strings.TrimSpace(k)
		if k == "" {
			v.Add(field, "required")
			continue
		}
		if slices.Contains(t.Templates, k) {
			v.Add(field, "duplicate")
			continue
		}
		tm, err := s.templates.Template(ctx, view, k)
		switch {
		case errors.Is(err, ErrNotFound):
			v.Add(field, "not_found")
		case err != nil:
			return err
		case !tm.Active:
			v.Add(field, "inactive")
		case !slices.Contains(tm.Levels, OrgSchool):
			v.Add(field, "not_applicable")
		default:
			t.Templates = append(t.Templates, k)
		}
	}
	return nil
}

// resolveTargets returns the target schools: the explicit list (each a
// school under orgID), else every school under orgID teaching one of
// stages, else every school under orgID.
func (s *Tasks) resolveTargets(ctx context.Context, orgID string, ids, stages []string, v *Validation) ([]string, error) {
	scope := ScopeOrg(orgID)
	if len(ids) > 0 {
		if len(ids) > MaxTaskTargets {
			v.Add("school_ids", "too_many", "max", MaxTaskTargets)
			return nil, nil
		}
		seen := make(map[string]bool, len(ids))
		out := make([]string, 0, len(ids))
		for i, id := range ids {
			field := fmt.Sprintf("school_ids[%d]", i)
			id = strings.TrimSpace(id)
			if seen[id] {
				v.Add(field, "duplicate")
				continue
			}
			seen[id] = true
			if id == "" {
				v.Add(field, "required")
				continue
			}
			o, err := s.orgs.Org(ctx, scope, id)
			switch {
			case errors.Is(err, ErrNotFound):
				v.Add(field, "not_found")
			case err != nil:
				return nil, err
			case o.Kind != OrgSchool:
				v.Add(field, "not_school")
			default:
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out, nil
	}
	var out []string
	err := eachSchool(ctx, s.orgs, orgID, func(o Org) bool {
		if len(stages) > 0 && !slices.ContainsFunc(o.Stages, func(st string) bool { return slices.Contains(stages, st) }) {
			return true
		}
		out = append(out, o.ID)
		return len(out) <= MaxTaskTargets
	})
	switch {
	case err != nil:
		return nil, err
	case len(out) > MaxTaskTargets:
		v.Add("school_ids", "too_many", "max", MaxTaskTargets)
	case len(out) == 0:
		v.Add("school_ids", "no_schools")
	}
	return out, nil
}

// Get returns a task the caller may see: inside their scope, or one that
// targets their school.
func (s *Tasks) Get(ctx context.Context, p Principal, id string) (Task, error) {
	t, err := s.store.Task(ctx, p.Scope(), id)
	if err != nil {
		return Task{}, fmt.Errorf("tasks.get: %w", err)
	}
	return t, nil
}

// List returns one page of the tasks of the caller's bureau and the
// bureaus below it, newest first.
func (s *Tasks) List(ctx context.Context, p Principal, pg Page) ([]Task, error) {
	ts, err := s.store.Tasks(ctx, p.Scope(), pg.Normalize())
	if err != nil {
		return nil, fmt.Errorf("tasks.list: %w", err)
	}
	return ts, nil
}

// managed returns task id if p may follow its progress: an admin whose
// scope covers the task's bureau.
func (s *Tasks) managed(ctx context.Context, op string, p Principal, id string) (Task, error) {
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Task{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	t, err := s.store.Task(ctx, p.Scope(), id)
	if err == nil && !p.Scope().Covers(t.OrgPath) {
		err = ErrNotFound
	}
	if err != nil {
		return Task{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

// Progress computes where every target school stands, and the reporting
// and timeliness rates of the task and of each district.
func (s *Tasks) Progress(ctx context.Context, p Principal, id string) (TaskProgress, error) {
	const op = "tasks.progress"
	t, err := s.managed(ctx, op, p, id)
	if err != nil {
		return TaskProgress{}, err
	}
	pr, err := s.progress(ctx, t)
	if err != nil {
		return TaskProgress{}, fmt.Errorf("%s: %w", op, err)
	}
	return pr, nil
}

// Missing returns one page of the target schools that are not complete,
// in school id order after pg.After: the list reminders go to.
func (s *Tasks) Missing(ctx context.Context, p Principal, id string, pg Page) ([]SchoolProgress, error) {
	const op = "tasks.missing"
	t, err := s.managed(ctx, op, p, id)
	if err != nil {
		return nil, err
	}
	pr, err := s.progress(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	pg = pg.Normalize()
	var out []SchoolProgress
	for _, sp := range pr.Schools {
		if sp.Complete || sp.SchoolID <= pg.After {
			continue
		}
		out = append(out, sp)
		if len(out) == pg.Limit {
			break
		}
	}
	return out, nil
}

// Mine returns one page of the tasks asking something of the caller's
// school, newest first, with the school's counts: every task due in the
// last month or later, and unfinished ones for half a year. The cursor
// of the next page is the id of the last task read (next), "" at the end;
// a page may hold fewer than pg.Limit tasks.
func (s *Tasks) Mine(ctx context.Context, p Principal, pg Page) (items []MyTask, next string, err error) {
	const op = "tasks.mine"
	if p.User.Role.OrgKind() != OrgSchool || p.User.OrgID == "" {
		return nil, "", nil
	}
	pg = pg.Normalize()
	today := s.now().In(s.loc)
	recent := today.AddDate(0, 0, -myTasksRecentDays).Format(dateLayout)
	from := today.AddDate(0, 0, -myTasksOverdueDays).Format(dateLayout)
	ts, err := s.store.TasksForSchool(ctx, p.User.OrgID, from, pg)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	school, err := s.orgs.Org(ctx, p.Scope(), p.User.OrgID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	items = []MyTask{}
	for _, t := range ts {
		counts, err := s.count(ctx, t, []string{p.User.OrgID})
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", op, err)
		}
		sp := s.judge(t, school, counts[p.User.OrgID])
		sp.SchoolID = p.User.OrgID
		if sp.Complete && t.DueOn < recent {
			continue
		}
		items = append(items, MyTask{Task: t, Progress: sp, Overdue: !sp.Complete && s.overdue(t)})
	}
	if len(ts) == pg.Limit {
		next = ts[len(ts)-1].ID
	}
	return items, next, nil
}

// deadline is the first instant after the due day.
func (s *Tasks) deadline(t Task) time.Time {
	d, err := time.ParseInLocation(dateLayout, t.DueOn, s.loc)
	if err != nil {
		return time.Time{}
	}
	return d.AddDate(0, 0, 1)
}

func (s *Tasks) overdue(t Task) bool { return !s.now().Before(s.deadline(t)) }

// tally is what one school filed for a task.
type tally struct {
	submitted, approved, returned int
	// times are when the counted (submitted or approved) records were
	// submitted.
	times []time.Time
}

// count reads the records of t's templates in its period for the schools
// and tallies them by school. Drafts and withdrawn records do not count.
func (s *Tasks) count(ctx context.Context, t Task, schools []string) (map[string]*tally, error) {
	targets := make(map[string]bool, len(schools))
	for _, id := range schools {
		targets[id] = true
	}
	roots := schools
	if len(schools) > perSchoolQueries {
		roots = []string{t.OrgID}
	}
	out := make(map[string]*tally, len(schools))
	for _, root := range roots {
		for _, tmpl := range t.Templates {
			// Bulk reads: pages of MaxBulkLimit with the columns counted.
			q := RecordQuery{OrgID: root, Template: tmpl, From: t.From, To: t.To, Limit: MaxBulkLimit, Bulk: true}
			for {
				rs, err := s.records.Records(ctx, ScopeOrg(root), q)
				if err != nil {
					return nil, err
				}
				for _, r := range rs {
					if !targets[r.OrgID] {
						continue
					}
					c := out[r.OrgID]
					if c == nil {
						c = &tally{}
						out[r.OrgID] = c
					}
					switch r.Status {
					case StatusSubmitted:
						c.submitted++
					case StatusApproved:
						c.approved++
					case StatusReturned:
						c.returned++
						continue
					default:
						continue
					}
					at := r.SubmittedAt
					if at.IsZero() {
						at = r.CreatedAt
					}
					c.times = append(c.times, at)
				}
				if len(rs) < q.Limit {
					break
				}
				q.After = RecordCursor{ID: rs[len(rs)-1].ID}
			}
		}
	}
	return out, nil
}

// judge turns a school's tally into its progress on t.
func (s *Tasks) judge(t Task, school Org, c *tally) SchoolProgress {
	sp := SchoolProgress{SchoolID: school.ID, SchoolName: school.Name, DistrictID: school.ParentID, Needed: t.MinPerSchool}
	if c == nil {
		return sp
	}
	sp.Submitted, sp.Approved, sp.Returned = c.submitted, c.approved, c.returned
	sp.Done = c.submitted + c.approved
	if sp.Done >= sp.Needed && sp.Needed > 0 {
		times := slices.Clone(c.times)
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		sp.Complete = true
		sp.CompletedAt = times[sp.Needed-1]
		sp.OnTime = sp.CompletedAt.Before(s.deadline(t))
	}
	return sp
}

// progress computes t's progress over all its targets.
func (s *Tasks) progress(ctx context.Context, t Task) (TaskProgress, error) {
	names := map[string]Org{}
	targets := make(map[string]bool, len(t.SchoolIDs))
	for _, id := range t.SchoolIDs {
		targets[id] = true
	}
	// Schools and districts under the task's bureau, for names and
	// districts (units deleted since keep their id only).
	q := OrgQuery{Page: Page{Limit: MaxLimit}}
	for {
		list, err := s.orgs.Orgs(ctx, ScopeOrg(t.OrgID), q)
		if err != nil {
			return TaskProgress{}, err
		}
		for _, o := range list {
			if o.Kind != OrgSchool || targets[o.ID] {
				names[o.ID] = o
			}
		}
		if len(list) < q.Limit {
			break
		}
		q.After = list[len(list)-1].ID
	}
	counts, err := s.count(ctx, t, t.SchoolIDs)
	if err != nil {
		return TaskProgress{}, err
	}
	pr := TaskProgress{Task: t, AsOf: s.now().UTC(), Overdue: s.overdue(t)}
	pr.Total = Rates{OrgID: t.OrgID, OrgName: names[t.OrgID].Name}
	districts := map[string]*Rates{}
	for _, id := range t.SchoolIDs {
		school, ok := names[id]
		if !ok {
			school = Org{ID: id}
		}
		sp := s.judge(t, school, counts[id])
		sp.SchoolID = id
		pr.Schools = append(pr.Schools, sp)
		d := districts[sp.DistrictID]
		if d == nil {
			d = &Rates{OrgID: sp.DistrictID, OrgName: names[sp.DistrictID].Name}
			districts[sp.DistrictID] = d
		}
		for _, r := range []*Rates{&pr.Total, d} {
			r.Targets++
			if sp.Complete {
				r.Complete++
			}
			if sp.OnTime {
				r.OnTime++
			}
		}
	}
	slices.SortFunc(pr.Schools, func(a, b SchoolProgress) int { return cmp.Compare(a.SchoolID, b.SchoolID) })
	pr.Total.rates()
	for _, d := range districts {
		d.rates()
		pr.Districts = append(pr.Districts, *d)
	}
	slices.SortFunc(pr.Districts, func(a, b Rates) int { return cmp.Compare(a.OrgID, b.OrgID) })
	return pr, nil
}

// rates fills the rates from the counts (0 without targets).
func (r *Rates) rates() {
	r.ReportingRate, r.TimelinessRate = max(rate(r.Complete, r.Targets), 0), max(rate(r.OnTime, r.Targets), 0)
}
