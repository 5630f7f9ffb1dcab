// Package scalar marshals the schema's custom scalars. A malformed value is a
// BAD_USER_INPUT error that says what was expected, never echoing the value.
package scalar

import (
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/apperr"
)

// MarshalUUID writes an id as a GraphQL ID string.
func MarshalUUID(id uuid.UUID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(id.String()))
	})
}

// UnmarshalUUID reads a GraphQL ID that must be a UUID.
func UnmarshalUUID(v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, apperr.E(apperr.Invalid, "an ID must be a UUID string")
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, apperr.E(apperr.Invalid, "an ID must be a UUID")
	}
	return id, nil
}

// MarshalTime writes a time as RFC 3339 in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 time.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, apperr.E(apperr.Invalid, "a Time must be an RFC 3339 string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.E(apperr.Invalid, "a Time must be RFC 3339, e.g. 2026-01-31T09:00:00Z")
	}
	return t, nil
}
