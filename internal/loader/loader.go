// Package loader batches the relation lookups of one request: every relation
// of the API is loaded through a per-request dataloader, so a query costs one
// SQL statement per level of nesting, not one per row. Loaders are made per
// request in Middleware and never shared: a dataloader's cache never expires
// and a batch runs with its first caller's context (and so its scope).
package loader

import (
	"context"
	"net/http"
	"sync"
	"time"

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

// Loaders are one request's dataloaders, one per relation.
type Loaders struct {
	UserByID          *dataloader.Loader[uuid.UUID, *directory.User]
	ContactByUser     *dataloader.Loader[uuid.UUID, *comms.Contact]
	LinksByBuilding   *dataloader.Loader[uuid.UUID, []*comms.BuildingLink]
	LinksByContact    *dataloader.Loader[uuid.UUID, []*comms.BuildingLink]
	BuildingByID      *dataloader.Loader[uuid.UUID, *property.Building]
	InvoicesByCreator *dataloader.Loader[InvoicePageKey, []*bookkeeping.Invoice]

	users            prefetcher[uuid.UUID, *directory.User]
	contactsOfUsers  prefetcher[uuid.UUID, *comms.Contact]
	linksOfBuildings prefetcher[uuid.UUID, []*comms.BuildingLink]
	linksOfContacts  prefetcher[uuid.UUID, []*comms.BuildingLink]
	buildings        prefetcher[uuid.UUID, *property.Building]
	invoicePages     prefetcher[InvoicePageKey, []*bookkeeping.Invoice]

	// BuildingsOfCaller is the set of buildings the signed-in user is a
	// contact of, loaded once per request when first asked for.
	BuildingsOfCaller func(ctx context.Context) (map[uuid.UUID]bool, error)
}

// DefaultWait is how long a loader collects keys before it sends a batch.
// The relations below a list's items do not wait on it: the list prefetches
// them a level at a time (see Prefetch*). The wait batches the other lookups
// of a request, without adding dataloader v7's 16 ms default to each.
const DefaultWait = 2 * time.Millisecond

// New returns loaders for one request made by scope.
func New(st Stores, scope access.Scope, wait time.Duration) *Loaders {
	if wait <= 0 {
		wait = DefaultWait
	}
	l := &Loaders{
		BuildingsOfCaller: onceSet(func(ctx context.Context) ([]uuid.UUID, error) {
			if scope.UserID == uuid.Nil {
				return nil, nil
			}
			return st.Comms.FindBuildingIDsOfUser(ctx, scope, scope.UserID)
		}),
	}
	l.UserByID, l.users = batched(wait, "UserByID", one(func(ctx context.Context, ids []uuid.UUID) ([]*directory.User, error) {
		return st.Directory.FindUsersByIDs(ctx, scope, ids)
	}, func(u *directory.User) uuid.UUID { return u.ID }))
	l.ContactByUser, l.contactsOfUsers = batched(wait, "ContactByUser", one(func(ctx context.Context, ids []uuid.UUID) ([]*comms.Contact, error) {
		return st.Comms.FindContactsByUserIDs(ctx, scope, ids)
	}, func(c *comms.Contact) uuid.UUID { return *c.UserID }))
	l.LinksByBuilding, l.linksOfBuildings = batched(wait, "LinksByBuilding", many(func(ctx context.Context, ids []uuid.UUID) ([]*comms.BuildingLink, error) {
		return st.Comms.FindLinksByBuildings(ctx, scope, ids)
	}, func(l *comms.BuildingLink) uuid.UUID { return l.BuildingID }))
	l.LinksByContact, l.linksOfContacts = batched(wait, "LinksByContact", many(func(ctx context.Context, ids []uuid.UUID) ([]*comms.BuildingLink, error) {
		return st.Comms.FindLinksByContacts(ctx, scope, ids)
	}, func(l *comms.BuildingLink) uuid.UUID { return l.ContactID }))
	l.BuildingByID, l.buildings = batched(wait, "BuildingByID", one(func(ctx context.Context, ids []uuid.UUID) ([]*property.Building, error) {
		return st.Property.FindBuildingsByIDs(ctx, scope, ids)
	}, func(b *property.Building) uuid.UUID { return b.ID }))
	l.InvoicesByCreator, l.invoicePages = batched(wait, "InvoicesByCreator", invoicePages(st.Bookkeeping, scope))
	return l
}

// batched makes one relation's loader, and the prefetcher that fills the
// same loader's cache with whole levels at once.
func batched[K comparable, V any](wait time.Duration, name string, f dataloader.BatchFunc[K, V]) (*dataloader.Loader[K, V], prefetcher[K, V]) {
	f = observed(name, f)
	cache := dataloader.NewCache[K, V]()
	l := dataloader.NewBatchedLoader(f, dataloader.WithWait[K, V](wait), dataloader.WithBatchCapacity[K, V](1000), dataloader.WithCache[K, V](cache))
	return l, prefetcher[K, V]{loader: l, cache: cache, batch: f}
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
func Middleware(st Stores, wait time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if scope, ok := access.FromContext(r.Context()); ok {
				r = r.WithContext(context.WithValue(r.Context(), loadersKey{}, New(st, scope, wait)))
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
