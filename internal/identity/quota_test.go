package identity

import (
	"math"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// The pace follows the answers: a 429 halves it once per cut, answers
// within the quota raise it (faster when they show room), between the
// floor and the whole rate; and the slots it hands out are spaced by it.
func TestPaceFollowsAnswers(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	s := New(db, directory.NewStore(db), comms.NewStore(db), map[string]providers.Admin{"dev": {AdminAdapter: dev.NewAdmin(), RequestsPerSecond: 10}}, Options{})
	ctx := t.Context()
	pace := func() float64 {
		t.Helper()
		var p float64
		if err := db.Get(&p, `SELECT pace FROM identity.rate_slots WHERE idp_id = 'dev'`); err != nil {
			t.Fatal(err)
		}
		return p
	}
	take := func() slot {
		t.Helper()
		_, sl, err := s.acquireSlot(ctx, "dev", 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return sl
	}
	follow := func(sl slot, err error, q idp.Quota) {
		t.Helper()
		if err := s.followPace(ctx, "dev", sl, err, q); err != nil {
			t.Fatal(err)
		}
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	limited := &idp.AdminError{Kind: idp.RateLimited, Status: 429}

	first, second := take(), take()
	follow(first, limited, idp.Quota{})
	if got := pace(); !near(got, paceCut) {
		t.Fatalf("pace after a 429: %v, want %v", got, paceCut)
	}
	follow(second, limited, idp.Quota{}) // sent before the cut: nothing new
	if got := pace(); !near(got, paceCut) {
		t.Fatalf("a 429 of a call sent before the cut cut again: %v", got)
	}
	third, fourth := take(), take() // the slot granted at half pace is twice as long
	if gap := fourth.start.Sub(third.start); third.pace != paceCut || gap < 190*time.Millisecond {
		t.Fatalf("slots %v apart at pace %v; want 100ms/pace", gap, third.pace)
	}
	follow(third, nil, idp.Quota{Limit: 4, Remaining: 1, Known: true}) // little room: a probe
	if got := pace(); !near(got, paceCut+paceProbe) {
		t.Fatalf("pace after an answer with little room: %v", got)
	}
	follow(take(), nil, idp.Quota{Limit: 4, Remaining: 2, Known: true}) // room
	if got := pace(); !near(got, paceCut+paceProbe+paceRise) {
		t.Fatalf("pace after an answer with room: %v", got)
	}
	follow(take(), &idp.AdminError{Kind: idp.Retryable, Status: 503}, idp.Quota{})
	follow(take(), &idp.AdminError{Kind: idp.Retryable, Unknown: true}, idp.Quota{})
	if got := pace(); !near(got, paceCut+paceProbe+paceRise) {
		t.Fatalf("an outage moved the pace: %v", got)
	}
	for range 20 {
		follow(take(), limited, idp.Quota{})
	}
	if got := pace(); !near(got, paceFloor) {
		t.Fatalf("pace after many 429s: %v, want the floor %v", got, paceFloor)
	}
	for range 30 {
		follow(slot{pace: paceFloor}, nil, idp.Quota{Limit: 4, Remaining: 4, Known: true})
	}
	if got := pace(); !near(got, 1) {
		t.Fatalf("pace after many answers with room: %v, want 1", got)
	}
}
