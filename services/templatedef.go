package services

import (
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// Limits on template definitions.
const (
	maxTemplateName = 100
	maxFieldLabel   = 100
	maxUnit         = 20
	maxOptionValue  = 100
	maxCategory     = 40
)

// CheckTemplate cleans a template definition (text trimmed and NFC,
// levels defaulting to schools) and checks it, naming each problem by its
// path: key, name, levels[i], fields[i].key, fields[i].options[j].value ...
func CheckTemplate(t Template) (Template, []FieldError) {
	var v Validation
	t.Name, t.NameEN, t.Category = CleanText(t.Name), CleanText(t.NameEN), CleanText(t.Category)
	switch {
	case t.Key == "":
		v.Add("key", "required")
	case len(t.Key) > MaxTemplateKeyBytes:
		v.Add("key", "max_length", "max", MaxTemplateKeyBytes)
	case !keyPattern.MatchString(t.Key):
		v.Add("key", "key_format")
	}
	checkText(&v, "name", t.Name, true, maxTemplateName)
	checkText(&v, "name_en", t.NameEN, false, maxTemplateName)
	checkText(&v, "category", t.Category, false, maxCategory)

	if len(t.Levels) == 0 {
		t.Levels = []OrgKind{OrgSchool}
	}
	var levels []OrgKind
	for i, l := range t.Levels {
		switch {
		case !l.Valid():
			v.Add(fmt.Sprintf("levels[%d]", i), "enum", "options", "school, district, city")
		case !slices.Contains(levels, l):
			levels = append(levels, l)
		}
	}
	t.Levels = levels

	switch {
	case len(t.Fields) == 0:
		v.Add("fields", "required")
	case len(t.Fields) > MaxTemplateFields:
		v.Add("fields", "too_many", "max", MaxTemplateFields)
	}
	seen := map[string]int{}
	fields := make([]TemplateField, len(t.Fields))
	for i, f := range t.Fields {
		fields[i] = checkField(&v, fmt.Sprintf("fields[%d]", i), f)
		if f.Key == "" {
			continue
		}
		if j, dup := seen[f.Key]; dup {
			v.Add(fmt.Sprintf("fields[%d].key", i), "duplicate", "other", fmt.Sprintf("fields[%d]", j))
		} else {
			seen[f.Key] = i
		}
	}
	// A check's per names another numeric field of the template.
	for i, f := range fields {
		if f.Per == "" {
			continue
		}
		j, ok := seen[f.Per]
		if !ok || j == i || !fields[j].Type.Numeric() {
			v.Add(fmt.Sprintf("fields[%d].per", i), "per_field")
		}
	}
	t.Fields = fields
	// The summary sentence names fields of this version.
	t.Summary.ZH = CleanText(t.Summary.ZH)
	checkSummary(&v, t, t.Summary.ZH)
	return t, v.Fields()
}

// checkSummary checks a cleaned summary pattern zh as text (one line, at
// most MaxSummaryPattern characters) and then against t's fields.
func checkSummary(v *Validation, t Template, zh string) {
	n := len(v.Fields())
	checkText(v, "summary.zh", zh, false, MaxSummaryPattern)
	if zh != "" && len(v.Fields()) == n {
		_, errs := ParseSummary(t, zh, "summary.zh")
		v.fields = append(v.fields, errs...)
	}
}

// checkField cleans and checks one field definition.
func checkField(v *Validation, at string, f TemplateField) TemplateField {
	f.Label, f.LabelEN, f.Unit = CleanText(f.Label), CleanText(f.LabelEN), CleanText(f.Unit)
	switch {
	case f.Key == "":
		v.Add(at+".key", "required")
	case len(f.Key) > maxKeyRunes:
		v.Add(at+".key", "max_length", "max", maxKeyRunes)
	case !keyPattern.MatchString(f.Key):
		v.Add(at+".key", "key_format")
	}
	checkText(v, at+".label", f.Label, true, maxFieldLabel)
	checkText(v, at+".label_en", f.LabelEN, false, maxFieldLabel)
	checkText(v, at+".unit", f.Unit, false, maxUnit)

	numeric := f.Type.Numeric()
	enum := f.Type == FieldEnum || f.Type == FieldMultiEnum
	switch f.Type {
	case FieldInteger, FieldNumber, FieldText, FieldEnum, FieldMultiEnum, FieldDate, FieldBool, FieldAttachments, FieldPeople:
	case "":
		v.Add(at+".type", "required")
		return f
	default:
		// What else is allowed depends on the type: nothing more to say.
		v.Add(at+".type", "enum", "options", "integer, number, text, enum, multi_enum, date, bool, attachments, people")
		return f
	}
	finite := func(p *float64) bool { return p == nil || !(math.IsInf(*p, 0) || math.IsNaN(*p)) }
	if !finite(f.Min) || !finite(f.Max) || !finite(f.Default) {
		v.Add(at, "format")
	}
	if !numeric {
		for _, b := range []struct {
			name string
			p    *float64
		}{{"min", f.Min}, {"max", f.Max}, {"default", f.Default}} {
			if b.p != nil && f.Type != "" {
				v.Add(at+"."+b.name, "not_allowed")
			}
		}
		if f.Check != "" && f.Type != "" {
			v.Add(at+".check", "not_allowed")
		}
		if f.Per != "" && f.Type != "" {
			v.Add(at+".per", "not_allowed")
		}
	}
	if numeric {
		// Bounds and default obey the cap submitted measures do
		// (MaxMeasure): a default is stored into records unchecked by the
		// cap otherwise, and totals sum it in int64 fixed point (a default
		// of 1e18 once drove a district's total negative). Every numeric
		// field, measure or not: the role may change in a later version,
		// and no honest bound is near 1e10.
		capped := func(p *float64) bool { return p != nil && finite(p) && math.Abs(*p) > MaxMeasure }
		for _, b := range []struct {
			name string
			p    *float64
		}{{"min", f.Min}, {"max", f.Max}} {
			if capped(b.p) {
				v.Add(at+"."+b.name, "out_of_range", "min", fmtNum(-MaxMeasure), "max", fmtNum(MaxMeasure))
			}
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			v.Add(at+".min", "min_max")
		}
		if f.Default != nil {
			d := *f.Default
			switch {
			case capped(f.Default):
				v.Add(at+".default", "out_of_range", "min", fmtNum(-MaxMeasure), "max", fmtNum(MaxMeasure))
			case f.Type == FieldInteger && d != math.Trunc(d):
				v.Add(at+".default", "integer")
			case f.Min != nil && d < *f.Min, f.Max != nil && d > *f.Max:
				v.Add(at+".default", "out_of_range")
			}
		}
		if f.Type == FieldInteger {
			if f.Min != nil && *f.Min != math.Trunc(*f.Min) {
				v.Add(at+".min", "integer")
			}
			if f.Max != nil && *f.Max != math.Trunc(*f.Max) {
				v.Add(at+".max", "integer")
			}
		}
		switch f.Check {
		case "", CheckStudents, CheckStaff:
		default:
			v.Add(at+".check", "enum", "options", "students, staff")
		}
		if f.Per != "" && f.Check == "" {
			v.Add(at+".per", "per_without_check")
		}
	}
	if f.MaxLength != 0 {
		switch {
		case f.Type != FieldText:
			v.Add(at+".max_length", "not_allowed")
		case f.MaxLength < 1 || f.MaxLength > MaxTextLength:
			v.Add(at+".max_length", "range", "min", 1, "max", MaxTextLength)
		}
	}
	f.Options = slices.Clone(f.Options)
	if enum {
		switch {
		case len(f.Options) == 0:
			v.Add(at+".options", "required")
		case len(f.Options) > MaxFieldOptions:
			v.Add(at+".options", "too_many", "max", MaxFieldOptions)
		}
		seen := map[string]bool{}
		for j, o := range f.Options {
			o.Value, o.Label, o.LabelEN = CleanText(o.Value), CleanText(o.Label), CleanText(o.LabelEN)
			ov := fmt.Sprintf("%s.options[%d]", at, j)
			switch {
			case o.Value == "":
				v.Add(ov+".value", "required")
			case utf8.RuneCountInString(o.Value) > maxOptionValue:
				v.Add(ov+".value", "max_length", "max", maxOptionValue)
			case seen[o.Value]:
				v.Add(ov+".value", "duplicate")
			}
			seen[o.Value] = true
			if o.Label == "" {
				o.Label = o.Value
			}
			checkText(v, ov+".label", o.Label, false, maxFieldLabel)
			f.Options[j] = o
		}
	} else if len(f.Options) > 0 && f.Type != "" {
		v.Add(at+".options", "not_allowed")
	}
	switch f.Aggregation {
	case "", AggregateSum, AggregateLast, AggregateState:
		if f.Aggregation != "" && f.Role != RoleMeasure {
			v.Add(at+".aggregation", "not_allowed")
		}
	default:
		v.Add(at+".aggregation", "enum", "options", "sum, last, state")
	}
	switch f.Role {
	case RoleNone:
	case RoleMeasure:
		if !numeric && f.Type != "" {
			v.Add(at+".role", "measure_numeric")
		}
	case RoleDimension:
		if !enum && f.Type != FieldBool && f.Type != "" {
			v.Add(at+".role", "dimension_enum")
		}
	case RoleDistinct:
		if f.Type != FieldText && f.Type != FieldPeople && f.Type != "" {
			v.Add(at+".role", "distinct_text")
		}
	default:
		v.Add(at+".role", "enum", "options", "measure, dimension, distinct")
	}
	return f
}
