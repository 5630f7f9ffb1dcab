package httpserver

import (
	"context"
	"log/slog"
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

	"github.com/propertyportal/gateway/internal/logging"
	"github.com/propertyportal/gateway/internal/metrics"
)

// observeHTTP logs one line per request (its route, never its path),
// counts requests by route and status and, when tracing is on (tp set),
// gives each request a server span named by method and route that
// continues a caller's W3C trace context. The span holds the method, route
// and status only: no path, query, client address or user agent. With
// tracing off it starts no span and reads no trace header.
func observeHTTP(log *slog.Logger, tp trace.TracerProvider, mux routes) http.Handler {
	// serve runs the request as r (under its span, if any) on the mux and
	// accounts for it as outer, the request as it came, by its route: rt,
	// or the route the mux served when rt is "".
	serve := func(w http.ResponseWriter, r, outer *http.Request, rt string) int {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if rt == "" {
			rt = mux.served(r)
		}
		metrics.ObserveHTTP(rt, rec.status)
		log.LogAttrs(outer.Context(), slog.LevelInfo, "request", slog.String("request_id", logging.RequestID(outer.Context())),
			slog.String("method", methodOf(outer)), slog.String("route", rt), slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
		return rec.status
	}
	if tp == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, r, "") })
	}
	tracer := tp.Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, method := mux.of(r), methodOf(r) // the span is named before the mux runs
		name := rt
		if _, path, ok := strings.Cut(rt, " "); ok { // the pattern names the method too
			name = path
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, method+" "+name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRoute(rt)))
		defer span.End()
		status := serve(w, r.WithContext(ctx), r, rt)
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

const tracerName = "github.com/propertyportal/gateway/internal/httpserver"

// observer is a gqlgen extension on every request: it counts operations
// by name (only names of the allow-list's operations), their latency and
// their errors by code. It intercepts no field: gqlgen runs a field
// interceptor on every field of every response.
type observer struct {
	ops *metrics.Operations
}

// newOperations labels operations by the allow-list (hash to text; nil
// when there is none).
func newOperations(allowed map[string]string) *metrics.Operations {
	docs := make([]string, 0, len(allowed))
	for _, d := range allowed {
		docs = append(docs, d)
	}
	return metrics.NewOperations(docs)
}

func (observer) ExtensionName() string                   { return "Observer" }
func (observer) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse sees every response, executed or refused before
// execution.
func (o observer) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	label, start := operation(ctx, o.ops)
	resp := next(ctx)
	if resp == nil {
		return resp
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		metrics.ObserveError(code)
	}
	metrics.ObserveOperation(label, outcome(resp), time.Since(start))
	return resp
}

// operation is the operation's label and when it started (now when
// gqlgen has not started it: a document refused before parsing).
func operation(ctx context.Context, ops *metrics.Operations) (label string, start time.Time) {
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
	return ops.Label(doc, name), start
}

// outcome is "ok", "error" (data with errors) or "refused" (errors and no
// data).
func outcome(resp *graphql.Response) string {
	switch {
	case resp.Data == nil && len(resp.Errors) > 0:
		return "refused"
	case len(resp.Errors) > 0:
		return "error"
	}
	return "ok"
}

// tracing is the gqlgen extension installed only when tracing is on: a
// span for the operation and one for every resolver field (those that call
// a resolver or a loader; plain struct fields get none), named by field and
// holding its path, never arguments or variables. A span is started only
// under a sampled one (the request's, the operation's or the parent
// field's, which gqlgen ends before the children resolve): the SDK's
// parent-based sampling would not record it anyway, and its name and path
// cost allocations on every resolver field.
type tracing struct {
	ops    *metrics.Operations
	tracer trace.Tracer
}

func (tracing) ExtensionName() string                   { return "Tracing" }
func (tracing) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse traces the operation under the request's span.
func (t tracing) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return next(ctx)
	}
	label, _ := operation(ctx, t.ops)
	ctx, span := t.tracer.Start(ctx, "graphql.operation "+label, trace.WithAttributes(attribute.String("graphql.operation.name", label)))
	defer span.End()
	resp := next(ctx)
	if resp != nil {
		if o := outcome(resp); o != "ok" {
			span.SetStatus(codes.Error, o)
		}
	}
	return resp
}

// InterceptField traces a resolver field under a sampled span.
func (t tracing) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver || !trace.SpanContextFromContext(ctx).IsSampled() {
		return next(ctx)
	}
	ctx, span := t.tracer.Start(ctx, "graphql.resolve "+fc.Object+"."+fc.Field.Name,
		trace.WithAttributes(attribute.String("graphql.field.path", fc.Path().String())))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "resolver error")
	}
	return res, err
}
