// Package loader batches the relation lookups of one request: the planner
// (package graph) asks for a whole level of keys at once, so a query costs
// one SQL statement per level of nesting, not one per row. Each relation has
// one batch function (dataloader's contract: exactly one result per key, in
// key order) and a cache for the request. Loaders are made per request in
// Middleware and never shared: their cache never expires and a batch runs
// with its caller's context (and so its scope).
package loader

import (
	"context"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/property"
)

// Stores are the stores the loaders read.
type Stores struct {
	Directory   *directory.Store
	Comms       *comms.Store
	Property    *property.Store
	Bookkeeping *bookkeeping.Store
}

// InvoicePageKey asks for one page of one creator's invoices.
type InvoicePageKey struct {
	UserID uuid.UUID
	First  int
	After  page.Cursor // zero when from the start
}

// Loaders are one request's batch loaders, one per relation: each loads a
// whole level of keys in one statement and keeps what it loaded for the
// rest of the request.
type Loaders struct {
	users            *level[uuid.UUID, *directory.User]
	contactsOfUsers  *level[uuid.UUID, *comms.Contact]
	linksOfBuildings *level[uuid.UUID, []*comms.BuildingLink]
	linksOfContacts  *level[uuid.UUID, []*comms.BuildingLink]
	buildings        *level[uuid.UUID, *property.Building]
	invoicePages     *level[InvoicePageKey, []*bookkeeping.Invoice]

	// BuildingsOfCaller is the set of buildings the signed-in user is a
	// contact of, loaded once per request when first asked for.
	BuildingsOfCaller func(ctx context.Context) (map[uuid.UUID]bool, error)
}

// New returns loaders for one request made by scope.
func New(st Stores, scope access.Scope) *Loaders {
	return &Loaders{
		BuildingsOfCaller: onceSet(func(ctx context.Context) ([]uuid.UUID, error) {
			if scope.UserID == uuid.Nil {
				return nil, nil
			}
			return st.Comms.FindBuildingIDsOfUser(ctx, scope, scope.UserID)
		}),
		users: newLevel("UserByID", one(func(ctx context.Context, ids []uuid.UUID) ([]*directory.User, error) {
			return st.Directory.FindUsersByIDs(ctx, scope, ids)
		}, func(u *directory.User) uuid.UUID { return u.ID })),
		contactsOfUsers: newLevel("ContactByUser", one(func(ctx context.Context, ids []uuid.UUID) ([]*comms.Contact, error) {
			return st.Comms.FindContactsByUserIDs(ctx, scope, ids)
		}, func(c *comms.Contact) uuid.UUID { return *c.UserID })),
		linksOfBuildings: newLevel("LinksByBuilding", many(func(ctx context.Context, ids []uuid.UUID) ([]*comms.BuildingLink, error) {
			return st.Comms.FindLinksByBuildings(ctx, scope, ids)
		}, func(l *comms.BuildingLink) uuid.UUID { return l.BuildingID })),
		linksOfContacts: newLevel("LinksByContact", many(func(ctx context.Context, ids []uuid.UUID) ([]*comms.BuildingLink, error) {
			return st.Comms.FindLinksByContacts(ctx, scope, ids)
		}, func(l *comms.BuildingLink) uuid.UUID { return l.ContactID })),
		buildings: newLevel("BuildingByID", one(func(ctx context.Context, ids []uuid.UUID) ([]*property.Building, error) {
			return st.Property.FindBuildingsByIDs(ctx, scope, ids)
		}, func(b *property.Building) uuid.UUID { return b.ID })),
		invoicePages: newLevel("InvoicesByCreator", invoicePages(st.Bookkeeping, scope)),
	}
}

// UsersByID returns the users of ids that the request's scope sees.
func (l *Loaders) UsersByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*directory.User, error) {
	return l.users.fetch(ctx, ids)
}

// ContactsByUser returns the contact of each user of ids (nil for none).
func (l *Loaders) ContactsByUser(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*comms.Contact, error) {
	return l.contactsOfUsers.fetch(ctx, ids)
}

// LinksByBuilding returns the contact links of each building of ids, primary
// first, each with its contact joined.
func (l *Loaders) LinksByBuilding(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*comms.BuildingLink, error) {
	return l.linksOfBuildings.fetch(ctx, ids)
}

// LinksByContact returns the building links of each contact of ids, without
// their contact (it is the key's).
func (l *Loaders) LinksByContact(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*comms.BuildingLink, error) {
	return l.linksOfContacts.fetch(ctx, ids)
}

// BuildingsByID returns the buildings of ids that the request's scope sees.
func (l *Loaders) BuildingsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*property.Building, error) {
	return l.buildings.fetch(ctx, ids)
}

// InvoicesByCreator returns each key's page of its creator's invoices, one
// row more than First when more follow.
func (l *Loaders) InvoicesByCreator(ctx context.Context, keys []InvoicePageKey) (map[InvoicePageKey][]*bookkeeping.Invoice, error) {
	return l.invoicePages.fetch(ctx, keys)
}

// level is one relation's loader: it loads the keys it has not loaded yet in
// one batch, run with the caller's context, and keeps the results for the
// request. No timer: a level is asked for whole.
type level[K comparable, V any] struct {
	batch dataloader.BatchFunc[K, V]
	mu    sync.Mutex
	done  map[K]V
}

func newLevel[K comparable, V any](name string, f dataloader.BatchFunc[K, V]) *level[K, V] {
	return &level[K, V]{batch: observed(name, f)}
}

// fetch returns the values of keys (the zero value for a key without a
// row). An error fails the level and keeps nothing of it.
func (lv *level[K, V]) fetch(ctx context.Context, keys []K) (map[K]V, error) {
	out := make(map[K]V, len(keys))
	var missing []K
	lv.mu.Lock()
	for _, k := range keys {
		if _, asked := out[k]; asked {
			continue
		}
		v, ok := lv.done[k]
		out[k] = v
		if !ok {
			missing = append(missing, k)
		}
	}
	lv.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	results := lv.batch(ctx, missing)
	for _, r := range results {
		if r.Error != nil {
			return nil, r.Error
		}
	}
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.done == nil {
		lv.done = make(map[K]V, len(missing))
	}
	for i, r := range results {
		out[missing[i]] = r.Data
		lv.done[missing[i]] = r.Data
	}
	return out, nil
}

// observed records each batch's size in the loader-batch histogram.
func observed[K comparable, V any](name string, f dataloader.BatchFunc[K, V]) dataloader.BatchFunc[K, V] {
	return func(ctx context.Context, keys []K) []*dataloader.Result[V] {
		metrics.ObserveLoaderBatch(name, len(keys))
		return f(ctx, keys)
	}
}

// onceSet memoises a set load for the request; concurrent first callers wait
// for one load.
func onceSet(find func(context.Context) ([]uuid.UUID, error)) func(context.Context) (map[uuid.UUID]bool, error) {
	var (
		once sync.Once
		set  map[uuid.UUID]bool
		err  error
	)
	return func(ctx context.Context) (map[uuid.UUID]bool, error) {
		once.Do(func() {
			var ids []uuid.UUID
			ids, err = find(ctx)
			set = make(map[uuid.UUID]bool, len(ids))
			for _, id := range ids {
				set[id] = true
			}
		})
		return set, err
	}
}

// one makes a batch function for a to-one relation: exactly one result per
// key, in key order; a key without a row gets a nil value.
func one[V any](find func(context.Context, []uuid.UUID) ([]V, error), keyOf func(V) uuid.UUID) dataloader.BatchFunc[uuid.UUID, V] {
	return func(ctx context.Context, keys []uuid.UUID) []*dataloader.Result[V] {
		rows, err := find(ctx, keys)
		results := make([]*dataloader.Result[V], len(keys))
		if err != nil {
			for i := range results {
				results[i] = &dataloader.Result[V]{Error: err}
			}
			return results
		}
		byKey := make(map[uuid.UUID]V, len(rows))
		for _, r := range rows {
			byKey[keyOf(r)] = r
		}
		for i, k := range keys {
			results[i] = &dataloader.Result[V]{Data: byKey[k]}
		}
		return results
	}
}

// many makes a batch function for a to-many relation: one slice per key, in
// key order, each keeping the order the store returned.
func many[V any](find func(context.Context, []uuid.UUID) ([]V, error), keyOf func(V) uuid.UUID) dataloader.BatchFunc[uuid.UUID, []V] {
	return func(ctx context.Context, keys []uuid.UUID) []*dataloader.Result[[]V] {
		rows, err := find(ctx, keys)
		results := make([]*dataloader.Result[[]V], len(keys))
		if err != nil {
			for i := range results {
				results[i] = &dataloader.Result[[]V]{Error: err}
			}
			return results
		}
		byKey := make(map[uuid.UUID][]V, len(keys))
		for _, r := range rows {
			k := keyOf(r)
			byKey[k] = append(byKey[k], r)
		}
		for i, k := range keys {
			results[i] = &dataloader.Result[[]V]{Data: byKey[k]}
		}
		return results
	}
}

// invoicePages loads pages of invoices per creator: one windowed statement per
// distinct (first, after) in the batch, which in a normal query is one.
func invoicePages(st *bookkeeping.Store, scope access.Scope) dataloader.BatchFunc[InvoicePageKey, []*bookkeeping.Invoice] {
	type pageOf struct {
		First int
		After page.Cursor
	}
	return func(ctx context.Context, keys []InvoicePageKey) []*dataloader.Result[[]*bookkeeping.Invoice] {
		groups := map[pageOf][]uuid.UUID{}
		var order []pageOf
		for _, k := range keys {
			g := pageOf{k.First, k.After}
			if _, ok := groups[g]; !ok {
				order = append(order, g)
			}
			groups[g] = append(groups[g], k.UserID)
		}
		found := make(map[InvoicePageKey][]*bookkeeping.Invoice, len(keys))
		errs := map[pageOf]error{}
		for _, g := range order {
			req := page.Request{First: g.First}
			if g.After.ID != uuid.Nil {
				after := g.After
				req.After = &after
			}
			invs, err := st.FindInvoicesByCreators(ctx, scope, groups[g], req)
			if err != nil {
				errs[g] = err
				continue
			}
			for _, inv := range invs {
				k := InvoicePageKey{UserID: inv.CreatedByUserID, First: g.First, After: g.After}
				found[k] = append(found[k], inv)
			}
		}
		results := make([]*dataloader.Result[[]*bookkeeping.Invoice], len(keys))
		for i, k := range keys {
			results[i] = &dataloader.Result[[]*bookkeeping.Invoice]{Data: found[k], Error: errs[pageOf{k.First, k.After}]}
		}
		return results
	}
}

type loadersKey struct{}

// Middleware gives each request its own loaders, made for the scope the
// authentication middleware put in the context. A request without a scope
// gets none; resolvers then refuse it.
func Middleware(st Stores) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if scope, ok := access.FromContext(r.Context()); ok {
				r = r.WithContext(context.WithValue(r.Context(), loadersKey{}, New(st, scope)))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// For returns the request's loaders; nil when the request has none.
func For(ctx context.Context) *Loaders {
	l, _ := ctx.Value(loadersKey{}).(*Loaders)
	return l
}
