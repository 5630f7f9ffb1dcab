// Package auth turns a request's credentials into the caller's access.Scope.
// It never logs a credential.
package auth

import (
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
)

// Authenticator returns the scope of a request's caller. No credentials and
// bad credentials are both Unauthenticated.
type Authenticator interface {
	Authenticate(r *http.Request) (access.Scope, error)
}

// Dev trusts a plain "Authorization: Dev <role> <tenant-id> [<user-id>]"
// header. It is for `gateway dev` and tests only: `gateway serve` never
// enables it.
type Dev struct{}

// Authenticate implements Authenticator.
func (Dev) Authenticate(r *http.Request) (access.Scope, error) {
	fail := apperr.E(apperr.Unauthenticated, "sign-in required")
	scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Dev") {
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

// DevHeader returns the Authorization value Dev accepts for s.
func DevHeader(s access.Scope) string {
	h := "Dev " + string(s.Role) + " " + s.TenantID.String()
	if s.UserID != uuid.Nil {
		h += " " + s.UserID.String()
	}
	return h
}
