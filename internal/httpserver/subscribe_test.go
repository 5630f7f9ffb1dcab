package httpserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/auth0/auth0test"
	"github.com/propertyportal/gateway/internal/idp/idptest"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/live"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/property"
)

// liveEnv is two replicas of the gateway on one database: a, whose
// identity workers never run, takes the requests; b's workers apply the
// changes at an Auth0 fake.
type liveEnv struct {
	t    *testing.T
	db   *sqlx.DB
	fake *auth0test.Fake
	a, b *httptest.Server
}

func newLiveEnv(t *testing.T, subs httpserver.Subscriptions, o live.Options) *liveEnv {
	t.Helper()
	url := pgtest.URL(t)
	fake := auth0test.New(t)
	e := &liveEnv{t: t, fake: fake}
	replica := func(workers bool) *httptest.Server {
		db, err := postgres.Open(context.Background(), url, postgres.Options{MaxOpenConns: 5})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if e.db == nil {
			e.db = db
		}
		st := loader.Stores{Directory: directory.NewStore(db), Comms: comms.NewStore(db),
			Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db)}
		ads := map[string]providers.Admin{"auth0-prod": {AdminAdapter: auth0.New(fake.Config(), nil), RequestsPerSecond: 50}}
		svc := identity.New(db, st.Directory, st.Comms, ads, identity.Options{PollInterval: 20 * time.Millisecond, BackoffBase: 50 * time.Millisecond})
		if workers {
			ctx, cancel := context.WithCancel(context.Background())
			svc.Start(ctx)
			t.Cleanup(func() { cancel(); svc.Stop() })
		}
		hub := live.New(db, o)
		ctx, cancel := context.WithCancel(context.Background())
		stopped := hub.Listen(ctx, url)
		t.Cleanup(func() { cancel(); <-stopped })
		h := httpserver.New(httpserver.Deps{
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DBs: []*sqlx.DB{db},
			Schema: graph.NewSchema(&graph.Resolver{Directory: st.Directory, Comms: st.Comms, Property: st.Property,
				Bookkeeping: st.Bookkeeping, MaxPage: 100, Identity: svc, Live: hub}),
			Stores: st, Authenticator: authtest.Authenticator{}, MaxPageSize: 100,
			Limits: httpserver.Limits{MaxDepth: 12, MaxComplexity: 1000, MaxAliases: 3}, RequestTimeout: 5 * time.Second,
			Admission:          httpserver.Admission{MaxConcurrent: 1, Queue: 8, Wait: time.Second}, // streams take the slot only until established
			CORSAllowedOrigins: []string{"https://portal.example.com"},
			Subscriptions:      subs,
		})
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv
	}
	e.a = replica(false)
	e.b = replica(true)
	return e
}

// tenant is a new tenant.
func (e *liveEnv) tenant() uuid.UUID {
	e.t.Helper()
	id := uuid.New()
	e.exec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'Tenant')`, id)
	return id
}

// user is a user of tenant at the fake.
func (e *liveEnv) user(tenant uuid.UUID) uuid.UUID {
	e.t.Helper()
	id, ext := uuid.New(), "auth0|"+uuid.NewString()
	e.exec(`INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name, synced_at, created_at)
		VALUES ($1, $2, 'auth0-prod', $3, 'old@example.com', 'Old Name', now(), now())`, id, tenant, ext)
	e.fake.Put(idptest.User{ID: ext, Email: "old@example.com", FirstName: "Old Name"})
	return id
}

func (e *liveEnv) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

// changeEmail sends updateMyProfile as user to replica a and returns the
// status it answers.
func (e *liveEnv) changeEmail(tenant, user uuid.UUID, email string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($i: UpdateMyProfileInput!) { updateMyProfile(input: $i) { identitySync { status } } }`,
		"variables": map[string]any{"i": map[string]any{"email": email}},
	})
	req, _ := http.NewRequest(http.MethodPost, e.a.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authtest.Header(access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: user}))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct {
			UpdateMyProfile struct{ IdentitySync struct{ Status string } }
		}
		Errors []any
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		e.t.Fatalf("updateMyProfile: %v %v", err, out.Errors)
	}
	return out.Data.UpdateMyProfile.IdentitySync.Status
}

const subscription = `subscription { identitySyncChanged { changeId userId identitySync { status attempts reason } } }`

// wsClient speaks graphql-transport-ws.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	msgs   chan map[string]any
	closed error         // why the socket closed, once done is closed
	done   chan struct{} // closed when the socket has closed
	pings  atomic.Int32  // the server's pings, each answered with a pong
}

// dialWS opens a socket to srv and sends connection_init with auth.
func dialWS(t *testing.T, srv *httptest.Server, auth string, header http.Header) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	w := &wsClient{t: t, c: c, msgs: make(chan map[string]any, 64), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer close(w.msgs)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				w.closed = err
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m["type"] {
			case "ping":
				w.pings.Add(1)
				_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
			case "pong", "ka":
			default:
				w.msgs <- m
			}
		}
	}()
	w.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": auth}})
	return w, nil
}

func (w *wsClient) send(m map[string]any) {
	w.t.Helper()
	b, _ := json.Marshal(m)
	if err := w.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsClient) subscribe(id string) {
	w.send(map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": subscription}})
}

// next is the next message, or nil after wait (or when the socket closed).
func (w *wsClient) next(wait time.Duration) map[string]any {
	select {
	case m := <-w.msgs:
		return m
	case <-time.After(wait):
		return nil
	}
}

// want reads the next message and checks its type.
func (w *wsClient) want(typ string) map[string]any {
	w.t.Helper()
	m := w.next(10 * time.Second)
	if m == nil || m["type"] != typ {
		w.t.Fatalf("got %v, want a %s message", m, typ)
	}
	return m
}

// event is the identitySyncChanged of a next message.
func event(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	data, _ := m["payload"].(map[string]any)["data"].(map[string]any)
	ev, _ := data["identitySyncChanged"].(map[string]any)
	if ev == nil {
		t.Fatalf("no event in %v", m)
	}
	return ev
}

// errorCode is extensions.code of the first error of a next or error
// message.
func errorCode(m map[string]any) string {
	var errs []any
	switch p := m["payload"].(type) {
	case []any:
		errs = p
	case map[string]any:
		errs, _ = p["errors"].([]any)
	}
	if len(errs) == 0 {
		return ""
	}
	ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
	code, _ := ext["code"].(string)
	return code
}

func scopeHeader(role access.Role, tenant, user uuid.UUID) string {
	return authtest.Header(access.Scope{Role: role, TenantID: tenant, UserID: user})
}

func TestIdentitySyncChangedOverWebSocket(t *testing.T) {
	e := newLiveEnv(t, httpserver.Subscriptions{PerConnection: 2, KeepAlive: time.Second}, live.Options{})
	tenant, other := e.tenant(), e.tenant()
	jane, bob := e.user(tenant), e.user(other)

	t.Run("OtherReplicaApplies", func(t *testing.T) {
		own, err := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, jane), nil)
		if err != nil {
			t.Fatal(err)
		}
		own.want("connection_ack")
		own.subscribe("1")
		admin, _ := dialWS(t, e.a, scopeHeader(access.RoleAdmin, tenant, uuid.Nil), nil)
		admin.want("connection_ack")
		admin.subscribe("1")
		stranger, _ := dialWS(t, e.a, scopeHeader(access.RoleAdmin, other, uuid.Nil), nil)
		stranger.want("connection_ack")
		stranger.subscribe("1")
		bobs, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, other, bob), nil)
		bobs.want("connection_ack")
		bobs.subscribe("1")
		time.Sleep(200 * time.Millisecond) // the subscriptions are registered

		if got := e.changeEmail(tenant, jane, "jane@example.org"); got != "PENDING" {
			t.Fatalf("updateMyProfile answered %s, want PENDING: replica a has no workers", got)
		}
		for name, c := range map[string]*wsClient{"Own": own, "Admin": admin} {
			ev := event(t, c.want("next"))
			if ev["userId"] != jane.String() || ev["changeId"] == "" {
				t.Errorf("%s: event %v", name, ev)
			}
			if st := ev["identitySync"].(map[string]any)["status"]; st != "APPLIED" {
				t.Errorf("%s: status %v, want APPLIED (applied by replica b)", name, st)
			}
		}
		for name, c := range map[string]*wsClient{"OtherTenantAdmin": stranger, "OtherTenantUser": bobs} {
			if m := c.next(500 * time.Millisecond); m != nil {
				t.Errorf("%s got %v: another tenant's event", name, m)
			}
		}
	})

	t.Run("PendingThenAppliedAndFailed", func(t *testing.T) {
		u := e.user(tenant)
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, u), nil)
		c.want("connection_ack")
		c.subscribe("1")
		time.Sleep(200 * time.Millisecond)
		e.fake.SetDown(1) // the first attempt meets a 503, the retry succeeds
		e.changeEmail(tenant, u, "u1@example.org")
		first := event(t, c.want("next"))["identitySync"].(map[string]any)
		if first["status"] != "PENDING" || first["attempts"] != float64(1) || first["reason"] == nil {
			t.Errorf("after a failed attempt: %v, want PENDING with attempts 1 and a reason", first)
		}
		if got := event(t, c.want("next"))["identitySync"].(map[string]any); got["status"] != "APPLIED" {
			t.Errorf("after the retry: %v, want APPLIED", got)
		}

		var ext string
		if err := e.db.Get(&ext, `SELECT external_id FROM directory.users WHERE id = $1`, u); err != nil {
			t.Fatal(err)
		}
		e.fake.Force(ext, http.StatusBadRequest) // refused for good
		defer e.fake.Force(ext, 0)
		e.changeEmail(tenant, u, "u2@example.org")
		got := event(t, c.want("next"))["identitySync"].(map[string]any)
		if got["status"] != "FAILED" || got["reason"] == nil || strings.Contains(fmt.Sprint(got["reason"]), "u2@example.org") {
			t.Errorf("a refused change: %v, want FAILED with a reason free of the email", got)
		}
	})

	t.Run("PerConnectionBound", func(t *testing.T) {
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, jane), nil)
		c.want("connection_ack")
		c.subscribe("1")
		c.subscribe("2")
		c.subscribe("3") // gqlgen serves each in a goroutine: any one may come last
		m := c.want("next")
		if errorCode(m) != "RATE_LIMITED" {
			t.Errorf("a third subscription: %v, want RATE_LIMITED", m)
		}
		c.want("complete")
		if m := c.next(300 * time.Millisecond); m != nil {
			t.Errorf("the two others got %v", m)
		}
	})

	t.Run("ExpiryEnds", func(t *testing.T) {
		until := time.Now().Add(1500 * time.Millisecond)
		c, _ := dialWS(t, e.a, authtest.HeaderUntil(access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: jane}, until), nil)
		c.want("connection_ack")
		c.subscribe("1")
		m := c.want("next")
		if errorCode(m) != "UNAUTHENTICATED" || time.Now().Before(until.Add(-time.Millisecond)) {
			t.Errorf("at expiry: %v, want an UNAUTHENTICATED error at %v", m, until)
		}
		c.want("complete")
		// The socket stays, signed in with the expired token: a new
		// subscription on it is refused at once.
		c.subscribe("2")
		if m := c.want("next"); errorCode(m) != "UNAUTHENTICATED" {
			t.Errorf("a subscription after expiry: %v", m)
		}
	})

	t.Run("ErasureEnds", func(t *testing.T) {
		gone := e.user(tenant)
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, gone), nil)
		c.want("connection_ack")
		c.subscribe("1")
		time.Sleep(200 * time.Millisecond)
		e.exec(`UPDATE directory.users SET erased_at = now(), email = NULL, full_name = NULL WHERE id = $1`, gone)
		m := c.want("next")
		if errorCode(m) != "UNAUTHENTICATED" {
			t.Errorf("after erasure: %v, want an UNAUTHENTICATED error", m)
		}
		c.want("complete")
	})

	t.Run("PendingFirstAndResyncAfterReconnect", func(t *testing.T) {
		// A change of an IdP no worker serves stays pending.
		u := e.user(tenant)
		e.exec(`UPDATE directory.users SET idp_id = 'nobody' WHERE id = $1`, u)
		var change int64
		if err := e.db.Get(&change, `INSERT INTO identity.outbox (user_id, idp_id, external_id, op, email)
			SELECT id, idp_id, external_id, 'update', 'new@example.org' FROM directory.users WHERE id = $1 RETURNING id`, u); err != nil {
			t.Fatal(err)
		}
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, u), nil)
		c.want("connection_ack")
		c.subscribe("1")
		if ev := event(t, c.want("next")); ev["identitySync"].(map[string]any)["status"] != "PENDING" {
			t.Fatalf("first event %v, want the pending change", ev)
		}
		// It is applied while no listener hears it (the trigger is off),
		// then the listeners lose their connections and reconnect.
		e.exec(`ALTER TABLE identity.outbox DISABLE TRIGGER outbox_state_notify`)
		e.exec(`UPDATE identity.outbox SET state = 'applied', finished_at = now(), email = NULL WHERE id = $1`, change)
		e.exec(`ALTER TABLE identity.outbox ENABLE TRIGGER outbox_state_notify`)
		e.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()`)
		ev := event(t, c.want("next"))
		if ev["changeId"] != strconv.FormatInt(change, 10) || ev["identitySync"].(map[string]any)["status"] != "APPLIED" {
			t.Errorf("after the reconnection: %v, want the change APPLIED", ev)
		}
	})

	t.Run("ErasureMissedEndsAfterReconnect", func(t *testing.T) {
		gone := e.user(tenant)
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, gone), nil)
		c.want("connection_ack")
		c.subscribe("1")
		time.Sleep(200 * time.Millisecond)
		e.exec(`ALTER TABLE directory.users DISABLE TRIGGER users_erased_notify`)
		e.exec(`UPDATE directory.users SET erased_at = now(), email = NULL, full_name = NULL WHERE id = $1`, gone)
		e.exec(`ALTER TABLE directory.users ENABLE TRIGGER users_erased_notify`)
		e.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()`)
		if m := c.want("next"); errorCode(m) != "UNAUTHENTICATED" {
			t.Errorf("after the reconnection: %v, want an UNAUTHENTICATED end", m)
		}
		c.want("complete")
	})

	t.Run("ErrUnauthenticated", func(t *testing.T) {
		c, _ := dialWS(t, e.a, "Bearer nonsense", nil)
		for m := c.next(5 * time.Second); m != nil; m = c.next(5 * time.Second) {
			if m["type"] == "connection_ack" {
				t.Fatalf("a bad token got %v", m)
			}
		}
		if websocket.CloseStatus(c.closed) != 4403 {
			t.Errorf("closed with %v, want 4403", c.closed)
		}
	})

	t.Run("ErrOtherOrigin", func(t *testing.T) {
		h := http.Header{"Origin": {"https://evil.example.net"}}
		if _, err := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, jane), h); err == nil {
			t.Error("a WebSocket from another origin was accepted")
		}
		h = http.Header{"Origin": {"https://portal.example.com"}}
		c, err := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, jane), h)
		if err != nil {
			t.Fatalf("the portal's origin: %v", err)
		}
		c.want("connection_ack")
	})

	t.Run("KeepAlivePings", func(t *testing.T) {
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, jane), nil)
		c.want("connection_ack")
		c.subscribe("1")
		time.Sleep(2500 * time.Millisecond) // SUBSCRIPTION_KEEPALIVE is 1s
		if n := c.pings.Load(); n < 2 {
			t.Errorf("%d pings in 2.5s, want at least 2", n)
		}
		select {
		case <-c.done:
			t.Errorf("a client that answers pings was dropped: %v", c.closed)
		default:
		}
	})

	t.Run("ErrTooManyAliases", func(t *testing.T) {
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, jane), nil)
		c.want("connection_ack")
		c.send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{
			"query": `subscription { identitySyncChanged { a: changeId b: changeId c: changeId d: changeId } }`}})
		if m := c.next(5 * time.Second); errorCode(m) != "TOO_MANY_ALIASES" {
			t.Errorf("four aliases with MAX_ALIASES 3: %v", m)
		}
	})

	t.Run("ErrQueryOnStream", func(t *testing.T) {
		c, _ := dialWS(t, e.a, scopeHeader(access.RoleProvider, tenant, jane), nil)
		c.want("connection_ack")
		c.send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": `{ me { id } }`}})
		if m := c.next(5 * time.Second); errorCode(m) != "BAD_REQUEST" {
			t.Errorf("a query over graphql-ws: %v, want BAD_REQUEST", m)
		}
	})
}

// sse opens a GraphQL-over-SSE subscription at srv and returns its events'
// data, in order, until it ends.
func sse(t *testing.T, ctx context.Context, srv *httptest.Server, auth, query string) (<-chan map[string]any, *http.Response) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan map[string]any, 16)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if json.Unmarshal([]byte(data), &m) == nil {
					out <- m
				}
			}
		}
	}()
	return out, res
}

func TestIdentitySyncChangedOverSSE(t *testing.T) {
	e := newLiveEnv(t, httpserver.Subscriptions{KeepAlive: time.Second}, live.Options{MaxSubscriptions: 3})
	tenant, other := e.tenant(), e.tenant()
	jane := e.user(tenant)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	own, res := sse(t, ctx, e.a, scopeHeader(access.RoleProvider, tenant, jane), subscription)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	stranger, _ := sse(t, ctx, e.a, scopeHeader(access.RoleAdmin, other, uuid.Nil), subscription)
	time.Sleep(200 * time.Millisecond)

	t.Run("OtherReplicaApplies", func(t *testing.T) {
		e.changeEmail(tenant, jane, "jane@example.org")
		select {
		case m := <-own:
			ev, _ := m["data"].(map[string]any)["identitySyncChanged"].(map[string]any)
			if ev["userId"] != jane.String() || ev["identitySync"].(map[string]any)["status"] != "APPLIED" {
				t.Errorf("event %v", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event over SSE")
		}
		select {
		case m := <-stranger:
			t.Errorf("another tenant's admin got %v", m)
		case <-time.After(500 * time.Millisecond):
		}
	})

	t.Run("AdmissionSlotFreed", func(t *testing.T) {
		// MAX_CONCURRENT_REQUESTS is 1 and two streams are open: a query
		// still gets the slot.
		req, _ := http.NewRequest(http.MethodPost, e.a.URL+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", scopeHeader(access.RoleProvider, tenant, jane))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("a query beside two open streams: %d", res.StatusCode)
		}
	})

	t.Run("ErrSubscriptionByPlainPOST", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"query": subscription})
		req, _ := http.NewRequest(http.MethodPost, e.a.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", scopeHeader(access.RoleProvider, tenant, jane))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(b), `"BAD_REQUEST"`) {
			t.Errorf("a subscription by plain POST: %d %s", res.StatusCode, b)
		}
	})

	t.Run("ProcessBound", func(t *testing.T) {
		sse(t, ctx, e.a, scopeHeader(access.RoleAdmin, tenant, uuid.Nil), subscription)
		time.Sleep(200 * time.Millisecond) // the third is registered before the fourth comes
		fourth, _ := sse(t, ctx, e.a, scopeHeader(access.RoleAdmin, tenant, uuid.Nil), subscription)
		select {
		case m := <-fourth:
			if got := fmt.Sprint(m["errors"]); !strings.Contains(got, "RATE_LIMITED") {
				t.Errorf("a fourth subscription with MAX_SUBSCRIPTIONS 3: %v", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the fourth subscription got nothing")
		}
	})

	t.Run("ErrUnauthenticated", func(t *testing.T) {
		_, res := sse(t, ctx, e.a, "Bearer nonsense", subscription)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", res.StatusCode)
		}
	})

	t.Run("ExpiryEnds", func(t *testing.T) {
		cancel() // MAX_SUBSCRIPTIONS is 3: the others end first
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		until := time.Now().Add(time.Second)
		evs, _ := sse(t, ctx, e.a, authtest.HeaderUntil(access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: jane}, until), subscription)
		select {
		case m := <-evs:
			if got := fmt.Sprint(m["errors"]); !strings.Contains(got, "UNAUTHENTICATED") || time.Now().Before(until.Add(-time.Millisecond)) {
				t.Errorf("at expiry: %v, want UNAUTHENTICATED", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing at expiry")
		}
		if _, open := <-evs; open {
			t.Error("the stream stayed open after expiry")
		}
	})
}
