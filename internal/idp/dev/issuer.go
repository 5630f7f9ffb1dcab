// Package dev is the gateway's own identity provider for `gateway dev` and
// tests: an OpenID issuer that signs real RS256 tokens with a key made at
// start and serves its discovery document and JWKS over HTTP, so its tokens
// go through the same verification as any other IdP's. It must never be
// enabled by `gateway serve`: it mints a token for whoever asks.
package dev

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp"
)

// Audience is the audience the dev issuer's tokens carry and its adapter expects.
const Audience = "portal-gateway"

// The claims the dev issuer puts in its tokens beside the standard ones.
const (
	TenantClaim = "tenant_id"
	RolesClaim  = "roles"
)

// ServiceClient is the client id (azp) of the dev issuer's internal service
// account: the one client whose tokens its adapter lets hold internal.
const ServiceClient = "dev-service-account"

// Issuer is a local OpenID issuer. Its methods are safe for concurrent use.
type Issuer struct {
	url string

	mu      sync.RWMutex
	keys    []signingKey // newest last; all are published, the newest signs
	tenants []Tenant     // listed on the index page
}

// Tenant is a tenant the issuer's index page lists, with the subject
// (external id) of a user per role, to mint tokens for.
type Tenant struct {
	Name     string
	ID       uuid.UUID
	Subjects map[access.Role]string
}

// AddTenant adds a tenant to those the index page lists (gateway dev adds
// the demo tenants).
func (i *Issuer) AddTenant(t Tenant) {
	i.mu.Lock()
	i.tenants = append(i.tenants, t)
	i.mu.Unlock()
}

type signingKey struct {
	private jwk.Key
	public  jwk.Key
}

// NewIssuer returns an issuer whose iss is url (where Handler is served),
// with a fresh 2048-bit RSA key.
func NewIssuer(url string) (*Issuer, error) {
	i := &Issuer{url: strings.TrimSuffix(url, "/")}
	if err := i.Rotate(); err != nil {
		return nil, err
	}
	return i, nil
}

// URL is the issuer's iss.
func (i *Issuer) URL() string { return i.url }

// Rotate makes a new signing key. The old keys stay published (as an IdP
// does during a rollover) but no longer sign.
func (i *Issuer) Rotate() error {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("dev idp: key: %w", err)
	}
	kidBytes := make([]byte, 8)
	if _, err := rand.Read(kidBytes); err != nil {
		return fmt.Errorf("dev idp: kid: %w", err)
	}
	kid := hex.EncodeToString(kidBytes)
	priv, err := jwk.Import(raw)
	if err != nil {
		return fmt.Errorf("dev idp: key: %w", err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		return fmt.Errorf("dev idp: key: %w", err)
	}
	for _, k := range []jwk.Key{priv, pub} {
		if err := k.Set(jwk.KeyIDKey, kid); err != nil {
			return err
		}
		if err := k.Set(jwk.AlgorithmKey, jwa.RS256()); err != nil {
			return err
		}
	}
	if err := pub.Set(jwk.KeyUsageKey, "sig"); err != nil {
		return err
	}
	i.mu.Lock()
	i.keys = append(i.keys, signingKey{private: priv, public: pub})
	i.mu.Unlock()
	return nil
}

// Claims are what a minted token says about its bearer.
type Claims struct {
	Subject  string      // sub: the external id
	TenantID uuid.UUID   // tenant_id; uuid.Nil leaves it out
	Role     access.Role // roles: [role]
	Email    string      // email; empty leaves it out
	Name     string      // name; empty leaves it out
	Audience []string    // aud; [Audience] when empty
	Client   string      // azp: the OAuth client; empty leaves it out
	// Extra claims, e.g. "oid" to act as another IdP's token.
	Extra map[string]any
}

// Mint signs a token for c that is valid from now for ttl.
func (i *Issuer) Mint(c Claims, ttl time.Duration) (string, error) {
	now := time.Now()
	aud := c.Audience
	if len(aud) == 0 {
		aud = []string{Audience}
	}
	b := jwt.NewBuilder().Issuer(i.url).Subject(c.Subject).Audience(aud).
		IssuedAt(now).NotBefore(now).Expiration(now.Add(ttl))
	if c.TenantID != uuid.Nil {
		b = b.Claim(TenantClaim, c.TenantID.String())
	}
	if c.Role != "" {
		b = b.Claim(RolesClaim, []string{string(c.Role)})
	}
	if c.Client != "" {
		b = b.Claim("azp", c.Client)
	}
	if c.Email != "" {
		b = b.Claim("email", c.Email)
	}
	if c.Name != "" {
		b = b.Claim("name", c.Name)
	}
	for k, v := range c.Extra {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("dev idp: build token: %w", err)
	}
	i.mu.RLock()
	key := i.keys[len(i.keys)-1].private
	i.mu.RUnlock()
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), key))
	if err != nil {
		return "", fmt.Errorf("dev idp: sign: %w", err)
	}
	return string(signed), nil
}

// Adapter returns the adapter configuration that trusts this issuer under
// the idp_id id: tenant and roles from the issuer's claims, subject sub.
// Each role name maps to the gateway role of that name, internal only for
// tokens of ServiceClient.
func (i *Issuer) Adapter(id string) idp.Config {
	return idp.Config{
		ID: id, Kind: idp.KindDev, Issuer: i.url, Audiences: []string{Audience},
		TenantClaim: TenantClaim, RolesClaim: RolesClaim,
		RoleMap: map[string]access.Role{"provider": access.RoleProvider, "admin": access.RoleAdmin,
			"internal": access.RoleInternal},
		InternalClients: []string{ServiceClient},
	}
}

// Handler serves the issuer under its URL's path: an index page (plain
// text) that says what it offers, the OpenID discovery document, the JWKS,
// and a token endpoint (POST form: role, tenant, sub, email, name) that
// mints a token for whoever asks, an internal one as a token of
// ServiceClient. Mount it only in dev.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", i.index)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                i.url,
			"jwks_uri":                              i.url + "/jwks.json",
			"token_endpoint":                        i.url + "/token",
			"response_types_supported":              []string{"token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		set := jwk.NewSet()
		i.mu.RLock()
		for _, k := range i.keys {
			_ = set.AddKey(k.public)
		}
		i.mu.RUnlock()
		w.Header().Set("Cache-Control", "max-age=300")
		writeJSON(w, http.StatusOK, set)
	})
	mux.HandleFunc("POST /token", i.token)
	return mux
}

// tokenTTL is how long the token endpoint's tokens are valid.
const tokenTTL = 12 * time.Hour

// index says what the issuer offers, with a curl command per role of each
// described tenant.
func (i *Issuer) index(w http.ResponseWriter, _ *http.Request) {
	i.mu.RLock()
	tenants := i.tenants
	i.mu.RUnlock()
	var b strings.Builder
	fmt.Fprintf(&b, `Dev IdP of gateway dev: an OpenID issuer that signs RS256 tokens for whoever
asks. gateway serve never runs it.

Issuer:     %[1]s
Discovery:  %[1]s/.well-known/openid-configuration
JWKS:       %[1]s/jwks.json
Tokens:     POST %[1]s/token (a form; answers {"access_token", "token_type": "Bearer", "expires_in"})

Send a token as "Authorization: Bearer <access_token>" to /graphql; it is
valid %[2]s. The form's parameters:
  role    provider, admin or internal (required)
  tenant  the tenant's id (required for provider and admin)
  sub     the user's external id at this IdP (required for provider and admin;
          one the gateway has not seen signs in as a new user of the tenant)
  email   the email claim (optional)
  name    the name claim (optional)
An internal token is one of the service account client (azp %[3]s),
which reads across tenants.
`, i.url, tokenTTL, ServiceClient)
	if len(tenants) > 0 {
		b.WriteString("\nTenants:\n")
	}
	for _, t := range tenants {
		fmt.Fprintf(&b, "  %s  %s\n", t.Name, t.ID)
		roles := make([]string, 0, len(t.Subjects))
		for r := range t.Subjects {
			roles = append(roles, string(r))
		}
		sort.Strings(roles)
		for _, r := range roles {
			fmt.Fprintf(&b, "    %-9s curl -d role=%s -d tenant=%s -d sub=%s %s/token\n",
				r+":", r, t.ID, url.QueryEscape(t.Subjects[access.Role(r)]), i.url)
		}
	}
	fmt.Fprintf(&b, "\nInternal service account:\n    curl -d role=internal %s/token\n", i.url)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, b.String())
}

// token mints a token from a form, answering as an OAuth token endpoint does.
func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", "the body must be a form")
		return
	}
	c := Claims{Subject: r.PostForm.Get("sub"), Role: access.Role(r.PostForm.Get("role")),
		Email: r.PostForm.Get("email"), Name: r.PostForm.Get("name")}
	if !c.Role.Valid() {
		oauthError(w, "invalid_request", "role must be provider, admin or internal")
		return
	}
	if t := r.PostForm.Get("tenant"); t != "" {
		id, err := uuid.Parse(t)
		if err != nil {
			oauthError(w, "invalid_request", "tenant must be a UUID")
			return
		}
		c.TenantID = id
	}
	if c.Role != access.RoleInternal && (c.Subject == "" || c.TenantID == uuid.Nil) {
		oauthError(w, "invalid_request", "sub and tenant are required for provider and admin")
		return
	}
	if c.Role == access.RoleInternal {
		c.Client = ServiceClient
	}
	if c.Subject == "" {
		c.Subject = "dev-service-account"
	}
	ttl := tokenTTL
	tok, err := i.Mint(c, ttl)
	if err != nil {
		oauthError(w, "server_error", "could not sign")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds())})
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
