package graph_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// pageThrough collects a field of every node of a list query, page by page,
// and returns the pages' sizes too. The query takes $first and $after and
// its list is at key.
func pageThrough(t *testing.T, e *env, tenant uuid.UUID, key, q string, first int) (all []any, sizes []int) {
	t.Helper()
	var after any
	for range 100 {
		d := e.ok(admin(tenant), q, map[string]any{"first": first, "after": after})
		conn := path(d, key)
		got := nodes(conn, "id")
		all = append(all, got...)
		sizes = append(sizes, len(got))
		if path(conn, "pageInfo", "hasNextPage") != true {
			return all, sizes
		}
		after = path(conn, "pageInfo", "endCursor")
	}
	t.Fatal("pagination did not end")
	return nil, nil
}

func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant("T")
	empty := e.tenant("Empty")
	var want []string
	for i := range 7 {
		email := fmt.Sprintf("u%02d@acme.com", i)
		e.user(tenant, "auth0-prod", email, fmt.Sprintf("User %d", 6-i))
		want = append(want, email)
	}
	q := `query($first: Int, $after: String) { users(first: $first, after: $after) {
		edges { cursor node { id email } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

	t.Run("Empty", func(t *testing.T) {
		d := e.ok(admin(empty), q, map[string]any{"first": 5})
		if len(path(d, "users", "edges").([]any)) != 0 || path(d, "users", "pageInfo", "hasNextPage") != false ||
			path(d, "users", "pageInfo", "endCursor") != nil {
			t.Fatalf("empty page = %v", path(d, "users"))
		}
	})

	t.Run("ExactLastPage", func(t *testing.T) {
		all, sizes := pageThrough(t, e, tenant, "users", q, 7)
		if len(all) != 7 || !slices.Equal(sizes, []int{7}) {
			t.Fatalf("first: 7 over 7 users gave pages %v", sizes)
		}
	})

	t.Run("PagesInOrderWithoutGapsOrRepeats", func(t *testing.T) {
		var emails []any
		var after any
		for {
			d := e.ok(admin(tenant), q, map[string]any{"first": 3, "after": after})
			emails = append(emails, nodes(path(d, "users"), "email")...)
			if path(d, "users", "pageInfo", "hasNextPage") != true {
				break
			}
			after = path(d, "users", "pageInfo", "endCursor")
		}
		var w []any
		for _, s := range want {
			w = append(w, s)
		}
		if !slices.Equal(emails, w) {
			t.Fatalf("pages gave %v, want %v", emails, w)
		}
	})

	t.Run("ForeignCursorIsBadUserInput", func(t *testing.T) {
		p := e.provider(tenant, "P")
		e.building(tenant, p, "Some building")
		d := e.ok(admin(tenant), `{ buildings(first: 1) { pageInfo { endCursor } } }`, nil)
		buildingCursor := path(d, "buildings", "pageInfo", "endCursor")
		for name, cursor := range map[string]any{"OtherList": buildingCursor, "Garbage": "not-a-cursor", "Base64Junk": "eyJ4IjoxfQ"} {
			r := e.query(admin(tenant), q, map[string]any{"first": 2, "after": cursor})
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "after" {
				t.Fatalf("%s: errors %+v", name, r.Errors)
			}
		}
	})

	t.Run("CursorOfAnotherOrderIsBadUserInput", func(t *testing.T) {
		d := e.ok(admin(tenant), `{ users(first: 1, orderBy: {field: FULL_NAME}) { pageInfo { endCursor } } }`, nil)
		r := e.query(admin(tenant), q, map[string]any{"first": 2, "after": path(d, "users", "pageInfo", "endCursor")})
		if r.code(t) != "BAD_USER_INPUT" {
			t.Fatalf("errors %+v", r.Errors)
		}
	})

	t.Run("CursorsAreSealed", func(t *testing.T) {
		// A cursor says nothing a client can read: not the email it is keyed
		// by, not even in base64 or as JSON.
		for _, order := range []string{"EMAIL", "FULL_NAME"} {
			d := e.ok(admin(tenant), `{ users(first: 1, orderBy: {field: `+order+`}) { edges { cursor node { email fullName } } } }`, nil)
			edge := path(d, "users", "edges", 0)
			cursor := path(edge, "cursor").(string)
			raw, _ := base64.RawURLEncoding.DecodeString(cursor)
			for _, secret := range []string{path(edge, "node", "email").(string), path(edge, "node", "fullName").(string)} {
				for _, text := range []string{cursor, string(raw)} {
					if strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
						t.Fatalf("%s cursor %q reveals %q", order, text, secret)
					}
				}
			}
			if json.Valid(raw) {
				t.Fatalf("%s cursor is readable JSON: %s", order, raw)
			}
		}
	})

	t.Run("ForgedOrAlteredCursorIsBadUserInput", func(t *testing.T) {
		d := e.ok(admin(tenant), `{ users(first: 1) { pageInfo { endCursor } } }`, nil)
		real := path(d, "users", "pageInfo", "endCursor").(string)
		flipped := []byte(real)
		flipped[len(flipped)/2] ^= 1
		forged := base64.RawURLEncoding.EncodeToString([]byte(`{"l":"users:EMAIL:ASC","k":"u03@acme.com","i":"` + uuid.NewString() + `"}`))
		for name, cursor := range map[string]string{"Forged": forged, "Altered": string(flipped), "Truncated": real[:len(real)-4]} {
			r := e.query(admin(tenant), q, map[string]any{"first": 2, "after": cursor})
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "after" {
				t.Fatalf("%s: errors %+v", name, r.Errors)
			}
		}
	})

	t.Run("CursorOfAnotherCallerOrTenantIsBadUserInput", func(t *testing.T) {
		other := e.tenant("Other")
		d := e.ok(admin(tenant), `{ users(first: 1, orderBy: {field: FULL_NAME}) { pageInfo { endCursor } } }`, nil)
		cursor := path(d, "users", "pageInfo", "endCursor")
		provider := &access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: e.user(tenant, "dev", "cursor-provider@acme.com", "Cursor Provider")}
		for name, scope := range map[string]*access.Scope{"OtherTenant": admin(other), "OtherCaller": provider, "Internal": internal()} {
			r := e.query(scope, `query($after: String) { users(first: 2, after: $after, orderBy: {field: FULL_NAME}) { edges { cursor } } }`, map[string]any{"after": cursor})
			if r.code(t) != "BAD_USER_INPUT" {
				t.Fatalf("%s: errors %+v", name, r.Errors)
			}
		}
	})

	t.Run("FirstOutsideTheCapIsBadUserInput", func(t *testing.T) {
		for _, n := range []int{0, -1, 101} {
			r := e.query(admin(tenant), q, map[string]any{"first": n})
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "first" {
				t.Fatalf("first=%d: errors %+v", n, r.Errors)
			}
		}
	})

	t.Run("NestedInvoicesPage", func(t *testing.T) {
		u := e.user(tenant, "dev", "inv@acme.com", "Invoicer")
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var ids []any
		for i := range 5 {
			ids = append([]any{e.invoice(tenant, u, base.Add(time.Duration(i)*time.Hour)).String()}, ids...)
		}
		var got []any
		var after any
		for range 10 {
			d := e.ok(admin(tenant), `query($id: ID!, $after: String) { user(id: $id) { invoices(first: 2, after: $after) {
				edges { node { id } } pageInfo { hasNextPage endCursor } } } }`, map[string]any{"id": u, "after": after})
			conn := path(d, "user", "invoices")
			got = append(got, nodes(conn, "id")...)
			if path(conn, "pageInfo", "hasNextPage") != true {
				break
			}
			after = path(conn, "pageInfo", "endCursor")
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("invoice pages %v, want newest first %v", got, ids)
		}
	})
}

func TestUserFiltersAndOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant("T")
	type u struct{ id, email, name, idp string }
	var users []u
	for i, spec := range [][3]string{
		{"zed@acme.com", "Anna Zed", "auth0-prod"},
		{"amy@ACME.com", "Zoe Amy", "keycloak-default"},
		{"max@example.org", "Max Mustermann", "auth0-prod"},
		{"kim@sub.acme.com", "Kim Sub", "entra-corp"},
		{"lee@acme.com", "Lee Acmeson", "dev"},
	} {
		id := e.user(tenant, spec[2], spec[0], spec[1])
		users = append(users, u{id.String(), spec[0], spec[1], spec[2]})
		_ = i
	}
	list := func(filter, order string) []any {
		t.Helper()
		d := e.ok(admin(tenant), `{ users(first: 2, filter: `+filter+`, orderBy: `+order+`) { edges { node { email } } pageInfo { endCursor hasNextPage } } }`, nil)
		got := nodes(path(d, "users"), "email")
		for path(d, "users", "pageInfo", "hasNextPage") == true {
			d = e.ok(admin(tenant), `query($after: String) { users(first: 2, after: $after, filter: `+filter+`, orderBy: `+order+`) { edges { node { email } } pageInfo { endCursor hasNextPage } } }`,
				map[string]any{"after": path(d, "users", "pageInfo", "endCursor")})
			got = append(got, nodes(path(d, "users"), "email")...)
		}
		return got
	}
	emails := func(ss ...string) []any {
		var out []any
		for _, s := range ss {
			out = append(out, s)
		}
		return out
	}

	t.Run("EmailDomainIsCaseInsensitiveAndExact", func(t *testing.T) {
		got := list(`{emailDomain: "ACME.com"}`, `{field: EMAIL}`)
		if want := emails("amy@ACME.com", "lee@acme.com", "zed@acme.com"); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("Search", func(t *testing.T) {
		got := list(`{search: "acme"}`, `{field: EMAIL}`)
		if want := emails("amy@ACME.com", "kim@sub.acme.com", "lee@acme.com", "zed@acme.com"); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got := list(`{search: "MUSTER"}`, `{field: EMAIL}`); !slices.Equal(got, emails("max@example.org")) {
			t.Fatalf("name search got %v", got)
		}
		if got := list(`{search: "100%"}`, `{field: EMAIL}`); len(got) != 0 {
			t.Fatalf("%% must match literally, got %v", got)
		}
	})
	t.Run("IdpID", func(t *testing.T) {
		if got := list(`{idpId: "auth0-prod"}`, `{field: EMAIL}`); !slices.Equal(got, emails("max@example.org", "zed@acme.com")) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("CombinedFilters", func(t *testing.T) {
		if got := list(`{emailDomain: "acme.com", idpId: "auth0-prod"}`, `{field: EMAIL}`); !slices.Equal(got, emails("zed@acme.com")) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("Orders", func(t *testing.T) {
		byName := append([]u(nil), users...)
		sort.Slice(byName, func(i, j int) bool { return byName[i].name < byName[j].name })
		var want []any
		for _, x := range byName {
			want = append(want, x.email)
		}
		if got := list(`{}`, `{field: FULL_NAME}`); !slices.Equal(got, want) {
			t.Fatalf("FULL_NAME ASC got %v, want %v", got, want)
		}
		slices.Reverse(want)
		if got := list(`{}`, `{field: FULL_NAME, direction: DESC}`); !slices.Equal(got, want) {
			t.Fatalf("FULL_NAME DESC got %v, want %v", got, want)
		}
		created := emails("zed@acme.com", "amy@ACME.com", "max@example.org", "kim@sub.acme.com", "lee@acme.com")
		if got := list(`{}`, `{field: CREATED_AT}`); !slices.Equal(got, created) {
			t.Fatalf("CREATED_AT got %v", got)
		}
		slices.Reverse(created)
		if got := list(`{}`, `{field: CREATED_AT, direction: DESC}`); !slices.Equal(got, created) {
			t.Fatalf("CREATED_AT DESC got %v", got)
		}
		if got := list(`{}`, `{field: EMAIL, direction: DESC}`); !slices.Equal(got, emails("zed@acme.com", "max@example.org", "lee@acme.com", "kim@sub.acme.com", "amy@ACME.com")) {
			t.Fatalf("EMAIL DESC got %v", got)
		}
	})
	t.Run("BadFiltersAreBadUserInput", func(t *testing.T) {
		for filter, field := range map[string]string{
			`{search: "ab"}`:           "filter.search",
			`{emailDomain: "a@b.com"}`: "filter.emailDomain",
			`{emailDomain: "nodot"}`:   "filter.emailDomain",
			`{idpId: ""}`:              "filter.idpId",
		} {
			r := e.query(admin(tenant), `{ users(filter: `+filter+`) { edges { node { id } } } }`, nil)
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != field {
				t.Fatalf("%s: errors %+v", filter, r.Errors)
			}
		}
	})
}

func TestOtherListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newWorld(e)
	p2 := e.provider(w.a, "Second provider")
	oak := e.building(w.a, p2, "Oak Tower")

	t.Run("Buildings", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($p: ID) { bySearch: buildings(filter: {search: "OAK"}) { edges { node { id } } }
			byProvider: buildings(filter: {providerId: $p}) { totalCount edges { node { id } } }
			all: buildings { edges { node { name } } } }`, map[string]any{"p": p2})
		if got := nodes(path(d, "bySearch"), "id"); !slices.Equal(got, []any{oak.String()}) {
			t.Fatalf("search got %v", got)
		}
		if got := nodes(path(d, "byProvider"), "id"); !slices.Equal(got, []any{oak.String()}) || path(d, "byProvider", "totalCount") != float64(1) {
			t.Fatalf("provider got %v", got)
		}
		if got := nodes(path(d, "all"), "name"); !slices.Equal(got, []any{"Alder House", "Oak Tower"}) {
			t.Fatalf("by name got %v", got)
		}
	})

	t.Run("Contacts", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($b: ID) {
			withAccount: contacts(filter: {hasAccount: true}) { edges { node { id } } }
			withoutAccount: contacts(filter: {hasAccount: false}) { edges { node { id } } }
			ofBuilding: contacts(filter: {buildingId: $b}) { totalCount }
			bySearch: contacts(filter: {search: "2222"}) { edges { node { id } } } }`, map[string]any{"b": w.buildingA})
		if got := nodes(path(d, "withAccount"), "id"); !slices.Equal(got, []any{w.primaryA.String()}) {
			t.Fatalf("hasAccount true got %v", got)
		}
		if got := nodes(path(d, "withoutAccount"), "id"); !slices.Equal(got, []any{w.noAccountA.String()}) {
			t.Fatalf("hasAccount false got %v", got)
		}
		if path(d, "ofBuilding", "totalCount") != float64(2) {
			t.Fatalf("buildingId got %v", path(d, "ofBuilding"))
		}
		if got := nodes(path(d, "bySearch"), "id"); !slices.Equal(got, []any{w.noAccountA.String()}) {
			t.Fatalf("search by phone got %v", got)
		}
		_ = oak
	})

	t.Run("Invoices", func(t *testing.T) {
		d := e.ok(admin(w.a), `query($u: ID) {
			acme: invoices(filter: {createdByEmailDomain: "acme.com"}) { edges { node { id } } }
			byUser: invoices(filter: {createdByUserId: $u}) { edges { node { id } } }
			after: invoices(filter: {issuedAfter: "2026-03-01T12:30:00Z"}) { edges { node { id } } }
			before: invoices(filter: {issuedBefore: "2026-03-01T12:30:00Z"}) { edges { node { id } } }
			all: invoices { totalCount edges { node { id } } } }`, map[string]any{"u": w.bobA})
		if got := nodes(path(d, "acme"), "id"); !slices.Equal(got, []any{w.invoiceA1.String()}) {
			t.Fatalf("acme got %v", got)
		}
		if got := nodes(path(d, "byUser"), "id"); !slices.Equal(got, []any{w.invoiceA2.String()}) {
			t.Fatalf("by user got %v", got)
		}
		if got := nodes(path(d, "after"), "id"); !slices.Equal(got, []any{w.invoiceA2.String()}) {
			t.Fatalf("issuedAfter got %v", got)
		}
		if got := nodes(path(d, "before"), "id"); !slices.Equal(got, []any{w.invoiceA1.String()}) {
			t.Fatalf("issuedBefore got %v", got)
		}
		if got := nodes(path(d, "all"), "id"); !slices.Equal(got, []any{w.invoiceA2.String(), w.invoiceA1.String()}) {
			t.Fatalf("newest first got %v", got)
		}
	})

	t.Run("BadInputIsBadUserInput", func(t *testing.T) {
		for q, field := range map[string]string{
			`{ invoices(filter: {issuedAfter: "2026-03-02T00:00:00Z", issuedBefore: "2026-03-01T00:00:00Z"}) { totalCount } }`: "filter.issuedBefore",
			`{ invoices(filter: {createdByEmailDomain: "@"}) { totalCount } }`:                                                 "filter.createdByEmailDomain",
			`{ contacts(filter: {search: " a "}) { totalCount } }`:                                                             "filter.search",
		} {
			r := e.query(admin(w.a), q, nil)
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != field {
				t.Fatalf("%s: errors %+v", q, r.Errors)
			}
		}
		for _, q := range []string{`{ user(id: "not-a-uuid") { id } }`, `{ invoices(filter: {issuedAfter: "yesterday"}) { totalCount } }`} {
			if r := e.query(admin(w.a), q, nil); r.code(t) != "BAD_USER_INPUT" {
				t.Fatalf("%s: errors %+v", q, r.Errors)
			}
		}
	})
}
