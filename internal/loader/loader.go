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
	"github.com/propertyportal/gateway/internal/node"
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

// InvoicePageKey asks for one page of one creator's invoices (see
// page.Request).
type InvoicePageKey struct {
	UserID   uuid.UUID
	First    int
	After    page.Cursor // zero when from the start
	Before   page.Cursor // zero when to the end
	Backward bool
}

// InvoicePage is the key of the page req for user.
func InvoicePage(user uuid.UUID, req page.Request) InvoicePageKey {
	k := InvoicePageKey{UserID: user, First: req.First, Backward: req.Backward}
	if req.After != nil {
		k.After = *req.After
	}
	if req.Before != nil {
		k.Before = *req.Before
	}
	return k
}

// Loaders are one request's batch loaders, one per relation: each loads a
// whole level of keys in one statement and keeps what it loaded for the
// rest of the request. Their batch functions are the server's (relations);
// what is the request's is its scope and what it loaded.
type Loaders struct {
	scope access.Scope
	rel   *relations

	users            level[uuid.UUID, *directory.User]
	contactsOfUsers  level[uuid.UUID, *comms.Contact]
	linksOfBuildings level[uuid.UUID, []*comms.BuildingLink]
	linksOfContacts  level[uuid.UUID, []*comms.BuildingLink]
	buildings        level[uuid.UUID, *property.Building]
	invoicePages     level[InvoicePageKey, []*bookkeeping.Invoice]
	kinds            level[uuid.UUID, node.Kind]
	contacts         level[uuid.UUID, *comms.Contact]
	invoices         level[uuid.UUID, *bookkeeping.Invoice]

	callerBuildings struct {
		once sync.Once
		set  map[uuid.UUID]bool
		err  error
	}
}

// relations are the batch functions of every relation over the stores,
// made once per server: each takes the scope of the request that asks.
type relations struct {
	users            relation[uuid.UUID, *directory.User]
	contactsOfUsers  relation[uuid.UUID, *comms.Contact]
	linksOfBuildings relation[uuid.UUID, []*comms.BuildingLink]
	linksOfContacts  relation[uuid.UUID, []*comms.BuildingLink]
	buildings        relation[uuid.UUID, *property.Building]
	invoicePages     relation[InvoicePageKey, []*bookkeeping.Invoice]
	nodes            func() *node.Store
	contacts         relation[uuid.UUID, *comms.Contact]
	invoices         relation[uuid.UUID, *bookkeeping.Invoice]
	callerBuildings  func(ctx context.Context, scope access.Scope) ([]uuid.UUID, error)
}

// relation is one relation's batch function and the name its batches are
// counted by in the loader-batch histogram.
type relation[K comparable, V any] struct {
	name  string
	batch scopedBatch[K, V]
}

// scopedBatch is a batch function (dataloader's contract: exactly one
// result per key, in key order) run for a request's scope.
type scopedBatch[K comparable, V any] func(ctx context.Context, scope access.Scope, keys []K) []*dataloader.Result[V]

// relationsOf makes the batch functions over st, once per server.
func relationsOf(st Stores) *relations {
	return &relations{
		users: relation[uuid.UUID, *directory.User]{"UserByID", one(st.Directory.FindUsersByIDs,
			func(u *directory.User) uuid.UUID { return u.ID })},
		contactsOfUsers: relation[uuid.UUID, *comms.Contact]{"ContactByUser", one(st.Comms.FindContactsByUserIDs,
			func(c *comms.Contact) uuid.UUID { return *c.UserID })},
		linksOfBuildings: relation[uuid.UUID, []*comms.BuildingLink]{"LinksByBuilding", many(st.Comms.FindLinksByBuildings,
			func(l *comms.BuildingLink) uuid.UUID { return l.BuildingID })},
		linksOfContacts: relation[uuid.UUID, []*comms.BuildingLink]{"LinksByContact", many(st.Comms.FindLinksByContacts,
			func(l *comms.BuildingLink) uuid.UUID { return l.ContactID })},
		buildings: relation[uuid.UUID, *property.Building]{"BuildingByID", one(st.Property.FindBuildingsByIDs,
			func(b *property.Building) uuid.UUID { return b.ID })},
		invoicePages: relation[InvoicePageKey, []*bookkeeping.Invoice]{"InvoicesByCreator", invoicePages(st.Bookkeeping)},
		nodes: sync.OnceValue(func() *node.Store {
			return node.NewStore(node.DBs{Main: st.Directory.DB(), Comms: st.Comms.DB()})
		}),
		contacts: relation[uuid.UUID, *comms.Contact]{"ContactByID", one(st.Comms.FindContactsByIDs,
			func(c *comms.Contact) uuid.UUID { return c.ID })},
		invoices: relation[uuid.UUID, *bookkeeping.Invoice]{"InvoiceByID", one(st.Bookkeeping.FindInvoicesByIDs,
			func(inv *bookkeeping.Invoice) uuid.UUID { return inv.ID })},
		callerBuildings: func(ctx context.Context, scope access.Scope) ([]uuid.UUID, error) {
			if scope.UserID == uuid.Nil {
				return nil, nil
			}
			return st.Comms.FindBuildingIDsOfUser(ctx, scope, scope.UserID)
		},
	}
}

// New returns loaders for one request made by scope.
func New(st Stores, scope access.Scope) *Loaders { return newLoaders(relationsOf(st), scope) }

// newLoaders is one allocation: the request's scope and empty levels.
func newLoaders(rel *relations, scope access.Scope) *Loaders {
	return &Loaders{scope: scope, rel: rel}
}

// BuildingsOfCaller returns the set of buildings the signed-in user is a
// contact of, loaded once per request when first asked for; concurrent
// first callers wait for the one load.
func (l *Loaders) BuildingsOfCaller(ctx context.Context) (map[uuid.UUID]bool, error) {
	c := &l.callerBuildings
	c.once.Do(func() {
		var ids []uuid.UUID
		ids, c.err = l.rel.callerBuildings(ctx, l.scope)
		c.set = make(map[uuid.UUID]bool, len(ids))
		for _, id := range ids {
			c.set[id] = true
		}
	})
	return c.set, c.err
}

// UsersByID returns the users of ids that the request's scope sees.
func (l *Loaders) UsersByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*directory.User, error) {
	return l.users.fetch(ctx, l.scope, ids, l.rel.users)
}

// ContactsByUser returns the contact of each user of ids (nil for none).
func (l *Loaders) ContactsByUser(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*comms.Contact, error) {
	return l.contactsOfUsers.fetch(ctx, l.scope, ids, l.rel.contactsOfUsers)
}

// LinksByBuilding returns the contact links of each building of ids, primary
// first, each with its contact joined.
func (l *Loaders) LinksByBuilding(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*comms.BuildingLink, error) {
	return l.linksOfBuildings.fetch(ctx, l.scope, ids, l.rel.linksOfBuildings)
}

// LinksByContact returns the building links of each contact of ids, without
// their contact (it is the key's).
func (l *Loaders) LinksByContact(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*comms.BuildingLink, error) {
	return l.linksOfContacts.fetch(ctx, l.scope, ids, l.rel.linksOfContacts)
}

// BuildingsByID returns the buildings of ids that the request's scope sees.
func (l *Loaders) BuildingsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*property.Building, error) {
	return l.buildings.fetch(ctx, l.scope, ids, l.rel.buildings)
}

// InvoicesByCreator returns each key's page of its creator's invoices, one
// row more than First when more follow, in the order the page reads them
// (see page.Trim).
func (l *Loaders) InvoicesByCreator(ctx context.Context, keys []InvoicePageKey) (map[InvoicePageKey][]*bookkeeping.Invoice, error) {
	return l.invoicePages.fetch(ctx, l.scope, keys, l.rel.invoicePages)
}

// KindsByID returns the kind of object each id of ids names, node.None for
// an id that names nothing the request's scope sees. The objects are read
// with their kinds, all in one statement per database (node.Store.Find),
// and kept as UsersByID, ContactsByID, BuildingsByID and InvoicesByID keep
// what they load: asking those for these ids then costs no statement.
func (l *Loaders) KindsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]node.Kind, error) {
	return l.kinds.fetch(ctx, l.scope, ids, relation[uuid.UUID, node.Kind]{"NodeByID", l.findNodes})
}

// findNodes is the batch function of KindsByID: it finds the objects of
// keys and keeps them in the typed levels before answering their kinds.
func (l *Loaders) findNodes(ctx context.Context, scope access.Scope, keys []uuid.UUID) []*dataloader.Result[node.Kind] {
	found, err := l.rel.nodes().Find(ctx, scope, keys)
	kinds := make(map[uuid.UUID]node.Kind, len(keys))
	if err == nil {
		prime(&l.users, found.Users, func(u *directory.User) uuid.UUID { return u.ID }, node.User, kinds)
		prime(&l.contacts, found.Contacts, func(c *comms.Contact) uuid.UUID { return c.ID }, node.Contact, kinds)
		prime(&l.buildings, found.Buildings, func(b *property.Building) uuid.UUID { return b.ID }, node.Building, kinds)
		prime(&l.invoices, found.Invoices, func(inv *bookkeeping.Invoice) uuid.UUID { return inv.ID }, node.Invoice, kinds)
	}
	results := make([]*dataloader.Result[node.Kind], len(keys))
	for i, k := range keys {
		results[i] = &dataloader.Result[node.Kind]{Data: kinds[k], Error: err}
	}
	return results
}

// prime keeps rows, of kind k, in lv as if lv had loaded them (a row lv
// has already is kept as it was) and records their kind in kinds.
func prime[V any](lv *level[uuid.UUID, V], rows []V, keyOf func(V) uuid.UUID, k node.Kind, kinds map[uuid.UUID]node.Kind) {
	if len(rows) == 0 {
		return
	}
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.done == nil {
		lv.done = make(map[uuid.UUID]V, len(rows))
	}
	for _, r := range rows {
		id := keyOf(r)
		kinds[id] = k
		if _, ok := lv.done[id]; !ok {
			lv.done[id] = r
		}
	}
}

// ContactsByID returns the contacts of ids that the request's scope sees.
func (l *Loaders) ContactsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*comms.Contact, error) {
	return l.contacts.fetch(ctx, l.scope, ids, l.rel.contacts)
}

// InvoicesByID returns the invoices of ids that the request's scope sees.
func (l *Loaders) InvoicesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*bookkeeping.Invoice, error) {
	return l.invoices.fetch(ctx, l.scope, ids, l.rel.invoices)
}

// level is what one relation loaded for the request: fetch loads the keys
// it has not loaded yet in one batch, run with the caller's context, and
// keeps the results. No timer: a level is asked for whole. The zero value
// is an empty level.
type level[K comparable, V any] struct {
	mu   sync.Mutex
	done map[K]V
}

// fetch returns the values of keys (the zero value for a key without a
// row), loading the missing ones by rel for scope. An error fails the
// level and keeps nothing of it.
func (lv *level[K, V]) fetch(ctx context.Context, scope access.Scope, keys []K, rel relation[K, V]) (map[K]V, error) {
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
	metrics.ObserveLoaderBatch(rel.name, len(missing))
	results := rel.batch(ctx, scope, missing)
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

// one makes a batch function for a to-one relation: exactly one result per
// key, in key order; a key without a row gets a nil value.
func one[V any](find func(context.Context, access.Scope, []uuid.UUID) ([]V, error), keyOf func(V) uuid.UUID) scopedBatch[uuid.UUID, V] {
	return func(ctx context.Context, scope access.Scope, keys []uuid.UUID) []*dataloader.Result[V] {
		rows, err := find(ctx, scope, keys)
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
func many[V any](find func(context.Context, access.Scope, []uuid.UUID) ([]V, error), keyOf func(V) uuid.UUID) scopedBatch[uuid.UUID, []V] {
	return func(ctx context.Context, scope access.Scope, keys []uuid.UUID) []*dataloader.Result[[]V] {
		rows, err := find(ctx, scope, keys)
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
// distinct page (size, cursors, direction) in the batch, which in a normal
// query is one.
func invoicePages(st *bookkeeping.Store) scopedBatch[InvoicePageKey, []*bookkeeping.Invoice] {
	type pageOf struct {
		First         int
		After, Before page.Cursor
		Backward      bool
	}
	return func(ctx context.Context, scope access.Scope, keys []InvoicePageKey) []*dataloader.Result[[]*bookkeeping.Invoice] {
		// The keys' pages, each once, and which one each key asks for. A
		// key is hashed by its user alone: a page's cursors are strings,
		// dear to hash for every key and every row.
		var pages []pageOf
		var users [][]uuid.UUID
		of := make([]int, len(keys))
		for i, k := range keys {
			g := pageOf{k.First, k.After, k.Before, k.Backward}
			j := len(pages) - 1
			if j < 0 || pages[j] != g { // a batch is one page in a normal query
				for j = 0; j < len(pages) && pages[j] != g; j++ {
				}
				if j == len(pages) {
					pages, users = append(pages, g), append(users, nil)
				}
			}
			of[i] = j
			users[j] = append(users[j], k.UserID)
		}
		found := make([]map[uuid.UUID][]*bookkeeping.Invoice, len(pages))
		errs := make([]error, len(pages))
		for j, g := range pages {
			req := page.Request{First: g.First, Backward: g.Backward}
			if g.After.ID != uuid.Nil {
				after := g.After
				req.After = &after
			}
			if g.Before.ID != uuid.Nil {
				before := g.Before
				req.Before = &before
			}
			invs, err := st.FindInvoicesByCreators(ctx, scope, users[j], req)
			if err != nil {
				errs[j] = err
				continue
			}
			byUser := make(map[uuid.UUID][]*bookkeeping.Invoice, len(users[j]))
			for _, inv := range invs {
				byUser[inv.CreatedByUserID] = append(byUser[inv.CreatedByUserID], inv)
			}
			found[j] = byUser
		}
		results := make([]*dataloader.Result[[]*bookkeeping.Invoice], len(keys))
		for i, k := range keys {
			results[i] = &dataloader.Result[[]*bookkeeping.Invoice]{Data: found[of[i]][k.UserID], Error: errs[of[i]]}
		}
		return results
	}
}

type loadersKey struct{}

// Middleware gives each request its own loaders, made for the scope the
// authentication middleware put in the context. A request without a scope
// gets none; resolvers then refuse it.
func Middleware(st Stores) func(http.Handler) http.Handler {
	rel := relationsOf(st)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if scope, ok := access.FromContext(r.Context()); ok {
				r = r.WithContext(context.WithValue(r.Context(), loadersKey{}, newLoaders(rel, scope)))
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
