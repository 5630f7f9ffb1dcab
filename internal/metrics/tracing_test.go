package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
)

func TestOffWithoutEndpoint(t *testing.T) {
	tp, stop, err := SetupTracing(context.Background(), "", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	if tp != nil {
		t.Fatalf("a tracer provider with tracing off: %T", tp)
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("t").Start(context.Background(), "x")
	if span.SpanContext().IsValid() {
		t.Fatal("a span was recorded with tracing off")
	}
}

func TestExportsToTheCollector(t *testing.T) {
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	tp, stop, err := SetupTracing(context.Background(), collector.URL, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	if tp == nil || otel.GetTracerProvider() != tp {
		t.Fatalf("provider %v, global %v: want the same one, installed", tp, otel.GetTracerProvider())
	}
	_, span := tp.Tracer("t").Start(context.Background(), "x")
	span.End()
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 {
		t.Fatal("no spans reached the collector")
	}
}
