package identity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
)

const (
	opUpdate = "update"
	opDelete = "delete"
)

// work is one worker: claim, call, record, until ctx ends.
func (s *Service) work(ctx context.Context) {
	idps := make([]string, 0, len(s.adapters))
	for id := range s.adapters {
		idps = append(idps, id)
	}
	slices.Sort(idps)
	for ctx.Err() == nil {
		j, err := s.claim(ctx, idps)
		if err != nil {
			if ctx.Err() == nil {
				s.opts.Log.Error("identity outbox: claim failed", "error", err.Error())
			}
			sleep(ctx, s.opts.PollInterval)
			continue
		}
		if j == nil {
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-time.After(s.opts.PollInterval):
			}
			continue
		}
		s.process(ctx, j)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// callTimeout is how long one admin call of idpID may take: the adapter's
// timeout. It is also the lease of a job of idpID (see claim).
func (s *Service) callTimeout(idpID string) time.Duration {
	if d := s.adapters[idpID].Timeout; d > 0 {
		return d
	}
	return idp.DefaultAdminTimeout
}

// process applies one claimed job. The job is held one call timeout at a
// time: renewed while its worker waits for a rate slot, and taken anew for
// the call when the slot is granted, with the call's deadline a little
// inside that lease. So no call of a worker outlives its claim (a job
// taken over by another process can never be overtaken by a late call of
// the first), and a process that dies holds its jobs for at most one call
// timeout.
func (s *Service) process(ctx context.Context, j *job) {
	log := s.opts.Log.With("job", j.ID, "idp", j.IdPID, "attempt", j.Attempts)
	ad, ok := s.adapters[j.IdPID]
	if !ok { // claim only takes jobs of our adapters
		return
	}
	calls := 1
	if j.Op == opUpdate && ad.CallsPerUpdate > 1 {
		calls = ad.CallsPerUpdate // the slot and the lease cover every call of the update
	}
	interval := time.Duration(float64(time.Second)/ad.RequestsPerSecond*(1+s.opts.RateGuard)) * time.Duration(calls)
	lease := s.callTimeout(j.IdPID)
	err := s.waitSlot(ctx, j.IdPID, interval, func(ctx context.Context) error { return s.hold(ctx, j, lease) }, lease/3)
	sent := false
	var profile *idp.Profile
	if err == nil {
		callLease := lease * time.Duration(calls)
		// The deadline starts before the lease does, and ends a tenth
		// before it: room for the clocks of this process and the database
		// to differ.
		callCtx, cancel := context.WithTimeout(ctx, callLease-callLease/10)
		defer cancel()
		if err = s.hold(ctx, j, callLease); err == nil {
			sent = true
			switch j.Op {
			case opUpdate:
				profile, err = ad.UpdateUser(callCtx, j.ExternalID, idp.ProfileUpdate{Email: j.Email, FullName: j.FullName})
			case opDelete:
				err = ad.DeleteUser(callCtx, j.ExternalID)
			default:
				err = &idp.AdminError{Kind: idp.Permanent, Reason: "unknown change"}
			}
		}
	}
	// Recording the outcome gets its own deadline, from now: however long
	// the wait and the call took. It survives the worker stopping.
	after, cancelAfter := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RecordTimeout)
	defer cancelAfter()
	if errors.Is(err, errLost) {
		log.Info("identity outbox: another worker took the change over")
		return
	}
	if ctx.Err() != nil || !sent { // stopping, or the claim could not be held: give the job back
		if ctx.Err() == nil {
			log.Error("identity outbox: holding the change failed", "error", err.Error())
		}
		if rerr := s.release(after, j); rerr != nil {
			log.Warn("identity outbox: release failed; its lease will free it", "error", rerr.Error())
		}
		return
	}
	if err == nil {
		email, name := j.Email, j.FullName
		if profile != nil { // what the IdP says it holds now, for the fields we changed
			if email != nil && profile.Email != nil {
				email = profile.Email
			}
			if name != nil && profile.FullName != nil {
				name = profile.FullName
			}
		}
		if err := s.applied(after, j, email, name); err != nil {
			log.Error("identity outbox: record applied change failed", "error", err.Error())
		} else {
			log.Info("identity change applied", "op", j.Op)
		}
		return
	}
	ae := idp.AsAdminError(err)
	if errors.Is(err, context.DeadlineExceeded) && ae.Status == 0 {
		ae = idp.TransportError(j.Op+" user", err)
	}
	log = log.With("kind", ae.Kind.String(), "status", ae.Status)
	if ae.Kind == idp.Permanent || (s.opts.MaxAttempts > 0 && j.Attempts >= s.opts.MaxAttempts) {
		reason := ae.Reason
		if ae.Kind != idp.Permanent {
			reason = fmt.Sprintf("%s; gave up after %d attempts", ae.Reason, j.Attempts)
		}
		if err := s.fail(after, j, reason); err != nil {
			log.Error("identity outbox: record failure failed", "error", err.Error())
		}
		log.Warn("identity change failed")
		return
	}
	at := s.nextTry(j.Attempts, ae.RetryAt, time.Now())
	if ae.Kind == idp.RateLimited {
		hold := ae.RetryAt
		if hold.IsZero() {
			hold = time.Now().Add(s.opts.BackoffBase)
		}
		if err := s.holdSlots(after, j.IdPID, hold); err != nil {
			log.Warn("identity outbox: hold rate slots failed", "error", err.Error())
		}
	}
	if err := s.retry(after, j, at, ae.Reason); err != nil {
		log.Error("identity outbox: reschedule failed; its lease will free it", "error", err.Error())
	}
	log.Info("identity change will be retried", "in", time.Until(at).Round(time.Millisecond).String())
}

// nextTry is when attempt+1 is due: exponential backoff with equal jitter
// (between half and all of BackoffBase*2^(attempt-1), capped at BackoffMax),
// and
// never before the IdP's own retry time, plus a little jitter so that the
// jobs it held back do not all return at once.
func (s *Service) nextTry(attempt int, retryAt, now time.Time) time.Time {
	ceiling := s.opts.BackoffBase << min(max(attempt-1, 0), 20)
	if ceiling <= 0 || ceiling > s.opts.BackoffMax {
		ceiling = s.opts.BackoffMax
	}
	at := now.Add(ceiling/2 + rand.N(ceiling/2+1))
	if !retryAt.IsZero() {
		if floor := retryAt.Add(rand.N(s.opts.BackoffBase/4 + 1)); floor.After(at) {
			at = floor
		}
	}
	return at
}
