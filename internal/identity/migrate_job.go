package identity

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/postgres"
)

// opMigrate is a user's migration to another IdP (see migration.go): its
// job's idp_id is the target's, external_id the user's subject at the
// source, email and full_name what it finds and invites by.
const opMigrate = "migrate"

// maxInviteConflicts is how many times a job retries after the target
// refused its invite because it holds the email (409) although its find saw
// none (a search index that lags), before it gives up.
const maxInviteConflicts = 5

// jobMigration is the run a migrate job belongs to.
type jobMigration struct {
	ID      uuid.UUID `db:"id"`
	FromIdP string    `db:"from_idp"`
	ToIdP   string    `db:"to_idp"`
	GraceUS int64     `db:"grace_us"`
}

func migrationOfJob(ctx context.Context, q sqlx.QueryerContext, jobID int64) (*jobMigration, error) {
	var m jobMigration
	err := sqlx.GetContext(ctx, q, &m, `SELECT m.id, m.from_idp, m.to_idp, (extract(epoch FROM m.grace) * 1000000)::bigint AS grace_us
		FROM identity.migration_users mu JOIN identity.migrations m ON m.id = mu.migration_id WHERE mu.job_id = $1`, jobID)
	if err != nil {
		return nil, postgres.Translate(err, "find the migration of a job")
	}
	return &m, nil
}

// verdict is how a user's migration ends.
type verdict struct {
	state   string // done, failed or skipped
	reason  MigrationReason
	target  string // the identity at the target, when known
	created bool   // this migration invited it
}

func failed(r MigrationReason) *verdict { return &verdict{state: "failed", reason: r} }

// processMigration runs one claim of a migrate job: calls through migrate,
// then records under a deadline of its own, as process does.
func (s *Service) processMigration(ctx context.Context, a *attempt) {
	o, v := a.migrate(ctx)
	after, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RecordTimeout)
	defer cancel()
	j := a.j
	log := s.opts.Log.With("job", j.ID, "idp", j.IdPID, "attempt", j.Attempts)
	switch {
	case v != nil:
		if err := s.finishMigration(after, a, *v); errors.Is(err, errLost) {
			log.Info("identity migration: the job ended elsewhere (another worker, an erasure)")
		} else if err != nil {
			log.Error("identity migration: record failed; its lease will free it", "error", err.Error())
		}
	case o.again != nil:
		// The invite met an identity the find did not see: look again,
		// keeping what is known about an earlier invite of this job.
		d := doubtNone
		if j.DoubtUntil != nil {
			d = doubtKept
		}
		if err := s.retry(after, j, s.nextTry(j.Attempts, time.Time{}, time.Now()), o.again.Reason, d); err != nil {
			log.Error("identity outbox: reschedule failed; its lease will free it", "error", err.Error())
		}
	default:
		s.record(after, ctx.Err() != nil, a, o)
	}
}

// migrate makes the calls of one attempt of a migrate job at the target
// and returns either how the user's migration ends (a verdict, recorded by
// finishMigration) or an outcome for record (no call made, an error to
// retry, a lost answer to wait out).
//
// It finds the identities that hold the email. None: it invites one,
// recording the write in doubt first (take), so an attempt after an
// answer that was lost finds the identity it created and adopts it even
// though its email is not yet verified, or, while that invite may still
// land, waits. One: it is adopted when its email is verified (or this job
// created it). Several: a conflict. Whether the identity belongs to another
// user is decided when the outcome is recorded.
func (a *attempt) migrate(ctx context.Context) (outcome, *verdict) {
	s, j := a.s, a.j
	inv := a.ad.Inviter
	if inv == nil { // a process configured otherwise: one that can invite takes it
		return outcome{called: true, err: &idp.AdminError{Kind: idp.Retryable,
			Reason: "this gateway process cannot find and invite users at the target identity provider"}}, nil
	}
	if v, err := s.precheckMigration(ctx, j); err != nil {
		return outcome{err: err}, nil // no call made: released or retried
	} else if v != nil {
		return outcome{}, v
	}
	var found []*idp.Profile
	called, at, err := a.call(ctx, 1, nil, func(ctx context.Context) error {
		var err error
		found, err = inv.FindUsersByEmail(ctx, *j.Email)
		return err
	})
	if !called || err != nil {
		return outcome{called: called, err: err, doubt: doubtKept}, nil
	}
	doubtful := j.DoubtUntil != nil // an invite of this job went unanswered
	switch len(found) {
	case 0:
	case 1:
		p := found[0]
		created := doubtful
		if !created {
			if created, err = s.invitedBefore(ctx, j.UserID, p.ExternalID); err != nil {
				return outcome{err: err}, nil
			}
		}
		if !p.EmailVerified && !created {
			return outcome{called: true}, &verdict{state: "failed", reason: ReasonUnverifiedEmail, target: p.ExternalID}
		}
		return outcome{called: true}, &verdict{state: "done", target: p.ExternalID, created: created}
	default:
		return outcome{called: true}, failed(ReasonSeveralIdentities)
	}
	if doubtful && at.Before(*j.DoubtUntil) {
		return outcome{called: true, settle: j.DoubtUntil, doubt: doubtKept}, nil
	}
	write := &idp.ProfileUpdate{Email: j.Email, FullName: j.FullName}
	var p *idp.Profile
	called, _, err = a.call(ctx, max(1, a.ad.CallsPerInvite), write, func(ctx context.Context) error {
		var err error
		p, err = inv.InviteUser(ctx, idp.NewIdentity{Email: *j.Email, FullName: j.FullName})
		return err
	})
	if !called {
		return outcome{err: err}, nil
	}
	if p != nil && p.ExternalID != "" {
		if err != nil {
			// Created, but the invite or password email failed: the
			// identity is the user's all the same; they can ask the target
			// for a password reset.
			s.opts.Log.Warn("identity migration: identity created, its invite email not sent", "job", j.ID, "idp", j.IdPID,
				"error", idp.AsAdminError(err).Reason)
		}
		return outcome{called: true}, &verdict{state: "done", target: p.ExternalID, created: true}
	}
	if err == nil {
		err = &idp.AdminError{Kind: idp.Retryable, Reason: "the identity provider answered the invite without an identity", Unknown: true}
	}
	if err != nil {
		ae := idp.AsAdminError(err)
		if ae.Kind == idp.Permanent && ae.Status == http.StatusConflict {
			if j.Attempts >= maxInviteConflicts {
				return outcome{called: true}, failed(ReasonIdPRefused)
			}
			return outcome{called: true, err: err, again: ae}, nil
		}
		d := doubtNone
		if ae.Unknown {
			d = doubtNow
		}
		return outcome{called: true, err: err, doubt: d}, nil
	}
	return outcome{called: true}, &verdict{state: "done", target: p.ExternalID, created: true}
}

// invitedBefore reports whether a migration of user already invited
// identity externalID at the job's target (a run that then failed).
func (s *Service) invitedBefore(ctx context.Context, user uuid.UUID, externalID string) (bool, error) {
	var ok bool
	err := s.db.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM identity.migration_users
		WHERE user_id = $1 AND target_external_id = $2 AND created)`, user, externalID)
	return ok, postgres.Translate(err, "find earlier invites")
}

// precheckMigration decides, before any call, whether the user's migration
// already ends (erased, changed, already moved). An email that changed
// since the job was queued, while no invite of the job is in doubt, is
// looked up instead: the job takes the user's current email and name.
func (s *Service) precheckMigration(ctx context.Context, j *job) (*verdict, error) {
	m, err := migrationOfJob(ctx, s.db, j.ID)
	if err != nil {
		return nil, err
	}
	users, err := s.dir.FindUsersByIDs(ctx, access.Scope{Role: access.RoleInternal}, []uuid.UUID{j.UserID})
	if err != nil {
		return nil, err
	}
	var u *directory.User
	if len(users) == 1 {
		u = users[0]
	}
	if v := userVerdict(u, m, j); v != nil {
		return v, nil
	}
	later, err := s.laterChanges(ctx, s.db, j)
	if err != nil {
		return nil, err
	}
	if later {
		return failed(ReasonUserChanged), nil
	}
	sameEmail := strings.EqualFold(*u.Email, *j.Email)
	if sameEmail && (same(u.FullName, j.FullName) || j.DoubtUntil != nil) {
		return nil, nil // (a new name does not matter to an invite that may have landed)
	}
	if j.DoubtUntil != nil { // an invite for the old email may have landed
		return failed(ReasonUserChanged), nil
	}
	res, err := s.db.ExecContext(ctx, `UPDATE identity.outbox SET email = $3, full_name = $4 WHERE `+fenced,
		j.ID, j.Attempts, u.Email, u.FullName)
	if err != nil {
		return nil, postgres.Translate(err, "refresh migration job")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errLost
	}
	j.Email, j.FullName = u.Email, u.FullName
	return nil, nil
}

// userVerdict is how the migration of u (nil: gone) by job j of run m ends
// because of the user alone; nil when it goes on: erased users are
// skipped, users already on the target (a sign-in linked them) are done,
// users no longer on the source's identity or without an email fail.
func userVerdict(u *directory.User, m *jobMigration, j *job) *verdict {
	switch {
	case u == nil:
		return failed(ReasonUserChanged)
	case u.ErasedAt != nil:
		return &verdict{state: "skipped", reason: ReasonErased}
	case u.IdPID == m.ToIdP:
		return &verdict{state: "done", target: u.ExternalID}
	case u.IdPID != m.FromIdP || u.ExternalID != j.ExternalID || u.Email == nil || j.Email == nil:
		return failed(ReasonUserChanged)
	}
	return nil
}

// laterChanges reports whether the user of j has an unfinished identity
// change queued after j: it was made for the source's identity. (Another
// run's migration of the user, of an overlapping scope, is no change: it
// finds the user moved.)
func (s *Service) laterChanges(ctx context.Context, q sqlx.QueryerContext, j *job) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, q, &ok, `SELECT EXISTS (SELECT 1 FROM identity.outbox
		WHERE user_id = $1 AND id > $2 AND op <> $3 AND state IN ('pending', 'running'))`, j.UserID, j.ID, opMigrate)
	return ok, postgres.Translate(err, "find later identity changes")
}

// finishMigration records how the user's migration ends, in one
// transaction under the job's fence: it locks the user and checks again
// that they are as the job found them (erased: skipped; changed: failed),
// that the target's identity belongs to no other user, and re-points the
// user to it (directory.Repoint, keeping the id); then it ends the user's
// row of the run and the job, scrubbing the job's values. errLost when the
// job is no longer this claim's (nothing is written).
func (s *Service) finishMigration(ctx context.Context, a *attempt, v verdict) error {
	j := a.j
	err := postgres.Tx(ctx, s.db, func(tx *sqlx.Tx) error {
		m, err := migrationOfJob(ctx, tx, j.ID)
		if err != nil {
			return err
		}
		u, err := s.dir.FindUserForUpdate(ctx, tx, j.UserID)
		if err != nil && apperr.KindOf(err) != apperr.NotFound {
			return err
		}
		if uv := userVerdict(u, m, j); uv != nil {
			if uv.state == "done" && v.target != "" && uv.target != v.target {
				uv = failed(ReasonUserChanged) // moved, but to another identity
			}
			v = verdict{state: uv.state, reason: uv.reason, target: uv.target, created: v.created}
		} else if !strings.EqualFold(*u.Email, *j.Email) {
			v.state, v.reason = "failed", ReasonUserChanged
		} else if later, err := s.laterChanges(ctx, tx, j); err != nil {
			return err
		} else if later {
			v.state, v.reason = "failed", ReasonUserChanged
		} else if v.state == "done" {
			if v, err = repoint(ctx, tx, u, m, v); err != nil {
				return err
			}
		}
		if v.state == "done" {
			v.reason = ""
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identity.migration_users
			SET state = $4, reason = nullif($5, ''), target_external_id = coalesce(nullif($6, ''), target_external_id),
				created = created OR $7, updated_at = now()
			WHERE migration_id = $1 AND user_id = $2 AND job_id = $3`,
			m.ID, j.UserID, j.ID, v.state, string(v.reason), v.target, v.created); err != nil {
			return err
		}
		state, reason := "applied", (*string)(nil)
		switch v.state {
		case "failed":
			msg := v.reason.message()
			state, reason = "failed", &msg
		case "skipped":
			msg := v.reason.message()
			state, reason = "cancelled", &msg
		}
		res, err := tx.ExecContext(ctx, `UPDATE identity.outbox
			SET state = $3, locked_until = NULL, reason = $4, `+scrubbed+`, finished_at = now()
			WHERE `+fenced, j.ID, j.Attempts, state, reason)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLost
		}
		return nil
	})
	if err == nil {
		s.opts.Log.Debug("identity migration: user handled", "job", j.ID, "idp", j.IdPID, "state", v.state, "reason", string(v.reason))
	}
	if errors.Is(err, errLost) {
		return err
	}
	return postgres.Translate(err, "record migration")
}

// repoint moves u to the target's identity of v, unless it is or was
// linked to another user: then v fails. The move runs in a savepoint, so a
// conflict found by the database leaves tx usable to record it.
func repoint(ctx context.Context, tx *sqlx.Tx, u *directory.User, m *jobMigration, v verdict) (verdict, error) {
	to := directory.IdentityRef{IdPID: m.ToIdP, ExternalID: v.target}
	owner, linked, err := directory.LinkedUser(ctx, tx, to)
	if err != nil {
		return v, err
	}
	if linked && owner != u.ID {
		v.state, v.reason = "failed", ReasonLinkedToOtherUser
		return v, nil
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT repoint`); err != nil {
		return v, err
	}
	from := directory.IdentityRef{IdPID: u.IdPID, ExternalID: u.ExternalID}
	_, err = directory.Repoint(ctx, tx, u.ID, from, to, time.Duration(m.GraceUS)*time.Microsecond)
	if err == nil {
		_, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT repoint`)
		return v, err
	}
	if apperr.KindOf(err) != apperr.Conflict {
		return v, err
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT repoint`); err != nil {
		return v, err
	}
	v.state, v.reason = "failed", ReasonLinkedToOtherUser
	return v, nil
}
