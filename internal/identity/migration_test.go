package identity_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// memTarget is a target IdP in memory, for the migration's own rules; the
// provider fakes' tests (migration_fakes_test.go) add their HTTP, quotas
// and 429s.
type memTarget struct {
	mu       sync.Mutex
	users    map[string]*idp.Profile
	finds    map[string]int // by lower-cased email
	invites  map[string]int
	loseNext int    // the next invites land, but their answers are lost
	refuse   string // an email whose find is refused for good (403)
	onFind   func(email string)
	next     int
}

func newMemTarget() *memTarget {
	return &memTarget{users: map[string]*idp.Profile{}, finds: map[string]int{}, invites: map[string]int{}}
}

func (m *memTarget) put(ext, email string, verified bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[ext] = &idp.Profile{ExternalID: ext, Email: &email, EmailVerified: verified}
}

func (m *memTarget) FindUsersByEmail(ctx context.Context, email string) ([]*idp.Profile, error) {
	if m.onFind != nil {
		m.onFind(email)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finds[strings.ToLower(email)]++
	if strings.EqualFold(email, m.refuse) {
		return nil, &idp.AdminError{Kind: idp.Permanent, Status: http.StatusForbidden, Reason: "forbidden (403)"}
	}
	var out []*idp.Profile
	for _, u := range m.users {
		if strings.EqualFold(*u.Email, email) {
			cp := *u
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (m *memTarget) InviteUser(ctx context.Context, u idp.NewIdentity) (*idp.Profile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invites[strings.ToLower(u.Email)]++
	for _, p := range m.users {
		if strings.EqualFold(*p.Email, u.Email) {
			return nil, &idp.AdminError{Kind: idp.Permanent, Status: http.StatusConflict, Reason: "conflict (409)"}
		}
	}
	m.next++
	email := u.Email
	p := &idp.Profile{ExternalID: fmt.Sprintf("new-%d", m.next), Email: &email, FullName: u.FullName}
	m.users[p.ExternalID] = p
	if m.loseNext > 0 {
		m.loseNext--
		return nil, &idp.AdminError{Kind: idp.Retryable, Reason: "no answer", Unknown: true}
	}
	cp := *p
	return &cp, nil
}

func (m *memTarget) UpdateUser(context.Context, string, idp.ProfileUpdate) (*idp.Profile, error) {
	return nil, errors.New("not used")
}
func (m *memTarget) GetUser(context.Context, string) (*idp.Profile, error) {
	return nil, errors.New("not used")
}
func (m *memTarget) DeleteUser(context.Context, string) error { return nil }

func (m *memTarget) calls() (finds, invites int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.finds {
		finds += n
	}
	for _, n := range m.invites {
		invites += n
	}
	return finds, invites
}

const (
	srcIdP = "src-idp"
	dstIdP = "dst-idp"
)

// migEnv is a database with a tenant and users on srcIdP, each with an
// invoice.
type migEnv struct {
	t      testing.TB
	url    string
	db     *sqlx.DB
	tenant uuid.UUID
	users  []uuid.UUID // users[i] is src|i, email m<i>@example.com
}

func newMigEnv(t testing.TB, n int, src string) *migEnv {
	t.Helper()
	e := &migEnv{t: t, url: pgtest.URL(t), tenant: uuid.New()}
	e.db = pgtestPool(t, e)
	e.exec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, e.tenant)
	e.exec(`INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name)
		SELECT gen_random_uuid(), $1, $2, 'src|' || i, 'm' || i || '@example.com', 'M ' || i FROM generate_series(0, $3 - 1) i`,
		e.tenant, src, n)
	if err := e.db.Select(&e.users, `SELECT id FROM directory.users ORDER BY split_part(external_id, '|', 2)::int`); err != nil {
		t.Fatal(err)
	}
	e.exec(`INSERT INTO bookkeeping.invoices (tenant_id, number, amount_minor, currency, issued_at, created_by_user_id)
		SELECT $1, 'INV-' || u.external_id, 100, 'EUR', now(), u.id FROM directory.users u`, e.tenant)
	return e
}

// pgtestPool opens a connection pool of a process of its own to the env's
// database, closed when the test ends.
func pgtestPool(t testing.TB, e *migEnv) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), e.url, postgres.Options{MaxOpenConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func (e *migEnv) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatalf("fixture: %v", err)
	}
}

func (e *migEnv) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// service makes an identity service whose one admin adapter is target, as
// dstIdP, at rps.
func (e *migEnv) service(target *memTarget, rps float64) *identity.Service {
	ads := map[string]providers.Admin{dstIdP: {AdminAdapter: target, Inviter: target, RequestsPerSecond: rps, CallsPerInvite: 1}}
	return identity.New(e.db, directory.NewStore(e.db), comms.NewStore(e.db), ads, identity.Options{
		Workers: 4, PollInterval: 20 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Settle: 200 * time.Millisecond})
}

var plan = identity.MigrationPlan{From: srcIdP, To: dstIdP, Grace: time.Hour}

// migrate starts (or resumes) the plan's run and runs it to the end with
// the service's workers.
func migrate(t testing.TB, s *identity.Service, p identity.MigrationPlan) *identity.Migration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.Start(ctx)
	defer s.Stop()
	m, _, started, err := s.StartMigration(ctx, p)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if !started {
		return m
	}
	m, err = s.RunMigration(ctx, m.ID, identity.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return m
}

func failures(m *identity.Migration) map[identity.MigrationReason]int {
	out := map[identity.MigrationReason]int{}
	for _, f := range m.Failures {
		out[f.Reason] = f.Count
	}
	return out
}

func TestMigration(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 30, srcIdP)
		target := newMemTarget()
		for i := range 10 { // a third already have an identity at the target
			target.put(fmt.Sprintf("pre-%d", i), fmt.Sprintf("M%d@Example.com", i), true)
		}
		m := migrate(t, e.service(target, 200), plan)
		if m.State != identity.MigrationFinished || m.Total != 30 || m.Done != 30 || m.Failed != 0 || m.Remaining != 0 {
			t.Fatalf("migration %+v", m)
		}
		for i, id := range e.users {
			var u struct {
				IdP string `db:"idp_id"`
				Ext string `db:"external_id"`
			}
			if err := e.db.Get(&u, `SELECT idp_id, external_id FROM directory.users WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			if u.IdP != dstIdP || (i < 10 && u.Ext != fmt.Sprintf("pre-%d", i)) || (i >= 10 && !strings.HasPrefix(u.Ext, "new-")) {
				t.Errorf("user %d is on %+v", i, u)
			}
		}
		if n := e.count(`SELECT count(*) FROM bookkeeping.invoices i JOIN directory.users u ON u.id = i.created_by_user_id
			WHERE u.idp_id = $1`, dstIdP); n != 30 {
			t.Errorf("%d invoices joined to moved users", n)
		}
		if finds, invites := target.calls(); finds != 30 || invites != 20 {
			t.Errorf("%d finds, %d invites", finds, invites)
		}
		if n := e.count(`SELECT count(*) FROM directory.identity_links WHERE idp_id = $1 AND accept_until > now()`, srcIdP); n != 30 {
			t.Errorf("%d old links in their grace", n)
		}
		if n := e.count(`SELECT count(*) FROM identity.outbox WHERE email IS NOT NULL OR full_name IS NOT NULL`); n != 0 {
			t.Errorf("%d outbox rows keep values", n)
		}
		// Again: nothing to do, nothing changes.
		again := migrate(t, e.service(target, 200), plan)
		if again.ID != m.ID || again.Done != 30 {
			t.Errorf("again: %+v", again)
		}
		if finds, invites := target.calls(); finds != 30 || invites != 20 {
			t.Errorf("again: %d finds, %d invites", finds, invites)
		}
	})

	t.Run("TwoRunnersAtOnce", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 60, srcIdP)
		target := newMemTarget()
		type result struct {
			m   *identity.Migration
			err error
		}
		rs := make(chan result, 3)
		// Two runners of one run, and a third of a run of the tenant only
		// (overlapping scopes).
		tenantOnly := plan
		tenantOnly.Tenant = &e.tenant
		for _, p := range []identity.MigrationPlan{plan, plan, tenantOnly} {
			go func() {
				s := e.service(target, 300)
				s.Start(context.Background())
				defer s.Stop()
				m, _, _, err := s.StartMigration(context.Background(), p)
				if err == nil && m != nil {
					m, err = s.RunMigration(context.Background(), m.ID, identity.RunOptions{})
				}
				rs <- result{m, err}
			}()
		}
		ids := map[uuid.UUID]bool{}
		for range 3 {
			r := <-rs
			if r.err != nil || r.m == nil || r.m.Failed != 0 || r.m.Remaining != 0 {
				t.Fatalf("run %+v: %v", r.m, r.err)
			}
			ids[r.m.ID] = true
		}
		if n := e.count(`SELECT count(*) FROM directory.users WHERE idp_id = $1`, dstIdP); n != 60 || len(ids) > 2 {
			t.Fatalf("%d users moved by %d runs", n, len(ids))
		}
		for email, n := range target.invites {
			if n != 1 {
				t.Errorf("%s invited %d times", email, n)
			}
		}
		if len(target.invites) != 60 {
			t.Errorf("%d invited", len(target.invites))
		}
	})

	t.Run("MovedBySignInMeanwhileIsDone", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 2, srcIdP)
		target := newMemTarget()
		s := e.service(target, 200)
		ctx := context.Background()
		m, _, _, err := s.StartMigration(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		// Just-in-time linking moves user 0 before the run reaches them.
		if err := postgres.Tx(ctx, e.db, func(tx *sqlx.Tx) error {
			_, err := directory.Repoint(ctx, tx, e.users[0], directory.IdentityRef{IdPID: srcIdP, ExternalID: "src|0"},
				directory.IdentityRef{IdPID: dstIdP, ExternalID: "signed-in"}, time.Hour)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if m = migrate(t, s, plan); m.Done != 2 || m.ID == uuid.Nil {
			t.Fatalf("migration %+v", m)
		}
		if target.finds["m0@example.com"] != 0 {
			t.Error("the moved user was looked up")
		}
		if n := e.count(`SELECT count(*) FROM directory.users WHERE id = $1 AND external_id = 'signed-in'`, e.users[0]); n != 1 {
			t.Error("the sign-in's link was replaced")
		}
	})

	t.Run("ChangedDuringTheCallsFails", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 2, srcIdP)
		target := newMemTarget()
		target.put("kept", "m1@example.com", true)
		target.onFind = func(email string) {
			switch email {
			case "m0@example.com": // its email changes while the job looks it up
				e.exec(`UPDATE directory.users SET email = 'other@example.com' WHERE id = $1`, e.users[0])
			case "m1@example.com": // a change of its identity is queued meanwhile
				e.exec(`INSERT INTO identity.outbox (user_id, idp_id, external_id, op, full_name) VALUES ($1, $2, 'src|1', 'update', 'N')`, e.users[1], srcIdP)
			}
		}
		m := migrate(t, e.service(target, 200), plan)
		if got := failures(m); got[identity.ReasonUserChanged] != 2 || m.Done != 0 {
			t.Fatalf("migration %+v", m)
		}
		if n := e.count(`SELECT count(*) FROM directory.users WHERE idp_id = $1`, srcIdP); n != 2 {
			t.Errorf("%d users left on the source", n)
		}
	})

	t.Run("LostInviteAnswersAreAdopted", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 8, srcIdP)
		target := newMemTarget()
		target.loseNext = 5
		m := migrate(t, e.service(target, 200), plan)
		if m.Done != 8 {
			t.Fatalf("migration %+v", m)
		}
		for email, n := range target.invites {
			if n != 1 {
				t.Errorf("%s invited %d times", email, n)
			}
		}
		if n := e.count(`SELECT count(*) FROM identity.migration_users WHERE created`); n != 8 {
			t.Errorf("%d recorded as created", n)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 14, srcIdP)
		target := newMemTarget()
		// 12: an identity change queued before the run; 13: the target refuses it.
		e.exec(`INSERT INTO identity.outbox (user_id, idp_id, external_id, op, email) VALUES ($1, $2, 'src|12', 'update', 'n12@example.com')`, e.users[12], srcIdP)
		target.refuse = "m13@example.com"
		// 0, 1: the same email on the source.
		e.exec(`UPDATE directory.users SET email = 'M0@example.com' WHERE id = $1`, e.users[1])
		// 2: no email.
		e.exec(`UPDATE directory.users SET email = NULL WHERE id = $1`, e.users[2])
		// 3: a user already on the target has the email.
		e.exec(`INSERT INTO directory.users (tenant_id, idp_id, external_id, email) VALUES ($1, $2, 'other', 'm3@example.com')`, e.tenant, dstIdP)
		// 4: the target's identity belongs to another user, whose cache says otherwise.
		target.put("taken", "m4@example.com", true)
		e.exec(`INSERT INTO directory.users (tenant_id, idp_id, external_id, email) VALUES ($1, $2, 'taken', 'else@example.com')`, e.tenant, dstIdP)
		// 5: several identities; 6: an unverified one.
		target.put("five-a", "m5@example.com", true)
		target.put("five-b", "m5@example.com", true)
		target.put("six", "m6@example.com", false)
		// 7: erased before the run.
		e.exec(`UPDATE directory.users SET email = NULL, full_name = NULL, erased_at = now() WHERE id = $1`, e.users[7])
		s := e.service(target, 200)
		// 8: changed by an identity update queued after its migration.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m, _, _, err := s.StartMigration(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
		if _, err := s.RunMigration(short, m.ID, identity.RunOptions{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("run without workers: %v", err)
		}
		stop()
		e.exec(`INSERT INTO identity.outbox (user_id, idp_id, external_id, op, email) VALUES ($1, $2, 'src|8', 'update', 'n8@example.com')`, e.users[8], srcIdP)
		// 9: erased while queued; 10: email changed while queued (looked up anew).
		e.exec(`UPDATE directory.users SET email = NULL, full_name = NULL, erased_at = now() WHERE id = $1`, e.users[9])
		e.exec(`UPDATE directory.users SET email = 'n10@example.com' WHERE id = $1`, e.users[10])
		m = migrate(t, s, plan)
		want := map[identity.MigrationReason]int{identity.ReasonDuplicateEmail: 2, identity.ReasonNoEmail: 1,
			identity.ReasonLinkedToOtherUser: 2, identity.ReasonSeveralIdentities: 1, identity.ReasonUnverifiedEmail: 1,
			identity.ReasonUserChanged: 2, identity.ReasonIdPRefused: 1}
		if got := failures(m); fmt.Sprint(got) != fmt.Sprint(want) || m.Skipped != 2 || m.Done != 2 || m.Total != 14 {
			t.Fatalf("migration %+v, failures %v", m, got)
		}
		for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13} {
			if n := e.count(`SELECT count(*) FROM directory.users WHERE id = $1 AND idp_id = $2 AND external_id = $3`,
				e.users[i], srcIdP, fmt.Sprintf("src|%d", i)); n != 1 {
				t.Errorf("user %d left the source", i)
			}
		}
		if target.finds["m0@example.com"]+target.finds["m2@example.com"]+target.finds["m3@example.com"]+target.finds["m12@example.com"] != 0 {
			t.Errorf("calls for conflicts known before any: %v", target.finds)
		}
		// A migration is no identity change: the user's sync status does not show it.
		if st, err := s.Status(ctx, e.users[6]); err != nil || st.Status != identity.Applied {
			t.Errorf("status after a failed migration: %+v %v", st, err)
		}
		if target.finds["n10@example.com"] != 1 || target.invites["n10@example.com"] != 1 {
			t.Errorf("the changed email was not looked up: %v", target.finds)
		}
	})

	t.Run("ErasedWhileQueuedIsSkippedAndScrubbed", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 3, srcIdP)
		target := newMemTarget()
		s := e.service(target, 200)
		ctx := context.Background()
		m, _, _, err := s.StartMigration(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
		_, _ = s.RunMigration(short, m.ID, identity.RunOptions{}) // queues them, no workers
		stop()
		// The erasure's own steps: cancel the user's changes, scrub the user.
		if err := postgres.Tx(ctx, e.db, func(tx *sqlx.Tx) error {
			if n, err := s.CancelChanges(ctx, tx, e.users[0]); err != nil || n != 1 {
				return fmt.Errorf("cancelled %d: %w", n, err)
			}
			u, err := directory.LockUserForErasure(ctx, tx, access.Scope{Role: access.RoleInternal}, e.users[0])
			if err != nil {
				return err
			}
			_, err = directory.ScrubUser(ctx, tx, u)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT count(*) FROM identity.outbox WHERE user_id = $1 AND (email IS NOT NULL OR full_name IS NOT NULL)`, e.users[0]); n != 0 {
			t.Errorf("the erased user's job keeps values")
		}
		m = migrate(t, s, plan)
		if m.Skipped != 1 || m.Done != 2 || m.State != identity.MigrationFinished {
			t.Errorf("migration %+v", m)
		}
		if target.finds["m0@example.com"] != 0 {
			t.Errorf("the erased user was looked up")
		}
	})

	t.Run("DryRunWritesAndCallsNothing", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 10, srcIdP)
		e.exec(`UPDATE directory.users SET email = 'M0@example.com' WHERE id = $1`, e.users[1])
		e.exec(`UPDATE directory.users SET email = NULL, erased_at = now() WHERE id = $1`, e.users[2])
		target := newMemTarget()
		s := e.service(target, 4)
		d, err := s.DryRunMigration(context.Background(), plan)
		if err != nil {
			t.Fatal(err)
		}
		if d.ToMigrate != 7 || d.Erased != 1 || len(d.Conflicts) != 1 || d.Conflicts[0].Count != 2 || d.MaxCalls != 14 ||
			d.Duration != 3500*time.Millisecond || d.Resumes != nil {
			t.Errorf("dry run %+v", d)
		}
		if n := e.count(`SELECT (SELECT count(*) FROM identity.migrations) + (SELECT count(*) FROM identity.outbox)`); n != 0 {
			t.Errorf("%d rows written", n)
		}
		if f, i := target.calls(); f+i != 0 {
			t.Errorf("%d calls", f+i)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		e := newMigEnv(t, 1, srcIdP)
		s := e.service(newMemTarget(), 4)
		for _, p := range []identity.MigrationPlan{{From: srcIdP, To: "nowhere"}, {From: dstIdP, To: dstIdP}} {
			if _, _, _, err := s.StartMigration(context.Background(), p); err == nil {
				t.Errorf("%+v started", p)
			}
		}
	})
}
