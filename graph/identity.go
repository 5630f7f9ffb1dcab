package graph

import (
	"context"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/identity"
)

// identityFor returns the identity service and the caller's scope, for the
// identity mutations.
func (r *Resolver) identityFor(ctx context.Context) (*identity.Service, access.Scope, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, s, err
	}
	if r.Identity == nil {
		return nil, s, apperr.E(apperr.Internal, "identity updates are not configured")
	}
	return r.Identity, s, nil
}
