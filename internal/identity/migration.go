package identity

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// A migration moves the users of one IdP adapter (the source) to another
// (the target) without changing their ids (docs/idp-migration.md). A run
// takes on every user of the source in its scope (identity.migration_users,
// one row each, so it is resumable and never handles a user twice), and
// hands them to the outbox a window at a time as op 'migrate' jobs of the
// target: a job finds the identity at the target by the user's email, or
// invites one, within the target's quota, and re-points the user
// (directory.Repoint) in the transaction that records its outcome under the
// job's fence. Conflicts end the user's migration FAILED with a
// MigrationReason and leave them on the source, untouched. These reads of
// directory.users are reads only: users change through directory.

// MigrationState is where a migration stands.
type MigrationState string

// The states of a migration.
const (
	MigrationRunning  MigrationState = "RUNNING"  // users remain
	MigrationFinished MigrationState = "FINISHED" // every user is done, failed or skipped
)

// MigrationReason says why a user's migration failed or was skipped; safe
// to show: it is a code, never a value.
type MigrationReason string

// The reasons.
const (
	ReasonErased            MigrationReason = "erased"               // skipped: the user is erased
	ReasonNoEmail           MigrationReason = "no_email"             // the user has no email to find them by
	ReasonDuplicateEmail    MigrationReason = "duplicate_email"      // another user of the source has the same email
	ReasonLinkedToOtherUser MigrationReason = "linked_to_other_user" // the target's identity of the email belongs to another user
	ReasonSeveralIdentities MigrationReason = "several_identities"   // the target holds several identities with the email
	ReasonUnverifiedEmail   MigrationReason = "unverified_email"     // the target's identity has not verified the email
	ReasonUserChanged       MigrationReason = "user_changed"         // the user changed while being migrated
	ReasonIdPRefused        MigrationReason = "idp_refused"          // the target refused a call for good
)

// MigrationReasons are every reason a user's migration can fail with, in
// the order they are reported.
var MigrationReasons = []MigrationReason{ReasonNoEmail, ReasonDuplicateEmail, ReasonLinkedToOtherUser,
	ReasonSeveralIdentities, ReasonUnverifiedEmail, ReasonUserChanged, ReasonIdPRefused}

// message is the reason as a safe sentence, for the outbox's reason.
func (r MigrationReason) message() string {
	switch r {
	case ReasonErased:
		return "migration: the user is erased"
	case ReasonNoEmail:
		return "migration: the user has no email"
	case ReasonDuplicateEmail:
		return "migration: another user of the source has the same email"
	case ReasonLinkedToOtherUser:
		return "migration: the target identity belongs to another user"
	case ReasonSeveralIdentities:
		return "migration: the target holds several identities with the email"
	case ReasonUnverifiedEmail:
		return "migration: the target identity has not verified the email"
	case ReasonUserChanged:
		return "migration: the user changed while being migrated"
	default:
		return "migration: the target identity provider refused the request"
	}
}

// Migration is one run of a migration and where it stands.
type Migration struct {
	ID         uuid.UUID
	FromIdP    string
	ToIdP      string
	TenantID   *uuid.UUID // nil: every tenant
	State      MigrationState
	Grace      time.Duration // how long the source's tokens still resolve after a user moves
	StartedAt  time.Time
	FinishedAt *time.Time
	Total      int // users taken on
	Done       int // re-pointed to the target
	Failed     int // left on the source; see Failures
	Skipped    int // erased
	Remaining  int // not yet done, failed or skipped
	Failures   []ReasonCount
}

// ReasonCount is how many users failed for one reason.
type ReasonCount struct {
	Reason MigrationReason
	Count  int
}

// MigrationPlan names a migration: the users of From (of Tenant only, when
// set) move to To, and the tokens of From still resolve for Grace after.
type MigrationPlan struct {
	From, To string
	Tenant   *uuid.UUID
	Grace    time.Duration
}

// check refuses a plan the service cannot run: To must be one of its
// admin adapters, with an Inviter.
func (s *Service) check(p MigrationPlan) error {
	if p.From == "" || p.To == "" || p.From == p.To {
		return apperr.E(apperr.Invalid, "a migration needs two different IdP adapters")
	}
	if ad, ok := s.adapters[p.To]; !ok || ad.Inviter == nil {
		return apperr.E(apperr.Invalid, "the target IdP adapter has no admin section that can find and invite users")
	}
	if p.Grace < 0 {
		return apperr.InvalidField("grace", "must not be negative")
	}
	return nil
}

// CallsPerUser is how many admin calls of the target a user's migration
// takes at most: a find, and an invite when the target holds no identity.
func (s *Service) CallsPerUser(to string) int {
	return 1 + max(1, s.adapters[to].CallsPerInvite)
}

// RequestsPerSecond is the quota of adapter id's admin API.
func (s *Service) RequestsPerSecond(id string) float64 { return s.adapters[id].RequestsPerSecond }

// candidates is the SQL of the users a new or resumed run of (from $1, to
// $2, tenant $3) takes on, with the state and reason each starts in: every
// user of the source in the scope but those an earlier run skipped (erased
// for good). Known before any call: erased users are skipped; a user
// without an email, or sharing it with another live user of the source
// (any tenant: the target's identities are not per tenant), or with a live
// user already on the target, fails.
const candidates = `
	SELECT u.id AS user_id,
		CASE WHEN u.erased_at IS NOT NULL THEN 'skipped'
			WHEN coalesce(u.email, '') = '' OR d.n > 1 OR t.e IS NOT NULL THEN 'failed'
			ELSE 'pending' END AS state,
		CASE WHEN u.erased_at IS NOT NULL THEN 'erased'
			WHEN coalesce(u.email, '') = '' THEN 'no_email'
			WHEN d.n > 1 THEN 'duplicate_email'
			WHEN t.e IS NOT NULL THEN 'linked_to_other_user' END AS reason
	FROM directory.users u
	LEFT JOIN (SELECT lower(email) AS e, count(*) AS n FROM directory.users
		WHERE idp_id = $1 AND erased_at IS NULL AND email IS NOT NULL GROUP BY 1) d ON d.e = lower(u.email)
	LEFT JOIN (SELECT DISTINCT lower(email) AS e FROM directory.users
		WHERE idp_id = $2 AND erased_at IS NULL AND email IS NOT NULL) t ON t.e = lower(u.email)
	WHERE u.idp_id = $1 AND ($3::uuid IS NULL OR u.tenant_id = $3)
	  AND NOT EXISTS (SELECT 1 FROM identity.migration_users p JOIN identity.migrations pm ON pm.id = p.migration_id
	                  WHERE p.user_id = u.id AND pm.from_idp = $1 AND p.state = 'skipped')`

// unfinishedMigration is the SQL of the unfinished run of (from $1, to $2,
// tenant $3), as the unique index migrations_unfinished_key matches it.
const unfinishedMigration = `SELECT id FROM identity.migrations
	WHERE from_idp = $1 AND to_idp = $2 AND tenant_id IS NOT DISTINCT FROM $3 AND state = 'running'`

// StartMigration resumes the unfinished run of p's (From, To, Tenant), or
// starts one, and takes on the users of the source not yet in it. resumed
// says which. When there is no unfinished run and no user to take on, it
// starts nothing and returns the latest run (nil when there is none) with
// started false. Invalid when the service cannot run p (see check).
func (s *Service) StartMigration(ctx context.Context, p MigrationPlan) (m *Migration, resumed, started bool, err error) {
	if err := s.check(p); err != nil {
		return nil, false, false, err
	}
	var id uuid.UUID
	err = postgres.Tx(ctx, s.db, func(tx *sqlx.Tx) error {
		// One starter at a time for a pair, so two runs never race to take
		// the same users on.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('identity.migrations:' || $1 || '>' || $2))`,
			p.From, p.To); err != nil {
			return err
		}
		var ids []uuid.UUID
		if err := tx.SelectContext(ctx, &ids, unfinishedMigration, p.From, p.To, p.Tenant); err != nil {
			return err
		}
		switch {
		case len(ids) > 0:
			id, resumed = ids[0], true
		default:
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM (`+candidates+`) c`, p.From, p.To, p.Tenant); err != nil {
				return err
			}
			if n == 0 { // nothing to do: the latest run, if any, says how it went
				if err := tx.SelectContext(ctx, &ids, `SELECT id FROM identity.migrations
					WHERE from_idp = $1 AND to_idp = $2 AND tenant_id IS NOT DISTINCT FROM $3 ORDER BY started_at DESC LIMIT 1`,
					p.From, p.To, p.Tenant); err != nil || len(ids) == 0 {
					return err
				}
				id = ids[0]
				return nil
			}
			if err := tx.GetContext(ctx, &id, `INSERT INTO identity.migrations (from_idp, to_idp, tenant_id, grace)
				VALUES ($1, $2, $3, $4 * interval '1 microsecond') RETURNING id`, p.From, p.To, p.Tenant, p.Grace.Microseconds()); err != nil {
				return err
			}
		}
		started = true
		_, err := tx.ExecContext(ctx, `INSERT INTO identity.migration_users (migration_id, user_id, state, reason)
			SELECT $4, c.user_id, c.state, c.reason FROM (`+candidates+`) c
			ON CONFLICT (migration_id, user_id) DO NOTHING`, p.From, p.To, p.Tenant, id)
		return err
	})
	if err != nil {
		return nil, false, false, postgres.Translate(err, "start migration")
	}
	if id == uuid.Nil {
		return nil, false, false, nil
	}
	m, err = s.findMigration(ctx, id)
	return m, resumed, started, err
}

// DryRun is what a run of a plan would do now, from what the gateway knows
// without calling the target.
type DryRun struct {
	Resumes   *uuid.UUID // the unfinished run it would resume; nil: it would start one
	Handled   int        // users that run has already done, failed or skipped
	ToMigrate int        // users it would send to the target
	Erased    int        // users it would skip
	Conflicts []ReasonCount
	// MaxCalls is how many admin calls of the target it would make at
	// most (a find per user, and an invite where none is found), and
	// Duration how long they take at the target's quota.
	MaxCalls int
	Duration time.Duration
}

// DryRunMigration reports what StartMigration and RunMigration would do
// for p now. It writes nothing and calls no IdP.
func (s *Service) DryRunMigration(ctx context.Context, p MigrationPlan) (*DryRun, error) {
	if err := s.check(p); err != nil {
		return nil, err
	}
	out := &DryRun{}
	var ids []uuid.UUID
	if err := s.db.SelectContext(ctx, &ids, unfinishedMigration, p.From, p.To, p.Tenant); err != nil {
		return nil, postgres.Translate(err, "find unfinished migration")
	}
	resumes := uuid.Nil
	if len(ids) > 0 {
		resumes = ids[0]
		out.Resumes = &resumes
	}
	// On resume, the run's own pending and running users count as what
	// they will become; those it finished are not handled again.
	var rows []struct {
		State  string  `db:"state"`
		Reason *string `db:"reason"`
		N      int     `db:"n"`
	}
	err := s.db.SelectContext(ctx, &rows, `
		WITH c AS (`+candidates+`)
		SELECT CASE WHEN mu.state IN ('done', 'failed', 'skipped') THEN 'handled' ELSE c.state END AS state,
			CASE WHEN mu.state IN ('done', 'failed', 'skipped') THEN NULL ELSE c.reason END AS reason, count(*) AS n
		FROM c LEFT JOIN identity.migration_users mu ON mu.migration_id = $4 AND mu.user_id = c.user_id
		GROUP BY 1, 2`, p.From, p.To, p.Tenant, resumes)
	if err != nil {
		return nil, postgres.Translate(err, "dry-run migration")
	}
	if out.Resumes != nil {
		if err := s.db.GetContext(ctx, &out.Handled, `SELECT count(*) FROM identity.migration_users
			WHERE migration_id = $1 AND state IN ('done', 'failed', 'skipped')`, resumes); err != nil {
			return nil, postgres.Translate(err, "dry-run migration")
		}
	}
	for _, r := range rows {
		switch r.State {
		case "pending":
			out.ToMigrate += r.N
		case "skipped":
			out.Erased += r.N
		case "failed":
			out.Conflicts = append(out.Conflicts, ReasonCount{Reason: MigrationReason(*r.Reason), Count: r.N})
		}
	}
	sortReasons(out.Conflicts)
	out.MaxCalls = out.ToMigrate * s.CallsPerUser(p.To)
	out.Duration = s.AtQuota(p.To, out.ToMigrate)
	return out, nil
}

// AtQuota is how long users migrations take at the quota of to, at most:
// users × CallsPerUser ÷ requests per second.
func (s *Service) AtQuota(to string, users int) time.Duration {
	rps := s.adapters[to].RequestsPerSecond
	if rps <= 0 {
		return 0
	}
	return time.Duration(float64(users*s.CallsPerUser(to)) / rps * float64(time.Second))
}

func sortReasons(rs []ReasonCount) {
	slices.SortFunc(rs, func(a, b ReasonCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return slices.Index(MigrationReasons, a.Reason) - slices.Index(MigrationReasons, b.Reason)
	})
}

// Migration returns a run and where it stands, for an internal service
// account: Forbidden for any other caller; nil when there is no such run.
func (s *Service) Migration(ctx context.Context, sc access.Scope, id uuid.UUID) (*Migration, error) {
	if !sc.CrossTenant() {
		return nil, apperr.E(apperr.Forbidden, "only an internal service account may read a migration")
	}
	m, err := s.findMigration(ctx, id)
	if apperr.KindOf(err) == apperr.NotFound {
		return nil, nil
	}
	return m, err
}

// findMigration reads run id and counts its users. NotFound when there is
// no such run.
func (s *Service) findMigration(ctx context.Context, id uuid.UUID) (*Migration, error) {
	var r struct {
		ID         uuid.UUID  `db:"id"`
		FromIdP    string     `db:"from_idp"`
		ToIdP      string     `db:"to_idp"`
		TenantID   *uuid.UUID `db:"tenant_id"`
		State      string     `db:"state"`
		GraceUS    int64      `db:"grace_us"`
		StartedAt  time.Time  `db:"started_at"`
		FinishedAt *time.Time `db:"finished_at"`
	}
	err := s.db.GetContext(ctx, &r, `SELECT id, from_idp, to_idp, tenant_id, state,
		(extract(epoch FROM grace) * 1000000)::bigint AS grace_us, started_at, finished_at
		FROM identity.migrations WHERE id = $1`, id)
	if err != nil {
		if err = postgres.Translate(err, "find migration"); apperr.KindOf(err) == apperr.NotFound {
			return nil, apperr.E(apperr.NotFound, "migration not found")
		}
		return nil, err
	}
	m := &Migration{ID: r.ID, FromIdP: r.FromIdP, ToIdP: r.ToIdP, TenantID: r.TenantID, State: MigrationRunning,
		Grace: time.Duration(r.GraceUS) * time.Microsecond, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	if r.State == "finished" {
		m.State = MigrationFinished
	}
	// One pass over the run's users (migration_users_state_idx).
	var counts []struct {
		State  string  `db:"state"`
		Reason *string `db:"reason"`
		N      int     `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &counts, `SELECT state, reason, count(*) AS n FROM identity.migration_users
		WHERE migration_id = $1 GROUP BY state, reason`, id); err != nil {
		return nil, postgres.Translate(err, "count migration users")
	}
	for _, c := range counts {
		m.Total += c.N
		switch c.State {
		case "done":
			m.Done += c.N
		case "skipped":
			m.Skipped += c.N
		case "failed":
			m.Failed += c.N
			m.Failures = append(m.Failures, ReasonCount{Reason: MigrationReason(*c.Reason), Count: c.N})
		default:
			m.Remaining += c.N
		}
	}
	sortReasons(m.Failures)
	return m, nil
}

// RunOptions tune RunMigration.
type RunOptions struct {
	// Window is how many of the run's users are in the outbox at once;
	// default four per worker, at least 32. Only they carry an email and a
	// name there.
	Window int
	// Every is how often Progress is called; default 5s.
	Every time.Duration
	// Progress is told where the run stands, every Every; nil: never.
	Progress func(*Migration)
}

// RunMigration hands the users of run id to the outbox, a window at a
// time, until every one is done, failed or skipped, then marks the run
// FINISHED and returns it. The jobs are applied by the workers of the
// target's adapter (Start), in this process or another. When ctx ends it
// returns ctx's error and the run stays resumable: the jobs already queued
// are applied by the next workers that run, the rest wait for the next
// RunMigration.
func (s *Service) RunMigration(ctx context.Context, id uuid.UUID, o RunOptions) (*Migration, error) {
	if o.Window <= 0 {
		o.Window = max(32, 4*s.opts.Workers)
	}
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	m, err := s.findMigration(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.State == MigrationFinished {
		return m, nil
	}
	if err := s.check(MigrationPlan{From: m.FromIdP, To: m.ToIdP, Grace: m.Grace}); err != nil {
		return nil, err
	}
	last, counted := time.Now(), time.Time{}
	for {
		if err := s.fillMigration(ctx, m, o.Window); err != nil {
			return nil, stopped(ctx, err)
		}
		// Counting reads every user of the run: twice a second at most.
		if time.Since(counted) < countEvery {
			if !sleep(ctx, s.opts.PollInterval) {
				return nil, ctx.Err()
			}
			continue
		}
		counted = time.Now()
		if m, err = s.findMigration(ctx, id); err != nil {
			return nil, stopped(ctx, err)
		}
		if m.State == MigrationFinished { // by another process running it too
			return m, nil
		}
		if m.Remaining == 0 {
			finished, err := s.finishRun(ctx, m)
			if err != nil {
				return nil, stopped(ctx, err)
			}
			if finished {
				return s.findMigration(ctx, id)
			}
			continue // a resuming run took more users on meanwhile
		}
		if o.Progress != nil && time.Since(last) >= o.Every {
			o.Progress(m)
			last = time.Now()
		}
		if !sleep(ctx, s.opts.PollInterval) {
			return nil, ctx.Err()
		}
	}
}

// countEvery is how often RunMigration counts where its run stands.
const countEvery = 500 * time.Millisecond

// stopped is err, or ctx's error when ctx ended (err is then what it cut
// short).
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// finishRun marks m FINISHED unless users remain, under the lock of
// StartMigration, so a resume that takes more users on never lands in a
// finished run. It reports whether m is finished.
func (s *Service) finishRun(ctx context.Context, m *Migration) (bool, error) {
	var n int64
	err := postgres.Tx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('identity.migrations:' || $1 || '>' || $2))`,
			m.FromIdP, m.ToIdP); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE identity.migrations SET state = 'finished', finished_at = now()
			WHERE id = $1 AND state = 'running' AND NOT EXISTS (SELECT 1 FROM identity.migration_users
				WHERE migration_id = $1 AND state IN ('pending', 'running'))`, m.ID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, postgres.Translate(err, "finish migration")
	}
	return n == 1, nil
}

// fillMigration hands pending users of m to the outbox until window of
// them are running. A user who changed since the run took them on ends
// here, before any call: erased (skipped), no longer on the source (done
// when already on the target, by a sign-in), with an identity change still
// queued, without an email.
func (s *Service) fillMigration(ctx context.Context, m *Migration, window int) error {
	queued := false
	err := postgres.Tx(ctx, s.db, func(tx *sqlx.Tx) error {
		var running int
		if err := tx.GetContext(ctx, &running, `SELECT count(*) FROM identity.migration_users
			WHERE migration_id = $1 AND state = 'running'`, m.ID); err != nil {
			return err
		}
		if running >= window {
			return nil
		}
		var ids []uuid.UUID
		if err := tx.SelectContext(ctx, &ids, `SELECT user_id FROM identity.migration_users
			WHERE migration_id = $1 AND state = 'pending' ORDER BY user_id LIMIT $2 FOR UPDATE SKIP LOCKED`,
			m.ID, window-running); err != nil || len(ids) == 0 {
			return err
		}
		for _, id := range ids { // in id order: the order every filler locks users in
			// Locked as an identity change locks its user, so the user's
			// jobs are queued, and so claimed, in one order.
			u, err := s.dir.FindUserForUpdate(ctx, tx, id)
			if err != nil && apperr.KindOf(err) != apperr.NotFound {
				return err
			}
			// A user with an identity change still queued is being changed:
			// their job would wait behind it, then find them changed.
			changing := false
			if err := tx.GetContext(ctx, &changing, `SELECT EXISTS (SELECT 1 FROM identity.outbox
				WHERE user_id = $1 AND op <> $2 AND state IN ('pending', 'running'))`, id, opMigrate); err != nil {
				return err
			}
			state, reason := "failed", ReasonUserChanged
			switch {
			case u == nil:
			case u.ErasedAt != nil:
				state, reason = "skipped", ReasonErased
			case u.IdPID == m.ToIdP:
				state, reason = "done", ""
			case u.IdPID != m.FromIdP, changing:
			case u.Email == nil || *u.Email == "":
				reason = ReasonNoEmail
			default:
				jobID, err := enqueue(ctx, tx, job{UserID: u.ID, IdPID: m.ToIdP, ExternalID: u.ExternalID, Op: opMigrate,
					Email: u.Email, FullName: u.FullName, Priority: int(Background)})
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE identity.migration_users SET state = 'running', job_id = $3, updated_at = now()
					WHERE migration_id = $1 AND user_id = $2`, m.ID, u.ID, jobID); err != nil {
					return err
				}
				queued = true
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE identity.migration_users SET state = $3, reason = nullif($4, ''), updated_at = now()
				WHERE migration_id = $1 AND user_id = $2`, m.ID, id, state, string(reason)); err != nil {
				return err
			}
		}
		return nil
	})
	if queued {
		s.notify()
	}
	return postgres.Translate(err, "queue migration users")
}
