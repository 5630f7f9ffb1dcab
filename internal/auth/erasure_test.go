package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/privacy"
)

// replicas is a database with a tenant, an Auth0-like provider and two
// verifiers on it, each with its own pool, as two gateway processes.
type replicas struct {
	url    string
	db     *sqlx.DB
	tenant uuid.UUID
	p      *provider
	cfg    idp.Config
	vs     []*auth.Verifier
}

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	r := &replicas{url: pgtest.URL(t), p: newProvider(t)}
	r.db = openDB(t, r.url)
	r.tenant = mustTenant(t, r.db)
	r.cfg = idp.Config{ID: "auth0-prod", Kind: idp.KindAuth0, Issuer: r.p.URL(), Audiences: []string{dev.Audience},
		TenantClaim: dev.TenantClaim, RolesClaim: rolesNS, RoleMap: map[string]access.Role{"portal-provider": access.RoleProvider}}
	for range 2 {
		r.vs = append(r.vs, r.replica(t))
	}
	return r
}

// replica is another verifier on the database, with a pool of its own and
// its erasure listener up. dialer, when not nil, is what the listener
// connects through.
func (r *replicas) replica(t *testing.T, dialer ...pq.Dialer) *auth.Verifier {
	t.Helper()
	v, err := auth.New([]idp.Config{r.cfg}, directory.NewStore(openDB(t, r.url)),
		auth.Options{Log: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if len(dialer) > 0 {
		auth.SetListenerDialer(v, dialer[0])
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := v.ListenForErasures(ctx, r.url)
	if auth.CacheOn(v) {
		t.Fatal("the cache is on before the listener is")
	}
	t.Cleanup(func() {
		cancel()
		<-stopped
		if auth.CacheOn(v) {
			t.Error("the cache is on with its listener stopped")
		}
	})
	waitFor(t, "the erasure listener", func() bool { return auth.CacheOn(v) })
	return v
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitFor polls cond, as a guard against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
	}
}

func openDB(t *testing.T, url string) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// webhook applies IdP changes as the webhook handler does: a deletion is
// an erasure through the privacy service.
func (r *replicas) webhook() privacy.Changes {
	return privacy.Changes{Erasure: &privacy.Service{DB: r.db}, Directory: directory.NewStore(r.db)}
}

func (r *replicas) token(t *testing.T, subject string) string {
	t.Helper()
	return r.p.mint(t, dev.Claims{Subject: subject, TenantID: r.tenant, Email: "jane@acme.com", Name: "Jane Doe",
		Extra: map[string]any{rolesNS: []string{"portal-provider"}}})
}

func authenticateOn(v *auth.Verifier, tok string) (access.Scope, error) {
	s, _, err := authenticateCounted(v, tok)
	return s, err
}

// authenticateCounted also returns how many statements the call sent.
func authenticateCounted(v *auth.Verifier, tok string) (access.Scope, int64, error) {
	ctx, n := postgres.WithStatementCounter(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	s, err := v.Authenticate(req)
	return s, n.Load(), err
}

// signIn signs tok in on every replica, so each holds it in its cache, and
// returns its user.
func (r *replicas) signIn(t *testing.T, tok string) uuid.UUID {
	t.Helper()
	var user uuid.UUID
	for i, v := range r.vs {
		cached := auth.CachedTokens(v)
		for j := range 2 { // the second is a cache hit
			s, stmts, err := authenticateCounted(v, tok)
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
			if j == 1 && stmts != 0 {
				t.Fatalf("replica %d: a cache hit sent %d statements", i, stmts)
			}
			if s.UserID == uuid.Nil || (user != uuid.Nil && s.UserID != user) {
				t.Fatalf("replica %d: user %v, want one user (%v)", i, s.UserID, user)
			}
			user = s.UserID
		}
		if n := auth.CachedTokens(v); n != cached+1 {
			t.Fatalf("replica %d caches %d tokens, want %d", i, n, cached+1)
		}
	}
	return user
}

// refusedSoon waits, as a guard against a hang rather than a measure of
// speed, until every replica refuses tok, and checks it stays refused.
func (r *replicas) refusedSoon(t *testing.T, tok string) {
	t.Helper()
	for i, v := range r.vs {
		deadline := time.Now().Add(5 * time.Second)
		for {
			s, err := authenticateOn(v, tok)
			if err != nil {
				if apperr.KindOf(err) != apperr.Unauthenticated {
					t.Fatalf("replica %d: %v, want UNAUTHENTICATED", i, err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d still accepts the erased user's token: %+v", i, s)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := authenticateOn(v, tok); apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("replica %d: after a refusal: %v", i, err)
		}
	}
}

// An erasure ends the user's access on every replica at once, though each
// holds the user's token in its sign-in cache; others keep theirs.
func TestErasureEndsAccessOnEveryReplica(t *testing.T) {
	t.Parallel()
	r := newReplicas(t)
	ctx := context.Background()
	bystander := r.token(t, "auth0|bystander")
	r.signIn(t, bystander)

	t.Run("EraseUser", func(t *testing.T) {
		tok := r.token(t, "auth0|erased")
		user := r.signIn(t, tok)
		sv := &privacy.Service{DB: r.db}
		admin := access.Scope{Role: access.RoleAdmin, TenantID: r.tenant, UserID: uuid.New()}
		if _, err := sv.EraseUser(ctx, admin, user); err != nil {
			t.Fatal(err)
		}
		r.refusedSoon(t, tok)
	})

	t.Run("DeletedAtTheIdP", func(t *testing.T) {
		tok := r.token(t, "auth0|deleted")
		r.signIn(t, tok)
		out, err := r.webhook().ApplyChange(ctx, directory.Change{IdPID: r.cfg.ID, EventID: "evt-deleted",
			ExternalID: "auth0|deleted", Type: directory.ChangeDeleted, OccurredAt: time.Now()})
		if err != nil || out != directory.OutcomeApplied {
			t.Fatalf("webhook change: %v %v", out, err)
		}
		r.refusedSoon(t, tok)
	})

	for i, v := range r.vs {
		if n := auth.CachedTokens(v); n != 1 {
			t.Fatalf("replica %d caches %d tokens, want the other user's only", i, n)
		}
		if _, err := authenticateOn(v, bystander); err != nil {
			t.Fatalf("replica %d refuses another user: %v", i, err)
		}
	}
}

// gate is a dialer that refuses to connect while it is shut.
type gate struct {
	shut atomic.Bool
	d    net.Dialer
}

func (g *gate) Dial(network, address string) (net.Conn, error) {
	return g.DialTimeout(network, address, 0)
}

func (g *gate) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	if g.shut.Load() {
		return nil, errors.New("gate shut")
	}
	d := g.d
	d.Timeout = timeout
	return d.Dial(network, address)
}

// While its erasure listener is down a replica serves nothing from its
// cache, so an erasure it cannot hear of still ends access at once; the
// cache comes back, empty, when the listener reconnects.
func TestErasureListenerOutage(t *testing.T) {
	t.Parallel()
	r := newReplicas(t)
	ctx := context.Background()
	g := &gate{}
	v := r.replica(t, g)
	tok := r.token(t, "auth0|outage")
	other := r.token(t, "auth0|outage-other")
	user := r.signIn(t, tok)
	if _, err := authenticateOn(v, tok); err != nil || auth.CachedTokens(v) != 1 {
		t.Fatalf("not cached before the outage: %v, %d tokens", err, auth.CachedTokens(v))
	}

	// The listener loses its connection and cannot reconnect.
	g.shut.Store(true)
	terminateListeners(t, r.db)
	waitFor(t, "the cache to go off", func() bool { return !auth.CacheOn(v) })
	if n := auth.CachedTokens(v); n != 0 {
		t.Fatalf("%d tokens kept with the listener down", n)
	}
	for range 2 {
		if _, stmts, err := authenticateCounted(v, other); err != nil || stmts == 0 {
			t.Fatalf("sign-in with the listener down: %v, %d statements (want a sign-in each time)", err, stmts)
		}
	}
	if n := auth.CachedTokens(v); n != 0 {
		t.Fatalf("%d tokens cached with the listener down", n)
	}

	// An erasure it does not hear of: the next request is refused.
	sv := &privacy.Service{DB: r.db}
	if _, err := sv.EraseUser(ctx, access.Scope{Role: access.RoleInternal}, user); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticateOn(v, tok); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Fatalf("the erased user's token with the listener down: %v, want UNAUTHENTICATED", err)
	}

	// Back: the cache is on again, starts empty and works.
	g.shut.Store(false)
	waitFor(t, "the cache to come back", func() bool { return auth.CacheOn(v) })
	if _, err := authenticateOn(v, tok); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Fatalf("the erased user's token after the outage: %v", err)
	}
	for range 2 {
		if _, err := authenticateOn(v, other); err != nil {
			t.Fatal(err)
		}
	}
	if n := auth.CachedTokens(v); n != 1 {
		t.Fatalf("%d tokens cached after the outage, want 1", n)
	}
	// And it hears erasures again.
	if _, err := r.webhook().ApplyChange(ctx, directory.Change{IdPID: r.cfg.ID, EventID: "evt-outage",
		ExternalID: "auth0|outage-other", Type: directory.ChangeDeleted, OccurredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the erasure notice after the outage", func() bool { return auth.CachedTokens(v) == 0 })
	if _, err := authenticateOn(v, other); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Fatalf("erased after the outage: %v", err)
	}
}

// A listener that reconnects at once, too fast to be seen down, comes back
// with an empty cache: a notice sent while it was away is not heard.
func TestErasureListenerReconnectPurges(t *testing.T) {
	t.Parallel()
	r := newReplicas(t)
	v := r.vs[0]
	tok := r.token(t, "auth0|reconnect")
	user := r.signIn(t, tok)
	// An erasure whose notice no listener hears, as one during a
	// reconnection: the trigger is off while it commits.
	mustExec(t, r.db, `ALTER TABLE directory.users DISABLE TRIGGER users_erased_notify`)
	mustExec(t, r.db, `UPDATE directory.users SET erased_at = now() WHERE id = $1`, user)
	mustExec(t, r.db, `ALTER TABLE directory.users ENABLE TRIGGER users_erased_notify`)
	if _, err := authenticateOn(v, tok); err != nil {
		t.Fatalf("the cache no longer holds the token: %v", err) // else this test tests nothing
	}
	terminateListeners(t, r.db)
	for i, v := range r.vs {
		waitFor(t, "the purge on reconnection", func() bool {
			_, err := authenticateOn(v, tok)
			return apperr.KindOf(err) == apperr.Unauthenticated
		})
		waitFor(t, "the cache to come back", func() bool { return auth.CacheOn(v) })
		if _, err := authenticateOn(v, tok); apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// terminateListeners ends the backends of the database's erasure
// listeners, as a restart of the server or a lost connection would.
func terminateListeners(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var n int
	err := db.Get(&n, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query IN ('LISTEN "`+auth.ErasureChannel+`"', 'LISTEN "`+auth.RepointChannel+`"')`)
	if err != nil || n == 0 {
		t.Fatalf("terminate listeners: %d, %v", n, err)
	}
}
