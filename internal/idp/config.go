package idp

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// allowedAlgorithms are the signature algorithms a configuration may allow:
// asymmetric only, so a public key can never be used as an HMAC secret.
var allowedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Normalize fills in the defaults of c's kind, whose claims are claims (nil
// when no provider has the kind; internal/idp/providers.Normalize looks them
// up), and checks every field. An error names the adapter and the field.
func (c *Config) Normalize(claims *ClaimDefaults) error {
	name := c.ID
	if name == "" {
		name = "(no id)"
	}
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("idp %q: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	if c.ID == "" || len(c.ID) > 100 || strings.ContainsAny(c.ID, " /\t") {
		return fail("id", "required: a short name such as auth0-prod")
	}
	switch c.Kind {
	case KindAuth0, KindKeycloak, KindEntra, KindOIDC, KindDev:
	case "":
		return fail("kind", "required: auth0, keycloak, entra, oidc or dev")
	default:
		return fail("kind", "%q is not one of auth0, keycloak, entra, oidc, dev", c.Kind)
	}
	if claims == nil {
		return fail("kind", "%q has no provider", c.Kind)
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fail("issuer", "required: the exact https URL in the tokens' iss")
	}
	if len(c.Audiences) == 0 {
		return fail("audiences", "required: at least one audience")
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fail("jwks_url", "must be an http(s) URL")
		}
	}
	if c.SubjectClaim == "" {
		c.SubjectClaim = claims.Subject
	}
	if c.EmailClaim == "" {
		c.EmailClaim = "email"
	}
	if c.NameClaim == "" {
		c.NameClaim = "name"
	}
	if c.RolesClaim == "" {
		if claims.Roles == "" {
			return fail("roles_claim", "%s", claims.RolesRequired)
		}
		c.RolesClaim = claims.Roles
	}
	if (c.TenantClaim == "") == (c.Tenant == "") {
		return fail("tenant_claim", "set exactly one of tenant_claim and tenant")
	}
	if c.Tenant != "" {
		if _, err := uuid.Parse(c.Tenant); err != nil {
			return fail("tenant", "must be a tenant UUID")
		}
	}
	grantsInternal := false
	for _, idpRole := range slices.Sorted(maps.Keys(c.RoleMap)) {
		switch role := c.RoleMap[idpRole]; {
		case !role.Valid():
			return fail("role_map", "%q maps to %q, not one of provider, admin, internal", idpRole, role)
		case role != access.RoleInternal:
		case c.Tenant != "":
			return fail("role_map", "%q maps to internal, which reads every tenant; an adapter with a fixed tenant cannot grant it", idpRole)
		case len(c.InternalClients) == 0:
			return fail("role_map", "%q maps to internal but internal_clients is empty: name the clients whose client-credentials tokens may hold it", idpRole)
		default:
			grantsInternal = true
		}
	}
	switch c.DefaultRole {
	case "", access.RoleProvider, access.RoleAdmin:
	case access.RoleInternal:
		return fail("default_role", "internal is never a default: it reads every tenant; map a role to it and name its clients in internal_clients")
	default:
		return fail("default_role", "must be provider or admin")
	}
	for _, id := range c.InternalClients {
		if strings.TrimSpace(id) == "" {
			return fail("internal_clients", "an empty client id")
		}
	}
	if len(c.InternalClients) > 0 && !grantsInternal {
		return fail("internal_clients", "set, but no role_map value is internal")
	}
	if c.ClientClaim == "" {
		c.ClientClaim = "azp"
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = Duration(60 * time.Second)
	}
	if c.ClockSkew < 0 || time.Duration(c.ClockSkew) > 10*time.Minute {
		return fail("clock_skew", "must be between 0s and 10m")
	}
	if c.JWKSMinRefresh == 0 {
		c.JWKSMinRefresh = Duration(time.Minute)
	}
	if c.JWKSMinRefresh < 0 {
		return fail("jwks_min_refresh", "must not be negative")
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{"RS256"}
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(allowedAlgorithms, a) {
			return fail("algorithms", "%q is not allowed; use asymmetric algorithms such as RS256 or ES256", a)
		}
	}
	if err := c.normalizeMigration(fail); err != nil {
		return err
	}
	if c.Admin != nil {
		if err := c.Admin.Normalize(c.ID, c.Kind); err != nil {
			return err
		}
	}
	return c.normalizeWebhook()
}

// MaxGrace bounds MigrateFrom.Grace.
const MaxGrace = 90 * 24 * time.Hour

// MigrateFrom is one adapter whose users move to the adapter that lists it
// (the target) in a migration between IdPs: the migration run (gateway idp
// migrate) and, when LinkOnSignIn is set, sign-in itself repoint a user of
// IdP to the target, keeping the user's id.
type MigrateFrom struct {
	IdP string `yaml:"idp"` // the source adapter's id; a configured adapter other than the target
	// Grace is how long a token of the source keeps resolving to a user
	// after the user moved; 0 (the default) refuses it at once; at most
	// MaxGrace.
	Grace Duration `yaml:"grace"`
	// LinkOnSignIn links just in time: the first sign-in of an identity
	// unknown to the target, with a verified email, takes over the one user
	// of the source in the same tenant with that email (case-insensitive).
	// It requires the target's trust_email_verified.
	LinkOnSignIn bool `yaml:"link_on_sign_in"`
}

// MigrateFrom returns how users of adapter id move to c, and false when c
// does not list id in migrate_from.
func (c *Config) MigrateFrom(id string) (*MigrateFrom, bool) {
	for i := range c.MigrateSources {
		if c.MigrateSources[i].IdP == id {
			return &c.MigrateSources[i], true
		}
	}
	return nil, false
}

// normalizeMigration checks the email_verified and migrate_from fields of
// c; CheckMigrations checks the sources against the other adapters.
func (c *Config) normalizeMigration(fail func(field, format string, args ...any) error) error {
	if c.EmailVerifiedClaim != "" && !c.TrustEmailVerified {
		return fail("email_verified_claim", "set, but trust_email_verified is false: the claim would not be believed")
	}
	// The default only where it is believed, so a normalised config
	// normalises again unchanged.
	if c.EmailVerifiedClaim == "" && c.TrustEmailVerified {
		c.EmailVerifiedClaim = "email_verified"
	}
	seen := map[string]bool{}
	for i, m := range c.MigrateSources {
		field := fmt.Sprintf("migrate_from[%d]", i)
		switch {
		case m.IdP == "":
			return fail(field+".idp", "required: the id of the adapter whose users move to this one")
		case m.IdP == c.ID:
			return fail(field+".idp", "names this adapter itself; name the adapter users move from")
		case seen[m.IdP]:
			return fail(field+".idp", "%q is listed twice", m.IdP)
		case m.Grace < 0 || time.Duration(m.Grace) > MaxGrace:
			return fail(field+".grace", "must be between 0s and %s", MaxGrace)
		case m.LinkOnSignIn && !c.TrustEmailVerified:
			return fail(field+".link_on_sign_in", "requires trust_email_verified: linking by email is safe only with emails the IdP verified")
		}
		seen[m.IdP] = true
	}
	return nil
}

// CheckMigrations checks that every migrate_from of the adapters cfgs
// (each normalised) names another adapter among them. An error names the
// target adapter and the field.
func CheckMigrations(cfgs []Config) error {
	ids := map[string]bool{}
	for _, c := range cfgs {
		ids[c.ID] = true
	}
	for _, c := range cfgs {
		for i, m := range c.MigrateSources {
			if !ids[m.IdP] {
				return fmt.Errorf("idp %q: migrate_from[%d].idp: %q is not a configured adapter", c.ID, i, m.IdP)
			}
		}
	}
	return nil
}

// MapRole returns the gateway role of a token with the IdP role names
// names: the highest role RoleMap gives any of them (internal beats admin
// beats provider), else DefaultRole, and false when there is none. A name
// RoleMap does not list grants nothing. Internal is granted only together
// with InternalClient, which the caller checks against the token's client.
func (c *Config) MapRole(names []string) (access.Role, bool) {
	best := access.Role("")
	rank := map[access.Role]int{access.RoleProvider: 1, access.RoleAdmin: 2, access.RoleInternal: 3}
	for _, n := range names {
		if r := c.RoleMap[n]; rank[r] > rank[best] {
			best = r
		}
	}
	if best == "" {
		best = c.DefaultRole
	}
	return best, best != ""
}

// InternalClient reports whether a token issued to the OAuth client id may
// hold internal: id is one of InternalClients.
func (c *Config) InternalClient(id string) bool {
	return id != "" && slices.Contains(c.InternalClients, id)
}
