// Package providers is the one registry of the identity providers the
// gateway knows, by kind (ByKind): each kind's claim defaults, admin
// adapter and webhook verifier, which live in the kind's own package
// (internal/idp/auth0, keycloak, entra, oidc, dev). It reads the IdP
// configuration file (LoadFile, Parse), normalising every adapter with its
// kind's defaults (Normalize), and builds the admin adapters (NewAdmins)
// and the webhook verifiers (NewVerifier). It owns no state.
package providers

import (
	"net/http"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/entra"
	"github.com/propertyportal/gateway/internal/idp/keycloak"
	"github.com/propertyportal/gateway/internal/idp/oidc"
)

// Provider is what the gateway knows about one kind of IdP.
type Provider struct {
	// Claims are the claim names its tokens carry when the configuration
	// names none.
	Claims idp.ClaimDefaults
	// NewAdmin builds the admin adapter from its normalised configuration;
	// nil: the kind has no admin API.
	NewAdmin func(cfg idp.AdminConfig, hc *http.Client) (idp.AdminAdapter, error)
	// NewVerifier builds the verifier of the change notifications that
	// adapter id's IdP posts, from its webhook secret and replay window.
	NewVerifier func(id, secret string, window time.Duration) Verifier
	// WebhookStatus is the status of an accepted delivery, what the IdP
	// expects; 200 when zero.
	WebhookStatus int
}

// Verifier checks a delivery's authenticity and turns it into changes.
type Verifier interface {
	// Changes authenticates r with its body and returns the changes it
	// reports; a change with no Type lies outside the time window
	// (delivery.Outside). Errors wrap delivery.ErrUnauthorized or
	// delivery.ErrBadRequest.
	Changes(r *http.Request, body []byte, now time.Time) ([]directory.Change, error)
}

// Handshaker is a Verifier whose IdP validates the endpoint before it
// posts to it (Entra's validationToken): Handshake answers such a request
// and reports whether r was one.
type Handshaker interface {
	Handshake(w http.ResponseWriter, r *http.Request) bool
}

// ByKind are the providers by kind.
var ByKind = map[idp.Kind]Provider{
	idp.KindAuth0: {Claims: auth0.DefaultClaims, NewAdmin: admin(auth0.New), NewVerifier: verifier(auth0.NewVerifier)},
	idp.KindKeycloak: {Claims: keycloak.DefaultClaims, NewAdmin: admin(keycloak.New),
		NewVerifier: verifier(keycloak.NewVerifier)},
	idp.KindEntra: {Claims: entra.DefaultClaims, NewAdmin: admin(entra.New), NewVerifier: verifier(entra.NewVerifier),
		WebhookStatus: entra.WebhookStatus},
	idp.KindOIDC: {Claims: oidc.DefaultClaims, NewVerifier: verifier(oidc.NewVerifier)},
	idp.KindDev: {Claims: dev.DefaultClaims, NewVerifier: verifier(oidc.NewVerifier), // the generic scheme
		NewAdmin: func(idp.AdminConfig, *http.Client) (idp.AdminAdapter, error) { return dev.NewAdmin(), nil }},
}

// Normalize fills in the defaults of c's kind and checks every field (see
// idp.Config.Normalize).
func Normalize(c *idp.Config) error {
	var claims *idp.ClaimDefaults
	if p, ok := ByKind[c.Kind]; ok {
		claims = &p.Claims
	}
	return c.Normalize(claims)
}

// admin makes a kind's admin constructor a NewAdmin.
func admin[A idp.AdminAdapter](ctor func(idp.AdminConfig, *http.Client) A) func(idp.AdminConfig, *http.Client) (idp.AdminAdapter, error) {
	return func(c idp.AdminConfig, hc *http.Client) (idp.AdminAdapter, error) { return ctor(c, hc), nil }
}

// verifier makes a kind's verifier constructor a NewVerifier.
func verifier[V Verifier](ctor func(id, secret string, window time.Duration) V) func(string, string, time.Duration) Verifier {
	return func(id, secret string, window time.Duration) Verifier { return ctor(id, secret, window) }
}
