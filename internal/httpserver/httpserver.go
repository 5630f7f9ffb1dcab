// Package httpserver is the gateway's HTTP surface: the GraphQL endpoint, the
// GraphiQL page (when configured), health checks, and the middleware chain every request passes
// (chain.go, in the order a request passes: recover, request id, access log, CORS,
// methods, admission, timeout, authentication, per-request loaders, statement count). It
// logs no credential and no PII: only method, route (the pattern a request
// matched, never its path), status, duration and ids.
package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/metrics"
)

// Deps are what the server needs.
type Deps struct {
	Log *slog.Logger
	DBs []*sqlx.DB // pinged by /readyz
	// Schema is the GraphQL schema with its resolvers (graph.NewSchema),
	// built by the caller over the same stores as Stores. nil, for tests:
	// one over Stores without identity updates or erasure.
	Schema graphql.ExecutableSchema
	// Stores are what each request's loaders batch reads through.
	Stores        loader.Stores
	Authenticator auth.Authenticator
	// MaxPageSize is the resolvers' cap on `first`, which the cost of a
	// connection is counted with; config.DefaultMaxPageSize when zero.
	MaxPageSize int
	// GraphiQL, when set, configures the GraphiQL page served at "/" (and
	// its assets); nil serves no page.
	GraphiQL *graphiql.Options
	// GraphQLGet says which queries /graphql takes over GET; none when
	// empty.
	GraphQLGet config.GetMode
	// DevIdP, when set, is the dev issuer's handler, served under /dev-idp/
	// (gateway dev only).
	DevIdP http.Handler

	Webhooks http.Handler // POST /webhooks/{idp_id}; nil: not served
	Limits   Limits
	// RequestTimeout bounds one GraphQL request; none when zero.
	RequestTimeout time.Duration
	// Admission bounds the GraphQL requests executing at once; its zero
	// value admits every request.
	Admission Admission
	// CORSAllowedOrigins may call /graphql from a browser, and open a
	// WebSocket to it; none when empty.
	CORSAllowedOrigins []string
	// Subscriptions bound the streams (graphql-ws, SSE) of /graphql.
	Subscriptions Subscriptions
	// MetricsOnMain serves /metrics on this handler, to everyone who
	// reaches it.
	MetricsOnMain bool
	// Tracer, when set (metrics.SetupTracing's provider), traces each request,
	// its GraphQL operation and its resolver fields; nil: tracing is off
	// and no field is intercepted.
	Tracer trace.TracerProvider
}

// New returns the gateway's HTTP handler.
func New(d Deps) http.Handler {
	if d.Schema == nil {
		st := d.Stores
		d.Schema = graph.NewSchema(&graph.Resolver{Directory: st.Directory, Comms: st.Comms, Property: st.Property,
			Bookkeeping: st.Bookkeeping, MaxPage: d.MaxPageSize})
	}
	db := &outage{log: d.Log}
	gql := newGraphQL(d.Schema, d, db)

	mux := routes{http.NewServeMux(), map[string]bool{}}
	mux.handle("/graphql", graphQLChain(d, db, gql))
	if d.Webhooks != nil { // IdPs authenticate themselves: outside the caller authentication
		mux.handle("POST /webhooks/{idp_id}", d.Webhooks)
	}
	mux.handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
	mux.handle("GET /readyz", ready(d.DBs))
	if d.GraphiQL != nil {
		gi := graphiql.Handler(*d.GraphiQL) // its page and assets only: other paths stay unmatched
		mux.handle("/{$}", gi)
		mux.handle(graphiql.AssetPrefix, gi)
	}
	if d.DevIdP != nil {
		mux.handle("/dev-idp/", http.StripPrefix("/dev-idp", d.DevIdP))
	}
	if d.MetricsOnMain {
		mux.handle("GET /metrics", metrics.Handler())
	}
	return outermost(d, mux)
}

// routes is the mux and the patterns registered on it.
type routes struct {
	*http.ServeMux
	patterns map[string]bool
}

func (rt routes) handle(pattern string, h http.Handler) {
	rt.Handle(pattern, h)
	rt.patterns[pattern] = true
}

// of is the route of a request, what logs, metrics and spans name it by:
// the pattern it matches, or "unmatched". Never its path, which may hold
// anything a client writes (ServeMux.Handler returns the cleaned path
// itself for a path it would redirect, hence the check).
func (rt routes) of(r *http.Request) string {
	if _, p := rt.Handler(r); rt.patterns[p] {
		return p
	}
	return "unmatched"
}

// served is the route of a request the mux has served: the pattern it
// left in r.Pattern (the same as of, without matching the request again),
// or of's answer when it left none.
func (rt routes) served(r *http.Request) string {
	if rt.patterns[r.Pattern] {
		return r.Pattern
	}
	if r.Pattern == "" {
		return rt.of(r)
	}
	return "unmatched" // the cleaned path of a redirect, as with of
}

// methodOf is the request's method when HTTP defines it, "_OTHER" (as
// OpenTelemetry spells it) for any other token a client sends.
func methodOf(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return r.Method
	}
	return "_OTHER"
}

func ready(dbs []*sqlx.DB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		for _, db := range dbs {
			if err := db.PingContext(ctx); err != nil {
				http.Error(w, "database unreachable", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	}
}
