package loader

import (
	"context"

	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"

	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/property"
)

// A list resolver knows every item of its level, so it need not leave the
// batching of the next levels to the loaders' wait: gqlgen resolves each
// item's fields in its own goroutine, and on a busy machine their keys reach a
// loader over more than the wait, splitting a level into several statements.
// The Prefetch methods load, level by level, what the operation selects below
// a list's items (one statement per level, the keys of a level all at once)
// and prime the loaders' caches, so the item resolvers find their values
// there. A nil selection reads nothing and costs nothing.

// BuildingSel is what an operation reads of the buildings of a list.
type BuildingSel struct {
	Links    bool         // contacts or primaryContact
	Contact  *ContactSel  // what is read of those links' contacts
	Building *BuildingSel // what is read of those links' buildings
}

// ContactSel is what an operation reads of the contacts of a list.
type ContactSel struct {
	User     *UserSel     // the contact's account
	Links    bool         // the contact's buildings
	Building *BuildingSel // what is read of those links' buildings
}

// UserSel is what an operation reads of the users of a list.
type UserSel struct {
	Contact  *ContactSel
	Invoices []*InvoicePageSel // one per distinct page asked for
}

// InvoicePageSel is one page of a user's invoices and what is read of them.
type InvoicePageSel struct {
	First   int
	After   page.Cursor // zero when from the start
	Invoice InvoiceSel
}

// InvoiceSel is what an operation reads of the invoices of a list.
type InvoiceSel struct {
	CreatedBy *UserSel
}

// PrefetchBuildings loads what sel reads below bs into the loaders' caches.
func (l *Loaders) PrefetchBuildings(ctx context.Context, bs []*property.Building, sel *BuildingSel) {
	if l == nil || sel == nil || len(bs) == 0 {
		return
	}
	if !sel.Links {
		return
	}
	ids := make([]uuid.UUID, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	l.prefetchLinks(ctx, l.linksOfBuildings.fetch(ctx, ids), sel.Contact, sel.Building)
}

// PrefetchContacts loads what sel reads below cs into the loaders' caches.
func (l *Loaders) PrefetchContacts(ctx context.Context, cs []*comms.Contact, sel *ContactSel) {
	if l == nil || sel == nil || len(cs) == 0 {
		return
	}
	if sel.User != nil {
		var ids []uuid.UUID
		for _, c := range cs {
			if c.UserID != nil {
				ids = append(ids, *c.UserID)
			}
		}
		l.PrefetchUsers(ctx, present(l.users.fetch(ctx, ids)), sel.User)
	}
	if sel.Links {
		ids := make([]uuid.UUID, len(cs))
		for i, c := range cs {
			ids[i] = c.ID
		}
		l.prefetchLinks(ctx, l.linksOfContacts.fetch(ctx, ids), nil, sel.Building)
	}
}

// PrefetchUsers loads what sel reads below us into the loaders' caches.
func (l *Loaders) PrefetchUsers(ctx context.Context, us []*directory.User, sel *UserSel) {
	if l == nil || sel == nil || len(us) == 0 {
		return
	}
	if sel.Contact != nil {
		ids := make([]uuid.UUID, len(us))
		for i, u := range us {
			ids[i] = u.ID
		}
		l.PrefetchContacts(ctx, present(l.contactsOfUsers.fetch(ctx, ids)), sel.Contact)
	}
	for _, p := range sel.Invoices {
		keys := make([]InvoicePageKey, len(us))
		for i, u := range us {
			keys[i] = InvoicePageKey{UserID: u.ID, First: p.First, After: p.After}
		}
		l.PrefetchInvoices(ctx, flat(l.invoicePages.fetch(ctx, keys)), &p.Invoice)
	}
}

// PrefetchInvoices loads what sel reads below invs into the loaders' caches.
func (l *Loaders) PrefetchInvoices(ctx context.Context, invs []*bookkeeping.Invoice, sel *InvoiceSel) {
	if l == nil || sel == nil || sel.CreatedBy == nil || len(invs) == 0 {
		return
	}
	ids := make([]uuid.UUID, len(invs))
	for i, inv := range invs {
		ids[i] = inv.CreatedByUserID
	}
	l.PrefetchUsers(ctx, present(l.users.fetch(ctx, ids)), sel.CreatedBy)
}

// PrefetchLinks loads what is read below links into the loaders' caches:
// their contacts' relations (the contacts come joined to the links) and
// their buildings.
func (l *Loaders) PrefetchLinks(ctx context.Context, links []*comms.BuildingLink, contact *ContactSel, building *BuildingSel) {
	if l == nil || len(links) == 0 || (contact == nil && building == nil) {
		return
	}
	l.prefetchLinks(ctx, [][]*comms.BuildingLink{links}, contact, building)
}

// prefetchLinks goes on below the links of a list: their contacts (already
// joined to the links) and their buildings.
func (l *Loaders) prefetchLinks(ctx context.Context, links [][]*comms.BuildingLink, contact *ContactSel, building *BuildingSel) {
	all := flat(links)
	if contact != nil {
		seen := map[uuid.UUID]bool{}
		var cs []*comms.Contact
		for _, link := range all {
			if c := link.Contact; c != nil && !seen[c.ID] {
				seen[c.ID] = true
				cs = append(cs, c)
			}
		}
		l.PrefetchContacts(ctx, cs, contact)
	}
	if building != nil {
		ids := make([]uuid.UUID, len(all))
		for i, link := range all {
			ids[i] = link.BuildingID
		}
		l.PrefetchBuildings(ctx, present(l.buildings.fetch(ctx, ids)), building)
	}
}

// prefetcher fills one loader's cache with a whole level at once.
type prefetcher[K comparable, V any] struct {
	loader *dataloader.Loader[K, V]
	cache  *dataloader.InMemoryCache[K, V]
	batch  dataloader.BatchFunc[K, V]
}

// fetch returns the values of keys: those the request already asked for from
// the loader's cache (waiting for them if in flight), the others from one
// batch, run here with this caller's context, whose results it primes into
// the cache. A key whose load failed is left out and uncached: its resolver
// loads it again and reports the error.
func (p prefetcher[K, V]) fetch(ctx context.Context, keys []K) []V {
	if len(keys) == 0 {
		return nil
	}
	seen := make(map[K]bool, len(keys))
	var (
		missing []K
		asked   []dataloader.Thunk[V]
		out     []V
	)
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if t, ok := p.cache.Get(ctx, k); ok {
			asked = append(asked, t)
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		for i, r := range p.batch(ctx, missing) {
			if r.Error == nil {
				p.loader.Prime(ctx, missing[i], r.Data)
				out = append(out, r.Data)
			}
		}
	}
	for _, t := range asked {
		if v, err := t(); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// present drops the nils of a to-one level (keys without a row).
func present[V any](vs []*V) []*V {
	out := vs[:0:0]
	for _, v := range vs {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func flat[V any](vss [][]V) []V {
	var out []V
	for _, vs := range vss {
		out = append(out, vs...)
	}
	return out
}
