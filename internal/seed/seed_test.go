package seed

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// count runs a query that returns one integer.
func count(t *testing.T, db *sqlx.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	return n
}

// zero fails the test when query, a count of violations, is not 0.
func zero(t *testing.T, db *sqlx.DB, what, query string, args ...any) {
	t.Helper()
	if n := count(t, db, query, args...); n != 0 {
		t.Errorf("%s: %d violations", what, n)
	}
}

// tableCounts counts the rows of every table seed fills.
func tableCounts(t *testing.T, db *sqlx.DB) map[string]int64 {
	t.Helper()
	c := map[string]int64{}
	for _, table := range bulkTables {
		c[table] = count(t, db, "SELECT count(*) FROM "+table)
	}
	return c
}

// indexDefs lists the definitions of the indexes and constraints of the
// tables seed fills.
func indexDefs(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var defs []string
	err := db.SelectContext(context.Background(), &defs, `
		SELECT def FROM (
		    SELECT indexdef AS def FROM pg_indexes
		    WHERE format('%s.%s', schemaname, tablename) = ANY($1::text[])
		    UNION ALL
		    SELECT format('%s %s %s validated=%s deferrable=%s', conrelid::regclass, conname,
		                  pg_get_constraintdef(oid), convalidated, condeferrable)
		    FROM pg_constraint
		    WHERE conrelid IN (SELECT t::regclass FROM unnest($1::text[]) AS t)) AS x
		ORDER BY def`, pq.Array(bulkTables))
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// Invariants that hold for demo and bulk data alike.
func checkInvariants(t *testing.T, db *sqlx.DB) {
	t.Helper()
	zero(t, db, "buildings without exactly one primary contact", `
		SELECT count(*) FROM property.buildings AS b
		WHERE (SELECT count(*) FROM comms.building_contacts AS bc WHERE bc.building_id = b.id AND bc.is_primary) <> 1`)
	zero(t, db, "buildings with more than 3 contacts", `
		SELECT count(*) FROM (SELECT building_id FROM comms.building_contacts GROUP BY building_id HAVING count(*) > 3) AS x`)
	zero(t, db, "invoices created by a user of another tenant", `
		SELECT count(*) FROM bookkeeping.invoices AS i
		JOIN directory.users AS u ON u.id = i.created_by_user_id
		WHERE u.tenant_id <> i.tenant_id`)
	zero(t, db, "invoices whose creator domain is not their creator's", `
		SELECT count(*) FROM bookkeeping.invoices AS i
		JOIN directory.users AS u ON u.id = i.created_by_user_id
		WHERE i.created_by_email_domain IS DISTINCT FROM u.email_domain`)
	zero(t, db, "bulk tables with a disabled trigger", `
		SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'`)
	zero(t, db, "linked contacts without their user's name and email", `
		SELECT count(*) FROM comms.contacts AS c
		JOIN directory.users AS u ON u.id = c.user_id
		WHERE c.full_name IS DISTINCT FROM u.full_name
		   OR c.email IS DISTINCT FROM split_part(u.email, '@', 1) || '@' || u.email_domain`)
	zero(t, db, "linked contacts outside their user's tenant", `
		SELECT count(*) FROM comms.contacts AS c
		LEFT JOIN directory.users AS u ON u.id = c.user_id
		WHERE c.user_id IS NOT NULL AND (u.id IS NULL OR u.tenant_id <> c.tenant_id)`)
	zero(t, db, "building links outside the building's or the contact's tenant", `
		SELECT count(*) FROM comms.building_contacts AS bc
		LEFT JOIN property.buildings AS b ON b.id = bc.building_id
		LEFT JOIN comms.contacts AS c ON c.id = bc.contact_id
		WHERE b.id IS NULL OR b.tenant_id <> bc.tenant_id OR c.tenant_id <> bc.tenant_id`)
	zero(t, db, "buildings of a provider of another tenant", `
		SELECT count(*) FROM property.buildings AS b
		JOIN property.providers AS p ON p.id = b.provider_id
		WHERE p.tenant_id <> b.tenant_id`)
	zero(t, db, "rows of unknown tenants", `
		SELECT count(*) FROM (
		    SELECT tenant_id FROM property.providers UNION ALL
		    SELECT tenant_id FROM property.buildings UNION ALL
		    SELECT tenant_id FROM comms.contacts UNION ALL
		    SELECT tenant_id FROM bookkeeping.invoices) AS x
		WHERE NOT EXISTS (SELECT 1 FROM directory.tenants AS t WHERE t.id = x.tenant_id)`)
	zero(t, db, "phones not in E.164", `
		SELECT count(*) FROM comms.contacts WHERE phone !~ '^\+[1-9][0-9]{6,14}$'`)
	zero(t, db, "contact emails with upper-case domains", `
		SELECT count(*) FROM comms.contacts WHERE split_part(email, '@', 2) <> lower(split_part(email, '@', 2))`)
	zero(t, db, "users without synced_at", `SELECT count(*) FROM directory.users WHERE synced_at IS NULL`)
	zero(t, db, "roles other than manager, caretaker, accounts", `
		SELECT count(*) FROM comms.building_contacts WHERE role NOT IN ('manager', 'caretaker', 'accounts')`)
	zero(t, db, "invoices issued before their creator was created", `
		SELECT count(*) FROM bookkeeping.invoices AS i
		JOIN directory.users AS u ON u.id = i.created_by_user_id
		WHERE u.created_at > i.issued_at`)
	zero(t, db, "users synced before they were created", `
		SELECT count(*) FROM directory.users WHERE synced_at < created_at`)
	zero(t, db, "rows created in the future", `
		SELECT count(*) FROM (
		    SELECT created_at FROM directory.users UNION ALL
		    SELECT created_at FROM property.buildings UNION ALL
		    SELECT created_at FROM comms.contacts UNION ALL
		    SELECT created_at FROM comms.building_contacts UNION ALL
		    SELECT issued_at FROM bookkeeping.invoices UNION ALL
		    SELECT created_at FROM bookkeeping.invoices) AS x
		WHERE x.created_at > now()`)
	zero(t, db, "currencies other than EUR, GBP", `
		SELECT count(*) FROM bookkeeping.invoices WHERE currency NOT IN ('EUR', 'GBP')`)
}

func TestDemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	data, err := Demo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}

	if n := count(t, db, `SELECT count(*) FROM directory.tenants`); n != 2 || len(data.Tenants) != 2 {
		t.Fatalf("tenants: %d in the database, %d in DemoData; want 2", n, len(data.Tenants))
	}
	var names []string
	for _, tn := range data.Tenants {
		names = append(names, tn.Name)
		var dbName string
		if err := db.GetContext(ctx, &dbName, `SELECT name FROM directory.tenants WHERE id = $1`, tn.ID); err != nil || dbName != tn.Name {
			t.Errorf("tenant %s: name %q, %v", tn.ID, dbName, err)
		}
		for role, u := range map[string]DemoUser{"admin": tn.Admin, "provider": tn.Provider} {
			if u.IdPID != "dev" || u.ExternalID == "" || u.Email == "" || u.FullName == "" {
				t.Errorf("%s %s: %+v", tn.Name, role, u)
			}
			var got struct {
				TenantID   string `db:"tenant_id"`
				IdPID      string `db:"idp_id"`
				ExternalID string `db:"external_id"`
				Email      string `db:"email"`
				FullName   string `db:"full_name"`
			}
			err := db.GetContext(ctx, &got, `SELECT tenant_id, idp_id, external_id, email, full_name FROM directory.users WHERE id = $1`, u.ID)
			if err != nil {
				t.Fatalf("%s %s: %v", tn.Name, role, err)
			}
			if got.TenantID != tn.ID.String() || got.IdPID != u.IdPID || got.ExternalID != u.ExternalID || got.Email != u.Email || got.FullName != u.FullName {
				t.Errorf("%s %s: database has %+v, DemoData %+v", tn.Name, role, got, u)
			}
		}
		if n := count(t, db, `
			SELECT count(*) FROM comms.building_contacts AS bc
			JOIN comms.contacts AS c ON c.id = bc.contact_id
			WHERE c.user_id = $1 AND bc.tenant_id = $2`, tn.Provider.ID, tn.ID); n == 0 {
			t.Errorf("%s: the provider user is the contact of no building", tn.Name)
		}
		if n := count(t, db, `SELECT count(*) FROM property.providers WHERE tenant_id = $1`, tn.ID); n < 2 || n > 3 {
			t.Errorf("%s: %d providers, want 2-3", tn.Name, n)
		}
		if n := count(t, db, `SELECT count(*) FROM property.buildings WHERE tenant_id = $1`, tn.ID); n < 5 || n > 8 {
			t.Errorf("%s: %d buildings, want about 6", tn.Name, n)
		}
		if n := count(t, db, `SELECT count(*) FROM bookkeeping.invoices WHERE tenant_id = $1`, tn.ID); n < 10 || n > 40 {
			t.Errorf("%s: %d invoices, want 10-40", tn.Name, n)
		}
	}
	if !reflect.DeepEqual(names, []string{"Northwind Estates", "Harbour Homes"}) {
		t.Errorf("tenant names %q", names)
	}

	checkInvariants(t, db)
	zero(t, db, "buildings without contacts", `
		SELECT count(*) FROM property.buildings AS b
		WHERE NOT EXISTS (SELECT 1 FROM comms.building_contacts AS bc WHERE bc.building_id = b.id)`)
	if n := count(t, db, `SELECT count(*) FROM comms.contacts WHERE user_id IS NULL`); n < 2 {
		t.Errorf("%d contacts without an account, want several", n)
	}
	if with, without := count(t, db, `SELECT count(*) FROM comms.contacts WHERE user_id IS NOT NULL`),
		count(t, db, `SELECT count(*) FROM comms.contacts WHERE user_id IS NULL`); with <= without {
		t.Errorf("%d contacts with an account, %d without: want most with", with, without)
	}
	if n := count(t, db, `SELECT count(*) FROM directory.users WHERE email_domain = 'acme.com'`); n < 3 {
		t.Errorf("%d acme.com users, want several", n)
	}
	if n := count(t, db, `SELECT count(DISTINCT email_domain) FROM directory.users`); n < 4 {
		t.Errorf("%d email domains, want acme.com and others", n)
	}
	if n := count(t, db, `
		SELECT count(*) FROM bookkeeping.invoices AS i JOIN directory.users AS u ON u.id = i.created_by_user_id
		WHERE u.email_domain = 'acme.com'`); n == 0 {
		t.Error("no invoices created by acme.com users")
	}
	var idps []string
	if err := db.SelectContext(ctx, &idps, `SELECT DISTINCT idp_id FROM directory.users ORDER BY idp_id`); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(idps, []string{"auth0-prod", "dev", "entra-corp", "keycloak-default"}) {
		t.Errorf("idps %q", idps)
	}
	zero(t, db, "external ids not shaped like their IdP's", `
		SELECT count(*) FROM directory.users
		WHERE (idp_id = 'auth0-prod' AND external_id !~ '^auth0\|[0-9a-f]{24}$')
		   OR (idp_id IN ('keycloak-default', 'entra-corp')
		       AND external_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')`)
	zero(t, db, "invoice numbers not like NW-2026-0001", `
		SELECT count(*) FROM bookkeeping.invoices
		WHERE number !~ '^(NW|HH)-[0-9]{4}-[0-9]{4}$' OR substr(number, 4, 4) <> to_char(issued_at, 'YYYY')`)
	zero(t, db, "invoices issued outside the last year", `
		SELECT count(*) FROM bookkeeping.invoices WHERE issued_at < now() - interval '366 days' OR issued_at > now()`)
	if n := count(t, db, `SELECT count(DISTINCT currency) FROM bookkeeping.invoices`); n != 2 {
		t.Errorf("%d currencies, want EUR and GBP", n)
	}
	if n := count(t, db, `
		SELECT count(*) FROM directory.users AS u
		WHERE u.erased_at IS NOT NULL AND u.email IS NULL AND u.full_name IS NULL
		  AND EXISTS (SELECT 1 FROM bookkeeping.invoices AS i WHERE i.created_by_user_id = u.id)`); n != 1 {
		t.Errorf("%d erased users with invoices, want 1", n)
	}

	zero(t, db, "invoices of the erased user issued after the erasure", `
		SELECT count(*) FROM bookkeeping.invoices AS i
		JOIN directory.users AS u ON u.id = i.created_by_user_id
		WHERE i.issued_at >= u.erased_at`)

	// Idempotent: a second run writes nothing and returns the same data.
	before := tableCounts(t, db)
	again, err := Demo(ctx, db)
	if err != nil {
		t.Fatalf("second Demo: %v", err)
	}
	if !reflect.DeepEqual(again, data) {
		t.Errorf("second Demo returned %+v, want %+v", again, data)
	}
	if after := tableCounts(t, db); !reflect.DeepEqual(after, before) {
		t.Errorf("second Demo changed the counts: %v, then %v", before, after)
	}
}

// idDigest is a digest of every id seed wrote, to compare two databases.
func idDigest(t *testing.T, db *sqlx.DB) map[string]string {
	t.Helper()
	d := map[string]string{}
	for _, table := range bulkTables {
		key := "id"
		if table == "comms.building_contacts" {
			key = "building_id::text || contact_id::text"
		}
		var s string
		if err := db.GetContext(context.Background(), &s,
			`SELECT md5(coalesce(string_agg(`+key+`::text, ',' ORDER BY `+key+`), '')) FROM `+table); err != nil {
			t.Fatal(err)
		}
		d[table] = s
	}
	return d
}

func TestDemoDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db1, db2 := pgtest.DB(t), pgtest.DB(t)
	d1, err := Demo(ctx, db1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Demo(ctx, db2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d1, d2) {
		t.Errorf("DemoData differs: %+v and %+v", d1, d2)
	}
	if a, b := idDigest(t, db1), idDigest(t, db2); !reflect.DeepEqual(a, b) {
		t.Errorf("ids differ between two fresh databases: %v and %v", a, b)
	}
}

func TestDemoPartialFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	if _, err := db.ExecContext(ctx, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'Northwind Estates')`,
		demoID("tenant", "northwind")); err != nil {
		t.Fatal(err)
	}
	before := tableCounts(t, db)
	if _, err := Demo(ctx, db); apperr.KindOf(err) != apperr.Conflict {
		t.Fatalf("Demo on a partly seeded database: %v, want a conflict", err)
	}
	if after := tableCounts(t, db); !reflect.DeepEqual(after, before) {
		t.Errorf("a failed Demo wrote rows: %v, then %v", before, after)
	}
}

var smallBulk = BulkOptions{Tenants: 2, Users: 1000, Buildings: 50, Contacts: 300, Invoices: 5000}

func TestBulk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	// Bulk must not collide with the demo data.
	if _, err := Demo(ctx, db); err != nil {
		t.Fatal(err)
	}
	demo := tableCounts(t, db)
	indexes := indexDefs(t, db)

	var progress bytes.Buffer
	res, err := Bulk(ctx, db, smallBulk, &progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", progress.String())
	for _, table := range []string{"tenants", "users", "providers", "buildings", "contacts", "building_contacts", "invoices", "analyze", "total"} {
		if !strings.Contains(progress.String(), table) {
			t.Errorf("no progress line for %s", table)
		}
	}

	want := BulkResult{
		TenantIDs: []uuid.UUID{BenchTenantID(1), BenchTenantID(2)},
		Providers: 6, Users: 1000, Buildings: 50, Contacts: 300, LinkedContacts: 150, Invoices: 5000,
		BuildingContacts: res.BuildingContacts, Elapsed: res.Elapsed,
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if res.BuildingContacts < 50 || res.BuildingContacts > 150 {
		t.Errorf("%d building contacts for 50 buildings", res.BuildingContacts)
	}

	after := tableCounts(t, db)
	for table, n := range map[string]int64{
		"directory.tenants": 2, "directory.users": 1000, "property.providers": 6, "property.buildings": 50,
		"comms.contacts": 300, "comms.building_contacts": res.BuildingContacts, "bookkeeping.invoices": 5000,
	} {
		if got := after[table] - demo[table]; got != n {
			t.Errorf("%s: %d bulk rows, want %d", table, got, n)
		}
	}
	if got := indexDefs(t, db); !reflect.DeepEqual(got, indexes) {
		t.Errorf("indexes changed:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(indexes, "\n"))
	}

	checkInvariants(t, db)
	bench := pq.Array(res.TenantIDs)
	for _, q := range []struct {
		what string
		sql  string
		want int64
	}{
		{"users per tenant", `SELECT count(*) FROM directory.users WHERE tenant_id = $1`, 500},
		{"linked contacts", `SELECT count(*) FROM comms.contacts WHERE tenant_id = $1 AND user_id IS NOT NULL`, 75},
		{"buildings with contacts", `SELECT count(DISTINCT building_id) FROM comms.building_contacts WHERE tenant_id = $1`, 25},
		{"primary contacts", `SELECT count(*) FROM comms.building_contacts WHERE tenant_id = $1 AND is_primary`, 25},
		{"invoices", `SELECT count(*) FROM bookkeeping.invoices WHERE tenant_id = $1`, 2500},
		{"providers", `SELECT count(*) FROM property.providers WHERE tenant_id = $1`, 3},
	} {
		for _, id := range res.TenantIDs {
			if n := count(t, db, q.sql, id); n != q.want {
				t.Errorf("tenant %s: %s %d, want %d", id, q.what, n, q.want)
			}
		}
	}
	for _, idp := range DefaultIdPs {
		if n := count(t, db, `SELECT count(*) FROM directory.users WHERE idp_id = $1 AND tenant_id = ANY($2::uuid[])`, idp, bench); n != 250 {
			t.Errorf("%d bulk users at %s, want 250", n, idp)
		}
	}
	acme := count(t, db, `SELECT count(*) FROM directory.users WHERE email_domain = 'acme.com' AND tenant_id = ANY($1::uuid[])`, bench)
	if acme < 30 || acme > 70 {
		t.Errorf("%d acme.com users of 1000, want about 50", acme)
	}
	if n := count(t, db, `SELECT count(DISTINCT email_domain) FROM directory.users WHERE tenant_id = ANY($1::uuid[])`, bench); n < 40 {
		t.Errorf("%d email domains, want about 51", n)
	}
	zero(t, db, "bulk emails not like u<n>@domain", `
		SELECT count(*) FROM directory.users WHERE tenant_id = ANY($1::uuid[]) AND email !~ '^u[0-9]+@[a-z.-]+$'`, bench)
	zero(t, db, "invoices issued outside the last three years", `
		SELECT count(*) FROM bookkeeping.invoices
		WHERE tenant_id = ANY($1::uuid[]) AND (issued_at < now() - interval '1096 days' OR issued_at > now())`, bench)
	zero(t, db, "invoice numbers without their year", `
		SELECT count(*) FROM bookkeeping.invoices
		WHERE tenant_id = ANY($1::uuid[]) AND number !~ ('^BT0[12]-' || to_char(issued_at, 'YYYY') || '-[0-9]{7}$')`, bench)
	if n := count(t, db, `SELECT count(DISTINCT created_by_user_id) FROM bookkeeping.invoices WHERE tenant_id = ANY($1::uuid[])`, bench); n < 300 {
		t.Errorf("invoices created by only %d users", n)
	}
	// The demo data is untouched.
	checkDemoUntouched(t, db, demo)

	// A second run fails and leaves everything as it was.
	if _, err := Bulk(ctx, db, smallBulk, nil); apperr.KindOf(err) != apperr.Conflict {
		t.Errorf("second Bulk: %v, want a conflict", err)
	}
	if again := tableCounts(t, db); !reflect.DeepEqual(again, after) {
		t.Errorf("a failed Bulk changed the counts: %v, then %v", after, again)
	}
	if got := indexDefs(t, db); !reflect.DeepEqual(got, indexes) {
		t.Errorf("a failed Bulk changed the indexes:\n%s", strings.Join(got, "\n"))
	}
}

func checkDemoUntouched(t *testing.T, db *sqlx.DB, demo map[string]int64) {
	t.Helper()
	ids := make([]string, 0, len(demoTenants))
	for _, tn := range demoTenants {
		ids = append(ids, demoID("tenant", tn.key).String())
	}
	for table, n := range demo {
		col := "tenant_id"
		if table == "directory.tenants" {
			col = "id"
		}
		if got := count(t, db, "SELECT count(*) FROM "+table+" WHERE "+col+" = ANY($1::uuid[])", pq.Array(ids)); got != n {
			t.Errorf("%s: %d demo rows, want %d", table, got, n)
		}
	}
}

func TestBulkDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := BulkOptions{Tenants: 3, Users: 200, Buildings: 20, Contacts: 60, Invoices: 500, IdPs: []string{"dev", "auth0-prod"}}
	db1, db2 := pgtest.DB(t), pgtest.DB(t)
	for _, db := range []*sqlx.DB{db1, db2} {
		if _, err := Bulk(ctx, db, opts, nil); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, db)
	}
	if a, b := idDigest(t, db1), idDigest(t, db2); !reflect.DeepEqual(a, b) {
		t.Errorf("ids differ between two databases: %v and %v", a, b)
	}
}

func TestBulkOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]BulkOptions{
		"negative":              {Users: -1},
		"share above 1":         {AcmeShare: 1.5},
		"empty idp":             {IdPs: []string{"dev", ""}},
		"buildings no contacts": {Tenants: 3, Buildings: 10, Contacts: 2},
		"invoices no users":     {Tenants: 3, Users: 2, Invoices: 10},
	} {
		if _, err := planBulk(o); apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	share := defaultAcmeShare
	p, err := planBulk(BulkOptions{Users: 25})
	if err != nil {
		t.Fatal(err)
	}
	if p.tenants != 10 || !reflect.DeepEqual(p.idps, DefaultIdPs) || p.acme != int64(share*hashRange) || sum(p.users) != 25 || p.users[0] != 3 || p.users[9] != 2 {
		t.Errorf("defaults: %+v", p)
	}
	if p, _ := planBulk(BulkOptions{AcmeShare: -1}); p.acme != 0 {
		t.Errorf("negative AcmeShare: acme %d, want 0", p.acme)
	}
}

func TestBulkRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	if _, err := Demo(ctx, db); err != nil {
		t.Fatal(err)
	}
	// A demo user with the identity Bulk gives its first user: the
	// uniqueness of (idp_id, external_id) fails only when Bulk rebuilds its
	// constraint after the load, with the indexes dropped.
	if _, err := db.ExecContext(ctx, `UPDATE directory.users SET external_id = 'bench-1' WHERE id = $1`,
		demoID("user", "nw-olivia")); err != nil {
		t.Fatal(err)
	}
	before, indexes := tableCounts(t, db), indexDefs(t, db)
	_, err := Bulk(ctx, db, BulkOptions{Tenants: 2, Users: 10, IdPs: []string{"dev"}}, nil)
	if apperr.KindOf(err) != apperr.Conflict {
		t.Fatalf("Bulk: %v, want a conflict", err)
	}
	if after := tableCounts(t, db); !reflect.DeepEqual(after, before) {
		t.Errorf("a failed Bulk wrote rows: %v, then %v", before, after)
	}
	if got := indexDefs(t, db); !reflect.DeepEqual(got, indexes) {
		t.Errorf("a failed Bulk changed the indexes and constraints:\n%s", strings.Join(got, "\n"))
	}
}
