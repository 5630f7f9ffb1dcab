// Package httpserver is the gateway's HTTP surface: the GraphQL endpoint, the
// GraphiQL page (when configured), health checks, and the middleware chain every request passes
// (recover, request id, access log, admission, authentication, per-request loaders). It
// logs no credential and no PII: only method, route (the pattern a request
// matched, never its path), status, duration and ids.
package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/logging"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/postgres"
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
	// CORSAllowedOrigins may call /graphql from a browser; none when empty.
	CORSAllowedOrigins []string
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
	mux.handle("/graphql", withCORS(d.CORSAllowedOrigins, allowMethods(d.GraphQLGet, observeCancel(d.Log, admit(d.Admission, maxBody(d.Limits),
		withTimeout(d.RequestTimeout, authenticate(d.Log, db, d.Authenticator, loader.Middleware(d.Stores)(countStatements(db, gql)))))))))
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
	return recoverer(d.Log, withRequestID(observeHTTP(d.Log, d.Tracer, mux)))
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

// authenticate puts the caller's scope in the context, or answers 401 with
// a GraphQL error and nothing that tells why. A failure of the gateway
// itself while signing in is a 503: UNAVAILABLE with Retry-After when the
// database cannot be reached (logged once per outage, by db), INTERNAL
// logged with the request id otherwise, and nothing logged when the client
// has gone away.
func authenticate(log *slog.Logger, db *outage, a auth.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == nil {
			writeError(w, http.StatusUnauthorized, apperr.Unauthenticated, "sign-in required")
			return
		}
		s, err := a.Authenticate(r)
		if err != nil {
			if db.seen(r.Context(), err) {
				writeError(w, http.StatusServiceUnavailable, apperr.Unavailable, "the database is unavailable")
				return
			}
			if errors.Is(r.Context().Err(), context.Canceled) {
				writeError(w, http.StatusServiceUnavailable, apperr.Internal, "internal error")
				return
			}
			if apperr.KindOf(err) != apperr.Unauthenticated {
				log.ErrorContext(r.Context(), "sign-in failed", "request_id", logging.RequestID(r.Context()), "error", err.Error())
				writeError(w, http.StatusServiceUnavailable, apperr.Internal, "internal error")
				return
			}
			writeError(w, http.StatusUnauthorized, apperr.Unauthenticated, "sign-in required")
			return
		}
		next.ServeHTTP(w, r.WithContext(access.WithScope(r.Context(), s)))
	})
}

// writeError answers a request that is refused before GraphQL runs with
// the code of kind, and its retry hint when the code has one.
func writeError(w http.ResponseWriter, status int, kind apperr.Kind, msg string) {
	row, _ := apperr.Lookup(kind.Code())
	metrics.ObserveError(row.Code)
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer`)
	}
	ext := map[string]any{"code": row.Code}
	if row.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(row.RetryAfter))
		ext["retryAfter"] = row.RetryAfter
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": ext}},
	})
}

// observeCancel counts a request whose client went away before its answer
// and logs it once, at debug: it is no error of the gateway, and the
// errors of its fields are not logged (graph.ErrorPresenter).
func observeCancel(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if errors.Is(r.Context().Err(), context.Canceled) {
			metrics.ObserveCancelled()
			log.DebugContext(r.Context(), "request cancelled", "request_id", logging.RequestID(r.Context()))
		}
	})
}

// countStatements counts the SQL statements a request sends and reports the
// count in the X-SQL-Statements response header. A request that sent
// statements and met no outage tells db the database is up.
func countStatements(db *outage, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, n := postgres.WithStatementCounter(r.Context())
		ctx, down := withOutageMark(ctx)
		start := time.Now()
		next.ServeHTTP(&statementsHeader{ResponseWriter: w, n: n}, r.WithContext(ctx))
		metrics.ObserveStatements(n.Load())
		if n.Load() > 0 && !down.Load() && ctx.Err() == nil {
			db.answered(ctx, start)
		}
	})
}

// statementsHeader sets X-SQL-Statements to the count so far just before
// the header is written.
type statementsHeader struct {
	http.ResponseWriter
	n    *atomic.Int64
	done bool
}

func (h *statementsHeader) WriteHeader(code int) {
	if !h.done {
		h.done = true
		h.Header().Set("X-Sql-Statements", strconv.FormatInt(h.n.Load(), 10)) // canonical: no key to allocate
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *statementsHeader) Write(b []byte) (int, error) {
	if !h.done {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(b)
}

func (h *statementsHeader) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// generatedID is the shape of an id that a proxy, a tracer or this gateway
// generates: a UUID, or 16 to 64 hex digits. A name, an email address or a
// phone number never has it.
var generatedID = regexp.MustCompile(`^(?:[0-9A-Fa-f]{16,64}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$`)

// withRequestID gives every request an id: the caller's X-Request-ID when it
// has the shape of a generated id, a new random one otherwise. It is echoed
// in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !generatedID.MatchString(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id) // canonical: no key to allocate
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic", "request_id", logging.RequestID(r.Context()), "panic", p)
				writeError(w, http.StatusInternalServerError, apperr.Internal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
