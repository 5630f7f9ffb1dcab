package keycloak_test

import (
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/idptest"
	"github.com/propertyportal/gateway/internal/idp/keycloak"
	"github.com/propertyportal/gateway/internal/idp/keycloak/keycloaktest"
)

func TestAdapter(t *testing.T) {
	f := keycloaktest.New(t)
	idptest.Conformance(t, f.Core, func(timeout time.Duration) idp.AdminAdapter {
		cfg := f.Config()
		cfg.Timeout = idp.Duration(timeout)
		return keycloak.New(cfg, nil)
	})
	t.Run("NameSplitIntoFirstAndLast", func(t *testing.T) {
		f.Put(idptest.User{ID: "k-1", Email: "k@example.com"})
		name := "Mary Ann Smith"
		if _, err := keycloak.New(f.Config(), nil).UpdateUser(t.Context(), "k-1", idp.ProfileUpdate{FullName: &name}); err != nil {
			t.Fatal(err)
		}
		if u, _ := f.Get("k-1"); u.FirstName != "Mary" || u.LastName != "Ann Smith" {
			t.Fatalf("stored %+v", u)
		}
	})
}
