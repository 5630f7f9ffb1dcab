// Package access defines who is calling: a Scope of tenant, role and user that
// every store method takes, and the context plumbing for it. It decides
// nothing about tokens; internal/auth builds scopes from verified credentials.
package access

import (
	"context"

	"github.com/google/uuid"
)

// Role is what a caller may do.
type Role string

// The roles.
const (
	// RoleProvider is a signed-in provider contact: own tenant, own profile.
	RoleProvider Role = "provider"
	// RoleAdmin manages its own tenant and sees all of its PII.
	RoleAdmin Role = "admin"
	// RoleInternal is a service account that reads across tenants.
	RoleInternal Role = "internal"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleProvider || r == RoleAdmin || r == RoleInternal
}

// Scope is the caller as the stores see it.
type Scope struct {
	Role     Role
	TenantID uuid.UUID // the caller's tenant; uuid.Nil for an internal account
	UserID   uuid.UUID // the signed-in user; uuid.Nil for a service account
}

// CrossTenant reports whether the scope reads every tenant: only an internal
// service account does.
func (s Scope) CrossTenant() bool { return s.Role == RoleInternal }

// SeesTenant reports whether the scope may see rows of tenant.
func (s Scope) SeesTenant(tenant uuid.UUID) bool {
	return s.CrossTenant() || s.TenantID == tenant
}

type scopeKey struct{}

// WithScope returns a context that carries s.
func WithScope(ctx context.Context, s Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// FromContext returns the caller's scope and whether there is one.
func FromContext(ctx context.Context) (Scope, bool) {
	s, ok := ctx.Value(scopeKey{}).(Scope)
	return s, ok
}
