// Package idp describes the external identity providers the gateway trusts:
// one adapter configuration per IdP (issuer, keys, which claims say who the
// user is, its webhook and admin sections), the admin adapter interface, and
// the normalised Identity a verified token yields. What each kind of IdP
// does differently lives in its own package, internal/idp/<kind> (claim
// defaults, admin adapter, webhook verifier), chosen by kind from one
// registry, internal/idp/providers, which also reads the configuration
// file. It holds no keys and makes no network calls itself; internal/auth
// verifies tokens.
package idp

import (
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// Kind names a provider implementation.
type Kind string

// The kinds of IdP.
const (
	KindAuth0    Kind = "auth0"
	KindKeycloak Kind = "keycloak"
	KindEntra    Kind = "entra"
	KindOIDC     Kind = "oidc" // any OpenID Connect provider
	KindDev      Kind = "dev"  // the gateway's own dev issuer (gateway dev only)
)

// Config is one IdP adapter, as the configuration file gives it. Claim
// names are paths: a claim whose whole name exists at the top level is
// taken as is (Auth0's namespaced "https://example.com/roles"); otherwise
// dots walk into objects ("realm_access.roles").
type Config struct {
	ID        string   `yaml:"id"`        // the users' idp_id, e.g. auth0-prod
	Kind      Kind     `yaml:"kind"`      // auth0 | keycloak | entra | oidc | dev
	Issuer    string   `yaml:"issuer"`    // the exact iss of its tokens
	Audiences []string `yaml:"audiences"` // a token must name at least one in aud
	// JWKSURL is where the signing keys are; empty: from OIDC discovery at
	// Issuer + "/.well-known/openid-configuration".
	JWKSURL string `yaml:"jwks_url"`

	SubjectClaim string `yaml:"subject_claim"` // gives external_id; default sub (entra: oid)
	EmailClaim   string `yaml:"email_claim"`   // default email
	NameClaim    string `yaml:"name_claim"`    // default name
	TenantClaim  string `yaml:"tenant_claim"`  // the tenant's UUID; or Tenant
	Tenant       string `yaml:"tenant"`        // a fixed tenant UUID for every user of this IdP
	RolesClaim   string `yaml:"roles_claim"`   // a string or list of role names
	// RoleMap maps the IdP's role names to the gateway's roles (provider,
	// admin, internal). It is the only way a token's roles claim grants a
	// role: a name it does not list grants nothing, whatever it is called
	// ("internal" and "admin" included). A name may map to internal only on
	// an adapter with a TenantClaim and InternalClients.
	RoleMap map[string]access.Role `yaml:"role_map"`
	// DefaultRole applies to a token with no mapped role: provider or
	// admin, never internal; empty refuses such a token.
	DefaultRole access.Role `yaml:"default_role"`
	// InternalClients are the OAuth client ids whose tokens may hold
	// internal: a token whose roles map to internal is refused unless its
	// ClientClaim names one of them. List only clients of the
	// client-credentials grant (machine to machine), never a client users
	// sign in through: their tokens carry its id too.
	InternalClients []string `yaml:"internal_clients"`
	// ClientClaim holds the id of the client a token was issued to; default
	// azp, which Auth0 M2M tokens (beside gty: client-credentials), Keycloak
	// and Entra v2 tokens carry. Entra v1 tokens carry appid instead.
	ClientClaim string `yaml:"client_claim"`

	ClockSkew Duration `yaml:"clock_skew"` // allowed skew for exp/nbf/iat; default 60s
	// JWKSMinRefresh is the least time between two refetches of the keys
	// that an unknown kid causes; default 1m.
	JWKSMinRefresh Duration `yaml:"jwks_min_refresh"`
	Algorithms     []string `yaml:"algorithms"` // allowed; default RS256 (never none or HS*)

	Webhook *WebhookConfig `yaml:"webhook"` // change notifications at /webhooks/{id}; nil: none accepted
	// Admin is how identity updates reach this IdP; nil: identities of this
	// IdP cannot be changed through the gateway.
	Admin *AdminConfig `yaml:"admin"`

	// TrustEmailVerified says the IdP verifies the emails it issues: only
	// then is EmailVerifiedClaim believed (Identity.EmailVerified).
	TrustEmailVerified bool `yaml:"trust_email_verified"`
	// EmailVerifiedClaim holds whether the email is verified: the boolean
	// true or the string "true"; default email_verified.
	EmailVerifiedClaim string `yaml:"email_verified_claim"`
	// MigrateSources are the adapters whose users move to this one (the
	// target) in a migration between IdPs; see MigrateFrom.
	MigrateSources []MigrateFrom `yaml:"migrate_from"`
}

// Identity is what a verified token says about its bearer, normalised
// across IdPs.
type Identity struct {
	IdPID      string
	ExternalID string
	Email      *string // nil when the token has no email claim
	FullName   *string // nil when the token has no name claim
	TenantID   uuid.UUID
	Role       access.Role
	IssuedAt   time.Time // iat; the zero time when absent
	// EmailVerified is set only when the adapter trusts its IdP's word
	// (Config.TrustEmailVerified) and the token says Email is verified.
	EmailVerified bool
}

// ServiceAccount reports whether the identity is a service account: it
// reads across tenants and is never a directory user.
func (i Identity) ServiceAccount() bool { return i.Role == access.RoleInternal }

// Duration is a time.Duration written as "60s" in configuration.
type Duration time.Duration

// UnmarshalText parses a duration such as 60s or 5m.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
