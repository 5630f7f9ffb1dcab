package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/page"
)

// lookahead reads from the operation which relations are selected below the
// items of a list, for the loaders' Prefetch methods. It follows gqlgen's
// field collection (fragments, @skip and @include) and evaluates field
// arguments with the operation's variables, so a page of invoices is keyed
// exactly as its resolver keys it.
type lookahead struct {
	op    *graphql.OperationContext
	pages pages
}

// lookaheadOf returns the lookahead of the operation and the selections of
// the field whose resolver ctx is; ok is false outside a resolver.
func lookaheadOf(ctx context.Context, pg pages) (la lookahead, sels ast.SelectionSet, ok bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return lookahead{}, nil, false
	}
	return lookahead{op: graphql.GetOperationContext(ctx), pages: pg}, fc.Field.Selections, true
}

// nodes returns the fields selected under edges.node of a connection of typ.
func (la lookahead) nodes(sels ast.SelectionSet, typ string) []graphql.CollectedField {
	var out []graphql.CollectedField
	for _, e := range la.collect(sels, typ+"Connection") {
		if e.Name != "edges" {
			continue
		}
		for _, n := range la.collect(e.Selections, typ+"Edge") {
			if n.Name == "node" {
				out = append(out, la.collect(n.Selections, typ)...)
			}
		}
	}
	return out
}

func (la lookahead) collect(sels ast.SelectionSet, typ string) []graphql.CollectedField {
	return graphql.CollectFields(la.op, sels, []string{typ})
}

// links adds to contact and building what fields of a BuildingContact read
// of a link's contact and building.
func (la lookahead) links(contact *loader.ContactSel, building *loader.BuildingSel, fields []graphql.CollectedField) (*loader.ContactSel, *loader.BuildingSel) {
	for _, lf := range fields {
		switch lf.Name {
		case "contact":
			contact = la.contact(contact, la.collect(lf.Selections, "Contact"))
		case "building":
			building = orNew(la.building(building, la.collect(lf.Selections, "Building")))
		}
	}
	return contact, building
}

// building adds to b what fields read of a building's relations.
func (la lookahead) building(b *loader.BuildingSel, fields []graphql.CollectedField) *loader.BuildingSel {
	for _, f := range fields {
		switch f.Name {
		case "contacts":
			b = orNew(b)
			b.Links = true
			b.Contact, b.Building = la.links(b.Contact, b.Building, la.collect(f.Selections, "BuildingContact"))
		case "primaryContact":
			b = orNew(b)
			b.Links = true
			b.Contact = la.contact(b.Contact, la.collect(f.Selections, "Contact"))
		}
	}
	return b
}

// contact adds to c what fields read of a contact's relations.
func (la lookahead) contact(c *loader.ContactSel, fields []graphql.CollectedField) *loader.ContactSel {
	for _, f := range fields {
		switch f.Name {
		case "user":
			c = orNew(c)
			c.User = orNew(la.user(c.User, la.collect(f.Selections, "User")))
		case "buildings":
			c = orNew(c)
			c.Links = true
			for _, lf := range la.collect(f.Selections, "BuildingContact") {
				switch lf.Name {
				case "building":
					c.Building = orNew(la.building(c.Building, la.collect(lf.Selections, "Building")))
				case "contact": // the same contact
					c = la.contact(c, la.collect(lf.Selections, "Contact"))
				}
			}
		}
	}
	return c
}

// user adds to u what fields read of a user's relations.
func (la lookahead) user(u *loader.UserSel, fields []graphql.CollectedField) *loader.UserSel {
	for _, f := range fields {
		switch f.Name {
		case "contact":
			u = orNew(u)
			u.Contact = orNew(la.contact(u.Contact, la.collect(f.Selections, "Contact")))
		case "invoices":
			first, after := pageArgs(f.ArgumentMap(la.op.Variables))
			p, err := la.pages.parse(first, after, bookkeeping.InvoiceList)
			if err != nil {
				continue // the resolver reports it
			}
			u = orNew(u)
			key := invoicePageKey(uuid.Nil, p)
			var ps *loader.InvoicePageSel
			for _, have := range u.Invoices {
				if have.First == key.First && have.After == key.After {
					ps = have
				}
			}
			if ps == nil {
				ps = &loader.InvoicePageSel{First: key.First, After: key.After}
				u.Invoices = append(u.Invoices, ps)
			}
			la.invoice(&ps.Invoice, la.nodes(f.Selections, "Invoice"))
		}
	}
	return u
}

// invoice adds to i what fields read of an invoice's relations.
func (la lookahead) invoice(i *loader.InvoiceSel, fields []graphql.CollectedField) *loader.InvoiceSel {
	for _, f := range fields {
		if f.Name == "createdBy" {
			i = orNew(i)
			i.CreatedBy = orNew(la.user(i.CreatedBy, la.collect(f.Selections, "User")))
		}
	}
	return i
}

// pageArgs reads first and after from a field's evaluated arguments.
func pageArgs(args map[string]any) (first *int, after *string) {
	if v, ok := args["first"]; ok && v != nil {
		if n, err := graphql.UnmarshalInt(v); err == nil {
			first = &n
		}
	}
	if v, ok := args["after"].(string); ok {
		after = &v
	}
	return first, after
}

// invoicePageKey is the loader key of page p of a user's invoices.
func invoicePageKey(userID uuid.UUID, p page.Request) loader.InvoicePageKey {
	key := loader.InvoicePageKey{UserID: userID, First: p.First}
	if p.After != nil {
		key.After = *p.After
	}
	return key
}

func orNew[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// The selections below the items of the connection whose resolver ctx is.

func buildingsSelected(ctx context.Context, pg pages) *loader.BuildingSel {
	la, sels, ok := lookaheadOf(ctx, pg)
	if !ok {
		return nil
	}
	return la.building(nil, la.nodes(sels, "Building"))
}

func contactsSelected(ctx context.Context, pg pages) *loader.ContactSel {
	la, sels, ok := lookaheadOf(ctx, pg)
	if !ok {
		return nil
	}
	return la.contact(nil, la.nodes(sels, "Contact"))
}

func usersSelected(ctx context.Context, pg pages) *loader.UserSel {
	la, sels, ok := lookaheadOf(ctx, pg)
	if !ok {
		return nil
	}
	return la.user(nil, la.nodes(sels, "User"))
}

func invoicesSelected(ctx context.Context, pg pages) *loader.InvoiceSel {
	la, sels, ok := lookaheadOf(ctx, pg)
	if !ok {
		return nil
	}
	return la.invoice(nil, la.nodes(sels, "Invoice"))
}

// prefetchedLinks prefetches what the operation reads below the links that
// the resolver ctx is of returns, and passes them on.
func prefetchedLinks(ctx context.Context, pg pages, links []*comms.BuildingLink, err error) ([]*comms.BuildingLink, error) {
	if la, sels, ok := lookaheadOf(ctx, pg); ok && err == nil {
		contact, building := la.links(nil, nil, la.collect(sels, "BuildingContact"))
		loader.For(ctx).PrefetchLinks(ctx, links, contact, building)
	}
	return links, err
}
