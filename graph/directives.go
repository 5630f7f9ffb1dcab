package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/policy"
)

// NewSchema returns the executable schema with its resolvers and directives.
// A Resolver without Cursors gets a random key of this process alone
// (tests; every replica of a deployment needs the same).
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	if r.Cursors == nil {
		r.Cursors = page.NewEphemeralSealer()
	}
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
