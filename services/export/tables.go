package export

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/huizong/huizong/services"
)

// StatTable is the statistics table (统计表) a bureau files upward: a row
// per school of a district (grouped under its stage, with a subtotal per
// stage) or per district of a city, then 合计; columns are the chosen
// templates' measures, their main dimension broken out, coverage and the
// chosen indicators. Every number is one GET /api/v1/totals answers.
type StatTable struct {
	Org     services.Org
	Period  string
	From    string
	To      string
	Columns []Column
	Rows    []StatRow
	// FileName names the file without extension (城区_统计表_2025学年).
	FileName string
}

// StatRow is one row: a unit, a subtotal or the total.
type StatRow struct {
	Label string
	// Kind is "unit", "subtotal" or "total".
	Kind  string
	Cells []SheetCell
}

// StatQuery asks for a statistics table.
type StatQuery struct {
	OrgID      string
	Period     string
	From       string
	To         string
	Templates  []string
	Indicators []string
	// MeasuresOnly leaves out the record counts, the breakdown and staff
	// covered: the narrow table a Word page holds.
	MeasuresOnly bool
}

// Limits on a statistics table.
const (
	maxStatTemplates  = 8
	maxStatIndicators = 8
)

// statCol is what one numeric column adds up: a template's measure (of
// the records with dim = value when dim is set), schools that filed,
// staff covered, or an indicator's numerator and denominator.
type statCol struct {
	kind      string // measure, count, schools, staff, indicator
	template  string
	key       string
	dim, val  string
	indicator services.Indicator
}

// StatTable builds the statistics table for q, an export (audited).
func (s *Service) StatTable(ctx context.Context, p services.Principal, q StatQuery) (StatTable, error) {
	t, err := s.Tabulate(ctx, p, q)
	if err == nil {
		s.audited(ctx, p, "/api/v1/exports/totals", t.FileName, fmt.Sprintf("%d rows", len(t.Rows)))
	}
	return t, err
}

// Tabulate builds the statistics table for q inside a report that is
// audited itself (the Word summary).
func (s *Service) Tabulate(ctx context.Context, p services.Principal, q StatQuery) (StatTable, error) {
	totals, indicators := s.totals, s.indicators
	const op = "exports.totals"
	if p.User.Role.Rank() < services.RoleDistrictAdmin.Rank() {
		return StatTable{}, services.Fail(op, services.KindForbidden, "forbidden", nil)
	}
	var v services.Validation
	switch {
	case len(q.Templates) == 0:
		v.Add("template", "required")
	case len(q.Templates) > maxStatTemplates:
		v.Add("template", "too_many", "max", maxStatTemplates)
	}
	if len(q.Indicators) > maxStatIndicators {
		v.Add("indicator", "too_many", "max", maxStatIndicators)
	}
	if err := v.Err(op); err != nil {
		return StatTable{}, err
	}
	// Per unit (the queried unit's children), per template: the totals.
	base := services.TotalsQuery{OrgID: q.OrgID, Period: q.Period, From: q.From, To: q.To, GroupBy: []string{services.GroupOrg}}
	type cellKey struct{ unit, col string }
	values := map[cellKey]float64{}
	var cols []statCol
	var headers []Column
	var rep services.TotalsReport
	for i, key := range q.Templates {
		tq := base
		tq.Templates = []string{key}
		r, err := totals.Get(ctx, p, tq)
		if err != nil {
			return StatTable{}, prefixField(err, "template", i)
		}
		rep = r
		t := r.Measures
		tmpl, err := totals.MergedTemplate(ctx, p, r.Org, key)
		if err != nil {
			return StatTable{}, fmt.Errorf("%s: %w", op, err)
		}
		name := tmpl.Name
		// The measures, in template order.
		for _, m := range t {
			c := statCol{kind: "measure", template: key, key: m.Key}
			cols = append(cols, c)
			h := name + "·" + m.Label
			if m.Unit != "" && !strings.Contains(m.Label, m.Unit) {
				h += "(" + m.Unit + ")"
			}
			headers = append(headers, Column{Header: h, Kind: ColumnNumber, Width: 14})
			for _, row := range r.Rows {
				values[cellKey{row.Keys[services.GroupOrg], fmt.Sprint(len(cols) - 1)}] = row.Sums[m.Key]
			}
		}
		if q.MeasuresOnly {
			continue
		}
		recCol := len(cols)
		cols = append(cols, statCol{kind: "count", template: key})
		headers = append(headers, Column{Header: name + "·记录数", Kind: ColumnNumber, Width: 10})
		schoolCol := len(cols)
		cols = append(cols, statCol{kind: "schools", template: key})
		headers = append(headers, Column{Header: name + "·开展学校数", Kind: ColumnNumber, Width: 12})
		for _, row := range r.Rows {
			values[cellKey{row.Keys[services.GroupOrg], fmt.Sprint(recCol)}] = float64(row.Count)
			values[cellKey{row.Keys[services.GroupOrg], fmt.Sprint(schoolCol)}] = float64(row.Schools)
		}
		// The main dimension broken out, for the first measure.
		if dim, ok := firstDimension(tmpl); ok && len(t) > 0 {
			dq := tq
			dq.GroupBy = []string{services.GroupOrg, dim.Key}
			dr, err := totals.Get(ctx, p, dq)
			if err != nil {
				return StatTable{}, err
			}
			first := t[0]
			for _, o := range dim.Options {
				cols = append(cols, statCol{kind: "measure", template: key, key: first.Key, dim: dim.Key, val: o.Value})
				headers = append(headers, Column{Header: name + "·" + first.Label + "·" + o.Label, Kind: ColumnNumber, Width: 12})
				for _, row := range dr.Rows {
					if row.Keys[dim.Key] == o.Value {
						values[cellKey{row.Keys[services.GroupOrg], fmt.Sprint(len(cols) - 1)}] = row.Sums[first.Key]
					}
				}
			}
		}
		// Staff covered, where the template counts people.
		if people := firstPeople(tmpl); people != "" {
			cols = append(cols, statCol{kind: "staff", template: key, key: people})
			headers = append(headers, Column{Header: name + "·覆盖教职工数", Kind: ColumnNumber, Width: 12})
			for _, row := range r.Rows {
				values[cellKey{row.Keys[services.GroupOrg], fmt.Sprint(len(cols) - 1)}] = float64(row.People[people])
			}
		}
	}
	// Indicators: numerator and denominator per unit, so groups add up.
	indCols := map[int]bool{}
	for i, key := range q.Indicators {
		iv, err := indicators.Values(ctx, p, key, services.ValuesQuery{OrgID: q.OrgID, Period: q.Period, From: q.From, To: q.To,
			GroupBy: []string{services.GroupOrg}})
		if err != nil {
			return StatTable{}, prefixField(err, "indicator", i)
		}
		cols = append(cols, statCol{kind: "indicator", indicator: iv.Indicator})
		h := iv.Indicator.Name
		if iv.Indicator.Unit != "" {
			h += "(" + iv.Indicator.Unit + ")"
		}
		headers = append(headers, Column{Header: h, Kind: ColumnNumber, Width: 14})
		indCols[len(cols)-1] = true
		for _, row := range iv.Rows {
			c := fmt.Sprint(len(cols) - 1)
			values[cellKey{row.Keys[services.GroupOrg], c + "/n"}] = row.Numerator
			values[cellKey{row.Keys[services.GroupOrg], c + "/d"}] = row.Denominator
		}
	}
	// The units: the children of the queried unit (its schools, or its
	// districts), the unit's own records under its own row.
	org := rep.Org
	units, err := s.childUnits(ctx, p, org)
	if err != nil {
		return StatTable{}, fmt.Errorf("%s: %w", op, err)
	}
	schoolsOf := map[string]int{}
	if org.Kind != services.OrgSchool {
		figs, err := totals.UnitFigures(ctx, p, org, rep.To, true)
		if err != nil {
			return StatTable{}, fmt.Errorf("%s: %w", op, err)
		}
		for id, f := range figs {
			schoolsOf[id] = f.Schools
		}
	}
	cellsFor := func(ids []string) []SheetCell {
		out := make([]SheetCell, len(cols))
		for i, c := range cols {
			var x float64
			if c.kind == "indicator" {
				var n, d float64
				for _, id := range ids {
					n += values[cellKey{id, fmt.Sprint(i) + "/n"}]
					d += values[cellKey{id, fmt.Sprint(i) + "/d"}]
				}
				if d == 0 {
					continue
				}
				x = c.indicator.Value(n, d)
			} else {
				for _, id := range ids {
					x += values[cellKey{id, fmt.Sprint(i)}]
				}
				x = math.Round(x*services.MeasureScale) / services.MeasureScale
			}
			out[i] = SheetCell{Number: x, IsNumber: true}
		}
		return out
	}
	table := StatTable{Org: org, Period: rep.Period, From: rep.From, To: rep.To}
	table.Columns = append([]Column{{Header: "单位", Width: 24}, {Header: "学段/类别", Width: 10}, {Header: "学校数", Kind: ColumnNumber, Width: 8}}, headers...)
	row := func(label, group, kind string, ids []string) StatRow {
		n := 0
		for _, id := range ids {
			n += schoolsOf[id]
		}
		cells := append([]SheetCell{{Text: label}, {Text: group}, {Number: float64(n), IsNumber: true}}, cellsFor(ids)...)
		return StatRow{Label: label, Kind: kind, Cells: cells}
	}
	var all []string
	for _, g := range groupUnits(units) {
		var ids []string
		for _, u := range g.units {
			table.Rows = append(table.Rows, row(u.Name, g.name, "unit", []string{u.ID}))
			ids = append(ids, u.ID)
		}
		all = append(all, ids...)
		if g.name != "" && len(g.units) > 1 {
			table.Rows = append(table.Rows, row(g.name+"小计", g.name, "subtotal", ids))
		}
	}
	own := false
	for k := range values {
		if k.unit == org.ID && org.Kind != services.OrgSchool {
			own = true
			break
		}
	}
	if own {
		table.Rows = append(table.Rows, row(org.Name+"（本级）", "", "unit", []string{org.ID}))
		all = append(all, org.ID)
	}
	table.Rows = append(table.Rows, row("合计", "", "total", all))
	label := rep.Period
	if label != "" {
		label = services.PeriodLabel(label)
	} else {
		label = rep.From + "至" + rep.To
	}
	table.FileName = org.Name + "_统计表_" + label
	return table, nil
}

// prefixField renames the template fields of err, raised by a query of
// one template (template[0]), to the i-th value of the list parameter
// name (template[2], indicator[1]).
func prefixField(err error, name string, i int) error {
	var se *services.Error
	if !errors.As(err, &se) || len(se.Fields) == 0 {
		return err
	}
	out := *se
	out.Fields = slices.Clone(se.Fields)
	for j, f := range out.Fields {
		if f.Field == "template" || f.Field == "template[0]" || name == "indicator" {
			out.Fields[j].Field = fmt.Sprintf("%s[%d]", name, i)
		}
	}
	return &out
}

// firstDimension is a template's main dimension: its first enum
// dimension with options.
func firstDimension(t services.Template) (services.TemplateField, bool) {
	for _, f := range t.Fields {
		if f.Role == services.RoleDimension && f.Type == services.FieldEnum && len(f.Options) > 0 {
			return f, true
		}
	}
	return services.TemplateField{}, false
}

// firstPeople is the key of a template's first people field.
func firstPeople(t services.Template) string {
	for _, f := range t.Fields {
		if f.Type == services.FieldPeople {
			return f.Key
		}
	}
	return ""
}

// childUnits lists the child units of org inside p's scope, in id order.
func (s *Service) childUnits(ctx context.Context, p services.Principal, org services.Org) ([]services.Org, error) {
	if org.Kind == services.OrgSchool {
		return []services.Org{org}, nil
	}
	var out []services.Org
	q := services.OrgQuery{ParentID: org.ID, Page: services.Page{Limit: services.MaxLimit}}
	for {
		list, err := s.orgs.Orgs(ctx, p.Scope(), q)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
		if len(list) < services.MaxLimit {
			return out, nil
		}
		q.Page.After = list[len(list)-1].ID
	}
}

type unitGroup struct {
	name  string
	units []services.Org
}

// groupUnits groups schools under their first stage, in the order of
// Stages (other units, such as districts, form one unnamed group).
func groupUnits(units []services.Org) []unitGroup {
	by := map[string][]services.Org{}
	for _, u := range units {
		g := ""
		if u.Kind == services.OrgSchool {
			g = "其他"
			if len(u.Stages) > 0 {
				g = u.Stages[0]
			}
		}
		by[g] = append(by[g], u)
	}
	order := append([]string{""}, services.Stages...)
	order = append(order, "其他")
	var out []unitGroup
	for _, g := range order {
		if list := by[g]; len(list) > 0 {
			slices.SortFunc(list, func(a, b services.Org) int { return strings.Compare(a.Code+a.Name, b.Code+b.Name) })
			out = append(out, unitGroup{name: g, units: list})
		}
	}
	return out
}

// TaskSheet is a collection task's progress as a sheet for the phone
// calls that follow: each target school, what it filed, whether it is on
// time, late or missing, and its principals' names and mobiles.
func (s *Service) TaskSheet(ctx context.Context, p services.Principal, id string) (StatTable, error) {
	users := s.users
	pr, err := s.tasks.Progress(ctx, p, id)
	if err != nil {
		return StatTable{}, err
	}
	table := StatTable{Period: pr.Task.Period, From: pr.Task.From, To: pr.Task.To,
		FileName: pr.Task.Name + "_填报进度", Columns: []Column{
			{Header: "学校", Width: 24}, {Header: "区县", Width: 12}, {Header: "已提交", Kind: ColumnNumber, Width: 8},
			{Header: "已通过", Kind: ColumnNumber, Width: 8}, {Header: "已退回", Kind: ColumnNumber, Width: 8},
			{Header: "应报", Kind: ColumnNumber, Width: 6}, {Header: "完成情况", Width: 10}, {Header: "完成时间", Width: 18},
			{Header: "校长", Width: 12}, {Header: "联系电话", Width: 14}}}
	names := newNameCache(s, p)
	for _, sp := range pr.Schools {
		status := "未完成"
		switch {
		case sp.Complete && sp.OnTime:
			status = "按时完成"
		case sp.Complete:
			status = "逾期完成"
		case pr.Overdue:
			status = "逾期未报"
		}
		done := ""
		if !sp.CompletedAt.IsZero() {
			done = sp.CompletedAt.In(names.loc()).Format("2006-01-02 15:04")
		}
		district := ""
		if sp.DistrictID != "" {
			d, err := names.org(ctx, sp.DistrictID)
			if err != nil {
				return StatTable{}, err
			}
			district = d.Name
		}
		heads, err := users.Users(ctx, p.Scope(), services.UserQuery{OrgID: sp.SchoolID, Role: services.RolePrincipal, Page: services.Page{Limit: 5}})
		if err != nil {
			return StatTable{}, err
		}
		var who, mobile []string
		for _, u := range heads {
			if !u.Disabled {
				who, mobile = append(who, u.Name), append(mobile, u.Mobile)
			}
		}
		num := func(n int) SheetCell { return SheetCell{Number: float64(n), IsNumber: true} }
		table.Rows = append(table.Rows, StatRow{Label: sp.SchoolName, Kind: "unit", Cells: []SheetCell{
			{Text: sp.SchoolName}, {Text: district}, num(sp.Submitted), num(sp.Approved), num(sp.Returned), num(sp.Needed),
			{Text: status}, {Text: done}, {Text: strings.Join(who, "、")}, {Text: strings.Join(mobile, "、")}}})
	}
	s.audited(ctx, p, "/api/v1/exports/tasks/"+id, table.FileName, fmt.Sprintf("%d rows", len(table.Rows)))
	return table, nil
}
