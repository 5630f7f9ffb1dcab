package graph_test

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// usersQuery reads a page of users with their contacts, their invoices and
// each invoice's creator: users, contacts, invoices, creators (the list's
// users are not in the by-id loader's cache, so the creators cost a level).
const usersQuery = `query($n: Int!) {
  users(first: $n) { edges { node { id email
    contact { id fullName }
    invoices(first: 5) { edges { node { number createdBy { id email } } } }
  } } }
}`

// Under load the keys of one nesting level reach the loaders over more than
// the batch wait; the lists prefetch the relations the operation selects so a
// level still costs one statement. This runs with the default wait.
func TestNestedListsCostOneStatementPerLevelUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, _ := seedBuildings(e, 50)
	// One building with 30 contacts, each with an account: the relations of a
	// single parent's list batch as well.
	big := e.building(tenant, e.provider(tenant, "Q"), "Big")
	for i := range 30 {
		u := e.user(tenant, "auth0-prod", fmt.Sprintf("big%d@acme.com", i), "Owner")
		e.link(tenant, big, e.contact(tenant, u, fmt.Sprintf("Big %d", i), "b@acme.com", "+441234567892"), "tenant", false)
	}
	cases := []struct {
		name  string
		query string
		vars  map[string]any
		items []any // path to the list whose length is checked
		n     int   // its length
		want  int   // statements
	}{
		// buildings, links+contacts, users, invoices.
		{"buildings", nestedQuery, map[string]any{"n": 50}, []any{"buildings", "edges"}, 50, 4},
		// The same levels through a fragment, primaryContact and a variable
		// page size; the excluded user.contact costs nothing.
		{"fragment", `query($k: Int!, $no: Boolean!) { buildings(first: 50) { edges { node { ...B } } } }
fragment B on Building { primaryContact { user { fullName invoices(first: $k) { edges { node { createdBy { email } } } } contact @include(if: $no) { id } } } }`,
			map[string]any{"k": 5, "no": false}, []any{"buildings", "edges"}, 50, 4},
		{"users", usersQuery, map[string]any{"n": 50}, []any{"users", "edges"}, 50, 4},
		// contacts, users, links, buildings.
		{"contacts", `{ contacts(first: 50) { edges { node { user { email } buildings { role building { name } } } } } }`,
			nil, []any{"contacts", "edges"}, 50, 4},
		// building, links+contacts, users, invoices.
		{"building", `query($id: ID!) { building(id: $id) { contacts { contact { user { email invoices(first: 5) { edges { node { number } } } } } } } }`,
			map[string]any{"id": big.String()}, []any{"building", "contacts"}, 30, 4},
		// Relations that are not selected cost nothing.
		{"flat", `{ buildings(first: 50) { edges { node { name } } } }`, nil, []any{"buildings", "edges"}, 50, 1},
	}
	const concurrent, rounds = 32, 3
	for round := range rounds {
		type got struct {
			name      string
			stmts     int
			errs      []gqlError
			edgeCount int
		}
		results := make(chan got, concurrent)
		var wg sync.WaitGroup
		for i := range concurrent {
			c := cases[i%len(cases)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.query(admin(tenant), c.query, c.vars)
				items, _ := path(r.Data, c.items...).([]any)
				results <- got{c.name, r.Statements, r.Errors, len(items)}
			}()
		}
		wg.Wait()
		close(results)
		want, n := map[string]int{}, map[string]int{}
		for _, c := range cases {
			want[c.name], n[c.name] = c.want, c.n
		}
		for g := range results {
			if len(g.errs) > 0 {
				t.Fatalf("round %d %s: %+v", round, g.name, g.errs)
			}
			if g.edgeCount != n[g.name] {
				t.Fatalf("round %d %s: %d items, want %d", round, g.name, g.edgeCount, n[g.name])
			}
			if g.stmts != want[g.name] {
				t.Errorf("round %d %s: %d SQL statements, want %d (one per nesting level)", round, g.name, g.stmts, want[g.name])
			}
		}
	}
}

// Two pages of one relation in one level (aliases with other sizes) load
// each user's own rows into each page.
func TestTwoPagesOfInvoicesInOneLevel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant("Pages")
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := map[string]int{}
	for i := range 4 {
		u := e.user(tenant, "auth0-prod", fmt.Sprintf("pages%d@acme.com", i), "Owner")
		for j := range i {
			e.invoice(tenant, u, day.AddDate(0, 0, j))
		}
		want[u.String()] = i
	}
	r := e.query(admin(tenant), `{ users(first: 10) { edges { node { id
		a: invoices(first: 1) { edges { node { createdBy { id } } } }
		b: invoices(first: 2) { edges { node { createdBy { id } } } } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	edges, _ := path(r.Data, "users", "edges").([]any)
	if len(edges) != 4 {
		t.Fatalf("%d users", len(edges))
	}
	for _, edge := range edges {
		id, _ := path(edge, "node", "id").(string)
		for alias, size := range map[string]int{"a": 1, "b": 2} {
			got, _ := path(edge, "node", alias, "edges").([]any)
			if len(got) != min(want[id], size) {
				t.Errorf("user with %d invoices: %s holds %d, want %d", want[id], alias, len(got), min(want[id], size))
			}
			for _, inv := range got {
				if c, _ := path(inv, "node", "createdBy", "id").(string); c != id {
					t.Errorf("%s of %s holds an invoice of %s", alias, id, c)
				}
			}
		}
	}
}
