package idp

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// File is the IdP configuration file.
type File struct {
	IdPs []Config `yaml:"idps"`
}

// LoadFile reads and checks the configuration file at path. A value written
// ${NAME} is taken from the environment through getenv (secrets stay out of
// the file; a deployment overrides any value); an unset NAME is an error.
// An error names the adapter and the field at fault.
func LoadFile(path string, getenv func(string) string) ([]Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("idp config: %w", err)
	}
	b, err = expand(b, getenv)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces every ${NAME} with the environment's value of NAME.
func expand(doc []byte, getenv func(string) string) ([]byte, error) {
	var missing string
	out := envRef.ReplaceAllFunc(doc, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v := getenv(name)
		if v == "" && missing == "" {
			missing = name
		}
		return []byte(v)
	})
	if missing != "" {
		return nil, fmt.Errorf("idp config: ${%s} is referenced but the environment variable is not set", missing)
	}
	return out, nil
}

// Parse reads and checks a configuration document. Unknown fields are errors,
// so a typo never silently weakens verification.
func Parse(doc []byte) ([]Config, error) {
	var f File
	if err := yaml.UnmarshalWithOptions(doc, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("idp config: %v", yaml.FormatError(err, false, false))
	}
	if len(f.IdPs) == 0 {
		return nil, fmt.Errorf("idp config: no idps")
	}
	seenID, seenIssuer := map[string]bool{}, map[string]bool{}
	for i := range f.IdPs {
		c := &f.IdPs[i]
		if err := c.Normalize(); err != nil {
			return nil, err
		}
		if seenID[c.ID] {
			return nil, fmt.Errorf("idp %q: id: used twice", c.ID)
		}
		if seenIssuer[c.Issuer] {
			return nil, fmt.Errorf("idp %q: issuer: used by another adapter", c.ID)
		}
		seenID[c.ID], seenIssuer[c.Issuer] = true, true
	}
	return f.IdPs, nil
}

// allowedAlgorithms are the signature algorithms a configuration may allow:
// asymmetric only, so a public key can never be used as an HMAC secret.
var allowedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Normalize fills in the defaults of c's kind and checks every field. An
// error names the adapter and the field.
func (c *Config) Normalize() error {
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
		c.SubjectClaim = "sub"
		if c.Kind == KindEntra {
			c.SubjectClaim = "oid"
		}
	}
	if c.EmailClaim == "" {
		c.EmailClaim = "email"
	}
	if c.NameClaim == "" {
		c.NameClaim = "name"
	}
	if c.RolesClaim == "" {
		switch c.Kind {
		case KindKeycloak:
			c.RolesClaim = "realm_access.roles"
		case KindAuth0:
			return fail("roles_claim", "required for auth0: the namespaced claim your Action sets, e.g. https://portal.example.com/roles")
		default:
			c.RolesClaim = "roles"
		}
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
	if c.Admin != nil {
		if err := c.Admin.Normalize(c.ID, c.Kind); err != nil {
			return err
		}
	}
	return c.normalizeWebhook()
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
