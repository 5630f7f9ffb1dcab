package seed

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// BulkOptions size the benchmark data set of Bulk. Zero values take the
// defaults; a zero count writes no rows of that kind.
type BulkOptions struct {
	Tenants   int // tenants, default 10; every other count is spread evenly over them
	Users     int // users, spread evenly over the tenants and the IdPs
	Buildings int // buildings, over three providers per tenant; needs Contacts >= Tenants
	Contacts  int // contacts, about half of them linked to a user
	Invoices  int // invoices, spread over three years; needs Users >= Tenants
	// AcmeShare is the share of users whose email domain is acme.com:
	// default 0.05; negative for none.
	AcmeShare float64
	// IdPs are the idp_id values users are spread over: default
	// auth0-prod, keycloak-default, entra-corp and dev.
	IdPs []string
}

// BulkResult says what Bulk wrote.
type BulkResult struct {
	// TenantIDs are the ids of the tenants, BenchTenantID(1) to
	// BenchTenantID(Tenants), in that order.
	TenantIDs []uuid.UUID
	// The rows written to each table.
	Providers        int64
	Users            int64
	Buildings        int64
	Contacts         int64
	LinkedContacts   int64 // of Contacts, those with a user_id
	BuildingContacts int64
	Invoices         int64
	Elapsed          time.Duration // the whole run, index builds included
}

// DefaultIdPs are the IdPs Bulk spreads users over when BulkOptions.IdPs is
// empty.
var DefaultIdPs = []string{"auth0-prod", "keycloak-default", "entra-corp", "dev"}

const (
	defaultBulkTenants   = 10
	defaultAcmeShare     = 0.05
	providersPerTenant   = 3
	bulkChunk            = 1_000_000 // rows per INSERT of users and invoices
	bulkSpan             = "1095 days"
	bulkMaintenanceMem   = "512MB"
	bulkWorkMem          = "64MB"
	hashRange            = 1 << 31 // hashExpr returns [0, hashRange)
	invoiceNumberMinSeq  = 7       // digits of the per-tenant invoice sequence, at least
	invoiceNumberPrefix  = "BT"
	linkedContactDivisor = 2 // about 1 in linkedContactDivisor contacts has an account
)

// bulkTables are the tables Bulk fills, in the order it fills them.
var bulkTables = []string{
	"directory.tenants", "directory.users", "property.providers", "property.buildings",
	"comms.contacts", "comms.building_contacts", "bookkeeping.invoices",
}

// bigTables are the tables whose indexes and constraints Bulk drops for
// the load (see bulkDrop): all but the small tenants and providers.
var bigTables = []string{
	"directory.users", "property.buildings", "comms.contacts", "comms.building_contacts", "bookkeeping.invoices",
}

// Bulk fills db with a large synthetic data set for benchmarks, set-based
// (INSERT ... SELECT FROM generate_series, users and invoices in chunks of
// a million rows), in one transaction: on error nothing is left behind.
// For speed it drops the indexes, unique constraints and foreign keys of
// the big tables (users, buildings, contacts, building contacts, invoices)
// before the load, after reading their definitions from the catalog, and
// recreates exactly those at the end, which checks every uniqueness rule
// and foreign key once, set-based; then it runs ANALYZE. Row triggers are
// off for the load: the invoice statement writes the creator's email domain
// itself.
//
// Tenants get the ids BenchTenantID(1..n); every other id is derived from
// the row's number (md5 of "bench-<kind>-<n>"), so the same options give the
// same ids on every database. Users are spread evenly across tenants and
// IdPs, with unique (idp_id, external_id) and emails u<n>@acme.com (a share
// of AcmeShare) or u<n>@<one of 50 other domains>. Each tenant gets three
// providers and its share of the buildings. About half the contacts are
// linked to a distinct user of their tenant. Every building gets one primary
// contact and up to two more, all of its tenant. Invoices are spread over
// three years, each created by a user of the invoice's tenant (a few users
// create many), numbered BT<tenant>-<year>-<sequence>, unique per tenant.
//
// Bulk works on an empty database and on one holding the demo data. It runs
// once per database: a second run fails on the tenant ids and writes
// nothing. While it runs it holds exclusive locks on the tables it fills.
// progress gets a line per step (table, rows, seconds); it may be
// io.Discard.
func Bulk(ctx context.Context, db *sqlx.DB, opts BulkOptions, progress io.Writer) (BulkResult, error) {
	start := time.Now()
	p, err := planBulk(opts)
	if err != nil {
		return BulkResult{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	res := BulkResult{TenantIDs: p.tenantIDs}
	err = postgres.Tx(ctx, db, func(tx *sqlx.Tx) error {
		b := &bulkRun{ctx: ctx, tx: tx, p: p, out: progress, now: start.UTC().Truncate(time.Second)}
		return b.run(&res)
	})
	if err != nil {
		return BulkResult{}, err
	}
	res.Elapsed = time.Since(start)
	report(progress, "total", -1, start)
	return res, nil
}

// bulkPlan is the validated options, with the rows of each tenant.
type bulkPlan struct {
	tenants   int
	tenantIDs []uuid.UUID
	idps      []string
	acme      int64 // users whose hash is below acme are at acme.com
	users     []int64
	buildings []int64
	contacts  []int64
	linked    []int64 // contacts with a user: the first linked[k] of tenant k
	invoices  []int64
}

func planBulk(o BulkOptions) (*bulkPlan, error) {
	if o.Tenants == 0 {
		o.Tenants = defaultBulkTenants
	}
	if o.AcmeShare == 0 {
		o.AcmeShare = defaultAcmeShare
	}
	if o.AcmeShare < 0 {
		o.AcmeShare = 0
	}
	if len(o.IdPs) == 0 {
		o.IdPs = DefaultIdPs
	}
	switch {
	case o.Tenants < 0 || o.Users < 0 || o.Buildings < 0 || o.Contacts < 0 || o.Invoices < 0:
		return nil, apperr.E(apperr.Invalid, "bulk seed counts must not be negative")
	case o.AcmeShare > 1:
		return nil, apperr.E(apperr.Invalid, "bulk seed AcmeShare must be at most 1")
	}
	for _, idp := range o.IdPs {
		if idp == "" {
			return nil, apperr.E(apperr.Invalid, "bulk seed IdPs must not be empty")
		}
	}
	p := &bulkPlan{
		tenants:   o.Tenants,
		idps:      o.IdPs,
		acme:      int64(o.AcmeShare * hashRange),
		users:     split(o.Users, o.Tenants),
		buildings: split(o.Buildings, o.Tenants),
		contacts:  split(o.Contacts, o.Tenants),
		invoices:  split(o.Invoices, o.Tenants),
		linked:    make([]int64, o.Tenants),
	}
	for k := range o.Tenants {
		p.tenantIDs = append(p.tenantIDs, BenchTenantID(k+1))
		p.linked[k] = min(p.contacts[k]/linkedContactDivisor, p.users[k])
		if p.buildings[k] > 0 && p.contacts[k] == 0 {
			return nil, apperr.E(apperr.Invalid, "bulk seed needs at least one contact per tenant for its buildings (Contacts >= Tenants)")
		}
		if p.invoices[k] > 0 && p.users[k] == 0 {
			return nil, apperr.E(apperr.Invalid, "bulk seed needs at least one user per tenant for its invoices (Users >= Tenants)")
		}
	}
	return p, nil
}

// split spreads n rows over t tenants: row i (1-based) belongs to tenant
// (i-1) % t, as the SQL below numbers them.
func split(n, t int) []int64 {
	s := make([]int64, t)
	for k := range s {
		s[k] = int64(n / t)
		if k < n%t {
			s[k]++
		}
	}
	return s
}

func sum(s []int64) int64 {
	var n int64
	for _, v := range s {
		n += v
	}
	return n
}

type bulkRun struct {
	ctx context.Context
	tx  *sqlx.Tx
	p   *bulkPlan
	out io.Writer
	now time.Time
}

func (b *bulkRun) run(res *BulkResult) error {
	for _, set := range []string{
		"SET LOCAL statement_timeout = 0",
		"SET LOCAL maintenance_work_mem = '" + bulkMaintenanceMem + "'",
		"SET LOCAL work_mem = '" + bulkWorkMem + "'",
	} {
		if err := b.exec(set); err != nil {
			return err
		}
	}
	// The tenants first: on a database that already holds them this fails
	// before anything slow happens.
	_, err := b.step("tenants", sqlTenants, pq.Array(b.p.tenantIDs), pq.Array(tenantNames(b.p.tenants)), b.now)
	if err != nil {
		return err
	}
	saved, err := b.dropForLoad()
	if err != nil {
		return err
	}
	// Row triggers off for the load (the invoices' creator domain, which the
	// invoice statement fills itself): a trigger's lookup per row would run
	// without the indexes dropped above.
	if err := b.triggers("DISABLE"); err != nil {
		return err
	}
	if res.Providers, err = b.step("providers", b.sqlProviders(), pq.Array(b.p.tenantIDs), b.now); err != nil {
		return err
	}
	if res.Users, err = b.chunked("users", sum(b.p.users), b.sqlUsers(),
		pq.Array(b.p.tenantIDs), pq.Array(b.p.idps), pq.Array(b.p.users), b.now); err != nil {
		return err
	}
	if res.Buildings, err = b.step("buildings", b.sqlBuildings(), pq.Array(b.p.tenantIDs), b.now); err != nil {
		return err
	}
	if res.Contacts, err = b.step("contacts", b.sqlContacts(), pq.Array(b.p.tenantIDs), pq.Array(b.p.linked), b.now); err != nil {
		return err
	}
	res.LinkedContacts = sum(b.p.linked)
	if res.BuildingContacts, err = b.step("building_contacts", b.sqlBuildingContacts(),
		pq.Array(b.p.tenantIDs), pq.Array(b.p.contacts), b.now); err != nil {
		return err
	}
	if res.Invoices, err = b.chunked("invoices", sum(b.p.invoices), b.sqlInvoices(),
		pq.Array(b.p.tenantIDs), pq.Array(b.p.users), pq.Array(b.p.invoices), b.now); err != nil {
		return err
	}
	if err := b.triggers("ENABLE"); err != nil {
		return err
	}
	// Unique constraints and indexes first, then statistics, then the
	// foreign keys, each checked with one join that the statistics plan.
	if err := b.recreate(saved, "pux"); err != nil {
		return err
	}
	if err := b.recreate(saved, "i"); err != nil {
		return err
	}
	t := time.Now()
	if err := b.exec("ANALYZE " + strings.Join(bulkTables, ", ")); err != nil {
		return err
	}
	report(b.out, "analyze", -1, t)
	return b.recreate(saved, "f")
}

// report writes a progress line: what, the rows written (none when
// negative) and the seconds since start.
func report(w io.Writer, what string, rows int64, start time.Time) {
	n := ""
	if rows >= 0 {
		n = fmt.Sprintf("%d rows", rows)
	}
	fmt.Fprintf(w, "%-60s %16s %8.1fs\n", what, n, time.Since(start).Seconds())
}

func (b *bulkRun) exec(stmt string, args ...any) error {
	_, err := b.tx.ExecContext(b.ctx, stmt, args...)
	return postgres.Translate(err, "bulk seed")
}

// step runs one statement and reports its rows and time.
func (b *bulkRun) step(what, stmt string, args ...any) (int64, error) {
	t := time.Now()
	r, err := b.tx.ExecContext(b.ctx, stmt, args...)
	if err != nil {
		return 0, postgres.Translate(err, "bulk seed "+what)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, postgres.Translate(err, "bulk seed "+what)
	}
	report(b.out, what, n, t)
	return n, nil
}

// chunked runs stmt for rows 1..total in chunks of bulkChunk: stmt takes
// the chunk's first and last row number as its last two parameters.
func (b *bulkRun) chunked(what string, total int64, stmt string, args ...any) (int64, error) {
	t := time.Now()
	var done int64
	for lo := int64(1); lo <= total; lo += bulkChunk {
		hi := min(lo+bulkChunk-1, total)
		r, err := b.tx.ExecContext(b.ctx, stmt, append(args, lo, hi)...)
		if err != nil {
			return done, postgres.Translate(err, "bulk seed "+what)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return done, postgres.Translate(err, "bulk seed "+what)
		}
		done += n
		if total > bulkChunk {
			report(b.out, fmt.Sprintf("%s (%d%%)", what, 100*hi/total), done, t)
		}
	}
	report(b.out, what, done, t)
	return done, nil
}

// triggers enables or disables the user-defined triggers of the big tables.
func (b *bulkRun) triggers(action string) error {
	for _, t := range bigTables {
		if err := b.exec("ALTER TABLE " + t + " " + action + " TRIGGER USER"); err != nil {
			return err
		}
	}
	return nil
}

// savedDDL is an index or constraint dropped for the load, with the
// statement, built from the catalog before dropping, that recreates it
// exactly.
type savedDDL struct {
	Kind   string `db:"kind"` // "f" foreign key, "p" primary key, "u" unique, "x" exclusion, "i" index
	Name   string `db:"name"` // schema-qualified, for progress lines
	Drop   string `db:"drop_sql"`
	Create string `db:"create_sql"`
}

// bulkDropLevel says what Bulk drops before the load and recreates after it.
type bulkDropLevel int

const (
	dropNothing     bulkDropLevel = iota // maintain everything row by row
	dropSecondary                        // foreign keys and the indexes that back no constraint
	dropConstraints                      // also primary keys and unique constraints
)

// bulkDrop is what Bulk drops: building indexes and checking foreign keys
// once, set-based, after the load is much faster than row by row. A
// variable so a measurement can compare.
var bulkDrop = dropConstraints

// sqlDroppable lists the foreign keys, primary keys, unique and exclusion
// constraints, and plain indexes of the tables $1 with the statements that
// drop and recreate them, in the order to drop them. A constraint or index
// that a foreign key of another table depends on is kept.
const sqlDroppable = `
WITH bulk AS (
    SELECT t::regclass AS rel FROM unnest($1::text[]) AS t
),
outside_fk AS (
    SELECT f.conindid, f.confrelid FROM pg_constraint AS f
    WHERE f.contype = 'f' AND f.conrelid NOT IN (SELECT rel FROM bulk)
),
droppable AS (
    SELECT c.contype::text AS kind,
           format('%I.%I', n.nspname, c.conname) AS name,
           format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop_sql,
           format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) AS create_sql,
           CASE c.contype WHEN 'f' THEN 0 ELSE 1 END AS drop_order
    FROM pg_constraint AS c
    JOIN pg_namespace AS n ON n.oid = c.connamespace
    WHERE c.conrelid IN (SELECT rel FROM bulk)
      AND c.contype IN ('f', 'p', 'u', 'x')
      AND (c.contype = 'f' OR NOT EXISTS (SELECT 1 FROM outside_fk AS o WHERE o.confrelid = c.conrelid))
    UNION ALL
    SELECT 'i',
           format('%I.%I', i.schemaname, i.indexname),
           format('DROP INDEX %I.%I', i.schemaname, i.indexname),
           i.indexdef,
           2
    FROM pg_indexes AS i
    WHERE format('%I.%I', i.schemaname, i.tablename)::regclass IN (SELECT rel FROM bulk)
      AND NOT EXISTS (
          SELECT 1 FROM pg_constraint AS c
          WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)
)
SELECT kind, name, drop_sql, create_sql FROM droppable
ORDER BY drop_order, name`

// dropForLoad drops what bulkDrop says, after reading from the catalog how
// to recreate it.
func (b *bulkRun) dropForLoad() ([]savedDDL, error) {
	if bulkDrop == dropNothing {
		return nil, nil
	}
	t := time.Now()
	var all []savedDDL
	if err := b.tx.SelectContext(b.ctx, &all, sqlDroppable, pq.Array(bigTables)); err != nil {
		return nil, postgres.Translate(err, "bulk seed: read indexes and constraints")
	}
	var saved []savedDDL
	for _, d := range all {
		if d.Kind != "f" && d.Kind != "i" && bulkDrop < dropConstraints {
			continue
		}
		if err := b.exec(d.Drop); err != nil {
			return nil, err
		}
		saved = append(saved, d)
	}
	report(b.out, fmt.Sprintf("drop %d indexes and constraints", len(saved)), -1, t)
	return saved, nil
}

// recreate runs the create statements of saved whose kind is in kinds.
func (b *bulkRun) recreate(saved []savedDDL, kinds string) error {
	for _, d := range saved {
		if !strings.Contains(kinds, d.Kind) {
			continue
		}
		t := time.Now()
		if err := b.exec(d.Create); err != nil {
			return err
		}
		what := "index "
		switch d.Kind {
		case "f":
			what = "foreign key "
		case "p", "u", "x":
			what = "constraint "
		}
		report(b.out, what+d.Name, -1, t)
	}
	return nil
}

// The statements. Row numbers (i, b, c, n) are 1-based bigints; row i
// belongs to tenant k = (i-1) % T and is the m-th, m = (i-1) / T, of that
// tenant, so the m-th user of tenant k is user k + 1 + T*m and references
// need no joins. $1 is always the tenant ids, indexed by k + 1.

const sqlTenants = `
INSERT INTO directory.tenants (id, name, created_at)
SELECT t.id, t.name, $3::timestamptz - interval '` + bulkSpan + `' - interval '30 days'
FROM unnest($1::uuid[], $2::text[]) AS t (id, name)`

func tenantNames(n int) []string {
	names := make([]string, n)
	for k := range names {
		names[k] = fmt.Sprintf("Bench Tenant %03d", k+1)
	}
	return names
}

// sqlProviders: $2 now.
func (b *bulkRun) sqlProviders() string {
	return fmt.Sprintf(`
INSERT INTO property.providers (id, tenant_id, name, created_at)
SELECT md5('bench-provider-' || (k + 1) || '-' || p)::uuid,
       ($1::uuid[])[k + 1],
       %s[1 + %s] || ' ' || %s[p + 1],
       $2::timestamptz - interval '`+bulkSpan+`' - interval '20 days'
FROM generate_series(0, %d) AS k
CROSS JOIN generate_series(0, %d) AS p`,
		sqlArray(placeWords), pick(hashExpr("k * 8 + p", 1), len(placeWords)), sqlArray(providerKinds),
		b.p.tenants-1, providersPerTenant-1)
}

// sqlUsers: $2 idps, $3 users per tenant, $4 now, $5 and $6 the chunk.
// The m-th user of a tenant with U users is created at m/U of the span,
// less jitter, so it exists before any invoice it creates (see
// sqlInvoices).
func (b *bulkRun) sqlUsers() string {
	return fmt.Sprintf(`
INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name, synced_at, created_at, updated_at)
SELECT md5('bench-user-' || g.i)::uuid,
       ($1::uuid[])[g.k + 1],
       g.idp,
       CASE g.idp
           WHEN 'auth0-prod' THEN 'auth0|' || substr(md5('bench-ext-' || g.i), 1, 24)
           WHEN 'keycloak-default' THEN md5('bench-ext-' || g.i)::uuid::text
           WHEN 'entra-corp' THEN md5('bench-ext-' || g.i)::uuid::text
           ELSE 'bench-' || g.i
       END,
       %s,
       %s,
       greatest(g.created_at, $4::timestamptz - interval '1 second' * %s),
       g.created_at,
       g.created_at
FROM (
    SELECT a.i, a.k, a.idp,
           $4::timestamptz - interval '`+bulkSpan+`' + interval '`+bulkSpan+`' * ((a.m - 0.5 * %s) / a.users) AS created_at
    FROM (
        SELECT i,
               (i - 1) %% %d AS k,
               (i - 1) / %d AS m,
               ($2::text[])[1 + ((i - 1) / %d) %% %d] AS idp,
               ($3::bigint[])[(i - 1) %% %d + 1]::float8 AS users
        FROM generate_series($5::bigint, $6::bigint) AS i
        OFFSET 0
    ) AS a
    OFFSET 0
) AS g`,
		b.userEmail("g.i"), userName("g.i"),
		pick(hashExpr("g.i", 5), 30*24*3600),
		frac(hashExpr("a.i", 6)),
		b.p.tenants, b.p.tenants, b.p.tenants, len(b.p.idps), b.p.tenants)
}

// sqlBuildings: $2 now.
func (b *bulkRun) sqlBuildings() string {
	total := sum(b.p.buildings)
	return fmt.Sprintf(`
INSERT INTO property.buildings (id, tenant_id, provider_id, name, address, created_at)
SELECT md5('bench-building-' || g.b)::uuid,
       ($1::uuid[])[g.k + 1],
       md5('bench-provider-' || (g.k + 1) || '-' || (((g.b - 1) / %d) %% %d))::uuid,
       %s[1 + %s] || ' ' || %s[1 + %s],
       (1 + %s) || ' ' || %s[1 + %s] || ' ' || %s[1 + %s] || ', ' || %s[1 + %s],
       $2::timestamptz - interval '`+bulkSpan+`' + interval '`+bulkSpan+`' * ((g.b - 1)::float8 / %d)
FROM (SELECT b, (b - 1) %% %d AS k FROM generate_series(1::bigint, %d::bigint) AS b OFFSET 0) AS g`,
		b.p.tenants, providersPerTenant,
		sqlArray(placeWords), pick(hashExpr("g.b", 31), len(placeWords)),
		sqlArray(buildingKinds), pick(hashExpr("g.b", 32), len(buildingKinds)),
		pick(hashExpr("g.b", 33), 240),
		sqlArray(placeWords), pick(hashExpr("g.b", 34), len(placeWords)),
		sqlArray(streetKinds), pick(hashExpr("g.b", 35), len(streetKinds)),
		sqlArray(cities), pick(hashExpr("g.b", 36), len(cities)),
		max(total, 1), b.p.tenants, total)
}

// userEmail is SQL for the email of user i.
func (b *bulkRun) userEmail(i string) string {
	return fmt.Sprintf(`'u' || %s || '@' || CASE WHEN %s < %d THEN 'acme.com' ELSE %s[1 + %s] END`,
		i, hashExpr(i, 1), b.p.acme, sqlArray(emailDomains), pick(hashExpr(i, 2), len(emailDomains)))
}

// userName is SQL for the full name of user i.
func userName(i string) string {
	return fmt.Sprintf(`%s[1 + %s] || ' ' || %s[1 + %s]`,
		sqlArray(firstNames), pick(hashExpr(i, 3), len(firstNames)),
		sqlArray(lastNames), pick(hashExpr(i, 4), len(lastNames)))
}

// sqlContacts: $2 the linked contacts per tenant, $3 now. Contact c of
// tenant k is linked when it is among the first linked[k] of its tenant,
// to user c (the m-th contact and the m-th user of a tenant have the same
// number): the same tenant, and a different user for every contact. A
// linked contact has its user's name and email.
func (b *bulkRun) sqlContacts() string {
	total := sum(b.p.contacts)
	return fmt.Sprintf(`
INSERT INTO comms.contacts (id, tenant_id, user_id, full_name, email, phone, created_at, updated_at)
SELECT md5('bench-contact-' || g.c)::uuid,
       ($1::uuid[])[g.k + 1],
       CASE WHEN g.linked THEN md5('bench-user-' || g.c)::uuid END,
       CASE WHEN g.linked THEN %s ELSE %s[1 + %s] || ' ' || %s[1 + %s] END,
       CASE
           WHEN g.linked THEN %s
           WHEN %s < 85 THEN 'c' || g.c || '@' || %s[1 + %s]
       END,
       CASE
           WHEN %s = 0 THEN NULL
           WHEN %s = 0 THEN '+447' || lpad(%s::text, 9, '0')
           ELSE '+4915' || lpad(%s::text, 9, '0')
       END,
       g.created_at,
       g.created_at
FROM (
    SELECT c,
           (c - 1) %% %d AS k,
           (c - 1) / %d < ($2::bigint[])[(c - 1) %% %d + 1] AS linked,
           $3::timestamptz - interval '`+bulkSpan+`' + interval '`+bulkSpan+`' * ((c - 1)::float8 / %d) AS created_at
    FROM generate_series(1::bigint, %d::bigint) AS c
    OFFSET 0
) AS g`,
		userName("g.c"),
		sqlArray(firstNames), pick(hashExpr("g.c", 11), len(firstNames)),
		sqlArray(lastNames), pick(hashExpr("g.c", 12), len(lastNames)),
		b.userEmail("g.c"),
		pick(hashExpr("g.c", 13), 100), sqlArray(emailDomains), pick(hashExpr("g.c", 14), len(emailDomains)),
		pick(hashExpr("g.c", 15), 10), pick(hashExpr("g.c", 16), 2),
		pick(hashExpr("g.c", 17), 1_000_000_000), pick(hashExpr("g.c", 18), 1_000_000_000),
		b.p.tenants, b.p.tenants, b.p.tenants, max(total, 1), total)
}

// sqlBuildingContacts: $2 the contacts per tenant, $3 now. Building b of
// tenant k gets the m0-th contact of k as its primary, and the next 0-2
// contacts of k (never the same one twice) as a caretaker and accounts.
func (b *bulkRun) sqlBuildingContacts() string {
	return fmt.Sprintf(`
INSERT INTO comms.building_contacts (building_id, contact_id, tenant_id, role, is_primary, created_at)
SELECT md5('bench-building-' || g.b)::uuid,
       md5('bench-contact-' || (g.k + 1 + %d * ((g.m0 + x.n) %% g.contacts)))::uuid,
       ($1::uuid[])[g.k + 1],
       (ARRAY['manager', 'caretaker', 'accounts'])[x.n + 1],
       x.n = 0,
       $3::timestamptz
FROM (
    SELECT a.b, a.k, a.contacts,
           %s AS m0,
           least(%s, a.contacts - 1) AS extra
    FROM (
        SELECT b, (b - 1) %% %d AS k, ($2::bigint[])[(b - 1) %% %d + 1] AS contacts
        FROM generate_series(1::bigint, %d::bigint) AS b
        OFFSET 0
    ) AS a
    OFFSET 0
) AS g
CROSS JOIN LATERAL generate_series(0, g.extra) AS x (n)`,
		b.p.tenants,
		pickExpr(hashExpr("a.b", 21), "a.contacts"), pick(hashExpr("a.b", 22), 3),
		b.p.tenants, b.p.tenants, sum(b.p.buildings))
}

// sqlInvoices: $2 users per tenant, $3 invoices per tenant, $4 now, $5 and
// $6 the chunk. Invoice n is the s-th of its tenant's N, issued at
// f = (s-1+jitter)/N of the span, so numbers rise with issued_at. Its
// creator is user m = floor(U * f * r^2) of the tenant's U, for a uniform
// r: a user created before the invoice (see sqlUsers), where the earliest
// users create the most invoices.
func (b *bulkRun) sqlInvoices() string {
	seqDigits := max(invoiceNumberMinSeq, len(fmt.Sprint(sum(b.p.invoices)/int64(b.p.tenants)+1)))
	tenantDigits := max(2, len(fmt.Sprint(b.p.tenants)))
	return fmt.Sprintf(`
INSERT INTO bookkeeping.invoices (id, tenant_id, number, amount_minor, currency, issued_at, created_by_user_id, created_at,
    created_by_email_domain)
SELECT md5('bench-invoice-' || g.n)::uuid,
       ($1::uuid[])[g.k + 1],
       '%s' || lpad((g.k + 1)::text, %d, '0') || '-' || to_char(g.issued_at, 'YYYY') || '-' || lpad(g.s::text, %d, '0'),
       500 + %s,
       CASE WHEN %s < 7 THEN 'EUR' ELSE 'GBP' END,
       g.issued_at,
       md5('bench-user-' || g.u)::uuid,
       g.issued_at - interval '1 second' * %s,
       lower(split_part(%s, '@', 2))
FROM (
    SELECT a.n, a.k, a.s, a.users, a.f,
           a.k + 1 + %d * least(a.users - 1, floor(a.users * a.f * power(%s, 2))::bigint) AS u,
           $4::timestamptz - interval '`+bulkSpan+`' + interval '`+bulkSpan+`' * a.f AS issued_at
    FROM (
        SELECT n, (n - 1) %% %d AS k, (n - 1) / %d + 1 AS s,
               ($2::bigint[])[(n - 1) %% %d + 1] AS users,
               ((n - 1) / %d + %s) / ($3::bigint[])[(n - 1) %% %d + 1] AS f
        FROM generate_series($5::bigint, $6::bigint) AS n
        OFFSET 0
    ) AS a
    OFFSET 0
) AS g`,
		invoiceNumberPrefix, tenantDigits, seqDigits,
		pick(hashExpr("g.n", 41), 2_000_000),
		pick(hashExpr("g.n", 42), 10),
		pick(hashExpr("g.n", 44), 3600),
		b.userEmail("g.u"),
		b.p.tenants, frac(hashExpr("a.n", 43)),
		b.p.tenants, b.p.tenants, b.p.tenants,
		b.p.tenants, frac(hashExpr("n", 45)), b.p.tenants)
}

// hashExpr is SQL for a well-mixed hash of the integer expression x in
// [0, 2^31): a multiplicative hash with a salt, then xor-shift-multiply
// rounds. Every product stays below 2^63.
func hashExpr(x string, salt int) string {
	y := fmt.Sprintf("((((%s)::bigint %% 2147483648) * 1103515245 + %d) %% 2147483648)", x, salt*7919+12345)
	z := fmt.Sprintf("((((%s) # ((%s) >> 15)) * 1597334677) %% 2147483648)", y, y)
	return fmt.Sprintf("((%s) # ((%s) >> 13))", z, z)
}

// pick is SQL for an integer in [0, n) from a hash, using its high bits.
func pick(hash string, n int) string {
	return pickExpr(hash, fmt.Sprint(n))
}

// pickExpr is pick for an SQL expression n (below 2^32).
func pickExpr(hash, n string) string {
	return fmt.Sprintf("((%s) * (%s) >> 31)", hash, n)
}

// frac is SQL for a float in [0, 1) from a hash.
func frac(hash string) string {
	return fmt.Sprintf("((%s)::float8 / 2147483648.0)", hash)
}

// sqlArray is an SQL text array literal of constants of this package.
func sqlArray(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = pq.QuoteLiteral(v)
	}
	return "(ARRAY[" + strings.Join(q, ", ") + "]::text[])"
}

// Made-up words the generated names are built from.
var (
	firstNames = []string{"Ada", "Ben", "Cara", "Dev", "Elin", "Finn", "Gita", "Hugo", "Ines", "Jai", "Kira", "Leo",
		"Mara", "Nils", "Orla", "Pia", "Quinn", "Rafe", "Sana", "Theo", "Una", "Vik", "Wren", "Yara"}
	lastNames = []string{"Abbott", "Birchley", "Carver", "Dale", "Ellery", "Frost", "Garner", "Hale", "Irwin",
		"Jessop", "Keane", "Lyle", "Marsh", "Noble", "Oakes", "Pryor", "Quayle", "Rook", "Sayer", "Thorne",
		"Upton", "Vance", "Wilde", "Yates", "Zeller", "Crane", "Fairley", "Penrose", "Ashdown"}
	placeWords = []string{"Alder", "Brightwater", "Cobalt", "Driftwood", "Evergreen", "Foxglove", "Granite",
		"Hollybrook", "Ironbridge", "Juniper", "Kingsmead", "Larkspur", "Meridian", "Nettlefield", "Oakhurst",
		"Pebblestone", "Quarrybank", "Riverside", "Saltmarsh", "Thistle", "Umberfield", "Valemont", "Westcombe",
		"Yarrowby", "Zephyr"}
	emailDomains  = domains(placeWords)
	providerKinds = []string{"Property Services", "Facilities Ltd", "Hausverwaltung GmbH"}
	buildingKinds = []string{"Court", "House", "Heights", "Mews", "Lofts", "Apartments", "Yard", "Place", "Wharf",
		"Hof", "Haus", "Gardens"}
	streetKinds = []string{"Lane", "Road", "Street", "Row", "Walk", "Way", "Straße", "Weg", "Allee", "Kamp"}
	cities      = []string{"Leeds", "York", "Bristol", "Sheffield", "Manchester", "Norwich", "Hamburg", "Bremen",
		"Kiel", "Rostock", "Lübeck", "Hanover"}
)

// domains makes two made-up email domains per word, under the reserved
// .example and .test top-level domains.
func domains(words []string) []string {
	var d []string
	for _, w := range words {
		w = strings.ToLower(w)
		d = append(d, w+".example", w+"-mail.test")
	}
	return d
}
