package identity_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

// callsOf is what the fake received about external id, in order, as
// "METHOD email status" ("GET", "PATCH v1@example.com 200"); a lost answer
// is marked "lost".
func (e *env) callsOf(ext string) []string {
	var out []string
	for _, c := range e.fake.Calls() {
		if c.UserID != ext {
			continue
		}
		s := c.Method
		if v, ok := c.Body["email"].(string); ok {
			s += " " + v
		}
		s += fmt.Sprintf(" %d", c.Status)
		if c.Lost {
			s += " lost"
		}
		out = append(out, s)
	}
	return out
}

func (e *env) landed(ext string) bool {
	for _, c := range e.fake.Calls() {
		if c.UserID == ext && c.Lost && c.Status == 200 {
			return true
		}
	}
	return false
}

// After a write whose outcome is unknown the next attempt reads the
// identity back first, sends nothing newer while the unanswered write may
// still land, then sends the newest wanted state; the cache follows only
// what the IdP is seen to hold.
func TestUnknownOutcome(t *testing.T) {
	t.Parallel()
	t.Run("LateWriteNeverLandsOnANewerOne", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.timeout = 300 * time.Millisecond
		// The IdP applies the first PATCH 0.7 s after the gateway gave up
		// on it: after the gateway could have sent v1 again and v2.
		e.fake.LandLate(700 * time.Millisecond)
		s := e.service(50, identity.Options{Workers: 1, Settle: 2 * time.Second})
		e.update(s, 0, "v1@example.com")
		e.update(s, 0, "v2@example.com")
		s.Start(t.Context())
		defer s.Stop()
		e.waitFor(10*time.Second, "both changes applied and the late write landed", func() bool {
			return e.count(`SELECT count(*) FROM identity.outbox WHERE state = 'applied'`) == 2 && e.landed("auth0|0")
		})
		u, _ := e.fake.Get("auth0|0")
		if u.Email != "v2@example.com" || e.cachedEmail(0) != u.Email {
			t.Fatalf("IdP %q, cache %q; want both v2. Calls: %v", u.Email, e.cachedEmail(0), e.callsOf("auth0|0"))
		}
	})
	t.Run("LostAnswerReadBack", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.fake.SetReset(1) // v1 takes effect, its answer is lost
		s := e.service(50, identity.Options{Workers: 1, Settle: 5 * time.Second})
		e.update(s, 0, "v1@example.com")
		e.update(s, 0, "v2@example.com")
		start := time.Now()
		s.Start(t.Context())
		defer s.Stop()
		e.waitApplied(2, 10*time.Second)
		// The read shows v1 landed: no need to wait out Settle, and v1
		// is not sent again.
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("took %v; the read back showed the write landed", took)
		}
		want := "PATCH v1@example.com 200 lost,GET 200,PATCH v2@example.com 200"
		if got := strings.Join(e.callsOf("auth0|0"), ","); got != want {
			t.Errorf("calls %s, want %s", got, want)
		}
		if u, _ := e.fake.Get("auth0|0"); u.Email != "v2@example.com" || e.cachedEmail(0) != u.Email {
			t.Errorf("IdP %q, cache %q", u.Email, e.cachedEmail(0))
		}
	})
	t.Run("MergedWriteRefusedSendsEachAlone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.fake.Put(idptest.User{ID: "auth0|other", Email: "taken@example.com"})
		e.fake.SetReset(1)
		s := e.service(50, identity.Options{Workers: 1, Settle: 5 * time.Second})
		e.update(s, 0, "v1@example.com")
		e.update(s, 0, "taken@example.com") // the IdP refuses it: 409
		s.Start(t.Context())
		defer s.Stop()
		e.waitFor(10*time.Second, "both changes finished", func() bool {
			return e.count(`SELECT count(*) FROM identity.outbox WHERE state IN ('applied', 'failed')`) == 2
		})
		// The refusal of the merged write is the second change's, not the
		// first's.
		if st, _, _ := e.jobOf(0); st != "failed" {
			t.Errorf("the refused change ended %s", st)
		}
		if n := e.count(`SELECT count(*) FROM identity.outbox WHERE state = 'applied' AND user_id = $1`, e.users[0]); n != 1 {
			t.Errorf("%d changes applied, want the first", n)
		}
		want := "PATCH v1@example.com 200 lost,GET 200,PATCH taken@example.com 409,PATCH v1@example.com 200,PATCH taken@example.com 409"
		if got := strings.Join(e.callsOf("auth0|0"), ","); got != want {
			t.Errorf("calls %s, want %s", got, want)
		}
		if u, _ := e.fake.Get("auth0|0"); u.Email != "v1@example.com" || e.cachedEmail(0) != u.Email {
			t.Errorf("IdP %q, cache %q", u.Email, e.cachedEmail(0))
		}
	})
	t.Run("DroppedWriteWaitsOutSettle", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.timeout = 300 * time.Millisecond
		e.fake.LandLate(-1) // the IdP never applies it
		const settle = time.Second
		s := e.service(50, identity.Options{Workers: 1, Settle: settle})
		e.update(s, 0, "v1@example.com")
		e.update(s, 0, "v2@example.com")
		s.Start(t.Context())
		defer s.Stop()
		e.waitApplied(2, 10*time.Second)
		calls := e.fake.Calls()
		want := "PATCH v1@example.com 0,GET 200,GET 200,PATCH v2@example.com 200"
		if got := strings.Join(e.callsOf("auth0|0"), ","); got != want {
			t.Fatalf("calls %s, want %s", got, want)
		}
		// Nothing newer went out while the first write could still land:
		// until Settle after the gateway gave up on it (allowing the
		// arrival's lag behind the start of the client's timeout).
		if gap := calls[3].At.Sub(calls[0].At); gap < e.timeout+settle-50*time.Millisecond {
			t.Errorf("v2 sent %v after v1; not before its timeout and Settle (%v)", gap, e.timeout+settle)
		}
		if u, _ := e.fake.Get("auth0|0"); u.Email != "v2@example.com" || e.cachedEmail(0) != u.Email {
			t.Errorf("IdP %q, cache %q", u.Email, e.cachedEmail(0))
		}
	})
	t.Run("NotGivenUpWhileItMayLand", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.timeout = 300 * time.Millisecond
		e.fake.LandLate(-1) // the first PATCH goes unanswered
		e.fake.SetDown(-1)  // and every call after it fails
		const settle = time.Second
		s := e.service(50, identity.Options{Workers: 1, Settle: settle, MaxAttempts: 1})
		e.update(s, 0, "v1@example.com")
		e.update(s, 0, "v2@example.com")
		s.Start(t.Context())
		defer s.Stop()
		e.waitFor(10*time.Second, "both changes given up", func() bool {
			return e.count(`SELECT count(*) FROM identity.outbox WHERE state = 'failed'`) == 2
		})
		// The first change is given up only once its write can no longer
		// land, so the second goes out no earlier.
		calls := e.fake.Calls()
		if len(calls) < 2 || !strings.HasPrefix(e.callsOf("auth0|0")[0], "PATCH v1@example.com 0") {
			t.Fatalf("calls %v", e.callsOf("auth0|0"))
		}
		for _, c := range calls[1:] {
			if c.Method == "PATCH" {
				if gap := c.At.Sub(calls[0].At); gap < e.timeout+settle-50*time.Millisecond {
					t.Errorf("v2 sent %v after the unanswered v1; not before its timeout and Settle (%v)", gap, e.timeout+settle)
				}
			}
		}
	})
	t.Run("TakeoverAfterCrashReadsBack", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.timeout = 500 * time.Millisecond
		release := e.fake.Hang()
		defer release()
		a, crash := e.crashable(50, identity.Options{Workers: 1})
		e.update(a, 0, "v1@example.com")
		a.Start(t.Context())
		e.waitFor(5*time.Second, "the change taken", func() bool {
			return e.count(`SELECT count(*) FROM identity.outbox WHERE state = 'running'`) == 1
		})
		time.Sleep(100 * time.Millisecond) // the PATCH is at the IdP now
		crash()
		release()
		// The IdP did apply it, though the answer never reached the dead
		// process.
		e.fake.Put(idptest.User{ID: "auth0|0", Email: "v1@example.com", FirstName: "User 0"})
		b := e.service(50, identity.Options{Workers: 1, Settle: 5 * time.Second})
		b.Start(t.Context())
		defer b.Stop()
		e.waitApplied(1, 10*time.Second)
		// The dead process's PATCH (answered or not, it never learnt),
		// then the read back, and nothing sent again.
		calls := e.callsOf("auth0|0")
		if len(calls) != 2 || !strings.HasPrefix(calls[0], "PATCH v1@example.com") || calls[1] != "GET 200" {
			t.Errorf("calls %v, want the first PATCH then one GET", calls)
		}
		if got := e.cachedEmail(0); got != "v1@example.com" {
			t.Errorf("cache %q", got)
		}
	})
}
