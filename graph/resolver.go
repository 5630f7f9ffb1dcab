// Package graph is the GraphQL layer: generated code and thin resolvers that
// translate arguments, make one store or loader call, and map the result.
// Resolvers hold no SQL and no business rules.
package graph

//go:generate go run github.com/99designs/gqlgen generate

import (
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/live"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/privacy"
	"github.com/propertyportal/gateway/internal/property"
)

// Resolver holds the dependencies of every resolver.
type Resolver struct {
	Directory   *directory.Store
	Comms       *comms.Store
	Property    *property.Store
	Bookkeeping *bookkeeping.Store
	MaxPage     int               // the cap on `first`
	Cursors     *page.Sealer      // seals and opens the cursors of every connection; NewSchema fills in a random one when nil
	Identity    *identity.Service // identity updates; nil: the mutations answer INTERNAL
	Live        *live.Hub         // identitySyncChanged; nil: refused UNAVAILABLE

	Erasure     *privacy.Service // eraseContact and eraseUser; nil refuses them
	PhoneRegion string           // reads phone numbers without a country code; comms.DefaultRegion when empty
}
