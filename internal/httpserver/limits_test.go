package httpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/httpserver"
)

// fragmentChain is a document of n fragments, each spreading the next one
// twice, so a walk that follows every spread does 2^n work. body is what the
// last fragment selects.
func fragmentChain(n int, body string) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range n {
		b.WriteString("fragment F" + strconv.Itoa(i) + " on Query { ...F" + strconv.Itoa(i+1) + " ...F" + strconv.Itoa(i+1) + " }\n")
	}
	b.WriteString("fragment F" + strconv.Itoa(n) + " on Query { " + body + " }\n")
	return b.String()
}

// TestFragmentChainsAnswerAtOnce sends documents whose spreads double at
// each fragment, up to the default token limit: every check before
// execution is linear, so each is refused with a code long before a second.
func TestFragmentChainsAnswerAtOnce(t *testing.T) {
	srv, _ := newServer(t, nil)
	for _, c := range []struct {
		name, body, code string
	}{
		{"Complexity", `buildings(first: 100) { totalCount }`, "QUERY_TOO_COMPLEX"},
		{"Aliases", `a: __typename`, "TOO_MANY_ALIASES"},
	} {
		for _, n := range []int{10, 24, 60, 120, 190} {
			t.Run(c.name+"/n="+strconv.Itoa(n), func(t *testing.T) {
				doc := fragmentChain(n, c.body)
				b, _ := json.Marshal(map[string]any{"query": doc})
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", strings.NewReader(string(b)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", internal)
				a := do(t, req)
				if a.code() != c.code || a.statements != 0 {
					t.Fatalf("%d-byte document: code %q statements %d, want %s and 0: %.300s", len(doc), a.code(), a.statements, c.code, a.raw)
				}
			})
		}
	}
	t.Run("DepthThroughSharedFragments", func(t *testing.T) {
		// Depth is counted through fragments, each measured once.
		doc := `query { ...D0 }
fragment D0 on Query { buildings { edges { node { ...D1 ...D1 } } } }
fragment D1 on Building { contacts { contact { buildings { building { ...D2 ...D2 } } } } }
fragment D2 on Building { contacts { contact { buildings { building { contacts { isPrimary } } } } } }`
		if a := query(t, srv, doc); a.code() != "QUERY_TOO_DEEP" {
			t.Fatalf("%s", a.raw)
		}
	})
	t.Run("SmallChainStillRuns", func(t *testing.T) {
		if a := query(t, srv, fragmentChain(3, `__typename`)); a.code() != "" {
			t.Fatalf("%s", a.raw)
		}
	})
}

// A document gqlgen serves from its cache skips the checks it passed
// before, but never a check of what changes between requests (its
// variables), and never a check it failed.
func TestChecksOfACachedDocument(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.Limits.MaxTokens = 300 })
	send := func(t *testing.T, doc string, vars map[string]any) answer {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"query": doc, "variables": vars})
		return post(t, srv, string(b))
	}
	want := func(t *testing.T, a answer, code string) {
		t.Helper()
		if a.code() != code {
			t.Fatalf("code %q, want %q: %.300s", a.code(), code, a.raw)
		}
	}
	t.Run("VariablesThatMakeItTooComplex", func(t *testing.T) {
		const doc = `query($n: Int) { users(first: $n) { edges { node { invoices(first: $n) { edges { node {
			createdBy { invoices(first: $n) { totalCount } } } } } } } } }`
		want(t, send(t, doc, map[string]any{"n": 1}), "")
		want(t, send(t, doc, map[string]any{"n": 100}), "QUERY_TOO_COMPLEX")
		want(t, send(t, doc, map[string]any{"n": 1}), "")
	})
	t.Run("VariablesThatCannotBeStored", func(t *testing.T) {
		const doc = `query($idp: String) { users(filter: {idpId: $idp}) { totalCount } }`
		want(t, send(t, doc, map[string]any{"idp": "auth0-prod"}), "")
		want(t, send(t, doc, map[string]any{"idp": "auth0\x00"}), "BAD_USER_INPUT")
		want(t, send(t, doc, map[string]any{"idp": "auth0-prod"}), "")
	})
	t.Run("RefusedEveryTime", func(t *testing.T) {
		for _, c := range []struct{ doc, code string }{
			{`{ users(first: 100) { edges { node { invoices(first: 100) { edges { node { createdBy { invoices(first: 100) { totalCount } } } } } } } } }`, "QUERY_TOO_COMPLEX"},
			{`{ buildings { edges { node { contacts { contact { buildings { building { contacts { contact { buildings { building { contacts { contact { id } } } } } } } } } } } } } }`, "QUERY_TOO_DEEP"},
			{`{ __schema { types { name } } }`, "INTROSPECTION_DISABLED"},
			{`{ users(filter: {search: "a\u0000"}) { totalCount } }`, "BAD_USER_INPUT"},
			{`{ ` + strings.Repeat("__typename ", 301) + `}`, "TOO_MANY_TOKENS"},
		} {
			for range 3 {
				want(t, send(t, c.doc, nil), c.code)
			}
		}
	})
	t.Run("EveryPageSizeCounts", func(t *testing.T) {
		// last pages as first does; a null first is the largest page; nodes
		// costs its fields once per id.
		nested := func(arg string) string {
			return `{ users(` + arg + `) { edges { node { invoices(` + arg + `) { edges { node { createdBy { invoices(` + arg + `) { totalCount } } } } } } } } }`
		}
		ids := strings.TrimSuffix(strings.Repeat(`"00000000-0000-0000-0000-000000000001",`, 100), ",")
		for _, doc := range []string{
			nested("last: 100"),
			nested("first: null"),
			nested("first: 1, last: 100"),
			`{ nodes(ids: [` + ids + `]) { ... on User { invoices(first: 100) { edges { node { createdBy { invoices(first: 100) { totalCount } } } } } } } }`,
		} {
			want(t, send(t, doc, nil), "QUERY_TOO_COMPLEX")
		}
		want(t, send(t, nested("last: 1"), nil), "")
	})
	t.Run("ADocumentThatPassedStillRuns", func(t *testing.T) {
		for range 3 {
			want(t, send(t, `{ users(first: 2) { totalCount } }`, nil), "")
		}
	})
}
