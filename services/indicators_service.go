package services

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
)

// Indicators defines indicators and works out their values from totals.
type Indicators struct {
	store     IndicatorStore
	templates TemplateStore
	orgs      OrgStore
	totals    *Totals
	now       Clock
}

// NewIndicators returns the indicator service.
func NewIndicators(store IndicatorStore, templates TemplateStore, orgs OrgStore, totals *Totals, now Clock) *Indicators {
	return &Indicators{store: store, templates: templates, orgs: orgs, totals: totals, now: now}
}

// EnsureBuiltins installs the built-in indicators not there yet.
func (s *Indicators) EnsureBuiltins(ctx context.Context) (int, error) {
	now := s.now().UTC()
	n := 0
	for _, ind := range BuiltinIndicators() {
		ind.CreatedAt, ind.UpdatedAt = now, now
		err := s.store.CreateIndicator(ctx, ind)
		switch {
		case errors.Is(err, ErrConflict):
		case err != nil:
			return n, fmt.Errorf("indicators.builtins: %s: %w", ind.Key, err)
		default:
			n++
		}
	}
	return n, nil
}

// IndicatorInput is a new indicator as a client sends it; Factor nil is 1.
type IndicatorInput struct {
	Key         string
	Name        string
	NameEN      string
	Description string
	Numerator   []string
	Denominator []string
	Factor      *float64
	Unit        string
	Decimals    *int
}

// Create defines an indicator owned by the caller's unit (district and
// city admins; sysadmins define deployment-wide ones). Every term is
// checked against the templates the caller sees: a bad one is 422 naming
// it (numerator[1]).
func (s *Indicators) Create(ctx context.Context, p Principal, in IndicatorInput) (Indicator, error) {
	const op = "indicators.create"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Indicator{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	var v Validation
	ind := Indicator{Key: strings.TrimSpace(in.Key), Name: CleanText(in.Name), NameEN: CleanText(in.NameEN),
		Description: CleanText(in.Description), Unit: CleanText(in.Unit), Factor: 1, Decimals: 2, Version: 1}
	switch {
	case ind.Key == "":
		v.Add("key", "required")
	case len(ind.Key) > MaxTemplateKeyBytes || !keyPattern.MatchString(ind.Key):
		v.Add("key", "key_format")
	}
	checkText(&v, "name", ind.Name, true, maxIndicatorName)
	checkText(&v, "name_en", ind.NameEN, false, maxIndicatorName)
	checkText(&v, "description", ind.Description, false, maxIndicatorDesc)
	checkText(&v, "unit", ind.Unit, false, maxUnit)
	if in.Factor != nil {
		if f := *in.Factor; math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > 1e6 {
			v.Add("factor", "range", "min", "0", "max", 1e6)
		}
		ind.Factor = *in.Factor
	}
	if in.Decimals != nil {
		if d := *in.Decimals; d < 0 || d > maxDecimals {
			v.Add("decimals", "range", "min", 0, "max", maxDecimals)
		}
		ind.Decimals = *in.Decimals
	}
	view := ViewOf(p)
	for _, side := range []struct {
		name  string
		terms []string
		out   *[]string
	}{{"numerator", in.Numerator, &ind.Numerator}, {"denominator", in.Denominator, &ind.Denominator}} {
		switch {
		case len(side.terms) == 0:
			v.Add(side.name, "required")
		case len(side.terms) > maxIndicatorTerms:
			v.Add(side.name, "too_many", "max", maxIndicatorTerms)
		}
		for i, raw := range side.terms {
			field := fmt.Sprintf("%s[%d]", side.name, i)
			t, ok := ParseTerm(raw)
			if !ok {
				v.Add(field, "term_format", "term", truncateRunes(raw, 64))
				continue
			}
			var tmpl Template
			found := false
			if t.Kind != TermOrg {
				var err error
				tmpl, err = s.templates.Template(ctx, view, t.Template)
				switch {
				case errors.Is(err, ErrNotFound):
				case err != nil:
					return Indicator{}, fmt.Errorf("%s: %w", op, err)
				default:
					found = true
				}
			}
			if code, args := checkTerm(t, tmpl, found); code != "" {
				v.Add(field, code, args...)
				continue
			}
			*side.out = append(*side.out, strings.TrimSpace(raw))
		}
	}
	if err := v.Err(op); err != nil {
		return Indicator{}, err
	}
	if p.User.OrgID != "" {
		o, err := s.orgs.Org(ctx, p.Scope(), p.User.OrgID)
		if err != nil {
			return Indicator{}, fmt.Errorf("%s: %w", op, err)
		}
		ind.OwnerID, ind.OwnerPath = o.ID, o.Path
	}
	now := s.now().UTC()
	ind.CreatedBy, ind.CreatedAt, ind.UpdatedAt = p.User.ID, now, now
	if err := s.store.CreateIndicator(ctx, ind); err != nil {
		if errors.Is(err, ErrConflict) {
			return Indicator{}, Invalid(op, Field("key", "taken"))
		}
		return Indicator{}, fmt.Errorf("%s: %w", op, err)
	}
	return ind, nil
}

// Get returns an indicator the caller can see.
func (s *Indicators) Get(ctx context.Context, p Principal, key string) (Indicator, error) {
	ind, err := s.store.Indicator(ctx, ViewOf(p), key)
	if err != nil {
		return Indicator{}, fmt.Errorf("indicators.get: %w", err)
	}
	return ind, nil
}

// List returns a page of the indicators the caller can see, in key order.
func (s *Indicators) List(ctx context.Context, p Principal, page Page) ([]Indicator, error) {
	list, err := s.store.Indicators(ctx, ViewOf(p), page.Normalize())
	if err != nil {
		return nil, fmt.Errorf("indicators.list: %w", err)
	}
	return list, nil
}

// ValuesQuery asks for an indicator's values: like a totals query, grouped
// by org and/or one period bucket.
type ValuesQuery struct {
	OrgID    string
	Period   string
	From     string
	To       string
	GroupBy  []string
	Compare  string
	Statuses []RecordStatus
}

// IndicatorTerm is one term's value in a row, with the totals query that
// gives it (a path under /api/v1/totals, "" for org figures).
type IndicatorTerm struct {
	Side      string // numerator or denominator
	Term      string
	Value     float64
	Previous  float64
	TotalsURL string
}

// IndicatorRow is an indicator's value for one group. Value is NaN when
// the denominator is 0.
type IndicatorRow struct {
	Keys        map[string]string
	OrgName     string
	Numerator   float64
	Denominator float64
	Value       float64
	// With compare=previous (HasPrevious): last period's, and the change.
	HasPrevious         bool
	PreviousNumerator   float64
	PreviousDenominator float64
	PreviousValue       float64
	Change              float64
	Terms               []IndicatorTerm
}

// IndicatorReport is an indicator's values.
type IndicatorReport struct {
	Indicator Indicator
	Org       Org
	Period    string
	From      string
	To        string
	Previous  *Period
	GroupBy   []string
	Rows      []IndicatorRow
}

// Values works out an indicator for a unit and a period: each template
// term is one totals query (as GET /api/v1/totals would answer it, so
// every number is traceable), org terms the unit's figures.
func (s *Indicators) Values(ctx context.Context, p Principal, key string, q ValuesQuery) (IndicatorReport, error) {
	const op = "indicators.values"
	if p.User.Role == RoleTeacher {
		return IndicatorReport{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	ind, err := s.Get(ctx, p, key)
	if err != nil {
		return IndicatorReport{}, err
	}
	var v Validation
	for i, g := range q.GroupBy {
		if g != GroupOrg && !isBucket(Bucket(g)) {
			v.Add(fmt.Sprintf("group_by[%d]", i), "indicator_group")
		}
	}
	if err := v.Err(op); err != nil {
		return IndicatorReport{}, err
	}
	type sideTerm struct {
		side string
		raw  string
		term Term
	}
	var terms []sideTerm
	for _, raw := range ind.Numerator {
		t, _ := ParseTerm(raw)
		terms = append(terms, sideTerm{"numerator", raw, t})
	}
	for _, raw := range ind.Denominator {
		t, _ := ParseTerm(raw)
		terms = append(terms, sideTerm{"denominator", raw, t})
	}
	rep := IndicatorReport{Indicator: ind, GroupBy: q.GroupBy}
	rows := map[string]*IndicatorRow{}
	var order []string
	rowOf := func(keys map[string]string) *IndicatorRow {
		id := ""
		for _, g := range q.GroupBy {
			id += keys[g] + "\x00"
		}
		r, ok := rows[id]
		if !ok {
			k := map[string]string{}
			for _, g := range q.GroupBy {
				k[g] = keys[g]
			}
			r = &IndicatorRow{Keys: k}
			rows[id] = r
			order = append(order, id)
		}
		return r
	}
	// One totals query per template and filter.
	reports := map[string]TotalsReport{}
	var base *TotalsReport
	for _, st := range terms {
		if st.term.Kind == TermOrg {
			continue
		}
		tq := TotalsQuery{OrgID: q.OrgID, Period: q.Period, From: q.From, To: q.To, Templates: []string{st.term.Template},
			GroupBy: q.GroupBy, Filter: st.term.totalsFilter(), Compare: q.Compare, Statuses: q.Statuses}
		id := st.term.Template + "\x00" + tq.Filter
		tr, ok := reports[id]
		if !ok {
			tr, err = s.totals.Get(ctx, p, tq)
			if err != nil {
				return IndicatorReport{}, err
			}
			reports[id] = tr
		}
		if base == nil {
			base = &tr
		}
		link := "/api/v1/totals?" + tq.Encode()
		for _, tr := range tr.Rows {
			r := rowOf(tr.Keys)
			if r.OrgName == "" {
				r.OrgName = tr.OrgName
			}
			cur, prev := termValue(st.term, tr)
			r.Terms = append(r.Terms, IndicatorTerm{Side: st.side, Term: st.raw, Value: cur, Previous: prev, TotalsURL: link})
		}
	}
	if base == nil {
		// Only org terms: the period and unit still come from totals.
		tr, err := s.totals.Get(ctx, p, TotalsQuery{OrgID: q.OrgID, Period: q.Period, From: q.From, To: q.To,
			Templates: []string{ProfileTemplate}, GroupBy: q.GroupBy, Compare: q.Compare})
		if err != nil {
			return IndicatorReport{}, err
		}
		base = &tr
	}
	rep.Org, rep.Period, rep.From, rep.To, rep.Previous = base.Org, base.Period, base.From, base.To, base.Previous
	// Org terms: the figures of each row's unit (the same in every bucket),
	// read once whatever the number of org terms.
	byOrg := slices.Contains(q.GroupBy, GroupOrg)
	var figs map[string]UnitFigure
	for _, st := range terms {
		if st.term.Kind != TermOrg {
			continue
		}
		if figs == nil {
			if figs, err = s.totals.UnitFigures(ctx, p, base.Org, base.To, byOrg); err != nil {
				return IndicatorReport{}, fmt.Errorf("%s: %w", op, err)
			}
		}
		if byOrg && len(q.GroupBy) == 1 {
			// Every unit has a row, records or not: its figures count.
			for _, id := range sortedKeys(figs) {
				rowOf(map[string]string{GroupOrg: id})
			}
		} else if len(rows) == 0 && len(q.GroupBy) == 0 {
			rowOf(map[string]string{})
		}
		for _, id := range order {
			r := rows[id]
			unit := base.Org.ID
			if byOrg {
				unit = r.Keys[GroupOrg]
			}
			x := figs[unit].value(st.term)
			r.Terms = append(r.Terms, IndicatorTerm{Side: st.side, Term: st.raw, Value: x, Previous: x})
		}
	}
	for _, id := range order {
		r := rows[id]
		for _, t := range r.Terms {
			if t.Side == "numerator" {
				r.Numerator += t.Value
				r.PreviousNumerator += t.Previous
			} else {
				r.Denominator += t.Value
				r.PreviousDenominator += t.Previous
			}
		}
		r.Value = ind.value(r.Numerator, r.Denominator)
		if q.Compare != "" {
			r.HasPrevious = true
			r.PreviousValue = ind.value(r.PreviousNumerator, r.PreviousDenominator)
			r.Change = ind.round(r.Value - r.PreviousValue)
		}
		rep.Rows = append(rep.Rows, *r)
	}
	slices.SortFunc(rep.Rows, func(a, b IndicatorRow) int {
		for _, g := range q.GroupBy {
			if c := strings.Compare(a.Keys[g], b.Keys[g]); c != 0 {
				return c
			}
		}
		return 0
	})
	return rep, nil
}

func isBucket(b Bucket) bool {
	return b == BucketMonth || b == BucketQuarter || b == BucketSemester || b == BucketSchoolYear || b == BucketYear
}

// value is num/den × Factor rounded to Decimals, NaN without a denominator.
func (ind Indicator) value(num, den float64) float64 {
	if den == 0 {
		return math.NaN()
	}
	return ind.round(num / den * ind.Factor)
}

func (ind Indicator) round(x float64) float64 {
	p := math.Pow(10, float64(ind.Decimals))
	return math.Round(x*p) / p
}

// termValue is what a totals row says of a term, now and (with compare)
// in the previous period.
func termValue(t Term, r TotalsRow) (cur, prev float64) {
	pick := func(count int64, sums map[string]float64, people map[string]int, schools int) float64 {
		switch t.Kind {
		case TermRecords:
			return float64(count)
		case TermPeople:
			return float64(people[t.Key])
		case TermSchools:
			return float64(schools)
		}
		return sums[t.Key]
	}
	cur = pick(r.Count, r.Sums, r.People, r.Schools)
	if pr := r.Previous; pr != nil {
		prev = pick(pr.Count, pr.Sums, pr.People, pr.Schools)
	}
	return cur, prev
}

// Encode is q as the query string of GET /api/v1/totals (or, without
// templates and filter, of an indicator's values): the link that answers
// a figure.
func (q TotalsQuery) Encode() string {
	v := url.Values{}
	for k, val := range map[string]string{"org_id": q.OrgID, "period": q.Period, "from": q.From, "to": q.To,
		"filter": q.Filter, "compare": q.Compare} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if len(q.Templates) > 0 {
		v.Set("template", strings.Join(q.Templates, ","))
	}
	if len(q.GroupBy) > 0 {
		v.Set("group_by", strings.Join(q.GroupBy, ","))
	}
	return v.Encode()
}

// UnitFigure is what org terms read of a unit: its schools, and their
// students and staff (from the latest school profiles when there are).
type UnitFigure struct {
	Students int
	Staff    int
	Schools  int
	ByStage  map[string]int
}

func (f UnitFigure) value(t Term) float64 {
	switch t.Key {
	case OrgStudents:
		return float64(f.Students)
	case OrgStaff:
		return float64(f.Staff)
	}
	if stages := t.Filter["stage"]; stages != nil {
		n := 0
		for _, st := range stages {
			n += f.ByStage[st]
		}
		return float64(n)
	}
	return float64(f.Schools)
}

// UnitFigures sums the schools under org, with the headcounts standing on
// the day to, for org itself ("" with byChild false) or for each of its
// child units (and org, for schools right under it).
func (s *Totals) UnitFigures(ctx context.Context, p Principal, org Org, to string, byChild bool) (map[string]UnitFigure, error) {
	schools, err := s.schoolsUnder(ctx, org)
	if err != nil {
		return nil, err
	}
	if err := s.profileHeadcounts(ctx, p, org, to, schools); err != nil {
		return nil, err
	}
	out := map[string]UnitFigure{}
	depth := len(org.Path) - 1
	for _, sc := range schools {
		unit := org.ID
		if byChild && len(sc.Path) > depth+1 {
			unit = sc.Path[depth+1]
		}
		f := out[unit]
		if f.ByStage == nil {
			f.ByStage = map[string]int{}
		}
		f.Students += sc.Students
		f.Staff += sc.Staff
		f.Schools++
		for _, st := range sc.Stages {
			f.ByStage[st]++
		}
		out[unit] = f
	}
	return out, nil
}
