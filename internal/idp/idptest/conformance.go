package idptest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
)

// Conformance runs the behaviour every admin adapter must show against its
// provider's fake: updates land, reads normalise, deletes delete, the token
// is fetched once and reused, each failure is classified (429 with its
// retry time, 5xx retryable, 404 and 409 permanent, a slow answer times
// out as retryable), a write whose answer never came is marked Unknown,
// and every answer reports the quota it states. newAdapter makes an
// adapter with the given timeout.
func Conformance(t *testing.T, core *Core, newAdapter func(timeout time.Duration) idp.AdminAdapter) {
	ctx := context.Background()
	str := func(s string) *string { return &s }
	fresh := func(t *testing.T) idp.AdminAdapter {
		core.Put(User{ID: "u-1", Email: "old@example.com", FirstName: "Old", LastName: "Name"})
		core.Put(User{ID: "u-2", Email: "taken@example.com", FirstName: "Other"})
		return newAdapter(2 * time.Second)
	}
	kindOf := func(t *testing.T, err error) *idp.AdminError {
		t.Helper()
		if err == nil {
			t.Fatal("want an error, got none")
		}
		return idp.AsAdminError(err)
	}

	t.Run("UpdateAndRead", func(t *testing.T) {
		a := fresh(t)
		if _, err := a.UpdateUser(ctx, "u-1", idp.ProfileUpdate{Email: str("new@example.com"), FullName: str("Jane Doe")}); err != nil {
			t.Fatal(err)
		}
		p, err := a.GetUser(ctx, "u-1")
		if err != nil {
			t.Fatal(err)
		}
		if p.ExternalID != "u-1" || p.Email == nil || *p.Email != "new@example.com" || p.FullName == nil || *p.FullName != "Jane Doe" {
			t.Fatalf("read back %+v", p)
		}
		// Only the changed field is sent.
		if _, err := a.UpdateUser(ctx, "u-1", idp.ProfileUpdate{FullName: str("Jane Q Doe")}); err != nil {
			t.Fatal(err)
		}
		if u, _ := core.Get("u-1"); u.Email != "new@example.com" {
			t.Fatalf("email changed by a name-only update: %q", u.Email)
		}
	})
	t.Run("TokenCachedUntilExpiry", func(t *testing.T) {
		before := core.TokenCalls()
		a := fresh(t)
		for range 3 {
			if _, err := a.GetUser(ctx, "u-1"); err != nil {
				t.Fatal(err)
			}
		}
		if n := core.TokenCalls() - before; n != 1 {
			t.Fatalf("fetched %d tokens for 3 calls, want 1", n)
		}
	})
	t.Run("TokenRefetchedWhenExpiring", func(t *testing.T) {
		// golang.org/x/oauth2 renews a token 10 s before it expires: an
		// 11 s token is good for about a second.
		core.SetTokenTTL(11 * time.Second)
		defer core.SetTokenTTL(time.Hour)
		a := fresh(t)
		before := core.TokenCalls()
		if _, err := a.GetUser(ctx, "u-1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
		if _, err := a.GetUser(ctx, "u-1"); err != nil {
			t.Fatal(err)
		}
		if n := core.TokenCalls() - before; n != 2 {
			t.Fatalf("fetched %d tokens across an expiry, want 2", n)
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		a := fresh(t)
		core.SetRate(1)
		defer core.SetRate(0)
		time.Sleep(1100 * time.Millisecond)
		if _, err := a.GetUser(ctx, "u-1"); err != nil {
			t.Fatal(err)
		}
		_, err := a.GetUser(ctx, "u-1")
		ae := kindOf(t, err)
		if ae.Kind != idp.RateLimited || ae.Status != 429 || ae.RetryAt.IsZero() || ae.RetryAt.Before(time.Now()) {
			t.Fatalf("want rate limited with a future retry time, got %+v", ae)
		}
		time.Sleep(1100 * time.Millisecond)
	})
	t.Run("ServerErrorRetryable", func(t *testing.T) {
		a := fresh(t)
		core.SetDown(1)
		ae := kindOf(t, func() error { _, err := a.GetUser(ctx, "u-1"); return err }())
		if ae.Kind != idp.Retryable || ae.Status != 503 {
			t.Fatalf("got %+v", ae)
		}
	})
	t.Run("NotFoundPermanent", func(t *testing.T) {
		a := fresh(t)
		_, err := a.UpdateUser(ctx, "nobody", idp.ProfileUpdate{FullName: str("X")})
		if ae := kindOf(t, err); ae.Kind != idp.Permanent || ae.Status != 404 {
			t.Fatalf("got %+v", ae)
		}
	})
	t.Run("ConflictPermanentWithoutPII", func(t *testing.T) {
		a := fresh(t)
		_, err := a.UpdateUser(ctx, "u-1", idp.ProfileUpdate{Email: str("taken@example.com")})
		ae := kindOf(t, err)
		if ae.Kind != idp.Permanent || ae.Status != 409 {
			t.Fatalf("got %+v", ae)
		}
		if containsAny(ae.Error(), "taken@example.com", "s3cret", "tok-") {
			t.Fatalf("error leaks PII or secrets: %q", ae.Error())
		}
	})
	t.Run("BadRequestPermanent", func(t *testing.T) {
		a := fresh(t)
		core.Force("u-1", http.StatusBadRequest)
		defer core.Force("u-1", 0)
		_, err := a.UpdateUser(ctx, "u-1", idp.ProfileUpdate{FullName: str("X")})
		if ae := kindOf(t, err); ae.Kind != idp.Permanent || ae.Status != 400 {
			t.Fatalf("got %+v", ae)
		}
	})
	t.Run("SlowAnswerTimesOut", func(t *testing.T) {
		core.Put(User{ID: "u-1", Email: "old@example.com", FirstName: "Old"})
		a := newAdapter(200 * time.Millisecond)
		if _, err := a.GetUser(ctx, "u-1"); err != nil { // token first, fast
			t.Fatal(err)
		}
		core.SetLatency(2 * time.Second)
		defer core.SetLatency(0)
		start := time.Now()
		_, err := a.GetUser(ctx, "u-1")
		ae := kindOf(t, err)
		if ae.Kind != idp.Retryable || time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("got %+v after %v", ae, time.Since(start))
		}
	})
	t.Run("LostAnswerIsUnknown", func(t *testing.T) {
		a := fresh(t)
		core.SetReset(1)
		_, err := a.UpdateUser(ctx, "u-1", idp.ProfileUpdate{FullName: str("Reset Name")})
		if ae := kindOf(t, err); ae.Kind != idp.Retryable || !ae.Unknown {
			t.Fatalf("a write that took effect without an answer: got %+v", ae)
		}
		if u, _ := core.Get("u-1"); u.FirstName != "Reset" && u.FirstName != "Reset Name" {
			t.Fatalf("the write did not take effect: %+v", u)
		}
	})
	t.Run("AbandonedWriteLandsLate", func(t *testing.T) {
		core.Put(User{ID: "u-1", Email: "old@example.com", FirstName: "Old"})
		a := newAdapter(300 * time.Millisecond)
		if _, err := a.GetUser(ctx, "u-1"); err != nil { // token first
			t.Fatal(err)
		}
		core.LandLate(100 * time.Millisecond)
		_, err := a.UpdateUser(ctx, "u-1", idp.ProfileUpdate{Email: str("late@example.com")})
		if ae := kindOf(t, err); ae.Kind != idp.Retryable || !ae.Unknown {
			t.Fatalf("a write that timed out: got %+v", ae)
		}
		if u, _ := core.Get("u-1"); u.Email != "old@example.com" {
			t.Fatalf("landed before the client gave up: %+v", u)
		}
		deadline := time.Now().Add(3 * time.Second)
		for u, _ := core.Get("u-1"); u.Email != "late@example.com"; u, _ = core.Get("u-1") {
			if time.Now().After(deadline) {
				t.Fatal("the abandoned write never landed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		calls := core.Calls()
		if last := calls[len(calls)-1]; last.Method == http.MethodGet || !last.Lost || last.Status/100 != 2 {
			t.Fatalf("the late write is recorded as %+v", last)
		}
	})
	t.Run("UnavailableIsKnown", func(t *testing.T) {
		// 503: the IdP did not take the request.
		a := fresh(t)
		core.SetDown(1)
		_, err := a.UpdateUser(ctx, "u-1", idp.ProfileUpdate{FullName: str("X")})
		if ae := kindOf(t, err); ae.Kind != idp.Retryable || ae.Unknown {
			t.Fatalf("a 503 leaves the outcome unknown: %+v", ae)
		}
	})
	t.Run("QuotaReported", func(t *testing.T) {
		a := fresh(t)
		core.SetRate(50) // room for this call whatever came before it
		defer core.SetRate(0)
		var got []idp.Quota
		qctx := idp.WithQuotaTrace(ctx, func(q idp.Quota) { got = append(got, q) })
		if _, err := a.GetUser(qctx, "u-1"); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%d quota reports for one call", len(got))
		}
		if !core.QuotaHeaders {
			if got[0] != (idp.Quota{}) {
				t.Fatalf("a provider that states no quota reported %+v", got[0])
			}
			return
		}
		if q := got[0]; !q.Known || q.Limit != 50 || q.Remaining >= 50 {
			t.Fatalf("quota %+v, want limit 50 with this call counted", q)
		}
	})
	t.Run("BadCredentialsPermanent", func(t *testing.T) {
		core.Put(User{ID: "u-1"})
		a := newAdapter(2 * time.Second)
		secret := core.ClientSecret
		core.SetClientSecret("rotated")
		defer core.SetClientSecret(secret)
		_, err := a.GetUser(ctx, "u-1")
		if ae := kindOf(t, err); ae.Kind != idp.Permanent {
			t.Fatalf("got %+v", ae)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		a := fresh(t)
		if err := a.DeleteUser(ctx, "u-1"); err != nil {
			t.Fatal(err)
		}
		if _, ok := core.Get("u-1"); ok {
			t.Fatal("user still there")
		}
		if err := a.DeleteUser(ctx, "u-1"); err != nil {
			t.Fatalf("deleting a deleted user: %v", err)
		}
	})
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return sub != "" && strings.Contains(s, sub) })
}
