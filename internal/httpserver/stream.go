package httpserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/live"
	"github.com/propertyportal/gateway/internal/logging"
)

// Subscriptions configure the two streaming transports of /graphql:
// graphql-ws (the graphql-transport-ws subprotocol) over WebSocket and
// GraphQL over SSE. They carry subscriptions only; queries and mutations go
// by POST (or GET). A stream holds an admission slot only until it is
// established (the WebSocket upgrade; for SSE, until the operation is
// parsed, validated and limited): an open subscription is bounded by
// MAX_SUBSCRIPTIONS (live.Hub) and PerConnection instead, and runs without
// REQUEST_TIMEOUT, until its token's exp.
type Subscriptions struct {
	PerConnection int           // SUBSCRIPTIONS_PER_CONNECTION: on one WebSocket; 0: no bound
	KeepAlive     time.Duration // SUBSCRIPTION_KEEPALIVE: pings on an idle stream; 15 s when zero
}

// wsInitTimeout is how long a WebSocket may take to send connection_init.
const wsInitTimeout = 10 * time.Second

// isWebSocket reports whether r asks for a WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// isEventStream reports whether r asks for GraphQL over SSE.
func isEventStream(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// isStream reports whether r opens a stream.
func isStream(r *http.Request) bool { return isWebSocket(r) || isEventStream(r) }

// keepAlive is the ping interval of streams.
func keepAlive(s Subscriptions) time.Duration {
	if s.KeepAlive <= 0 {
		return 15 * time.Second
	}
	return s.KeepAlive
}

// websocketTransport is gqlgen's graphql-ws transport, authenticated in
// connection_init (its payload's Authorization, "Bearer <token>", since a
// browser cannot set headers on a WebSocket) as a query is by its header,
// and open only to the origins CORS_ALLOWED_ORIGINS lets call /graphql (a
// request without Origin, from no browser, and one from the gateway's own
// origin pass too). A refused connection_init closes the socket with 4403.
func websocketTransport(d Deps, db *outage) wsTransport {
	limit := maxBody(d.Limits)
	perConn := d.Subscriptions.PerConnection
	return wsTransport{origins: d.CORSAllowedOrigins, Websocket: transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{
			OriginPatterns: d.CORSAllowedOrigins,
		}},
		InitTimeout: wsInitTimeout,
		// graphql-transport-ws: a ping each interval, and a client that
		// answers no pong for two is dropped; the legacy graphql-ws: "ka".
		PingPongInterval:      keepAlive(d.Subscriptions),
		KeepAlivePingInterval: keepAlive(d.Subscriptions),
		PayloadReadLimit:      &limit,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			r := (&http.Request{Header: http.Header{"Authorization": {p.Authorization()}}}).WithContext(ctx)
			s, until, err := signIn(d.Log, db, d.Authenticator, r)
			if err != nil {
				ctx = transport.WithWebsocketCloseCode(ctx, 4403)
				return transport.AppendCloseReason(ctx, "Forbidden"), nil, err
			}
			ctx = withStream(live.WithExpiry(access.WithScope(ctx, s), until))
			return live.WithConnection(ctx, perConn), nil, nil
		},
		ErrorFunc: func(ctx context.Context, err error) {
			d.Log.DebugContext(ctx, "websocket closed", "request_id", logging.RequestID(ctx), "error", err.Error())
		},
	}}
}

// wsTransport is the WebSocket transport on a connection that may outlive
// READ_TIMEOUT, which the server set on it for the upgrade request.
type wsTransport struct {
	transport.Websocket
	origins []string // CORS_ALLOWED_ORIGINS, as scheme://host
}

// originAllowed is CORS's policy for a WebSocket, which a browser opens
// without a preflight: no Origin (no browser), the gateway's own origin, or
// one of the CORS origins. The WebSocket library checks the same again.
func (t wsTransport) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range t.origins {
		if strings.EqualFold(o, u.Scheme+"://"+u.Host) {
			return true
		}
	}
	return false
}

func (t wsTransport) Supports(r *http.Request) bool { return isWebSocket(r) }

func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.originAllowed(r) {
		writeError(w, http.StatusForbidden, apperr.Forbidden, "this origin may not open a WebSocket to the gateway")
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	t.Websocket.Do(w, r, exec)
}

// untilAuthenticator is an Authenticator that also tells when a credential
// ends (auth.Verifier, authtest.Authenticator).
type untilAuthenticator interface {
	AuthenticateUntil(r *http.Request) (access.Scope, time.Time, error)
}

// signIn is the caller's scope and when its credential ends (zero when the
// authenticator does not say), or the error to answer: UNAUTHENTICATED
// with nothing that tells why, UNAVAILABLE when the database is down,
// INTERNAL (logged) otherwise.
func signIn(log *slog.Logger, db *outage, a auth.Authenticator, r *http.Request) (access.Scope, time.Time, error) {
	if a == nil {
		return access.Scope{}, time.Time{}, apperr.E(apperr.Unauthenticated, "sign-in required")
	}
	var (
		s     access.Scope
		until time.Time
		err   error
	)
	if ua, ok := a.(untilAuthenticator); ok {
		s, until, err = ua.AuthenticateUntil(r)
	} else {
		s, err = a.Authenticate(r)
	}
	switch {
	case err == nil:
		return s, until, nil
	case db.seen(r.Context(), err):
		return s, until, apperr.E(apperr.Unavailable, "the database is unavailable")
	case errors.Is(r.Context().Err(), context.Canceled):
		return s, until, apperr.E(apperr.Internal, "internal error")
	case apperr.KindOf(err) != apperr.Unauthenticated:
		log.ErrorContext(r.Context(), "sign-in failed", "request_id", logging.RequestID(r.Context()), "error", err.Error())
		return s, until, apperr.E(apperr.Internal, "internal error")
	}
	return s, until, apperr.E(apperr.Unauthenticated, "sign-in required")
}

// sseTransport is gqlgen's GraphQL over SSE ("distinct connections mode":
// one subscription per request, authenticated by its Authorization header
// in the chain), with the body read and checked here first, within
// MAX_BODY_BYTES: gqlgen's own decoding would log a body it cannot decode.
type sseTransport struct {
	transport.SSE
	maxBody int64
}

func (t sseTransport) Supports(r *http.Request) bool { return isEventStream(r) }

func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !jsonContentType(r.Header.Get("Content-Type")) {
		refuse(w, mediaJSON, apperr.CodeUnsupportedMedia, "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, t.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			refuse(w, mediaJSON, apperr.CodeRequestTooLarge, "request body larger than "+strconv.FormatInt(t.maxBody, 10)+" bytes")
			return
		}
		refuse(w, mediaJSON, apperr.CodeBadRequest, "could not read the request body")
		return
	}
	if _, err := decodeParams(bytes.TrimSpace(body)); err != nil {
		refuse(w, mediaJSON, apperr.CodeBadRequest, err.Error())
		return
	}
	r2 := r.WithContext(withStream(r.Context()))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{}) // the body is read; the stream may outlive READ_TIMEOUT
	t.SSE.Do(flushWriter{w}, r2, exec)
}

// flushWriter flushes through the wrappers of the chain below it (which
// unwrap, but do not flush themselves): gqlgen's SSE asks w for
// http.Flusher.
type flushWriter struct{ http.ResponseWriter }

func (f flushWriter) Flush() { _ = http.NewResponseController(f.ResponseWriter).Flush() }

func (f flushWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// subscriptionsOnly refuses, on a stream, any operation but a
// subscription: a query or a mutation goes by POST, under REQUEST_TIMEOUT
// and the admission bound, which a stream leaves once it is open; and over
// POST, a subscription, which needs a stream.
type subscriptionsOnly struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = subscriptionsOnly{}

func (subscriptionsOnly) ExtensionName() string                   { return "SubscriptionsOnStreams" }
func (subscriptionsOnly) Validate(graphql.ExecutableSchema) error { return nil }
func (subscriptionsOnly) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx).Operation
	onStream := onStream(ctx)
	if op == nil || onStream == (op.Operation == ast.Subscription) {
		return next(ctx)
	}
	msg := "a stream (graphql-ws or SSE) takes subscriptions only: send queries and mutations by POST"
	if !onStream {
		msg = "subscriptions need a stream: graphql-ws over WebSocket, or SSE (Accept: text/event-stream)"
	}
	return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{codedError(apperr.CodeBadRequest, msg)}})
}

type streamKey struct{}

// withStream marks ctx as a stream's.
func withStream(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamKey{}, true)
}

func onStream(ctx context.Context) bool { v, _ := ctx.Value(streamKey{}).(bool); return v }

// streamSlot releases a stream's admission slot when the stream is
// established: at its first write, flush or hijack (the WebSocket upgrade),
// or when the handler returns, whichever comes first.
type streamSlot struct {
	http.ResponseWriter
	once    sync.Once
	release func()
}

func (s *streamSlot) done() { s.once.Do(s.release) }

func (s *streamSlot) WriteHeader(code int) { s.done(); s.ResponseWriter.WriteHeader(code) }

func (s *streamSlot) Write(b []byte) (int, error) { s.done(); return s.ResponseWriter.Write(b) }

func (s *streamSlot) Flush() { s.done(); _ = http.NewResponseController(s.ResponseWriter).Flush() }

func (s *streamSlot) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.done()
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *streamSlot) Unwrap() http.ResponseWriter { return s.ResponseWriter }
