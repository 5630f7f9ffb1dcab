package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/graph/model"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/property"
)

// relation is one relation of the schema: a field of an object type that
// reaches other objects. load loads it for every parent of a level in one
// batch (at most one statement), attaches the children to their parents
// and returns them, each once, for the planner to go on below.
type relation struct {
	child string // the type of the objects reached (of the nodes, when paged)
	paged bool   // takes first/after and answers a connection of child
	load  func(ctx context.Context, p *planner, parents []any, args pageArgs) ([]any, error)
}

// relations is the one description of the schema's relations, by
// "Type.field". A relation missing here is a test failure
// (TestEveryRelationIsPlanned), not a field that silently loads nothing.
var relations = map[string]relation{
	"Building.contacts":        {child: "BuildingContact", load: buildingLinks},
	"Building.primaryContact":  {child: "Contact", load: primaryContacts},
	"BuildingContact.building": {child: "Building", load: toOne(linkBuilding, (*loader.Loaders).BuildingsByID, (*planner).building, setLinkBuilding)},
	"BuildingContact.contact":  {child: "Contact", load: linkContacts},
	"Contact.user":             {child: "User", load: toOne(contactUser, (*loader.Loaders).UsersByID, (*planner).user, setContactUser)},
	"Contact.buildings":        {child: "BuildingContact", load: contactLinks},
	"User.contact":             {child: "Contact", load: toOne(userKey, (*loader.Loaders).ContactsByUser, (*planner).contact, setUserContact)},
	"User.invoices":            {child: "Invoice", paged: true, load: userInvoices},
	"Invoice.createdBy":        {child: "User", load: toOne(invoiceCreator, (*loader.Loaders).UsersByID, (*planner).user, setInvoiceCreator)},
}

// Keys of parents and where their children go.

func linkBuilding(l *model.BuildingContact) (uuid.UUID, bool)     { return l.BuildingID, true }
func setLinkBuilding(l *model.BuildingContact, b *model.Building) { l.Building = b }
func contactUser(c *model.Contact) (uuid.UUID, bool) {
	if c.UserID == nil {
		return uuid.Nil, false
	}
	return *c.UserID, true
}
func setContactUser(c *model.Contact, u *model.User)                  { c.User = u }
func userKey(u *model.User) (uuid.UUID, bool)                         { return u.ID, true }
func setUserContact(u *model.User, c *model.Contact)                  { u.Contact = c }
func invoiceCreator(inv *model.Invoice) (uuid.UUID, bool)             { return inv.CreatedByUserID, true }
func setInvoiceCreator(inv *model.Invoice, u *model.User)             { inv.CreatedBy = u }
func buildingKey(b *model.Building) (uuid.UUID, bool)                 { return b.ID, true }
func contactKey(c *model.Contact) (uuid.UUID, bool)                   { return c.ID, true }
func setBuildingLinks(b *model.Building, ls []*model.BuildingContact) { b.Contacts = ls }

// toOne loads a to-one relation: the parent's key, the loader that finds
// the children by key, how a child is shown, and where it goes. Parents
// with the same key share one child.
func toOne[P any, V any, C any](
	key func(P) (uuid.UUID, bool),
	find func(*loader.Loaders, context.Context, []uuid.UUID) (map[uuid.UUID]*V, error),
	wrap func(*planner, *V) C,
	set func(P, C),
) func(context.Context, *planner, []any, pageArgs) ([]any, error) {
	return func(ctx context.Context, p *planner, parents []any, _ pageArgs) ([]any, error) {
		ids := make([]uuid.UUID, 0, len(parents))
		for _, x := range parents {
			if k, ok := key(x.(P)); ok {
				ids = append(ids, k)
			}
		}
		if len(ids) == 0 {
			return nil, nil
		}
		found, err := find(p.l, ctx, ids)
		if err != nil {
			return nil, err
		}
		shown := make(map[uuid.UUID]C, len(found))
		children := make([]any, 0, len(found))
		for _, x := range parents {
			k, ok := key(x.(P))
			if !ok {
				continue
			}
			c, done := shown[k]
			if !done {
				v := found[k]
				if v == nil {
					continue
				}
				c = wrap(p, v)
				shown[k] = c
				children = append(children, c)
			}
			set(x.(P), c)
		}
		return children, nil
	}
}

// buildingLinks loads Building.contacts: each building's links, primary
// first, with their contacts (joined in the same statement).
func buildingLinks(ctx context.Context, p *planner, parents []any, _ pageArgs) ([]any, error) {
	return links(ctx, p, parents, buildingKey, (*loader.Loaders).LinksByBuilding,
		func(b *model.Building, l *comms.BuildingLink) *model.BuildingContact {
			return &model.BuildingContact{BuildingLink: l, Contact: p.contact(l.Contact)}
		}, setBuildingLinks)
}

// contactLinks loads Contact.buildings: each contact's links, whose contact
// is the parent's. The link gets an object of its own for it: what the
// operation selects below the link's contact is planned on that object and
// must not replace what the parent's own selection planned.
func contactLinks(ctx context.Context, p *planner, parents []any, _ pageArgs) ([]any, error) {
	return links(ctx, p, parents, contactKey, (*loader.Loaders).LinksByContact,
		func(c *model.Contact, l *comms.BuildingLink) *model.BuildingContact {
			return &model.BuildingContact{BuildingLink: l, Contact: p.contact(c.Contact)}
		}, func(c *model.Contact, ls []*model.BuildingContact) { c.Buildings = ls })
}

// links loads a to-many relation of links.
func links[P any](ctx context.Context, p *planner, parents []any, key func(P) (uuid.UUID, bool),
	find func(*loader.Loaders, context.Context, []uuid.UUID) (map[uuid.UUID][]*comms.BuildingLink, error),
	show func(P, *comms.BuildingLink) *model.BuildingContact, set func(P, []*model.BuildingContact),
) ([]any, error) {
	ids := make([]uuid.UUID, len(parents))
	for i, x := range parents {
		ids[i], _ = key(x.(P))
	}
	found, err := find(p.l, ctx, ids)
	if err != nil {
		return nil, err
	}
	var children []any
	for _, x := range parents {
		k, _ := key(x.(P))
		ls := make([]*model.BuildingContact, len(found[k]))
		for i, l := range found[k] {
			ls[i] = show(x.(P), l)
			children = append(children, ls[i])
		}
		set(x.(P), ls)
	}
	return children, nil
}

// primaryContacts loads Building.primaryContact from the buildings' links
// (the same batch as Building.contacts: one statement for both).
func primaryContacts(ctx context.Context, p *planner, parents []any, _ pageArgs) ([]any, error) {
	ids := make([]uuid.UUID, len(parents))
	for i, x := range parents {
		ids[i] = x.(*model.Building).ID
	}
	found, err := p.l.LinksByBuilding(ctx, ids)
	if err != nil {
		return nil, err
	}
	var children []any
	for _, x := range parents {
		b := x.(*model.Building)
		for _, l := range found[b.ID] {
			if l.IsPrimary && l.Contact != nil {
				b.PrimaryContact = p.contact(l.Contact)
				children = append(children, b.PrimaryContact)
				break
			}
		}
	}
	return children, nil
}

// linkContacts goes on to BuildingContact.contact: the links came with their
// contacts, so it loads nothing.
func linkContacts(_ context.Context, _ *planner, parents []any, _ pageArgs) ([]any, error) {
	children := make([]any, 0, len(parents))
	seen := make(map[*model.Contact]bool, len(parents))
	for _, x := range parents {
		if c := x.(*model.BuildingContact).Contact; c != nil && !seen[c] {
			seen[c] = true
			children = append(children, c)
		}
	}
	return children, nil
}

// userInvoices loads User.invoices(first, after, last, before): the page of
// every user of the level in one windowed statement.
func userInvoices(ctx context.Context, p *planner, parents []any, args pageArgs) ([]any, error) {
	req, err := p.pages.parse(args.ask, bookkeeping.InvoiceList)
	if err != nil {
		for _, x := range parents {
			x.(*model.User).InvoicePages.Set(args.key, nil, err)
		}
		return nil, nil
	}
	keys := make([]loader.InvoicePageKey, len(parents))
	for i, x := range parents {
		keys[i] = loader.InvoicePage(x.(*model.User).ID, req)
	}
	found, err := p.l.InvoicesByCreator(ctx, keys)
	if err != nil {
		return nil, err
	}
	var children []any
	cursor := sealed(p.pages, invoiceCursor)
	for i, x := range parents {
		u := x.(*model.User)
		invs, more := page.Trim(found[keys[i]], req)
		nodes := make([]*model.Invoice, len(invs))
		for j, inv := range invs {
			nodes[j] = p.invoice(inv)
			children = append(children, nodes[j])
		}
		filter := bookkeeping.InvoiceFilter{CreatedByUserID: &u.ID}
		s, st := p.scope, p.r.Bookkeeping
		u.InvoicePages.Set(args.key, model.NewConnection(nodes, req, more, cursor,
			func(ctx context.Context) (int, error) { return st.CountInvoices(ctx, s, filter) }), nil)
	}
	return children, nil
}

// The cursors of the nodes of each list.

func invoiceCursor(inv *model.Invoice) page.Cursor { return bookkeeping.InvoiceCursor(inv.Invoice) }
func buildingCursor(b *model.Building) page.Cursor { return property.BuildingCursor(b.Building) }
func contactCursor(c *model.Contact) page.Cursor   { return comms.ContactCursor(c.Contact) }
func userCursor(o directory.UserOrder) func(*model.User) page.Cursor {
	return func(u *model.User) page.Cursor { return directory.UserCursor(u.User, o) }
}
