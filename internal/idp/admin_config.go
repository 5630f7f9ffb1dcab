package idp

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

var connectionName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,126}[A-Za-z0-9])?$`)

// AdminConfig is how the gateway reaches an IdP's admin API to change,
// read and delete identities. Secrets belong in the configuration file's
// secret store, never in logs.
type AdminConfig struct {
	// BaseURL is the API root: Auth0 https://TENANT.auth0.com, Keycloak
	// https://kc.example.com (without /admin), Graph
	// https://graph.microsoft.com (the default for entra).
	BaseURL string `yaml:"base_url"`
	// TokenURL is the client-credentials token endpoint. Defaults: Auth0
	// BaseURL/oauth/token, Keycloak BaseURL/realms/REALM/protocol/openid-connect/token,
	// Entra https://login.microsoftonline.com/TENANT/oauth2/v2.0/token.
	TokenURL     string `yaml:"token_url"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Audience is Auth0's API identifier; default BaseURL/api/v2/.
	Audience string `yaml:"audience"`
	Realm    string `yaml:"realm"`     // Keycloak: the realm of the users
	TenantID string `yaml:"tenant_id"` // Entra: the directory (tenant) id
	// RequestsPerSecond is this adapter's share of the IdP's admin quota,
	// shared by every gateway process on the database. Default: auth0 2,
	// entra 10, keycloak 20, dev 50.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Timeout bounds every admin API call (token fetch included); default
	// DefaultAdminTimeout.
	Timeout Duration `yaml:"timeout"`
	// Connection is the Auth0 database connection invited users are
	// created in (InviteUser); default DefaultAuth0Connection. Its reset
	// email goes through the Authentication API with ClientID, so that
	// application must have the connection enabled.
	Connection string `yaml:"connection"`
	// InviteRedirectURL is where Entra sends an invited guest once they
	// accept (POST /invitations inviteRedirectUrl); required for entra
	// invites, which fail Permanent without it.
	InviteRedirectURL string `yaml:"invite_redirect_url"`
}

// DefaultAuth0Connection is the database connection Auth0 tenants start with.
const DefaultAuth0Connection = "Username-Password-Authentication"

// DefaultAdminTimeout bounds an admin API call when no timeout is set.
const DefaultAdminTimeout = 10 * time.Second

// DefaultRequestsPerSecond is the admin rate of a kind when none is set.
var DefaultRequestsPerSecond = map[Kind]float64{
	KindAuth0: 2, KindEntra: 10, KindKeycloak: 20, KindDev: 50,
}

// Normalize fills in the defaults of kind and checks every field; an error
// names the adapter id and the field.
func (a *AdminConfig) Normalize(id string, kind Kind) error {
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("idp %q: admin.%s: %s", id, field, fmt.Sprintf(format, args...))
	}
	httpURL := func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
	}
	if kind == KindOIDC {
		return fail("base_url", "an oidc adapter has no admin API")
	}
	if kind == KindEntra && a.BaseURL == "" {
		a.BaseURL = "https://graph.microsoft.com"
	}
	if kind != KindDev {
		if !httpURL(a.BaseURL) {
			return fail("base_url", "required: the admin API's http(s) URL")
		}
		if a.ClientID == "" {
			return fail("client_id", "required")
		}
		if a.ClientSecret == "" {
			return fail("client_secret", "required")
		}
	}
	switch kind {
	case KindKeycloak:
		if a.Realm == "" {
			return fail("realm", "required for keycloak")
		}
	case KindEntra:
		if a.TenantID == "" && a.TokenURL == "" {
			return fail("tenant_id", "required for entra (or a token_url)")
		}
	}
	if a.Connection != "" && kind != KindAuth0 {
		return fail("connection", "only auth0 has database connections")
	}
	if kind == KindAuth0 {
		if a.Connection == "" {
			a.Connection = DefaultAuth0Connection
		}
		// Auth0: 1 to 128 characters, letters, digits and dashes, starting
		// and ending with a letter or digit.
		if !connectionName.MatchString(a.Connection) {
			return fail("connection", "must be an Auth0 connection name (letters, digits and dashes, at most 128)")
		}
	}
	if a.InviteRedirectURL != "" {
		if kind != KindEntra {
			return fail("invite_redirect_url", "only entra invitations take a redirect URL")
		}
		if u, err := url.Parse(a.InviteRedirectURL); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			return fail("invite_redirect_url", "must be an http(s) URL")
		}
	}
	if a.TokenURL != "" && !httpURL(a.TokenURL) {
		return fail("token_url", "must be an http(s) URL")
	}
	if a.RequestsPerSecond == 0 {
		a.RequestsPerSecond = DefaultRequestsPerSecond[kind]
	}
	if a.RequestsPerSecond <= 0 || a.RequestsPerSecond > 1000 {
		return fail("requests_per_second", "must be above 0 and at most 1000")
	}
	if a.Timeout == 0 {
		a.Timeout = Duration(DefaultAdminTimeout)
	}
	if a.Timeout < 0 || time.Duration(a.Timeout) > 2*time.Minute {
		return fail("timeout", "must be between 0s and 2m")
	}
	return nil
}
