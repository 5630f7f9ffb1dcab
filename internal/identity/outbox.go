package identity

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/postgres"
)

// job is one outbox row.
type job struct {
	ID          int64      `db:"id"`
	UserID      uuid.UUID  `db:"user_id"`
	IdPID       string     `db:"idp_id"`
	ExternalID  string     `db:"external_id"`
	Op          string     `db:"op"`
	Email       *string    `db:"email"`
	FullName    *string    `db:"full_name"`
	Priority    int        `db:"priority"`
	State       string     `db:"state"`
	Attempts    int        `db:"attempts"`
	NextTryAt   time.Time  `db:"next_try_at"`
	LockedUntil *time.Time `db:"locked_until"`
	Reason      *string    `db:"reason"`
}

const jobColumns = `id, user_id, idp_id, external_id, op, email, full_name, priority, state, attempts, next_try_at, locked_until, reason`

// enqueue records a change inside tx and returns its id.
func enqueue(ctx context.Context, tx *sqlx.Tx, j job) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, `
		INSERT INTO identity.outbox (user_id, idp_id, external_id, op, email, full_name, priority)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		j.UserID, j.IdPID, j.ExternalID, j.Op, j.Email, j.FullName, j.Priority)
	return id, postgres.Translate(err, "enqueue identity change")
}

// unfinished returns the user's pending and running changes, oldest first.
func unfinished(ctx context.Context, q sqlx.QueryerContext, userID uuid.UUID) ([]job, error) {
	var js []job
	err := sqlx.SelectContext(ctx, q, &js, `SELECT `+jobColumns+` FROM identity.outbox
		WHERE user_id = $1 AND state IN ('pending', 'running') ORDER BY id`, userID)
	return js, postgres.Translate(err, "find unfinished identity changes")
}

// findJob returns one job.
func findJob(ctx context.Context, q sqlx.QueryerContext, id int64) (*job, error) {
	var j job
	err := sqlx.GetContext(ctx, q, &j, `SELECT `+jobColumns+` FROM identity.outbox WHERE id = $1`, id)
	if err != nil {
		return nil, postgres.Translate(err, "find identity change")
	}
	return &j, nil
}

// claim takes the next due job of idps for this worker: interactive before
// background, oldest first, never a job with an older unfinished change of
// the same user (the per-user order), and a running job only when its
// lease has run out (its worker died). The claim increments attempts, which
// fences the job: only the claim that holds that attempt may finish it.
//
// The lease is one call timeout of the job's IdP: its worker renews it
// while it waits for a rate slot (see hold) and takes it anew for the call
// when the slot is granted, so a process that dies holds each of its jobs
// for at most one call timeout.
func (s *Service) claim(ctx context.Context, idps []string) (*job, error) {
	var j job
	err := postgres.Tx(ctx, s.db, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &j, `
			SELECT `+jobColumns+` FROM identity.outbox o
			WHERE o.state IN ('pending', 'running') AND o.idp_id = ANY($1)
			  AND o.next_try_at <= now()
			  AND (o.state = 'pending' OR o.locked_until < now())
			  AND NOT EXISTS (SELECT 1 FROM identity.outbox p
			                  WHERE p.user_id = o.user_id AND p.id < o.id AND p.state IN ('pending', 'running'))
			ORDER BY o.priority, o.id
			LIMIT 1
			FOR UPDATE SKIP LOCKED`, pq.Array(idps))
		if err != nil {
			return err
		}
		return tx.GetContext(ctx, &j, `
			UPDATE identity.outbox SET state = 'running', attempts = attempts + 1,
				locked_until = now() + $2 * interval '1 millisecond'
			WHERE id = $1 RETURNING `+jobColumns, j.ID, s.callTimeout(j.IdPID).Milliseconds())
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, postgres.Translate(err, "claim identity change")
	}
	return &j, nil
}

// fenced is the condition that the job is still held by the claim j.
const fenced = `id = $1 AND state = 'running' AND attempts = $2`

// errLost is a claim whose lease ran out and was taken by another worker.
var errLost = errors.New("the claim was lost to another worker")

// hold extends the claim j to lease from now: errLost when the claim is no
// longer this worker's.
func (s *Service) hold(ctx context.Context, j *job, lease time.Duration) error {
	res, err := s.db.ExecContext(ctx, `UPDATE identity.outbox
		SET locked_until = clock_timestamp() + $3 * interval '1 millisecond'
		WHERE `+fenced, j.ID, j.Attempts, lease.Milliseconds())
	if err != nil {
		return postgres.Translate(err, "hold identity change")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errLost
	}
	return nil
}

// retry puts the job back to wait until at, with a safe reason.
func (s *Service) retry(ctx context.Context, j *job, at time.Time, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE identity.outbox
		SET state = 'pending', next_try_at = $3, locked_until = NULL, reason = $4
		WHERE `+fenced, j.ID, j.Attempts, at, reason)
	return postgres.Translate(err, "reschedule identity change")
}

// release gives a job back untouched (the worker is stopping): due now.
func (s *Service) release(ctx context.Context, j *job) error {
	_, err := s.db.ExecContext(ctx, `UPDATE identity.outbox
		SET state = 'pending', next_try_at = now(), locked_until = NULL
		WHERE `+fenced, j.ID, j.Attempts)
	return postgres.Translate(err, "release identity change")
}

// fail ends a job FAILED with a safe reason and scrubs its values.
func (s *Service) fail(ctx context.Context, j *job, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE identity.outbox
		SET state = 'failed', locked_until = NULL, reason = $3, email = NULL, full_name = NULL, finished_at = now()
		WHERE `+fenced, j.ID, j.Attempts, reason)
	return postgres.Translate(err, "fail identity change")
}

// applied ends a job APPLIED and, for an update, refreshes the directory
// cache with what the IdP accepted, in one transaction. A job whose claim
// was lost (its lease ran out and another worker took it) changes nothing.
func (s *Service) applied(ctx context.Context, j *job, email, fullName *string) error {
	return postgres.Tx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE identity.outbox
			SET state = 'applied', locked_until = NULL, reason = NULL, email = NULL, full_name = NULL, finished_at = now()
			WHERE `+fenced, j.ID, j.Attempts)
		if err != nil {
			return postgres.Translate(err, "finish identity change")
		}
		if n, _ := res.RowsAffected(); n == 0 || j.Op != opUpdate {
			return nil
		}
		return s.dir.ApplyIdentity(ctx, tx, j.UserID, email, fullName)
	})
}

// acquireSlot takes the next call slot of idpID, spaced interval apart and
// shared by every process on the database, and returns how long to wait
// for it. The row lock makes concurrent takers queue one after another.
func (s *Service) acquireSlot(ctx context.Context, idpID string, interval time.Duration) (time.Duration, error) {
	var wait float64
	err := s.db.GetContext(ctx, &wait, `
		INSERT INTO identity.rate_slots AS r (idp_id, next_at)
		VALUES ($1, clock_timestamp() + $2 * interval '1 microsecond')
		ON CONFLICT (idp_id) DO UPDATE
			SET next_at = greatest(r.next_at, clock_timestamp()) + $2 * interval '1 microsecond'
		RETURNING extract(epoch FROM (next_at - $2 * interval '1 microsecond' - clock_timestamp()))::float8`,
		idpID, interval.Microseconds())
	if err != nil {
		return 0, postgres.Translate(err, "acquire rate slot")
	}
	return max(0, time.Duration(wait*float64(time.Second))), nil
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
func (s *Service) waitSlot(ctx context.Context, idpID string, interval time.Duration, renew func(context.Context) error, renewEvery time.Duration) error {
	defer func(start time.Time) { metrics.ObserveQuotaWait(idpID, time.Since(start)) }(time.Now())
	for {
		wait, err := s.acquireSlot(ctx, idpID, interval)
		if err != nil {
			return err
		}
		due := time.Now().Add(wait)
		for renew != nil && time.Until(due) > renewEvery {
			if !sleep(ctx, renewEvery) {
				return ctx.Err()
			}
			if err := renew(ctx); err != nil {
				return err
			}
		}
		if !sleep(ctx, time.Until(due)) {
			return ctx.Err()
		}
		if time.Since(due) > maxLate {
			continue
		}
		h, err := s.held(ctx, idpID)
		if err != nil || !h {
			return err
		}
	}
}

// syncOf turns a job into the status a client sees.
func syncOf(j *job) Sync {
	switch j.State {
	case "applied":
		return Sync{Status: Applied, Attempts: j.Attempts}
	case "failed":
		return Sync{Status: Failed, Attempts: j.Attempts, Reason: j.Reason}
	default:
		next := j.NextTryAt
		return Sync{Status: Pending, Attempts: j.Attempts, NextTryAt: &next, Reason: j.Reason}
	}
}
