package logging_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/propertyportal/gateway/internal/logging"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"mail Jane.Doe+x@Example.COM now", "mail " + logging.RedactedEmail + " now"},
		{"call +49 30 1234567 or (030) 123-4567", "call " + logging.RedactedPhone + " or " + logging.RedactedPhone},
		{"e164 +4930123456", "e164 " + logging.RedactedPhone},
		{"Authorization: Bearer abcdefgh.ijkl-mnop", "Authorization: Bearer " + logging.RedactedToken},
		{"jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end", "jwt " + logging.RedactedToken + " end"},
		// Not PII: ids, dates, times, counts, durations.
		{"user 12345678-1234-1234-1234-123456789012", "user 12345678-1234-1234-1234-123456789012"},
		{"at 2026-11-23 11:12:36", "at 2026-11-23 11:12:36"},
		{"request 8af3c19e20b1d7aa took 12.5ms", "request 8af3c19e20b1d7aa took 12.5ms"},
		{"external id ext-1234567 and auth0|5f3a1234567", "external id ext-1234567 and auth0|5f3a1234567"},
		{"status 200, 3 rows", "status 200, 3 rows"},
	} {
		if got := logging.Redact(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(logging.NewRedactor(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log = log.With("authorization", "Bearer s3cr3t-token-value", "tenant", "t-1")
	log.Info("signed in jane@example.com",
		"email", "jane@example.com", "full_name", "Jane Doe", "fullName", "Jane Doe", "phone", "+4930123456",
		"error", errors.New("pq: invalid input for jane@example.com"),
		slog.Group("user", "name", "Jane Doe", "id", "u-1"),
		"note", "reach Jane at +49 30 1234567", "count", 3, "ok", true)
	out := buf.String()
	for _, pii := range []string{"jane@example.com", "Jane Doe", "+4930123456", "1234567", "s3cr3t-token-value"} {
		if strings.Contains(out, pii) {
			t.Errorf("log holds %q: %s", pii, out)
		}
	}
	for _, keep := range []string{`"tenant":"t-1"`, `"id":"u-1"`, `"count":3`, `"ok":true`, logging.RedactedEmail, logging.RedactedName, logging.RedactedPhone, logging.RedactedToken} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lost %q: %s", keep, out)
		}
	}
}
