package model

import (
	"github.com/google/uuid"

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

// Invoices is the page of the user's invoices that the arguments ask for.
func (u *User) Invoices(first *int, after *string, last *int, before *string) (*InvoiceConnection, error) {
	return u.InvoicePages.Get(ArgsOf(first, after, last, before))
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

// The object types are the schema's Nodes (Relay object identification):
// each is found again by its id alone.

// IsNode marks a User as a Node.
func (*User) IsNode() {}

// GetID is the user's id.
func (u *User) GetID() uuid.UUID { return u.ID }

// IsNode marks a Contact as a Node.
func (*Contact) IsNode() {}

// GetID is the contact's id.
func (c *Contact) GetID() uuid.UUID { return c.ID }

// IsNode marks a Building as a Node.
func (*Building) IsNode() {}

// GetID is the building's id.
func (b *Building) GetID() uuid.UUID { return b.ID }

// IsNode marks an Invoice as a Node.
func (*Invoice) IsNode() {}

// GetID is the invoice's id.
func (inv *Invoice) GetID() uuid.UUID { return inv.ID }

// PageArgs are the arguments of one page of a paged relation as the field
// gives them (its schema defaults applied): the key a page is planned and
// found by.
type PageArgs struct {
	First, Last       int
	HasFirst, HasLast bool
	After, Before     string
}

// ArgsOf returns the page arguments first, after, last and before name.
func ArgsOf(first *int, after *string, last *int, before *string) PageArgs {
	var a PageArgs
	if first != nil {
		a.First, a.HasFirst = *first, true
	}
	if last != nil {
		a.Last, a.HasLast = *last, true
	}
	if after != nil {
		a.After = *after
	}
	if before != nil {
		a.Before = *before
	}
	return a
}

// Pages are the pages of a paged relation that the operation asked for,
// by their arguments.
type Pages[T any] struct {
	pages []plannedPage[T]
}

type plannedPage[T any] struct {
	args PageArgs
	conn *Connection[T]
	err  error
}

// Set records the page for args (or why it could not be had).
func (p *Pages[T]) Set(args PageArgs, conn *Connection[T], err error) {
	p.pages = append(p.pages, plannedPage[T]{args, conn, err})
}

// Get returns the page that args ask for.
func (p *Pages[T]) Get(args PageArgs) (*Connection[T], error) {
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
