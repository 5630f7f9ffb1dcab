package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// hydraBinary returns the Ory Hydra binary named by HYDRA_BIN. Without one
// the test fails when CI is set (.ci/run builds it from tools/oidc) and is
// skipped otherwise.
func hydraBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HYDRA_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but HYDRA_BIN is not (.ci/run builds hydra from tools/oidc)")
		}
		t.Skip("skipped: HYDRA_BIN is not set (cd tools/oidc && go build -o /tmp/hydra github.com/ory/hydra/v2); with CI set this fails instead")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("HYDRA_BIN: %v", err)
	}
	return bin
}

// hydra is a running Ory Hydra on loopback: a real OAuth2 and OpenID
// Connect server that issues JWT access tokens, storing its state in a
// throwaway PostgreSQL database.
type hydra struct {
	issuer string // the public listener, which is also its issuer
	admin  string // the admin listener
}

// startHydra migrates a fresh database for hydra, serves it on two free
// loopback ports and waits until both listeners are ready. It stops when t
// ends.
func startHydra(t *testing.T) *hydra {
	t.Helper()
	bin := hydraBinary(t)
	h := &hydra{issuer: "http://" + freeLoopback(t), admin: "http://" + freeLoopback(t)}
	pub, _ := url.Parse(h.issuer)
	adm, _ := url.Parse(h.admin)
	env := append(os.Environ(),
		"DSN="+pgtest.URL(t), // a database of its own; hydra's tables sit beside the gateway's schemas
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT="+pub.Port(),
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT="+adm.Port(),
		"URLS_SELF_ISSUER="+h.issuer,
		"STRATEGIES_ACCESS_TOKEN=jwt",
		"SECRETS_SYSTEM="+randomHex(t, 32),
		"SQA_OPT_OUT=true", // no telemetry
		"LOG_LEVEL=warn",
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	migrate := exec.CommandContext(ctx, bin, "migrate", "sql", "up", "--read-from-env", "--yes")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("hydra migrate: %v\n%s", err, out)
	}

	var out syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hydra output:\n%s", out.String())
		}
	})

	// --dev allows the http issuer on loopback; nothing listens elsewhere.
	serve := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	serve.Env, serve.Stdout, serve.Stderr = env, &out, &out
	if err := serve.Start(); err != nil {
		t.Fatalf("hydra serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			<-exited
		}
	})

	for _, ready := range []string{h.issuer + "/health/ready", h.admin + "/health/ready"} {
		for {
			res, err := http.Get(ready)
			if err == nil {
				_ = res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-exited:
				t.Fatalf("hydra exited before it was ready: %v", err)
			case <-ctx.Done():
				t.Fatalf("hydra not ready at %s", ready)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return h
}

// createClient registers a client-credentials client allowed to ask for
// the audiences, and returns its id and secret.
func (h *hydra) createClient(t *testing.T, audiences ...string) (id, secret string) {
	t.Helper()
	secret = randomHex(t, 24)
	var c struct {
		ClientID string `json:"client_id"`
	}
	h.call(t, http.MethodPost, h.admin+"/admin/clients", map[string]any{
		"client_secret": secret, "grant_types": []string{"client_credentials"},
		"audience": audiences, "token_endpoint_auth_method": "client_secret_basic",
	}, http.StatusCreated, &c)
	return c.ClientID, secret
}

// token returns a client-credentials access token for the audience (none
// when empty).
func (h *hydra) token(t *testing.T, id, secret, audience string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if audience != "" {
		form.Set("audience", audience)
	}
	req, err := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	h.do(t, req, http.StatusOK, &tok)
	return tok.AccessToken
}

// rotate adds a new signing key for access tokens to hydra's key set; hydra
// signs with the newest key and keeps publishing the older ones.
func (h *hydra) rotate(t *testing.T) (kid string) {
	t.Helper()
	kid = "rotated-" + randomHex(t, 4)
	h.call(t, http.MethodPost, h.admin+"/admin/keys/hydra.jwt.access-token",
		map[string]string{"alg": "RS256", "use": "sig", "kid": kid}, http.StatusCreated, nil)
	return kid
}

func (h *hydra) call(t *testing.T, method, target string, body any, want int, into any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	h.do(t, req, want, into)
}

func (h *hydra) do(t *testing.T, req *http.Request, want int, into any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, res.StatusCode, want, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
	}
}

// requestLog is a transport that counts the verifier's requests by path.
type requestLog struct {
	mu     sync.Mutex
	byPath map[string]int
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.byPath[r.URL.Path]++
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (l *requestLog) count(path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byPath[path]
}

// TestSignInWithRealOP signs in with access tokens of Ory Hydra, which the
// project did not write, through an oidc adapter configured by discovery
// alone, before and after hydra rotates its signing key.
func TestSignInWithRealOP(t *testing.T) {
	t.Parallel()
	h := startHydra(t)
	db := pgtest.DB(t)
	tenant := mustTenant(t, db)
	reqs := &requestLog{byPath: map[string]int{}}
	logs := &syncBuffer{}
	v, err := auth.New([]idp.Config{{ID: "hydra", Kind: idp.KindOIDC, Issuer: h.issuer, Audiences: []string{"portal-gateway"},
		Tenant: tenant.String(), DefaultRole: access.RoleProvider, JWKSMinRefresh: idp.Duration(time.Millisecond)}},
		directory.NewStore(db), auth.Options{HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: reqs},
			Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{db: db, v: v}
	// refusedFor checks that tok is refused, and logged with the reason class.
	refusedFor := func(t *testing.T, tok, reason string) {
		t.Helper()
		want := `"reason":"` + reason + `"`
		before := strings.Count(logs.String(), want)
		r.mustRefuse(t, tok)
		if strings.Count(logs.String(), want) != before+1 {
			t.Fatalf("refused, but not for %s:\n%s", reason, logs.String())
		}
	}
	clientID, secret := h.createClient(t, "portal-gateway", "https://other.example.com")
	first := h.token(t, clientID, secret, "portal-gateway")
	firstKid := kidOf(t, first)

	var user uuid.UUID
	t.Run("OK", func(t *testing.T) {
		s, err := r.authenticate(first)
		if err != nil || s.Role != access.RoleProvider || s.TenantID != tenant || s.UserID == uuid.Nil {
			t.Fatalf("scope %+v err %v", s, err)
		}
		user = s.UserID
		var u directory.User
		if err := db.Get(&u, `SELECT id, tenant_id, idp_id, external_id, email, full_name, synced_at, created_at, updated_at, erased_at
			FROM directory.users WHERE id = $1`, s.UserID); err != nil {
			t.Fatal(err)
		}
		if u.IdPID != "hydra" || u.ExternalID != clientID || u.TenantID != tenant {
			t.Fatalf("user %+v, want idp hydra, external id %s", u, clientID)
		}
		discovery, jwks := reqs.count("/.well-known/openid-configuration"), reqs.count("/.well-known/jwks.json")
		if discovery != 1 || jwks != 1 {
			t.Fatalf("%d discovery and %d JWKS requests, want one of each", discovery, jwks)
		}
	})

	t.Run("WrongAudience", func(t *testing.T) {
		refusedFor(t, h.token(t, clientID, secret, "https://other.example.com"), "audience")
	})

	t.Run("NoAudience", func(t *testing.T) {
		refusedFor(t, h.token(t, clientID, secret, ""), "audience")
	})

	t.Run("TamperedPayload", func(t *testing.T) {
		tok := h.token(t, clientID, secret, "portal-gateway")
		for name, edit := range map[string]func(map[string]any){
			"Subject":  func(c map[string]any) { c["sub"] = "someone-else" },
			"Audience": func(c map[string]any) { c["aud"] = []string{"portal-gateway", "extra"} },
			"Expiry":   func(c map[string]any) { c["exp"] = time.Now().Add(48 * time.Hour).Unix() },
		} {
			t.Run(name, func(t *testing.T) { refusedFor(t, resign(t, tok, edit), "signature") })
		}
	})

	t.Run("AfterKeyRotation", func(t *testing.T) {
		kid := h.rotate(t)
		rotated := h.token(t, clientID, secret, "portal-gateway")
		if got := kidOf(t, rotated); got != kid || got == firstKid {
			t.Fatalf("token after rotation has kid %q, want the new %q (before: %q)", got, kid, firstKid)
		}
		s, err := r.authenticate(rotated)
		if err != nil || s.UserID != user || s.TenantID != tenant {
			t.Fatalf("token of the new key: scope %+v err %v, want user %v", s, err, user)
		}
		if n := reqs.count("/.well-known/jwks.json"); n != 2 {
			t.Fatalf("JWKS fetched %d times, want 2 (once more for the new kid)", n)
		}
		// The old key is still published: its tokens verify until they expire.
		if _, err := r.authenticate(first); err != nil {
			t.Fatalf("token of the old key after rotation: %v", err)
		}
	})
}

// kidOf returns the key id in a compact JWS's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// freeLoopback returns a 127.0.0.1 address whose port was free a moment ago.
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
