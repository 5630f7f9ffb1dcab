package idptest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
)

// ConformanceInvite runs the behaviour every idp.Inviter must show against
// its provider's fake: a search by email finds none, one verified or one
// unverified identity, compares emails case-insensitively and escapes
// what it sends; an invite creates an unverified identity, starts the
// provider's email in CallsPerInvite calls about that identity, and
// refuses an email already held (409, Permanent, with no PII); a 429
// carries its retry time; an invite whose answer never came is Unknown
// and can be found again by email. newInviter makes an adapter with the
// given timeout; it must state CallsPerInvite.
func ConformanceInvite(t *testing.T, core *Core, newInviter func(timeout time.Duration) idp.Inviter) {
	ctx := context.Background()
	str := func(s string) *string { return &s }
	fresh := func(t *testing.T) idp.Inviter {
		core.Put(User{ID: "u-1", Email: "old@example.com", FirstName: "Old", LastName: "Name"})
		core.Put(User{ID: "u-3", Email: "verified@example.com", FirstName: "Vera", EmailVerified: true})
		return newInviter(2 * time.Second)
	}
	kindOf := func(t *testing.T, err error) *idp.AdminError {
		t.Helper()
		if err == nil {
			t.Fatal("want an error, got none")
		}
		return idp.AsAdminError(err)
	}
	callsPerInvite := func(t *testing.T, a idp.Inviter) int {
		t.Helper()
		m, ok := a.(interface{ CallsPerInvite() int })
		if !ok || m.CallsPerInvite() < 1 {
			t.Fatal("the adapter does not state CallsPerInvite")
		}
		return m.CallsPerInvite()
	}
	// clean removes every user holding email, so each case starts afresh.
	clean := func(emails ...string) {
		for _, e := range emails {
			for _, u := range core.FindByEmail(e) {
				core.Delete(u.ID)
			}
		}
	}

	t.Run("FindNone", func(t *testing.T) {
		a := fresh(t)
		got, err := a.FindUsersByEmail(ctx, "nobody@example.com")
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want none and no error", got, err)
		}
	})
	t.Run("FindOneUnverifiedIgnoringCase", func(t *testing.T) {
		a := fresh(t)
		got, err := a.FindUsersByEmail(ctx, "OLD@Example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ExternalID != "u-1" || got[0].Email == nil || !strings.EqualFold(*got[0].Email, "old@example.com") || got[0].EmailVerified {
			t.Fatalf("found %v", profiles(got))
		}
	})
	t.Run("FindOneVerified", func(t *testing.T) {
		a := fresh(t)
		got, err := a.FindUsersByEmail(ctx, "verified@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ExternalID != "u-3" || !got[0].EmailVerified {
			t.Fatalf("found %v", profiles(got))
		}
	})
	t.Run("GetUserStatesVerified", func(t *testing.T) {
		a := fresh(t)
		ad, ok := a.(idp.AdminAdapter)
		if !ok {
			t.Skip("not an admin adapter")
		}
		p, err := ad.GetUser(ctx, "u-3")
		if err != nil || !p.EmailVerified {
			t.Fatalf("verified user read as %+v, %v", p, err)
		}
		p, err = ad.GetUser(ctx, "u-1")
		if err != nil || p.EmailVerified {
			t.Fatalf("unverified user read as %+v, %v", p, err)
		}
	})
	t.Run("FindEscapesTheEmail", func(t *testing.T) {
		// A quote ends an OData string; a plus is a space in a query.
		a := fresh(t)
		core.Put(User{ID: "u-4", Email: "o'brien+lettings@example.com", FirstName: "Pat"})
		defer core.Delete("u-4")
		got, err := a.FindUsersByEmail(ctx, "o'brien+lettings@example.com")
		if err != nil || len(got) != 1 || got[0].ExternalID != "u-4" {
			t.Fatalf("got %v, %v", profiles(got), err)
		}
	})
	t.Run("FindTimesOutWithoutPII", func(t *testing.T) {
		// The email is in the search's URL, which net/http puts in its errors.
		fresh(t)
		a := newInviter(200 * time.Millisecond)
		if _, err := a.FindUsersByEmail(ctx, "old@example.com"); err != nil { // token first, fast
			t.Fatal(err)
		}
		core.SetLatency(2 * time.Second)
		defer core.SetLatency(0)
		_, err := a.FindUsersByEmail(ctx, "old@example.com")
		ae := kindOf(t, err)
		if ae.Kind != idp.Retryable {
			t.Fatalf("got %+v", ae)
		}
		if containsAny(ae.Error(), "old@example.com", "old%40example.com", "tok-") {
			t.Fatalf("error leaks the email: %q", ae.Error())
		}
	})
	t.Run("InviteCreatesAndSendsTheEmail", func(t *testing.T) {
		a := fresh(t)
		clean("new.person@example.com")
		want := callsPerInvite(t, a)
		var quotas int
		qctx := idp.WithQuotaTrace(ctx, func(idp.Quota) { quotas++ })
		p, err := a.InviteUser(qctx, idp.NewIdentity{Email: "new.person@example.com", FullName: str("New Person")})
		if err != nil {
			t.Fatal(err)
		}
		if p.ExternalID == "" || p.Email == nil || *p.Email != "new.person@example.com" || p.EmailVerified {
			t.Fatalf("invite answered %+v", p)
		}
		u, ok := core.Get(p.ExternalID)
		if !ok || !strings.EqualFold(u.Email, "new.person@example.com") || u.EmailVerified {
			t.Fatalf("the fake holds %+v (%v)", u, ok)
		}
		if sent := core.SentTo(p.ExternalID); len(sent) != 1 {
			t.Fatalf("the fake sent %d emails to the new identity, want 1: %+v", len(sent), core.SentEmails())
		}
		if n := len(core.CallsFor(p.ExternalID)); n != want {
			t.Fatalf("%d calls about the new identity, CallsPerInvite says %d: %+v", n, want, core.Calls())
		}
		if quotas != want {
			t.Fatalf("%d quota reports for an invite of %d calls", quotas, want)
		}
		if ad, ok := a.(idp.AdminAdapter); ok {
			got, err := ad.GetUser(ctx, p.ExternalID)
			if err != nil || got.FullName == nil || *got.FullName != "New Person" {
				t.Fatalf("read back %+v, %v", got, err)
			}
		}
		found, err := a.FindUsersByEmail(ctx, "new.person@example.com")
		if err != nil || len(found) != 1 || found[0].ExternalID != p.ExternalID || found[0].EmailVerified {
			t.Fatalf("found %v, %v", profiles(found), err)
		}
	})
	t.Run("InviteWithoutName", func(t *testing.T) {
		a := fresh(t)
		clean("nameless@example.com")
		p, err := a.InviteUser(ctx, idp.NewIdentity{Email: "nameless@example.com"})
		if err != nil || p.ExternalID == "" {
			t.Fatalf("got %+v, %v", p, err)
		}
	})
	t.Run("InviteConflictPermanentWithoutPII", func(t *testing.T) {
		a := fresh(t)
		core.Put(User{ID: "u-2", Email: "taken@example.com", FirstName: "Other"})
		sent := len(core.SentEmails())
		_, err := a.InviteUser(ctx, idp.NewIdentity{Email: "Taken@Example.com", FullName: str("Tess Taken")})
		ae := kindOf(t, err)
		if ae.Kind != idp.Permanent || ae.Status != http.StatusConflict || ae.Unknown {
			t.Fatalf("got %+v", ae)
		}
		if containsAny(strings.ToLower(ae.Error()), "taken@example.com", "tess", "s3cret", "tok-") {
			t.Fatalf("error leaks PII or secrets: %q", ae.Error())
		}
		if n := len(core.FindByEmail("taken@example.com")); n != 1 {
			t.Fatalf("%d identities hold the email after a refused invite", n)
		}
		if len(core.SentEmails()) != sent {
			t.Fatalf("a refused invite sent an email: %+v", core.SentEmails())
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		a := fresh(t)
		clean("limited@example.com")
		core.SetRate(1)
		defer core.SetRate(0)
		time.Sleep(1100 * time.Millisecond)
		if _, err := a.FindUsersByEmail(ctx, "old@example.com"); err != nil {
			t.Fatal(err)
		}
		for _, call := range []struct {
			name string
			fn   func() error
		}{
			{"find", func() error { _, err := a.FindUsersByEmail(ctx, "old@example.com"); return err }},
			{"invite", func() error {
				_, err := a.InviteUser(ctx, idp.NewIdentity{Email: "limited@example.com"})
				return err
			}},
		} {
			ae := kindOf(t, call.fn())
			if ae.Kind != idp.RateLimited || ae.Status != 429 || ae.RetryAt.IsZero() || ae.RetryAt.Before(time.Now()) || ae.Unknown {
				t.Fatalf("%s: want rate limited with a future retry time, got %+v", call.name, ae)
			}
		}
		if n := len(core.FindByEmail("limited@example.com")); n != 0 {
			t.Fatalf("a refused invite created %d identities", n)
		}
		time.Sleep(1100 * time.Millisecond)
	})
	t.Run("UnavailableIsKnown", func(t *testing.T) {
		a := fresh(t)
		clean("down@example.com")
		core.SetDown(1)
		_, err := a.InviteUser(ctx, idp.NewIdentity{Email: "down@example.com"})
		if ae := kindOf(t, err); ae.Kind != idp.Retryable || ae.Unknown {
			t.Fatalf("a 503 on the create: got %+v", ae)
		}
		if n := len(core.FindByEmail("down@example.com")); n != 0 {
			t.Fatalf("a refused invite created %d identities", n)
		}
	})
	t.Run("LostAnswerIsUnknownAndFoundAgain", func(t *testing.T) {
		a := fresh(t)
		clean("reset@example.com")
		core.SetReset(1)
		_, err := a.InviteUser(ctx, idp.NewIdentity{Email: "reset@example.com", FullName: str("Rita Reset")})
		if ae := kindOf(t, err); ae.Kind != idp.Retryable || !ae.Unknown {
			t.Fatalf("a create that took effect without an answer: got %+v", ae)
		}
		found, err := a.FindUsersByEmail(ctx, "reset@example.com")
		if err != nil || len(found) != 1 || found[0].ExternalID == "" {
			t.Fatalf("the identity the lost invite made: %v, %v", profiles(found), err)
		}
	})
	t.Run("AbandonedInviteLandsLate", func(t *testing.T) {
		core.Put(User{ID: "u-1", Email: "old@example.com", FirstName: "Old"})
		clean("late@example.com")
		a := newInviter(300 * time.Millisecond)
		if _, err := a.FindUsersByEmail(ctx, "old@example.com"); err != nil { // token first
			t.Fatal(err)
		}
		core.LandLate(100 * time.Millisecond)
		_, err := a.InviteUser(ctx, idp.NewIdentity{Email: "late@example.com"})
		if ae := kindOf(t, err); ae.Kind != idp.Retryable || !ae.Unknown {
			t.Fatalf("an invite that timed out: got %+v", ae)
		}
		deadline := time.Now().Add(3 * time.Second)
		for len(core.FindByEmail("late@example.com")) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the abandoned invite never landed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		found, err := a.FindUsersByEmail(ctx, "late@example.com")
		if err != nil || len(found) != 1 {
			t.Fatalf("found %v, %v", profiles(found), err)
		}
	})
}

// profiles prints found profiles for a failure message (test emails only).
func profiles(ps []*idp.Profile) []idp.Profile {
	out := make([]idp.Profile, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}
