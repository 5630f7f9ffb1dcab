// Package logging builds the gateway's logger (New) and owns what every log
// line passes through on its way out: the redactor, which keeps PII and
// credentials out of logs, and the request id, which a line logged with a
// request's context carries.
//
// The redactor (Redactor) wraps any slog.Handler and redacts by type, both
// by attribute key (email, name, phone, token, authorization, secret, ...)
// and by what a string looks like (email addresses, phone numbers, JWTs,
// bearer and basic credentials), wherever it appears: the message,
// attribute values, groups, errors. It is a safety net under code that
// already logs only ids: it cannot recognise a bare name, so names are
// redacted by key only.
package logging

import (
	"io"
	"log/slog"
)

// New returns the binary's logger: JSON lines to w at level (a slog level
// name; info when it does not parse), every line redacted (no PII or
// credential reaches w) and, when logged for a request, carrying its
// request id.
func New(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(NewRedactor(RequestIDHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))))
}
