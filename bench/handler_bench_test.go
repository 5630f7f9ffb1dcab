package bench

import (
	"encoding/json"
	"testing"
)

// BenchmarkHandler is the cost of one request through the whole handler
// (request id, access log, authentication, loaders, statement counting,
// gqlgen, resolvers, planner, stores, PostgreSQL) on the small seeded
// database, one request at a time; no level waits for a timer.
// "typename" asks for nothing but __typename: the middleware and gqlgen
// floor, no SQL. stmts/op is the statements a request sent.
func BenchmarkHandler(b *testing.B) {
	f := newFixture(b)
	typename, _ := json.Marshal(map[string]any{"query": "{ __typename }"})
	qs := append([]query{{name: "typename", scope: f.admin, body: typename}}, f.queries(b)...)
	for _, q := range qs {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			stmts := 0
			for b.Loop() {
				_, n := f.post(b, q.scope, q.body, nil)
				stmts += n
			}
			b.ReportMetric(float64(stmts)/float64(b.N), "stmts/op")
		})
	}
}

// BenchmarkHandlerParallel is BenchmarkHandler for Q2 and Q4 with
// concurrent requests (GOMAXPROCS goroutines): the throughput side.
func BenchmarkHandlerParallel(b *testing.B) {
	f := newFixture(b)
	for _, q := range f.queries(b) {
		if q.name != "Q2" && q.name != "Q4" {
			continue
		}
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f.post(b, q.scope, q.body, nil)
				}
			})
		})
	}
}
