package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/propertyportal/gateway/graph/model"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/policy"
	"github.com/propertyportal/gateway/internal/property"
)

// scopeOf returns the caller's scope; Unauthenticated without one.
func scopeOf(ctx context.Context) (access.Scope, error) {
	s, ok := access.FromContext(ctx)
	if !ok {
		return access.Scope{}, apperr.E(apperr.Unauthenticated, "sign-in required")
	}
	return s, nil
}

// orNil turns NotFound into null, for nullable lookups by id.
func orNil[V any](v *V, err error) (*V, error) {
	if apperr.KindOf(err) == apperr.NotFound {
		return nil, nil
	}
	return v, err
}

// listOf is what one list field needs: the list (and order) its cursors
// belong to, how to find a page and count every match, how a node is shown
// and what its cursor is.
type listOf[D any, N any] struct {
	typ    string // the node type, e.g. "User"
	list   string // the cursors' list, e.g. "users:EMAIL:ASC"
	find   func(ctx context.Context, s access.Scope, p page.Request) ([]*D, bool, error)
	count  func(ctx context.Context, s access.Scope) (int, error)
	wrap   func(*planner, *D) N
	cursor func(N) page.Cursor
}

// list answers a connection field: it reads the page arguments, finds the
// page, plans what the operation selects below its nodes and seals their
// cursors when they are read.
func list[D any, N any](ctx context.Context, r *Resolver, a page.Args, l listOf[D, N]) (*model.Connection[N], error) {
	p, err := r.plannerFor(ctx)
	if err != nil {
		return nil, err
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		a = asked(fc.Field.Field, p.op.Variables, a)
	}
	req, err := p.pages.parse(a, l.list)
	if err != nil {
		return nil, err
	}
	rows, more, err := l.find(ctx, p.scope, req)
	if err != nil {
		return nil, err
	}
	nodes := make([]N, len(rows))
	items := make([]any, len(rows))
	for i, row := range rows {
		nodes[i] = l.wrap(p, row)
		items[i] = nodes[i]
	}
	if err := p.plan(l.typ, items, p.selectedNodes(l.typ)); err != nil {
		return nil, err
	}
	s := p.scope
	return model.NewConnection(nodes, req, more, sealed(p.pages, l.cursor),
		func(ctx context.Context) (int, error) { return l.count(ctx, s) }), nil
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
func mayFilter(ctx context.Context, args ...piiArg) error {
	s, err := scopeOf(ctx)
	if err != nil {
		return err
	}
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
func userOrder(ctx context.Context, o *model.UserOrder) directory.UserOrder {
	if o != nil {
		return directory.UserOrder{Field: directory.UserOrderField(o.Field), Desc: o.Direction == model.OrderDirectionDesc}
	}
	if s, _ := scopeOf(ctx); policy.CanFilter(s, "orderBy", policy.Email) == nil {
		return directory.UserOrder{Field: directory.OrderByEmail}
	}
	return directory.UserOrder{Field: directory.OrderByFullName}
}

func (r *queryResolver) users(ctx context.Context, a page.Args, f *directory.UserFilter, o *model.UserOrder) (*model.UserConnection, error) {
	filter, order := deref(f), userOrder(ctx, o)
	if err := mayFilter(ctx,
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
	return list(ctx, r.Resolver, a, listOf[directory.User, *model.User]{
		typ: "User", list: order.List(),
		find: func(ctx context.Context, s access.Scope, p page.Request) ([]*directory.User, bool, error) {
			return r.Directory.FindUsers(ctx, s, filter, order, p)
		},
		count:  func(ctx context.Context, s access.Scope) (int, error) { return r.Directory.CountUsers(ctx, s, filter) },
		wrap:   (*planner).user,
		cursor: userCursor(order),
	})
}

func (r *queryResolver) buildings(ctx context.Context, a page.Args, f *property.BuildingFilter) (*model.BuildingConnection, error) {
	filter := deref(f)
	if err := filter.Normalize(); err != nil {
		return nil, err
	}
	return list(ctx, r.Resolver, a, listOf[property.Building, *model.Building]{
		typ: "Building", list: property.BuildingList,
		find: func(ctx context.Context, s access.Scope, p page.Request) ([]*property.Building, bool, error) {
			return r.Property.FindBuildings(ctx, s, filter, p)
		},
		count: func(ctx context.Context, s access.Scope) (int, error) {
			return r.Property.CountBuildings(ctx, s, filter)
		},
		wrap:   (*planner).building,
		cursor: buildingCursor,
	})
}

func (r *queryResolver) contacts(ctx context.Context, a page.Args, f *comms.ContactFilter) (*model.ContactConnection, error) {
	filter := deref(f)
	if err := mayFilter(ctx, piiArg{filter.Search != nil, "filter.search", []policy.Kind{policy.Name, policy.Email, policy.Phone}}); err != nil {
		return nil, err
	}
	if err := filter.Normalize(); err != nil {
		return nil, err
	}
	return list(ctx, r.Resolver, a, listOf[comms.Contact, *model.Contact]{
		typ: "Contact", list: comms.ContactList,
		find: func(ctx context.Context, s access.Scope, p page.Request) ([]*comms.Contact, bool, error) {
			return r.Comms.FindContacts(ctx, s, filter, p)
		},
		count:  func(ctx context.Context, s access.Scope) (int, error) { return r.Comms.CountContacts(ctx, s, filter) },
		wrap:   (*planner).contact,
		cursor: contactCursor,
	})
}

func (r *queryResolver) invoices(ctx context.Context, a page.Args, f *bookkeeping.InvoiceFilter) (*model.InvoiceConnection, error) {
	filter := deref(f)
	if err := mayFilter(ctx, piiArg{filter.CreatedByEmailDomain != nil, "filter.createdByEmailDomain", []policy.Kind{policy.Email}}); err != nil {
		return nil, err
	}
	if err := filter.Normalize(); err != nil {
		return nil, err
	}
	return list(ctx, r.Resolver, a, listOf[bookkeeping.Invoice, *model.Invoice]{
		typ: "Invoice", list: bookkeeping.InvoiceList,
		find: func(ctx context.Context, s access.Scope, p page.Request) ([]*bookkeeping.Invoice, bool, error) {
			return r.Bookkeeping.FindInvoices(ctx, s, filter, p)
		},
		count: func(ctx context.Context, s access.Scope) (int, error) {
			return r.Bookkeeping.CountInvoices(ctx, s, filter)
		},
		wrap:   (*planner).invoice,
		cursor: invoiceCursor,
	})
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

func (pg pages) parse(a page.Args, list string) (page.Request, error) {
	return pg.cursors.Parse(a, list, pg.owner, pg.max)
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
