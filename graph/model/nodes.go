package model

import (
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/policy"
	"github.com/propertyportal/gateway/internal/property"
)

// The object types of the schema: a domain value, the relations the
// operation selects below it (the planner in package graph loads them a
// level at a time before anything is marshalled) and, for types with PII,
// what of it the caller may read. Every relation is a plain field or a
// context-free method, so gqlgen marshals lists of them in order, on one
// goroutine.

// User is a directory user.
type User struct {
	*directory.User
	Contact      *Contact
	InvoicePages Pages[*Invoice]
	Sight        policy.Sight
}

// Invoices is the page of the user's invoices that first and after ask for.
func (u *User) Invoices(first *int, after *string) (*InvoiceConnection, error) {
	return u.InvoicePages.Get(first, after)
}

// Sees reports whether the caller may read the user's PII of kind k.
func (u *User) Sees(k policy.Kind) bool { return u.Sight.Allows(k) }

// Contact is a provider contact.
type Contact struct {
	*comms.Contact
	User      *User
	Buildings []*BuildingContact
	Sight     policy.Sight
}

// Sees reports whether the caller may read the contact's PII of kind k.
func (c *Contact) Sees(k policy.Kind) bool { return c.Sight.Allows(k) }

// Building is a building.
type Building struct {
	*property.Building
	Contacts       []*BuildingContact
	PrimaryContact *Contact
}

// BuildingContact is the link between a building and one of its contacts.
type BuildingContact struct {
	*comms.BuildingLink
	Building *Building
	Contact  *Contact
}

// Invoice is an invoice.
type Invoice struct {
	*bookkeeping.Invoice
	CreatedBy *User
}

// PageArgs are the arguments of one page of a paged relation.
type PageArgs struct {
	First int
	After string
}

// ArgsOf returns the page arguments first and after name (20 when first is unset).
func ArgsOf(first *int, after *string) PageArgs {
	a := PageArgs{First: 20}
	if first != nil {
		a.First = *first
	}
	if after != nil {
		a.After = *after
	}
	return a
}

// Pages are the pages of a paged relation that the operation asked for,
// by their arguments.
type Pages[T any] struct {
	pages []page[T]
}

type page[T any] struct {
	args PageArgs
	conn *Connection[T]
	err  error
}

// Set records the page for args (or why it could not be had).
func (p *Pages[T]) Set(args PageArgs, conn *Connection[T], err error) {
	p.pages = append(p.pages, page[T]{args, conn, err})
}

// Get returns the page that first and after ask for.
func (p *Pages[T]) Get(first *int, after *string) (*Connection[T], error) {
	args := ArgsOf(first, after)
	for _, pg := range p.pages {
		if pg.args == args {
			return pg.conn, pg.err
		}
	}
	return nil, apperr.E(apperr.Internal, "page not planned")
}

// IdentityUpdatePayload is what an identity mutation answers: the user and
// contact as they now are, and where the change stands at the IdP.
type IdentityUpdatePayload struct {
	User    *User
	Contact *Contact
	Sync    identity.Sync
}
