// Package admins is the registry of IdP admin adapters: it builds one
// adapter per configured IdP that has an admin section, choosing the
// implementation by kind from a map of constructors. It owns no state.
package admins

import (
	"fmt"
	"net/http"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/entra"
	"github.com/propertyportal/gateway/internal/idp/keycloak"
)

// Constructor makes the admin adapter of one IdP from its normalised
// admin configuration.
type Constructor func(cfg idp.AdminConfig, hc *http.Client) (idp.AdminAdapter, error)

// Constructors are the admin adapter implementations by kind.
var Constructors = map[idp.Kind]Constructor{
	idp.KindAuth0:    func(c idp.AdminConfig, hc *http.Client) (idp.AdminAdapter, error) { return auth0.New(c, hc), nil },
	idp.KindKeycloak: func(c idp.AdminConfig, hc *http.Client) (idp.AdminAdapter, error) { return keycloak.New(c, hc), nil },
	idp.KindEntra:    func(c idp.AdminConfig, hc *http.Client) (idp.AdminAdapter, error) { return entra.New(c, hc), nil },
	idp.KindDev:      func(idp.AdminConfig, *http.Client) (idp.AdminAdapter, error) { return dev.NewAdmin(), nil },
}

// Adapter is a built admin adapter with the rate its quota allows.
type Adapter struct {
	idp.AdminAdapter
	RequestsPerSecond float64
	// CallsPerUpdate is how many admin calls one UpdateUser sends (Keycloak
	// reads before it writes), so the quota is taken for each of them.
	CallsPerUpdate int
	// Timeout bounds each admin call (the adapter's admin.timeout); zero:
	// idp.DefaultAdminTimeout.
	Timeout time.Duration
}

// New builds the admin adapters of cfgs (already normalised), keyed by IdP
// id. IdPs without an admin section are left out. hc may be nil.
func New(cfgs []idp.Config, hc *http.Client) (map[string]Adapter, error) {
	out := map[string]Adapter{}
	for _, c := range cfgs {
		if c.Admin == nil {
			continue
		}
		ctor, ok := Constructors[c.Kind]
		if !ok {
			return nil, fmt.Errorf("idp %q: admin: kind %q has no admin adapter", c.ID, c.Kind)
		}
		a, err := ctor(*c.Admin, hc)
		if err != nil {
			return nil, fmt.Errorf("idp %q: admin: %w", c.ID, err)
		}
		calls := 1
		if m, ok := a.(interface{ CallsPerUpdate() int }); ok {
			calls = m.CallsPerUpdate()
		}
		out[c.ID] = Adapter{AdminAdapter: instrumented{AdminAdapter: a, id: c.ID}, RequestsPerSecond: c.Admin.RequestsPerSecond,
			CallsPerUpdate: calls, Timeout: time.Duration(c.Admin.Timeout)}
	}
	return out, nil
}
