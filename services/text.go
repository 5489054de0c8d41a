package services

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// CleanText trims s and normalises it to NFC, so the same words typed on
// two phones compare equal.
func CleanText(s string) string {
	return norm.NFC.String(strings.TrimSpace(s))
}

// checkText validates a cleaned single-line text: required, at most max
// characters, no control characters.
func checkText(v *Validation, field, s string, required bool, max int) {
	switch {
	case s == "" && required:
		v.Add(field, "required")
	case utf8.RuneCountInString(s) > max:
		v.Add(field, "max_length", "max", max)
	case strings.ContainsFunc(s, unicode.IsControl):
		v.Add(field, "format")
	}
}
