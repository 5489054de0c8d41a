// Command gen finishes the Swagger document swag generates from the
// handlers' annotations (docs/swagger.json), with what swag cannot say:
//
//   - every number is a double and every integer an int64 (without a
//     format, generators make float32 and int: a total of 8888888.9 came
//     back as 8888889);
//   - a map property tagged x-nullable-values has nullable values (the
//     totals rows' keys: null for a dimension a record leaves out).
//
// It rewrites the file in place, deterministically, so CI can check that
// docs/ is fresh: go run ./docs/gen docs/swagger.json
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

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
	out, err := Finish(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return os.WriteFile(file, out, 0o644)
}

// Finish returns the finished document of raw.
func Finish(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	walk(doc)
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
// headers.
func walk(v any) {
	switch x := v.(type) {
	case map[string]any:
		formats(x)
		if nv, ok := x["x-nullable-values"]; ok {
			delete(x, "x-nullable-values")
			if ap, ok := x["additionalProperties"].(map[string]any); ok && nv == true {
				ap["x-nullable"] = true
			}
		}
		for _, e := range x {
			walk(e)
		}
	case []any:
		for _, e := range x {
			walk(e)
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
