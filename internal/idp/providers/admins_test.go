package providers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/keycloak"
	"github.com/propertyportal/gateway/internal/idp/providers"
)

const doc = `
idps:
  - id: auth0-prod
    kind: auth0
    issuer: https://portal.eu.auth0.com/
    audiences: [https://api.portal.example.com]
    roles_claim: https://portal.example.com/roles
    tenant_claim: https://portal.example.com/tenant
    admin:
      base_url: https://portal.eu.auth0.com
      client_id: gw
      client_secret: secret
  - id: keycloak-default
    kind: keycloak
    issuer: https://kc.example.com/realms/portal
    audiences: [portal-gateway]
    tenant: 5c1f0000-0000-0000-0000-000000000001
    admin:
      base_url: https://kc.example.com
      realm: portal
      client_id: gw
      client_secret: secret
      requests_per_second: 5
      timeout: 3s
  - id: dev
    kind: dev
    issuer: http://127.0.0.1:8080/dev
    audiences: [portal]
    tenant_claim: tenant
    admin: {}
  - id: entra-corp
    kind: entra
    issuer: https://login.microsoftonline.com/t/v2.0
    audiences: [api://portal]
    tenant_claim: tid
`

// unwrap returns the provider's adapter under the metrics wrapper.
func unwrap(a providers.Admin) idp.AdminAdapter {
	if u, ok := a.AdminAdapter.(interface{ Unwrap() idp.AdminAdapter }); ok {
		return u.Unwrap()
	}
	return a.AdminAdapter
}

func TestNew(t *testing.T) {
	cfgs, err := providers.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := providers.NewAdmins(cfgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d adapters, want 3 (entra has no admin section)", len(got))
	}
	if _, ok := unwrap(got["auth0-prod"]).(*auth0.Adapter); !ok || got["auth0-prod"].RequestsPerSecond != 2 || got["auth0-prod"].CallsPerUpdate != 1 ||
		got["auth0-prod"].Timeout != idp.DefaultAdminTimeout {
		t.Fatalf("auth0: %+v", got["auth0-prod"])
	}
	if _, ok := unwrap(got["keycloak-default"]).(*keycloak.Adapter); !ok || got["keycloak-default"].RequestsPerSecond != 5 || got["keycloak-default"].CallsPerUpdate != 2 ||
		got["keycloak-default"].Timeout != 3*time.Second {
		t.Fatalf("keycloak: %+v", got["keycloak-default"])
	}
	if _, ok := unwrap(got["dev"]).(*dev.Admin); !ok {
		t.Fatalf("dev: %+v", got["dev"])
	}
	for id, calls := range map[string]int{"auth0-prod": 2, "keycloak-default": 2, "dev": 1} {
		if got[id].Inviter == nil || got[id].CallsPerInvite != calls {
			t.Errorf("%s: Inviter %v, CallsPerInvite %d, want %d", id, got[id].Inviter != nil, got[id].CallsPerInvite, calls)
		}
	}
}

func TestConfigErrorsNameAdapterAndField(t *testing.T) {
	bad := strings.Replace(doc, "      realm: portal\n", "", 1)
	_, err := providers.Parse([]byte(bad))
	if err == nil || !strings.Contains(err.Error(), `idp "keycloak-default": admin.realm`) {
		t.Fatalf("got %v", err)
	}
	bad = strings.Replace(doc, "requests_per_second: 5", "requests_per_second: -1", 1)
	if _, err := providers.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "admin.requests_per_second") {
		t.Fatalf("got %v", err)
	}
}
