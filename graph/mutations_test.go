package graph_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/privacy"
	"github.com/propertyportal/gateway/internal/property"
)

// newWriteEnv is newEnv with erasure wired, logging to log, and extra
// handler dependencies set by with.
func newWriteEnv(t testing.TB, log *slog.Logger, with func(db *sqlx.DB, d *httpserver.Deps)) *env {
	t.Helper()
	db := pgtest.DB(t)
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st := loader.Stores{
		Directory: directory.NewStore(db), Comms: comms.NewStore(db),
		Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
	}
	d := httpserver.Deps{
		Log: log,
		DBs: []*sqlx.DB{db},
		Schema: graph.NewSchema(&graph.Resolver{Directory: st.Directory, Comms: st.Comms, Property: st.Property,
			Bookkeeping: st.Bookkeeping, MaxPage: 100, Erasure: &privacy.Service{DB: db}, PhoneRegion: "DE"}),
		Stores:        st,
		Authenticator: authtest.Authenticator{},
		MaxPageSize:   100,
	}
	if with != nil {
		with(db, &d)
	}
	srv := httptest.NewServer(httpserver.New(d))
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv}
}

const (
	createContact = `mutation($in: ContactInput!) { createContact(input: $in) { id fullName email phone user { id } } }`
	updateContact = `mutation($id: ID!, $in: ContactInput!) { updateContact(id: $id, input: $in) { id fullName email phone } }`
	linkBuilding  = `mutation($b: ID!, $c: ID!, $role: String!, $p: Boolean) {
		linkContactToBuilding(buildingId: $b, contactId: $c, role: $role, isPrimary: $p) { role isPrimary contact { id } building { id name } } }`
	setPrimary = `mutation($b: ID!, $c: ID!) { setPrimaryContact(buildingId: $b, contactId: $c) { isPrimary contact { id fullName } } }`
	unlinkB    = `mutation($b: ID!, $c: ID!) { unlinkContactFromBuilding(buildingId: $b, contactId: $c) }`
	linkUser   = `mutation($c: ID!, $u: ID!) { linkContactToUser(contactId: $c, userId: $u) { id user { id email } } }`
	unlinkUser = `mutation($c: ID!) { unlinkContactFromUser(contactId: $c) { id user { id } } }`
	eraseUser  = `mutation($id: ID!) { eraseUser(id: $id) { subject id alreadyErased erasedAt erasedFields relatedIds idpDeletionQueued idpDeletion cancelledIdentityChanges } }`
	eraseCt    = `mutation($id: ID!) { eraseContact(id: $id) { subject id alreadyErased erasedFields relatedIds } }`
)

func TestContactMutations(t *testing.T) {
	// Not parallel: it runs before the parallel tests, so that it does not
	// load the machine while the statement-count test times its batches.
	e := newWriteEnv(t, nil, nil)
	tenant := e.tenant("North")
	b := e.building(tenant, e.provider(tenant, "P"), "Harbour House")
	user := e.user(tenant, "dev", "ann@acme.com", "Ann")
	adm := admin(tenant)

	data := e.ok(adm, createContact, map[string]any{"in": map[string]any{"fullName": "Ann Lee", "email": "Ann.Lee@ACME.com", "phone": "030 1234567"}})
	c := path(data, "createContact").(map[string]any)
	if c["email"] != "Ann.Lee@acme.com" || c["phone"] != "+49301234567" || c["user"] != nil {
		t.Fatalf("created %v", c)
	}
	id := c["id"].(string)

	t.Run("BadInputNamesField", func(t *testing.T) {
		r := e.query(adm, createContact, map[string]any{"in": map[string]any{"fullName": "X", "phone": "not a phone"}})
		if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.phone" {
			t.Fatalf("errors %+v", r.Errors)
		}
		r = e.query(adm, updateContact, map[string]any{"id": id, "in": map[string]any{"email": "nope"}})
		if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.email" {
			t.Fatalf("errors %+v", r.Errors)
		}
	})

	t.Run("Update", func(t *testing.T) {
		data := e.ok(adm, updateContact, map[string]any{"id": id, "in": map[string]any{"fullName": "Ann Lee-Smith", "phone": ""}})
		if path(data, "updateContact", "fullName") != "Ann Lee-Smith" || path(data, "updateContact", "phone") != nil {
			t.Fatalf("updated %v", data)
		}
	})

	t.Run("BuildingLinksAndPrimary", func(t *testing.T) {
		data := e.ok(adm, linkBuilding, map[string]any{"b": b, "c": id, "role": "manager", "p": true})
		if path(data, "linkContactToBuilding", "building", "name") != "Harbour House" || path(data, "linkContactToBuilding", "isPrimary") != true {
			t.Fatalf("linked %v", data)
		}
		other := e.ok(adm, createContact, map[string]any{"in": map[string]any{"fullName": "Bo"}})
		oid := path(other, "createContact", "id")
		e.ok(adm, linkBuilding, map[string]any{"b": b, "c": oid, "role": "caretaker"})
		e.ok(adm, setPrimary, map[string]any{"b": b, "c": oid})
		q := e.ok(adm, `query($b: ID!) { building(id: $b) { primaryContact { id } contacts { isPrimary } } }`, map[string]any{"b": b})
		if path(q, "building", "primaryContact", "id") != oid {
			t.Fatalf("primary %v", q)
		}
		if r := e.query(adm, linkBuilding, map[string]any{"b": b, "c": oid, "role": "again"}); r.code(t) != "CONFLICT" {
			t.Fatal("linked twice")
		}
		if r := e.query(adm, setPrimary, map[string]any{"b": uuid.New(), "c": oid}); r.code(t) != "NOT_FOUND" {
			t.Fatal("unknown building")
		}
		if d := e.ok(adm, unlinkB, map[string]any{"b": b, "c": oid}); path(d, "unlinkContactFromBuilding") != true {
			t.Fatalf("unlink %v", d)
		}
	})

	t.Run("UserLinks", func(t *testing.T) {
		data := e.ok(adm, linkUser, map[string]any{"c": id, "u": user})
		if path(data, "linkContactToUser", "user", "email") != "ann@acme.com" {
			t.Fatalf("linked %v", data)
		}
		stranger := e.user(e.tenant("South"), "dev", "s@south.com", "S")
		other := path(e.ok(adm, createContact, map[string]any{"in": map[string]any{"fullName": "Cy"}}), "createContact", "id")
		if r := e.query(adm, linkUser, map[string]any{"c": other, "u": stranger}); r.code(t) != "NOT_FOUND" {
			t.Fatal("linked a user of another tenant")
		}
		if d := e.ok(adm, unlinkUser, map[string]any{"c": id}); path(d, "unlinkContactFromUser", "user") != nil {
			t.Fatalf("unlink %v", d)
		}
	})

	t.Run("ForbiddenForProviderAndInternal", func(t *testing.T) {
		prov := &access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: user}
		for _, s := range []*access.Scope{prov, internal()} {
			for _, m := range []struct {
				q    string
				vars map[string]any
			}{
				{createContact, map[string]any{"in": map[string]any{"fullName": "X"}}},
				{updateContact, map[string]any{"id": id, "in": map[string]any{"fullName": "X"}}},
				{setPrimary, map[string]any{"b": b, "c": id}},
				{linkUser, map[string]any{"c": id, "u": user}},
			} {
				if r := e.query(s, m.q, m.vars); r.code(t) != "FORBIDDEN" {
					t.Fatalf("%s as %s: %+v", m.q, s.Role, r.Errors)
				}
			}
		}
		if r := e.query(prov, eraseUser, map[string]any{"id": user}); r.code(t) != "FORBIDDEN" {
			t.Fatal("a provider erased")
		}
		if r := e.query(nil, createContact, map[string]any{"in": map[string]any{"fullName": "X"}}); r.code(t) != "UNAUTHENTICATED" {
			t.Fatal("anonymous write")
		}
	})
}

func TestEraseMutations(t *testing.T) {
	// Not parallel: it runs before the parallel tests, so that it does not
	// load the machine while the statement-count test times its batches.
	e := newWriteEnv(t, nil, nil)
	tenant := e.tenant("North")
	user := e.user(tenant, "auth0-prod", "gone@acme.com", "Gone Person")
	ct := e.contact(tenant, user, "Gone Person", "gone@acme.com", "+4930111222")
	e.invoice(tenant, user, mustTime("2026-01-02T00:00:00Z"))

	data := e.ok(admin(tenant), eraseUser, map[string]any{"id": user})
	er := path(data, "eraseUser").(map[string]any)
	if er["subject"] != "USER" || er["alreadyErased"] != false || len(er["erasedFields"].([]any)) != 5 ||
		path(er, "relatedIds", 0) != ct.String() || er["idpDeletionQueued"] != false ||
		er["idpDeletion"] != "NOT_CONFIGURED" || er["cancelledIdentityChanges"] != 0.0 {
		t.Fatalf("erasure %v", er)
	}
	again := e.ok(internal(), eraseUser, map[string]any{"id": user})
	if path(again, "eraseUser", "alreadyErased") != true || len(path(again, "eraseUser", "erasedFields").([]any)) != 0 {
		t.Fatalf("second erasure %v", again)
	}
	if path(e.ok(admin(tenant), eraseCt, map[string]any{"id": ct}), "eraseContact", "alreadyErased") != true {
		t.Fatal("contact erased with the user is not reported as already erased")
	}
	inv := e.ok(internal(), `{ invoices(first: 5) { edges { node { createdBy { id email fullName erasedAt } } } } }`, nil)
	u := path(inv, "invoices", "edges", 0, "node", "createdBy").(map[string]any)
	if u["id"] != user.String() || u["email"] != nil || u["fullName"] != nil || u["erasedAt"] == nil {
		t.Fatalf("invoice creator after erasure: %v", u)
	}
	if r := e.query(admin(e.tenant("South")), eraseUser, map[string]any{"id": user}); r.code(t) != "NOT_FOUND" {
		t.Fatal("another tenant's admin erased")
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
