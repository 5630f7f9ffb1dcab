// Package authtest is a test seam: an authenticator that trusts a plain
// "Authorization: Scope <role> <tenant-id> [<user-id>] [until=<unix-ms>]" header, so tests of
// queries and rules can act as any caller without minting tokens. Only
// tests import it; the gateway binary never does, and token verification
// has tests of its own in internal/auth.
package authtest

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
)

// Authenticator trusts the Scope header. Missing or malformed is
// Unauthenticated.
type Authenticator struct{}

// Authenticate returns the scope the header names.
func (a Authenticator) Authenticate(r *http.Request) (access.Scope, error) {
	s, _, err := a.AuthenticateUntil(r)
	return s, err
}

// AuthenticateUntil returns the scope the header names and the end it
// names (until=<unix milliseconds>, last); zero when it names none. A
// header whose end has passed is refused.
func (Authenticator) AuthenticateUntil(r *http.Request) (access.Scope, time.Time, error) {
	s, until, err := parse(r.Header.Get("Authorization"))
	if err == nil && !until.IsZero() && !time.Now().Before(until) {
		return access.Scope{}, time.Time{}, apperr.E(apperr.Unauthenticated, "sign-in required")
	}
	return s, until, err
}

func parse(h string) (access.Scope, time.Time, error) {
	var until time.Time
	s, err := parseScope(h, &until)
	return s, until, err
}

func parseScope(h string, until *time.Time) (access.Scope, error) {
	fail := apperr.E(apperr.Unauthenticated, "sign-in required")
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || scheme != "Scope" {
		return access.Scope{}, fail
	}
	parts := strings.Fields(rest)
	if n := len(parts); n > 0 {
		if ms, ok := strings.CutPrefix(parts[n-1], "until="); ok {
			v, err := strconv.ParseInt(ms, 10, 64)
			if err != nil {
				return access.Scope{}, fail
			}
			*until = time.UnixMilli(v)
			parts = parts[:n-1]
		}
	}
	if len(parts) < 2 || len(parts) > 3 {
		return access.Scope{}, fail
	}
	s := access.Scope{Role: access.Role(parts[0])}
	if !s.Role.Valid() {
		return access.Scope{}, fail
	}
	var err error
	if s.TenantID, err = uuid.Parse(parts[1]); err != nil {
		return access.Scope{}, fail
	}
	if len(parts) == 3 {
		if s.UserID, err = uuid.Parse(parts[2]); err != nil {
			return access.Scope{}, fail
		}
	}
	return s, nil
}

// Header returns the Authorization value Authenticator accepts for s.
func Header(s access.Scope) string {
	h := "Scope " + string(s.Role) + " " + s.TenantID.String()
	if s.UserID != uuid.Nil {
		h += " " + s.UserID.String()
	}
	return h
}

// HeaderUntil is Header for a credential that ends at until.
func HeaderUntil(s access.Scope, until time.Time) string {
	return Header(s) + " until=" + strconv.FormatInt(until.UnixMilli(), 10)
}
