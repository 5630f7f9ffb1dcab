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
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/cors"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/live"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/logging"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/postgres"
)

// The middleware chain, in the order a request passes through it. Every
// request:
//
//	recoverer        a panic below is logged and answered 500 INTERNAL
//	withRequestID    the request id, the caller's when it looks generated
//	observeHTTP      access log line, request metrics, server span
//	(the mux routes it; /graphql then passes:)
//	withCORS         CORS for the configured origins, and their preflights
//	allowMethods     405 for the methods and GETs /graphql does not take
//	observeCancel    counts and logs a request its client gave up on
//	admit            the bound on executing requests (admission.go)
//	withTimeout      REQUEST_TIMEOUT over everything below
//	authenticate     the caller's scope, or 401
//	loader           the request's loaders (loader.Middleware)
//	countStatements  X-SQL-Statements, and the database seen up
//	(the GraphQL handler, graphql.go)
//
// A stream (a WebSocket, or POST with Accept: text/event-stream; stream.go)
// passes the same chain but holds its admission slot only until it is
// established, runs without REQUEST_TIMEOUT, and, for a WebSocket, signs
// in with its connection_init rather than a header.

// outermost wraps the mux in the chain every request passes.
func outermost(d Deps, mux routes) http.Handler {
	return recoverer(d.Log,
		withRequestID(
			observeHTTP(d.Log, d.Tracer, mux)))
}

// graphQLChain wraps the GraphQL handler in the chain of /graphql.
func graphQLChain(d Deps, db *outage, gql http.Handler) http.Handler {
	return withCORS(d.CORSAllowedOrigins,
		allowMethods(d.GraphQLGet,
			observeCancel(d.Log,
				admit(d.Admission, maxBody(d.Limits),
					withTimeout(d.RequestTimeout,
						authenticate(d.Log, db, d.Authenticator,
							loader.Middleware(d.Stores)(
								countStatements(db, gql))))))))
}

// recoverer answers a panic below with 500 INTERNAL and logs it with the
// request id; http.ErrAbortHandler passes on.
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

// withCORS lets the listed origins call the endpoint from a browser and
// answers their preflights; other origins get no CORS headers, so browsers
// keep the response from their pages. Bearer tokens, not cookies, carry
// credentials, so credentialed CORS stays off. With no origins there is no
// CORS at all (rs/cors would read an empty list as "every origin").
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "X-Request-ID"},
		ExposedHeaders: []string{"X-Request-ID", "X-SQL-Statements", "Retry-After"}, // Retry-After: of a 503 OVERLOADED or UNAVAILABLE
		MaxAge:         600,
	}).Handler(next)
}

// allowMethods refuses, before sign-in and before anything is read, the
// requests /graphql does not take: POST always; GET as mode (GRAPHQL_GET)
// says: any query, only persisted queries named by their hash without
// their text (what a CDN can cache), or none. A refusal is 405 with Allow.
func allowMethods(mode config.GetMode, next http.Handler) http.Handler {
	allow := "POST"
	if mode == config.GetOn || mode == config.GetPersisted {
		allow = "GET, POST"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed, msg := allow, "use GET for queries or POST"
		switch {
		case r.Method == http.MethodPost, r.Method == http.MethodGet && (mode == config.GetOn || isWebSocket(r)):
			next.ServeHTTP(w, r)
			return
		case r.Method == http.MethodGet && mode == config.GetPersisted:
			if !r.URL.Query().Has("query") {
				next.ServeHTTP(w, r)
				return
			}
			allowed, msg = "POST", "GET takes only persisted queries, by their hash without their text; use POST"
		case r.Method == http.MethodGet:
			msg = "GET is not accepted here; use POST"
		case allowed == "POST":
			msg = "use POST"
		}
		media, _ := negotiate(r.Header.Values("Accept"))
		w.Header().Set("Allow", allowed)
		refuse(w, media, apperr.CodeMethodNotAllowed, msg)
	})
}

// observeCancel counts a request whose client went away before its answer
// and logs it once, at debug: it is no error of the gateway, and the
// errors of its fields are not logged (graph.ErrorPresenter).
func observeCancel(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if errors.Is(r.Context().Err(), context.Canceled) && !isStream(r) { // a client ends its stream by going away
			metrics.ObserveCancelled()
			log.DebugContext(r.Context(), "request cancelled", "request_id", logging.RequestID(r.Context()))
		}
	})
}

// admit bounds the requests next executes at once to a.MaxConcurrent: a
// request beyond them waits for a slot, first come first served, while
// fewer than a.Queue wait and for at most a.Wait; any other is answered
// 503 OVERLOADED with Retry-After at once. It runs before the body is
// parsed and the credential verified, so a refusal costs a header and a
// write; a waiting request whose client goes away leaves the queue (see
// readBody). With no bound (a.MaxConcurrent 0) it is next itself.
func admit(a Admission, maxBody int64, next http.Handler) http.Handler {
	if a.MaxConcurrent <= 0 {
		return next
	}
	ad := &admission{slots: make(chan struct{}, a.MaxConcurrent), queue: int64(a.Queue), wait: a.Wait, maxBody: maxBody, next: next}
	if a.Queue < 0 || a.Wait <= 0 {
		ad.queue = 0
	}
	return ad
}

// withTimeout bounds each request's work, from sign-in and parsing to the
// last resolver: everything below it sees the deadline (and the client's
// going away) through the context.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) { // a subscription lives until its token's exp; each event is ids and a status
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate puts the caller's scope in the context (and when its
// credential ends, which ends its subscriptions: live.WithExpiry), or
// answers 401 with a GraphQL error and nothing that tells why. A failure
// of the gateway itself while signing in is a 503: UNAVAILABLE with
// Retry-After when the database cannot be reached (logged once per outage,
// by db), INTERNAL logged with the request id otherwise, and nothing
// logged when the client has gone away. A WebSocket passes unsigned: it
// signs in with its connection_init (websocketTransport).
func authenticate(log *slog.Logger, db *outage, a auth.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocket(r) {
			next.ServeHTTP(w, r)
			return
		}
		s, until, err := signIn(log, db, a, r)
		switch k := apperr.KindOf(err); {
		case err == nil:
			next.ServeHTTP(w, r.WithContext(live.WithExpiry(access.WithScope(r.Context(), s), until)))
		case k == apperr.Unauthenticated:
			writeError(w, http.StatusUnauthorized, apperr.Unauthenticated, "sign-in required")
		case k == apperr.Unavailable:
			writeError(w, http.StatusServiceUnavailable, apperr.Unavailable, "the database is unavailable")
		default:
			writeError(w, http.StatusServiceUnavailable, apperr.Internal, "internal error")
		}
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
