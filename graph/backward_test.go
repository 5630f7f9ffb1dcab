package graph_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// walk pages through a connection both ways, size items a page: forward
// from the start with first/after, and backward from the end with
// last/before. The query takes $first, $after, $last and $before; conn
// finds the connection in the data. It checks the pageInfo flags of every
// page and returns the ids in list order, as each walk saw them.
func walk(t *testing.T, e *env, s *access.Scope, q string, conn func(map[string]any) any, size int) (forward, backward []any) {
	t.Helper()
	var after any
	for i := 0; ; i++ {
		r := e.query(s, q, map[string]any{"first": size, "after": after})
		if len(r.Errors) > 0 {
			t.Fatalf("forward page %d: %+v", i, r.Errors)
		}
		c := conn(r.Data)
		forward = append(forward, nodes(c, "id")...)
		info := path(c, "pageInfo").(map[string]any)
		if info["hasPreviousPage"] != (i > 0) {
			t.Fatalf("forward page %d: hasPreviousPage %v", i, info["hasPreviousPage"])
		}
		if info["hasNextPage"] != true {
			break
		}
		if i > 100 {
			t.Fatal("the forward walk did not end")
		}
		after = info["endCursor"]
	}
	var before any
	var pages [][]any
	for i := 0; ; i++ {
		r := e.query(s, q, map[string]any{"last": size, "before": before})
		if len(r.Errors) > 0 {
			t.Fatalf("backward page %d: %+v", i, r.Errors)
		}
		c := conn(r.Data)
		pages = append(pages, nodes(c, "id"))
		info := path(c, "pageInfo").(map[string]any)
		if info["hasNextPage"] != (i > 0) {
			t.Fatalf("backward page %d: hasNextPage %v", i, info["hasNextPage"])
		}
		if n := len(nodes(c, "id")); (n > 0) != (info["startCursor"] != nil) {
			t.Fatalf("backward page %d: %d edges and startCursor %v", i, n, info["startCursor"])
		}
		if info["hasPreviousPage"] != true {
			break
		}
		if i > 100 {
			t.Fatal("the backward walk did not end")
		}
		before = info["startCursor"]
	}
	for _, p := range slices.Backward(pages) {
		backward = append(backward, p...)
	}
	return forward, backward
}

func connAt(keys ...any) func(map[string]any) any {
	return func(d map[string]any) any { return path(d, keys...) }
}

const pageInfoFields = `pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`

func TestBackwardPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant("T")
	prov := e.provider(tenant, "P")
	owner := e.user(tenant, "auth0-prod", "owner@acme.com", "Owner")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 11 {
		// Equal sort keys, so the id breaks ties in both directions.
		name := fmt.Sprintf("Name %d", i%4)
		e.user(tenant, "auth0-prod", fmt.Sprintf("u%02d@acme.com", i%5), name)
		e.building(tenant, prov, name)
		e.contact(tenant, uuid.Nil, name, fmt.Sprintf("c%d@example.com", i), "+441234567890")
		e.invoice(tenant, owner, base.Add(time.Duration(i%3)*time.Hour))
	}
	args := `$first: Int, $after: String, $last: Int, $before: String`
	page := `first: $first, after: $after, last: $last, before: $before`
	lists := []struct {
		name, q string
		conn    func(map[string]any) any
		total   int
	}{
		{"UsersByEmail", `query(` + args + `) { users(` + page + `) { edges { cursor node { id } } ` + pageInfoFields + ` } }`, connAt("users"), 12},
		{"UsersByNameDesc", `query(` + args + `) { users(` + page + `, orderBy: {field: FULL_NAME, direction: DESC}) { edges { cursor node { id } } ` + pageInfoFields + ` } }`, connAt("users"), 12},
		{"UsersByCreatedAt", `query(` + args + `) { users(` + page + `, orderBy: {field: CREATED_AT}) { edges { cursor node { id } } ` + pageInfoFields + ` } }`, connAt("users"), 12},
		{"Buildings", `query(` + args + `) { buildings(` + page + `) { edges { cursor node { id } } ` + pageInfoFields + ` } }`, connAt("buildings"), 11},
		{"Contacts", `query(` + args + `) { contacts(` + page + `) { edges { cursor node { id } } ` + pageInfoFields + ` } }`, connAt("contacts"), 11},
		{"Invoices", `query(` + args + `) { invoices(` + page + `) { edges { cursor node { id } } ` + pageInfoFields + ` } }`, connAt("invoices"), 11},
		{"UserInvoices", `query(` + args + `) { user(id: "` + owner.String() + `") { invoices(` + page + `) { edges { cursor node { id } } ` + pageInfoFields + ` } } }`, connAt("user", "invoices"), 11},
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			for _, size := range []int{3, 4, 20} {
				forward, backward := walk(t, e, admin(tenant), l.q, l.conn, size)
				if len(forward) != l.total || !slices.Equal(forward, backward) {
					t.Fatalf("size %d: forward %v, backward %v", size, forward, backward)
				}
			}
			t.Run("LastAloneIsTheEnd", func(t *testing.T) {
				all := e.ok(admin(tenant), l.q, map[string]any{"first": 100})
				d := e.ok(admin(tenant), l.q, map[string]any{"last": 2})
				want := nodes(l.conn(all), "id")
				if got := nodes(l.conn(d), "id"); !slices.Equal(got, want[len(want)-2:]) {
					t.Fatalf("last 2 = %v, want %v", got, want[len(want)-2:])
				}
			})
			t.Run("BetweenCursors", func(t *testing.T) {
				all := l.conn(e.ok(admin(tenant), l.q, map[string]any{"first": 100}))
				ids := nodes(all, "id")
				after, before := path(all, "edges", 2, "cursor"), path(all, "edges", 8, "cursor")
				first := l.conn(e.ok(admin(tenant), l.q, map[string]any{"first": 3, "after": after, "before": before}))
				if got := nodes(first, "id"); !slices.Equal(got, ids[3:6]) || path(first, "pageInfo", "hasNextPage") != true {
					t.Fatalf("first 3 between = %v %v, want %v and a next page", got, path(first, "pageInfo"), ids[3:6])
				}
				last := l.conn(e.ok(admin(tenant), l.q, map[string]any{"last": 10, "after": after, "before": before}))
				if got := nodes(last, "id"); !slices.Equal(got, ids[3:8]) || path(last, "pageInfo", "hasPreviousPage") != false {
					t.Fatalf("last 10 between = %v %v, want %v and no previous page", got, path(last, "pageInfo"), ids[3:8])
				}
			})
			t.Run("OneStatementAPage", func(t *testing.T) {
				levels := 1
				if l.name == "UserInvoices" {
					levels = 2
				}
				fwd := e.query(admin(tenant), l.q, map[string]any{"first": 3})
				back := e.query(admin(tenant), l.q, map[string]any{"last": 3, "before": path(l.conn(fwd.Data), "pageInfo", "endCursor")})
				if fwd.Statements != levels || back.Statements != levels {
					t.Fatalf("statements forward %d, backward %d, want %d", fwd.Statements, back.Statements, levels)
				}
			})
		})
	}

	users := lists[0].q
	t.Run("FirstAndLastIsBadUserInput", func(t *testing.T) {
		r := e.query(admin(tenant), users, map[string]any{"first": 2, "last": 2})
		if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "last" {
			t.Fatalf("errors %+v", r.Errors)
		}
		r = e.query(admin(tenant), `{ users(first: 20, last: 2) { edges { cursor } } }`, nil)
		if r.code(t) != "BAD_USER_INPUT" {
			t.Fatalf("a written first: 20 with last: %+v", r.Errors)
		}
		r = e.query(admin(tenant), `{ user(id: "`+owner.String()+`") { invoices(first: 2, last: 2) { edges { cursor } } } }`, nil)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Fatalf("nested: errors %+v", r.Errors)
		}
	})
	t.Run("LastOutOfRangeIsBadUserInput", func(t *testing.T) {
		for _, n := range []int{0, 101} {
			r := e.query(admin(tenant), users, map[string]any{"last": n})
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "last" {
				t.Fatalf("last %d: errors %+v", n, r.Errors)
			}
		}
	})
	t.Run("BeforeOfAnotherListIsBadUserInput", func(t *testing.T) {
		d := e.ok(admin(tenant), `{ buildings(first: 1) { pageInfo { endCursor } } users(first: 1, orderBy: {field: FULL_NAME}) { pageInfo { endCursor } } }`, nil)
		for name, cursor := range map[string]any{
			"OtherList":  path(d, "buildings", "pageInfo", "endCursor"),
			"OtherOrder": path(d, "users", "pageInfo", "endCursor"),
			"Garbage":    "not-a-cursor",
		} {
			r := e.query(admin(tenant), users, map[string]any{"last": 2, "before": cursor})
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "before" {
				t.Fatalf("%s: errors %+v", name, r.Errors)
			}
		}
	})
	t.Run("BeforeOfAnotherCallerIsBadUserInput", func(t *testing.T) {
		d := e.ok(admin(tenant), users, map[string]any{"first": 2})
		other := &access.Scope{Role: access.RoleAdmin, TenantID: tenant, UserID: owner}
		r := e.query(other, users, map[string]any{"last": 2, "before": path(d, "users", "pageInfo", "endCursor")})
		if r.code(t) != "BAD_USER_INPUT" {
			t.Fatalf("errors %+v", r.Errors)
		}
	})
}

// The nested query pages its users' invoices backward at the same cost.
func TestNestedBackwardPageStatements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, _ := seedBuildings(e, 6)
	q := `{ buildings(last: 6) {
		edges { node { id contacts { contact { user { invoices(last: 5) { edges { node { number createdBy { id } } } pageInfo { hasPreviousPage hasNextPage } } } } } } }
		pageInfo { hasPreviousPage hasNextPage } } }`
	r := e.query(admin(tenant), q, nil)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	if r.Statements != 4 {
		t.Fatalf("statements = %d, want one per nesting level (4)", r.Statements)
	}
	if p := path(r.Data, "buildings", "pageInfo"); path(p, "hasPreviousPage") != false || path(p, "hasNextPage") != false {
		t.Fatalf("buildings pageInfo %v", p)
	}
	inv := path(r.Data, "buildings", "edges", 0, "node", "contacts", 0, "contact", "user", "invoices")
	if len(path(inv, "edges").([]any)) != 5 || path(inv, "pageInfo", "hasPreviousPage") != true || path(inv, "pageInfo", "hasNextPage") != false {
		t.Fatalf("invoices %v", inv)
	}
}
