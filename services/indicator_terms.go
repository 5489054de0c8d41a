package services

import (
	"slices"
	"strings"
)

// TermKind is what a term of an indicator counts.
type TermKind string

// The kinds of term.
const (
	TermMeasure TermKind = "measure" // <template>.<measure>[...]
	TermRecords TermKind = "records" // <template>.records[...]
	TermPeople  TermKind = "people"  // people(<template>.<field>)
	TermSchools TermKind = "schools" // schools(<template>)[...]
	TermOrg     TermKind = "org"     // org.students | org.staff | org.schools[stage=...]
)

// The figures of a unit an org term names.
const (
	OrgStudents = "students"
	OrgStaff    = "staff"
	OrgSchools  = "schools"
)

// Term is one parsed term of an indicator.
type Term struct {
	Kind     TermKind
	Template string
	// Key is the measure or people field, or the org figure.
	Key string
	// Filter keeps records (or, for org.schools, schools by stage) with
	// these values, by key.
	Filter map[string][]string
}

// Limits on indicators.
const (
	maxIndicatorTerms = 10
	maxTermLength     = 200
	maxIndicatorName  = 100
	maxIndicatorDesc  = 1000
	maxDecimals       = 6
)

// ParseTerm reads one term; the code says what is wrong (term_format).
func ParseTerm(s string) (Term, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxTermLength {
		return Term{}, false
	}
	// A trailing [k=v,...] filter.
	var filter map[string][]string
	if strings.HasSuffix(s, "]") {
		i := strings.LastIndex(s, "[")
		if i < 0 {
			return Term{}, false
		}
		f, ok := parseTermFilter(s[i+1 : len(s)-1])
		if !ok {
			return Term{}, false
		}
		filter, s = f, strings.TrimSpace(s[:i])
	}
	call := func(name string) (string, bool) {
		if strings.HasPrefix(s, name+"(") && strings.HasSuffix(s, ")") {
			return strings.TrimSpace(s[len(name)+1 : len(s)-1]), true
		}
		return "", false
	}
	if arg, ok := call("people"); ok {
		tmpl, field, ok := strings.Cut(arg, ".")
		if !ok || !keyPattern.MatchString(tmpl) || !keyPattern.MatchString(field) || filter != nil {
			return Term{}, false
		}
		return Term{Kind: TermPeople, Template: tmpl, Key: field}, true
	}
	if arg, ok := call("schools"); ok {
		if !keyPattern.MatchString(arg) {
			return Term{}, false
		}
		return Term{Kind: TermSchools, Template: arg, Filter: filter}, true
	}
	head, key, ok := strings.Cut(s, ".")
	if !ok || !keyPattern.MatchString(head) || !keyPattern.MatchString(key) {
		return Term{}, false
	}
	if head == "org" {
		switch {
		case key != OrgStudents && key != OrgStaff && key != OrgSchools:
			return Term{}, false
		case filter != nil && (key != OrgSchools || len(filter) != 1 || filter["stage"] == nil):
			return Term{}, false
		}
		return Term{Kind: TermOrg, Key: key, Filter: filter}, true
	}
	if key == "records" {
		return Term{Kind: TermRecords, Template: head, Filter: filter}, true
	}
	return Term{Kind: TermMeasure, Template: head, Key: key, Filter: filter}, true
}

// parseTermFilter reads "level=市级,category=优秀班主任|优秀教师".
func parseTermFilter(s string) (map[string][]string, bool) {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ",") {
		k, vals, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.TrimSpace(k)
		if !ok || !keyPattern.MatchString(k) || out[k] != nil {
			return nil, false
		}
		var list []string
		for _, v := range strings.Split(vals, "|") {
			if v = strings.TrimSpace(v); !slices.Contains(list, v) {
				list = append(list, v)
			}
		}
		if len(list) > maxTotalsFilterValue {
			return nil, false
		}
		out[k] = list
	}
	return out, len(out) > 0 && len(out) <= maxTotalsFilters
}

// totalsFilter writes a term's filter as the totals query's filter.
func (t Term) totalsFilter() string {
	var parts []string
	for _, k := range sortedKeys(t.Filter) {
		parts = append(parts, k+":"+strings.Join(t.Filter[k], "|"))
	}
	return strings.Join(parts, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkTerm checks a parsed term against the templates: the template is
// visible, the key is a measure (a people field for people), the filter
// keys are dimensions with those options. It returns a field error code.
func checkTerm(t Term, tmpl Template, found bool) (code string, args []any) {
	if t.Kind == TermOrg {
		return "", nil
	}
	if !found {
		return "term_template", []any{"template", t.Template}
	}
	switch t.Kind {
	case TermMeasure:
		if f, ok := tmpl.Field(t.Key); !ok || f.Role != RoleMeasure {
			return "term_measure", []any{"key", t.Key}
		}
	case TermPeople:
		if f, ok := tmpl.Field(t.Key); !ok || f.Type != FieldPeople {
			return "term_people", []any{"key", t.Key}
		}
	}
	for _, k := range sortedKeys(t.Filter) {
		f, ok := tmpl.Field(k)
		if !ok || f.Role != RoleDimension {
			return "term_dimension", []any{"key", k}
		}
		for _, v := range t.Filter[k] {
			if v != "" && f.Type != FieldBool && !hasOption(f, v) {
				return "term_option", []any{"key", k, "value", v}
			}
		}
	}
	return "", nil
}
