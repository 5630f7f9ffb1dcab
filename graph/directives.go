package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/policy"
)

// NewSchema returns the executable schema with its resolvers and directives.
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{Resolvers: r, Directives: DirectiveRoot{Pii: pii}})
}

// pii guards a @pii field: the policy decides, the field resolves only when
// it allows, and a denial is FORBIDDEN on that field alone.
func pii(ctx context.Context, obj any, next graphql.Resolver, kind policy.Kind) (any, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	var ok bool
	switch o := obj.(type) {
	case *directory.User:
		ok, err = policy.CanSeeUser(ctx, s, o, kind)
	case *comms.Contact:
		ok, err = policy.CanSeeContact(ctx, s, o, kind)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, policy.ErrForbidden
	}
	return next(ctx)
}
