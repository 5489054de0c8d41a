package services

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSummary(t *testing.T) {
	var drill Template
	for _, b := range BuiltinTemplates() {
		if b.Key == "safety_drill" {
			drill = b
		}
	}
	drill.Fields = append(drill.Fields, TemplateField{Key: "leaders", Label: "带队", Type: FieldPeople},
		TemplateField{Key: "plan", Label: "预案", Type: FieldText, Role: RoleDistinct})
	for _, tc := range []struct {
		name, pattern string
		kinds         []PlaceholderKind // of the placeholders, in order
		code, detail  string            // the error expected, if any
	}{
		{"built-in wording", "{scope}共开展{kind}应急疏散演练{drills}，较上年{drills.change}，去年{drills.previous}，学校覆盖率达{school_rate}。",
			[]PlaceholderKind{PlaceScope, PlaceBreakdown, PlaceMeasure, PlaceChange, PlacePrevious, PlaceSchoolRate}, "", ""},
		{"each, people, distinct and the row's words", "{name}{kind:students}{leaders}{plan}{records}{staff_rate}{indicators}",
			[]PlaceholderKind{PlaceName, PlaceEach, PlacePeople, PlaceDistinct, PlaceRecords, PlaceStaffRate, PlaceIndicators}, "", ""},
		{"spaces inside braces", "{ drills }", []PlaceholderKind{PlaceMeasure}, "", ""},
		{"text only", "全区开展演练。", nil, "", ""},
		{"unknown key", "{drils}", nil, "summary_placeholder", "{drils}"},
		{"text field without a role", "{problems}", nil, "summary_placeholder", "{problems}"},
		{"change of a dimension", "{kind.change}", nil, "summary_placeholder", "{kind.change}"},
		{"unknown modifier", "{drills.total}", nil, "summary_placeholder", "{drills.total}"},
		{"each over a measure", "{drills:students}", nil, "summary_placeholder", "{drills:students}"},
		{"each of a dimension", "{kind:kind}", nil, "summary_placeholder", "{kind:kind}"},
		{"empty braces", "共{}场", nil, "summary_placeholder", "{}"},
		{"left open", "共{drills场", nil, "summary_syntax", "{drills场"},
		{"nested", "共{dr{ills}}场", nil, "summary_syntax", "{dr{ills}}场"},
		{"closed alone", "共drills}场", nil, "summary_syntax", "共drills}"},
		{"too long", strings.Repeat("演", MaxSummaryPattern+1), nil, "max_length", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts, errs := ParseSummary(drill, tc.pattern, "summary.zh")
			if tc.code != "" {
				if len(errs) != 1 || errs[0].Field != "summary.zh" || errs[0].Code != tc.code {
					t.Fatalf("errors %+v, want one %s at summary.zh", errs, tc.code)
				}
				if tc.detail != "" && !slices.Contains(paramValues(errs[0]), tc.detail) {
					t.Errorf("error %+v does not name %q", errs[0], tc.detail)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("errors %+v", errs)
			}
			var kinds []PlaceholderKind
			var text strings.Builder
			for _, p := range parts {
				if p.Kind != "" {
					kinds = append(kinds, p.Kind)
				} else {
					text.WriteString(p.Text)
				}
			}
			if !slices.Equal(kinds, tc.kinds) {
				t.Errorf("kinds %v, want %v", kinds, tc.kinds)
			}
			if len(tc.kinds) == 0 && text.String() != tc.pattern {
				t.Errorf("text %q", text.String())
			}
		})
	}
}

// Every built-in's wording and every default fits its template.
func TestSummaryDefaults(t *testing.T) {
	for _, b := range BuiltinTemplates() {
		if b.Summary.ZH == "" {
			t.Errorf("%s has no wording", b.Key)
		}
		for _, p := range []string{b.Summary.ZH, DefaultSummary(b, true), DefaultSummary(b, false)} {
			if _, errs := ParseSummary(b, p, "summary.zh"); len(errs) > 0 {
				t.Errorf("%s: %q: %+v", b.Key, p, errs)
			}
		}
	}
}

func paramValues(e FieldError) []string {
	var out []string
	for _, v := range e.Args {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
