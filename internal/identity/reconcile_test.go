package identity_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

// staleEnv has n users whose IdP identities changed behind the cache's back
// (a missed webhook); user i was synced i hours ago, so user 0 is fresh.
func staleEnv(t *testing.T, n int) *env {
	e := newEnv(t, n)
	for i := range n {
		e.fake.Put(idptest.User{ID: fmt.Sprintf("auth0|%d", i), Email: fmt.Sprintf("idp%d@example.com", i), FirstName: "At IdP"})
		e.exec(`UPDATE directory.users SET synced_at = now() - make_interval(hours => $2) WHERE id = $1`, e.users[i], i)
	}
	return e
}

func (e *env) waitRepaired(from, to int) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := from; i < to; i++ {
		for e.cachedEmail(i) != fmt.Sprintf("idp%d@example.com", i) {
			if time.Now().After(deadline) {
				e.t.Fatalf("reconciliation did not repair user %d", i)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (e *env) reads() []string {
	var out []string
	for _, c := range e.fake.Calls() {
		if c.Method == "GET" {
			out = append(out, c.UserID)
		}
	}
	return out
}

func TestReconcileStalestFirstWithLag(t *testing.T) {
	t.Parallel()
	e := staleEnv(t, 6)
	s := e.service(20, identity.Options{Workers: 1, Reconcile: identity.ReconcileOptions{Share: 0.5, MinAge: 30 * time.Minute}})
	lag, err := s.ReconcileLag(t.Context())
	if err != nil || lag[idpID] < 5*time.Hour {
		t.Fatalf("lag before %v, %v", lag, err)
	}
	s.Start(t.Context())
	defer s.Stop()
	e.waitRepaired(1, 6)
	if got := e.cachedEmail(0); got != "u0@example.com" {
		t.Errorf("a fresh user was re-read: %q", got)
	}
	if got := fmt.Sprint(e.reads()); got != "[auth0|5 auth0|4 auth0|3 auth0|2 auth0|1]" {
		t.Errorf("reads %s; want the least recently synced first, the fresh one never", got)
	}
	lag, err = s.ReconcileLag(t.Context())
	if err != nil || lag[idpID] > 10*time.Minute {
		t.Errorf("lag after %v, %v", lag, err)
	}
}

func TestReconcileTwoProcessesKeepToTheShare(t *testing.T) {
	// Not parallel: rates are measured on the fake's clock.
	e := staleEnv(t, 9)
	opts := identity.Options{Workers: 1, RateGuard: loadedGuard, Reconcile: identity.ReconcileOptions{Share: 0.5, MinAge: 30 * time.Minute}}
	a, b := e.service(4, opts), e.service(4, opts)
	a.Start(t.Context())
	b.Start(t.Context())
	defer a.Stop()
	defer b.Stop()
	e.waitRepaired(1, 9)
	calls := e.fake.Calls()
	reads := e.reads()
	sorted := slices.Clone(reads)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(reads) {
		t.Errorf("a user was read twice: %v", reads)
	}
	// Share 0.5 of 4/s: both processes together read about 2 a second, and
	// never beyond the adapter's 4/s.
	span := calls[len(calls)-1].At.Sub(calls[0].At)
	if perSec := float64(len(calls)-1) / span.Seconds(); perSec > 2.2 {
		t.Errorf("%.2f reads a second over %v; the share allows 2", perSec, span)
	}
	if n := e.fake.MaxInWindow(time.Second); n > 4 {
		t.Errorf("%d calls within a second; the quota is 4", n)
	}
}
