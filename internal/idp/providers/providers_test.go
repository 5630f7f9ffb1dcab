package providers_test

import (
	"testing"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
)

// Every kind has a provider with a webhook verifier, and its claim
// defaults are what the configuration documents.
func TestEveryKindHasAProvider(t *testing.T) {
	want := map[idp.Kind][2]string{ // subject, roles
		idp.KindAuth0: {"sub", ""}, idp.KindKeycloak: {"sub", "realm_access.roles"},
		idp.KindEntra: {"oid", "roles"}, idp.KindOIDC: {"sub", "roles"}, idp.KindDev: {"sub", "roles"},
	}
	for kind, claims := range want {
		p, ok := providers.ByKind[kind]
		if !ok || p.NewVerifier == nil {
			t.Fatalf("%s: no provider or no verifier", kind)
		}
		if got := [2]string{p.Claims.Subject, p.Claims.Roles}; got != claims {
			t.Errorf("%s: claims %v, want %v", kind, got, claims)
		}
		if (p.NewAdmin == nil) != (kind == idp.KindOIDC) {
			t.Errorf("%s: admin constructor %v", kind, p.NewAdmin != nil)
		}
	}
	if len(providers.ByKind) != len(want) {
		t.Errorf("%d providers, want %d", len(providers.ByKind), len(want))
	}
}
