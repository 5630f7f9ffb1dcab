package keycloak_test

import (
	"strings"
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
	t.Run("Invite", func(t *testing.T) {
		idptest.ConformanceInvite(t, f.Core, func(timeout time.Duration) idp.Inviter {
			cfg := f.Config()
			cfg.Timeout = idp.Duration(timeout)
			return keycloak.New(cfg, nil)
		})
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

	t.Run("InviteAsksToSetThePasswordAndVerify", func(t *testing.T) {
		name := "Mary Ann Smith"
		p, err := keycloak.New(f.Config(), nil).InviteUser(t.Context(), idp.NewIdentity{Email: "Mary@Example.com", FullName: &name})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := f.Get(p.ExternalID)
		if u.Email != "mary@example.com" || u.FirstName != "Mary" || u.LastName != "Ann Smith" || u.EmailVerified {
			t.Fatalf("stored %+v", u)
		}
		sent := f.SentTo(p.ExternalID)
		if len(sent) != 1 || strings.Join(sent[0].Actions, ",") != "UPDATE_PASSWORD,VERIFY_EMAIL" {
			t.Fatalf("sent %+v", sent)
		}
		create := f.CallsFor(p.ExternalID)[0]
		if create.Body["enabled"] != true || create.Body["emailVerified"] != false || create.Body["username"] != "mary@example.com" || create.Body["credentials"] != nil {
			t.Fatalf("create sent %v", create.Body)
		}
	})
	t.Run("InviteWhoseEmailFailsReturnsTheUser", func(t *testing.T) {
		f.SetMailDown(true)
		defer f.SetMailDown(false)
		p, err := keycloak.New(f.Config(), nil).InviteUser(t.Context(), idp.NewIdentity{Email: "nomail@example.com"})
		ae := idp.AsAdminError(err)
		if err == nil || ae.Status != 500 || p == nil || p.ExternalID == "" {
			t.Fatalf("got %+v, %v", p, err)
		}
		if _, ok := f.Get(p.ExternalID); !ok || len(f.SentTo(p.ExternalID)) != 0 {
			t.Fatal("want the user made and no email sent")
		}
	})
}
