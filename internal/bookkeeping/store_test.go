package bookkeeping_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/privacy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ptr(s string) *string { return &s }

// creatorEnv is a tenant with the directory and bookkeeping stores over
// one database, as the gateway runs them.
type creatorEnv struct {
	db     *sqlx.DB
	dir    *directory.Store
	books  *bookkeeping.Store
	tenant uuid.UUID
	n      int
}

func newCreatorEnv(t *testing.T) *creatorEnv {
	t.Helper()
	db := pgtest.DB(t)
	e := &creatorEnv{db: db, dir: directory.NewStore(db), books: bookkeeping.NewStore(db), tenant: uuid.New()}
	e.exec(t, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, e.tenant)
	return e
}

func (e *creatorEnv) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// signIn creates a user with email as its first sign-in does.
func (e *creatorEnv) signIn(t *testing.T, email string) *directory.User {
	t.Helper()
	e.n++
	u, err := e.dir.SyncUser(context.Background(), directory.Claims{IdPID: "dev", ExternalID: fmt.Sprintf("ext-%d-%s", e.n, t.Name()),
		TenantID: e.tenant, Email: ptr(email), FullName: ptr("Ada"), IssuedAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// invoice inserts an invoice created by u, as bookkeeping's writers do
// (they name no creator domain).
func (e *creatorEnv) invoice(t *testing.T, u *directory.User) uuid.UUID {
	t.Helper()
	e.n++
	id := uuid.New()
	e.exec(t, `INSERT INTO bookkeeping.invoices (id, tenant_id, number, amount_minor, currency, issued_at, created_by_user_id)
		VALUES ($1, $2, $3, 100, 'EUR', now(), $4)`, id, e.tenant, fmt.Sprintf("N-%d", e.n), u.ID)
	return id
}

// domainOf reads the derived column the API never shows.
func (e *creatorEnv) domainOf(t *testing.T, invoice uuid.UUID) *string {
	t.Helper()
	var d *string
	if err := e.db.Get(&d, `SELECT created_by_email_domain FROM bookkeeping.invoices WHERE id = $1`, invoice); err != nil {
		t.Fatal(err)
	}
	return d
}

// listed reports whether FindInvoices with the creator domain filter (an
// internal caller's, across tenants) returns invoice.
func (e *creatorEnv) listed(t *testing.T, domain string, invoice uuid.UUID) bool {
	t.Helper()
	invs, _, err := e.books.FindInvoices(context.Background(), access.Scope{Role: access.RoleInternal},
		bookkeeping.InvoiceFilter{CreatedByEmailDomain: &domain}, page.Request{First: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range invs {
		if inv.ID == invoice {
			return true
		}
	}
	return false
}

// follows checks that invoice is listed under domain and no longer under was.
func (e *creatorEnv) follows(t *testing.T, invoice uuid.UUID, was, domain string) {
	t.Helper()
	if d := e.domainOf(t, invoice); d == nil || *d != domain {
		t.Errorf("creator domain %v, want %s", d, domain)
	}
	if !e.listed(t, domain, invoice) || e.listed(t, was, invoice) {
		t.Errorf("invoice under %s: %v, under %s: %v; want only under %s",
			domain, e.listed(t, domain, invoice), was, e.listed(t, was, invoice), domain)
	}
}

func (e *creatorEnv) cleared(t *testing.T, invoice uuid.UUID, was string) {
	t.Helper()
	if d := e.domainOf(t, invoice); d != nil {
		t.Errorf("creator domain %q after erasure, want none", *d)
	}
	if e.listed(t, was, invoice) {
		t.Errorf("an erased creator's invoice is still listed under %s", was)
	}
}

func tx(t *testing.T, db *sqlx.DB, fn func(tx *sqlx.Tx) error) {
	t.Helper()
	if err := postgres.Tx(context.Background(), db, fn); err != nil {
		t.Fatal(err)
	}
}

// TestCreatorDomainFollowsTheDirectory: the creator domain of an invoice
// follows every write of the directory that changes its creator's email,
// and erasure clears it.
func TestCreatorDomainFollowsTheDirectory(t *testing.T) {
	t.Parallel()
	e := newCreatorEnv(t)
	ctx := context.Background()

	t.Run("InsertTakesTheCreatorsDomain", func(t *testing.T) {
		u := e.signIn(t, "a@Acme.COM")
		inv := e.invoice(t, u)
		e.follows(t, inv, "other.example", "acme.com")
	})

	t.Run("SignInWithANewEmail", func(t *testing.T) {
		u := e.signIn(t, "b@acme.com")
		inv := e.invoice(t, u)
		_, err := e.dir.SyncUser(ctx, directory.Claims{IdPID: u.IdPID, ExternalID: u.ExternalID, TenantID: e.tenant,
			Email: ptr("b@moved.example"), FullName: ptr("Ada"), IssuedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		e.follows(t, inv, "acme.com", "moved.example")
	})

	t.Run("IdentityUpdate", func(t *testing.T) {
		u := e.signIn(t, "c@acme.com")
		inv := e.invoice(t, u)
		tx(t, e.db, func(tx *sqlx.Tx) error { return e.dir.ApplyIdentity(ctx, tx, u.ID, ptr("c@moved.example"), nil) })
		e.follows(t, inv, "acme.com", "moved.example")
	})

	t.Run("Reconciliation", func(t *testing.T) {
		u := e.signIn(t, "d@acme.com")
		inv := e.invoice(t, u)
		if ok, err := e.dir.RefreshIdentity(ctx, u.ID, ptr("d@moved.example"), nil, u.SyncedAt); err != nil || !ok {
			t.Fatalf("refresh: %v %v", ok, err)
		}
		e.follows(t, inv, "acme.com", "moved.example")
	})

	t.Run("WebhookUpdate", func(t *testing.T) {
		u := e.signIn(t, "e@acme.com")
		inv := e.invoice(t, u)
		out, err := e.dir.ApplyChange(ctx, directory.Change{IdPID: u.IdPID, EventID: "ev-update", ExternalID: u.ExternalID,
			Type: directory.ChangeUpdated, OccurredAt: time.Now(), Email: ptr("e@moved.example")})
		if err != nil || out != directory.OutcomeApplied {
			t.Fatalf("webhook: %v %v", out, err)
		}
		e.follows(t, inv, "acme.com", "moved.example")
	})

	t.Run("WebhookDeleteClearsIt", func(t *testing.T) {
		u := e.signIn(t, "f@acme.com")
		inv := e.invoice(t, u)
		// An IdP deletion is an erasure, applied as the webhook handler does.
		changes := privacy.Changes{Erasure: &privacy.Service{DB: e.db}, Directory: e.dir}
		out, err := changes.ApplyChange(ctx, directory.Change{IdPID: u.IdPID, EventID: "ev-delete", ExternalID: u.ExternalID,
			Type: directory.ChangeDeleted, OccurredAt: time.Now()})
		if err != nil || out != directory.OutcomeApplied {
			t.Fatalf("webhook: %v %v", out, err)
		}
		e.cleared(t, inv, "acme.com")
	})

	t.Run("ErasureClearsIt", func(t *testing.T) {
		u := e.signIn(t, "g@acme.com")
		inv := e.invoice(t, u)
		tx(t, e.db, func(tx *sqlx.Tx) error {
			locked, err := directory.LockUserForErasure(ctx, tx, access.Scope{Role: access.RoleAdmin, TenantID: e.tenant}, u.ID)
			if err != nil {
				return err
			}
			_, err = directory.ScrubUser(ctx, tx, locked)
			return err
		})
		e.cleared(t, inv, "acme.com")
	})

	t.Run("SameDomainWritesNoInvoice", func(t *testing.T) {
		u := e.signIn(t, "h@acme.com")
		inv := e.invoice(t, u)
		xmin := func() string {
			var x string
			if err := e.db.Get(&x, `SELECT xmin::text FROM bookkeeping.invoices WHERE id = $1`, inv); err != nil {
				t.Fatal(err)
			}
			return x
		}
		before := xmin()
		tx(t, e.db, func(tx *sqlx.Tx) error {
			return e.dir.ApplyIdentity(ctx, tx, u.ID, ptr("h.renamed@ACME.com"), ptr("Ada Renamed"))
		})
		if after := xmin(); after != before {
			t.Errorf("an email change within acme.com rewrote the creator's invoice (xmin %s, then %s)", before, after)
		}
		e.follows(t, inv, "other.example", "acme.com")
	})
}

// TestInvoiceInsertWaitsForItsCreatorsEmailChange: an invoice inserted
// while its creator's email change is uncommitted waits for it and takes
// the new domain, so the two never cross (the change's update of the
// creator's invoices cannot see the uncommitted invoice).
func TestInvoiceInsertWaitsForItsCreatorsEmailChange(t *testing.T) {
	t.Parallel()
	e := newCreatorEnv(t)
	ctx := context.Background()
	u := e.signIn(t, "a@acme.com")
	change, err := e.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer change.Rollback() //nolint:errcheck // rolled back only when the test fails first
	if err := e.dir.ApplyIdentity(ctx, change, u.ID, ptr("a@moved.example"), nil); err != nil {
		t.Fatal(err)
	}
	inv := uuid.New()
	inserted := make(chan error, 1)
	go func() {
		_, err := e.db.Exec(`INSERT INTO bookkeeping.invoices (id, tenant_id, number, amount_minor, currency, issued_at, created_by_user_id)
			VALUES ($1, $2, 'N-1', 100, 'EUR', now(), $3)`, inv, e.tenant, u.ID)
		inserted <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for waiting := 0; waiting == 0; {
		select {
		case err := <-inserted:
			t.Fatalf("the invoice was inserted (%v) while its creator's email change was open", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the insert neither waited nor finished")
		}
		if err := e.db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO bookkeeping.invoices%'`); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := change.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-inserted; err != nil {
		t.Fatal(err)
	}
	e.follows(t, inv, "acme.com", "moved.example")
}
