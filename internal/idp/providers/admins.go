package providers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
)

// Admin is a built admin adapter with the rate its quota allows.
type Admin struct {
	idp.AdminAdapter
	RequestsPerSecond float64
	// CallsPerUpdate is how many admin calls one UpdateUser sends (Keycloak
	// reads before it writes), so the quota is taken for each of them.
	CallsPerUpdate int
	// Inviter is the adapter's find-by-email and invite, for migrations
	// between IdPs (see idp.Inviter); nil when its kind has none.
	Inviter idp.Inviter
	// CallsPerInvite is how many admin calls one InviteUser sends (a
	// create, then the invite or password-reset request).
	CallsPerInvite int
	// Timeout bounds each admin call (the adapter's admin.timeout); zero:
	// idp.DefaultAdminTimeout.
	Timeout time.Duration
}

// NewAdmins builds the admin adapters of cfgs (already normalised), keyed by
// IdP id, each by its kind's provider. IdPs without an admin section are
// left out. hc may be nil.
func NewAdmins(cfgs []idp.Config, hc *http.Client) (map[string]Admin, error) {
	out := map[string]Admin{}
	for _, c := range cfgs {
		if c.Admin == nil {
			continue
		}
		ctor := ByKind[c.Kind].NewAdmin
		if ctor == nil {
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
		ad := Admin{AdminAdapter: instrumented{AdminAdapter: a, id: c.ID}, RequestsPerSecond: c.Admin.RequestsPerSecond,
			CallsPerUpdate: calls, Timeout: time.Duration(c.Admin.Timeout)}
		if inv, ok := a.(idp.Inviter); ok {
			ad.Inviter = instrumentedInviter{Inviter: inv, obs: instrumented{id: c.ID}}
			ad.CallsPerInvite = 1
			if m, ok := a.(interface{ CallsPerInvite() int }); ok {
				ad.CallsPerInvite = m.CallsPerInvite()
			}
		}
		out[c.ID] = ad
	}
	return out, nil
}
