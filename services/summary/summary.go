// Package summary drafts the figures section of a bureau's work summary
// (工作总结) from its totals: a paragraph per category in the bureau's
// voice ("全区共开展消防、地震等应急疏散演练312场次，参与学生4.52万人次，较上年增加36
// 场次。"), every figure with the totals query that produced it. It reads
// through the totals and indicators services and owns only the wording.
package summary

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/huizong/huizong/services"
	"github.com/huizong/huizong/services/export"
)

// Service drafts summaries.
type Service struct {
	totals     *services.Totals
	indicators *services.Indicators
	templates  services.TemplateStore
	exports    *export.Service
	audit      *services.Audit
}

// New returns the summary service; exports builds the statistics tables
// of the Word draft.
func New(totals *services.Totals, indicators *services.Indicators, templates services.TemplateStore, exports *export.Service,
	audit *services.Audit) *Service {
	return &Service{totals: totals, indicators: indicators, templates: templates, exports: exports, audit: audit}
}

// Query asks for a draft: a unit and a period (as totals take them).
type Query struct {
	OrgID  string
	Period string
	From   string
	To     string
}

// Figure is one number of a paragraph as written, with where it comes
// from.
type Figure struct {
	Text      string
	Value     float64
	TotalsURL string
}

// Paragraph is the draft of one category.
type Paragraph struct {
	Category string
	Heading  string
	Text     string
	Figures  []Figure
	// Templates are the keys of the templates its sentences speak of.
	Templates []string
}

// Draft is the figures section of a work summary.
type Draft struct {
	Title      string
	Org        services.Org
	Period     string
	From       string
	To         string
	Paragraphs []Paragraph
}

// categories orders the paragraphs and names their headings.
var categories = []struct{ key, heading string }{
	{"profile", "学校基本情况"}, {"safety", "平安校园建设"}, {"training", "教师队伍建设"}, {"research", "教育教学研究"},
	{"awards", "表彰奖励"}, {"activities", "体育艺术科技活动"}, {"education", "德育与主题教育"}, {"family", "家校共育"},
	{"outreach", "送教帮扶"}, {"aid", "学生资助"}, {"construction", "校舍建设"}, {"petitions", "信访工作"},
}

// Draft writes the summary of q for p: one paragraph per category that
// has approved records in the period.
func (s *Service) Draft(ctx context.Context, p services.Principal, q Query) (Draft, error) {
	const op = "reports.summary"
	if p.User.Role.Rank() < services.RolePrincipal.Rank() {
		return Draft{}, services.Fail(op, services.KindForbidden, "forbidden", nil)
	}
	tmpls, err := services.VisibleTemplates(ctx, s.templates, p)
	if err != nil {
		return Draft{}, fmt.Errorf("%s: %w", op, err)
	}
	var d Draft
	byCategory := map[string][]string{}
	for _, cat := range categories {
		for _, t := range tmpls {
			if t.Category != cat.key || !t.Active {
				continue
			}
			w, err := s.sentence(ctx, p, q, t, &d)
			if err != nil {
				return Draft{}, err
			}
			if w.text != "" {
				byCategory[cat.key] = append(byCategory[cat.key], w.text)
				d.addFigures(cat.key, cat.heading, t.Key, w)
			}
		}
	}
	for i := range d.Paragraphs {
		d.Paragraphs[i].Text = strings.Join(byCategory[d.Paragraphs[i].Category], "")
	}
	label := d.Period
	if label != "" {
		label = services.PeriodLabel(label)
	} else {
		label = d.From + "至" + d.To
	}
	d.Title = d.Org.Name + "教育局" + label + "工作总结（数据部分）"
	if d.Org.Kind == services.OrgSchool {
		d.Title = d.Org.Name + label + "工作总结（数据部分）"
	}
	s.audit.Record(ctx, services.AuditEvent{Kind: services.AuditExport, ActorID: p.User.ID, ActorName: p.User.Username,
		SubjectType: "export", SubjectID: "/api/v1/reports/summary", SubjectName: d.Title, OrgPath: p.User.OrgPath,
		Detail: fmt.Sprintf("%d paragraphs", len(d.Paragraphs))})
	return d, nil
}

func (d *Draft) addFigures(category, heading, template string, w written) {
	for i := range d.Paragraphs {
		if p := &d.Paragraphs[i]; p.Category == category {
			p.Figures = append(p.Figures, w.figures...)
			p.Templates = append(p.Templates, template)
			return
		}
	}
	d.Paragraphs = append(d.Paragraphs, Paragraph{Category: category, Heading: heading, Figures: w.figures, Templates: []string{template}})
}

// written is one template's sentence and its figures.
type written struct {
	text    string
	figures []Figure
}

// sentence drafts template t's sentence from its totals (compared with
// the previous period), or nothing when it has no records.
func (s *Service) sentence(ctx context.Context, p services.Principal, q Query, t services.Template, d *Draft) (written, error) {
	tq := services.TotalsQuery{OrgID: q.OrgID, Period: q.Period, From: q.From, To: q.To, Templates: []string{t.Key},
		Compare: services.ComparePrevious}
	rep, err := s.totals.Get(ctx, p, tq)
	if err != nil {
		return written{}, err
	}
	d.Org, d.Period, d.From, d.To = rep.Org, rep.Period, rep.From, rep.To
	if len(rep.Rows) == 0 || rep.Rows[0].Count == 0 {
		return written{}, nil
	}
	// The wording of the report's unit (a district may reword a built-in
	// sentence in its extension), over the template as its totals read it.
	if t, err = s.totals.MergedTemplate(ctx, p, rep.Org, t.Key); err != nil {
		return written{}, err
	}
	pattern, err := services.SummaryPattern(ctx, s.templates, t, rep.Org)
	if err != nil {
		return written{}, err
	}
	if pattern == "" {
		pattern = services.DefaultSummary(t, activity[t.Category])
	}
	parts, errs := services.ParseSummary(t, pattern, "summary.zh")
	if len(errs) > 0 {
		// A pattern stored before its fields changed: the default still
		// reads right.
		parts, _ = services.ParseSummary(t, services.DefaultSummary(t, activity[t.Category]), "summary.zh")
	}
	f := filler{s: s, ctx: ctx, p: p, q: q, t: t, tq: tq, rep: rep, row: rep.Rows[0],
		link: "/api/v1/totals?" + tq.Encode(), groups: map[string][]services.TotalsRow{}}
	text, err := f.fill(parts)
	if err != nil {
		return written{}, err
	}
	return written{text: text, figures: f.figures}, nil
}

// filler fills one template's pattern from its totals.
type filler struct {
	s       *Service
	ctx     context.Context
	p       services.Principal
	q       Query
	t       services.Template
	tq      services.TotalsQuery
	rep     services.TotalsReport
	row     services.TotalsRow
	link    string
	groups  map[string][]services.TotalsRow
	figures []Figure
}

// fill writes the sentence clause by clause: a clause runs up to ， ；
// or 。 and is left out when one of its figures is empty or 0 (its
// closing 。 passes to the clause before).
func (f *filler) fill(parts []services.SummaryPart) (string, error) {
	type clause struct {
		text    strings.Builder
		figures []Figure
		drop    bool
	}
	var kept []string
	var keptFigures []Figure
	cur := &clause{}
	closeClause := func(sep string) {
		switch {
		case !cur.drop:
			kept = append(kept, cur.text.String()+sep)
			keptFigures = append(keptFigures, cur.figures...)
		case sep == "。" && len(kept) > 0:
			last := kept[len(kept)-1]
			if r, n := utf8.DecodeLastRuneInString(last); r == '，' || r == '；' {
				kept[len(kept)-1] = last[:len(last)-n] + sep
			}
		}
		cur = &clause{}
	}
	for _, part := range parts {
		if part.Kind == "" {
			rest := part.Text
			for rest != "" {
				i := strings.IndexAny(rest, "，；。")
				if i < 0 {
					cur.text.WriteString(rest)
					break
				}
				cur.text.WriteString(rest[:i])
				_, n := utf8.DecodeRuneInString(rest[i:])
				closeClause(rest[i : i+n])
				rest = rest[i+n:]
			}
			continue
		}
		before := len(f.figures)
		text, err := f.value(part)
		if err != nil {
			return "", err
		}
		cur.figures = append(cur.figures, f.figures[before:]...)
		f.figures = f.figures[:before]
		if text == "" && !part.Soft() {
			cur.drop = true
		}
		cur.text.WriteString(text)
	}
	if cur.text.Len() > 0 {
		closeClause("")
	}
	f.figures = keptFigures
	out := strings.ReplaceAll(strings.Join(kept, ""), "（）", "")
	if strings.Trim(out, "，；。") == "" {
		return "", nil
	}
	return out, nil
}

// fig notes a figure as written and returns its text.
func (f *filler) fig(text string, v float64, url string) string {
	f.figures = append(f.figures, Figure{Text: text, Value: v, TotalsURL: url})
	return text
}

// value is what a placeholder says, "" when it has nothing to say.
func (f *filler) value(part services.SummaryPart) (string, error) {
	row := f.row
	switch part.Kind {
	case services.PlaceScope:
		switch f.rep.Org.Kind {
		case services.OrgCity:
			return "全市", nil
		case services.OrgSchool:
			return "全校", nil
		}
		return "全区", nil
	case services.PlaceName:
		return f.t.Name, nil
	case services.PlaceRecords:
		return f.fig(fmt.Sprint(row.Count), float64(row.Count), f.link), nil
	case services.PlaceMeasure:
		v := row.Sums[part.Field]
		if v == 0 {
			return "", nil
		}
		return f.fig(Amount(v, f.unit(part.Field)), v, f.link), nil
	case services.PlacePrevious, services.PlaceChange:
		pr := row.Previous
		if pr == nil || pr.Count == 0 {
			return "", nil
		}
		if part.Kind == services.PlacePrevious {
			v := pr.Sums[part.Field]
			if v == 0 {
				return "", nil
			}
			return f.fig(Amount(v, f.unit(part.Field)), v, f.link), nil
		}
		diff := row.Sums[part.Field] - pr.Sums[part.Field]
		switch {
		case diff > 0:
			return "增加" + f.fig(Amount(diff, f.unit(part.Field)), diff, f.link), nil
		case diff < 0:
			return "减少" + f.fig(Amount(-diff, f.unit(part.Field)), diff, f.link), nil
		}
		return "持平", nil
	case services.PlaceSchoolRate:
		if row.SchoolsTotal <= 1 || f.rep.Org.Kind == services.OrgSchool {
			return "", nil
		}
		if r := row.SchoolRate(); r > 0 {
			return f.fig(Percent(r), r, f.link), nil
		}
		return "", nil
	case services.PlaceStaffRate:
		if r := row.StaffRate(); r > 0 {
			return f.fig(Percent(r), r, f.link), nil
		}
		return "", nil
	case services.PlacePeople:
		if n := row.People[part.Field]; n > 0 {
			return f.fig(fmt.Sprint(n), float64(n), f.link), nil
		}
		return "", nil
	case services.PlaceDistinct:
		if n := row.Distinct[part.Field]; n > 0 {
			return f.fig(fmt.Sprint(n), float64(n), f.link), nil
		}
		return "", nil
	case services.PlaceBreakdown:
		rows, err := f.group(part.Field)
		if err != nil {
			return "", err
		}
		by := f.lead()
		var labels []string
		for _, r := range rows {
			if r.Keys[part.Field] != "" && r.Sums[by] > 0 && len(labels) < 4 {
				labels = append(labels, r.Labels[part.Field])
			}
		}
		if len(labels) == 0 {
			return "", nil
		}
		return strings.Join(labels, "、") + "等", nil
	case services.PlaceEach:
		rows, err := f.group(part.Field)
		if err != nil {
			return "", err
		}
		rows = slices.Clone(rows)
		slices.SortStableFunc(rows, func(a, b services.TotalsRow) int { return cmpFloat(b.Sums[part.Measure], a.Sums[part.Measure]) })
		var items []string
		for _, r := range rows {
			if v := r.Sums[part.Measure]; r.Keys[part.Field] != "" && v > 0 {
				// Each figure's own query: the template filtered to the value.
				fq := f.tq
				fq.Compare, fq.Filter = "", part.Field+":"+r.Keys[part.Field]
				items = append(items, r.Labels[part.Field]+f.fig(Amount(v, f.unit(part.Measure)), v, "/api/v1/totals?"+fq.Encode()))
			}
		}
		return strings.Join(items, "、"), nil
	case services.PlaceIndicators:
		return f.indicators()
	}
	return "", nil
}

// unit is a field's unit.
func (f *filler) unit(key string) string {
	fd, _ := f.t.Field(key)
	return fd.Unit
}

// lead is the measure breakdowns are ordered by: the template's first
// measure that is not a duration.
func (f *filler) lead() string {
	for _, fd := range f.t.Fields {
		if fd.Role == services.RoleMeasure && fd.Unit != "秒" && fd.Unit != "分钟" {
			return fd.Key
		}
	}
	return ""
}

// group is the template's totals grouped by one dimension, most first
// (by the lead measure), read once per dimension.
func (f *filler) group(dim string) ([]services.TotalsRow, error) {
	if rows, ok := f.groups[dim]; ok {
		return rows, nil
	}
	dq := f.tq
	dq.GroupBy, dq.Compare = []string{dim}, ""
	dr, err := f.s.totals.Get(f.ctx, f.p, dq)
	if err != nil {
		return nil, err
	}
	rows := slices.Clone(dr.Rows)
	by := f.lead()
	slices.SortStableFunc(rows, func(a, b services.TotalsRow) int { return cmpFloat(b.Sums[by], a.Sums[by]) })
	f.groups[dim] = rows
	return rows, nil
}

// indicators says the template's own percent indicators: 信访办结率达
// 100%，信访满意率达98.5%.
func (f *filler) indicators() (string, error) {
	var said []string
	for _, ind := range f.s.indicatorsOf(f.ctx, f.p, f.t.Key) {
		v, err := f.s.indicators.Values(f.ctx, f.p, ind.Key, services.ValuesQuery{OrgID: f.q.OrgID, Period: f.q.Period, From: f.q.From, To: f.q.To})
		if err != nil {
			return "", err
		}
		if len(v.Rows) == 1 && !math.IsNaN(v.Rows[0].Value) {
			x := v.Rows[0].Value
			text := trim(fmt.Sprintf("%.*f", ind.Decimals, x)) + ind.Unit
			iq := f.tq
			iq.Templates, iq.Compare = nil, ""
			said = append(said, ind.Name+"达"+f.fig(text, x, "/api/v1/indicators/"+ind.Key+"/values?"+iq.Encode()))
		}
	}
	return strings.Join(said, "，"), nil
}

// indicatorsOf are the visible indicators in percent whose every term
// reads template key (the ratios of that template's own figures).
func (s *Service) indicatorsOf(ctx context.Context, p services.Principal, key string) []services.Indicator {
	list, err := s.indicators.List(ctx, p, services.Page{Limit: services.MaxLimit})
	if err != nil {
		return nil
	}
	var out []services.Indicator
	for _, ind := range list {
		if ind.Unit != "%" {
			continue
		}
		own := true
		for _, raw := range append(slices.Clone(ind.Numerator), ind.Denominator...) {
			if t, ok := services.ParseTerm(raw); !ok || t.Template != key {
				own = false
			}
		}
		if own {
			out = append(out, ind)
		}
	}
	return out
}

// activity marks the categories whose records are activities a bureau
// "carries out" (开展); the others are stated (figures of state, aid,
// construction, awards, petitions).
var activity = map[string]bool{"safety": true, "training": true, "research": true, "activities": true, "education": true,
	"family": true, "outreach": true}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Amount writes a figure as bureaus do: 人次 above ten thousand in 万
// (4.52万人次), money in 万元 with two decimals (from 元) and 亿元 above
// a hundred million, whole numbers without decimals, no false precision.
func Amount(x float64, unit string) string {
	switch unit {
	case "元":
		if math.Abs(x) >= 1e8 {
			return trim(fmt.Sprintf("%.2f", x/1e8)) + "亿元"
		}
		return fmt.Sprintf("%.2f万元", x/1e4)
	case "万元":
		if math.Abs(x) >= 1e4 {
			return trim(fmt.Sprintf("%.2f", x/1e4)) + "亿元"
		}
		return trim(fmt.Sprintf("%.2f", x)) + "万元"
	case "人次":
		if math.Abs(x) >= 1e4 {
			return fmt.Sprintf("%.2f万人次", x/1e4)
		}
	}
	return trim(fmt.Sprintf("%.2f", x)) + unit
}

// Percent writes a rate (a fraction) as a percentage: 100%, 98.5%.
func Percent(r float64) string { return trim(fmt.Sprintf("%.1f", r*100)) + "%" }

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Markdown is the draft as Markdown: the title, a heading per category,
// its paragraph.
func Markdown(d Draft) string {
	var b strings.Builder
	b.WriteString("# " + d.Title + "\n")
	for i, p := range d.Paragraphs {
		fmt.Fprintf(&b, "\n## %s、%s\n\n%s\n", chineseOrdinal(i+1), p.Heading, p.Text)
	}
	if len(d.Paragraphs) == 0 {
		b.WriteString("\n本期间没有已审核通过的记录。\n")
	}
	return b.String()
}

// Text is the draft as plain text, paragraphs indented as documents are.
func Text(d Draft) string {
	var b strings.Builder
	b.WriteString(d.Title + "\n")
	for i, p := range d.Paragraphs {
		fmt.Fprintf(&b, "\n%s、%s\n　　%s\n", chineseOrdinal(i+1), p.Heading, p.Text)
	}
	return b.String()
}

func chineseOrdinal(n int) string {
	d := []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"}
	switch {
	case n <= 10:
		return d[n]
	case n < 20:
		return "十" + d[n-10]
	}
	return fmt.Sprint(n)
}
