package services

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Totals answers the figures of a work summary from pre-aggregated cells:
// counts and sums of approved (or submitted) records for an org unit and
// a period, grouped the way the bureau asks.
type Totals struct {
	cells     TotalsStore
	records   RecordStore
	templates TemplateStore
	orgs      OrgStore
	cal       Calendar
	now       Clock
	loc       *time.Location
}

// NewTotals returns the totals service; "this school year" and dates are
// judged in loc.
func NewTotals(cells TotalsStore, records RecordStore, templates TemplateStore, orgs OrgStore, cal Calendar, now Clock, loc *time.Location) *Totals {
	if loc == nil {
		loc = time.UTC
	}
	return &Totals{cells: cells, records: records, templates: templates, orgs: orgs, cal: cal, now: now, loc: loc}
}

// Group-by keys besides the period buckets and dimension keys.
const (
	GroupOrg      = "org"
	GroupTemplate = "template"
)

// Limits on a totals query.
const (
	maxTotalsTemplates = 20
	maxTotalsGroupBy   = 4
	// maxTotalsFilters bounds the dimension filter: keys, and values of
	// one key.
	maxTotalsFilters     = 8
	maxTotalsFilterValue = 20
	maxTotalsYears       = 10
	// maxTotalsRows bounds an answer; finer grouping than this is a
	// records export, not a total.
	maxTotalsRows = 5000
)

// TotalsQuery asks for totals; OrgID "" is the caller's unit, and neither
// Period nor From/To is the current school year.
type TotalsQuery struct {
	OrgID     string
	Period    string
	From      string
	To        string
	Templates []string
	// Statuses is approved unless submitted is asked for too.
	Statuses []RecordStatus
	GroupBy  []string
	// Authors asks for distinct authors and staff coverage per row (not
	// with dimension keys).
	Authors bool
	// Filter keeps the records with these dimension values:
	// "level:市级,category:优秀班主任", several values of a key joined by
	// "|" ("kind:消防|地震"); an empty value is a record leaving the key
	// out. Templates without such a dimension drop out.
	Filter string
	// Compare "previous" adds the previous period of the same kind to
	// every row, and the change (Calendar.Previous; from/to ranges one
	// year back).
	Compare string
}

// CompareTo are the values of compare.
const ComparePrevious = "previous"

// TotalsRow is one group of records.
type TotalsRow struct {
	// Keys has one entry per group_by key; a dimension a record leaves
	// out is "".
	Keys  map[string]string
	Count int64
	// Sums are the measures of the records, by field key.
	Sums map[string]float64
	// Schools is how many schools contributed; SchoolsTotal is how many
	// schools the row's unit has, so Schools/SchoolsTotal is the share of
	// schools that did it at least once.
	Schools      int
	SchoolsTotal int
	// Authors is the number of distinct authors, -1 when rows are split
	// by dimension (authors are counted per unit, template and month).
	// Staff is the row's unit's staff headcount.
	Authors int
	Staff   int
	// People counts the distinct persons of each people field of the
	// row's template (teacher_training.trainees), Distinct the distinct
	// values of each text field counted distinct; nil when rows are split
	// by dimension.
	People   map[string]int
	Distinct map[string]int
	// Covered is the staff the row covers: the persons of the template's
	// first people field when its records name any, else the distinct
	// authors (-1 when neither is known).
	Covered int
	// Filter lists the records behind the row (GET /records).
	Filter RecordFilter
	// OrgName names the org key's unit and TemplateName (NameEN) the
	// template key's template; "" when the row has no such key or the
	// caller may not see it.
	OrgName        string
	TemplateName   string
	TemplateNameEN string
	// Labels (LabelsEN) has the option label of each dimension key's
	// value, the value itself where no template offers a label; keys
	// left out by the records have none.
	Labels   map[string]string
	LabelsEN map[string]string
	// Previous is the row's figures in the previous period (zero when it
	// had no records) and Change what moved since, with compare=previous.
	Previous *PriorRow
	Change   *RowChange
}

// PriorRow is a row's figures in the period compared with.
type PriorRow struct {
	Count    int64
	Sums     map[string]float64
	Schools  int
	People   map[string]int
	Distinct map[string]int
	// SchoolRate and StaffRate are -1 when unknown, as TotalsRow's.
	SchoolRate float64
	StaffRate  float64
	Filter     RecordFilter
}

// RowChange is this period's figures less the previous period's: counts
// and sums, and rates in fraction points (0.09 is 9 percentage points;
// NaN when either rate is unknown). CountGrowth is the relative change of
// the count (0.12 is 12% more), NaN without previous records.
type RowChange struct {
	Count       int64
	Sums        map[string]float64
	People      map[string]int
	Distinct    map[string]int
	SchoolRate  float64
	StaffRate   float64
	CountGrowth float64
}

// SchoolRate is Schools/SchoolsTotal, or -1 without schools.
func (r TotalsRow) SchoolRate() float64 { return rate(r.Schools, r.SchoolsTotal) }

// StaffRate is Covered/Staff (the share of staff trained, 培训覆盖率:
// distinct trainees, else distinct authors, over the staff headcount),
// or -1 when either is unknown.
func (r TotalsRow) StaffRate() float64 {
	if r.Covered < 0 {
		return -1
	}
	return rate(r.Covered, r.Staff)
}

// rate is n/of, the one scale of every *_rate huizong answers: a
// fraction (1 is 100%) rounded to 4 decimals; -1 when of is not positive.
func rate(n, of int) float64 {
	if of <= 0 {
		return -1
	}
	return math.Round(float64(n)/float64(of)*10000) / 10000
}

// RecordFilter is a record list query in URL form.
type RecordFilter struct {
	OrgID    string
	Template string
	From     string
	To       string
	Statuses []RecordStatus
	// Data holds dimension values ("" for left out).
	Data map[string]string
}

// Query is the filter as a query string for GET /api/v1/records.
func (f RecordFilter) Query() string {
	v := url.Values{}
	v.Set("org_id", f.OrgID)
	if f.Template != "" {
		v.Set("template", f.Template)
	}
	v.Set("from", f.From)
	v.Set("to", f.To)
	st := make([]string, len(f.Statuses))
	for i, s := range f.Statuses {
		st[i] = string(s)
	}
	v.Set("status", strings.Join(st, ","))
	for k, val := range f.Data {
		v.Set("data."+k, val)
	}
	return v.Encode()
}

// TotalsReport is the answer to a totals query.
type TotalsReport struct {
	Org      Org
	From     string
	To       string
	Period   string
	Statuses []RecordStatus
	// GroupBy is what rows are keyed by: as asked, with template added
	// when the query does not name exactly one template (rows never mix
	// templates: two templates' "students" are different figures).
	GroupBy []string
	// Filter is the dimension filter, by key.
	Filter map[string][]string
	// Previous is the period compared with (compare=previous).
	Previous *Period
	Rows     []TotalsRow
	// Measures names the measure fields in Sums, with labels from the
	// newest template version that has them.
	Measures []MeasureInfo
}

// MeasureInfo labels a measure key.
type MeasureInfo struct {
	Template string
	Key      string
	Label    string
	LabelEN  string
	Unit     string
}

// span is a validated totals query.
type span struct {
	org       Org
	from, to  string
	period    string
	templates []string
	statuses  []RecordStatus
	groupBy   []string
	buckets   map[string]Bucket // group key -> bucket
	dims      []string          // dimension keys grouped by, in order
	filter    map[string][]string
	// today bounds the buckets stocks are carried into.
	today string
	// compare asks for prev, the period compared with, too.
	compare bool
	prev    Period
	tmpls   map[string]Template
	authors bool
	// distinct are the kinds of cell counted by distinct value: authors
	// when asked, and every distinct measure of the templates (when rows
	// are not split by dimension).
	distinct []string
}

// Get answers q for p: principals their school, district and city admins
// their unit and every unit below it. Teachers see their own records, not
// totals.
func (s *Totals) Get(ctx context.Context, p Principal, q TotalsQuery) (TotalsReport, error) {
	const op = "totals.get"
	if p.User.Role == RoleTeacher {
		return TotalsReport{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	sp, err := s.check(ctx, op, p, q)
	if err != nil {
		return TotalsReport{}, err
	}
	schools, err := s.schoolsUnder(ctx, sp.org)
	if err != nil {
		return TotalsReport{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := s.profileHeadcounts(ctx, p, sp.org, sp.to, schools); err != nil {
		return TotalsReport{}, fmt.Errorf("%s: %w", op, err)
	}
	agg, rows, err := s.rows(ctx, op, p, sp, schools)
	if err != nil {
		return TotalsReport{}, err
	}
	rep := TotalsReport{Org: sp.org, From: sp.from, To: sp.to, Period: sp.period, Statuses: sp.statuses,
		GroupBy: sp.groupBy, Filter: sp.filter, Measures: measuresOf(sp.tmpls)}
	if sp.compare {
		prev := sp
		prev.period, prev.from, prev.to = sp.prev.ID, sp.prev.From, sp.prev.To
		_, prevRows, err := s.rows(ctx, op, p, prev, schools)
		if err != nil {
			return TotalsReport{}, err
		}
		rows = agg.compare(rows, prevRows, prev)
		rep.Previous = &sp.prev
	}
	if err := s.name(ctx, p, sp, rows, schools); err != nil {
		return TotalsReport{}, fmt.Errorf("%s: %w", op, err)
	}
	rep.Rows = rows
	return rep, nil
}

// rows works out the rows of sp.
func (s *Totals) rows(ctx context.Context, op string, p Principal, sp span, schools []Org) (*aggregator, []TotalsRow, error) {
	agg := newAggregator(sp, s.cal)
	if err := s.collect(ctx, p, sp, agg); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if agg.err != nil {
		return nil, nil, agg.err
	}
	if len(agg.rows) > maxTotalsRows {
		var v Validation
		v.Add("group_by", "too_many_rows", "max", maxTotalsRows)
		return nil, nil, v.Err(op)
	}
	return agg, agg.result(schools), nil
}

// name fills in the names beside the ids of rows: org names from the
// queried unit, its schools and (when a row's unit is none of them) one
// listing of its child units, all inside p's scope; template names and
// dimension labels from the templates p may see.
func (s *Totals) name(ctx context.Context, p Principal, sp span, rows []TotalsRow, schools []Org) error {
	if slices.Contains(sp.groupBy, GroupOrg) {
		orgs := map[string]string{sp.org.ID: sp.org.Name}
		for _, o := range schools {
			orgs[o.ID] = o.Name
		}
		missing := false
		for _, r := range rows {
			if _, ok := orgs[r.Keys[GroupOrg]]; !ok {
				missing = true
			}
		}
		if missing {
			q := OrgQuery{ParentID: sp.org.ID, Page: Page{Limit: MaxLimit}}
			for {
				list, err := s.orgs.Orgs(ctx, p.Scope(), q)
				if err != nil {
					return err
				}
				for _, o := range list {
					orgs[o.ID] = o.Name
				}
				if len(list) < q.Limit {
					break
				}
				q.After = list[len(list)-1].ID
			}
		}
		for i := range rows {
			rows[i].OrgName = orgs[rows[i].Keys[GroupOrg]]
		}
	}
	// Templates in key order, so a label two templates give differently
	// is always the same one.
	keys := make([]string, 0, len(sp.tmpls))
	for k := range sp.tmpls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i := range rows {
		r := &rows[i]
		if key, ok := r.Keys[GroupTemplate]; ok {
			if t, ok := sp.tmpls[key]; ok {
				r.TemplateName, r.TemplateNameEN = t.Name, t.NameEN
			}
		}
		for _, d := range sp.dims {
			val := r.Keys[d]
			if val == "" {
				continue
			}
			if r.Labels == nil {
				r.Labels, r.LabelsEN = map[string]string{}, map[string]string{}
			}
			r.Labels[d] = val
			// The row's own template first, then any that has the value.
			cands := keys
			if key, ok := r.Keys[GroupTemplate]; ok {
				cands = append([]string{key}, keys...)
			}
			for _, key := range cands {
				if o, ok := optionOf(sp.tmpls[key], d, val); ok {
					r.Labels[d] = o.Label
					if o.LabelEN != "" {
						r.LabelsEN[d] = o.LabelEN
					}
					break
				}
			}
		}
	}
	return nil
}

// optionOf finds the option val of t's dimension field d.
func optionOf(t Template, d, val string) (Option, bool) {
	f, ok := t.Field(d)
	if !ok || f.Role != RoleDimension {
		return Option{}, false
	}
	for _, o := range f.Options {
		if o.Value == val && o.Label != "" {
			return o, true
		}
	}
	return Option{}, false
}

// check validates q.
func (s *Totals) check(ctx context.Context, op string, p Principal, q TotalsQuery) (span, error) {
	var v Validation
	sp := span{period: strings.TrimSpace(q.Period), buckets: map[string]Bucket{}, tmpls: map[string]Template{}}
	orgID := strings.TrimSpace(q.OrgID)
	if orgID == "" {
		orgID = p.User.OrgID
	}
	if orgID == "" {
		v.Add("org_id", "required")
		return span{}, v.Err(op)
	}
	org, err := s.orgs.Org(ctx, p.Scope(), orgID)
	if err != nil {
		return span{}, fmt.Errorf("%s: %w", op, err)
	}
	sp.org = org
	from, to := strings.TrimSpace(q.From), strings.TrimSpace(q.To)
	switch {
	case sp.period != "" && (from != "" || to != ""):
		v.Add("period", "exclusive", "other", "from, to")
	case sp.period != "":
		pd, ok := s.cal.Parse(sp.period)
		if !ok {
			v.Add("period", "period")
		}
		sp.from, sp.to = pd.From, pd.To
	case from == "" && to == "":
		pd := s.cal.SchoolYearOf(s.now(), s.loc)
		sp.period, sp.from, sp.to = pd.ID, pd.From, pd.To
	default:
		sp.from, sp.to = from, to
		for field, d := range map[string]string{"from": from, "to": to} {
			if !validDate(d) {
				v.Add(field, "date")
			}
		}
		if validDate(from) && validDate(to) {
			a, _ := time.Parse(dateLayout, from)
			b, _ := time.Parse(dateLayout, to)
			switch {
			case b.Before(a):
				v.Add("to", "before_start")
			case b.After(a.AddDate(maxTotalsYears, 0, 0)):
				v.Add("to", "range_too_long", "max", maxTotalsYears)
			}
		}
	}
	sp.statuses = []RecordStatus{StatusApproved}
	if len(q.Statuses) > 0 {
		sp.statuses = nil
		for i, st := range q.Statuses {
			switch {
			case !Counts(st):
				v.Add(fmt.Sprintf("status[%d]", i), "enum", "options", "approved, submitted")
			case !slices.Contains(sp.statuses, st):
				sp.statuses = append(sp.statuses, st)
			}
		}
	}
	if len(q.Templates) > maxTotalsTemplates {
		v.Add("template", "too_many", "max", maxTotalsTemplates)
	}
	for i, key := range q.Templates {
		key = strings.TrimSpace(key)
		if _, dup := sp.tmpls[key]; dup {
			continue
		}
		t, err := s.templates.Template(ctx, ViewOf(p), key)
		switch {
		case errors.Is(err, ErrNotFound):
			v.Add(fmt.Sprintf("template[%d]", i), "not_found")
			continue
		case err != nil:
			return span{}, fmt.Errorf("%s: %w", op, err)
		}
		sp.tmpls[key] = t
		sp.templates = append(sp.templates, key)
	}
	if len(sp.tmpls) == 0 && len(q.Templates) == 0 {
		if err := s.visibleTemplates(ctx, p, sp.tmpls); err != nil {
			return span{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	if err := s.mergeExtensions(ctx, p, org, sp.tmpls); err != nil {
		return span{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(q.GroupBy) > maxTotalsGroupBy {
		v.Add("group_by", "too_many", "max", maxTotalsGroupBy)
	}
	seen := map[string]bool{}
	periodKeys := 0
	for i, g := range q.GroupBy {
		g = strings.TrimSpace(g)
		field := fmt.Sprintf("group_by[%d]", i)
		if seen[g] {
			continue
		}
		seen[g] = true
		switch b := Bucket(g); {
		case g == GroupOrg || g == GroupTemplate:
		case isBucket(b):
			sp.buckets[g] = b
			if periodKeys++; periodKeys > 1 {
				v.Add(field, "one_period")
			}
		case keyPattern.MatchString(g) && isDimension(sp.tmpls, g):
			sp.dims = append(sp.dims, g)
		default:
			v.Add(field, "unknown_group")
		}
		sp.groupBy = append(sp.groupBy, g)
	}
	// Rows never mix templates: without exactly one template named, the
	// template is part of every row's keys.
	if len(sp.templates) != 1 && !seen[GroupTemplate] {
		sp.groupBy = append(sp.groupBy, GroupTemplate)
	}
	sp.filter = parseDimFilter(&v, sp.tmpls, q.Filter)
	sp.today = s.now().In(s.loc).Format(dateLayout)
	switch q.Compare {
	case "":
	case ComparePrevious:
		sp.compare = true
		if pd, ok := s.cal.Previous(sp.period); ok && sp.period != "" {
			sp.prev = pd
		} else if from, to, ok := PreviousRange(sp.from, sp.to); ok {
			sp.prev = Period{From: from, To: to}
		} else if len(v.Fields()) == 0 {
			v.Add("compare", "no_previous")
		}
		if sp.prev.From != "" && sp.prev.From < minDate {
			v.Add("compare", "no_previous")
		}
	default:
		v.Add("compare", "enum", "options", ComparePrevious)
	}
	if q.Authors {
		if len(sp.dims) > 0 {
			v.Add("authors", "not_with_dimensions")
		}
		if len(sp.filter) > 0 {
			v.Add("authors", "exclusive", "other", "filter")
		}
		sp.authors = true
		sp.distinct = append(sp.distinct, DimAuthor)
	}
	// Distinct measures cost a query each: counted for the templates a
	// query names, not for an overview of every template.
	if len(sp.dims) == 0 && len(sp.filter) == 0 && len(sp.templates) > 0 {
		for _, key := range slices.Sorted(maps.Keys(sp.tmpls)) {
			for _, f := range sp.tmpls[key].Fields {
				if d := DistinctDim(f.Key); f.Distinct() && !slices.Contains(sp.distinct, d) {
					sp.distinct = append(sp.distinct, d)
				}
			}
		}
	}
	if err := v.Err(op); err != nil {
		return span{}, err
	}
	return sp, nil
}

// parseDimFilter reads a dimension filter ("level:市级,category:A|B"),
// adding what is wrong with it to v. Every key must be a dimension of one
// of tmpls.
func parseDimFilter(v *Validation, tmpls map[string]Template, s string) map[string][]string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	out := map[string][]string{}
	for _, part := range strings.Split(s, ",") {
		key, vals, ok := strings.Cut(strings.TrimSpace(part), ":")
		key = strings.TrimSpace(key)
		switch {
		case !ok || key == "":
			v.Add("filter", "filter_format")
			return nil
		case !keyPattern.MatchString(key) || !isDimension(tmpls, key):
			v.Add("filter", "filter_key", "key", truncateRunes(key, 64))
			return nil
		case out[key] != nil:
			v.Add("filter", "duplicate", "key", key)
			return nil
		}
		list := []string{}
		for _, val := range strings.Split(vals, "|") {
			if val = strings.TrimSpace(val); !slices.Contains(list, val) {
				list = append(list, val)
			}
		}
		if len(list) > maxTotalsFilterValue {
			v.Add("filter", "too_many", "max", maxTotalsFilterValue)
			return nil
		}
		out[key] = list
	}
	if len(out) > maxTotalsFilters {
		v.Add("filter", "too_many", "max", maxTotalsFilters)
		return nil
	}
	return out
}

// matches reports whether a combination of dimension values passes f.
func matches(f map[string][]string, combo map[string]string) bool {
	for k, vals := range f {
		if !slices.Contains(vals, combo[k]) {
			return false
		}
	}
	return true
}

// mergeExtensions merges into each template of m the extensions that
// reach org's figures: those of org's path, and for a city those of its
// districts (their own options and dimensions are the city's rows too).
func (s *Totals) mergeExtensions(ctx context.Context, p Principal, org Org, m map[string]Template) error {
	exts, ok := s.templates.(ExtensionStore)
	if !ok || len(m) == 0 {
		return nil
	}
	owners := slices.Clone(org.Path)
	if org.Kind == OrgCity {
		q := OrgQuery{ParentID: org.ID, Page: Page{Limit: MaxLimit}}
		for {
			list, err := s.orgs.Orgs(ctx, p.Scope(), q)
			if err != nil {
				return err
			}
			for _, o := range list {
				owners = append(owners, o.ID)
			}
			if len(list) < MaxLimit {
				break
			}
			q.Page.After = list[len(list)-1].ID
		}
	}
	for key, t := range m {
		list, err := exts.Extensions(ctx, key, owners)
		if err != nil {
			return err
		}
		m[key] = Merge(t, list)
	}
	return nil
}

// visibleTemplates loads every template p may see into m.
func (s *Totals) visibleTemplates(ctx context.Context, p Principal, m map[string]Template) error {
	return visibleTemplates(ctx, s.templates, p, m)
}

// visibleTemplates loads every template of store p may see into m.
func visibleTemplates(ctx context.Context, store TemplateStore, p Principal, m map[string]Template) error {
	q := TemplateQuery{Page: Page{Limit: MaxLimit}}
	for {
		list, err := store.Templates(ctx, ViewOf(p), q)
		if err != nil {
			return err
		}
		for _, t := range list {
			m[t.Key] = t
		}
		if len(list) < MaxLimit {
			return nil
		}
		q.After = list[len(list)-1].Key
	}
}

func isDimension(tmpls map[string]Template, key string) bool {
	for _, t := range tmpls {
		if f, ok := t.Field(key); ok && f.Role == RoleDimension {
			return true
		}
	}
	return false
}

func measuresOf(tmpls map[string]Template) []MeasureInfo {
	var out []MeasureInfo
	for _, t := range tmpls {
		for _, f := range t.Fields {
			if f.Role == RoleMeasure {
				out = append(out, MeasureInfo{Template: t.Key, Key: f.Key, Label: f.Label, LabelEN: f.LabelEN, Unit: f.Unit})
			}
		}
	}
	// By template, each template's measures in its own order (as a sheet
	// reads them).
	slices.SortStableFunc(out, func(a, b MeasureInfo) int { return strings.Compare(a.Template, b.Template) })
	return out
}

// monthSplit divides [from, to] into whole months (fromMonth..toMonth,
// empty when none) and up to two partial edges read from records.
func monthSplit(from, to string) (fromMonth, toMonth string, edges [][2]string) {
	a, _ := time.Parse(dateLayout, from)
	b, _ := time.Parse(dateLayout, to)
	first := time.Date(a.Year(), a.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !a.Equal(first) {
		first = first.AddDate(0, 1, 0)
		edgeEnd := first.AddDate(0, 0, -1)
		if b.Before(edgeEnd) {
			return "", "", [][2]string{{from, to}}
		}
		edges = append(edges, [2]string{from, edgeEnd.Format(dateLayout)})
	}
	// last is the first day of the month after the last whole month.
	last := time.Date(b.Year(), b.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !b.Equal(last.AddDate(0, 1, -1)) {
		if !last.Before(first) {
			edges = append(edges, [2]string{last.Format(dateLayout), to})
		}
	} else {
		last = last.AddDate(0, 1, 0)
	}
	if last.After(first) {
		fromMonth, toMonth = first.Format("2006-01"), last.AddDate(0, -1, 0).Format("2006-01")
	}
	return fromMonth, toMonth, edges
}

// collect feeds agg with the cells of whole months, summed by the store
// into the answer's rows, and the records of partial ones. When groups
// must be merged here (partial months, several dimensions) the store
// keeps units and authors apart, so distinct schools and authors stay
// exact.
func (s *Totals) collect(ctx context.Context, p Principal, sp span, agg *aggregator) error {
	fromMonth, toMonth, edges := monthSplit(sp.from, sp.to)
	agg.merge = len(edges) > 0 || len(sp.dims) > 1 || len(sp.filter) > 0
	q := CellQuery{OrgPath: sp.org.Path, Templates: sp.templates, Statuses: sp.statuses, FromMonth: fromMonth,
		ToMonth: toMonth, Dim: agg.dim, ByTemplate: slices.Contains(sp.groupBy, GroupTemplate),
		ByMonth: agg.bucket != "", Buckets: agg.buckets, ByValue: len(sp.dims) > 0 || len(sp.filter) > 0}
	switch {
	case agg.merge:
		q.ByOrg = OrgLeaf
	case slices.Contains(sp.groupBy, GroupOrg):
		q.ByOrg = OrgChild
	}
	if fromMonth != "" {
		if err := s.cells.Cells(ctx, p.Scope(), q, func(g CellGroup) error {
			agg.add(g, "")
			return nil
		}); err != nil {
			return err
		}
		// Distinct counts (authors, people) read their own cells, kept
		// apart by value when groups are merged here.
		for _, dim := range sp.distinct {
			q.Dim, q.ByValue = dim, agg.merge
			if err := s.cells.Cells(ctx, p.Scope(), q, func(g CellGroup) error {
				agg.add(g, dim)
				return nil
			}); err != nil {
				return err
			}
		}
	}
	if err := s.collectStocks(ctx, p, sp, agg); err != nil {
		return err
	}
	for _, e := range edges {
		if err := s.collectRecords(ctx, p, sp, e[0], e[1], func(c Cell) {
			g := CellGroup{OrgID: c.OrgID, OrgPath: c.OrgPath, School: c.School, Template: c.Template,
				Bucket: agg.buckets[c.Month], Value: c.Value, Count: c.Count, Sums: c.Sums}
			switch {
			case c.Dim == agg.dim:
				agg.add(g, "")
			case slices.Contains(sp.distinct, c.Dim):
				agg.add(g, c.Dim)
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// ProfileTemplate is the built-in school profile whose latest students
// and staff replace a school's headcounts as denominators.
const ProfileTemplate = "school_profile"

// profileHeadcounts sets the Students and Staff of schools (under org) to
// their latest approved school profile up to the day to, when they have
// one (a school of several stages: the stages' profiles summed).
func (s *Totals) profileHeadcounts(ctx context.Context, p Principal, org Org, to string, schools []Org) error {
	if len(schools) == 0 {
		return nil
	}
	tmpl, err := s.templates.Template(ctx, ViewOf(p), ProfileTemplate)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !tmpl.HasStock() {
		return nil // a deployment changed it into something else
	}
	// A profile older than two years no longer describes the school.
	q := CellQuery{OrgPath: org.Path, Templates: []string{ProfileTemplate}, Statuses: []RecordStatus{StatusApproved},
		FromMonth: profileLookback(to), ToMonth: to[:7], Dim: DimLast, ByOrg: OrgLeaf, ByTemplate: true, ByValue: true}
	latest := map[string]map[string]stockEntry{} // school -> combo -> latest
	if err := s.cells.Cells(ctx, p.Scope(), q, func(g CellGroup) error {
		day, id, dims := ParseLastValue(g.Value)
		if day > to {
			return nil
		}
		e := stockEntry{g: g, day: day, id: id, dims: dims}
		combo := ComboValue(dims)
		if latest[g.OrgID] == nil {
			latest[g.OrgID] = map[string]stockEntry{}
		}
		if cur, ok := latest[g.OrgID][combo]; !ok || cur.day+"\x00"+cur.id < day+"\x00"+id {
			latest[g.OrgID][combo] = e
		}
		return nil
	}); err != nil {
		return err
	}
	for i, sc := range schools {
		stages, ok := latest[sc.ID]
		if !ok {
			continue
		}
		var students, staff int64
		for _, e := range stages {
			students += e.g.Sums["students"]
			staff += e.g.Sums["staff"]
		}
		schools[i].Students, schools[i].Staff = int(students/MeasureScale), int(staff/MeasureScale)
	}
	return nil
}

// profileLookback is the first month whose school profiles still count
// as headcounts on the day to: two years back.
func profileLookback(to string) string {
	t, err := time.Parse(dateLayout, to)
	if err != nil {
		return ""
	}
	return t.AddDate(-2, 0, 0).Format("2006-01")
}

// collectStocks reads the DimLast cells of the templates with stock
// measures, one per record (to the day, so partial months need no
// records), and settles the stocks into agg's rows.
func (s *Totals) collectStocks(ctx context.Context, p Principal, sp span, agg *aggregator) error {
	var templates []string
	fromMonth := sp.from[:7]
	for _, key := range slices.Sorted(maps.Keys(sp.tmpls)) {
		t := sp.tmpls[key]
		if !t.HasStock() {
			continue
		}
		templates = append(templates, key)
		for _, f := range t.Fields {
			if f.Stock() && f.Aggregation == AggregateState {
				fromMonth = "" // a state holds from any day before
			}
		}
	}
	if len(templates) == 0 {
		return nil
	}
	q := CellQuery{OrgPath: sp.org.Path, Templates: templates, Statuses: sp.statuses, FromMonth: fromMonth,
		ToMonth: sp.to[:7], Dim: DimLast, ByOrg: OrgLeaf, ByTemplate: true, ByValue: true}
	if err := s.cells.Cells(ctx, p.Scope(), q, func(g CellGroup) error {
		agg.addStock(g)
		return nil
	}); err != nil {
		return err
	}
	agg.settleStocks()
	return nil
}

// collectRecords works out the cells of the records in [from, to] one by
// one: what the cells would hold for those days.
func (s *Totals) collectRecords(ctx context.Context, p Principal, sp span, from, to string, fn func(Cell)) error {
	rollup := s.rollupFunc(ctx)
	templates := sp.templates
	if len(templates) == 0 {
		templates = []string{""}
	}
	for _, st := range sp.statuses {
		for _, key := range templates {
			q := RecordQuery{OrgID: sp.org.ID, Template: key, Status: st, From: from, To: to, Limit: MaxLimit}
			for {
				list, err := s.records.Records(ctx, p.Scope(), q)
				if err != nil {
					return err
				}
				for _, r := range list {
					ru, err := rollup(r)
					if err != nil {
						return err
					}
					for _, c := range ru.Cells() {
						fn(c)
					}
				}
				if len(list) < q.Limit {
					break
				}
				q.After = RecordCursor{ID: list[len(list)-1].ID}
			}
		}
	}
	return nil
}

// schoolsUnder lists the schools in org's subtree (org itself when it is
// one).
func (s *Totals) schoolsUnder(ctx context.Context, org Org) ([]Org, error) {
	if org.Kind == OrgSchool {
		return []Org{org}, nil
	}
	var out []Org
	err := eachSchool(ctx, s.orgs, org.ID, func(o Org) bool {
		out = append(out, o)
		return true
	})
	return out, err
}

// aggregator sums groups of cells into rows.
type aggregator struct {
	sp    span
	cal   Calendar
	dim   string // the kind of cell read
	depth int    // of the queried unit in the tree
	// bucket is the period bucket grouped by ("" for none) and buckets
	// maps every month of the query to its bucket id.
	bucket  Bucket
	buckets map[string]string
	// merge is set when several groups feed one row: distinct schools
	// and authors are then counted here from the units and authors.
	merge bool
	rows  map[string]*rowAcc
	// stocks are the records of templates with stock measures.
	stocks []stockEntry
	// err is the first sum that did not fit in int64 (TotalOverflow):
	// add has no error to return mid-scan, and Get refuses the answer
	// rather than report a wrapped total.
	err error
}

type rowAcc struct {
	keys    map[string]string
	orgID   string // the unit the row is about
	count   int64
	sums    map[string]int64
	schools int
	// distinct counts the values of each distinct kind of cell (authors,
	// a people field), from the store or, when merging, from sets.
	distinct map[string]int
	// The sets counted when merging.
	schoolSet map[string]bool
	sets      map[string]map[string]bool
	// stock holds the stock measures (each unit's latest value, summed),
	// which replace their sums.
	stock map[string]int64
}

func newAggregator(sp span, cal Calendar) *aggregator {
	a := &aggregator{sp: sp, cal: cal, dim: DimAll, depth: len(sp.org.Path) - 1, rows: map[string]*rowAcc{}}
	switch {
	case len(sp.dims) > 1 || len(sp.filter) > 0:
		// A filter reads the cells of value combinations: each record is
		// in exactly one, with all its dimension values.
		a.dim = DimCombo
	case len(sp.dims) == 1:
		a.dim = sp.dims[0]
	}
	for _, b := range sp.buckets {
		a.bucket = b
	}
	if a.bucket != "" {
		a.buckets = map[string]string{}
		from, _ := time.Parse(dateLayout, sp.from)
		to, _ := time.Parse(dateLayout, sp.to)
		for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(to); m = m.AddDate(0, 1, 0) {
			month := m.Format("2006-01")
			a.buckets[month] = cal.Bucket(a.bucket, month)
		}
	}
	return a
}

// add adds a group of cells to its row: of sums with distinct "", else
// of that distinct kind (DimAuthor, a DistinctDim).
func (a *aggregator) add(g CellGroup, distinct string) {
	authors := distinct != ""
	var combo map[string]string
	if a.dim == DimCombo && !authors {
		combo = ParseCombo(g.Value)
		if !matches(a.sp.filter, combo) {
			return
		}
	}
	row := a.rowFor(g, combo, a.merge)
	switch {
	case authors && a.merge:
		if row.sets[distinct] == nil {
			row.sets[distinct] = map[string]bool{}
		}
		row.sets[distinct][g.Value] = true
	case authors:
		row.distinct[distinct] += g.Values
	default:
		row.count += g.Count
		for k, v := range g.Sums {
			sum, ok := AddFixed(row.sums[k], v)
			if !ok && a.err == nil {
				a.err = TotalOverflow("totals.get", k)
			}
			row.sums[k] = sum
		}
		if a.merge && g.School && g.Count > 0 {
			row.schoolSet[g.OrgID] = true
		} else if !a.merge {
			row.schools += g.Schools
		}
	}
}

// rowFor is the row g belongs to (made when new): its dimension values
// come from combo when given, else from g.Value; with leaf, g is one
// unit's (OrgPath set) and its row is that of the queried unit's child
// it lies under.
func (a *aggregator) rowFor(g CellGroup, combo map[string]string, leaf bool) *rowAcc {
	keys := make(map[string]string, len(a.sp.groupBy))
	orgID := a.sp.org.ID
	var b strings.Builder
	for _, key := range a.sp.groupBy {
		var val string
		switch {
		case key == GroupOrg:
			// The child unit of the queried one the group lies under,
			// or the queried unit itself for its own records.
			val = g.OrgID
			if leaf {
				val = a.sp.org.ID
				if len(g.OrgPath) > a.depth+1 {
					val = g.OrgPath[a.depth+1]
				}
			}
			orgID = val
		case key == GroupTemplate:
			val = g.Template
		case a.sp.buckets[key] != "":
			val = g.Bucket
		case combo != nil:
			val = combo[key]
		default:
			val = g.Value
		}
		keys[key] = val
		b.WriteString(val)
		b.WriteByte(0)
	}
	id := b.String()
	row, ok := a.rows[id]
	if !ok {
		row = &rowAcc{keys: keys, orgID: orgID, sums: map[string]int64{}, distinct: map[string]int{},
			schoolSet: map[string]bool{}, sets: map[string]map[string]bool{}}
		a.rows[id] = row
	}
	return row
}

// stockEntry is one record of a template with stock measures, from its
// DimLast cell.
type stockEntry struct {
	g    CellGroup
	day  string
	id   string
	dims map[string]string
}

// addStock keeps a DimLast cell group for stocks.
func (a *aggregator) addStock(g CellGroup) {
	day, id, dims := ParseLastValue(g.Value)
	if day > a.sp.to || !matches(a.sp.filter, dims) {
		return
	}
	a.stocks = append(a.stocks, stockEntry{g: g, day: day, id: id, dims: dims})
}

// settleStocks puts the stock measures into the rows: for each school
// (unit), template and combination of dimension values, the latest
// record's value (last: within the period; state: up to its end, from
// any day), at the end of the period or of each period bucket, summed
// over units into the rows. Rows that only stocks reach are made.
func (a *aggregator) settleStocks() {
	if len(a.stocks) == 0 {
		return
	}
	slices.SortFunc(a.stocks, func(x, y stockEntry) int {
		return strings.Compare(x.day+"\x00"+x.id, y.day+"\x00"+y.id)
	})
	type ident struct{ org, template, combo string }
	byIdent := map[ident][]stockEntry{}
	var order []ident
	for _, e := range a.stocks {
		k := ident{e.g.OrgID, e.g.Template, ComboValue(e.dims)}
		if _, ok := byIdent[k]; !ok {
			order = append(order, k)
		}
		byIdent[k] = append(byIdent[k], e)
	}
	// The ends the stocks are taken at: the period's, or each bucket's.
	type end struct{ bucket, to string }
	ends := []end{{"", a.sp.to}}
	if a.bucket != "" {
		ends = ends[:0]
		seen := map[string]bool{}
		for _, m := range slices.Sorted(maps.Keys(a.buckets)) {
			b := a.buckets[m]
			if seen[b] {
				continue
			}
			seen[b] = true
			// A bucket that has not begun has no state yet.
			if pd, ok := a.cal.Parse(b); ok && (a.sp.today == "" || pd.From <= a.sp.today) {
				ends = append(ends, end{b, min(pd.To, a.sp.to)})
			}
		}
	}
	for _, k := range order {
		entries := byIdent[k]
		tmpl := a.sp.tmpls[k.template]
		for _, e := range ends {
			// The latest entry at the end, for each window.
			var last, state *stockEntry
			for i := range entries {
				x := &entries[i]
				if x.day > e.to {
					break
				}
				state = x
				if x.day >= a.sp.from {
					last = x
				}
			}
			if state == nil {
				continue
			}
			g := state.g
			g.Bucket = e.bucket
			row := a.rowFor(g, state.dims, true)
			if row.stock == nil {
				row.stock = map[string]int64{}
			}
			for _, f := range tmpl.Fields {
				if !f.Stock() {
					continue
				}
				from := state
				if f.Aggregation == AggregateLast {
					from = last
				}
				v := int64(0)
				if from != nil {
					v = from.g.Sums[f.Key]
				}
				sum, ok := AddFixed(row.stock[f.Key], v)
				if !ok && a.err == nil {
					a.err = TotalOverflow("totals.get", f.Key)
				}
				row.stock[f.Key] = sum
			}
		}
	}
}

// result turns the sums into rows in key order, with coverage against
// schools (the schools under the queried unit).
func (a *aggregator) result(schools []Org) []TotalsRow {
	out := make([]TotalsRow, 0, len(a.rows))
	for _, r := range a.rows {
		if r.count == 0 && r.stock == nil {
			continue
		}
		row := TotalsRow{Keys: r.keys, Count: r.count, Sums: make(map[string]float64, len(r.sums)),
			Schools: r.schools + len(r.schoolSet), Authors: -1}
		for k, v := range r.sums {
			row.Sums[k] = float64(v) / MeasureScale
		}
		for k, v := range r.stock {
			row.Sums[k] = float64(v) / MeasureScale
		}
		count := func(dim string) int { return r.distinct[dim] + len(r.sets[dim]) }
		if a.sp.authors {
			row.Authors = count(DimAuthor)
		}
		tmpl := a.sp.tmpls[r.keys[GroupTemplate]]
		if len(a.sp.templates) == 1 {
			tmpl = a.sp.tmpls[a.sp.templates[0]]
		}
		row.Covered = row.Authors
		for _, f := range tmpl.Fields {
			if !f.Distinct() || !slices.Contains(a.sp.distinct, DistinctDim(f.Key)) {
				continue
			}
			n := count(DistinctDim(f.Key))
			if f.Type == FieldPeople {
				if row.People == nil {
					row.People = map[string]int{}
				}
				if len(row.People) == 0 && n > 0 {
					// Coverage counts the persons of the first people
					// field (trainees), not who filed the records, once
					// records name them.
					row.Covered = n
				}
				row.People[f.Key] = n
			} else {
				if row.Distinct == nil {
					row.Distinct = map[string]int{}
				}
				row.Distinct[f.Key] = n
			}
		}
		for _, sc := range schools {
			if slices.Contains(sc.Path, r.orgID) {
				row.SchoolsTotal++
				row.Staff += sc.Staff
			}
		}
		row.Filter = a.filter(r.keys, r.orgID)
		out = append(out, row)
	}
	a.sort(out)
	return out
}

// sort orders rows by their keys, in group_by order.
func (a *aggregator) sort(rows []TotalsRow) {
	slices.SortFunc(rows, func(x, y TotalsRow) int {
		for _, g := range a.sp.groupBy {
			if c := strings.Compare(x.Keys[g], y.Keys[g]); c != 0 {
				return c
			}
		}
		return 0
	})
}

// compare joins the rows of the previous period (prev, of span psp) to
// rows: a previous row joins the row with the same keys once its period
// keys are moved forward to this period (202409 to 202509 when 2025AY is
// compared with 2024AY). Rows only the previous period has are kept, with
// nothing this period.
func (a *aggregator) compare(rows, prev []TotalsRow, psp span) []TotalsRow {
	shift := monthsBetween(psp.from, a.sp.from)
	key := func(keys map[string]string) string {
		var b strings.Builder
		for _, g := range a.sp.groupBy {
			b.WriteString(keys[g])
			b.WriteByte(0)
		}
		return b.String()
	}
	at := make(map[string]int, len(rows))
	for i, r := range rows {
		at[key(r.Keys)] = i
	}
	for _, pr := range prev {
		keys := maps.Clone(pr.Keys)
		for g, b := range a.sp.buckets {
			keys[g] = a.cal.Bucket(b, shiftMonth(a.cal, keys[g], shift))
		}
		prior := &PriorRow{Count: pr.Count, Sums: pr.Sums, Schools: pr.Schools, People: pr.People, Distinct: pr.Distinct,
			SchoolRate: pr.SchoolRate(), StaffRate: pr.StaffRate(), Filter: pr.Filter}
		i, ok := at[key(keys)]
		if !ok {
			r := TotalsRow{Keys: keys, Sums: map[string]float64{}, Authors: -1, Covered: -1, SchoolsTotal: pr.SchoolsTotal,
				Staff: pr.Staff, Filter: a.filter(keys, pr.Filter.OrgID)}
			if pr.Authors >= 0 {
				r.Authors = 0
			}
			if pr.Covered >= 0 {
				r.Covered = 0
			}
			for k := range pr.People {
				if r.People == nil {
					r.People = map[string]int{}
				}
				r.People[k] = 0
			}
			for k := range pr.Distinct {
				if r.Distinct == nil {
					r.Distinct = map[string]int{}
				}
				r.Distinct[k] = 0
			}
			rows = append(rows, r)
			i = len(rows) - 1
			at[key(keys)] = i
		}
		rows[i].Previous = prior
	}
	for i := range rows {
		r := &rows[i]
		if r.Previous == nil {
			r.Previous = &PriorRow{Sums: map[string]float64{}, SchoolRate: -1, StaffRate: -1}
			if r.SchoolsTotal > 0 {
				r.Previous.SchoolRate = 0
			}
			if r.Covered >= 0 && r.Staff > 0 {
				r.Previous.StaffRate = 0
			}
		}
		r.Change = change(*r, *r.Previous)
	}
	a.sort(rows)
	return rows
}

// change is what moved from prev to r.
func change(r TotalsRow, prev PriorRow) *RowChange {
	c := &RowChange{Count: r.Count - prev.Count, Sums: map[string]float64{},
		SchoolRate: math.NaN(), StaffRate: math.NaN(), CountGrowth: math.NaN()}
	for k, v := range r.Sums {
		c.Sums[k] = roundSum(v - prev.Sums[k])
	}
	for k, v := range prev.Sums {
		if _, ok := r.Sums[k]; !ok {
			c.Sums[k] = roundSum(-v)
		}
	}
	diff := func(cur, old map[string]int) map[string]int {
		if cur == nil {
			return nil
		}
		out := make(map[string]int, len(cur))
		for k, n := range cur {
			out[k] = n - old[k]
		}
		return out
	}
	c.People, c.Distinct = diff(r.People, prev.People), diff(r.Distinct, prev.Distinct)
	if x, y := r.SchoolRate(), prev.SchoolRate; x >= 0 && y >= 0 {
		c.SchoolRate = roundRate(x - y)
	}
	if x, y := r.StaffRate(), prev.StaffRate; x >= 0 && y >= 0 {
		c.StaffRate = roundRate(x - y)
	}
	if prev.Count > 0 {
		c.CountGrowth = roundRate(float64(r.Count-prev.Count) / float64(prev.Count))
	}
	return c
}

// roundRate rounds a fraction to 4 decimals, the scale of every rate.
func roundRate(x float64) float64 { return math.Round(x*10000) / 10000 }

// roundSum rounds a difference of sums to the measure scale, so fixed
// point values subtract without float noise.
func roundSum(x float64) float64 { return math.Round(x*MeasureScale) / MeasureScale }

// monthsBetween is how many months from's month lies before to's.
func monthsBetween(from, to string) int {
	a, err1 := time.Parse(dateLayout, from)
	b, err2 := time.Parse(dateLayout, to)
	if err1 != nil || err2 != nil {
		return 0
	}
	return (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
}

// shiftMonth is the first month of period id moved n months on, as
// YYYY-MM ("" when id is no period).
func shiftMonth(cal Calendar, id string, n int) string {
	pd, ok := cal.Parse(id)
	if !ok {
		return ""
	}
	t, _ := time.Parse(dateLayout, pd.From)
	return t.AddDate(0, n, 0).Format("2006-01")
}

// filter is the record list behind a row of keys about unit orgID: the
// row's unit, template and dimension values, over the query's dates
// narrowed to the row's period.
func (a *aggregator) filter(keys map[string]string, orgID string) RecordFilter {
	f := RecordFilter{OrgID: orgID, From: a.sp.from, To: a.sp.to, Statuses: a.sp.statuses}
	if t, ok := keys[GroupTemplate]; ok {
		f.Template = t
	} else if len(a.sp.templates) == 1 {
		f.Template = a.sp.templates[0]
	}
	for g := range a.sp.buckets {
		if pd, ok := a.cal.Parse(keys[g]); ok {
			f.From, f.To = max(f.From, pd.From), min(f.To, pd.To)
		}
	}
	if len(a.sp.dims) > 0 || len(a.sp.filter) > 0 {
		f.Data = map[string]string{}
		// A filter of one value is a data.<key> filter of the record
		// list; one of several values has none (the list takes one).
		for k, vals := range a.sp.filter {
			if len(vals) == 1 {
				f.Data[k] = vals[0]
			}
		}
		for _, d := range a.sp.dims {
			f.Data[d] = keys[d]
		}
	}
	return f
}
