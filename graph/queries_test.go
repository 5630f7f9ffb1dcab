package graph_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// world is two tenants with one of everything each, and a few extras in A.
type world struct {
	a, b                     uuid.UUID // tenants
	aliceA, bobA, carolB     uuid.UUID // users
	buildingA, buildingB     uuid.UUID
	primaryA, noAccountA     uuid.UUID // contacts of buildingA
	contactB                 uuid.UUID
	invoiceA1, invoiceA2, iB uuid.UUID
}

func newWorld(e *env) world {
	var w world
	w.a, w.b = e.tenant("A"), e.tenant("B")
	w.aliceA = e.user(w.a, "auth0-prod", "alice@acme.com", "Alice Archer")
	w.bobA = e.user(w.a, "keycloak-default", "bob@example.org", "Bob Baker")
	w.carolB = e.user(w.b, "entra-corp", "carol@acme.com", "Carol Cooper")
	pa, pb := e.provider(w.a, "Prov A"), e.provider(w.b, "Prov B")
	w.buildingA = e.building(w.a, pa, "Alder House")
	w.buildingB = e.building(w.b, pb, "Birch Court")
	w.primaryA = e.contact(w.a, w.aliceA, "Alice Archer", "alice@acme.com", "+441111111111")
	w.noAccountA = e.contact(w.a, uuid.Nil, "Nora Noaccount", "nora@example.org", "+442222222222")
	w.contactB = e.contact(w.b, w.carolB, "Carol Cooper", "carol@acme.com", "+443333333333")
	e.link(w.a, w.buildingA, w.primaryA, "manager", true)
	e.link(w.a, w.buildingA, w.noAccountA, "caretaker", false)
	e.link(w.b, w.buildingB, w.contactB, "manager", true)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w.invoiceA1 = e.invoice(w.a, w.aliceA, t0)
	w.invoiceA2 = e.invoice(w.a, w.bobA, t0.Add(time.Hour))
	w.iB = e.invoice(w.b, w.carolB, t0.Add(2*time.Hour))
	return w
}

func TestLookupsByIDAndRelations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newWorld(e)
	me := &access.Scope{Role: access.RoleProvider, TenantID: w.a, UserID: w.aliceA}

	t.Run("MeWithContactAndInvoices", func(t *testing.T) {
		d := e.ok(me, `{ me { id email fullName idpId externalId tenantId contact { id fullName phone buildings { role isPrimary building { id name } } }
			invoices(first: 10) { totalCount edges { node { id number currency amountMinor createdBy { id } } } } } }`, nil)
		if path(d, "me", "id") != w.aliceA.String() || path(d, "me", "email") != "alice@acme.com" || path(d, "me", "idpId") != "auth0-prod" {
			t.Fatalf("me = %v", path(d, "me"))
		}
		if path(d, "me", "contact", "id") != w.primaryA.String() {
			t.Fatalf("me.contact = %v", path(d, "me", "contact"))
		}
		if path(d, "me", "contact", "buildings", 0, "building", "id") != w.buildingA.String() ||
			path(d, "me", "contact", "buildings", 0, "isPrimary") != true {
			t.Fatalf("me.contact.buildings = %v", path(d, "me", "contact", "buildings"))
		}
		if got := nodes(path(d, "me", "invoices"), "id"); !slices.Equal(got, []any{w.invoiceA1.String()}) {
			t.Fatalf("me.invoices = %v", got)
		}
		if path(d, "me", "invoices", "totalCount") != float64(1) {
			t.Fatalf("totalCount = %v", path(d, "me", "invoices", "totalCount"))
		}
	})

	t.Run("MeIsNullForAServiceAccount", func(t *testing.T) {
		if d := e.ok(internal(), `{ me { id } }`, nil); path(d, "me") != nil {
			t.Fatalf("me = %v", path(d, "me"))
		}
	})

	t.Run("BuildingWithContactsPrimaryFirst", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($id: ID!) { building(id: $id) { name address primaryContact { id }
			contacts { role isPrimary contact { id user { id } } building { id } } } }`, map[string]any{"id": w.buildingA})
		if path(d, "building", "primaryContact", "id") != w.primaryA.String() {
			t.Fatalf("primaryContact = %v", path(d, "building", "primaryContact"))
		}
		cs := path(d, "building", "contacts").([]any)
		if len(cs) != 2 || path(cs[0], "contact", "id") != w.primaryA.String() || path(cs[0], "role") != "manager" ||
			path(cs[1], "contact", "id") != w.noAccountA.String() || path(cs[1], "isPrimary") != false ||
			path(cs[1], "contact", "user") != nil || path(cs[0], "building", "id") != w.buildingA.String() {
			t.Fatalf("contacts = %v", cs)
		}
	})

	t.Run("ContactWithUserAndBuildings", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($id: ID!) { contact(id: $id) { fullName email phone user { id email } buildings { building { name } contact { id } } } }`,
			map[string]any{"id": w.primaryA})
		if path(d, "contact", "user", "id") != w.aliceA.String() || path(d, "contact", "buildings", 0, "building", "name") != "Alder House" ||
			path(d, "contact", "buildings", 0, "contact", "id") != w.primaryA.String() {
			t.Fatalf("contact = %v", path(d, "contact"))
		}
	})

	t.Run("UserWithContact", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($id: ID!) { user(id: $id) { email contact { id } } }`, map[string]any{"id": w.bobA})
		if path(d, "user", "email") != "bob@example.org" || path(d, "user", "contact") != nil {
			t.Fatalf("user = %v", path(d, "user"))
		}
	})

	t.Run("InvoiceWithCreator", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($id: ID!) { invoice(id: $id) { number amountMinor currency issuedAt createdByUserId createdBy { email } } }`,
			map[string]any{"id": w.invoiceA2})
		if path(d, "invoice", "createdBy", "email") != "bob@example.org" || path(d, "invoice", "currency") != "EUR" ||
			path(d, "invoice", "issuedAt") != "2026-03-01T13:00:00Z" {
			t.Fatalf("invoice = %v", path(d, "invoice"))
		}
	})

	t.Run("UnknownIDIsNull", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($id: ID!) { user(id: $id) { id } building(id: $id) { id } contact(id: $id) { id } invoice(id: $id) { id } }`,
			map[string]any{"id": uuid.New()})
		for _, k := range []string{"user", "building", "contact", "invoice"} {
			if path(d, k) != nil {
				t.Fatalf("%s = %v, want null", k, path(d, k))
			}
		}
	})

	t.Run("ErasedCreatorStillJoins", func(t *testing.T) {
		e.exec(`UPDATE directory.users SET email = NULL, full_name = NULL, erased_at = now() WHERE id = $1`, w.bobA)
		d := e.ok(admin(w.a), `query($id: ID!) { invoice(id: $id) { createdBy { id email erasedAt } } }`, map[string]any{"id": w.invoiceA2})
		if path(d, "invoice", "createdBy", "id") != w.bobA.String() || path(d, "invoice", "createdBy", "email") != nil ||
			path(d, "invoice", "createdBy", "erasedAt") == nil {
			t.Fatalf("createdBy = %v", path(d, "invoice", "createdBy"))
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newWorld(e)
	ids := map[string]any{"user": w.carolB, "building": w.buildingB, "contact": w.contactB, "invoice": w.iB}

	t.Run("OtherTenantSeesNothingByID", func(t *testing.T) {
		for _, s := range []*access.Scope{admin(w.a), {Role: access.RoleProvider, TenantID: w.a, UserID: w.aliceA}} {
			for field, id := range ids {
				d := e.ok(s, `query($id: ID!) { `+field+`(id: $id) { id } }`, map[string]any{"id": id})
				if path(d, field) != nil {
					t.Fatalf("%s of tenant B visible to tenant A: %v", field, path(d, field))
				}
			}
		}
	})

	t.Run("OtherTenantSeesNothingInLists", func(t *testing.T) {
		d := e.ok(admin(w.a), `{
			users(first: 100) { totalCount edges { node { id tenantId invoices { edges { node { tenantId } } } contact { tenantId } } } }
			buildings(first: 100) { totalCount edges { node { tenantId contacts { contact { tenantId user { tenantId } } } } } }
			contacts(first: 100) { totalCount edges { node { tenantId buildings { building { tenantId } } } } }
			invoices(first: 100) { totalCount edges { node { tenantId createdBy { tenantId } } } }
			acme: users(filter: {emailDomain: "acme.com"}) { edges { node { id } } }
			byCarol: invoices(filter: {createdByUserId: "`+w.carolB.String()+`"}) { totalCount }
		}`, nil)
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if k == "tenantId" && x != w.a.String() {
						t.Fatalf("tenant A sees a row of tenant %v", x)
					}
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(d)
		counts := map[string]float64{"users": 2, "buildings": 1, "contacts": 2, "invoices": 2}
		for k, n := range counts {
			if path(d, k, "totalCount") != n {
				t.Fatalf("%s totalCount = %v, want %v", k, path(d, k, "totalCount"), n)
			}
		}
		if got := nodes(path(d, "acme"), "id"); !slices.Equal(got, []any{w.aliceA.String()}) {
			t.Fatalf("acme users = %v", got)
		}
		if path(d, "byCarol", "totalCount") != float64(0) {
			t.Fatalf("tenant A counts tenant B's invoices")
		}
	})

	t.Run("InternalReadsAcrossTenants", func(t *testing.T) {
		d := e.ok(internal(), `{ users { totalCount } invoices(filter: {createdByEmailDomain: "acme.com"}) { edges { node { id createdBy { email } } } } }`, nil)
		if path(d, "users", "totalCount") != float64(3) {
			t.Fatalf("internal sees %v users, want 3", path(d, "users", "totalCount"))
		}
		if got := nodes(path(d, "invoices"), "id"); !slices.Equal(got, []any{w.iB.String(), w.invoiceA1.String()}) {
			t.Fatalf("acme invoices across tenants = %v", got)
		}
	})

	t.Run("NoCredentialsIsUnauthenticated", func(t *testing.T) {
		r := e.query(nil, `{ me { id } }`, nil)
		if r.Status != http.StatusUnauthorized || r.code(t) != "UNAUTHENTICATED" {
			t.Fatalf("status %d errors %+v", r.Status, r.Errors)
		}
	})
}
