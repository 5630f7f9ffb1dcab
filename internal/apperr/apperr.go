// Package apperr is the one error type of the gateway: a kind that says what
// went wrong and a message that is safe to show a client. It never carries
// PII, SQL text or a stack in its message; the wrapped cause stays server-side.
// It also holds the one table of the GraphQL extensions.code values the API
// answers with (Codes): each kind's code, gqlgen's, the transport's and the
// limits', with the HTTP status of a request refused before GraphQL runs.
package apperr

import (
	"errors"
	"fmt"
)

// Kind says what went wrong, independent of the transport.
type Kind int

// The kinds, each mapped to one GraphQL extensions.code by the table Codes.
const (
	Internal        Kind = iota // a bug or an unavailable dependency
	Invalid                     // bad input from the client
	NotFound                    // the thing does not exist for this caller
	Conflict                    // the change breaks a uniqueness rule or lost a race
	Forbidden                   // the caller may not do or see this
	Unauthenticated             // no valid credentials
	RateLimited                 // too many requests; try later
	Unavailable                 // a dependency (the database) cannot be reached; try later
)

// String names the kind, for logs.
func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case Forbidden:
		return "forbidden"
	case Unauthenticated:
		return "unauthenticated"
	case RateLimited:
		return "rate_limited"
	case Unavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Error is an error with a kind and a client-safe message.
type Error struct {
	Kind    Kind
	Message string // safe to show a client: no PII, no SQL
	Field   string // the input field at fault, for Invalid; may be empty
	Err     error  // the cause, for logs only
}

// Error returns the safe message, with the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// E makes an error of kind with a safe message formatted from args.
func E(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap makes an error of kind with a safe message around a cause.
func Wrap(err error, kind Kind, message string) *Error {
	return &Error{Kind: kind, Message: message, Err: err}
}

// InvalidField makes an Invalid error that names the input field at fault.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err, Internal for an error that is not ours.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns err's *Error, or nil when err is not ours.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
