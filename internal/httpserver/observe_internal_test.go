package httpserver

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/graph"
)

// TestFieldsInterceptedOnlyWhenTracing reads the extensions the server
// installs: gqlgen runs a field interceptor on every field, so with tracing
// off there must be none.
func TestFieldsInterceptedOnlyWhenTracing(t *testing.T) {
	schema := graph.NewSchema(&graph.Resolver{})
	limits := Limits{Introspection: true, MaxTokens: 1000, Allowed: map[string]string{}, APQCacheSize: 10, MaxDepth: 5}
	// FastReads intercepts root fields only (it writes planned results);
	// it is always there and not counted.
	interceptors := func(d Deps) int {
		n := 0
		for _, e := range extensions(schema, d, lru.New[*ast.QueryDocument](10)) {
			if _, ok := e.(graphql.FieldInterceptor); ok && e.ExtensionName() != (graph.FastReads{}).ExtensionName() {
				n++
			}
		}
		return n
	}
	t.Run("Off", func(t *testing.T) {
		if n := interceptors(Deps{Limits: limits}); n != 0 {
			t.Fatalf("%d field interceptors with tracing off", n)
		}
	})
	t.Run("On", func(t *testing.T) {
		tp := sdktrace.NewTracerProvider()
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		if n := interceptors(Deps{Limits: limits, Tracer: tp}); n != 1 {
			t.Fatalf("%d field interceptors with tracing on, want 1", n)
		}
	})
}

// TestFieldSpansOnlyUnderASampledSpan calls the field interceptor of a
// resolver field under a caller's trace that is not sampled (it costs no
// allocation: no name, no path) and under a sampled span that has ended, as
// the parent field's has when its children resolve (it records the field's
// span, named by field, holding its path).
func TestFieldSpansOnlyUnderASampledSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := tracing{ops: newOperations(nil), tracer: tp.Tracer(tracerName)}
	fc := &graphql.FieldContext{Object: "Building", IsResolver: true,
		Field: graphql.CollectedField{Field: &ast.Field{Alias: "contacts", Name: "contacts"}}}
	next := func(context.Context) (any, error) { return nil, nil }

	t.Run("NotSampled", func(t *testing.T) {
		caller := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true, // trace flags 00: not sampled
		})
		ctx := graphql.WithFieldContext(trace.ContextWithRemoteSpanContext(context.Background(), caller), fc)
		if n := testing.AllocsPerRun(100, func() { _, _ = tr.InterceptField(ctx, next) }); n != 0 {
			t.Errorf("%v allocations per field under an unsampled trace, want 0", n)
		}
		if got := len(rec.Ended()); got != 0 {
			t.Errorf("%d spans recorded under an unsampled trace", got)
		}
	})
	t.Run("Sampled", func(t *testing.T) {
		ctx, parent := tp.Tracer("test").Start(context.Background(), "graphql.resolve Query.buildings")
		parent.End()
		_, _ = tr.InterceptField(graphql.WithFieldContext(ctx, fc), next)
		var path string
		for _, s := range rec.Ended() {
			if s.Name() != "graphql.resolve Building.contacts" {
				continue
			}
			for _, kv := range s.Attributes() {
				if kv.Key == "graphql.field.path" {
					path = kv.Value.AsString()
				}
			}
		}
		if path != "contacts" {
			t.Errorf("no span graphql.resolve Building.contacts with path contacts; spans: %d, path %q", len(rec.Ended()), path)
		}
	})
}
