// Command gen finishes the Swagger document swag generates from the
// handlers' annotations (docs/swagger.json), with what swag cannot say:
//
//   - every number is a double and every integer an int64 (without a
//     format, generators make float32 and int: a total of 8888888.9 came
//     back as 8888889);
//   - a map property tagged x-nullable-values has nullable values (the
//     totals rows' keys: null for a dimension a record leaves out);
//   - the examples of the properties in examples (an object on a
//     json.RawMessage property, which no swag tag can give).
//
// It rewrites the file in place, deterministically, so CI can check that
// docs/ is fresh: go run ./docs/gen docs/swagger.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
)

// drillData is the data of a real safety_drill record (the built-in
// template, services/catalogue.go), in its canonical form: the server
// stores and returns it as it stands. main_test.go checks it against the
// template.
const drillData = `{"kind":"消防","drills":1,"students":860,"staff":52,"duration_minutes":15,"evacuation_seconds":200,"problems":"东侧楼梯口一度拥堵，已调整疏散路线"}`

// examples gives properties the example swag cannot: definition.property
// -> example JSON. A named definition or property the document no longer
// has is an error, so the table cannot outlive what it documents.
var examples = map[string]string{
	"RecordRequest.data":      drillData,
	"RecordPatchRequest.data": drillData,
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen docs/swagger.json")
		os.Exit(2)
	}
	if err := finish(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func finish(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out, err := Finish(raw, examples)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return os.WriteFile(file, out, 0o644)
}

// Finish returns the finished document of raw, with the examples ex
// (definition.property -> example JSON). Finishing a finished document
// changes nothing.
func Finish(raw []byte, ex map[string]string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	walk(doc)
	// After walk: an example is a value, not a schema (a record's
	// "type" key must not get a format).
	if err := setExamples(doc, ex); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// walk visits every object of the document: schemas, parameters, items,
// headers; not the values in it (examples, defaults, enums), where a
// "type" is a record's key, not a schema's.
func walk(v any) {
	walkIn(v, false)
}

// named are the keys whose objects map names to schemas, parameters,
// responses ...: there "example" or "default" is a name, not a value.
var named = map[string]bool{"definitions": true, "properties": true, "parameters": true, "responses": true,
	"paths": true, "headers": true, "securityDefinitions": true}

// values are the keys whose content is a value, not a schema.
var values = map[string]bool{"example": true, "examples": true, "x-example": true, "default": true, "enum": true}

func walkIn(v any, names bool) {
	switch x := v.(type) {
	case map[string]any:
		if !names {
			formats(x)
			if nv, ok := x["x-nullable-values"]; ok {
				delete(x, "x-nullable-values")
				if ap, ok := x["additionalProperties"].(map[string]any); ok && nv == true {
					ap["x-nullable"] = true
				}
			}
		}
		for k, e := range x {
			if !names && values[k] {
				continue
			}
			walkIn(e, !names && named[k])
		}
	case []any:
		for _, e := range x {
			walkIn(e, false)
		}
	}
}

// formats gives a number or integer without a format its 64-bit one.
func formats(x map[string]any) {
	if _, ok := x["format"]; ok {
		return
	}
	switch x["type"] {
	case "number":
		x["format"] = "double"
	case "integer":
		x["format"] = "int64"
	}
}

// setExamples sets the example of every definition.property of ex, in
// key order, naming every entry that does not fit the document.
func setExamples(doc map[string]any, ex map[string]string) error {
	keys := make([]string, 0, len(ex))
	for k := range ex {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	defs, _ := doc["definitions"].(map[string]any)
	var errs []error
	for _, k := range keys {
		if err := setExample(defs, k, ex[k]); err != nil {
			errs = append(errs, fmt.Errorf("example %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

func setExample(defs map[string]any, key, example string) error {
	def, prop, ok := strings.Cut(key, ".")
	if !ok || def == "" || prop == "" {
		return errors.New("not definition.property")
	}
	d, ok := defs[def].(map[string]any)
	if !ok {
		return fmt.Errorf("no definition %s", def)
	}
	props, _ := d["properties"].(map[string]any)
	p, ok := props[prop].(map[string]any)
	if !ok {
		return fmt.Errorf("definition %s has no property %s", def, prop)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(example)); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	v, err := decode(b.Bytes())
	if err != nil {
		return err
	}
	if t, _ := p["type"].(string); t != "" && !ofType(v, t) {
		return fmt.Errorf("not of the property's type %s", t)
	}
	if old, ok := p["example"]; ok {
		// Already there: gen ran before (the same example), or the
		// struct got an example tag (which then wins: drop the entry).
		if oldV, err := decode(mustMarshal(old)); err != nil || !reflect.DeepEqual(oldV, v) {
			return errors.New("the property already has another example")
		}
	}
	p["example"] = json.RawMessage(b.Bytes())
	return nil
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// ofType reports whether the JSON value v is of the Swagger type t.
func ofType(v any, t string) bool {
	switch x := v.(type) {
	case map[string]any:
		return t == "object"
	case []any:
		return t == "array"
	case string:
		return t == "string"
	case bool:
		return t == "boolean"
	case json.Number:
		if t == "integer" {
			_, err := x.Int64()
			return err == nil
		}
		return t == "number"
	case nil:
		return true
	}
	return false
}
