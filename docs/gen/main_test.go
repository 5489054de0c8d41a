package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/huizong/huizong/services"
)

// The drill example is a record the server takes as it stands: valid for
// the built-in safety_drill template, without a warning for a school of
// its size, and already canonical (what the server stores and returns).
func TestDrillDataValidates(t *testing.T) {
	var tpl services.Template
	for _, b := range services.BuiltinTemplates() {
		if b.Key == "safety_drill" {
			tpl = b
		}
	}
	if tpl.Key == "" {
		t.Fatal("no built-in safety_drill template")
	}
	school := services.Org{ID: "s1", Kind: services.OrgSchool, Name: "第一中学", Students: 900, Staff: 60}
	clean, _, warnings, errs := services.CheckRecordData(tpl, []byte(drillData), school, "2025-10-09")
	if len(errs) > 0 || len(warnings) > 0 {
		t.Fatalf("drill example: errors %+v, warnings %+v", errs, warnings)
	}
	if string(clean) != drillData {
		t.Errorf("drill example not canonical:\n got %s\nwant %s", clean, drillData)
	}
}

const doc = `{"definitions": {
	"A": {"type": "object", "properties": {
		"data": {"type": "object"},
		"n": {"type": "integer"},
		"example": {"type": "number"},
		"m": {"type": "object", "additionalProperties": {"type": "string"}, "x-nullable-values": true}
	}},
	"B": {"type": "object", "properties": {"data": {"type": "object", "x-nullable": true}}}
}}`

func TestFinishExamples(t *testing.T) {
	ex := map[string]string{
		"A.data": `{"type": "number", "kind": "消防", "students": 860}`,
		"B.data": `{"kind": "消防"}`,
	}
	out, err := Finish([]byte(doc), ex)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Definitions map[string]struct {
			Properties map[string]map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	// Order kept, the example not taken for a schema (no format added
	// to its "type": "number").
	if e := compact(t, got.Definitions["A"].Properties["data"]["example"]); e != `{"type":"number","kind":"消防","students":860}` {
		t.Errorf("A.data example %s", e)
	}
	if e := compact(t, got.Definitions["B"].Properties["data"]["example"]); e != `{"kind":"消防"}` {
		t.Errorf("B.data example %s", e)
	}
	if f := string(got.Definitions["A"].Properties["n"]["format"]); f != `"int64"` {
		t.Errorf("A.n format %s", f)
	}
	// A property named example is a schema, not a value.
	if f := string(got.Definitions["A"].Properties["example"]["format"]); f != `"double"` {
		t.Errorf("A.example format %s", f)
	}
	again, err := Finish(out, ex)
	if err != nil {
		t.Fatalf("finishing a finished document: %v", err)
	}
	if !bytes.Equal(again, out) {
		t.Errorf("finishing a finished document changed it:\n%s\n%s", out, again)
	}
}

func TestFinishExamplesRefused(t *testing.T) {
	for entry, want := range map[string]string{
		"Gone.data":  "no definition Gone",
		"A.gone":     "definition A has no property gone",
		"A":          "not definition.property",
		"A.data ":    "definition A has no property data ",
		"A.n":        "not of the property's type integer",
		"B.data.x":   "definition B has no property data.x",
		"A.data,bad": "no property",
	} {
		example := `{"kind": "消防"}`
		if entry == "A.n" {
			example = `1.5`
		}
		_, err := Finish([]byte(doc), map[string]string{entry: example})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", entry, err, want)
		}
	}
	if _, err := Finish([]byte(doc), map[string]string{"A.data": `{"kind":`}); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("bad JSON: error %v", err)
	}
	// Every bad entry is named, not just the first.
	_, err := Finish([]byte(doc), map[string]string{"X.a": `{}`, "Y.b": `{}`})
	if err == nil || !strings.Contains(err.Error(), "X.a") || !strings.Contains(err.Error(), "Y.b") {
		t.Errorf("two bad entries: error %v", err)
	}
	// An example the property already has (an example tag) is not
	// silently replaced.
	tagged := strings.Replace(doc, `"data": {"type": "object"}`, `"data": {"type": "object", "example": {"kind": "地震"}}`, 1)
	if _, err := Finish([]byte(tagged), map[string]string{"A.data": `{"kind": "消防"}`}); err == nil || !strings.Contains(err.Error(), "another example") {
		t.Errorf("tagged example: error %v", err)
	}
}

// The committed document has the table's examples and is finished:
// finishing it again changes nothing.
func TestCommittedDocument(t *testing.T) {
	raw, err := os.ReadFile("../swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Finish(raw, examples)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, raw) {
		t.Error("docs/swagger.json is not finished: run scripts/docs.sh")
	}
	var got struct {
		Definitions map[string]struct {
			Properties map[string]map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for entry, want := range examples {
		def, prop, _ := strings.Cut(entry, ".")
		if e := compact(t, got.Definitions[def].Properties[prop]["example"]); e != want {
			t.Errorf("%s example %s, want %s", entry, e, want)
		}
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.String()
}
