package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/privacy"
)

// editor returns the contact editor over the request's stores: buildings
// and users are looked up in the caller's scope, so another tenant's are
// NotFound.
func (r *Resolver) editor() *comms.Editor {
	return &comms.Editor{
		Store:  r.Comms,
		Region: r.PhoneRegion,
		BuildingVisible: func(ctx context.Context, s access.Scope, id uuid.UUID) error {
			_, err := r.Property.FindBuildingByID(ctx, s, id)
			return err
		},
		UserLinkable: func(ctx context.Context, s access.Scope, id uuid.UUID) error {
			u, err := r.Directory.FindUserByID(ctx, s, id)
			if err == nil && u.ErasedAt != nil {
				return apperr.E(apperr.Conflict, "the user was erased")
			}
			return err
		},
	}
}

// edit runs one contact edit as the caller.
func edit[V any](ctx context.Context, r *Resolver, fn func(*comms.Editor, access.Scope) (V, error)) (V, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		var zero V
		return zero, err
	}
	return fn(r.editor(), s)
}

// erase runs one erasure as the caller.
func erase(ctx context.Context, r *Resolver, fn func(*privacy.Service, access.Scope) (*privacy.Erasure, error)) (*privacy.Erasure, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	if r.Erasure == nil {
		return nil, apperr.E(apperr.Internal, "erasure is not configured")
	}
	return fn(r.Erasure, s)
}
