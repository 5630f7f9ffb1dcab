package httpserver

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/logging"
)

// The codes of the limits (limits.go) and of a request that ran too long,
// named here from the one table, apperr.Codes.
const (
	codeTooManyTokens       = apperr.CodeTooManyTokens
	codeTooDeep             = apperr.CodeTooDeep
	codeTooManyAliases      = apperr.CodeTooManyAliases
	codeTooComplex          = apperr.CodeTooComplex
	codeOperationNotAllowed = apperr.CodeOperationNotAllowed
	codeIntrospectionOff    = apperr.CodeIntrospectionOff
	codeTimeout             = apperr.CodeTimeout
)

// newGraphQL is the gqlgen server with our transport, limits and error
// presenter, which tells db of every outage a request meets. The limits run in CreateOperationContext, so a refused
// document never reaches a resolver (and sends no SQL).
func newGraphQL(schema graphql.ExecutableSchema, d Deps, db *outage) *handler.Server {
	l := d.Limits
	gql := handler.New(schema)
	gql.AddTransport(websocketTransport(d, db))
	gql.AddTransport(sseTransport{SSE: transport.SSE{KeepAlivePingInterval: keepAlive(d.Subscriptions)}, maxBody: maxBody(l)})
	gql.AddTransport(httpTransport{maxBody: maxBody(l), maxBatch: l.MaxBatch})
	parsed := lru.New[*ast.QueryDocument](queryCacheSize)
	gql.SetQueryCache(parsed)
	gql.SetDisableSuggestion(!l.FieldSuggestions)
	if l.MaxTokens > 0 {
		gql.SetParserTokenLimit(l.MaxTokens + 1)
	}
	for _, e := range extensions(schema, d, parsed) {
		gql.Use(e)
	}
	present := graph.ErrorPresenter(d.Log, logging.RequestID)
	gql.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e := graphql.DefaultErrorPresenter(ctx, err)
			e.Message = "the request took too long"
			e.Extensions = map[string]any{"code": codeTimeout}
			return e
		}
		db.seen(ctx, err)
		return present(ctx, err)
	})
	gql.SetRecoverFunc(graph.Recover(d.Log))
	return gql
}

// maxBody is the largest request body the transport takes: MAX_BODY_BYTES,
// 1 MiB when zero.
func maxBody(l Limits) int64 {
	if l.MaxBodyBytes <= 0 {
		return config.DefaultMaxBodyBytes
	}
	return l.MaxBodyBytes
}

// queryCacheSize is how many parsed and validated documents gqlgen keeps,
// and how many operations each check that depends on the document alone
// remembers as passed.
const queryCacheSize = 1000

// extensions are the server's gqlgen extensions, the outermost first.
// Only tracing intercepts fields, and only when tracing is on: gqlgen
// calls a field interceptor for every field of every response. parsed is
// gqlgen's cache of parsed documents.
func extensions(schema graphql.ExecutableSchema, d Deps, parsed graphql.Cache[*ast.QueryDocument]) []graphql.HandlerExtension {
	l := d.Limits
	ops := newOperations(l.Allowed)
	exts := []graphql.HandlerExtension{observer{ops: ops}, subscriptionsOnly{}}
	if d.Tracer != nil {
		exts = append(exts, tracing{ops: ops, tracer: d.Tracer.Tracer(tracerName)})
	}
	if l.Introspection {
		exts = append(exts, extension.Introspection{})
	} else {
		exts = append(exts, noIntrospection{passed: newPassed()})
	}
	if l.MaxTokens > 0 {
		exts = append(exts, tokenLimit{max: l.MaxTokens, parsed: parsed})
	}
	if l.Allowed != nil {
		exts = append(exts, allowList{ops: l.Allowed})
	}
	if l.APQCacheSize > 0 {
		exts = append(exts, extension.AutomaticPersistedQuery{Cache: lru.New[string](l.APQCacheSize)})
	}
	if l.MaxDepth > 0 || l.MaxAliases > 0 || l.MaxComplexity > 0 {
		maxPage := d.MaxPageSize
		if maxPage <= 0 {
			maxPage = config.DefaultMaxPageSize
		}
		exts = append(exts, operationLimit{
			maxDepth: l.MaxDepth, maxAliases: l.MaxAliases, maxComplexity: l.MaxComplexity, introspection: l.Introspection,
			schema: costed{ExecutableSchema: schema, maxPage: maxPage}, passed: newPassed(),
		})
	}
	// Last, so tracing's field spans cover the writing of a root field.
	return append(exts, storableStrings{passed: newPassed()}, graph.FastReads{})
}
