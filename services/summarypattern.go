package services

import (
	"strings"
	"unicode/utf8"
)

// TemplateSummary words a template's sentence in the work-summary draft
// (工作总结): ZH is the pattern, text with placeholders in braces that the
// draft fills from the template's approved totals, e.g.
//
//	{scope}共开展{kind}应急疏散演练{drills}，参与学生{students}，较上年{drills.change}。
//
// Empty: the draft words a default sentence from the fields.
type TemplateSummary struct {
	ZH string
}

// MaxSummaryPattern bounds a summary pattern, in characters.
const MaxSummaryPattern = 1000

// PlaceholderKind says what a summary placeholder stands for.
type PlaceholderKind string

// The placeholders of a summary pattern. A field key names the field's
// figure: a measure its total with the unit as bureaus write it (312场次,
// 4.52万人次, 52.00万元), a dimension the breakdown of its values (消防、地
// 震、防汛等), a people field the distinct persons and a distinct field the
// distinct values (bare numbers: the pattern says 人 or 项). The words
// below are kept for the row as a whole; a field of the same key wins.
const (
	PlaceScope      PlaceholderKind = "scope"       // 全区, 全市, 全校
	PlaceName       PlaceholderKind = "name"        // the template's name
	PlaceRecords    PlaceholderKind = "records"     // approved records (a bare number)
	PlaceSchoolRate PlaceholderKind = "school_rate" // share of schools with a record (100%)
	PlaceStaffRate  PlaceholderKind = "staff_rate"  // staff covered over all staff (培训覆盖率)
	PlaceIndicators PlaceholderKind = "indicators"  // the template's own percent indicators (信访满意率达98.5%)
	PlaceMeasure    PlaceholderKind = "measure"     // {drills}
	PlaceChange     PlaceholderKind = "change"      // {drills.change}: 增加36场次, 减少2场次, 持平
	PlacePrevious   PlaceholderKind = "previous"    // {drills.previous}: the previous period's total
	PlaceBreakdown  PlaceholderKind = "breakdown"   // {kind}: 消防、地震、防汛等
	PlaceEach       PlaceholderKind = "each"        // {category:count}: 优秀班主任53名、先进班集体53名
	PlacePeople     PlaceholderKind = "people"      // {trainees}
	PlaceDistinct   PlaceholderKind = "distinct"    // {project}
)

// SummaryPart is a piece of a parsed pattern: literal text, or a
// placeholder.
type SummaryPart struct {
	Text string
	Kind PlaceholderKind
	// Field is the field the placeholder names; Measure the measure of an
	// each-list.
	Field   string
	Measure string
}

// Soft placeholders may come out empty and the clause stays (a
// breakdown no record gave); a clause with any other placeholder empty
// is left out (a measure of 0, no previous period, no rate).
func (p SummaryPart) Soft() bool {
	return p.Kind == "" || p.Kind == PlaceScope || p.Kind == PlaceName || p.Kind == PlaceBreakdown
}

// ParseSummary parses pattern against t's fields. A problem is named at
// field (summary.zh): a brace left open or closed alone (summary_syntax)
// or a placeholder t cannot fill (summary_placeholder, naming it).
func ParseSummary(t Template, pattern, field string) ([]SummaryPart, []FieldError) {
	var v Validation
	if n := utf8.RuneCountInString(pattern); n > MaxSummaryPattern {
		v.Add(field, "max_length", "max", MaxSummaryPattern)
		return nil, v.Fields()
	}
	var parts []SummaryPart
	rest := pattern
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			parts = append(parts, SummaryPart{Text: rest})
			break
		}
		if open > 0 {
			parts = append(parts, SummaryPart{Text: rest[:open]})
		}
		if rest[open] == '}' {
			v.Add(field, "summary_syntax", "at", strings.TrimSpace(rest[:open+1]))
			return nil, v.Fields()
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] == '{' {
			v.Add(field, "summary_syntax", "at", rest[open:])
			return nil, v.Fields()
		}
		name := rest[open+1 : open+1+end]
		part, ok := placeholder(t, strings.TrimSpace(name))
		if !ok {
			v.Add(field, "summary_placeholder", "placeholder", "{"+name+"}")
		}
		parts = append(parts, part)
		rest = rest[open+end+2:]
	}
	return parts, v.Fields()
}

// placeholder resolves one placeholder name against t.
func placeholder(t Template, name string) (SummaryPart, bool) {
	if dim, m, ok := strings.Cut(name, ":"); ok {
		d, okD := t.Field(dim)
		f, okM := t.Field(m)
		return SummaryPart{Kind: PlaceEach, Field: dim, Measure: m},
			okD && d.Role == RoleDimension && okM && f.Role == RoleMeasure
	}
	if key, mod, ok := strings.Cut(name, "."); ok {
		f, found := t.Field(key)
		kind := map[string]PlaceholderKind{"change": PlaceChange, "previous": PlacePrevious}[mod]
		return SummaryPart{Kind: kind, Field: key}, found && f.Role == RoleMeasure && kind != ""
	}
	if f, ok := t.Field(name); ok {
		switch {
		case f.Role == RoleMeasure:
			return SummaryPart{Kind: PlaceMeasure, Field: name}, true
		case f.Role == RoleDimension:
			return SummaryPart{Kind: PlaceBreakdown, Field: name}, true
		case f.Type == FieldPeople:
			return SummaryPart{Kind: PlacePeople, Field: name}, true
		case f.Role == RoleDistinct:
			return SummaryPart{Kind: PlaceDistinct, Field: name}, true
		}
		return SummaryPart{Field: name}, false
	}
	switch k := PlaceholderKind(name); k {
	case PlaceScope, PlaceName, PlaceRecords, PlaceSchoolRate, PlaceStaffRate, PlaceIndicators:
		return SummaryPart{Kind: k}, true
	}
	return SummaryPart{Field: name}, false
}

// DefaultSummary is the pattern of a template without one: its name
// after the main breakdown and the first measure, the other measures
// (not durations), the change of the first, school coverage, the people
// trained and their coverage, and the template's indicators.
func DefaultSummary(t Template, activity bool) string {
	var first string
	var rest []string
	var dim, people string
	for _, f := range t.Fields {
		switch {
		case f.Role == RoleMeasure && f.Unit != "秒" && f.Unit != "分钟":
			if first == "" {
				first = f.Key
				continue
			}
			rest = append(rest, strings.TrimSuffix(f.Label, f.Unit)+"{"+f.Key+"}")
		case f.Role == RoleDimension && f.Type == FieldEnum && len(f.Options) > 0 && dim == "":
			dim = f.Key
		case f.Type == FieldPeople && people == "":
			people = f.Key
		}
	}
	if first == "" {
		return ""
	}
	var b strings.Builder
	f, _ := t.Field(first)
	switch {
	case activity && dim != "":
		b.WriteString("{scope}共开展{" + dim + "}{name}{" + first + "}")
	case activity:
		b.WriteString("{scope}共开展{name}{" + first + "}")
	case dim != "":
		b.WriteString("{scope}{name}（{" + dim + "}）：" + strings.TrimSuffix(f.Label, f.Unit) + "{" + first + "}")
	default:
		b.WriteString("{scope}{name}：" + strings.TrimSuffix(f.Label, f.Unit) + "{" + first + "}")
	}
	for _, r := range rest {
		b.WriteString("，" + r)
	}
	b.WriteString("，较上年{" + first + ".change}，学校覆盖率达{school_rate}")
	if people != "" {
		p, _ := t.Field(people)
		b.WriteString("，" + p.Label + "{" + people + "}人，覆盖率达{staff_rate}")
	}
	b.WriteString("，{indicators}。")
	return b.String()
}
