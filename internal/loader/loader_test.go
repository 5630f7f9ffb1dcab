package loader_test

import (
	"context"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/node"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/property"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// What KindsByID read is the typed loaders' too: asking them for those ids
// sends nothing.
func TestKindsByIDPrimesTheTypedLoaders(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	tenant, user, contact, building, invoice, prov := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	mustExec(t, db, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, tenant)
	mustExec(t, db, `INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email) VALUES ($1, $2, 'dev', 'x', 'a@acme.com')`, user, tenant)
	mustExec(t, db, `INSERT INTO comms.contacts (id, tenant_id, user_id, full_name) VALUES ($1, $2, $3, 'C')`, contact, tenant, user)
	mustExec(t, db, `INSERT INTO property.providers (id, tenant_id, name) VALUES ($1, $2, 'P')`, prov, tenant)
	mustExec(t, db, `INSERT INTO property.buildings (id, tenant_id, provider_id, name, address) VALUES ($1, $2, $3, 'B', 'B 1')`, building, tenant, prov)
	mustExec(t, db, `INSERT INTO bookkeeping.invoices (id, tenant_id, number, amount_minor, currency, issued_at, created_by_user_id)
		VALUES ($1, $2, 'N1', 100, 'EUR', now(), $3)`, invoice, tenant, user)
	l := loader.New(loader.Stores{
		Directory: directory.NewStore(db), Comms: comms.NewStore(db),
		Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
	}, access.Scope{Role: access.RoleAdmin, TenantID: tenant})
	unknown := uuid.New()

	ctx, n := postgres.WithStatementCounter(context.Background())
	kinds, err := l.KindsByID(ctx, []uuid.UUID{invoice, user, unknown, building, contact})
	if err != nil {
		t.Fatal(err)
	}
	if kinds[user] != node.User || kinds[contact] != node.Contact || kinds[building] != node.Building || kinds[invoice] != node.Invoice || kinds[unknown] != node.None {
		t.Fatalf("kinds %v", kinds)
	}
	if n.Load() != 1 {
		t.Fatalf("KindsByID sent %d statements, want 1", n.Load())
	}
	users, err := l.UsersByID(ctx, []uuid.UUID{user})
	if err != nil || users[user] == nil || *users[user].Email != "a@acme.com" {
		t.Fatalf("users %v, %v", users, err)
	}
	contacts, err := l.ContactsByID(ctx, []uuid.UUID{contact})
	if err != nil || contacts[contact] == nil || *contacts[contact].UserID != user {
		t.Fatalf("contacts %v, %v", contacts, err)
	}
	buildings, err := l.BuildingsByID(ctx, []uuid.UUID{building})
	if err != nil || buildings[building] == nil || buildings[building].Name != "B" {
		t.Fatalf("buildings %v, %v", buildings, err)
	}
	invoices, err := l.InvoicesByID(ctx, []uuid.UUID{invoice})
	if err != nil || invoices[invoice] == nil || invoices[invoice].Number != "N1" {
		t.Fatalf("invoices %v, %v", invoices, err)
	}
	if _, err := l.KindsByID(ctx, []uuid.UUID{user, unknown}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d statements in all, want 1: the typed loaders and KindsByID again read from what KindsByID kept", n.Load())
	}
}
