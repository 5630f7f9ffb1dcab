package graph

import (
	"context"

	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/propertyportal/gateway/graph/model"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/policy"
	"github.com/propertyportal/gateway/internal/property"
)

// Loaders are the request's dataloaders.
type Loaders = loader.Loaders

type (
	userLoader     = dataloader.Loader[uuid.UUID, *directory.User]
	contactLoader  = dataloader.Loader[uuid.UUID, *comms.Contact]
	linksLoader    = dataloader.Loader[uuid.UUID, []*comms.BuildingLink]
	buildingLoader = dataloader.Loader[uuid.UUID, *property.Building]
)

// scopeOf returns the caller's scope; Unauthenticated without one.
func scopeOf(ctx context.Context) (access.Scope, error) {
	s, ok := access.FromContext(ctx)
	if !ok {
		return access.Scope{}, apperr.E(apperr.Unauthenticated, "sign-in required")
	}
	return s, nil
}

// load loads key through the request's loader that pick chooses.
func load[K comparable, V any](ctx context.Context, pick func(*Loaders) *dataloader.Loader[K, V], key K) (V, error) {
	l := loader.For(ctx)
	if l == nil {
		var zero V
		return zero, apperr.E(apperr.Unauthenticated, "sign-in required")
	}
	return pick(l).Load(ctx, key)()
}

// required turns a missing value of a non-null field into NotFound.
func required[V any](v *V, err error) (*V, error) {
	if err == nil && v == nil {
		return nil, apperr.E(apperr.NotFound, "not found")
	}
	return v, err
}

// orNil turns NotFound into null, for nullable lookups by id.
func orNil[V any](v *V, err error) (*V, error) {
	if apperr.KindOf(err) == apperr.NotFound {
		return nil, nil
	}
	return v, err
}

func primaryOf(links []*comms.BuildingLink) *comms.Contact {
	for _, l := range links {
		if l.IsPrimary {
			return l.Contact
		}
	}
	return nil
}

// withContact fills in the links' contact: links found by contact are that contact's.
func withContact(links []*comms.BuildingLink, c *comms.Contact) []*comms.BuildingLink {
	out := make([]*comms.BuildingLink, len(links))
	for i, l := range links {
		cp := *l
		cp.Contact = c
		out[i] = &cp
	}
	return out
}

// piiArg is an argument that narrows or orders a list, whether it is set,
// and the kinds of PII its SQL compares (see the stores' where clauses).
type piiArg struct {
	set   bool
	field string
	kinds []policy.Kind
}

// mayFilter refuses, before any SQL, a set argument that compares PII the
// caller may not read on every row.
func mayFilter(s access.Scope, args ...piiArg) error {
	for _, a := range args {
		if a.set {
			if err := policy.CanFilter(s, a.field, a.kinds...); err != nil {
				return err
			}
		}
	}
	return nil
}

// userOrder is the order asked for or, when unset, by email for a caller
// who may order by email and by full name for everyone else.
func userOrder(s access.Scope, o *model.UserOrder) directory.UserOrder {
	if o != nil {
		return directory.UserOrder{Field: directory.UserOrderField(o.Field), Desc: o.Direction == model.OrderDirectionDesc}
	}
	if policy.CanFilter(s, "orderBy", policy.Email) == nil {
		return directory.UserOrder{Field: directory.OrderByEmail}
	}
	return directory.UserOrder{Field: directory.OrderByFullName}
}

func (r *queryResolver) users(ctx context.Context, first *int, after *string, f *directory.UserFilter, o *model.UserOrder) (*model.UserConnection, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	pg := r.pagesFor(s)
	filter, order := deref(f), userOrder(s, o)
	if err := mayFilter(s,
		piiArg{filter.EmailDomain != nil, "filter.emailDomain", []policy.Kind{policy.Email}},
		piiArg{filter.Search != nil, "filter.search", []policy.Kind{policy.Email, policy.Name}},
		piiArg{order.Field == directory.OrderByEmail, "orderBy.field", []policy.Kind{policy.Email}},
		piiArg{order.Field == directory.OrderByFullName, "orderBy.field", []policy.Kind{policy.Name}},
	); err != nil {
		return nil, err
	}
	if err := filter.Normalize(); err != nil {
		return nil, err
	}
	p, err := pg.parse(first, after, order.List())
	if err != nil {
		return nil, err
	}
	users, more, err := r.Directory.FindUsers(ctx, s, filter, order, p)
	if err != nil {
		return nil, err
	}
	loader.For(ctx).PrefetchUsers(ctx, users, usersSelected(ctx, pg))
	return model.NewConnection(users, more,
		func(u *directory.User) string { return pg.seal(directory.UserCursor(u, order)) },
		func(ctx context.Context) (int, error) { return r.Directory.CountUsers(ctx, s, filter) }), nil
}

func (r *queryResolver) buildings(ctx context.Context, first *int, after *string, f *property.BuildingFilter) (*model.BuildingConnection, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	pg := r.pagesFor(s)
	filter := deref(f)
	if err := filter.Normalize(); err != nil {
		return nil, err
	}
	p, err := pg.parse(first, after, property.BuildingList)
	if err != nil {
		return nil, err
	}
	bs, more, err := r.Property.FindBuildings(ctx, s, filter, p)
	if err != nil {
		return nil, err
	}
	loader.For(ctx).PrefetchBuildings(ctx, bs, buildingsSelected(ctx, pg))
	return model.NewConnection(bs, more, sealed(pg, property.BuildingCursor),
		func(ctx context.Context) (int, error) { return r.Property.CountBuildings(ctx, s, filter) }), nil
}

func (r *queryResolver) contacts(ctx context.Context, first *int, after *string, f *comms.ContactFilter) (*model.ContactConnection, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	pg := r.pagesFor(s)
	filter := deref(f)
	if err := mayFilter(s, piiArg{filter.Search != nil, "filter.search", []policy.Kind{policy.Name, policy.Email, policy.Phone}}); err != nil {
		return nil, err
	}
	if err := filter.Normalize(); err != nil {
		return nil, err
	}
	p, err := pg.parse(first, after, comms.ContactList)
	if err != nil {
		return nil, err
	}
	cs, more, err := r.Comms.FindContacts(ctx, s, filter, p)
	if err != nil {
		return nil, err
	}
	loader.For(ctx).PrefetchContacts(ctx, cs, contactsSelected(ctx, pg))
	return model.NewConnection(cs, more, sealed(pg, comms.ContactCursor),
		func(ctx context.Context) (int, error) { return r.Comms.CountContacts(ctx, s, filter) }), nil
}

func (r *queryResolver) invoices(ctx context.Context, first *int, after *string, f *bookkeeping.InvoiceFilter) (*model.InvoiceConnection, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	pg := r.pagesFor(s)
	filter := deref(f)
	if err := mayFilter(s, piiArg{filter.CreatedByEmailDomain != nil, "filter.createdByEmailDomain", []policy.Kind{policy.Email}}); err != nil {
		return nil, err
	}
	if err := filter.Normalize(); err != nil {
		return nil, err
	}
	p, err := pg.parse(first, after, bookkeeping.InvoiceList)
	if err != nil {
		return nil, err
	}
	invs, more, err := r.Bookkeeping.FindInvoices(ctx, s, filter, p)
	if err != nil {
		return nil, err
	}
	loader.For(ctx).PrefetchInvoices(ctx, invs, invoicesSelected(ctx, pg))
	return model.NewConnection(invs, more, sealed(pg, bookkeeping.InvoiceCursor),
		func(ctx context.Context) (int, error) { return r.Bookkeeping.CountInvoices(ctx, s, filter) }), nil
}

// invoicesOf pages one user's invoices through the loader that fetches the
// pages of every user in the query in one statement.
func (r *userResolver) invoicesOf(ctx context.Context, u *directory.User, first *int, after *string) (*model.InvoiceConnection, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	pg := r.pagesFor(s)
	p, err := pg.parse(first, after, bookkeeping.InvoiceList)
	if err != nil {
		return nil, err
	}
	invs, err := load(ctx, func(l *Loaders) *dataloader.Loader[loader.InvoicePageKey, []*bookkeeping.Invoice] {
		return l.InvoicesByCreator
	}, invoicePageKey(u.ID, p))
	if err != nil {
		return nil, err
	}
	invs, more := page.Trim(invs, p)
	loader.For(ctx).PrefetchInvoices(ctx, invs, invoicesSelected(ctx, pg))
	filter := bookkeeping.InvoiceFilter{CreatedByUserID: &u.ID}
	return model.NewConnection(invs, more, sealed(pg, bookkeeping.InvoiceCursor),
		func(ctx context.Context) (int, error) { return r.Bookkeeping.CountInvoices(ctx, s, filter) }), nil
}

// pages reads one caller's page arguments and seals the cursors of the
// pages it is answered: a cursor opens only for the caller it was made for.
type pages struct {
	max     int
	cursors *page.Sealer
	owner   string
}

// pagesFor returns the pages of the caller s.
func (r *Resolver) pagesFor(s access.Scope) pages {
	return pages{max: r.MaxPage, cursors: r.Cursors, owner: string(s.Role) + "/" + s.TenantID.String() + "/" + s.UserID.String()}
}

// pagesIn returns the pages of the caller of ctx.
func (r *Resolver) pagesIn(ctx context.Context) pages {
	s, _ := access.FromContext(ctx)
	return r.pagesFor(s)
}

func (pg pages) parse(first *int, after *string, list string) (page.Request, error) {
	return pg.cursors.Parse(first, after, list, pg.owner, pg.max)
}

func (pg pages) seal(c page.Cursor) string { return pg.cursors.Seal(c, pg.owner) }

// sealed turns a list's cursor function into one that seals for pg.
func sealed[T any](pg pages, cursor func(T) page.Cursor) func(T) string {
	return func(v T) string { return pg.seal(cursor(v)) }
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
