package httpserver

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/internal/metrics"
)

// observeHTTP counts requests by route and status and, when tracing is on
// (tp set), gives each request a server span named by method and route that
// continues a caller's W3C trace context. The span holds the method, route
// and status only: no path, query, client address or user agent. With
// tracing off it starts no span and reads no trace header.
func observeHTTP(tp trace.TracerProvider, route func(*http.Request) string, next http.Handler) http.Handler {
	serve := func(w http.ResponseWriter, r *http.Request, rt string) int {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		metrics.ObserveHTTP(rt, rec.status)
		return rec.status
	}
	if tp == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, route(r)) })
	}
	tracer := tp.Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, method := route(r), methodOf(r)
		name := rt
		if _, path, ok := strings.Cut(rt, " "); ok { // the pattern names the method too
			name = path
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, method+" "+name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRoute(rt)))
		defer span.End()
		status := serve(w, r.WithContext(ctx), rt)
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

const tracerName = "github.com/propertyportal/gateway/internal/httpserver"

// observer is a gqlgen extension: it counts operations by name (only names
// of the allow-list's operations), their latency and their errors by code,
// and traces the operation and every resolver field (by field path, never
// arguments or variables).
type observer struct {
	ops    *metrics.Operations
	tracer trace.Tracer
}

// newObserver labels operations by the allow-list (hash to text; nil when
// there is none).
func newObserver(allowed map[string]string) observer {
	docs := make([]string, 0, len(allowed))
	for _, d := range allowed {
		docs = append(docs, d)
	}
	return observer{ops: metrics.NewOperations(docs), tracer: otel.Tracer(tracerName)}
}

func (observer) ExtensionName() string                   { return "Observer" }
func (observer) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse sees every response, executed or refused before
// execution.
func (o observer) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	doc, name, start := "", "", time.Now()
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation != nil { // the name the document gives, not the request's operationName
			doc, name = oc.RawQuery, oc.Operation.Name
		}
		if !oc.Stats.OperationStart.IsZero() {
			start = oc.Stats.OperationStart
		}
	}
	label := o.ops.Label(doc, name)
	ctx, span := o.tracer.Start(ctx, "graphql.operation "+label, trace.WithAttributes(attribute.String("graphql.operation.name", label)))
	defer span.End()
	resp := next(ctx)
	if resp == nil {
		return resp
	}
	outcome := "ok"
	switch {
	case resp.Data == nil && len(resp.Errors) > 0:
		outcome = "refused"
	case len(resp.Errors) > 0:
		outcome = "error"
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		metrics.ObserveError(code)
	}
	if outcome != "ok" {
		span.SetStatus(codes.Error, outcome)
	}
	metrics.ObserveOperation(label, outcome, time.Since(start))
	return resp
}

// InterceptField traces resolver fields (those that call a resolver or a
// loader); plain struct fields get no span.
func (o observer) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	ctx, span := o.tracer.Start(ctx, "graphql.resolve "+fc.Object+"."+fc.Field.Name,
		trace.WithAttributes(attribute.String("graphql.field.path", fc.Path().String())))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "resolver error")
	}
	return res, err
}
