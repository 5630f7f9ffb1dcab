package graph_test

import (
	"sync"
	"testing"
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
	cases := []struct {
		name  string
		query string
		vars  map[string]any
		want  int
	}{
		// buildings, links+contacts, users, invoices.
		{"buildings", nestedQuery, map[string]any{"n": 50}, 4},
		// The same levels through a fragment and primaryContact.
		{"fragment", `query { buildings(first: 50) { edges { node { ...B } } } }
fragment B on Building { primaryContact { user { fullName invoices(first: 5) { edges { node { createdBy { email } } } } } } }`, nil, 4},
		{"users", usersQuery, map[string]any{"n": 50}, 4},
		// Relations that are not selected cost nothing.
		{"flat", `{ buildings(first: 50) { edges { node { name } } } }`, nil, 1},
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
				root := "buildings"
				if c.name == "users" {
					root = "users"
				}
				edges, _ := path(r.Data, root, "edges").([]any)
				results <- got{c.name, r.Statements, r.Errors, len(edges)}
			}()
		}
		wg.Wait()
		close(results)
		want := map[string]int{}
		for _, c := range cases {
			want[c.name] = c.want
		}
		for g := range results {
			if len(g.errs) > 0 {
				t.Fatalf("round %d %s: %+v", round, g.name, g.errs)
			}
			if g.edgeCount != 50 {
				t.Fatalf("round %d %s: %d edges, want 50", round, g.name, g.edgeCount)
			}
			if g.stmts != want[g.name] {
				t.Errorf("round %d %s: %d SQL statements, want %d (one per nesting level)", round, g.name, g.stmts, want[g.name])
			}
		}
	}
}
