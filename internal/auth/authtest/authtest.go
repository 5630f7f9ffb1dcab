// Package authtest is a test seam: an authenticator that trusts a plain
// "Authorization: Scope <role> <tenant-id> [<user-id>]" header, so tests of
// queries and rules can act as any caller without minting tokens. Only
// tests import it; the gateway binary never does, and token verification
// has tests of its own in internal/auth.
package authtest

import (
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
)

// Authenticator trusts the Scope header. Missing or malformed is
// Unauthenticated.
type Authenticator struct{}

// Authenticate returns the scope the header names.
func (Authenticator) Authenticate(r *http.Request) (access.Scope, error) {
	fail := apperr.E(apperr.Unauthenticated, "sign-in required")
	scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || scheme != "Scope" {
		return access.Scope{}, fail
	}
	parts := strings.Fields(rest)
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
