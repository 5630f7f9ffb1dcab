package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/propertyportal/gateway/internal/policy"
)

// NewSchema returns the executable schema with its resolvers and directives.
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{Resolvers: r, Directives: DirectiveRoot{Pii: pii}})
}

// pii guards a @pii field: the planner decided, once per object, what of it
// the caller may read; a denial is FORBIDDEN on that field alone.
func pii(ctx context.Context, obj any, next graphql.Resolver, kind policy.Kind) (any, error) {
	if o, ok := obj.(interface{ Sees(policy.Kind) bool }); ok && o.Sees(kind) {
		return next(ctx)
	}
	return nil, policy.ErrForbidden
}
