package services

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on the data object of a record, checked before anything else so
// hostile input costs little.
const (
	maxDataBytes = 256 << 10
	maxDataKeys  = 200
	maxDataDepth = 8
	maxKeyRunes  = 40
)

// keyPattern is what template and field keys look like: lower snake_case
// ASCII, so never "$"-prefixed or dotted, and safe as a JSON path or a
// document key in either store.
var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

var attachmentIDPattern = regexp.MustCompile(`^[0-9a-z]{1,64}$`)

// CheckRecordData validates the data object of a record against template
// t for org unit org, with dates judged against today (YYYY-MM-DD). It
// returns the data in canonical form (template field order, defaults
// filled, text trimmed and NFC), the attachment ids it refers to, the
// plausibility warnings, and field errors named "data.<key>".
func CheckRecordData(t Template, data []byte, org Org, today string) (clean json.RawMessage, attachments []string, warnings []Warning, errs []FieldError) {
	var v Validation
	if len(data) > maxDataBytes {
		v.Add("data", "too_large", "max", maxDataBytes)
		return nil, nil, nil, v.Fields()
	}
	values, err := decodeDataObject(data)
	if err != nil {
		var de *dataError
		if errors.As(err, &de) {
			return nil, nil, nil, []FieldError{de.fe}
		}
		v.Add("data", "type", "expected", "object")
		return nil, nil, nil, v.Fields()
	}
	for k := range values {
		if _, ok := t.Field(k); !ok {
			v.Add("data."+k, "unknown")
		}
	}
	var out bytes.Buffer
	out.WriteByte('{')
	n := 0
	emit := func(key string, val any) {
		if n > 0 {
			out.WriteByte(',')
		}
		n++
		kb, _ := json.Marshal(key)
		vb, _ := json.Marshal(val)
		out.Write(kb)
		out.WriteByte(':')
		out.Write(vb)
	}
	for _, f := range t.Fields {
		raw, present := values[f.Key]
		name := "data." + f.Key
		if present && isNull(raw) {
			present = false
		}
		if !present {
			if f.Type.Numeric() && f.Default != nil {
				// The default goes through the rules a submitted value
				// does: CheckTemplate caps defaults, but a template stored
				// before it did may hold one (1e18 once wrapped a
				// district's total); a record must then give the value.
				if val, ok := checkNumber(&v, name, f, *f.Default); ok {
					emit(f.Key, val)
				}
				continue
			}
			if f.Required {
				v.Add(name, "required")
			}
			continue
		}
		val, ok := checkValue(&v, name, f, raw, today)
		if !ok {
			continue
		}
		if val == nil {
			if f.Required {
				v.Add(name, "required")
			}
			continue
		}
		switch f.Type {
		case FieldAttachments:
			attachments = append(attachments, val.([]string)...)
		case FieldInteger, FieldNumber:
			if w, ok := plausibility(f, val, occurrences(t, f, values), org); ok {
				w.Field = name
				warnings = append(warnings, w)
			}
		}
		emit(f.Key, val)
	}
	out.WriteByte('}')
	if len(attachments) > MaxAttachments {
		v.Add("data", "too_many_attachments", "max", MaxAttachments)
	}
	if len(v.Fields()) > 0 {
		return nil, nil, nil, v.Fields()
	}
	return json.RawMessage(out.Bytes()), attachments, warnings, nil
}

// decodeDataObject reads the top level of a data object, refusing
// hostile keys, too many keys and too deep nesting anywhere inside it.
func decodeDataObject(data []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 || isNull(data) {
		return map[string]json.RawMessage{}, nil
	}
	if err := scanKeys(data); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, errors.New("data is not an object")
	}
	return m, nil
}

// scanKeys checks the whole document: depth, key count and every key at
// any level. A valid document (nearly every one) is walked byte by byte;
// anything else goes to the tokenizer, which finds the same faults and
// says where the document stops being JSON.
func scanKeys(data []byte) error {
	if json.Valid(data) {
		return scanValidKeys(data)
	}
	return scanTokens(data)
}

// scanValidKeys is scanKeys for a document json.Valid accepts: outside
// strings only the structural bytes matter, and a string is a key when it
// opens an object's member. It reports the fault the tokenizer would
// report first.
func scanValidKeys(data []byte) error {
	var object [maxDataDepth]bool // whether each open container is an object
	depth, keys := 0, 0
	wantKey := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			if depth+1 > maxDataDepth {
				return &dataError{Field("data", "depth", "max", maxDataDepth)}
			}
			object[depth] = c == '{'
			depth++
			wantKey = c == '{'
		case '}', ']':
			depth--
			wantKey = false
		case ',':
			wantKey = depth > 0 && object[depth-1]
		case '"':
			end, escaped := i+1, false
			for ; data[end] != '"'; end++ {
				if data[end] == '\\' {
					end++
					escaped = true
				}
			}
			if wantKey {
				k := string(data[i+1 : end])
				if escaped {
					if err := json.Unmarshal(data[i:end+1], &k); err != nil {
						return errors.New("data is not valid JSON")
					}
				}
				if isHostileKey(k) {
					return &dataError{Field("data."+safeKey(k), "key")}
				}
				if keys++; keys > maxDataKeys {
					return &dataError{Field("data", "too_many_keys", "max", maxDataKeys)}
				}
				wantKey = false
			}
			i = end
		}
	}
	return nil
}

// scanTokens is scanKeys with a tokenizer, for a document that is not
// valid JSON.
func scanTokens(data []byte) error {
	type frame struct{ object, wantKey bool }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []frame
	keys := 0
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.New("data is not valid JSON")
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if n := len(stack); n > 0 && stack[n-1].object {
					stack[n-1].wantKey = false
				}
				if len(stack)+1 > maxDataDepth {
					return &dataError{Field("data", "depth", "max", maxDataDepth)}
				}
				stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			k, _ := tok.(string)
			if isHostileKey(k) {
				return &dataError{Field("data."+safeKey(k), "key")}
			}
			if keys++; keys > maxDataKeys {
				return &dataError{Field("data", "too_many_keys", "max", maxDataKeys)}
			}
			stack[n-1].wantKey = false
			continue
		}
		valueDone()
	}
}

// dataError is a field error found while scanning data.
type dataError struct{ fe FieldError }

func (e *dataError) Error() string { return e.fe.Field + ": " + e.fe.Code }

func isHostileKey(k string) bool {
	return strings.HasPrefix(k, "$") || strings.ContainsAny(k, ".\x00")
}

// safeKey makes a key printable in an error: bounded, no control
// characters.
func safeKey(k string) string {
	k = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, k)
	if utf8.RuneCountInString(k) > maxKeyRunes {
		k = string([]rune(k)[:maxKeyRunes])
	}
	return k
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

func numberValue(t FieldType, f float64) any {
	if t == FieldInteger {
		return int64(f)
	}
	return f
}

// checkNumber applies the rules of numeric field f to x, a submitted
// value or f's default, and returns its canonical value.
func checkNumber(v *Validation, name string, f TemplateField, x float64) (any, bool) {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		v.Add(name, "type", "expected", string(f.Type))
		return nil, false
	}
	if f.Type == FieldInteger && (x != math.Trunc(x) || math.Abs(x) > 1<<53) {
		v.Add(name, "integer")
		return nil, false
	}
	if f.Min != nil && x < *f.Min {
		v.Add(name, "min", "min", fmtNum(*f.Min))
		return nil, false
	}
	if f.Max != nil && x > *f.Max {
		v.Add(name, "max", "max", fmtNum(*f.Max))
		return nil, false
	}
	if f.Role == RoleMeasure && math.Abs(x) > MaxMeasure {
		// Totals add measures exactly in fixed point (FixedOf); this keeps
		// any realistic sum far from overflowing, and stores refuse the
		// rest (TotalOverflow).
		v.Add(name, "max", "max", fmtNum(MaxMeasure))
		return nil, false
	}
	return numberValue(f.Type, x), true
}

// checkValue validates one present value of field f. It returns the
// canonical value (nil for an empty one) and whether it is valid.
func checkValue(v *Validation, name string, f TemplateField, raw json.RawMessage, today string) (any, bool) {
	typeErr := func() (any, bool) {
		v.Add(name, "type", "expected", string(f.Type))
		return nil, false
	}
	switch f.Type {
	case FieldInteger, FieldNumber:
		var num json.Number
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&num); err != nil {
			return typeErr()
		}
		x, err := num.Float64()
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return typeErr()
		}
		return checkNumber(v, name, f, x)
	case FieldText:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return typeErr()
		}
		s = CleanText(s)
		if s == "" {
			return nil, true
		}
		max := f.MaxLength
		if max <= 0 {
			max = MaxTextLength
		}
		if utf8.RuneCountInString(s) > max {
			v.Add(name, "max_length", "max", max)
			return nil, false
		}
		if strings.ContainsFunc(s, func(c rune) bool { return unicode.IsControl(c) && c != '\n' && c != '\t' && c != '\r' }) {
			v.Add(name, "format")
			return nil, false
		}
		return s, true
	case FieldEnum:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return typeErr()
		}
		s = CleanText(s)
		if s == "" {
			return nil, true
		}
		if !hasOption(f, s) {
			v.Add(name, "enum", "options", optionList(f))
			return nil, false
		}
		return s, true
	case FieldMultiEnum:
		var ss []string
		if json.Unmarshal(raw, &ss) != nil {
			return typeErr()
		}
		out := make([]string, 0, len(ss))
		ok := true
		for i, s := range ss {
			s = CleanText(s)
			if !hasOption(f, s) {
				v.Add(fmt.Sprintf("%s[%d]", name, i), "enum", "options", optionList(f))
				ok = false
				continue
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		if !ok {
			return nil, false
		}
		if len(out) == 0 {
			return nil, true
		}
		return out, true
	case FieldDate:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return typeErr()
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, true
		}
		if _, err := time.Parse(dateLayout, s); err != nil || len(s) != len(dateLayout) {
			v.Add(name, "date")
			return nil, false
		}
		if s < minDate {
			v.Add(name, "min_date", "min", minDate)
			return nil, false
		}
		if s > today {
			v.Add(name, "future", "max", today)
			return nil, false
		}
		return s, true
	case FieldBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return typeErr()
		}
		return b, true
	case FieldPeople:
		var ids []string
		if json.Unmarshal(raw, &ids) != nil {
			return typeErr()
		}
		out, ok := uniqueIDs(v, name, ids, MaxPeople)
		if !ok {
			return nil, false
		}
		if len(out) == 0 {
			return nil, true
		}
		return out, true
	case FieldAttachments:
		var ids []string
		if json.Unmarshal(raw, &ids) != nil {
			return typeErr()
		}
		out, ok := uniqueIDs(v, name, ids, MaxAttachments)
		if !ok {
			return nil, false
		}
		if len(out) == 0 {
			return nil, true
		}
		return out, true
	}
	return typeErr()
}

// uniqueIDs checks a list of ids and drops repeats, keeping the order;
// more than max distinct ids is too many. Lists far longer than max are
// refused before any comparison, so a hostile list costs little.
func uniqueIDs(v *Validation, name string, ids []string, max int) ([]string, bool) {
	if len(ids) > 4*max {
		v.Add(name, "too_many", "max", max)
		return nil, false
	}
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		if !attachmentIDPattern.MatchString(id) {
			v.Add(fmt.Sprintf("%s[%d]", name, i), "format")
			return nil, false
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) > max {
		v.Add(name, "too_many", "max", max)
		return nil, false
	}
	return out, true
}

func hasOption(f TemplateField, s string) bool {
	for _, o := range f.Options {
		if o.Value == s {
			return true
		}
	}
	return false
}

func optionList(f TemplateField) string {
	vals := make([]string, 0, len(f.Options))
	for _, o := range f.Options {
		vals = append(vals, o.Value)
	}
	s := strings.Join(vals, "、")
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200]) + "…"
	}
	return s
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// occurrences is what f's check divides by: the record's value of the
// field f.Per names (its default when left out), 1 without one.
func occurrences(t Template, f TemplateField, values map[string]json.RawMessage) float64 {
	if f.Per == "" {
		return 1
	}
	pf, ok := t.Field(f.Per)
	if !ok {
		return 1
	}
	var x float64
	if raw, present := values[f.Per]; present && json.Unmarshal(raw, &x) == nil {
		return x
	}
	if pf.Default != nil {
		return *pf.Default
	}
	return 1
}

// plausibility compares a numeric value, per occurrence (per), with the
// headcount the field's check names.
func plausibility(f TemplateField, val any, per float64, org Org) (Warning, bool) {
	var x float64
	switch n := val.(type) {
	case int64:
		x = float64(n)
	case float64:
		x = n
	}
	if per > 1 {
		x /= per
	}
	switch f.Check {
	case CheckStudents:
		if org.Students > 0 && x > float64(org.Students) {
			return Warning{Code: "above_students", Limit: float64(org.Students)}, true
		}
	case CheckStaff:
		if org.Staff > 0 && x > float64(org.Staff) {
			return Warning{Code: "above_staff", Limit: float64(org.Staff)}, true
		}
	}
	return Warning{}, false
}

// DecodeRecordData decodes canonical record data into Go values (numbers
// as float64).
func DecodeRecordData(raw json.RawMessage) (map[string]any, error) {
	m := map[string]any{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}
