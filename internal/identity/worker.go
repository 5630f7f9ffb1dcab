package identity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
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

// attempt is one claim of a job being applied.
type attempt struct {
	s  *Service
	j  *job
	ad providers.Admin
	// wrote: a write went out (its slot was granted), so if the worker
	// stops now its outcome is unknown.
	wrote bool
}

// outcome is how an attempt ended, for record.
type outcome struct {
	called bool            // false: no call was made (stopping, the claim lost, the database failing)
	err    error           // the call's error, or why none was made
	seen   *idp.Profile    // applied: what the IdP is seen to hold for the change's fields
	merged []int64         // applied: the later updates of the user its write carried
	settle *time.Time      // not yet known whether an unanswered write landed: look again then
	doubt  doubt           // what the attempt leaves known about the last write
	again  *idp.AdminError // retry at once, with this reason
}

// process applies one claimed job: for a change whose last write went
// unanswered, it reads the identity back first (verify); otherwise it
// sends the change (apply). The outcome is recorded under a deadline of its
// own, started when the calls are over.
func (s *Service) process(ctx context.Context, j *job) {
	ad, ok := s.adapters[j.IdPID]
	if !ok { // claim only takes jobs of our adapters
		return
	}
	a := &attempt{s: s, j: j, ad: ad}
	if j.Op == opMigrate {
		s.processMigration(ctx, a)
		return
	}
	var o outcome
	if j.Op == opUpdate && j.DoubtUntil != nil {
		o = a.verify(ctx)
	} else {
		o = a.apply(ctx, j.update(), nil)
	}
	// Recording the outcome gets its own deadline, from now: however long
	// the wait and the calls took. It survives the worker stopping.
	after, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RecordTimeout)
	defer cancel()
	s.record(after, ctx.Err() != nil, a, o)
}

// call makes calls admin calls (fn) in one rate slot of the job's IdP. The
// job is held one call timeout at a time: renewed while the worker waits
// for the slot, and taken anew for the calls when the slot is granted, with
// their deadline a little inside that lease. So no call of a worker
// outlives its claim (a job taken over by another process can never be
// overtaken by a late call of the first), and a process that dies holds
// its jobs for at most one call timeout. A write is recorded as in doubt
// when its slot is granted (see take). called is false when fn never ran;
// at is the database's time when the slot was granted.
func (a *attempt) call(ctx context.Context, calls int, write *idp.ProfileUpdate, fn func(context.Context) error) (called bool, at time.Time, err error) {
	s, j := a.s, a.j
	interval := time.Duration(float64(time.Second)/a.ad.RequestsPerSecond*(1+s.opts.RateGuard)) * time.Duration(calls)
	lease := s.callTimeout(j.IdPID)
	sl, err := s.waitSlot(ctx, j.IdPID, interval, func(ctx context.Context) error { return s.hold(ctx, j, lease) }, lease/3)
	if err != nil {
		return false, time.Time{}, err
	}
	callLease := lease * time.Duration(calls)
	// The deadline starts before the lease does and ends a tenth before
	// it: room for the clocks of this process and the database to differ.
	callCtx, cancel := context.WithTimeout(ctx, callLease-callLease/10)
	defer cancel()
	at, err = s.take(ctx, j, callLease, write)
	if err != nil {
		return false, time.Time{}, err
	}
	a.wrote = write != nil
	var q idp.Quota
	err = fn(idp.WithQuotaTrace(callCtx, func(got idp.Quota) { q = got }))
	pctx, cancelPace := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RecordTimeout)
	defer cancelPace()
	if perr := s.followPace(pctx, j.IdPID, sl, err, q); perr != nil {
		s.opts.Log.Warn("identity outbox: pace not adjusted", "idp", j.IdPID, "error", perr.Error())
	}
	if ae := idp.AsAdminError(err); err != nil && ae.Status == 0 && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// No answer within our own deadline: say so, keeping whether the
		// request went out.
		te := idp.TransportError(j.Op+" user", err)
		te.Unknown = ae.Unknown
		err = te
	}
	return true, at, err
}

// apply sends up (for a delete, the deletion) and, for a verified change,
// carries the later updates merged.
func (a *attempt) apply(ctx context.Context, up idp.ProfileUpdate, merged []int64) outcome {
	j, ad := a.j, a.ad
	calls, write := 1, (*idp.ProfileUpdate)(nil)
	if j.Op == opUpdate {
		write = &up
		calls = max(1, ad.CallsPerUpdate) // the slot and the lease cover every call of the update
	}
	var p *idp.Profile
	called, _, err := a.call(ctx, calls, write, func(ctx context.Context) error {
		var err error
		switch j.Op {
		case opUpdate:
			p, err = ad.UpdateUser(ctx, j.ExternalID, up)
		case opDelete:
			err = ad.DeleteUser(ctx, j.ExternalID)
		default:
			err = &idp.AdminError{Kind: idp.Permanent, Reason: "unknown change"}
		}
		return err
	})
	if !called {
		return outcome{err: err}
	}
	if err == nil {
		return outcome{called: true, seen: accepted(up, p), merged: merged, doubt: doubtNone}
	}
	d := doubtNone // an answer came: the write did not take effect
	if idp.AsAdminError(err).Unknown && write != nil {
		d = doubtNow
	}
	return outcome{called: true, err: err, doubt: d}
}

// verify is the attempt after a write of the change went unanswered: it
// reads the identity back first. While that write may still land (it is
// not seen at the IdP and Settle has not passed since it was abandoned) it
// sends nothing, and looks again once it can no longer land. Then it sends
// the newest wanted state (the change merged with the user's later
// updates) where the IdP does not hold it already. Nothing newer is ever
// sent while an older write may still land on top of it, and the cache
// follows only what the IdP is seen to hold.
func (a *attempt) verify(ctx context.Context) outcome {
	j := a.j
	var p *idp.Profile
	called, at, err := a.call(ctx, 1, nil, func(ctx context.Context) error {
		var err error
		p, err = a.ad.GetUser(ctx, j.ExternalID)
		return err
	})
	if !called || err != nil {
		return outcome{called: called, err: err, doubt: doubtKept} // a read changes nothing
	}
	landed := holds(p, j.SentEmail, j.SentFullName)
	if !landed && at.Before(*j.DoubtUntil) {
		return outcome{called: true, settle: j.DoubtUntil, doubt: doubtKept}
	}
	later, err := a.s.laterUpdates(ctx, j)
	if err != nil {
		return outcome{err: err, doubt: doubtKept}
	}
	want, merged := j.update(), make([]int64, 0, len(later))
	for _, l := range later {
		if l.Email != nil {
			want.Email = l.Email
		}
		if l.FullName != nil {
			want.FullName = l.FullName
		}
		merged = append(merged, l.ID)
	}
	var diff idp.ProfileUpdate
	if want.Email != nil && !holds(p, want.Email, nil) {
		diff.Email = want.Email
	}
	if want.FullName != nil && !holds(p, nil, want.FullName) {
		diff.FullName = want.FullName
	}
	if diff.Empty() {
		return outcome{called: true, seen: p, merged: merged, doubt: doubtNone}
	}
	o := a.apply(ctx, diff, merged)
	if o.called && o.err == nil {
		o.seen = overlay(p, o.seen)
	}
	if ae := idp.AsAdminError(o.err); o.called && o.err != nil && ae.Kind == idp.Permanent && len(merged) > 0 {
		// The IdP refused the merged write: send each change on its own,
		// so the refusal lands on the change that caused it.
		o.again = ae
	}
	return o
}

// holds reports whether p holds email and fullName, those that are set
// (the email without regard to case, as the IdPs keep it).
func holds(p *idp.Profile, email, fullName *string) bool {
	if email != nil && (p.Email == nil || !strings.EqualFold(*p.Email, *email)) {
		return false
	}
	if fullName != nil && (p.FullName == nil || *p.FullName != *fullName) {
		return false
	}
	return true
}

// accepted is what the IdP holds after it accepted up: what it answered
// (p, when it answers with the identity) for the fields up set.
func accepted(up idp.ProfileUpdate, p *idp.Profile) *idp.Profile {
	out := &idp.Profile{Email: up.Email, FullName: up.FullName}
	if p != nil {
		if up.Email != nil && p.Email != nil {
			out.Email = p.Email
		}
		if up.FullName != nil && p.FullName != nil {
			out.FullName = p.FullName
		}
	}
	return out
}

// overlay is read with the fields of written set over it.
func overlay(read, written *idp.Profile) *idp.Profile {
	out := *read
	if written.Email != nil {
		out.Email = written.Email
	}
	if written.FullName != nil {
		out.FullName = written.FullName
	}
	return &out
}

// record writes down how an attempt ended, under ctx (its own deadline);
// stopping says the worker is stopping.
func (s *Service) record(ctx context.Context, stopping bool, a *attempt, o outcome) {
	j := a.j
	log := s.opts.Log.With("job", j.ID, "idp", j.IdPID, "attempt", j.Attempts)
	if errors.Is(o.err, errLost) {
		log.Info("identity outbox: another worker took the change over")
		return
	}
	if o.settle != nil {
		reason := "waiting to learn whether the identity provider applied an earlier request"
		if j.Reason != nil {
			reason = *j.Reason
		}
		if err := s.retry(ctx, j, *o.settle, reason, doubtKept); err != nil {
			log.Error("identity outbox: reschedule failed; its lease will free it", "error", err.Error())
		}
		log.Info("identity change waits to learn whether an unanswered write landed")
		return
	}
	if o.called && o.err == nil { // recorded even when stopping: it is known
		var email, name *string
		if o.seen != nil {
			email, name = o.seen.Email, o.seen.FullName
		}
		if err := s.applied(ctx, j, o.merged, email, name); err != nil {
			log.Error("identity outbox: record applied change failed", "error", err.Error())
		} else {
			log.Info("identity change applied", "op", j.Op, "merged", len(o.merged))
		}
		return
	}
	if stopping || !o.called {
		// Give the job back; a write cut short may have landed.
		if !stopping {
			log.Error("identity outbox: holding the change failed", "error", o.err.Error())
		}
		d := doubtKept
		if a.wrote {
			d = doubtNow
		}
		if err := s.release(ctx, j, d); err != nil {
			log.Warn("identity outbox: release failed; its lease will free it", "error", err.Error())
		}
		return
	}
	if o.again != nil {
		if err := s.retry(ctx, j, time.Now(), o.again.Reason, doubtNone); err != nil {
			log.Error("identity outbox: reschedule failed; its lease will free it", "error", err.Error())
		}
		log.Info("identity change refused merged with later ones; sent on its own next")
		return
	}
	ae := idp.AsAdminError(o.err)
	log = log.With("kind", ae.Kind.String(), "status", ae.Status, "unknown", o.doubt == doubtNow)
	// An unanswered write that may still land keeps its change from being
	// given up: the user's next change must not go out before it could.
	var landsUntil time.Time
	switch {
	case o.doubt == doubtNow:
		landsUntil = time.Now().Add(s.opts.Settle)
	case o.doubt == doubtKept && j.DoubtUntil != nil:
		landsUntil = *j.DoubtUntil
	}
	giveUp := s.opts.MaxAttempts > 0 && j.Attempts >= s.opts.MaxAttempts && !time.Now().Before(landsUntil)
	if ae.Kind == idp.Permanent || giveUp {
		reason := ae.Reason
		if ae.Kind != idp.Permanent {
			reason = fmt.Sprintf("%s; gave up after %d attempts", ae.Reason, j.Attempts)
		}
		if err := s.fail(ctx, j, reason); err != nil {
			log.Error("identity outbox: record failure failed", "error", err.Error())
		}
		log.Warn("identity change failed")
		return
	}
	at := s.nextTry(j.Attempts, ae.RetryAt, time.Now())
	if s.opts.MaxAttempts > 0 && j.Attempts >= s.opts.MaxAttempts && at.Before(landsUntil) {
		at = landsUntil // then it can be given up
	}
	if ae.Kind == idp.RateLimited {
		hold := ae.RetryAt
		if hold.IsZero() {
			hold = time.Now().Add(s.opts.BackoffBase)
		}
		if err := s.holdSlots(ctx, j.IdPID, hold); err != nil {
			log.Warn("identity outbox: hold rate slots failed", "error", err.Error())
		}
	}
	if err := s.retry(ctx, j, at, ae.Reason, o.doubt); err != nil {
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
