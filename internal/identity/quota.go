package identity

import (
	"context"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/postgres"
)

// The quota of an IdP's admin API is shared by every gateway process on the
// database through one identity.rate_slots row per adapter: it hands out
// call slots spaced 1/rate × (1 + RateGuard) apart, divided by the pace;
// holds every call until the IdP's retry time after a 429; and keeps the
// pace, the share of the adapter's rate in use now. The pace follows what
// the IdP answers, because another application may be using part of the
// same quota: a 429 halves it, unless the call's slot was handed out before
// the last cut (it was spaced at the pace that cut already answered), and
// every answer within the quota raises it by paceProbe, or by paceRise when
// X-RateLimit-Remaining shows at least half the limit left, up to the
// whole rate.
const (
	paceFloor = 0.05 // never below a twentieth of the adapter's rate
	paceCut   = 0.5  // a 429 halves the pace
	paceRise  = 0.05 // an answer that shows room raises it this much
	paceProbe = 0.01 // any other answer within the quota: the quota is probed slowly
)

// slot is a granted call slot: when it was granted and when it starts (the
// database's times), and the pace it was spaced at.
type slot struct {
	granted, start time.Time
	pace           float64
}

// acquireSlot takes the next call slot of idpID, spaced interval/pace apart
// and shared by every process on the database, and returns how long to
// wait for it. The row lock makes concurrent takers queue one after
// another.
func (s *Service) acquireSlot(ctx context.Context, idpID string, interval time.Duration) (time.Duration, slot, error) {
	var r struct {
		Wait    float64   `db:"wait"`
		Granted time.Time `db:"granted"`
		Start   time.Time `db:"start"`
		Pace    float64   `db:"pace"`
	}
	err := s.db.GetContext(ctx, &r, `
		INSERT INTO identity.rate_slots AS r (idp_id, next_at)
		VALUES ($1, clock_timestamp() + $2 * interval '1 microsecond')
		ON CONFLICT (idp_id) DO UPDATE
			SET next_at = greatest(r.next_at, clock_timestamp()) + $2::float8 / r.pace * interval '1 microsecond'
		RETURNING extract(epoch FROM (next_at - $2::float8 / pace * interval '1 microsecond' - clock_timestamp()))::float8 AS wait,
			clock_timestamp() AS granted, next_at - $2::float8 / pace * interval '1 microsecond' AS start, pace`,
		idpID, interval.Microseconds())
	if err != nil {
		return 0, slot{}, postgres.Translate(err, "acquire rate slot")
	}
	return max(0, time.Duration(r.Wait*float64(time.Second))), slot{granted: r.Granted, start: r.Start, pace: r.Pace}, nil
}

// holdSlots keeps every process from calling idpID before at (the IdP said
// so with Retry-After or X-RateLimit-Reset). Slots already given out are
// called back too: a worker checks held before it calls (see waitSlot).
func (s *Service) holdSlots(ctx context.Context, idpID string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO identity.rate_slots AS r (idp_id, next_at, held_until) VALUES ($1, $2, $2)
		ON CONFLICT (idp_id) DO UPDATE SET next_at = greatest(r.next_at, EXCLUDED.next_at),
			held_until = greatest(r.held_until, EXCLUDED.held_until)`, idpID, at)
	return postgres.Translate(err, "hold rate slots")
}

// held reports whether the IdP asked every process to hold its calls.
func (s *Service) held(ctx context.Context, idpID string) (bool, error) {
	var h bool
	err := s.db.GetContext(ctx, &h, `SELECT coalesce(held_until > clock_timestamp(), false)
		FROM identity.rate_slots WHERE idp_id = $1`, idpID)
	return h, postgres.Translate(err, "check rate hold")
}

// maxLate is how late a worker may wake for its slot and still call: a
// worker woken later (a busy machine) takes a new slot instead, so a late
// call never lands close to the next one at the IdP.
const maxLate = 20 * time.Millisecond

// waitSlot waits for a call slot of idpID: it takes one, sleeps until it
// starts, and takes another when the IdP asked to hold calls meanwhile or
// when it woke too late for it. While it sleeps it calls renew every
// renewEvery (when renew is not nil) and gives up when renew fails.
func (s *Service) waitSlot(ctx context.Context, idpID string, interval time.Duration, renew func(context.Context) error, renewEvery time.Duration) (slot, error) {
	defer func(start time.Time) { metrics.ObserveQuotaWait(idpID, time.Since(start)) }(time.Now())
	for {
		wait, sl, err := s.acquireSlot(ctx, idpID, interval)
		if err != nil {
			return slot{}, err
		}
		due := time.Now().Add(wait)
		for renew != nil && time.Until(due) > renewEvery {
			if !sleep(ctx, renewEvery) {
				return slot{}, ctx.Err()
			}
			if err := renew(ctx); err != nil {
				return slot{}, err
			}
		}
		if !sleep(ctx, time.Until(due)) {
			return slot{}, ctx.Err()
		}
		if time.Since(due) > maxLate {
			continue
		}
		h, err := s.held(ctx, idpID)
		if err != nil || !h {
			return sl, err
		}
	}
}

// followPace adjusts idpID's pace to the answer of a call made in sl: err
// is the call's error and q what its last answer said about the quota. A
// failure that is not the quota's (no answer, a 5xx) says nothing about it.
func (s *Service) followPace(ctx context.Context, idpID string, sl slot, err error, q idp.Quota) error {
	ae := idp.AsAdminError(err)
	switch {
	case err != nil && ae.Kind == idp.RateLimited:
		_, err := s.db.ExecContext(ctx, `UPDATE identity.rate_slots
			SET pace = greatest($3, pace * $4), slowed_at = clock_timestamp()
			WHERE idp_id = $1 AND (slowed_at IS NULL OR slowed_at < $2)`, idpID, sl.granted, paceFloor, paceCut)
		return postgres.Translate(err, "slow identity calls")
	case err != nil && (ae.Status == 0 || ae.Status >= 500), sl.pace >= 1:
		return nil
	}
	step := paceProbe
	if q.Known && 2*q.Remaining >= q.Limit {
		step = paceRise
	}
	_, err = s.db.ExecContext(ctx, `UPDATE identity.rate_slots SET pace = least(1, pace + $2)
		WHERE idp_id = $1 AND pace < 1`, idpID, step)
	return postgres.Translate(err, "speed identity calls up")
}
