package identity_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/identity"
)

// BenchmarkHundredUpdates reports how long 100 queued identity updates take
// to apply against an Auth0 fake that allows 2 requests per second, beside
// the 50 s floor that quota sets. Run it once:
//
//	go test -run '^$' -bench HundredUpdates -benchtime 1x ./internal/identity/
func BenchmarkHundredUpdates(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := newEnv(b, 100)
		e.fake.SetRate(2)
		s := e.service(2, identity.Options{Workers: 4})
		for i := range 100 {
			e.update(s, i, fmt.Sprintf("bench%d@example.com", i))
		}
		b.StartTimer()
		start := time.Now()
		s.Start(b.Context())
		e.waitApplied(100, 5*time.Minute)
		took := time.Since(start)
		b.StopTimer()
		s.Stop()
		b.ReportMetric(took.Seconds(), "s/100-updates")
		b.ReportMetric(50, "floor-s")
		b.Logf("100 updates at 2/s: %.1f s (floor 50 s: the first call goes at once, then 99 gaps of 0.5 s = 49.5 s); max %d calls in any 1 s; %d refused with 429",
			took.Seconds(), e.fake.MaxInWindow(time.Second), e.fake.Count429())
	}
}
