package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Problem is an RFC 9457 problem detail, the body of every error answer.
type Problem struct {
	Type      string         `json:"type" validate:"required" example:"about:blank"`
	Title     string         `json:"title" validate:"required" example:"提交的内容未通过校验"`
	Status    int            `json:"status" validate:"required" example:"422"`
	Detail    string         `json:"detail,omitempty"`
	Code      string         `json:"code" validate:"required" example:"validation_failed"`
	RequestID string         `json:"request_id,omitempty" example:"4c460b3667fd31c16a92f1d0"`
	Errors    []ProblemField `json:"errors,omitempty"`
} //	@name	Problem

// ProblemField is one field that failed validation.
type ProblemField struct {
	Field   string `json:"field" validate:"required" example:"mobile"`
	Code    string `json:"code" validate:"required" example:"mobile"`
	Message string `json:"message" validate:"required" example:"应为11位手机号码"`
} //	@name	ProblemField

const problemType = "about:blank"

// statusOf maps a service error kind to an HTTP status.
var statusOf = map[services.Kind]int{
	services.KindInvalid:              http.StatusUnprocessableEntity,
	services.KindBadRequest:           http.StatusBadRequest,
	services.KindNotFound:             http.StatusNotFound,
	services.KindConflict:             http.StatusConflict,
	services.KindStale:                http.StatusPreconditionFailed,
	services.KindPreconditionRequired: http.StatusPreconditionRequired,
	services.KindUnauthorized:         http.StatusUnauthorized,
	services.KindForbidden:            http.StatusForbidden,
	services.KindRateLimited:          http.StatusTooManyRequests,
	services.KindUnavailable:          http.StatusServiceUnavailable,
	services.KindInternal:             http.StatusInternalServerError,
}

// statusOfCode overrides the status for codes HTTP has its own status for.
var statusOfCode = map[string]int{
	"payload_too_large":      http.StatusRequestEntityTooLarge,
	"unsupported_media_type": http.StatusUnsupportedMediaType,
}

// defaultCode names the problem when the error carries no code.
var defaultCode = map[services.Kind]string{
	services.KindInvalid:              "validation_failed",
	services.KindBadRequest:           "bad_request",
	services.KindNotFound:             "not_found",
	services.KindConflict:             "conflict",
	services.KindStale:                "precondition_failed",
	services.KindPreconditionRequired: "precondition_required",
	services.KindUnauthorized:         "unauthorized",
	services.KindForbidden:            "forbidden",
	services.KindRateLimited:          "rate_limited",
	services.KindUnavailable:          "unavailable",
	services.KindInternal:             "internal",
}

// respondError is the one place an error becomes an HTTP answer. Unknown
// errors are logged with the request id and answered with a generic 500.
func respondError(c *gin.Context, err error) {
	kind := services.KindOf(err)
	code := defaultCode[kind]
	var fields []services.FieldError
	var se *services.Error
	if errors.As(err, &se) {
		if se.Code != "" && kind != services.KindInternal {
			code = se.Code
		}
		fields = se.Fields
		if se.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(se.RetryAfter.Seconds()))))
		}
	}
	if kind == services.KindUnavailable && errors.Is(err, services.ErrStorage) {
		code = services.CodeStorageUnavailable
	}
	if kind == services.KindUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", "5")
	}
	if kind == services.KindUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="huizong"`)
	}
	status := statusOf[kind]
	if s, ok := statusOfCode[code]; ok {
		status = s
	}
	if kind == services.KindInternal || kind == services.KindUnavailable {
		logger(c).ErrorContext(c.Request.Context(), "request failed", slog.String("error", err.Error()))
	}
	writeProblem(c, status, code, fields)
}

// writeProblem writes a problem+json body and stops the handler chain.
func writeProblem(c *gin.Context, status int, code string, fields []services.FieldError) {
	l := negotiate(c.GetHeader("Accept-Language"))
	p := Problem{
		Type:      problemType,
		Title:     title(l, code),
		Status:    status,
		Code:      code,
		RequestID: c.GetString(requestIDKey),
	}
	for _, f := range fields {
		p.Errors = append(p.Errors, ProblemField{Field: f.Field, Code: f.Code, Message: message(l, f.Code, f.Args)})
	}
	if len(p.Errors) > 0 {
		parts := make([]string, 0, len(p.Errors))
		for _, f := range p.Errors {
			parts = append(parts, f.Field+": "+f.Message)
		}
		sep := "；"
		if l == en {
			sep = "; "
		}
		p.Detail = strings.Join(parts, sep)
	}
	body, _ := json.Marshal(p)
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Language", map[lang]string{zh: "zh-CN", en: "en"}[l])
	c.Abort()
	c.Data(status, "application/problem+json", body)
}

// bindJSON decodes the request body into dst strictly: one JSON value,
// no unknown fields, right types. Malformed JSON and wrong types are 400,
// unknown fields 422, too large 413, a non-JSON content type 415, each
// naming the field where there is one.
func bindJSON(c *gin.Context, dst any) error {
	const op = "decode"
	if ct := c.ContentType(); ct != "application/json" && ct != "" {
		return &services.Error{Op: op, Kind: services.KindBadRequest, Code: "unsupported_media_type"}
	}
	data, err := io.ReadAll(c.Request.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &services.Error{Op: op, Kind: services.KindBadRequest, Code: "payload_too_large"}
	}
	if err != nil {
		return &services.Error{Op: op, Kind: services.KindBadRequest, Code: "bad_request", Err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return badField(op, "body", "required", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return badField(op, field, "type", map[string]any{"expected": jsonKind(typeErr.Type.Kind().String())})
	case errors.As(err, &syntaxErr):
		return badField(op, "body", "syntax", nil)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return services.Invalid(op, services.Field(name, "unknown"))
	}
	return badField(op, "body", "syntax", nil)
}

func badField(op, field, code string, args map[string]any) error {
	return &services.Error{Op: op, Kind: services.KindBadRequest, Code: "bad_request",
		Fields: []services.FieldError{{Field: field, Code: code, Args: args}}}
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "integer"
	case strings.HasPrefix(k, "float"):
		return "number"
	case k == "slice", k == "array":
		return "array"
	case k == "struct", k == "map":
		return "object"
	case k == "bool":
		return "boolean"
	}
	return k
}
