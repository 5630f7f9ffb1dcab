// Package node finds which kind of object an internal id names, for Relay
// object identification (Query.node and Query.nodes). The ids are the
// contexts' own UUIDs, unique across every table, so an id carries no type:
// the kind is looked up, for any number of ids, in one UNION ALL over the
// primary keys of the four tables per database (one statement when every
// context shares the main database; two when COMMS_DATABASE_URL moves
// comms). It reads each table's id and tenant_id and nothing else: what an
// object holds, and who may read it, stays with its store and the policy.
package node

import (
	"context"
	"database/sql"
	"strings"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/postgres"
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

// tables are where each kind lives.
var tables = map[Kind]string{
	User:     "directory.users",
	Contact:  "comms.contacts",
	Building: "property.buildings",
	Invoice:  "bookkeeping.invoices",
}

// DBs are the databases the kinds live in: Main holds every context but
// perhaps comms, which Comms may hold (nil or Main: the same).
type DBs struct {
	Main, Comms *sqlx.DB
}

// Store looks kinds up. Its statements run prepared.
type Store struct {
	groups []group
}

// group is the kinds of one database, looked up in one statement.
type group struct {
	stmts *postgres.Stmts
	query func(q *postgres.Query) string
}

// NewStore returns a store over dbs.
func NewStore(dbs DBs) *Store {
	if dbs.Comms == nil || dbs.Comms == dbs.Main {
		return &Store{groups: []group{{postgres.NewStmts(dbs.Main), union(User, Contact, Building, Invoice)}}}
	}
	return &Store{groups: []group{
		{postgres.NewStmts(dbs.Main), union(User, Building, Invoice)},
		{postgres.NewStmts(dbs.Comms), union(Contact)},
	}}
}

// union returns the statement that finds, among the ids of its first
// argument and in the tenant of its second (when the query has one), those
// of the given kinds: one branch per table, each a probe of its primary key.
func union(kinds ...Kind) func(q *postgres.Query) string {
	return func(q *postgres.Query) string {
		var b strings.Builder
		for i, k := range kinds {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			b.WriteString("SELECT uuid_send(id), ")
			b.WriteByte(byte('0' + k))
			b.WriteString(" FROM " + tables[k] + " " + q.Clause())
		}
		return b.String()
	}
}

// Kinds returns the kind of every id of ids that names an object the scope
// sees (its tenant; every tenant for a cross-tenant scope). An id naming
// nothing it sees is missing from the map: unknown and other tenants' ids
// look the same.
func (st *Store) Kinds(ctx context.Context, s access.Scope, ids []uuid.UUID) (map[uuid.UUID]Kind, error) {
	out := make(map[uuid.UUID]Kind, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	for _, g := range st.groups {
		var q postgres.Query
		q.WhereIDs("id", ids)
		if !s.CrossTenant() {
			q.Where("tenant_id = " + q.Arg(s.TenantID))
		}
		found, err := postgres.Select(ctx, g.stmts, scan, g.query(&q), q.Args...)
		if err != nil {
			return nil, postgres.Translate(err, "find kinds of ids")
		}
		for _, f := range found {
			out[f.id] = f.kind
		}
	}
	return out, nil
}

type found struct {
	id   uuid.UUID
	kind Kind
}

func scan(r *sql.Rows) (found, error) {
	var f found
	return f, r.Scan(postgres.ScanUUID(&f.id), &f.kind)
}
