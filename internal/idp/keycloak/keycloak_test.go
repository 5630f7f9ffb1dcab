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

	t.Run("AnEmailChangeKeepsTheNameAndAttributes", func(t *testing.T) {
		// Keycloak 24+ clears what a PUT leaves out, so the adapter sends
		// the whole representation it read.
		f.Put(idptest.User{ID: "k-2", Email: "old@example.com", FirstName: "Ann", LastName: "Lee"})
		f.SetAttributes("k-2", map[string]any{"department": []any{"lettings"}})
		email := "new@example.com"
		p, err := keycloak.New(f.Config(), nil).UpdateUser(t.Context(), "k-2", idp.ProfileUpdate{Email: &email})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := f.Get("k-2")
		if u.Email != email || u.FirstName != "Ann" || u.LastName != "Lee" || p.Email == nil || *p.Email != email {
			t.Fatalf("stored %+v, answered %+v", u, p)
		}
		if got := f.Attributes("k-2"); len(got) != 1 || got["department"] == nil {
			t.Fatalf("attributes after the update: %v", got)
		}
	})
}
