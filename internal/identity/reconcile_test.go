package identity_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

func TestReconcileRepairsStalestFirstWithinItsShare(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 6)
	// The IdP changed every user behind the cache's back (a missed webhook);
	// user i was synced i hours ago, so the order is 5, 4, ..., 0. User 0 is
	// fresh and left alone.
	for i := range 6 {
		e.fake.Put(idptest.User{ID: fmt.Sprintf("auth0|%d", i), Email: fmt.Sprintf("idp%d@example.com", i), FirstName: "At IdP"})
		e.exec(`UPDATE directory.users SET synced_at = now() - make_interval(hours => $2) WHERE id = $1`, e.users[i], i)
	}
	s := e.service(4, identity.Options{Workers: 1, Reconcile: identity.ReconcileOptions{Share: 0.5, MinAge: 30 * time.Minute}})
	lag, err := s.ReconcileLag(t.Context())
	if err != nil || lag[idpID] < 5*time.Hour {
		t.Fatalf("lag before %v, %v", lag, err)
	}
	// A second process reconciles too: together they keep to the share.
	s2 := e.service(4, identity.Options{Workers: 1, Reconcile: identity.ReconcileOptions{Share: 0.5, MinAge: 30 * time.Minute}})
	s.Start(t.Context())
	s2.Start(t.Context())
	defer s.Stop()
	defer s2.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for e.cachedEmail(1) != "idp1@example.com" {
		if time.Now().After(deadline) {
			t.Fatal("reconciliation did not repair the cache")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 1; i < 6; i++ {
		if got := e.cachedEmail(i); got != fmt.Sprintf("idp%d@example.com", i) {
			t.Errorf("user %d cache %q", i, got)
		}
	}
	if got := e.cachedEmail(0); got != "u0@example.com" {
		t.Errorf("a fresh user was re-read: %q", got)
	}
	var order []string
	for _, c := range e.fake.Calls() {
		if c.Method == "GET" {
			order = append(order, c.UserID)
		}
	}
	if len(order) < 5 || fmt.Sprint(order[:5]) != "[auth0|5 auth0|4 auth0|3 auth0|2 auth0|1]" {
		t.Errorf("read order %v; want the least recently synced first", order)
	}
	// Share 0.5 of 4/s is 2 reads a second for both processes together.
	if n := e.fake.MaxInWindow(time.Second); n > 2 {
		t.Errorf("%d reads within a second; the share allows 2", n)
	}
	lag, err = s.ReconcileLag(t.Context())
	if err != nil || lag[idpID] > 10*time.Minute {
		t.Errorf("lag after %v, %v", lag, err)
	}
}
