package graph_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// nodeWorld is a tenant with one object of each Node type, related the way
// the PII rules care about: a provider who is the contact of a building,
// another contact of that building with an account, and a user whose
// contact is of no building of the provider's.
type nodeWorld struct {
	tenant, other                                uuid.UUID
	me, colleague, stranger, foreign             uuid.UUID // users
	myContact, colleagueContact, strangerContact uuid.UUID
	building, invoice, foreignBuilding           uuid.UUID
}

func newNodeWorld(e *env) nodeWorld {
	var w nodeWorld
	w.tenant, w.other = e.tenant("T"), e.tenant("Other")
	prov := e.provider(w.tenant, "P")
	w.me = e.user(w.tenant, "dev", "me@acme.com", "Me Myself")
	w.colleague = e.user(w.tenant, "dev", "colleague@acme.com", "Col League")
	w.stranger = e.user(w.tenant, "dev", "stranger@acme.com", "Str Anger")
	w.myContact = e.contact(w.tenant, w.me, "Me Myself", "me@acme.com", "+441234567801")
	w.colleagueContact = e.contact(w.tenant, w.colleague, "Col League", "colleague@acme.com", "+441234567802")
	w.strangerContact = e.contact(w.tenant, w.stranger, "Str Anger", "stranger@acme.com", "+441234567803")
	w.building = e.building(w.tenant, prov, "Main Building")
	e.link(w.tenant, w.building, w.myContact, "manager", true)
	e.link(w.tenant, w.building, w.colleagueContact, "caretaker", false)
	w.invoice = e.invoice(w.tenant, w.stranger, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w.foreign = e.user(w.other, "dev", "foreign@other.example", "For Eign")
	w.foreignBuilding = e.building(w.other, e.provider(w.other, "Q"), "Foreign Building")
	return w
}

// The fields each type is read with, the same through node and the typed lookup.
var nodeFields = map[string]string{
	"User":     `id email fullName idpId contact { id email phone } invoices(first: 2) { edges { node { id number } } pageInfo { hasNextPage } }`,
	"Contact":  `id fullName email phone user { id email } buildings { role building { id name } }`,
	"Building": `id name contacts { role isPrimary contact { id fullName email phone } } primaryContact { id email }`,
	"Invoice":  `id number amountMinor createdBy { id email fullName }`,
}

var typedLookup = map[string]string{"User": "user", "Contact": "contact", "Building": "building", "Invoice": "invoice"}

// errorsAt returns the codes of r's errors by path below its root field.
func errorsAt(r response, root string) map[string]any {
	out := map[string]any{}
	for _, e := range r.Errors {
		if len(e.Path) == 0 || e.Path[0] != root {
			continue
		}
		out[fmt.Sprint(e.Path[1:])] = e.Extensions["code"]
	}
	return out
}

func TestNodeAnswersAsTheTypedLookup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newNodeWorld(e)
	scopes := map[string]*access.Scope{
		"Provider":   {Role: access.RoleProvider, TenantID: w.tenant, UserID: w.me},
		"Admin":      admin(w.tenant),
		"Internal":   internal(),
		"OtherAdmin": {Role: access.RoleAdmin, TenantID: w.other},
	}
	objects := []struct {
		typ string
		id  uuid.UUID
	}{
		{"User", w.me}, {"User", w.colleague}, {"User", w.stranger},
		{"Contact", w.myContact}, {"Contact", w.colleagueContact}, {"Contact", w.strangerContact},
		{"Building", w.building}, {"Invoice", w.invoice},
	}
	for name, s := range scopes {
		t.Run(name, func(t *testing.T) {
			for _, o := range objects {
				f := nodeFields[o.typ]
				q := fmt.Sprintf(`{ typed: %s(id: "%s") { %s } node(id: "%s") { id ... on %s { %s } } nodes(ids: ["%s"]) { ... on %s { %s } } }`,
					typedLookup[o.typ], o.id, f, o.id, o.typ, f, o.id, o.typ, f)
				r := e.query(s, q, nil)
				typed, byNode, inList := r.Data["typed"], r.Data["node"], path(r.Data, "nodes", 0)
				if !reflect.DeepEqual(typed, byNode) || !reflect.DeepEqual(typed, inList) {
					t.Fatalf("%s %s: typed %v\nnode %v\nnodes %v", o.typ, o.id, typed, byNode, inList)
				}
				if name == "OtherAdmin" && byNode != nil {
					t.Fatalf("%s of another tenant: %v", o.typ, byNode)
				}
				if want, got := errorsAt(r, "typed"), errorsAt(r, "node"); !reflect.DeepEqual(want, got) {
					t.Fatalf("%s %s: errors typed %v, node %v", o.typ, o.id, want, got)
				}
			}
		})
	}
	t.Run("ProviderSeesWhatPolicyAllows", func(t *testing.T) {
		// The check has teeth: the provider reads its colleague's email and
		// not the stranger's, through node as through user(id).
		s := scopes["Provider"]
		d := e.query(s, fmt.Sprintf(`{ a: node(id: "%s") { ... on User { email } } b: node(id: "%s") { ... on User { email } } }`, w.colleague, w.stranger), nil)
		if path(d.Data, "a", "email") != "colleague@acme.com" || path(d.Data, "b", "email") != nil {
			t.Fatalf("data %v", d.Data)
		}
		if got := errorsAt(d, "b"); got["[email]"] != "FORBIDDEN" {
			t.Fatalf("errors %+v", d.Errors)
		}
	})
}

func TestNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newNodeWorld(e)
	q := `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Building { name } ... on User { email } } }`

	t.Run("MixedInOrderUnknownAndOtherTenantNull", func(t *testing.T) {
		unknown := uuid.New()
		ids := []any{w.invoice.String(), unknown.String(), w.building.String(), w.foreign.String(), w.me.String(),
			w.foreignBuilding.String(), w.myContact.String(), w.building.String()}
		r := e.query(admin(w.tenant), q, map[string]any{"ids": ids})
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		got := r.Data["nodes"].([]any)
		wantTypes := []any{"Invoice", nil, "Building", nil, "User", nil, "Contact", "Building"}
		if len(got) != len(ids) {
			t.Fatalf("%d nodes for %d ids", len(got), len(ids))
		}
		for i, n := range got {
			if path(n, "__typename") != wantTypes[i] || (n != nil && path(n, "id") != ids[i]) {
				t.Fatalf("node %d = %v, want a %v with id %v", i, n, wantTypes[i], ids[i])
			}
		}
		if path(got[2], "name") != "Main Building" || path(got[4], "email") != "me@acme.com" {
			t.Fatalf("fields: %v", got)
		}
	})
	t.Run("OtherTenantIsNullNotAnError", func(t *testing.T) {
		r := e.query(admin(w.other), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": w.me.String()})
		if len(r.Errors) > 0 || r.Data["node"] != nil {
			t.Fatalf("data %v errors %+v", r.Data, r.Errors)
		}
		r = e.query(internal(), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": w.foreign.String()})
		if path(r.Data, "node", "id") != w.foreign.String() {
			t.Fatalf("an internal service account reads across tenants: %v %+v", r.Data, r.Errors)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		r := e.query(admin(w.tenant), q, map[string]any{"ids": []any{}})
		if len(r.Errors) > 0 || len(r.Data["nodes"].([]any)) != 0 || r.Statements != 0 {
			t.Fatalf("data %v errors %+v statements %d", r.Data, r.Errors, r.Statements)
		}
	})
	t.Run("TooManyIdsIsBadUserInput", func(t *testing.T) {
		ids := make([]any, 101)
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		r := e.query(admin(w.tenant), q, map[string]any{"ids": ids})
		if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "ids" || r.Statements != 0 {
			t.Fatalf("errors %+v, statements %d", r.Errors, r.Statements)
		}
		if strings.Contains(r.Errors[0].Message, ids[0].(string)) {
			t.Fatal("the error echoes an id")
		}
		if r := e.query(admin(w.tenant), q, map[string]any{"ids": ids[:100]}); len(r.Errors) > 0 {
			t.Fatalf("100 ids: %+v", r.Errors)
		}
	})
	t.Run("NotAnIDIsBadUserInput", func(t *testing.T) {
		r := e.query(admin(w.tenant), q, map[string]any{"ids": []any{"not-a-uuid"}})
		if len(r.Errors) == 0 || r.Data["nodes"] != nil {
			t.Fatalf("data %v errors %+v", r.Data, r.Errors)
		}
	})
}

// nodes of 100 ids of every type, with fields below each, costs what
// nodes of 4 ids does: the kinds, one batch per type, one per level below.
func TestNodesStatementsDoNotGrowWithIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, _ := seedBuildings(e, 25)
	var ids []string
	for _, table := range []string{"directory.users", "comms.contacts", "property.buildings", "bookkeeping.invoices"} {
		var got []string
		if err := e.db.Select(&got, `SELECT id::text FROM `+table+` WHERE tenant_id = $1 ORDER BY id LIMIT 25`, tenant); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	if len(ids) != 100 {
		t.Fatalf("%d ids", len(ids))
	}
	q := `query($ids: [ID!]!) { nodes(ids: $ids) { id
		... on Building { contacts { role contact { id fullName } } }
		... on User { contact { id } invoices(last: 2) { edges { node { number } } } }
		... on Invoice { createdBy { id email } }
		... on Contact { buildings { building { id } } }
	} }`
	small := []string{ids[0], ids[25], ids[50], ids[75]}
	slices.Reverse(small)
	few := e.query(admin(tenant), q, map[string]any{"ids": small})
	many := e.query(admin(tenant), q, map[string]any{"ids": ids})
	if len(few.Errors)+len(many.Errors) > 0 {
		t.Fatal(few.Errors, many.Errors)
	}
	for i, n := range many.Data["nodes"].([]any) {
		if path(n, "id") != ids[i] {
			t.Fatalf("node %d = %v, want id %s", i, n, ids[i])
		}
	}
	// The objects of every type (1, one UNION ALL); below users their
	// contacts and invoices, below contacts and buildings their links,
	// below the contacts' links their buildings, below invoices their
	// creators (6), those last two from the cache when they were among the
	// nodes: at most 7, whatever the ids.
	t.Logf("nodes: %d statements for 4 ids, %d for 100", few.Statements, many.Statements)
	if few.Statements > 7 || many.Statements > 7 {
		t.Fatalf("statements = %d for 4 ids, %d for 100, want at most 7 (one for the nodes, one per relation)", few.Statements, many.Statements)
	}
	top := e.query(admin(tenant), `query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }`, map[string]any{"ids": ids})
	if len(top.Errors) > 0 || top.Statements != 1 {
		t.Fatalf("nodes of 100 ids of four types, nothing below = %d statements, want 1; errors %+v", top.Statements, top.Errors)
	}
	for i, n := range top.Data["nodes"].([]any) {
		if want := []string{"User", "Contact", "Building", "Invoice"}[i/25]; path(n, "__typename") != want || path(n, "id") != ids[i] {
			t.Fatalf("node %d = %v, want a %s of id %s", i, n, want, ids[i])
		}
	}
	one := e.query(admin(tenant), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ids[0]})
	if one.Statements != 1 {
		t.Fatalf("node(id) = %d statements, want 1", one.Statements)
	}
}
