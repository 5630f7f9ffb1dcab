package httpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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
