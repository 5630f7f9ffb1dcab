package entra_test

import (
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/entra"
	"github.com/propertyportal/gateway/internal/idp/entra/entratest"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

func TestAdapter(t *testing.T) {
	f := entratest.New(t)
	idptest.Conformance(t, f.Core, func(timeout time.Duration) idp.AdminAdapter {
		cfg := f.Config()
		cfg.Timeout = idp.Duration(timeout)
		return entra.New(cfg, nil)
	})
	t.Run("Invite", func(t *testing.T) {
		idptest.ConformanceInvite(t, f.Core, func(timeout time.Duration) idp.Inviter {
			cfg := f.Config()
			cfg.Timeout = idp.Duration(timeout)
			return entra.New(cfg, nil)
		})
	})
	t.Run("AGuestIsVerifiedOnceAccepted", func(t *testing.T) {
		f.Put(idptest.User{ID: "g-1", Email: "guest@example.com", FirstName: "Guest"})
		f.SetGuest("g-1", true)
		a := entra.New(f.Config(), nil)
		found, err := a.FindUsersByEmail(t.Context(), "guest@example.com")
		if err != nil || len(found) != 1 || found[0].EmailVerified {
			t.Fatalf("a guest PendingAcceptance: %+v, %v", found, err)
		}
		f.Accept("g-1")
		found, err = a.FindUsersByEmail(t.Context(), "guest@example.com")
		if err != nil || len(found) != 1 || !found[0].EmailVerified {
			t.Fatalf("a guest who accepted: %+v, %v", found, err)
		}
		if p, err := a.GetUser(t.Context(), "g-1"); err != nil || !p.EmailVerified {
			t.Fatalf("GetUser of a guest who accepted: %+v, %v", p, err)
		}
	})
	t.Run("InviteSendsTheRedirectAndTheMessage", func(t *testing.T) {
		p, err := entra.New(f.Config(), nil).InviteUser(t.Context(), idp.NewIdentity{Email: "invitee@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		calls := f.CallsFor(p.ExternalID)
		if len(calls) != 1 || calls[0].Path != "/v1.0/invitations" || calls[0].Body["inviteRedirectUrl"] != entratest.RedirectURL ||
			calls[0].Body["sendInvitationMessage"] != true || calls[0].Body["invitedUserEmailAddress"] != "invitee@example.com" {
			t.Fatalf("recorded %+v", calls)
		}
	})
	t.Run("InviteWithoutRedirectURLIsPermanent", func(t *testing.T) {
		cfg := f.Config()
		cfg.InviteRedirectURL = ""
		before := len(f.Calls())
		_, err := entra.New(cfg, nil).InviteUser(t.Context(), idp.NewIdentity{Email: "noredirect@example.com"})
		ae := idp.AsAdminError(err)
		if err == nil || ae.Kind != idp.Permanent || !strings.Contains(ae.Reason, "invite_redirect_url") {
			t.Fatalf("got %v", err)
		}
		if n := len(f.Calls()) - before; n != 0 {
			t.Fatalf("%d calls sent without a redirect URL", n)
		}
	})
}
