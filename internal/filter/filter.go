// Package filter checks and normalises the text that clients send to narrow a
// list. A bad value is an Invalid error naming the field, never echoing the
// value (it may be PII).
package filter

import (
	"strings"
	"unicode/utf8"

	"github.com/propertyportal/gateway/internal/apperr"
)

// Search limits: trigram indexes need three characters to help.
const (
	MinSearch = 3
	MaxSearch = 100
)

// Search trims a substring search; nil stays nil.
func Search(field string, s *string) (*string, error) {
	if s == nil {
		return nil, nil
	}
	v := strings.TrimSpace(*s)
	if n := utf8.RuneCountInString(v); n < MinSearch || n > MaxSearch {
		return nil, apperr.InvalidField(field, "%s must be %d to %d characters", field, MinSearch, MaxSearch)
	}
	return &v, nil
}

// Domain lower-cases an email domain such as "ACME.com" or "@acme.com"; nil stays nil.
func Domain(field string, s *string) (*string, error) {
	if s == nil {
		return nil, nil
	}
	v := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(*s), "@"))
	if v == "" || len(v) > 253 || strings.ContainsAny(v, "@ \t\r\n,;") || !strings.Contains(v, ".") {
		return nil, apperr.InvalidField(field, "%s must be a domain such as example.com", field)
	}
	return &v, nil
}

// Name checks a short identifier such as an IdP id; nil stays nil.
func Name(field string, s *string) (*string, error) {
	if s == nil {
		return nil, nil
	}
	v := strings.TrimSpace(*s)
	if v == "" || len(v) > 100 {
		return nil, apperr.InvalidField(field, "%s must be 1 to 100 characters", field)
	}
	return &v, nil
}
