package services

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testTemplate() Template {
	return Template{Key: "drill", Name: "演练", Levels: []OrgKind{OrgSchool}, Active: true, Version: 1, Fields: []TemplateField{
		{Key: "kind", Label: "类型", Type: FieldEnum, Required: true, Role: RoleDimension, Options: opts("消防", "地震")},
		{Key: "drills", Label: "场次", Type: FieldInteger, Min: num(0), Role: RoleMeasure, Default: num(1)},
		{Key: "students", Label: "学生", Type: FieldInteger, Min: num(0), Max: num(100000), Role: RoleMeasure, Check: CheckStudents},
		{Key: "ratio", Label: "比例", Type: FieldNumber, Min: num(0), Max: num(1)},
		{Key: "note", Label: "备注", Type: FieldText, MaxLength: 5},
		{Key: "agencies", Label: "部门", Type: FieldMultiEnum, Options: opts("公安", "消防")},
		{Key: "on", Label: "日期", Type: FieldDate},
		{Key: "done", Label: "完成", Type: FieldBool},
		{Key: "photos", Label: "照片", Type: FieldAttachments},
	}}
}

func TestRecordDataRules(t *testing.T) {
	org := Org{ID: "s1", Kind: OrgSchool, Students: 300}
	ids := func(n int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("%q", fmt.Sprintf("a%d", i)))
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	for _, tc := range []struct {
		name     string
		data     string
		clean    string
		errs     []FieldError
		warnings []Warning
	}{
		{"minimal, default filled", `{"kind":"消防"}`, `{"kind":"消防","drills":1}`, nil, nil},
		{"null is empty", `null`, "", []FieldError{{Field: "data.kind", Code: "required"}}, nil},
		{"integral float is an integer", `{"kind":"消防","students":3.0}`, `{"kind":"消防","drills":1,"students":3}`, nil, nil},
		{"not an integer", `{"kind":"消防","students":1.5}`, "", []FieldError{{Field: "data.students", Code: "integer"}}, nil},
		{"below min", `{"kind":"消防","students":-1}`, "", []FieldError{{Field: "data.students", Code: "min", Args: map[string]any{"min": "0"}}}, nil},
		{"above max", `{"kind":"消防","ratio":1.5}`, "", []FieldError{{Field: "data.ratio", Code: "max", Args: map[string]any{"max": "1"}}}, nil},
		{"wrong type", `{"kind":"消防","students":"many"}`, "", []FieldError{{Field: "data.students", Code: "type", Args: map[string]any{"expected": "integer"}}}, nil},
		{"unknown field", `{"kind":"消防","colour":"red"}`, "", []FieldError{{Field: "data.colour", Code: "unknown"}}, nil},
		{"not an option", `{"kind":"火灾"}`, "", []FieldError{{Field: "data.kind", Code: "enum", Args: map[string]any{"options": "消防、地震"}}}, nil},
		{"text trimmed and NFC", `{"kind":"消防","note":"  Cafe\u0301 "}`, `{"kind":"消防","drills":1,"note":"Café"}`, nil, nil},
		{"text too long", `{"kind":"消防","note":"一二三四五六"}`, "", []FieldError{{Field: "data.note", Code: "max_length", Args: map[string]any{"max": 5}}}, nil},
		{"multi enum deduped", `{"kind":"消防","agencies":["公安","公安","消防"]}`, `{"kind":"消防","drills":1,"agencies":["公安","消防"]}`, nil, nil},
		{"multi enum bad item", `{"kind":"消防","agencies":["公安","交警"]}`, "", []FieldError{{Field: "data.agencies[1]", Code: "enum", Args: map[string]any{"options": "公安、消防"}}}, nil},
		{"date", `{"kind":"消防","on":"2025-10-09"}`, `{"kind":"消防","drills":1,"on":"2025-10-09"}`, nil, nil},
		{"date format", `{"kind":"消防","on":"2025-02-30"}`, "", []FieldError{{Field: "data.on", Code: "date"}}, nil},
		{"date before 2000", `{"kind":"消防","on":"1999-12-31"}`, "", []FieldError{{Field: "data.on", Code: "min_date", Args: map[string]any{"min": "2000-01-01"}}}, nil},
		{"date in the future", `{"kind":"消防","on":"2025-10-11"}`, "", []FieldError{{Field: "data.on", Code: "future", Args: map[string]any{"max": "2025-10-10"}}}, nil},
		{"bool", `{"kind":"消防","done":true}`, `{"kind":"消防","drills":1,"done":true}`, nil, nil},
		{"bool as string", `{"kind":"消防","done":"yes"}`, "", []FieldError{{Field: "data.done", Code: "type", Args: map[string]any{"expected": "bool"}}}, nil},
		{"attachments deduped", `{"kind":"消防","photos":["a1","a1","b2"]}`, `{"kind":"消防","drills":1,"photos":["a1","b2"]}`, nil, nil},
		{"attachment id format", `{"kind":"消防","photos":["A/../b"]}`, "", []FieldError{{Field: "data.photos[0]", Code: "format"}}, nil},
		{"ten attachments", `{"kind":"消防","photos":` + ids(10) + `}`, "", []FieldError{{Field: "data.photos", Code: "too_many", Args: map[string]any{"max": 9}}}, nil},
		{"dollar key", `{"$where":"1"}`, "", []FieldError{{Field: "data.$where", Code: "key"}}, nil},
		{"dollar key deep", `{"kind":"消防","note":{"a":[{"$gt":1}]}}`, "", []FieldError{{Field: "data.$gt", Code: "key"}}, nil},
		{"dotted key", `{"a.b":1}`, "", []FieldError{{Field: "data.a.b", Code: "key"}}, nil},
		{"NUL in key", `{"a\u0000":1}`, "", []FieldError{{Field: "data.a?", Code: "key"}}, nil},
		{"too deep", `{"note":` + strings.Repeat("[", 9) + strings.Repeat("]", 9) + `}`, "", []FieldError{{Field: "data", Code: "depth", Args: map[string]any{"max": 8}}}, nil},
		{"not an object", `[1,2]`, "", []FieldError{{Field: "data", Code: "type", Args: map[string]any{"expected": "object"}}}, nil},
		{"broken JSON", `{"kind":`, "", []FieldError{{Field: "data", Code: "type", Args: map[string]any{"expected": "object"}}}, nil},
		{"above headcount warns", `{"kind":"消防","students":301}`, `{"kind":"消防","drills":1,"students":301}`, nil,
			[]Warning{{Field: "data.students", Code: "above_students", Limit: 300}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clean, _, warnings, errs := CheckRecordData(testTemplate(), []byte(tc.data), org, "2025-10-10")
			if diff := cmp.Diff(tc.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if string(clean) != tc.clean {
				t.Errorf("clean %s, want %s", clean, tc.clean)
			}
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
	// With per, the check is per occurrence: 2 drills of 590 at a
	// 300-student school are 295 a drill.
	perDrill := testTemplate()
	perDrill.Fields[2].Per = "drills"
	for _, tc := range []struct {
		data string
		warn bool
	}{
		{`{"kind":"消防","drills":2,"students":590}`, false},
		{`{"kind":"消防","drills":2,"students":602}`, true},
		{`{"kind":"消防","students":301}`, true},            // the default: one drill
		{`{"kind":"消防","drills":0,"students":301}`, true}, // no division by zero
		{`{"kind":"消防","drills":10,"students":3000}`, false},
	} {
		_, _, w, errs := CheckRecordData(perDrill, []byte(tc.data), org, "2025-10-10")
		if len(errs) > 0 || (len(w) > 0) != tc.warn {
			t.Errorf("per drill %s: warnings %v errors %v, want warning %v", tc.data, w, errs, tc.warn)
		}
	}
	// Headcount 0 means unknown: no warning.
	if _, _, w, _ := CheckRecordData(testTemplate(), []byte(`{"kind":"消防","students":9999}`), Org{}, "2025-10-10"); len(w) != 0 {
		t.Errorf("warnings without a headcount: %v", w)
	}
	big := `{"note":"` + strings.Repeat("x", 300<<10) + `"}`
	if _, _, _, errs := CheckRecordData(testTemplate(), []byte(big), org, "2025-10-10"); len(errs) != 1 || errs[0].Code != "too_large" {
		t.Errorf("300 KiB: %v", errs)
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 201 {
		fmt.Fprintf(&many, `"k%d":1,`, i)
	}
	many.WriteString(`"z":1}`)
	if _, _, _, errs := CheckRecordData(testTemplate(), []byte(many.String()), org, "2025-10-10"); len(errs) != 1 || errs[0].Code != "too_many_keys" {
		t.Errorf("202 keys: %v", errs)
	}
}

func TestTemplateDefinitionRules(t *testing.T) {
	base := func(mut func(t *Template)) Template {
		tt := testTemplate()
		mut(&tt)
		return tt
	}
	for _, tc := range []struct {
		name string
		t    Template
		want []FieldError
	}{
		{"valid", testTemplate(), nil},
		{"key format", base(func(t *Template) { t.Key = "Drill-1" }), []FieldError{{Field: "key", Code: "key_format"}}},
		{"dollar field key", base(func(t *Template) { t.Fields[4].Key = "$note" }), []FieldError{{Field: "fields[4].key", Code: "key_format"}}},
		{"dotted field key", base(func(t *Template) { t.Fields[4].Key = "a.b" }), []FieldError{{Field: "fields[4].key", Code: "key_format"}}},
		{"duplicate field key", base(func(t *Template) { t.Fields[4].Key = "kind" }),
			[]FieldError{{Field: "fields[4].key", Code: "duplicate", Args: map[string]any{"other": "fields[0]"}}}},
		{"min above max", base(func(t *Template) { t.Fields[3].Min = num(2) }), []FieldError{{Field: "fields[3].min", Code: "min_max"}}},
		{"enum without options", base(func(t *Template) { t.Fields[0].Options = nil }), []FieldError{{Field: "fields[0].options", Code: "required"}}},
		{"duplicate option", base(func(t *Template) { t.Fields[0].Options = opts("消防", "消防") }),
			[]FieldError{{Field: "fields[0].options[1].value", Code: "duplicate"}}},
		{"options on text", base(func(t *Template) { t.Fields[4].Options = opts("a") }), []FieldError{{Field: "fields[4].options", Code: "not_allowed"}}},
		{"measure on text", base(func(t *Template) { t.Fields[4].Role = RoleMeasure }), []FieldError{{Field: "fields[4].role", Code: "measure_numeric"}}},
		{"dimension on number", base(func(t *Template) { t.Fields[3].Role = RoleDimension }), []FieldError{{Field: "fields[3].role", Code: "dimension_enum"}}},
		{"default out of range", base(func(t *Template) { t.Fields[2].Default = num(-1) }), []FieldError{{Field: "fields[2].default", Code: "out_of_range"}}},
		{"fractional default", base(func(t *Template) { t.Fields[1].Default = num(1.5) }), []FieldError{{Field: "fields[1].default", Code: "integer"}}},
		{"max_length on number", base(func(t *Template) { t.Fields[3].MaxLength = 3 }), []FieldError{{Field: "fields[3].max_length", Code: "not_allowed"}}},
		{"min on text", base(func(t *Template) { t.Fields[4].Min = num(1) }), []FieldError{{Field: "fields[4].min", Code: "not_allowed"}}},
		{"per names a numeric field", base(func(t *Template) { t.Fields[2].Per = "drills" }), nil},
		{"per of an unknown field", base(func(t *Template) { t.Fields[2].Per = "nope" }), []FieldError{{Field: "fields[2].per", Code: "per_field"}}},
		{"per of itself", base(func(t *Template) { t.Fields[2].Per = "students" }), []FieldError{{Field: "fields[2].per", Code: "per_field"}}},
		{"per of a text", base(func(t *Template) { t.Fields[2].Per = "note" }), []FieldError{{Field: "fields[2].per", Code: "per_field"}}},
		{"per without check", base(func(t *Template) { t.Fields[1].Per = "students" }), []FieldError{{Field: "fields[1].per", Code: "per_without_check"}}},
		{"per on text", base(func(t *Template) { t.Fields[4].Per = "drills" }), []FieldError{{Field: "fields[4].per", Code: "not_allowed"}}},
		{"unknown type", base(func(t *Template) { t.Fields[4].Type = "blob" }),
			[]FieldError{{Field: "fields[4].type", Code: "enum", Args: map[string]any{"options": "integer, number, text, enum, multi_enum, date, bool, attachments, people"}}}},
		{"city level", base(func(t *Template) { t.Levels = []OrgKind{OrgCity} }), nil},
		{"unknown level", base(func(t *Template) { t.Levels = []OrgKind{"province"} }),
			[]FieldError{{Field: "levels[0]", Code: "enum", Args: map[string]any{"options": "school, district, city"}}}},
		{"no fields", base(func(t *Template) { t.Fields = nil }), []FieldError{{Field: "fields", Code: "required"}}},
		{"no name", base(func(t *Template) { t.Name = " " }), []FieldError{{Field: "name", Code: "required"}}},
		{"bad check", base(func(t *Template) { t.Fields[2].Check = "parents" }),
			[]FieldError{{Field: "fields[2].check", Code: "enum", Args: map[string]any{"options": "students, staff"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := CheckTemplate(tc.t)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	clean, _ := CheckTemplate(base(func(t *Template) { t.Levels = nil; t.Name = "  演练 " }))
	if diff := cmp.Diff([]OrgKind{OrgSchool}, clean.Levels); diff != "" || clean.Name != "演练" {
		t.Errorf("cleaning: levels %v name %q", clean.Levels, clean.Name)
	}
	in := testTemplate()
	in.Fields[0].Options = []Option{{Value: " 消防 "}}
	CheckTemplate(in)
	if in.Fields[0].Options[0].Value != " 消防 " {
		t.Error("CheckTemplate changed its argument's options")
	}
}

func TestCatalogueIsValid(t *testing.T) {
	keys := map[string]bool{}
	for _, tmpl := range BuiltinTemplates() {
		if keys[tmpl.Key] {
			t.Errorf("duplicate key %s", tmpl.Key)
		}
		keys[tmpl.Key] = true
		if _, errs := CheckTemplate(tmpl); len(errs) > 0 {
			t.Errorf("%s: %v", tmpl.Key, errs)
		}
		var measures, dimensions int
		for _, f := range tmpl.Fields {
			if f.Label == "" || f.LabelEN == "" {
				t.Errorf("%s.%s lacks a label", tmpl.Key, f.Key)
			}
			switch f.Role {
			case RoleMeasure:
				measures++
			case RoleDimension:
				dimensions++
			}
		}
		if measures == 0 || dimensions == 0 || !tmpl.Builtin || !tmpl.Active || tmpl.NameEN == "" {
			t.Errorf("%s: %d measures, %d dimensions, builtin %v active %v", tmpl.Key, measures, dimensions, tmpl.Builtin, tmpl.Active)
		}
	}
	if len(keys) != 14 {
		t.Errorf("%d templates, want 14", len(keys))
	}
}

// fuzzTemplate builds a template from fuzz bytes.
func fuzzTemplate(spec []byte) Template {
	types := []FieldType{FieldInteger, FieldNumber, FieldText, FieldEnum, FieldMultiEnum, FieldDate, FieldBool, FieldAttachments, FieldPeople}
	t := Template{Key: "f", Name: "f", Levels: []OrgKind{OrgSchool}, Active: true}
	for i := 0; i+2 < len(spec) && len(t.Fields) < 8; i += 3 {
		f := TemplateField{Key: fmt.Sprintf("f%d", len(t.Fields)), Label: "x", Type: types[int(spec[i])%len(types)],
			Required: spec[i+1]&1 == 1}
		switch f.Type {
		case FieldInteger, FieldNumber:
			if spec[i+1]&2 != 0 {
				f.Min = num(float64(spec[i+2] % 10))
			}
			if spec[i+1]&4 != 0 {
				f.Max = num(float64(spec[i+2]%10) + 50)
			}
			if spec[i+1]&8 != 0 {
				f.Default = num(float64(spec[i+2]%10) + 1)
			}
		case FieldText:
			f.MaxLength = int(spec[i+2]%20) + 1
		case FieldEnum, FieldMultiEnum:
			f.Options = opts("a", "b", "c")[:int(spec[i+2]%3)+1]
		}
		t.Fields = append(t.Fields, f)
	}
	return t
}

func FuzzRecordData(f *testing.F) {
	f.Add([]byte{0, 3, 5, 2, 1, 7}, []byte(`{"f0":5,"f1":"hello"}`))
	f.Add([]byte{3, 1, 2, 4, 0, 1}, []byte(`{"f0":"a","f1":["b","b"]}`))
	f.Add([]byte{5, 1, 0}, []byte(`{"f0":"2020-02-29"}`))
	f.Add([]byte{7, 0, 0}, []byte(`{"f0":["x1","x2"],"$where":1}`))
	f.Add([]byte{1, 14, 3}, []byte(`{"f0":1e308}`))
	f.Fuzz(func(t *testing.T, spec, data []byte) {
		tmpl := fuzzTemplate(spec)
		if _, errs := CheckTemplate(tmpl); len(errs) > 0 {
			return
		}
		org := Org{Students: 100, Staff: 10}
		clean, _, _, errs := CheckRecordData(tmpl, data, org, "2025-10-10")
		if len(errs) > 0 {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(clean, &m); err != nil {
			t.Fatalf("clean output %s is not an object: %v", clean, err)
		}
		for k := range m {
			if _, ok := tmpl.Field(k); !ok {
				t.Fatalf("clean output has key %q outside the template", k)
			}
		}
		again, _, _, errs := CheckRecordData(tmpl, clean, org, "2025-10-10")
		if len(errs) > 0 || string(again) != string(clean) {
			t.Fatalf("not idempotent: %s -> %s %v", clean, again, errs)
		}
	})
}

func FuzzTemplateDefinition(f *testing.F) {
	f.Add([]byte{0, 15, 3, 3, 1, 2}, "k", "名称")
	f.Add([]byte{2, 0, 9}, "$bad.key", "")
	f.Fuzz(func(t *testing.T, spec []byte, key, name string) {
		tmpl := fuzzTemplate(spec)
		tmpl.Key, tmpl.Name = key, name
		clean, errs := CheckTemplate(tmpl)
		if len(errs) == 0 && !keyPattern.MatchString(clean.Key) {
			t.Fatalf("accepted key %q", clean.Key)
		}
	})
}

// TestScanKeysPaths: the byte walk over a valid document and the
// tokenizer report the same fault (or none) for documents of each kind.
func TestScanKeysPaths(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDataDepth) + "1" + strings.Repeat("}", maxDataDepth)
	tooDeep := strings.Repeat(`[`, maxDataDepth+1) + strings.Repeat("]", maxDataDepth+1)
	var many strings.Builder
	many.WriteString("{")
	for i := range maxDataKeys + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"k%d":[{"x":1}]`, i)
	}
	many.WriteString("}")
	for _, tc := range []struct {
		name, doc, want string // want: the fault's field and code, "" for none
	}{
		{"plain", `{"f0":5,"f1":"a,b:{c}"}`, ""},
		{"values look like keys", `{"f0":["$x","a.b"],"f1":{"ok":"$y"}}`, ""},
		{"dollar key", `{"f0":1,"$where":1}`, "data.$where key"},
		{"dotted key in a list", `{"f0":[{"a.b":1}]}`, "data.a.b key"},
		{"escaped dollar", `{"\u0024gt":1}`, "data.$gt key"},
		{"escaped quote then dot", `{"a\".b":1}`, `data.a".b key`},
		{"nul key", `{"a\u0000":1}`, "data.a? key"},
		{"deep enough", deep, ""},
		{"too deep", tooDeep, "data depth"},
		{"too many keys", many.String(), "data too_many_keys"},
		{"empty key", `{"":1}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, slow := scanValidKeys([]byte(tc.doc)), scanTokens([]byte(tc.doc))
			if got, want := faultOf(fast), faultOf(slow); got != want || got != tc.want {
				t.Errorf("byte walk %q, tokenizer %q, want %q", got, want, tc.want)
			}
		})
	}
}

// faultOf names a scan's fault: its field and code, or the error text.
func faultOf(err error) string {
	var de *dataError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &de):
		return de.fe.Field + " " + de.fe.Code
	default:
		return err.Error()
	}
}

// FuzzScanKeys: on every document json.Valid accepts, the byte walk finds
// exactly the fault the tokenizer finds.
func FuzzScanKeys(f *testing.F) {
	f.Add([]byte(`{"f0":5,"f1":"hello"}`))
	f.Add([]byte(`{"a":[{"$b":"\"c"}],"d\\.e":1}`))
	f.Add([]byte(`[[[[[[[[[1]]]]]]]]]`))
	f.Add([]byte(`{"\ud800":"\u00e9","k":{"":[]}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		if fast, slow := faultOf(scanValidKeys(doc)), faultOf(scanTokens(doc)); fast != slow {
			t.Fatalf("%q: byte walk %q, tokenizer %q", doc, fast, slow)
		}
	})
}
