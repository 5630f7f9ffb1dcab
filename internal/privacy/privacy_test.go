package privacy_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/privacy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type fixture struct {
	db                        *sqlx.DB
	tenant, user, contact, bl uuid.UUID
	queued                    []uuid.UUID
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// newFixture makes a user with a linked contact on a building and an
// invoice the user created.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.DB(t)
	f := &fixture{db: db, tenant: uuid.New(), user: uuid.New(), contact: uuid.New(), bl: uuid.New()}
	mustExec(t, db, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, f.tenant)
	mustExec(t, db, `INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name, synced_at)
		VALUES ($1, $2, 'auth0-prod', 'auth0|1', 'jane@example.com', 'Jane Doe', now())`, f.user, f.tenant)
	mustExec(t, db, `INSERT INTO comms.contacts (id, tenant_id, user_id, full_name, email, phone)
		VALUES ($1, $2, $3, 'Jane Doe', 'jane@example.com', '+4930123456')`, f.contact, f.tenant, f.user)
	mustExec(t, db, `INSERT INTO comms.building_contacts (building_id, contact_id, tenant_id, role, is_primary) VALUES ($1, $2, $3, 'manager', true)`,
		f.bl, f.contact, f.tenant)
	mustExec(t, db, `INSERT INTO bookkeeping.invoices (tenant_id, number, amount_minor, currency, issued_at, created_by_user_id)
		VALUES ($1, 'INV-1', 100, 'EUR', now(), $2)`, f.tenant, f.user)
	return f
}

// queueFunc stands in for the identity outbox's QueueDeletion.
type queueFunc func(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) error

// outbox records what erasure asks of the identity outbox; the outbox
// itself is tested with erasure in internal/identity (erasure_test.go).
type outbox struct{ queue queueFunc }

func (o outbox) CancelChanges(context.Context, *sqlx.Tx, uuid.UUID) (int, error) { return 0, nil }
func (o outbox) CanDelete(string) bool                                           { return true }
func (o outbox) QueueDeletion(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) error {
	return o.queue(ctx, tx, id)
}

func (f *fixture) service(hook queueFunc) *privacy.Service {
	if hook == nil {
		hook = func(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) error {
			f.queued = append(f.queued, id)
			return nil
		}
	}
	return &privacy.Service{DB: f.db, Identity: outbox{hook}}
}

// pii counts the PII values left anywhere for the person.
func (f *fixture) pii(t *testing.T) int {
	t.Helper()
	var n int
	err := f.db.Get(&n, `SELECT
		(SELECT count(email) + count(full_name) FROM directory.users WHERE id = $1) +
		(SELECT count(email) + count(full_name) + count(phone) FROM comms.contacts WHERE id = $2) +
		(SELECT count(*) FROM comms.building_contacts WHERE contact_id = $2)`, f.user, f.contact)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) admin() access.Scope {
	return access.Scope{Role: access.RoleAdmin, TenantID: f.tenant, UserID: uuid.New()}
}

func TestEraseUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sv := f.service(nil)
	admin := f.admin()

	e, err := sv.EraseUser(ctx, admin, f.user)
	if err != nil {
		t.Fatal(err)
	}
	if e.AlreadyErased || !e.IdPDeletionQueued() || e.ErasedAt.IsZero() || !slices.Equal(e.RelatedIDs, []uuid.UUID{f.contact}) {
		t.Fatalf("erasure = %+v", e)
	}
	want := []string{"user.email", "user.full_name", "contact.full_name", "contact.email", "contact.phone", "contact.building_links"}
	if !slices.Equal(e.Fields, want) {
		t.Fatalf("fields = %v, want %v", e.Fields, want)
	}
	if n := f.pii(t); n != 0 {
		t.Fatalf("%d PII values left", n)
	}
	if !slices.Equal(f.queued, []uuid.UUID{f.user}) {
		t.Fatalf("queued IdP deletions = %v", f.queued)
	}

	t.Run("InvoicesStillJoin", func(t *testing.T) {
		var erased bool
		err := f.db.Get(&erased, `SELECT u.erased_at IS NOT NULL FROM bookkeeping.invoices i JOIN directory.users u ON u.id = i.created_by_user_id
			WHERE i.tenant_id = $1`, f.tenant)
		if err != nil || !erased {
			t.Fatalf("invoice join: erased %v err %v", erased, err)
		}
	})

	t.Run("AuditHoldsNoPII", func(t *testing.T) {
		recs, err := sv.FindErasures(ctx, privacy.SubjectUser, f.user)
		if err != nil || len(recs) != 1 {
			t.Fatalf("records %+v err %v", recs, err)
		}
		r := recs[0]
		if r.ActorRole != "admin" || r.ActorUserID == nil || *r.ActorUserID != admin.UserID || r.TenantID != f.tenant ||
			r.IdPDeletion != privacy.DeletionQueued || !slices.Equal(r.Fields, want) {
			t.Fatalf("record = %+v", r)
		}
		var row string
		_ = f.db.Get(&row, `SELECT e::text FROM privacy.erasures e`)
		for _, pii := range []string{"jane", "Jane", "Doe", "4930123456"} {
			if strings.Contains(row, pii) {
				t.Fatalf("audit row holds %q: %s", pii, row)
			}
		}
	})

	t.Run("TwiceReportsAlreadyDone", func(t *testing.T) {
		again, err := sv.EraseUser(ctx, admin, f.user)
		if err != nil || !again.AlreadyErased || len(again.Fields) != 0 || again.IdPDeletionQueued() || !again.ErasedAt.Equal(e.ErasedAt) {
			t.Fatalf("second erasure %+v err %v", again, err)
		}
		if len(f.queued) != 1 {
			t.Fatal("a second erasure queued another IdP deletion")
		}
		if recs, _ := sv.FindErasures(ctx, privacy.SubjectUser, f.user); len(recs) != 1 {
			t.Fatalf("%d audit records after a no-op erasure", len(recs))
		}
	})
}

func TestEraseContact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sv := f.service(nil)

	e, err := sv.EraseContact(ctx, access.Scope{Role: access.RoleInternal}, f.contact)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != privacy.SubjectContact || e.AlreadyErased || !e.IdPDeletionQueued() || !slices.Equal(e.RelatedIDs, []uuid.UUID{f.user}) {
		t.Fatalf("erasure = %+v", e)
	}
	if n := f.pii(t); n != 0 {
		t.Fatalf("%d PII values left", n)
	}
	again, err := sv.EraseContact(ctx, f.admin(), f.contact)
	if err != nil || !again.AlreadyErased {
		t.Fatalf("second erasure %+v err %v", again, err)
	}

	t.Run("WithoutAccount", func(t *testing.T) {
		id := uuid.New()
		mustExec(t, f.db, `INSERT INTO comms.contacts (id, tenant_id, full_name, phone) VALUES ($1, $2, 'Solo', '+4930999999')`, id, f.tenant)
		e, err := sv.EraseContact(ctx, f.admin(), id)
		if err != nil || e.IdPDeletionQueued() || len(e.RelatedIDs) != 0 || !slices.Equal(e.Fields, []string{"contact.full_name", "contact.phone"}) {
			t.Fatalf("erasure %+v err %v", e, err)
		}
	})
}

func TestEraseRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sv := f.service(nil)

	t.Run("ErrForbiddenForProvider", func(t *testing.T) {
		p := access.Scope{Role: access.RoleProvider, TenantID: f.tenant, UserID: f.user}
		if _, err := sv.EraseUser(ctx, p, f.user); apperr.KindOf(err) != apperr.Forbidden {
			t.Fatalf("err = %v", err)
		}
		if _, err := sv.EraseContact(ctx, p, f.contact); apperr.KindOf(err) != apperr.Forbidden {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrNotFoundInOtherTenant", func(t *testing.T) {
		other := access.Scope{Role: access.RoleAdmin, TenantID: uuid.New()}
		if _, err := sv.EraseUser(ctx, other, f.user); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("err = %v", err)
		}
		if _, err := sv.EraseContact(ctx, other, f.contact); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("err = %v", err)
		}
	})
	if n := f.pii(t); n != 6 {
		t.Fatalf("refused erasures changed data: %d PII values left, want 6", n)
	}
}

// TestFailingHookLeavesNothingHalfWritten: when the IdP deletion cannot be
// queued, nothing of the erasure is kept.
func TestFailingHookLeavesNothingHalfWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sv := f.service(func(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) error {
		// The hook writes in the transaction, as the outbox will, then fails.
		if _, err := tx.ExecContext(ctx, `CREATE TABLE directory.fake_outbox (user_id uuid)`); err != nil {
			return err
		}
		return apperr.Wrap(errors.New("outbox full"), apperr.RateLimited, "IdP deletions are throttled")
	})
	for _, erase := range []func() (*privacy.Erasure, error){
		func() (*privacy.Erasure, error) { return sv.EraseUser(ctx, f.admin(), f.user) },
		func() (*privacy.Erasure, error) { return sv.EraseContact(ctx, f.admin(), f.contact) },
	} {
		if _, err := erase(); apperr.KindOf(err) != apperr.RateLimited {
			t.Fatalf("err = %v, want the hook's kind", err)
		}
		if n := f.pii(t); n != 6 {
			t.Fatalf("%d PII values left, want all 6", n)
		}
		var audits, outbox int
		_ = f.db.Get(&audits, `SELECT count(*) FROM privacy.erasures`)
		_ = f.db.Get(&outbox, `SELECT count(*) FROM pg_tables WHERE schemaname = 'directory' AND tablename = 'fake_outbox'`)
		var erased bool
		_ = f.db.Get(&erased, `SELECT erased_at IS NOT NULL FROM directory.users WHERE id = $1`, f.user)
		if audits != 0 || outbox != 0 || erased {
			t.Fatalf("half-written: %d audits, outbox table %d, user erased %v", audits, outbox, erased)
		}
	}
}

// TestSeparateCommsDatabase runs erasure with comms behind its own handle.
func TestSeparateCommsDatabase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	commsDB := sqlx.NewDb(f.db.DB, "postgres") // a second handle: two transactions
	sv := &privacy.Service{DB: f.db, CommsDB: commsDB}
	e, err := sv.EraseUser(context.Background(), f.admin(), f.user)
	if err != nil || e.IdPDeletionQueued() {
		t.Fatalf("erasure %+v err %v", e, err)
	}
	if n := f.pii(t); n != 0 {
		t.Fatalf("%d PII values left", n)
	}
}

// TestConcurrentErasuresOfOnePerson: erasing one person through the user and
// through the contact at once never deadlocks, queues one IdP deletion and
// writes one audit record.
func TestConcurrentErasuresOfOnePerson(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	sv := f.service(func(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) error {
		mu.Lock()
		defer mu.Unlock()
		f.queued = append(f.queued, id)
		return nil
	})
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, errs[i] = sv.EraseUser(context.Background(), f.admin(), f.user)
			} else {
				_, errs[i] = sv.EraseContact(context.Background(), f.admin(), f.contact)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("erasure %d: %v", i, err)
		}
	}
	var audits int
	_ = f.db.Get(&audits, `SELECT count(*) FROM privacy.erasures`)
	if audits != 1 || len(f.queued) != 1 || f.pii(t) != 0 {
		t.Fatalf("%d audits, %d IdP deletions, %d PII left; want 1, 1, 0", audits, len(f.queued), f.pii(t))
	}
}
