package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/idp"
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
	// The last write sent for this change whose outcome is unknown, and
	// until when the IdP may still apply it (nil: no such write).
	SentEmail    *string    `db:"sent_email"`
	SentFullName *string    `db:"sent_full_name"`
	DoubtUntil   *time.Time `db:"doubt_until"`
}

const jobColumns = `id, user_id, idp_id, external_id, op, email, full_name, priority, state, attempts, next_try_at, locked_until, reason,
	sent_email, sent_full_name, doubt_until`

// update is the change j asks of the IdP.
func (j *job) update() idp.ProfileUpdate {
	return idp.ProfileUpdate{Email: j.Email, FullName: j.FullName}
}

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
	_, err := s.take(ctx, j, lease, nil)
	return err
}

// take holds the claim j for a call of lease, as hold does, and returns the
// database's time. For a write it records the write as in doubt until the
// lease and Settle have passed: should this process die mid-call, the next
// attempt knows to read the identity back, and when.
func (s *Service) take(ctx context.Context, j *job, lease time.Duration, write *idp.ProfileUpdate) (time.Time, error) {
	var at []time.Time
	var err error
	if write == nil {
		err = s.db.SelectContext(ctx, &at, `UPDATE identity.outbox
			SET locked_until = clock_timestamp() + $3 * interval '1 millisecond'
			WHERE `+fenced+` RETURNING clock_timestamp()`, j.ID, j.Attempts, lease.Milliseconds())
	} else {
		err = s.db.SelectContext(ctx, &at, `UPDATE identity.outbox
			SET locked_until = clock_timestamp() + $3 * interval '1 millisecond',
				sent_email = $4, sent_full_name = $5,
				doubt_until = clock_timestamp() + ($3 + $6) * interval '1 millisecond'
			WHERE `+fenced+` RETURNING clock_timestamp()`, j.ID, j.Attempts, lease.Milliseconds(),
			write.Email, write.FullName, s.opts.Settle.Milliseconds())
	}
	if err != nil {
		return time.Time{}, postgres.Translate(err, "hold identity change")
	}
	if len(at) == 0 {
		return time.Time{}, errLost
	}
	return at[0], nil
}

// doubt is what an attempt leaves known about the last write sent for its
// change.
type doubt int

const (
	doubtKept doubt = iota // nothing new is known: as it was
	doubtNone              // the last write's outcome is known (an answer came, or a read settled it)
	doubtNow               // the last write went unanswered just now: it may land until Settle from now
)

// set is the SQL that records d.
func (d doubt) set(settle time.Duration) string {
	switch d {
	case doubtNone:
		return `, sent_email = NULL, sent_full_name = NULL, doubt_until = NULL`
	case doubtNow:
		return fmt.Sprintf(`, doubt_until = clock_timestamp() + %d * interval '1 millisecond'`, settle.Milliseconds())
	default:
		return ``
	}
}

// retry puts the job back to wait until at, with a safe reason.
func (s *Service) retry(ctx context.Context, j *job, at time.Time, reason string, d doubt) error {
	_, err := s.db.ExecContext(ctx, `UPDATE identity.outbox
		SET state = 'pending', next_try_at = $3, locked_until = NULL, reason = $4`+d.set(s.opts.Settle)+`
		WHERE `+fenced, j.ID, j.Attempts, at, reason)
	return postgres.Translate(err, "reschedule identity change")
}

// release gives a job back (the worker is stopping): due now.
func (s *Service) release(ctx context.Context, j *job, d doubt) error {
	_, err := s.db.ExecContext(ctx, `UPDATE identity.outbox
		SET state = 'pending', next_try_at = now(), locked_until = NULL`+d.set(s.opts.Settle)+`
		WHERE `+fenced, j.ID, j.Attempts)
	return postgres.Translate(err, "release identity change")
}

// scrubbed is the SQL that ends a job's hold on PII.
const scrubbed = `email = NULL, full_name = NULL, sent_email = NULL, sent_full_name = NULL, doubt_until = NULL`

// fail ends a job FAILED with a safe reason and scrubs its values.
func (s *Service) fail(ctx context.Context, j *job, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE identity.outbox
		SET state = 'failed', locked_until = NULL, reason = $3, `+scrubbed+`, finished_at = now()
		WHERE `+fenced, j.ID, j.Attempts, reason)
	return postgres.Translate(err, "fail identity change")
}

// laterUpdates are the user's pending updates queued after j, up to the
// first change that is not an update, oldest first: what one write of the
// newest wanted state also carries.
func (s *Service) laterUpdates(ctx context.Context, j *job) ([]job, error) {
	var js []job
	err := s.db.SelectContext(ctx, &js, `SELECT `+jobColumns+` FROM identity.outbox
		WHERE user_id = $1 AND id > $2 AND state = 'pending' ORDER BY id`, j.UserID, j.ID)
	if err != nil {
		return nil, postgres.Translate(err, "find later identity changes")
	}
	for i := range js {
		if js[i].Op != opUpdate {
			return js[:i], nil
		}
	}
	return js, nil
}

// applied ends a job APPLIED, with the later updates of its user that its
// write carried (merged), and for an update refreshes the directory cache
// with what the IdP is seen to hold, in one transaction. A job whose claim
// was lost (its lease ran out and another worker took it) changes nothing.
func (s *Service) applied(ctx context.Context, j *job, merged []int64, email, fullName *string) error {
	return postgres.Tx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE identity.outbox
			SET state = 'applied', locked_until = NULL, reason = NULL, `+scrubbed+`, finished_at = now()
			WHERE `+fenced, j.ID, j.Attempts)
		if err != nil {
			return postgres.Translate(err, "finish identity change")
		}
		if n, _ := res.RowsAffected(); n == 0 || j.Op != opUpdate {
			return nil
		}
		if len(merged) > 0 {
			// Pending and behind j, so no worker holds them.
			if _, err := tx.ExecContext(ctx, `UPDATE identity.outbox
				SET state = 'applied', reason = NULL, `+scrubbed+`, finished_at = now()
				WHERE id = ANY($1) AND user_id = $2 AND state = 'pending'`, pq.Array(merged), j.UserID); err != nil {
				return postgres.Translate(err, "finish merged identity changes")
			}
		}
		return s.dir.ApplyIdentity(ctx, tx, j.UserID, email, fullName)
	})
}

// syncOf turns a job into the status a client sees.
func syncOf(j *job) Sync {
	switch j.State {
	case "applied":
		return Sync{Status: Applied, Attempts: j.Attempts}
	case "failed", "cancelled": // cancelled: the user was erased first
		return Sync{Status: Failed, Attempts: j.Attempts, Reason: j.Reason}
	default:
		next := j.NextTryAt
		return Sync{Status: Pending, Attempts: j.Attempts, NextTryAt: &next, Reason: j.Reason}
	}
}
