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

	"github.com/huizong/huizong/services"
)

// Service drafts summaries.
type Service struct {
	totals     *services.Totals
	indicators *services.Indicators
	templates  services.TemplateStore
	audit      *services.Audit
}

// New returns the summary service.
func New(totals *services.Totals, indicators *services.Indicators, templates services.TemplateStore, audit *services.Audit) *Service {
	return &Service{totals: totals, indicators: indicators, templates: templates, audit: audit}
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
				d.addFigures(cat.key, cat.heading, w)
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

func (d *Draft) addFigures(category, heading string, w written) {
	for i := range d.Paragraphs {
		if d.Paragraphs[i].Category == category {
			d.Paragraphs[i].Figures = append(d.Paragraphs[i].Figures, w.figures...)
			return
		}
	}
	d.Paragraphs = append(d.Paragraphs, Paragraph{Category: category, Heading: heading, Figures: w.figures})
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
	row := rep.Rows[0]
	link := "/api/v1/totals?" + tq.Encode()
	var w written
	fig := func(text string, v float64, url string) string {
		w.figures = append(w.figures, Figure{Text: text, Value: v, TotalsURL: url})
		return text
	}
	measure := func(key string) (services.TemplateField, bool) {
		f, ok := t.Field(key)
		return f, ok && f.Role == services.RoleMeasure
	}
	// The measures with a value, in template order, as bureaus write them.
	var parts []string
	var first services.TemplateField
	firstValue := ""
	for _, f := range t.Fields {
		if f.Role != services.RoleMeasure || row.Sums[f.Key] == 0 || f.Unit == "秒" || f.Unit == "分钟" {
			continue
		}
		text := fig(Amount(row.Sums[f.Key], f.Unit), row.Sums[f.Key], link)
		if first.Key == "" {
			first, firstValue = f, text
			continue
		}
		// 参与学生人次 4.52万人次 reads 参与学生4.52万人次.
		parts = append(parts, strings.TrimSuffix(f.Label, f.Unit)+text)
	}
	if first.Key == "" {
		return written{}, nil
	}
	who := "全区"
	switch rep.Org.Kind {
	case services.OrgCity:
		who = "全市"
	case services.OrgSchool:
		who = "全校"
	}
	// The main breakdown: the dimension's values, most first, closed
	// with 等.
	breakdown := ""
	if dim, ok := mainDimension(t); ok {
		dq := tq
		dq.GroupBy, dq.Compare = []string{dim.Key}, ""
		dr, err := s.totals.Get(ctx, p, dq)
		if err != nil {
			return written{}, err
		}
		rows := slices.Clone(dr.Rows)
		slices.SortFunc(rows, func(a, b services.TotalsRow) int {
			return cmpFloat(b.Sums[first.Key], a.Sums[first.Key])
		})
		var labels []string
		for _, r := range rows {
			if v := r.Keys[dim.Key]; v != "" && r.Sums[first.Key] > 0 && len(labels) < 4 {
				labels = append(labels, r.Labels[dim.Key])
			}
		}
		if len(labels) > 0 {
			breakdown = strings.Join(labels, "、") + "等"
		}
	}
	var b strings.Builder
	if activity[t.Category] {
		// 全区共开展消防、地震等应急疏散演练312场次，参与学生4.52万人次
		b.WriteString(who + "共开展" + breakdown + t.Name + firstValue)
	} else {
		// 全区学生资助（学前教育资助等）：受助人数1040名，资助金额52.00万元
		b.WriteString(who + t.Name)
		if breakdown != "" {
			b.WriteString("（" + breakdown + "）")
		}
		b.WriteString("：" + strings.TrimSuffix(first.Label, first.Unit) + firstValue)
	}
	for _, part := range parts {
		b.WriteString("，" + part)
	}
	if pr := row.Previous; pr != nil && pr.Count > 0 {
		if _, ok := measure(first.Key); ok {
			diff := row.Sums[first.Key] - pr.Sums[first.Key]
			switch {
			case diff > 0:
				b.WriteString("，较上年增加" + fig(Amount(diff, first.Unit), diff, link))
			case diff < 0:
				b.WriteString("，较上年减少" + fig(Amount(-diff, first.Unit), diff, link))
			default:
				b.WriteString("，与上年持平")
			}
		}
	}
	if row.SchoolsTotal > 1 && rep.Org.Kind != services.OrgSchool {
		if r := row.SchoolRate(); r >= 0 {
			b.WriteString("，学校覆盖率达" + fig(Percent(r), r, link))
		}
	}
	if row.People != nil {
		for _, f := range t.Fields {
			if n, ok := row.People[f.Key]; ok && n > 0 {
				b.WriteString("，" + f.Label + fig(Amount(float64(n), "人"), float64(n), link))
				if rt := row.StaffRate(); rt >= 0 {
					b.WriteString("，覆盖率达" + fig(Percent(rt), rt, link))
				}
			}
		}
	}
	// The indicators of this template bureaus quote (信访满意率达98.5%).
	for _, ind := range s.indicatorsOf(ctx, p, t.Key) {
		v, err := s.indicators.Values(ctx, p, ind.Key, services.ValuesQuery{OrgID: q.OrgID, Period: q.Period, From: q.From, To: q.To})
		if err != nil {
			return written{}, err
		}
		if len(v.Rows) == 1 && !math.IsNaN(v.Rows[0].Value) {
			x := v.Rows[0].Value
			text := trim(fmt.Sprintf("%.*f", ind.Decimals, x)) + ind.Unit
			iq := tq
			iq.Templates, iq.Compare = nil, ""
			link := "/api/v1/indicators/" + ind.Key + "/values?" + iq.Encode()
			b.WriteString("，" + ind.Name + "达" + fig(text, x, link))
		}
	}
	b.WriteString("。")
	w.text = b.String()
	return w, nil
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

// mainDimension is a template's first enum dimension.
func mainDimension(t services.Template) (services.TemplateField, bool) {
	for _, f := range t.Fields {
		if f.Role == services.RoleDimension && f.Type == services.FieldEnum && len(f.Options) > 0 {
			return f, true
		}
	}
	return services.TemplateField{}, false
}

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
