package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/property"
)

// gqlgenOnly is the gateway's schema served by gqlgen alone, without
// FastReads: the reference the fast path must answer like.
func gqlgenOnly(t *testing.T, e *env) *httptest.Server {
	t.Helper()
	st := loader.Stores{
		Directory: directory.NewStore(e.db), Comms: comms.NewStore(e.db),
		Property: property.NewStore(e.db), Bookkeeping: bookkeeping.NewStore(e.db),
	}
	res := &graph.Resolver{Directory: st.Directory, Comms: st.Comms, Property: st.Property, Bookkeeping: st.Bookkeeping, MaxPage: 100}
	res.Cursors = page.NewEphemeralSealer()
	gql := handler.New(graph.NewSchema(res))
	gql.AddTransport(transport.POST{})
	gql.SetErrorPresenter(graph.ErrorPresenter(slog.New(slog.NewTextHandler(io.Discard, nil)), func(context.Context) string { return "" }))
	h := loader.Middleware(st)(gql)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := authtest.Authenticator{}.Authenticate(r)
		if err != nil {
			http.Error(w, "sign-in", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(access.WithScope(r.Context(), s)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// answer is a response as JSON values, cursors replaced by a placeholder
// (each seal of a cursor differs) and error locations kept.
func answerOf(t *testing.T, url string, scope access.Scope, q string, vars map[string]any) any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authtest.Header(scope))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	// gqlgen resolves list elements concurrently: its errors come in any order.
	if errs, ok := v["errors"].([]any); ok {
		sort.Slice(errs, func(i, j int) bool { return fmt.Sprint(errs[i]) < fmt.Sprint(errs[j]) })
	}
	return withoutCursors(v)
}

func withoutCursors(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "cursor" || k == "startCursor" || k == "endCursor") && s != "" {
				x[k] = "<cursor>"
			} else {
				x[k] = withoutCursors(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = withoutCursors(x[i])
		}
	}
	return v
}

// allFields selects every field of typ and, to depth, of the objects it
// reaches, as the schema has them today: a field the writer does not know
// makes the two answers differ.
func allFields(schema *ast.Schema, typ string, depth int) string {
	var b strings.Builder
	b.WriteString("{ __typename")
	for _, f := range schema.Types[typ].Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		target := schema.Types[f.Type.Name()]
		if target.Kind != ast.Object {
			b.WriteString(" " + f.Name)
			continue
		}
		if depth == 0 {
			continue
		}
		args := ""
		if f.Arguments.ForName("first") != nil {
			args = "(first: 2)"
		}
		b.WriteString(" " + f.Name + args + " " + allFields(schema, target.Name, depth-1))
	}
	b.WriteString(" }")
	return b.String()
}

func TestFastReadsAnswerAsGQLGen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, _ := seedBuildings(e, 4)
	ref := gqlgenOnly(t, e)
	schema := graph.NewSchema(&graph.Resolver{}).Schema()

	var provider access.Scope
	var someUser, someBuilding, someContact, someInvoice string
	if err := e.db.Get(&someUser, `SELECT u.id::text FROM directory.users u JOIN comms.contacts c ON c.user_id = u.id WHERE u.tenant_id = $1 LIMIT 1`, tenant); err != nil {
		t.Fatal(err)
	}
	provider = access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: uuid.MustParse(someUser)}
	_ = e.db.Get(&someBuilding, `SELECT id::text FROM property.buildings WHERE tenant_id = $1 LIMIT 1`, tenant)
	_ = e.db.Get(&someContact, `SELECT id::text FROM comms.contacts WHERE tenant_id = $1 AND user_id IS NULL LIMIT 1`, tenant)
	_ = e.db.Get(&someInvoice, `SELECT id::text FROM bookkeeping.invoices WHERE tenant_id = $1 LIMIT 1`, tenant)

	queries := map[string]string{
		"EveryFieldOfBuildings": `{ buildings(first: 3) ` + allFields(schema, "BuildingConnection", 6) + ` }`,
		"EveryFieldOfUsers":     `{ users(first: 3) ` + allFields(schema, "UserConnection", 6) + ` }`,
		"EveryFieldOfContacts":  `{ contacts(first: 3) ` + allFields(schema, "ContactConnection", 6) + ` }`,
		"EveryFieldOfInvoices":  `{ invoices(first: 3) ` + allFields(schema, "InvoiceConnection", 6) + ` }`,
		"Lookups": `{ me ` + allFields(schema, "User", 3) + ` user(id: "` + someUser + `") ` + allFields(schema, "User", 2) +
			` building(id: "` + someBuilding + `") ` + allFields(schema, "Building", 3) +
			` contact(id: "` + someContact + `") ` + allFields(schema, "Contact", 3) +
			` invoice(id: "` + someInvoice + `") ` + allFields(schema, "Invoice", 3) +
			` missing: user(id: "` + uuid.NewString() + `") { id } }`,
		"AliasesFragmentsDirectives": `query($skip: Boolean!) {
			a: buildings(first: 2) { edges { node { ...B n2: name } } }
			b: buildings(first: 1) { totalCount pageInfo { hasNextPage endCursor startCursor hasPreviousPage } }
		}
		fragment B on Building { id name @skip(if: $skip) contacts { ... on BuildingContact { role c: contact { id } } } primaryContact @include(if: $skip) { id } }`,
		"NestedPagesWithDifferentArguments": `{ users(first: 5) { edges { node { id
			two: invoices(first: 2) { totalCount edges { cursor node { number } } pageInfo { hasNextPage } }
			three: invoices(first: 3) { edges { node { number createdBy { id } } } } } } } }`,
		"Nodes": `{ node(id: "` + someBuilding + `") { __typename id ... on Building ` + allFields(schema, "Building", 3) + ` }
			nodes(ids: ["` + someUser + `", "` + uuid.NewString() + `", "` + someContact + `", "` + someBuilding + `", "` + someInvoice + `"]) {
				__typename ... on Node { id } ... on User ` + allFields(schema, "User", 2) + ` ... on Contact ` + allFields(schema, "Contact", 2) +
			` ... on Invoice ` + allFields(schema, "Invoice", 2) + ` ... on Building { name } }
			missing: node(id: "` + uuid.NewString() + `") { id } }`,
		"BackwardPages": `{ users(last: 3) { edges { cursor node { id invoices(last: 2) { edges { node { number } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }
			pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
		"BadNestedPageIsAnErrorOnItsPath": `{ users(first: 2) { edges { node { id invoices(first: 0) { totalCount } } } } }`,
		"StringsThatNeedEscaping":         `{ buildings(first: 10) { edges { node { name address } } } }`,
		"TheSameContactSelectedTwoWays": `{ contacts(first: 10) { edges { node { id email user { id email fullName }
			buildings { contact { id phone user { id } } building { contacts { contact { email user { email } } } } } } } } }`,
	}
	e.exec(`UPDATE property.buildings SET address = 'Line "one"' || E'\n\t\\ tab' || chr(1) || ' ünï' WHERE tenant_id = $1`, tenant)

	for name, q := range queries {
		for scopeName, scope := range map[string]access.Scope{"Admin": *admin(tenant), "Provider": provider, "Internal": *internal()} {
			t.Run(name+"/"+scopeName, func(t *testing.T) {
				vars := map[string]any{"skip": scopeName == "Admin"}
				got := answerOf(t, e.srv.URL, scope, q, vars)
				want := answerOf(t, ref.URL, scope, q, vars)
				if !reflect.DeepEqual(got, want) {
					g, _ := json.MarshalIndent(got, "", " ")
					w, _ := json.MarshalIndent(want, "", " ")
					t.Fatalf("fast path answered\n%s\ngqlgen answers\n%s", g, w)
				}
			})
		}
	}
}
