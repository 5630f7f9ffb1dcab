package auth0_test

import (
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/auth0/auth0test"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

func TestAdapter(t *testing.T) {
	f := auth0test.New(t)
	idptest.Conformance(t, f.Core, func(timeout time.Duration) idp.AdminAdapter {
		cfg := f.Config()
		cfg.Timeout = idp.Duration(timeout)
		return auth0.New(cfg, nil)
	})
	t.Run("Invite", func(t *testing.T) {
		idptest.ConformanceInvite(t, f.Core, func(timeout time.Duration) idp.Inviter {
			cfg := f.Config()
			cfg.Timeout = idp.Duration(timeout)
			return auth0.New(cfg, nil)
		})
	})
	t.Run("UserIDWithPipeIsEscaped", func(t *testing.T) {
		f.Put(idptest.User{ID: "auth0|abc123", Email: "a@example.com"})
		p, err := auth0.New(f.Config(), nil).GetUser(t.Context(), "auth0|abc123")
		if err != nil || p.ExternalID != "auth0|abc123" {
			t.Fatalf("got %+v, %v", p, err)
		}
		calls := f.Calls()
		if last := calls[len(calls)-1]; last.Path != "/api/v2/users/auth0|abc123" {
			t.Fatalf("path %q", last.Path)
		}
	})
	t.Run("InviteSetsAnUnknownPasswordAndAsksForAReset", func(t *testing.T) {
		a := auth0.New(f.Config(), nil)
		var pws []string
		for _, email := range []string{"one@example.com", "two@example.com"} {
			p, err := a.InviteUser(t.Context(), idp.NewIdentity{Email: email})
			if err != nil {
				t.Fatal(err)
			}
			calls := f.CallsFor(p.ExternalID)
			if len(calls) != 2 || calls[0].Path != "/api/v2/users" || calls[1].Path != "/dbconnections/change_password" {
				t.Fatalf("calls %+v", calls)
			}
			create, reset := calls[0].Body, calls[1].Body
			if create["connection"] != idp.DefaultAuth0Connection || create["email_verified"] != false || create["verify_email"] != false {
				t.Fatalf("create sent %v", create)
			}
			if reset["client_id"] != f.ClientID || reset["email"] != email || reset["connection"] != idp.DefaultAuth0Connection || len(reset) != 3 {
				t.Fatalf("change_password sent %v", reset)
			}
			pw, _ := create["password"].(string)
			if len(pw) < 40 {
				t.Fatalf("password of %d characters", len(pw))
			}
			pws = append(pws, pw)
			if sent := f.SentTo(p.ExternalID); len(sent) != 1 || sent[0].Kind != "change_password" {
				t.Fatalf("sent %+v", sent)
			}
		}
		if pws[0] == pws[1] {
			t.Fatal("two invites had the same password")
		}
	})
	t.Run("InviteUsesTheConfiguredConnection", func(t *testing.T) {
		cfg := f.Config()
		cfg.Connection = "tenants-db"
		_, err := auth0.New(cfg, nil).InviteUser(t.Context(), idp.NewIdentity{Email: "conn@example.com"})
		if ae := idp.AsAdminError(err); err == nil || ae.Kind != idp.Permanent || ae.Status != 400 {
			t.Fatalf("a connection the tenant lacks: %v", err)
		}
		calls := f.Calls()
		if last := calls[len(calls)-1]; last.Body["connection"] != "tenants-db" {
			t.Fatalf("sent %v", last.Body)
		}
	})
}
