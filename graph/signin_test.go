package graph_test

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/dev/devtest"
)

// tenantWorld is one tenant of the role matrix: an admin and a provider
// (users of the dev IdP), a user the provider has nothing to do with, and
// buildings, contacts and invoices around them.
type tenantWorld struct {
	id                      uuid.UUID
	admin, prov, far        uuid.UUID // users
	cProv, cOther, cFar     uuid.UUID // contacts: the provider's own, a co-contact, an unrelated one
	b1, b2                  uuid.UUID // b1: the provider and cOther; b2: cFar only
	invProv, invFar         uuid.UUID
	adminToken, provToken   string
	adminExt, provExt, name string
}

func newTenantWorld(e *env, iss *dev.Issuer, name string) *tenantWorld {
	w := &tenantWorld{name: name, id: e.tenant(name)}
	lower := strings.ToLower(name)
	w.admin = e.user(w.id, "dev", "admin@"+lower+".example", "Admin "+name)
	w.prov = e.user(w.id, "dev", "prov@"+lower+".example", "Provider "+name)
	w.far = e.user(w.id, "auth0-prod", "far@"+lower+".example", "Far "+name)
	org := e.provider(w.id, "Org "+name)
	w.b1, w.b2 = e.building(w.id, org, "One "+name), e.building(w.id, org, "Two "+name)
	w.cProv = e.contact(w.id, w.prov, "Provider "+name, "prov@"+lower+".example", "+441000000001")
	w.cOther = e.contact(w.id, uuid.Nil, "Other "+name, "other@"+lower+".example", "+441000000002")
	w.cFar = e.contact(w.id, w.far, "Far "+name, "far@"+lower+".example", "+441000000003")
	e.link(w.id, w.b1, w.cProv, "manager", true)
	e.link(w.id, w.b1, w.cOther, "caretaker", false)
	e.link(w.id, w.b2, w.cFar, "manager", true)
	w.invProv = e.invoice(w.id, w.prov, time.Now().Add(-time.Hour))
	w.invFar = e.invoice(w.id, w.far, time.Now().Add(-2*time.Hour))
	ext := func(u uuid.UUID) string {
		var s string
		if err := e.db.Get(&s, `SELECT external_id FROM directory.users WHERE id = $1`, u); err != nil {
			e.t.Fatal(err)
		}
		return s
	}
	w.adminExt, w.provExt = ext(w.admin), ext(w.prov)
	mint := func(sub string, role access.Role) string {
		tok, err := iss.Mint(dev.Claims{Subject: sub, TenantID: w.id, Role: role}, time.Hour)
		if err != nil {
			e.t.Fatal(err)
		}
		return "Bearer " + tok
	}
	w.adminToken, w.provToken = mint(w.adminExt, access.RoleAdmin), mint(w.provExt, access.RoleProvider)
	return w
}

// newTokenEnv is a gateway that verifies real tokens of a dev issuer served
// on loopback, as `gateway dev` and every other IdP do.
func newTokenEnv(t *testing.T) (*env, *dev.Issuer) {
	t.Helper()
	iss := devtest.Issuer(t, nil)
	e := newEnvAuth(t, func(db *sqlx.DB) auth.Authenticator {
		v, err := auth.New([]idp.Config{iss.Adapter("dev")}, directory.NewStore(db), auth.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	return e, iss
}

// everything reads every query and relation; each object names its tenant.
const everything = `query($uA: ID!, $uB: ID!, $bA: ID!, $bB: ID!, $cA: ID!, $cB: ID!, $iA: ID!, $iB: ID!) {
	me { id tenantId contact { id tenantId } }
	uA: user(id: $uA) { id tenantId } uB: user(id: $uB) { id tenantId }
	bA: building(id: $bA) { id tenantId } bB: building(id: $bB) { id tenantId }
	cA: contact(id: $cA) { id tenantId } cB: contact(id: $cB) { id tenantId }
	iA: invoice(id: $iA) { id tenantId } iB: invoice(id: $iB) { id tenantId }
	users(first: 100) { totalCount edges { node { id tenantId contact { id tenantId }
		invoices(first: 10) { edges { node { id tenantId createdBy { id tenantId } } } } } } }
	buildings(first: 100) { totalCount edges { node { id tenantId primaryContact { id tenantId }
		contacts { building { id tenantId } contact { id tenantId user { id tenantId } buildings { building { id tenantId } } } } } } }
	contacts(first: 100) { totalCount edges { node { id tenantId user { id tenantId } buildings { building { id tenantId } } } } }
	invoices(first: 100) { totalCount edges { node { id tenantId createdBy { id tenantId contact { id tenantId } } } } }
}`

// collect gathers every id and tenantId in decoded JSON.
func collect(v any, ids, tenants map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "id" {
				ids[s] = true
			}
			if s, ok := x.(string); ok && k == "tenantId" {
				tenants[s] = true
			}
			collect(x, ids, tenants)
		}
	case []any:
		for _, x := range v {
			collect(x, ids, tenants)
		}
	}
}

func TestRoleByTenantMatrix(t *testing.T) {
	t.Parallel()
	e, iss := newTokenEnv(t)
	a, b := newTenantWorld(e, iss, "Alpha"), newTenantWorld(e, iss, "Beta")
	internalTok, err := iss.Mint(dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: dev.ServiceClient}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"uA": a.far, "uB": b.far, "bA": a.b2, "bB": b.b2, "cA": a.cFar, "cB": b.cFar, "iA": a.invFar, "iB": b.invFar}
	all := func(w *tenantWorld) []uuid.UUID {
		return []uuid.UUID{w.admin, w.prov, w.far, w.cProv, w.cOther, w.cFar, w.b1, w.b2, w.invProv, w.invFar}
	}

	callers := []struct {
		name    string
		authz   string
		me      *uuid.UUID
		sees    []*tenantWorld
		blind   []*tenantWorld
		byIDSee []string // aliases of the by-id lookups that answer
	}{
		{"AdminOfA", a.adminToken, &a.admin, []*tenantWorld{a}, []*tenantWorld{b}, []string{"uA", "bA", "cA", "iA"}},
		{"ProviderOfA", a.provToken, &a.prov, []*tenantWorld{a}, []*tenantWorld{b}, []string{"uA", "bA", "cA", "iA"}},
		{"AdminOfB", b.adminToken, &b.admin, []*tenantWorld{b}, []*tenantWorld{a}, []string{"uB", "bB", "cB", "iB"}},
		{"ProviderOfB", b.provToken, &b.prov, []*tenantWorld{b}, []*tenantWorld{a}, []string{"uB", "bB", "cB", "iB"}},
		{"Internal", "Bearer " + internalTok, nil, []*tenantWorld{a, b}, nil, []string{"uA", "uB", "bA", "bB", "cA", "cB", "iA", "iB"}},
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			r := e.queryAs(c.authz, everything, vars)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d %+v", r.Status, r.Errors)
			}
			for _, er := range r.Errors { // only PII denials are allowed here, and the query has no PII
				t.Fatalf("error %+v", er)
			}
			ids, tenants := map[string]bool{}, map[string]bool{}
			collect(r.Data, ids, tenants)
			var wantTenants []string
			for _, w := range c.sees {
				wantTenants = append(wantTenants, w.id.String())
				for _, id := range all(w) {
					if !ids[id.String()] {
						t.Errorf("%s does not see %v of its tenant %s", c.name, id, w.name)
					}
				}
			}
			for _, w := range c.blind {
				for _, id := range all(w) {
					if ids[id.String()] {
						t.Errorf("%s sees %v of tenant %s", c.name, id, w.name)
					}
				}
			}
			var gotTenants []string
			for k := range tenants {
				gotTenants = append(gotTenants, k)
			}
			sort.Strings(gotTenants)
			sort.Strings(wantTenants)
			if !slices.Equal(gotTenants, wantTenants) {
				t.Errorf("tenants in the answer %v, want %v", gotTenants, wantTenants)
			}
			for _, alias := range []string{"uA", "uB", "bA", "bB", "cA", "cB", "iA", "iB"} {
				if got, want := r.Data[alias] != nil, slices.Contains(c.byIDSee, alias); got != want {
					t.Errorf("%s(%v) answered %v, want %v", alias, vars[alias], got, want)
				}
			}
			me := path(r.Data, "me", "id")
			if c.me == nil && me != nil || c.me != nil && me != c.me.String() {
				t.Errorf("me = %v, want %v", me, c.me)
			}
		})
	}
}

// piiQuery reads every PII field a provider might reach.
const piiQuery = `{
	contacts(first: 100) { edges { node { id fullName email phone user { id fullName email } } } }
	users(first: 100) { edges { node { id fullName email } } }
	me { id email fullName contact { id email phone } }
}`

// denials returns "<node id>.<field>" for every FORBIDDEN error, failing on
// any other error.
func denials(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, er := range r.Errors {
		if er.Extensions["code"] != "FORBIDDEN" || len(er.Path) < 2 {
			t.Fatalf("unexpected error %+v", er)
		}
		// path takes ints; JSON paths decode as float64
		keys := make([]any, 0, len(er.Path)-1)
		for _, k := range er.Path[:len(er.Path)-1] {
			if f, ok := k.(float64); ok {
				k = int(f)
			}
			keys = append(keys, k)
		}
		node := path(r.Data, keys...)
		out = append(out, fmt.Sprintf("%v.%v", path(node, "id"), er.Path[len(er.Path)-1]))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestPIIByRole(t *testing.T) {
	t.Parallel()
	e, iss := newTokenEnv(t)
	a := newTenantWorld(e, iss, "Alpha")
	internalTok, _ := iss.Mint(dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: dev.ServiceClient}, time.Hour)

	for name, authz := range map[string]string{"Admin": a.adminToken, "Internal": "Bearer " + internalTok} {
		t.Run(name+"SeesAllPII", func(t *testing.T) {
			r := e.queryAs(authz, piiQuery, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("errors %+v", r.Errors)
			}
			for _, n := range nodes(path(r.Data, "contacts"), "email") {
				if n == nil {
					t.Fatalf("a contact email is hidden from %s", name)
				}
			}
		})
	}

	t.Run("ProviderSeesNamesAndOnlyItsCircle", func(t *testing.T) {
		r := e.queryAs(a.provToken, piiQuery, nil)
		got := denials(t, r)
		// Hidden: the unrelated contact's email and phone, and the emails of
		// the users who are no contact of the provider's buildings.
		want := []string{a.cFar.String() + ".email", a.cFar.String() + ".phone", a.far.String() + ".email", a.admin.String() + ".email"}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("denied %v\nwant   %v", got, want)
		}
		// Everything else is answered: every name, and its own circle's emails and phones.
		for _, n := range nodes(path(r.Data, "contacts"), "fullName") {
			if n == nil {
				t.Fatal("a contact's name is hidden from a provider")
			}
		}
		if path(r.Data, "me", "email") != "prov@alpha.example" || path(r.Data, "me", "contact", "phone") != "+441000000001" {
			t.Fatalf("own PII hidden: %v", path(r.Data, "me"))
		}
		edges, _ := path(r.Data, "contacts", "edges").([]any)
		for _, edge := range edges {
			if path(edge, "node", "id") == a.cOther.String() && path(edge, "node", "phone") != "+441000000002" {
				t.Fatalf("a co-contact's phone is hidden: %v", edge)
			}
		}
	})
}

// TestPIIFiltersByRole is the role x field matrix for what narrows and
// orders a list: a filter, search or order on a PII field is allowed exactly
// to the roles that may read that field on every row, and refused otherwise
// with FORBIDDEN on the argument, before any SQL. Everything else stays
// open to every role.
func TestPIIFiltersByRole(t *testing.T) {
	t.Parallel()
	e, iss := newTokenEnv(t)
	a := newTenantWorld(e, iss, "Alpha")
	internalTok, err := iss.Mint(dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: dev.ServiceClient}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// First by email, last by name: the two default orders differ.
	first := e.user(a.id, "auth0-prod", "aaa@alpha.example", "Zed Alpha")
	users := func(args string) string {
		return `{ users(first: 1` + args + `) { totalCount edges { node { id } } } }`
	}

	cases := []struct {
		name string
		q    string
		vars map[string]any
		// refused is the argument a provider is refused on; "" when a
		// provider may use it too.
		refused string
		// want is what an allowed caller reads at key: the list's first
		// node's id, or its totalCount.
		key  string
		want any
	}{
		{"UsersSearch", users(`, filter: {search: "prov@alpha"}`), nil, "filter.search", "users", a.prov.String()},
		{"UsersSearchByName", users(`, filter: {search: "Provider"}`), nil, "filter.search", "users", a.prov.String()},
		{"UsersSearchVariable", `query($f: UserFilter) { users(first: 1, filter: $f) { totalCount edges { node { id } } } }`,
			map[string]any{"f": map[string]any{"search": "prov@alpha"}}, "filter.search", "users", a.prov.String()},
		{"UsersEmailDomain", users(`, filter: {emailDomain: "alpha.example"}`), nil, "filter.emailDomain", "users.totalCount", float64(4)},
		{"UsersOrderByEmail", users(`, orderBy: {field: EMAIL}`), nil, "orderBy.field", "users", first.String()},
		{"UsersOrderByEmailDesc", users(`, orderBy: {field: EMAIL, direction: DESC}`), nil, "orderBy.field", "users", a.prov.String()},
		{"UsersOrderByEmailVariable", `query($o: UserOrder) { users(first: 1, orderBy: $o) { totalCount edges { node { id } } } }`,
			map[string]any{"o": map[string]any{"field": "EMAIL"}}, "orderBy.field", "users", first.String()},
		{"UsersOrderByFullName", users(`, orderBy: {field: FULL_NAME}`), nil, "", "users", a.admin.String()},
		{"UsersOrderByCreatedAt", users(`, orderBy: {field: CREATED_AT, direction: DESC}`), nil, "", "users", first.String()},
		{"UsersByIdP", users(`, filter: {idpId: "auth0-prod"}`), nil, "", "users.totalCount", float64(2)},
		{"ContactsSearchByPhone", `{ contacts(filter: {search: "1000000003"}) { totalCount } }`, nil, "filter.search", "contacts.totalCount", float64(1)},
		{"ContactsSearchByName", `{ contacts(filter: {search: "Other"}) { totalCount } }`, nil, "filter.search", "contacts.totalCount", float64(1)},
		{"ContactsWithAccount", `{ contacts(filter: {hasAccount: true}) { totalCount } }`, nil, "", "contacts.totalCount", float64(2)},
		{"ContactsOfBuilding", `query($b: ID) { contacts(filter: {buildingId: $b}) { totalCount } }`, map[string]any{"b": a.b1}, "", "contacts.totalCount", float64(2)},
		{"InvoicesByCreatorEmailDomain", `{ invoices(filter: {createdByEmailDomain: "alpha.example"}) { totalCount } }`, nil,
			"filter.createdByEmailDomain", "invoices.totalCount", float64(2)},
		{"InvoicesByCreator", `query($u: ID) { invoices(filter: {createdByUserId: $u}) { totalCount } }`, map[string]any{"u": a.far}, "", "invoices.totalCount", float64(1)},
		{"BuildingsSearch", `{ buildings(filter: {search: "One Alpha"}) { totalCount } }`, nil, "", "buildings.totalCount", float64(1)},
	}
	roles := []struct {
		name, authz string
		provider    bool
	}{{"Admin", a.adminToken, false}, {"Internal", "Bearer " + internalTok, false}, {"Provider", a.provToken, true}}
	for _, role := range roles {
		for _, c := range cases {
			t.Run(role.name+"/"+c.name, func(t *testing.T) {
				r := e.queryAs(role.authz, c.q, c.vars)
				if role.provider && c.refused != "" {
					if r.code(t) != "FORBIDDEN" || r.Errors[0].Extensions["field"] != c.refused || r.Statements != 0 {
						t.Fatalf("want FORBIDDEN on %s before any SQL, got %d statements, errors %+v", c.refused, r.Statements, r.Errors)
					}
					return
				}
				if len(r.Errors) > 0 || r.Statements <= 0 {
					t.Fatalf("want an answer, got %d statements, errors %+v", r.Statements, r.Errors)
				}
				list, count := strings.CutSuffix(c.key, ".totalCount")
				got := path(r.Data, list, "edges", 0, "node", "id")
				if count {
					got = path(r.Data, list, "totalCount")
				}
				if got != c.want {
					t.Fatalf("%s = %v, want %v", c.key, got, c.want)
				}
			})
		}
	}

	// The default order of users is by email for those who may order by
	// it, and by full name for everyone else.
	for _, role := range roles {
		t.Run(role.name+"/UsersDefaultOrder", func(t *testing.T) {
			r := e.queryAs(role.authz, `{ users { edges { node { id fullName } } } }`, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("errors %+v", r.Errors)
			}
			var names []string
			for _, n := range nodes(path(r.Data, "users"), "fullName") {
				names = append(names, n.(string))
			}
			if role.provider {
				if !slices.IsSorted(names) || len(names) != 4 {
					t.Fatalf("a provider's default order is %v, want by full name", names)
				}
				return
			}
			if got := path(r.Data, "users", "edges", 0, "node", "id"); got != first.String() {
				t.Fatalf("first user %v, want %v (by email)", got, first)
			}
		})
	}
}
