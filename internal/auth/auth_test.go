package auth_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/dev/devtest"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// provider is an OpenID provider on loopback: a dev issuer behind a real
// HTTP server that counts its JWKS downloads.
type provider struct {
	*dev.Issuer
	jwksHits atomic.Int32
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	p := &provider{}
	p.Issuer = devtest.Issuer(t, func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/jwks.json") {
			p.jwksHits.Add(1)
		}
	})
	return p
}

func (p *provider) mint(t *testing.T, c dev.Claims) string {
	t.Helper()
	tok, err := p.Mint(c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rig is a verifier over two providers, an Auth0-like one (subject sub,
// namespaced roles) and an Entra-like one (subject oid), on a real database.
type rig struct {
	db                              *sqlx.DB
	v                               *auth.Verifier
	auth0, entra, keycloak          *provider
	auth0Cfg, entraCfg, keycloakCfg idp.Config
	tenant                          uuid.UUID
	clock                           atomic.Int64 // offset from the real time, ns
	logs                            *syncBuffer
}

const rolesNS = "https://portal.example.com/roles"

// The clients the rig's adapters let hold internal: an Auth0 M2M
// application (azp) and an Entra v1 app registration (appid).
const (
	m2mClient = "reports-m2m"
	entraApp  = "5d1c3e0a-7b2f-4c9e-8a61-3f0b9d2e4c17"
)

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{db: pgtest.DB(t), auth0: newProvider(t), entra: newProvider(t), keycloak: newProvider(t), logs: &syncBuffer{}}
	r.tenant = mustTenant(t, r.db)
	r.auth0Cfg = idp.Config{ID: "auth0-prod", Kind: idp.KindAuth0, Issuer: r.auth0.URL(),
		Audiences: []string{"https://api.portal.example.com", dev.Audience}, TenantClaim: dev.TenantClaim, RolesClaim: rolesNS,
		RoleMap:         map[string]access.Role{"portal-admin": access.RoleAdmin, "portal-provider": access.RoleProvider, "m2m": access.RoleInternal},
		InternalClients: []string{m2mClient}}
	r.entraCfg = idp.Config{ID: "entra-corp", Kind: idp.KindEntra, Issuer: r.entra.URL(), Audiences: []string{dev.Audience},
		TenantClaim: dev.TenantClaim, EmailClaim: "preferred_username",
		RoleMap:     map[string]access.Role{"Portal.Admin": access.RoleAdmin, "Portal.Service": access.RoleInternal},
		ClientClaim: "appid", InternalClients: []string{entraApp}}
	r.keycloakCfg = idp.Config{ID: "keycloak-default", Kind: idp.KindKeycloak, Issuer: r.keycloak.URL(),
		Audiences: []string{dev.Audience}, Tenant: r.tenant.String(), JWKSURL: r.keycloak.URL() + "/jwks.json",
		RoleMap: map[string]access.Role{"portal-admin": access.RoleAdmin}}
	v, err := auth.New([]idp.Config{r.auth0Cfg, r.entraCfg, r.keycloakCfg}, directory.NewStore(r.db), auth.Options{
		Log: slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { return time.Now().Add(time.Duration(r.clock.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.v = v
	return r
}

// auth0Token mints a provider token of the Auth0-like IdP for subject.
func (r *rig) auth0Token(t *testing.T, subject string, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{rolesNS: []string{"portal-provider"}}
	for k, v := range extra {
		claims[k] = v
	}
	return r.auth0.mint(t, dev.Claims{Subject: subject, TenantID: r.tenant, Email: "jane@acme.com", Name: "Jane Doe", Extra: claims})
}

// m2mToken mints a client-credentials token of the Auth0-like IdP, as an
// Auth0 M2M application's: sub <client>@clients, azp, gty, no tenant.
func (r *rig) m2mToken(t *testing.T, client string, roles ...string) string {
	t.Helper()
	return r.auth0.mint(t, dev.Claims{Subject: client + "@clients", Client: client,
		Extra: map[string]any{rolesNS: roles, "gty": "client-credentials"}})
}

func (r *rig) authenticate(tok string) (access.Scope, error) {
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return r.v.Authenticate(req)
}

func (r *rig) mustRefuse(t *testing.T, tok string) {
	t.Helper()
	s, err := r.authenticate(tok)
	if err == nil {
		t.Fatalf("accepted: %+v", s)
	}
	if apperr.KindOf(err) != apperr.Unauthenticated || err.Error() != "sign-in required" {
		t.Fatalf("refusal %v (kind %v) tells more than it should", err, apperr.KindOf(err))
	}
}

func mustTenant(t *testing.T, db *sqlx.DB) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := db.Exec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func countUsers(t *testing.T, db *sqlx.DB, idpID, external string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM directory.users WHERE idp_id = $1 AND external_id = $2`, idpID, external); err != nil {
		t.Fatal(err)
	}
	return n
}

// resign replaces a token's payload while keeping its header and signature.
func resign(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	edit(claims)
	raw, _ = json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

func TestVerification(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	t.Run("OK", func(t *testing.T) {
		s, err := r.authenticate(r.auth0Token(t, "auth0|ok", nil))
		if err != nil || s.Role != access.RoleProvider || s.TenantID != r.tenant || s.UserID == uuid.Nil {
			t.Fatalf("scope %+v err %v", s, err)
		}
	})

	t.Run("NoToken", func(t *testing.T) { r.mustRefuse(t, "") })

	t.Run("Expired", func(t *testing.T) {
		tok, err := r.auth0.Mint(dev.Claims{Subject: "auth0|x", TenantID: r.tenant,
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}, -5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		r.mustRefuse(t, tok)
	})

	t.Run("ExpiredWithinClockSkewIsAccepted", func(t *testing.T) {
		tok, err := r.auth0.Mint(dev.Claims{Subject: "auth0|skew", TenantID: r.tenant,
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}, -10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.authenticate(tok); err != nil {
			t.Fatalf("a token 10s past exp was refused with 60s skew: %v", err)
		}
	})

	t.Run("NotYetValid", func(t *testing.T) {
		r.mustRefuse(t, r.auth0Token(t, "auth0|x", map[string]any{"nbf": time.Now().Add(10 * time.Minute)}))
	})

	t.Run("WrongAudience", func(t *testing.T) {
		r.mustRefuse(t, r.auth0.mint(t, dev.Claims{Subject: "auth0|x", TenantID: r.tenant, Audience: []string{"https://other.example.com"},
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}))
	})

	t.Run("SecondAudienceIsAccepted", func(t *testing.T) {
		tok := r.auth0.mint(t, dev.Claims{Subject: "auth0|aud", TenantID: r.tenant, Audience: []string{"https://api.portal.example.com"},
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}})
		if _, err := r.authenticate(tok); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("UnknownIssuer", func(t *testing.T) {
		stranger := newProvider(t)
		r.mustRefuse(t, stranger.mint(t, dev.Claims{Subject: "auth0|x", TenantID: r.tenant,
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}))
	})

	t.Run("IssuerOfAnotherAdapterWithItsKeys", func(t *testing.T) {
		// Signed by the Entra-like IdP but claiming to come from the Auth0-like one.
		tok := r.entra.mint(t, dev.Claims{Subject: "x", TenantID: r.tenant, Extra: map[string]any{
			"iss": r.auth0.URL(), rolesNS: []string{"portal-admin"}}})
		r.mustRefuse(t, tok)
	})

	t.Run("AlgNone", func(t *testing.T) {
		tok, _ := jwt.NewBuilder().Issuer(r.auth0.URL()).Subject("auth0|none").Audience([]string{dev.Audience}).
			Expiration(time.Now().Add(time.Hour)).Claim(dev.TenantClaim, r.tenant.String()).
			Claim(rolesNS, []string{"portal-admin"}).Build()
		unsigned, err := jwt.Sign(tok, jwt.WithInsecureNoSignature())
		if err != nil {
			t.Fatal(err)
		}
		r.mustRefuse(t, string(unsigned))
		r.mustRefuse(t, strings.TrimSuffix(string(unsigned), ".")+".")
	})

	t.Run("HS256SignedWithThePublicKey", func(t *testing.T) {
		// The classic confusion attack: the published RSA key, as PEM and
		// as DER, used as an HMAC secret, with the real kid.
		set, err := jwk.Fetch(context.Background(), r.auth0.URL()+"/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := set.Key(0)
		kid, _ := pub.KeyID()
		var raw any
		if err := jwk.Export(pub, &raw); err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range [][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})} {
			key, err := jwk.Import(secret)
			if err != nil {
				t.Fatal(err)
			}
			_ = key.Set(jwk.KeyIDKey, kid)
			tok, _ := jwt.NewBuilder().Issuer(r.auth0.URL()).Subject("auth0|hs").Audience([]string{dev.Audience}).
				Expiration(time.Now().Add(time.Hour)).Claim(dev.TenantClaim, r.tenant.String()).
				Claim(rolesNS, []string{"portal-admin"}).Build()
			signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), key))
			if err != nil {
				t.Fatal(err)
			}
			r.mustRefuse(t, string(signed))
		}
	})

	t.Run("TamperedPayload", func(t *testing.T) {
		tok := r.auth0Token(t, "auth0|tamper", nil)
		for name, edit := range map[string]func(map[string]any){
			"Role":    func(c map[string]any) { c[rolesNS] = []string{"m2m"} },
			"Subject": func(c map[string]any) { c["sub"] = "auth0|someone-else" },
			"Expiry":  func(c map[string]any) { c["exp"] = time.Now().Add(48 * time.Hour).Unix() },
		} {
			t.Run(name, func(t *testing.T) { r.mustRefuse(t, resign(t, tok, edit)) })
		}
	})

	t.Run("SignedByAnUnpublishedKeyWithAForgedKid", func(t *testing.T) {
		forger := newProvider(t) // its key is published nowhere the verifier looks
		tok := forger.mint(t, dev.Claims{Subject: "auth0|forged", TenantID: r.tenant,
			Extra: map[string]any{"iss": r.auth0.URL(), rolesNS: []string{"portal-admin"}}})
		r.mustRefuse(t, tok)
	})

	t.Run("NoRole", func(t *testing.T) {
		r.mustRefuse(t, r.auth0.mint(t, dev.Claims{Subject: "auth0|norole", TenantID: r.tenant}))
	})

	t.Run("NoTenant", func(t *testing.T) {
		r.mustRefuse(t, r.auth0.mint(t, dev.Claims{Subject: "auth0|notenant", Extra: map[string]any{rolesNS: []string{"portal-provider"}}}))
	})

	t.Run("UnknownTenant", func(t *testing.T) {
		r.mustRefuse(t, r.auth0.mint(t, dev.Claims{Subject: "auth0|ghost", TenantID: uuid.New(),
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}))
	})

	t.Run("Oversized", func(t *testing.T) {
		r.mustRefuse(t, r.auth0Token(t, "auth0|big", map[string]any{"pad": strings.Repeat("x", 20_000)}))
	})
}

// A token verified once is taken from the cache on its next requests
// without another signature check: the cache must not outlive its exp,
// nor take another token for it.
func TestVerifiedTokenCache(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	t.Run("ExpiredIsRefusedThoughCached", func(t *testing.T) {
		tok, err := r.auth0.Mint(dev.Claims{Subject: "auth0|cached-exp", TenantID: r.tenant,
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}, 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.authenticate(tok); err != nil {
			t.Fatal(err)
		}
		r.clock.Add(int64(2*time.Minute + 30*time.Second)) // past exp, within the 60 s skew
		if _, err := r.authenticate(tok); err != nil {
			t.Fatalf("refused within the skew: %v", err)
		}
		r.clock.Add(int64(time.Minute)) // past exp and skew
		r.mustRefuse(t, tok)
		if !strings.Contains(r.logs.String(), `"reason":"expired"`) {
			t.Fatalf("the refusal is not logged as expired:\n%s", r.logs.String())
		}
		r.mustRefuse(t, tok) // and stays refused
	})

	t.Run("AnotherTokenWithACachedPartIsVerified", func(t *testing.T) {
		tok := r.auth0Token(t, "auth0|cached", nil)
		if _, err := r.authenticate(tok); err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		other := strings.Split(r.auth0Token(t, "auth0|cached", map[string]any{"jti": "other"}), ".")
		unsigned, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
		for name, forged := range map[string]string{
			"Payload":            resign(t, tok, func(c map[string]any) { c[rolesNS] = []string{"portal-admin"} }),
			"SignatureOfAnother": parts[0] + "." + parts[1] + "." + other[2],
			"PayloadOfAnother":   parts[0] + "." + other[1] + "." + parts[2],
			"NoSignature":        parts[0] + "." + parts[1] + ".",
			"AlgNone":            base64.RawURLEncoding.EncodeToString(unsigned) + "." + parts[1] + ".",
			"SignatureExtended":  tok + "x",
		} {
			t.Run(name, func(t *testing.T) { r.mustRefuse(t, forged) })
		}
		if _, err := r.authenticate(tok); err != nil {
			t.Fatalf("the cached token itself: %v", err)
		}
	})
}

func TestSubjectClaimsPerAdapter(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	// Entra: the subject is oid, not the pairwise sub; email from preferred_username.
	tok := r.entra.mint(t, dev.Claims{Subject: "pairwise-sub-1", TenantID: r.tenant, Name: "Jane Doe", Extra: map[string]any{
		"oid": "00000000-aaaa-bbbb-cccc-000000000001", "preferred_username": "jane@acme.com", "roles": []string{"Portal.Admin"}}})
	s, err := r.authenticate(tok)
	if err != nil || s.Role != access.RoleAdmin {
		t.Fatalf("entra token: %+v %v", s, err)
	}
	var u directory.User
	if err := r.db.Get(&u, `SELECT id, tenant_id, idp_id, external_id, email, full_name, synced_at, created_at, updated_at, erased_at
		FROM directory.users WHERE id = $1`, s.UserID); err != nil {
		t.Fatal(err)
	}
	if u.IdPID != "entra-corp" || u.ExternalID != "00000000-aaaa-bbbb-cccc-000000000001" || u.Email == nil || *u.Email != "jane@acme.com" {
		t.Fatalf("entra user %+v", u)
	}

	// Entra without oid is refused: sub is not the configured subject.
	r.mustRefuse(t, r.entra.mint(t, dev.Claims{Subject: "pairwise-sub-2", TenantID: r.tenant, Extra: map[string]any{"roles": []string{"Portal.Admin"}}}))

	// Auth0: the subject is sub; the role comes from the namespaced claim through the role map.
	s2, err := r.authenticate(r.auth0Token(t, "auth0|abc", nil))
	if err != nil || s2.UserID == s.UserID || countUsers(t, r.db, "auth0-prod", "auth0|abc") != 1 {
		t.Fatalf("auth0 token: %+v %v", s2, err)
	}

	// Keycloak: roles at realm_access.roles, a fixed tenant, JWKS URL configured (no discovery).
	kc := r.keycloak.mint(t, dev.Claims{Subject: "kc-1", Extra: rolesClaim(idp.KindKeycloak, "offline_access", "portal-admin")})
	s3, err := r.authenticate(kc)
	if err != nil || s3.Role != access.RoleAdmin || s3.TenantID != r.tenant {
		t.Fatalf("keycloak token: %+v %v", s3, err)
	}

	// An Auth0 machine-to-machine token of a listed client maps to
	// internal: cross-tenant, no user.
	s4, err := r.authenticate(r.m2mToken(t, m2mClient, "m2m"))
	if err != nil || s4.Role != access.RoleInternal || s4.UserID != uuid.Nil || !s4.CrossTenant() {
		t.Fatalf("m2m token: %+v %v", s4, err)
	}
	if countUsers(t, r.db, "auth0-prod", m2mClient+"@clients") != 0 {
		t.Fatal("a service account became a directory user")
	}
}

func TestInternalOnlyForListedClients(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	t.Run("ListedClient", func(t *testing.T) {
		s, err := r.authenticate(r.m2mToken(t, m2mClient, "m2m"))
		if err != nil || !s.CrossTenant() {
			t.Fatalf("scope %+v err %v, want internal", s, err)
		}
	})

	t.Run("UnlistedClientIsRefused", func(t *testing.T) {
		for name, tok := range map[string]string{
			"OtherClient":     r.m2mToken(t, "someone-else", "m2m"),
			"NoClient":        r.auth0.mint(t, dev.Claims{Subject: "x@clients", Extra: map[string]any{rolesNS: []string{"m2m"}}}),
			"ClientElsewhere": r.auth0.mint(t, dev.Claims{Subject: "x@clients", Extra: map[string]any{rolesNS: []string{"m2m"}, "appid": m2mClient}}),
			// Refused, not lowered to the admin role it also has.
			"WithALesserRole": r.m2mToken(t, "someone-else", "m2m", "portal-admin"),
			"UserToken": r.auth0.mint(t, dev.Claims{Subject: "auth0|u", TenantID: r.tenant, Client: "portal-spa",
				Extra: map[string]any{rolesNS: []string{"m2m"}}}),
		} {
			t.Run(name, func(t *testing.T) { r.mustRefuse(t, tok) })
		}
		if !strings.Contains(r.logs.String(), `"idp":"auth0-prod","reason":"internal_client"`) {
			t.Fatal("no refusal logged as internal_client")
		}
	})

	t.Run("AListedClientGetsOnlyWhatItsRolesMapTo", func(t *testing.T) {
		s, err := r.authenticate(r.auth0.mint(t, dev.Claims{Subject: "auth0|listed", TenantID: r.tenant, Client: m2mClient,
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}))
		if err != nil || s.Role != access.RoleProvider || s.CrossTenant() {
			t.Fatalf("scope %+v err %v, want provider", s, err)
		}
		r.mustRefuse(t, r.m2mToken(t, m2mClient, "internal", "admin"))
	})

	t.Run("EntraV1AppID", func(t *testing.T) {
		app := func(claims map[string]any) string {
			claims["roles"], claims["oid"] = []string{"Portal.Service"}, "00000000-aaaa-bbbb-cccc-0000000000ff"
			return r.entra.mint(t, dev.Claims{Subject: "00000000-aaaa-bbbb-cccc-0000000000ff", Extra: claims})
		}
		s, err := r.authenticate(app(map[string]any{"appid": entraApp}))
		if err != nil || !s.CrossTenant() {
			t.Fatalf("scope %+v err %v, want internal", s, err)
		}
		// client_claim is appid: an azp naming the app is not looked at.
		r.mustRefuse(t, app(map[string]any{"azp": entraApp}))
		r.mustRefuse(t, app(map[string]any{"appid": "another-app"}))
	})
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if _, err := r.authenticate(r.auth0Token(t, "auth0|rot", nil)); err != nil {
		t.Fatal(err)
	}
	if n := r.auth0.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for the first token, want 1", n)
	}
	for range 5 {
		if _, err := r.authenticate(r.auth0Token(t, "auth0|rot", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.auth0.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for known kids, want 1", n)
	}

	if err := r.auth0.Rotate(); err != nil {
		t.Fatal(err)
	}
	rotated := r.auth0Token(t, "auth0|rot", nil)

	t.Run("UnknownKidWithinTheRefreshIntervalIsNotRefetched", func(t *testing.T) {
		r.mustRefuse(t, rotated)
		if n := r.auth0.jwksHits.Load(); n != 1 {
			t.Fatalf("JWKS fetched %d times, want 1 within the interval", n)
		}
	})

	t.Run("UnknownKidAfterTheIntervalRefetchesOnce", func(t *testing.T) {
		r.clock.Add(int64(2 * time.Minute))
		if _, err := r.authenticate(rotated); err != nil {
			t.Fatalf("token of the rotated key refused: %v", err)
		}
		if n := r.auth0.jwksHits.Load(); n != 2 {
			t.Fatalf("JWKS fetched %d times, want 2", n)
		}
	})

	t.Run("ForgedKidsCannotForceRefetches", func(t *testing.T) {
		forger := newProvider(t)
		for range 20 {
			r.mustRefuse(t, forger.mint(t, dev.Claims{Subject: "auth0|f", TenantID: r.tenant,
				Extra: map[string]any{"iss": r.auth0.URL(), rolesNS: []string{"portal-admin"}}}))
		}
		if n := r.auth0.jwksHits.Load(); n != 2 {
			t.Fatalf("forged kids caused %d fetches in all, want still 2", n)
		}
	})

}

func TestJustInTimeSync(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	t.Run("ABurstOfFirstRequestsCreatesOneUser", func(t *testing.T) {
		var wg sync.WaitGroup
		ids := make([]uuid.UUID, 100)
		errs := make([]error, 100)
		for i := range 100 {
			// Distinct tokens (jti) of one identity: no cache hides the race.
			tok := r.auth0Token(t, "auth0|burst", map[string]any{"jti": fmt.Sprint(i)})
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := r.authenticate(tok)
				ids[i], errs[i] = s.UserID, err
			}()
		}
		wg.Wait()
		for i := range 100 {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("request %d: user %v err %v (first %v)", i, ids[i], errs[i], ids[0])
			}
		}
		if n := countUsers(t, r.db, "auth0-prod", "auth0|burst"); n != 1 {
			t.Fatalf("%d users for one identity", n)
		}
	})

	t.Run("RepeatedTokenWritesNothing", func(t *testing.T) {
		tok := r.auth0Token(t, "auth0|quiet", nil)
		if _, err := r.authenticate(tok); err != nil {
			t.Fatal(err)
		}
		var before time.Time
		_ = r.db.Get(&before, `SELECT updated_at FROM directory.users WHERE external_id = 'auth0|quiet'`)
		for range 3 {
			if _, err := r.authenticate(tok); err != nil {
				t.Fatal(err)
			}
		}
		var after time.Time
		_ = r.db.Get(&after, `SELECT updated_at FROM directory.users WHERE external_id = 'auth0|quiet'`)
		if !after.Equal(before) {
			t.Fatal("a repeated token wrote the user")
		}
	})

	t.Run("NewerTokenRefreshesTheCache", func(t *testing.T) {
		// iat has whole seconds: issue this one visibly later, within the skew.
		tok := r.auth0.mint(t, dev.Claims{Subject: "auth0|quiet", TenantID: r.tenant, Email: "jane.new@acme.com", Name: "Jane Doe",
			Extra: map[string]any{rolesNS: []string{"portal-provider"}, "iat": time.Now().Add(30 * time.Second)}})
		if _, err := r.authenticate(tok); err != nil {
			t.Fatal(err)
		}
		var email string
		_ = r.db.Get(&email, `SELECT email FROM directory.users WHERE external_id = 'auth0|quiet'`)
		if email != "jane.new@acme.com" {
			t.Fatalf("cache not refreshed: %q", email)
		}
	})

	t.Run("ErasedUserIsRefused", func(t *testing.T) {
		if _, err := r.authenticate(r.auth0Token(t, "auth0|gone", nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.db.Exec(`UPDATE directory.users SET erased_at = now(), email = NULL, full_name = NULL WHERE external_id = 'auth0|gone'`); err != nil {
			t.Fatal(err)
		}
		r.mustRefuse(t, r.auth0Token(t, "auth0|gone", map[string]any{"jti": "again"}))
	})

	t.Run("IdentityOfAnotherTenantIsRefused", func(t *testing.T) {
		other := mustTenant(t, r.db)
		r.mustRefuse(t, r.auth0.mint(t, dev.Claims{Subject: "auth0|burst", TenantID: other,
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}))
	})
}

func TestLogsHoldNoTokenOrClaim(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	good := r.auth0Token(t, "auth0|logged", nil)
	bad := resign(t, good, func(c map[string]any) { c["email"] = "mallory@evil.example" })
	expired, _ := r.auth0.Mint(dev.Claims{Subject: "auth0|logged", TenantID: r.tenant, Email: "jane@acme.com", Name: "Jane Doe",
		Extra: map[string]any{rolesNS: []string{"portal-provider"}}}, -time.Hour)
	_, _ = r.authenticate(good)
	_, _ = r.authenticate(bad)
	_, _ = r.authenticate(expired)
	logs := r.logs.String()
	if !strings.Contains(logs, `"reason":"signature"`) || !strings.Contains(logs, `"reason":"expired"`) {
		t.Fatalf("refusals not logged with their reason:\n%s", logs)
	}
	for _, secret := range []string{good, bad, expired, strings.Split(good, ".")[1], "jane@acme.com", "Jane Doe", "mallory@evil.example", "auth0|logged"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs hold %.20q...:\n%s", secret, logs)
		}
	}
}

func TestDiscoveryMustNameTheIssuer(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tenant := mustTenant(t, db)
	real := newProvider(t)
	// A discovery document that names another issuer is not trusted.
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "https://elsewhere.example", "jwks_uri": real.URL() + "/jwks.json"})
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(liar.Close)
	v, err := auth.New([]idp.Config{{ID: "liar", Kind: idp.KindOIDC, Issuer: liar.URL, Audiences: []string{dev.Audience},
		Tenant: tenant.String(), DefaultRole: access.RoleProvider}}, directory.NewStore(db), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok := real.mint(t, dev.Claims{Subject: "s", Extra: map[string]any{"iss": liar.URL}})
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if _, err := v.Authenticate(req); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rolesClaim puts role names where an adapter of kind k reads them in the
// tests below: Auth0's namespaced claim, Keycloak's realm roles, Entra's
// app roles, and an OAuth scope string for a generic OpenID provider.
func rolesClaim(k idp.Kind, names ...string) map[string]any {
	switch k {
	case idp.KindAuth0:
		return map[string]any{rolesNS: names}
	case idp.KindKeycloak:
		return map[string]any{"realm_access": map[string]any{"roles": names}}
	case idp.KindOIDC:
		return map[string]any{"scope": strings.Join(names, " ")}
	}
	return map[string]any{"roles": names}
}

// refused reports whether err is the refusal of a credential.
func refused(err error) bool { return err != nil && apperr.KindOf(err) == apperr.Unauthenticated }

func TestRolesOnlyByMapping(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tenant := mustTenant(t, db)
	logs := &syncBuffer{}
	// One issuer's key behind every adapter, each under its own iss.
	p := newProvider(t)
	kinds := []idp.Kind{idp.KindAuth0, idp.KindKeycloak, idp.KindEntra, idp.KindOIDC}
	variants := map[string]func(*idp.Config){
		"unmapped": func(*idp.Config) {},
		"mapped":   func(c *idp.Config) { c.RoleMap = map[string]access.Role{"portal-admin": access.RoleAdmin} },
		"default":  func(c *idp.Config) { c.DefaultRole = access.RoleProvider },
	}
	var cfgs []idp.Config
	for _, k := range kinds {
		for variant, set := range variants {
			id := string(k) + "-" + variant
			c := idp.Config{ID: id, Kind: k, Issuer: p.URL() + "/" + id, JWKSURL: p.URL() + "/jwks.json",
				Audiences: []string{dev.Audience}, TenantClaim: dev.TenantClaim}
			switch k {
			case idp.KindAuth0:
				c.RolesClaim = rolesNS
			case idp.KindOIDC:
				c.RolesClaim = "scope"
			}
			set(&c)
			cfgs = append(cfgs, c)
		}
	}
	v, err := auth.New(cfgs, directory.NewStore(db), auth.Options{Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	authenticate := func(t *testing.T, k idp.Kind, variant string, names ...string) (access.Scope, error) {
		t.Helper()
		n++
		id, sub := string(k)+"-"+variant, fmt.Sprintf("%s-%s-%d", k, variant, n)
		extra := rolesClaim(k, names...)
		extra["iss"], extra["oid"] = p.URL()+"/"+id, sub
		req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		req.Header.Set("Authorization", "Bearer "+p.mint(t, dev.Claims{Subject: sub, TenantID: tenant, Extra: extra}))
		return v.Authenticate(req)
	}

	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			t.Run("UnmappedNamesGetNoRole", func(t *testing.T) {
				for variant, sets := range map[string][][]string{
					"unmapped": {{"internal"}, {"admin"}, {"provider"}, {"internal", "admin", "provider"}},
					"mapped":   {{"internal"}, {"admin"}, {"internal", "admin", "provider"}},
				} {
					for _, names := range sets {
						if s, err := authenticate(t, k, variant, names...); !refused(err) {
							t.Errorf("%s adapter: roles %v gave %+v, %v; want refused", variant, names, s, err)
						}
					}
				}
				if want := `"idp":"` + string(k) + `-unmapped","reason":"no_role"`; !strings.Contains(logs.String(), want) {
					t.Errorf("no refusal logged as %s", want)
				}
			})
			t.Run("MappedNameGetsItsRole", func(t *testing.T) {
				s, err := authenticate(t, k, "mapped", "internal", "portal-admin")
				if err != nil || s.Role != access.RoleAdmin || s.TenantID != tenant {
					t.Fatalf("scope %+v err %v, want admin of the token's tenant", s, err)
				}
			})
			t.Run("UnmappedNamesGetTheDefaultRole", func(t *testing.T) {
				for _, names := range [][]string{{"internal"}, {"admin"}, nil} {
					s, err := authenticate(t, k, "default", names...)
					if err != nil || s.Role != access.RoleProvider || s.TenantID != tenant || s.CrossTenant() {
						t.Errorf("roles %v: scope %+v err %v, want the default provider", names, s, err)
					}
				}
			})
		})
	}
}

func TestFixedTenantNeverCrossTenant(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tenant, other := mustTenant(t, db), mustTenant(t, db)
	p := newProvider(t)
	adapter := func(id string, set func(*idp.Config)) idp.Config {
		c := idp.Config{ID: id, Kind: idp.KindKeycloak, Issuer: p.URL() + "/" + id, JWKSURL: p.URL() + "/jwks.json",
			Audiences: []string{dev.Audience}, Tenant: tenant.String()}
		set(&c)
		return c
	}
	mapped := adapter("kc-mapped", func(c *idp.Config) {
		c.RoleMap = map[string]access.Role{"portal-admin": access.RoleAdmin, "portal-provider": access.RoleProvider}
	})
	byDefault := adapter("kc-default", func(c *idp.Config) { c.DefaultRole = access.RoleAdmin })
	v, err := auth.New([]idp.Config{mapped, byDefault}, directory.NewStore(db), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("NoTokenReadsAcrossTenants", func(t *testing.T) {
		accepted := 0
		for i, claims := range []map[string]any{
			rolesClaim(idp.KindKeycloak, "internal"),
			rolesClaim(idp.KindKeycloak, "internal", "portal-admin"),
			rolesClaim(idp.KindKeycloak, "portal-admin"),
			{"roles": []string{"internal"}, "azp": "ops", "gty": "client-credentials"},
			{dev.TenantClaim: other.String(), "realm_access": map[string]any{"roles": []string{"portal-admin", "internal"}}},
		} {
			for _, c := range []idp.Config{mapped, byDefault} {
				claims["iss"] = c.Issuer
				tok := p.mint(t, dev.Claims{Subject: fmt.Sprintf("%s-%d", c.ID, i), Extra: claims})
				req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				s, err := v.Authenticate(req)
				if err != nil {
					if !refused(err) {
						t.Fatal(err)
					}
					continue
				}
				accepted++
				if s.CrossTenant() || s.TenantID != tenant || s.UserID == uuid.Nil {
					t.Errorf("%s, claims %v: scope %+v, want a user of the fixed tenant", c.ID, claims, s)
				}
			}
		}
		if accepted == 0 {
			t.Fatal("every token was refused; the test proves nothing")
		}
	})

	t.Run("InternalCannotBeConfigured", func(t *testing.T) {
		for name, set := range map[string]func(*idp.Config){
			"RoleMap": func(c *idp.Config) { c.RoleMap = map[string]access.Role{"svc": access.RoleInternal} },
			"RoleMapWithInternalClients": func(c *idp.Config) {
				c.RoleMap, c.InternalClients = map[string]access.Role{"svc": access.RoleInternal}, []string{"ops"}
			},
			"DefaultRole": func(c *idp.Config) { c.DefaultRole = access.RoleInternal },
		} {
			t.Run(name, func(t *testing.T) {
				if _, err := auth.New([]idp.Config{adapter("kc-internal", set)}, directory.NewStore(db), auth.Options{}); err == nil {
					t.Fatal("a fixed-tenant adapter was configured to grant internal")
				}
			})
		}
	})
}
