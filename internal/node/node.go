// Package node finds the objects that internal ids name, whatever their
// kind, for Relay object identification (Query.node and Query.nodes). The
// ids are the contexts' own UUIDs, unique across every table, so an id
// carries no type: the objects of any number of ids are read in one
// UNION ALL per database of the four tables' reads by ids (one statement
// when every context shares the main database; two when COMMS_DATABASE_URL
// moves comms). Each branch is its store's own read (postgres.Part: the
// store's columns, table and tenancy condition) and each row is scanned by
// its store's scan function: what an object holds, and who may read it,
// stays with its store and the policy. This package writes no SQL.
package node

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/property"
)

// Kind is the kind of object an id names; the zero Kind names none.
type Kind uint8

// The kinds, one per table with a primary key `id` and a `tenant_id`.
const (
	None Kind = iota
	User
	Contact
	Building
	Invoice
)

// parts are the stores' reads by ids of each kind.
var parts = [...]postgres.Part{
	User:     directory.UsersByIDs,
	Contact:  comms.ContactsByIDs,
	Building: property.BuildingsByIDs,
	Invoice:  bookkeeping.InvoicesByIDs,
}

// DBs are the databases the kinds live in: Main holds every context but
// perhaps comms, which Comms may hold (nil or Main: the same).
type DBs struct {
	Main, Comms *sqlx.DB
}

// Store finds objects by id. Its statements run prepared.
type Store struct {
	groups []group
}

// group is the kinds of one database, read in one statement.
type group struct {
	stmts *postgres.Stmts
	kinds []Kind
	parts []postgres.Part
}

func groupOf(db *sqlx.DB, kinds ...Kind) group {
	g := group{stmts: postgres.NewStmts(db), kinds: kinds}
	for _, k := range kinds {
		g.parts = append(g.parts, parts[k])
	}
	return g
}

// NewStore returns a store over dbs.
func NewStore(dbs DBs) *Store {
	if dbs.Comms == nil || dbs.Comms == dbs.Main {
		return &Store{groups: []group{groupOf(dbs.Main, User, Contact, Building, Invoice)}}
	}
	return &Store{groups: []group{groupOf(dbs.Main, User, Building, Invoice), groupOf(dbs.Comms, Contact)}}
}

// Found are the objects of some ids, by kind, each in no order.
type Found struct {
	Users     []*directory.User
	Contacts  []*comms.Contact
	Buildings []*property.Building
	Invoices  []*bookkeeping.Invoice
}

// Find returns the objects of ids that the scope sees, as the stores'
// FindUsersByIDs, FindContactsByIDs, FindBuildingsByIDs and
// FindInvoicesByIDs would: the scope's tenant only, unless it reads across
// tenants. An id naming nothing it sees is missing: unknown and other
// tenants' ids look the same.
func (st *Store) Find(ctx context.Context, s access.Scope, ids []uuid.UUID) (Found, error) {
	var f Found
	if len(ids) == 0 {
		return f, nil
	}
	for _, g := range st.groups {
		var q postgres.Query
		query := postgres.UnionAll(&q, s, ids, g.parts...)
		err := postgres.SelectUnion(ctx, g.stmts, g.parts, func(part int, cols func(...any) error) error {
			return f.scan(g.kinds[part], cols)
		}, query, q.Args...)
		if err != nil {
			return Found{}, postgres.Translate(err, "find objects by id")
		}
	}
	return f, nil
}

// scan reads one object of kind k with its store's scan function.
func (f *Found) scan(k Kind, cols func(...any) error) error {
	switch k {
	case User:
		u, err := directory.ScanUser(cols)
		f.Users = append(f.Users, u)
		return err
	case Contact:
		c, err := comms.ScanContact(cols)
		f.Contacts = append(f.Contacts, c)
		return err
	case Building:
		b, err := property.ScanBuilding(cols)
		f.Buildings = append(f.Buildings, b)
		return err
	default:
		inv, err := bookkeeping.ScanInvoice(cols)
		f.Invoices = append(f.Invoices, inv)
		return err
	}
}
