package httpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/seed"
)

// graphiqlIntrospection is the introspection query the bundled GraphiQL
// (graphiql 5.4, @graphiql/react 0.39) sends with its default props:
// graphql-js 16.15's getIntrospectionQuery({inputValueDeprecation: false,
// schemaDescription: false}), written out by
//
//	cd web/graphiql && node -e 'process.stdout.write(require("graphql").getIntrospectionQuery({inputValueDeprecation:false, schemaDescription:false}))'
//
// Its TypeRef fragment nests ofType 8 times: 15 levels in all.
func graphiqlIntrospection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/graphiql-introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deepData selects buildings and then levels times round the schema's
// cycle (contacts { contact { buildings { building ...), 3 + 4*levels + 1
// deep.
func deepData(levels int) string {
	var b strings.Builder
	b.WriteString("buildings(first: 1) { edges { node { ")
	closing := 3
	for range levels {
		b.WriteString("contacts { contact { buildings { building { ")
		closing += 4
	}
	b.WriteString("id ")
	b.WriteString(strings.Repeat("} ", closing))
	return b.String()
}

// Where introspection is on, an operation that selects only introspection
// is not held to the data limits: GraphiQL's own query, 15 levels deep,
// runs under the default MAX_DEPTH of 12. Data in the same operation, or
// spread into it by a fragment, is limited as data.
func TestIntrospectionIsNotHeldToTheDataLimits(t *testing.T) {
	intro := graphiqlIntrospection(t)
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.Limits.Introspection = true })
	send := func(t *testing.T, doc, opName string) answer {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"query": doc, "operationName": opName})
		return post(t, srv, string(b))
	}
	t.Run("GraphiQLsQueryUnderTheDefaults", func(t *testing.T) {
		for range 2 { // the second time from gqlgen's cache of documents
			a := send(t, intro, "IntrospectionQuery")
			if a.code() != "" || a.statements != 0 {
				t.Fatalf("code %q, %d statements: %.300s", a.code(), a.statements, a.raw)
			}
			var r struct {
				Data struct {
					Schema struct {
						QueryType struct{ Name string }
						Types     []struct{ Name string }
					} `json:"__schema"`
				}
			}
			if err := json.Unmarshal([]byte(a.raw), &r); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, ty := range r.Data.Schema.Types {
				names = append(names, ty.Name)
			}
			if r.Data.Schema.QueryType.Name != "Query" || !strings.Contains(","+strings.Join(names, ",")+",", ",Building,") {
				t.Fatalf("no Query and Building in the schema: %q %v", r.Data.Schema.QueryType.Name, names)
			}
		}
	})
	t.Run("TypeAndTypenameOnly", func(t *testing.T) {
		// 14 deep: __type, fields, type and 10 ofType.
		doc := `{ __typename __type(name: "Building") { fields { type { ` + strings.Repeat("ofType { ", 10) + "name" + strings.Repeat(" }", 13) + " }"
		if a := query(t, srv, doc); a.code() != "" {
			t.Fatalf("%.300s", a.raw)
		}
	})
	t.Run("DataBesideIntrospection", func(t *testing.T) {
		doc := strings.Replace(intro, "query IntrospectionQuery {", "query IntrospectionQuery { buildings(first: 1) { totalCount }", 1)
		if a := send(t, doc, "IntrospectionQuery"); a.code() != "QUERY_TOO_DEEP" || a.statements != 0 {
			t.Fatalf("code %q, %d statements: %.300s", a.code(), a.statements, a.raw)
		}
	})
	t.Run("DataSpreadByAFragment", func(t *testing.T) {
		doc := strings.Replace(intro, "query IntrospectionQuery {", "query IntrospectionQuery { ...Data", 1) +
			"\nfragment Data on Query { ... on Query { __typename buildings(first: 1) { totalCount } } }\n"
		if a := send(t, doc, "IntrospectionQuery"); a.code() != "QUERY_TOO_DEEP" || a.statements != 0 {
			t.Fatalf("code %q, %d statements: %.300s", a.code(), a.statements, a.raw)
		}
	})
	t.Run("DeepDataStillRefused", func(t *testing.T) {
		// 16 levels, more than MAX_DEPTH's 12; with __typename beside it.
		if a := query(t, srv, "{ __typename "+deepData(3)+"}"); a.code() != "QUERY_TOO_DEEP" || a.statements != 0 {
			t.Fatalf("code %q, %d statements: %.300s", a.code(), a.statements, a.raw)
		}
		if a := query(t, srv, "{ __typename "+deepData(2)+"}"); a.code() != "" {
			t.Fatalf("12 levels refused: %.300s", a.raw)
		}
	})
	t.Run("ComplexDataStillRefused", func(t *testing.T) {
		a := query(t, srv, `{ __schema { queryType { name } } users(first: 100) { edges { node { invoices(first: 100) { edges { node {
			createdBy { invoices(first: 100) { totalCount } } } } } } } } }`)
		if a.code() != "QUERY_TOO_COMPLEX" {
			t.Fatalf("%.300s", a.raw)
		}
	})
	// Introspection's answer grows with the schema for each list of types
	// it nests in another (a field, its type, that type's fields, ...):
	// validation (gqlparser's MaxIntrospectionDepth, linear) refuses a
	// third, so the exemption from MAX_DEPTH does not let a cycle through
	// the schema ask for the schema to a power.
	t.Run("IntrospectionCyclesRefusedByValidation", func(t *testing.T) {
		two := `{ __schema { types { fields { type { ofType { fields { name } } } } } } }`
		if a := query(t, srv, two); a.code() != "" {
			t.Fatalf("two nested lists refused: %.300s", a.raw)
		}
		viaFragment := `{ __type(name: "Building") { ...F } } fragment F on __Type { fields { type { ofType { fields { type { ofType {
			fields { name } } } } } } } }`
		if a := query(t, srv, viaFragment); a.code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(a.raw, "introspection depth") {
			t.Fatalf("code %q: %.300s", a.code(), a.raw)
		}
	})
	// Each alias of __schema is another copy of the schema in the answer,
	// and the alias limit is what bounds how many one request may ask for
	// (without it, MAX_TOKENS leaves room for some 170 copies): it still
	// counts them.
	t.Run("AliasesStillCounted", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{ ")
		for i := range 31 {
			b.WriteString("s" + strconv.Itoa(i) + ": __schema { types { ...FullType } } ")
		}
		b.WriteString("}\n")
		doc := b.String() + intro[strings.Index(intro, "fragment FullType"):]
		if a := query(t, srv, doc); a.code() != "TOO_MANY_ALIASES" {
			t.Fatalf("code %q: %.300s", a.code(), a.raw)
		}
	})
	t.Run("AHugeIntrospectionDocumentIsBoundedByTokens", func(t *testing.T) {
		doc := "{ __schema { " + strings.Repeat("types { name } ", 600) + "} }"
		if a := query(t, srv, doc); a.code() != "TOO_MANY_TOKENS" {
			t.Fatalf("code %q: %.300s", a.code(), a.raw)
		}
	})
}

// With introspection off nothing is exempt: GraphiQL's query is refused as
// introspection, before any limit.
func TestIntrospectionOffRefusesGraphiQLsQuery(t *testing.T) {
	srv, _ := newServer(t, nil)
	b, _ := json.Marshal(map[string]any{"query": graphiqlIntrospection(t), "operationName": "IntrospectionQuery"})
	if a := post(t, srv, string(b)); a.code() != "INTROSPECTION_DISABLED" || a.statements != 0 {
		t.Fatalf("code %q, %d statements: %.300s", a.code(), a.statements, a.raw)
	}
}

// Every operation of gateway dev's GraphiQL tabs runs without an error
// and answers with something, with the token its tab names, on the demo
// data, under the default limits.
func TestPortalTabsRunWithTheirTokens(t *testing.T) {
	db := pgtest.DB(t)
	demo, err := seed.Demo(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	nw := demo.Tenants[0]
	tokens, verify := devIssuerTokens(t, []struct {
		name   string
		claims dev.Claims
	}{
		{"admin", dev.Claims{Subject: nw.Admin.ExternalID, TenantID: nw.ID, Role: access.RoleAdmin}},
		{"provider", dev.Claims{Subject: nw.Provider.ExternalID, TenantID: nw.ID, Role: access.RoleProvider}},
		{"internal", dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: dev.ServiceClient}},
	})
	srv := serverOn(t, db, verify)
	tabs := graphiql.PortalTabs()
	for i, tok := range []string{"admin", "admin", "provider", "internal"} { // the starting query runs as the admin picked
		doc, err := parser.ParseQuery(&ast.Source{Input: tabs[i].Query})
		if err != nil {
			t.Fatal(err)
		}
		var vars map[string]any
		if tabs[i].Variables != "" {
			if err := json.Unmarshal([]byte(tabs[i].Variables), &vars); err != nil {
				t.Fatal(err)
			}
		}
		bearer := ""
		for _, tk := range tokens {
			if tk.Name == tok {
				bearer = "Bearer " + tk.Token
			}
		}
		for _, op := range doc.Operations {
			t.Run(op.Name, func(t *testing.T) {
				b, _ := json.Marshal(map[string]any{"query": tabs[i].Query, "operationName": op.Name, "variables": vars})
				a := post(t, srv, string(b), "Authorization", bearer)
				data, _ := a.body["data"].(map[string]any)
				if a.status != http.StatusOK || a.code() != "" || strings.Contains(a.raw, `"errors"`) || len(data) == 0 {
					t.Fatalf("%s as %s: %d %.500s", op.Name, tok, a.status, a.raw)
				}
				for field, v := range data { // each root field answers (me too: a provider is a user)
					if v == nil || strings.Contains(a.raw, `"edges":[]`) {
						t.Errorf("%s as %s: %s is empty: %.300s", op.Name, tok, field, a.raw)
					}
				}
			})
		}
	}
}
