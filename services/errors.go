package services

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors the stores return and the services pass on. Callers test
// them with errors.Is.
var (
	// ErrNotFound means the object does not exist or lies outside the caller's scope.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique key (id, username, mobile, school code) is taken
	// or the object is still referenced.
	ErrConflict = errors.New("conflict")
	// ErrStale means the object changed since the version the caller holds.
	ErrStale = errors.New("stale version")
	// ErrUnavailable means the store cannot be reached right now.
	ErrUnavailable = errors.New("store unavailable")
	// ErrStorage means the store's disk failed a write or a read: full,
	// read-only, unwritable or failing. It is ErrUnavailable too (503,
	// Retry-After), never the client's fault.
	ErrStorage = fmt.Errorf("%w: storage failed", ErrUnavailable)
)

// CodePasswordChangeRequired refuses an account that must change the
// password an admin gave it before doing anything else.
const CodePasswordChangeRequired = "password_change_required"

// CodeStorageUnavailable is the problem code of ErrStorage.
const CodeStorageUnavailable = "storage_unavailable"

// Kind classifies an Error for the one place that maps errors to HTTP.
type Kind int

// The kinds of Error.
const (
	KindInternal             Kind = iota
	KindInvalid                   // 422: the content breaks a rule
	KindBadRequest                // 400: malformed or hostile input
	KindNotFound                  // 404
	KindConflict                  // 409
	KindStale                     // 412
	KindPreconditionRequired      // 428
	KindUnauthorized              // 401
	KindForbidden                 // 403
	KindRateLimited               // 429
	KindUnavailable               // 503
)

// FieldError names one field that failed validation. Code is a stable
// snake_case word (required, min, max, max_length, format, enum, unknown,
// taken ...); Args fill the localised message.
type FieldError struct {
	Field string
	Code  string
	Args  map[string]any
}

// Error is a service error: what went wrong (Kind, Code), for which fields,
// and the cause. Its Error text is for logs, never for clients.
type Error struct {
	Op         string
	Kind       Kind
	Code       string
	Fields     []FieldError
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	msg := e.Op
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if len(e.Fields) > 0 {
		msg += fmt.Sprintf(" %v", e.Fields)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid returns a validation error for the given fields.
func Invalid(op string, fields ...FieldError) *Error {
	return &Error{Op: op, Kind: KindInvalid, Code: "validation_failed", Fields: fields}
}

// Field is shorthand for a FieldError with optional key/value arguments.
func Field(field, code string, kv ...any) FieldError {
	fe := FieldError{Field: field, Code: code}
	if len(kv) > 1 {
		fe.Args = make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			fe.Args[fmt.Sprint(kv[i])] = kv[i+1]
		}
	}
	return fe
}

// Fail wraps err with op and kind.
func Fail(op string, kind Kind, code string, err error) *Error {
	return &Error{Op: op, Kind: kind, Code: code, Err: err}
}

// Validation collects field errors; its Err is nil when nothing was added.
type Validation struct {
	fields []FieldError
}

// Add records a field error.
func (v *Validation) Add(field, code string, kv ...any) {
	v.fields = append(v.fields, Field(field, code, kv...))
}

// Fields returns what was collected.
func (v *Validation) Fields() []FieldError { return v.fields }

// Err returns a KindInvalid error for op, or nil.
func (v *Validation) Err(op string) error {
	if len(v.fields) == 0 {
		return nil
	}
	return Invalid(op, v.fields...)
}

// KindOf reports how err should be answered.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Kind
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return KindNotFound
	case errors.Is(err, ErrConflict):
		return KindConflict
	case errors.Is(err, ErrStale):
		return KindStale
	case errors.Is(err, ErrUnavailable):
		return KindUnavailable
	}
	return KindInternal
}
