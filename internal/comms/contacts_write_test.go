package comms_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ptr(s string) *string { return &s }

// fixture is a tenant with a building, as the editor sees them.
type fixture struct {
	db       *sqlx.DB
	ed       *comms.Editor
	tenant   uuid.UUID
	building uuid.UUID
	admin    access.Scope
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.DB(t)
	f := &fixture{db: db, tenant: uuid.New(), building: uuid.New()}
	f.admin = access.Scope{Role: access.RoleAdmin, TenantID: f.tenant}
	mustExec(t, db, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, f.tenant)
	provider := uuid.New()
	mustExec(t, db, `INSERT INTO property.providers (id, tenant_id, name) VALUES ($1, $2, 'P')`, provider, f.tenant)
	mustExec(t, db, `INSERT INTO property.buildings (id, tenant_id, provider_id, name, address) VALUES ($1, $2, $3, 'B', 'A')`,
		f.building, f.tenant, provider)
	f.ed = &comms.Editor{
		Store: comms.NewStore(db),
		BuildingVisible: func(ctx context.Context, s access.Scope, id uuid.UUID) error {
			var n int
			if err := db.GetContext(ctx, &n, `SELECT count(*) FROM property.buildings WHERE id = $1 AND tenant_id = $2`, id, s.TenantID); err != nil {
				return err
			}
			if n == 0 {
				return apperr.E(apperr.NotFound, "building not found")
			}
			return nil
		},
		UserLinkable: func(ctx context.Context, s access.Scope, id uuid.UUID) error {
			var n int
			if err := db.GetContext(ctx, &n, `SELECT count(*) FROM directory.users WHERE id = $1 AND tenant_id = $2`, id, s.TenantID); err != nil {
				return err
			}
			if n == 0 {
				return apperr.E(apperr.NotFound, "user not found")
			}
			return nil
		},
	}
	return f
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) contact(t *testing.T, name string) *comms.Contact {
	t.Helper()
	c, err := f.ed.CreateContact(context.Background(), f.admin, comms.ContactInput{FullName: ptr(name)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) primaries(t *testing.T) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	if err := f.db.Select(&ids, `SELECT contact_id FROM comms.building_contacts WHERE building_id = $1 AND is_primary`, f.building); err != nil {
		t.Fatal(err)
	}
	return ids
}

func wantKind(t *testing.T, err error, k apperr.Kind) *apperr.Error {
	t.Helper()
	if apperr.KindOf(err) != k || (k == apperr.Internal && err == nil) {
		t.Fatalf("err = %v, want kind %v", err, k)
	}
	return apperr.As(err)
}

func TestCreateContact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		c, err := f.ed.CreateContact(ctx, f.admin, comms.ContactInput{
			FullName: ptr("  Jane Doe "), Email: ptr("Jane.Doe@Example.COM"), Phone: ptr("030 1234567")})
		if err != nil {
			t.Fatal(err)
		}
		if *c.FullName != "Jane Doe" || *c.Email != "Jane.Doe@example.com" || *c.Phone != "+49301234567" || c.TenantID != f.tenant || c.UserID != nil {
			t.Fatalf("contact = %+v", c)
		}
	})

	t.Run("OtherRegion", func(t *testing.T) {
		ed := *f.ed
		ed.Region = "US"
		c, err := ed.CreateContact(ctx, f.admin, comms.ContactInput{FullName: ptr("US"), Phone: ptr("(650) 253-0000")})
		if err != nil || *c.Phone != "+16502530000" {
			t.Fatalf("contact %+v err %v", c, err)
		}
	})

	t.Run("ErrInvalidNamesField", func(t *testing.T) {
		long := fmt.Sprintf("%0201d", 0)
		for _, tc := range []struct {
			in    comms.ContactInput
			field string
		}{
			{comms.ContactInput{}, "input.fullName"},
			{comms.ContactInput{FullName: ptr("  ")}, "input.fullName"},
			{comms.ContactInput{FullName: &long}, "input.fullName"},
			{comms.ContactInput{FullName: ptr("a\x00b")}, "input.fullName"},
			{comms.ContactInput{FullName: ptr("X"), Email: ptr("not-an-email")}, "input.email"},
			{comms.ContactInput{FullName: ptr("X"), Email: ptr("Jane <jane@example.com>")}, "input.email"},
			{comms.ContactInput{FullName: ptr("X"), Email: ptr("jane@localhost")}, "input.email"},
			{comms.ContactInput{FullName: ptr("X"), Phone: ptr("12")}, "input.phone"},
			{comms.ContactInput{FullName: ptr("X"), Phone: ptr("+49 30 1234567 ext 1234567890123456789")}, "input.phone"},
			{comms.ContactInput{FullName: ptr("X"), Phone: ptr("call me")}, "input.phone"},
		} {
			_, err := f.ed.CreateContact(ctx, f.admin, tc.in)
			if e := wantKind(t, err, apperr.Invalid); e.Field != tc.field {
				t.Errorf("field = %q, want %q", e.Field, tc.field)
			}
		}
		var n int
		_ = f.db.Get(&n, `SELECT count(*) FROM comms.contacts WHERE full_name = 'X'`)
		if n != 0 {
			t.Fatalf("%d invalid contacts were written", n)
		}
	})

	t.Run("ErrForbiddenForOthers", func(t *testing.T) {
		for _, s := range []access.Scope{
			{Role: access.RoleProvider, TenantID: f.tenant, UserID: uuid.New()},
			{Role: access.RoleInternal},
		} {
			_, err := f.ed.CreateContact(ctx, s, comms.ContactInput{FullName: ptr("X")})
			wantKind(t, err, apperr.Forbidden)
		}
	})
}

func TestUpdateContact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.ed.CreateContact(ctx, f.admin, comms.ContactInput{FullName: ptr("A"), Email: ptr("a@example.com"), Phone: ptr("+4930123456")})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OnlySetFieldsChange", func(t *testing.T) {
		u, err := f.ed.UpdateContact(ctx, f.admin, c.ID, comms.ContactInput{Email: ptr("b@EXAMPLE.org")})
		if err != nil || *u.Email != "b@example.org" || *u.FullName != "A" || *u.Phone != "+4930123456" {
			t.Fatalf("contact %+v err %v", u, err)
		}
	})
	t.Run("EmptyClears", func(t *testing.T) {
		u, err := f.ed.UpdateContact(ctx, f.admin, c.ID, comms.ContactInput{Phone: ptr("")})
		if err != nil || u.Phone != nil || u.Email == nil {
			t.Fatalf("contact %+v err %v", u, err)
		}
	})
	t.Run("ErrInvalidWritesNothing", func(t *testing.T) {
		_, err := f.ed.UpdateContact(ctx, f.admin, c.ID, comms.ContactInput{FullName: ptr("New"), Email: ptr("bad@")})
		wantKind(t, err, apperr.Invalid)
		var name string
		_ = f.db.Get(&name, `SELECT full_name FROM comms.contacts WHERE id = $1`, c.ID)
		if name != "A" {
			t.Fatalf("name = %q after a refused update", name)
		}
	})
	t.Run("ErrNotFoundInOtherTenant", func(t *testing.T) {
		other := access.Scope{Role: access.RoleAdmin, TenantID: uuid.New()}
		_, err := f.ed.UpdateContact(ctx, other, c.ID, comms.ContactInput{FullName: ptr("B")})
		wantKind(t, err, apperr.NotFound)
	})
	t.Run("ErrConflictOnceErased", func(t *testing.T) {
		e := f.contact(t, "E")
		mustExec(t, f.db, `UPDATE comms.contacts SET erased_at = now(), full_name = NULL WHERE id = $1`, e.ID)
		_, err := f.ed.UpdateContact(ctx, f.admin, e.ID, comms.ContactInput{FullName: ptr("Back")})
		wantKind(t, err, apperr.Conflict)
	})
}

func TestBuildingLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.contact(t, "A"), f.contact(t, "B")

	l, err := f.ed.LinkContactToBuilding(ctx, f.admin, f.building, a.ID, " manager ", true)
	if err != nil || l.Role != "manager" || !l.IsPrimary || l.Contact == nil {
		t.Fatalf("link %+v err %v", l, err)
	}

	t.Run("NewPrimaryDemotesOld", func(t *testing.T) {
		if _, err := f.ed.LinkContactToBuilding(ctx, f.admin, f.building, b.ID, "caretaker", true); err != nil {
			t.Fatal(err)
		}
		if p := f.primaries(t); len(p) != 1 || p[0] != b.ID {
			t.Fatalf("primaries = %v, want [%v]", p, b.ID)
		}
	})
	t.Run("SetPrimary", func(t *testing.T) {
		l, err := f.ed.SetPrimaryContact(ctx, f.admin, f.building, a.ID)
		if err != nil || !l.IsPrimary || l.Role != "manager" {
			t.Fatalf("link %+v err %v", l, err)
		}
		if p := f.primaries(t); len(p) != 1 || p[0] != a.ID {
			t.Fatalf("primaries = %v", p)
		}
	})
	t.Run("ErrConflictWhenLinkedTwice", func(t *testing.T) {
		_, err := f.ed.LinkContactToBuilding(ctx, f.admin, f.building, a.ID, "other", false)
		wantKind(t, err, apperr.Conflict)
	})
	t.Run("ErrSetPrimaryOfUnlinkedLeavesOldPrimary", func(t *testing.T) {
		c := f.contact(t, "C")
		_, err := f.ed.SetPrimaryContact(ctx, f.admin, f.building, c.ID)
		wantKind(t, err, apperr.NotFound)
		if p := f.primaries(t); len(p) != 1 || p[0] != a.ID {
			t.Fatalf("a refused call changed the primary: %v", p)
		}
	})
	t.Run("ErrOtherTenantsBuilding", func(t *testing.T) {
		other := access.Scope{Role: access.RoleAdmin, TenantID: uuid.New()}
		_, err := f.ed.LinkContactToBuilding(ctx, other, f.building, a.ID, "x", false)
		wantKind(t, err, apperr.NotFound)
		_, err = f.ed.SetPrimaryContact(ctx, other, f.building, b.ID)
		wantKind(t, err, apperr.NotFound)
		wantKind(t, f.ed.UnlinkContactFromBuilding(ctx, other, f.building, b.ID), apperr.NotFound)
	})
	t.Run("ErrInvalidRole", func(t *testing.T) {
		_, err := f.ed.LinkContactToBuilding(ctx, f.admin, f.building, f.contact(t, "D").ID, " ", false)
		if e := wantKind(t, err, apperr.Invalid); e.Field != "role" {
			t.Fatalf("field = %q", e.Field)
		}
	})
	t.Run("Unlink", func(t *testing.T) {
		if err := f.ed.UnlinkContactFromBuilding(ctx, f.admin, f.building, b.ID); err != nil {
			t.Fatal(err)
		}
		wantKind(t, f.ed.UnlinkContactFromBuilding(ctx, f.admin, f.building, b.ID), apperr.NotFound)
	})
	t.Run("ErrForbiddenForProvider", func(t *testing.T) {
		p := access.Scope{Role: access.RoleProvider, TenantID: f.tenant, UserID: uuid.New()}
		_, err := f.ed.SetPrimaryContact(ctx, p, f.building, a.ID)
		wantKind(t, err, apperr.Forbidden)
		wantKind(t, f.ed.UnlinkContactFromBuilding(ctx, p, f.building, a.ID), apperr.Forbidden)
	})
}

// TestSetPrimaryRace has many callers make different contacts primary for
// one building at once: every call succeeds (they queue on the building's
// lock) and exactly one primary is left, the last to commit.
func TestSetPrimaryRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const n = 40
	contacts := make([]uuid.UUID, n)
	for i := range contacts {
		c := f.contact(t, fmt.Sprintf("C%02d", i))
		contacts[i] = c.ID
		if _, err := f.ed.LinkContactToBuilding(ctx, f.admin, f.building, c.ID, "member", false); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if i%2 == 0 {
					_, errs[i] = f.ed.SetPrimaryContact(ctx, f.admin, f.building, contacts[i])
				} else { // the same race through re-linking as primary
					if errs[i] = f.ed.UnlinkContactFromBuilding(ctx, f.admin, f.building, contacts[i]); errs[i] == nil {
						_, errs[i] = f.ed.LinkContactToBuilding(ctx, f.admin, f.building, contacts[i], "member", true)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d call %d: %v", round, i, err)
			}
		}
		if p := f.primaries(t); len(p) != 1 {
			t.Fatalf("round %d: %d primaries, want 1", round, len(p))
		}
	}
}

// TestOnePrimaryIsEnforcedByTheDatabase writes around the editor: the
// partial unique index refuses a second primary.
func TestOnePrimaryIsEnforcedByTheDatabase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.contact(t, "A"), f.contact(t, "B")
	mustExec(t, f.db, `INSERT INTO comms.building_contacts (building_id, contact_id, tenant_id, role, is_primary) VALUES ($1, $2, $3, 'r', true)`,
		f.building, a.ID, f.tenant)
	_, err := f.db.Exec(`INSERT INTO comms.building_contacts (building_id, contact_id, tenant_id, role, is_primary) VALUES ($1, $2, $3, 'r', true)`,
		f.building, b.ID, f.tenant)
	if err == nil {
		t.Fatal("a second primary contact was accepted")
	}
}

func TestUserLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	user, other := uuid.New(), uuid.New()
	for i, id := range []uuid.UUID{user, other} {
		mustExec(t, f.db, `INSERT INTO directory.users (id, tenant_id, idp_id, external_id) VALUES ($1, $2, 'dev', $3)`, id, f.tenant, fmt.Sprint(i))
	}
	a, b := f.contact(t, "A"), f.contact(t, "B")

	c, err := f.ed.LinkContactToUser(ctx, f.admin, a.ID, user)
	if err != nil || c.UserID == nil || *c.UserID != user {
		t.Fatalf("contact %+v err %v", c, err)
	}
	t.Run("AgainIsNoOp", func(t *testing.T) {
		if _, err := f.ed.LinkContactToUser(ctx, f.admin, a.ID, user); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrConflictUserHasContact", func(t *testing.T) {
		_, err := f.ed.LinkContactToUser(ctx, f.admin, b.ID, user)
		wantKind(t, err, apperr.Conflict)
	})
	t.Run("ErrConflictContactHasUser", func(t *testing.T) {
		_, err := f.ed.LinkContactToUser(ctx, f.admin, a.ID, other)
		wantKind(t, err, apperr.Conflict)
	})
	t.Run("ErrNotFoundUserOfOtherTenant", func(t *testing.T) {
		stranger := uuid.New()
		t2 := uuid.New()
		mustExec(t, f.db, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'T2')`, t2)
		mustExec(t, f.db, `INSERT INTO directory.users (id, tenant_id, idp_id, external_id) VALUES ($1, $2, 'dev', 'x')`, stranger, t2)
		_, err := f.ed.LinkContactToUser(ctx, f.admin, b.ID, stranger)
		wantKind(t, err, apperr.NotFound)
	})
	t.Run("Unlink", func(t *testing.T) {
		c, err := f.ed.UnlinkContactFromUser(ctx, f.admin, a.ID)
		if err != nil || c.UserID != nil {
			t.Fatalf("contact %+v err %v", c, err)
		}
		if _, err := f.ed.LinkContactToUser(ctx, f.admin, b.ID, user); err != nil {
			t.Fatalf("the freed user could not be linked: %v", err)
		}
	})
}
