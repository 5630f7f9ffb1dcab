package identity_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/identity"
)

// Under a quota shared with another application, the gateway paces itself
// by the 429s and X-RateLimit-Remaining it sees, so that 429s stay rare
// for both.
func TestSharedQuotaKeeps429sRare(t *testing.T) {
	// Not parallel: the quota is measured on the fake's clock, so keep the
	// machine quiet.
	const (
		rate    = 8 // the tenant's quota, and the gateway's setting
		other   = 4 // what the other application uses of it
		updates = 40
	)
	e := newEnv(t, updates)
	e.fake.SetRate(rate)
	e.fake.ShareQuota(other)
	s := e.service(rate, identity.Options{Workers: 4, RateGuard: loadedGuard})
	for i := range updates {
		e.update(s, i, fmt.Sprintf("shared%d@example.com", i))
	}
	start := time.Now()
	s.Start(t.Context())
	defer s.Stop()
	e.waitApplied(updates, 2*time.Minute)
	took := time.Since(start)
	calls, refused := len(e.fake.Calls()), e.fake.Count429()
	otherOK, otherRefused := e.fake.OtherCalls()
	t.Logf("%d updates in %v: %d calls, %d refused with 429; the other application: %d calls, %d refused",
		updates, took.Round(100*time.Millisecond), calls, refused, otherOK+otherRefused, otherRefused)
	if refused > updates/10 {
		t.Errorf("%d of the gateway's %d calls refused with 429; want at most %d", refused, calls, updates/10)
	}
	if otherRefused*10 > otherOK+otherRefused {
		t.Errorf("%d of the other application's %d calls refused with 429; the gateway took more than its share", otherRefused, otherOK+otherRefused)
	}
}
