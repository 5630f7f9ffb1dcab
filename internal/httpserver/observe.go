package httpserver

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/internal/metrics"
)

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
	if isSubscription(ctx) {
		return resp // an event of a subscription: its errors count, it has no duration of its own
	}
	metrics.ObserveOperation(label, outcome(resp), time.Since(start))
	return resp
}

// isSubscription reports whether ctx's operation is a subscription.
func isSubscription(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	return op != nil && op.Operation == ast.Subscription
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
