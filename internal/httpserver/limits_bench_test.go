package httpserver

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"github.com/propertyportal/gateway/graph"
)

// BenchmarkOperationLimitFragmentChain measures the limits on documents of n
// fragments that each spread the next twice. The work is linear in n: the
// ns/fragment figure stays flat as n grows (a walk that followed every
// spread would double per fragment).
func BenchmarkOperationLimitFragmentChain(b *testing.B) {
	schema := graph.NewSchema(&graph.Resolver{})
	limit := operationLimit{maxDepth: 12, maxAliases: 30, maxComplexity: 50000, schema: costed{ExecutableSchema: schema, maxPage: 100}}
	for _, n := range []int{25, 50, 100, 200} {
		var src strings.Builder
		src.WriteString("query { ...F0 }\n")
		for i := range n {
			src.WriteString("fragment F" + strconv.Itoa(i) + " on Query { ...F" + strconv.Itoa(i+1) + " ...F" + strconv.Itoa(i+1) + " }\n")
		}
		src.WriteString("fragment F" + strconv.Itoa(n) + " on Query { buildings(first: 100) { totalCount } }\n")
		doc, errs := gqlparser.LoadQuery(schema.Schema(), src.String())
		if errs != nil {
			b.Fatal(errs)
		}
		op := &graphql.OperationContext{Operation: doc.Operations[0], Variables: map[string]any{}}
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if err := limit.MutateOperationContext(context.Background(), op); err == nil || err.Extensions["code"] != codeTooComplex {
					b.Fatalf("not refused as too complex: %v", err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/fragment")
		})
	}
}
