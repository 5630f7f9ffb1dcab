package graph_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

const nestedQuery = `query($n: Int!) {
  buildings(first: $n) {
    edges { node { id name
      contacts { role isPrimary contact { id fullName
        user { id email invoices(first: 5) { edges { node { number createdByUserId createdBy { id email } } } } } } }
    } }
  }
}`

// seedBuildings makes n buildings, each with a primary contact who has an
// account and 7 invoices, and a second contact without an account.
func seedBuildings(e *env, n int) (tenant uuid.UUID, userOf map[string]string) {
	tenant = e.tenant("T")
	prov := e.provider(tenant, "P")
	userOf = map[string]string{}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		b := e.building(tenant, prov, "Building "+string(rune('A'+i%26))+uuid.NewString()[:8])
		u := e.user(tenant, "auth0-prod", uuid.NewString()[:8]+"@acme.com", "Owner")
		c := e.contact(tenant, u, "Primary "+uuid.NewString()[:6], "p@acme.com", "+441234567890")
		e.link(tenant, b, c, "manager", true)
		e.link(tenant, b, e.contact(tenant, uuid.Nil, "No account", "n@example.com", "+441234567891"), "caretaker", false)
		for j := range 7 {
			e.invoice(tenant, u, base.Add(time.Duration(i*10+j)*time.Hour))
		}
		userOf[b.String()] = u.String()
	}
	return tenant, userOf
}

// This runs with the default batch wait: the lists prefetch the relations
// the query selects, so no level depends on how fast its keys arrive.
func TestNestedQueryStatementCountDoesNotGrowWithRows(t *testing.T) {
	t.Parallel()
	counts := map[int]int{}
	for _, n := range []int{5, 50} {
		e := newEnv(t)
		tenant, userOf := seedBuildings(e, n)
		r := e.query(admin(tenant), nestedQuery, map[string]any{"n": n})
		if len(r.Errors) > 0 {
			t.Fatalf("n=%d: %+v", n, r.Errors)
		}
		edges := path(r.Data, "buildings", "edges").([]any)
		if len(edges) != n {
			t.Fatalf("n=%d: got %d buildings", n, len(edges))
		}
		// Every row went to its own parent: the loaders realign rows to keys.
		for _, edge := range edges {
			b := path(edge, "node", "id").(string)
			contacts := path(edge, "node", "contacts").([]any)
			if len(contacts) != 2 || path(contacts[0], "isPrimary") != true {
				t.Fatalf("building %s: contacts %v, want the primary first of 2", b, contacts)
			}
			user := path(contacts[0], "contact", "user")
			if path(user, "id") != userOf[b] {
				t.Fatalf("building %s: user %v, want %s", b, path(user, "id"), userOf[b])
			}
			invs := path(user, "invoices", "edges").([]any)
			if len(invs) != 5 {
				t.Fatalf("building %s: %d invoices, want 5", b, len(invs))
			}
			for _, inv := range invs {
				if path(inv, "node", "createdBy", "id") != userOf[b] || path(inv, "node", "createdByUserId") != userOf[b] {
					t.Fatalf("building %s: invoice of another user: %v", b, inv)
				}
			}
			if path(contacts[1], "contact", "user") != nil {
				t.Fatalf("building %s: the contact without an account has a user", b)
			}
		}
		counts[n] = r.Statements
		t.Logf("nested query over %d buildings: %d SQL statements", n, r.Statements)
	}
	if counts[5] != counts[50] {
		t.Fatalf("statements grow with rows: %d for 5 buildings, %d for 50", counts[5], counts[50])
	}
	// buildings, links+contacts, users, invoices; createdBy hits the user cache.
	if counts[5] != 4 {
		t.Fatalf("statements per request = %d, want one per nesting level (4)", counts[5])
	}
}
