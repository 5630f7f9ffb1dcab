package node_test

import (
	"context"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/node"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// seed puts one object of each kind in tenant: comms' contact in commsDB,
// the rest in main.
func seed(t *testing.T, main, commsDB *sqlx.DB, tenant uuid.UUID) map[node.Kind]uuid.UUID {
	t.Helper()
	ids := map[node.Kind]uuid.UUID{node.User: uuid.New(), node.Contact: uuid.New(), node.Building: uuid.New(), node.Invoice: uuid.New()}
	prov := uuid.New()
	for _, db := range []*sqlx.DB{main, commsDB} {
		mustExec(t, db, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'T') ON CONFLICT DO NOTHING`, tenant)
	}
	mustExec(t, main, `INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name) VALUES ($1, $2, 'dev', $3, 'a@acme.com', 'A')`,
		ids[node.User], tenant, uuid.NewString())
	mustExec(t, main, `INSERT INTO property.providers (id, tenant_id, name) VALUES ($1, $2, 'P')`, prov, tenant)
	mustExec(t, main, `INSERT INTO property.buildings (id, tenant_id, provider_id, name, address) VALUES ($1, $2, $3, 'B', 'B 1')`,
		ids[node.Building], tenant, prov)
	mustExec(t, main, `INSERT INTO bookkeeping.invoices (id, tenant_id, number, amount_minor, currency, issued_at, created_by_user_id)
		VALUES ($1, $2, $3, 100, 'EUR', now(), $4)`, ids[node.Invoice], tenant, uuid.NewString()[:8], ids[node.User])
	mustExec(t, commsDB, `INSERT INTO comms.contacts (id, tenant_id, full_name) VALUES ($1, $2, 'C')`, ids[node.Contact], tenant)
	return ids
}

func TestFind(t *testing.T) {
	t.Parallel()
	for name, separate := range map[string]bool{"OneDatabase": false, "CommsApart": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			main := pgtest.DB(t)
			commsDB := main
			if separate {
				commsDB = pgtest.DB(t)
			}
			tenant := uuid.New()
			ids := seed(t, main, commsDB, tenant)
			st := node.NewStore(node.DBs{Main: main, Comms: commsDB})
			unknown := uuid.New()
			all := []uuid.UUID{ids[node.Invoice], unknown, ids[node.User], ids[node.Contact], ids[node.Building]}

			ctx, log := postgres.WithStatementLog(context.Background())
			got, err := st.Find(ctx, access.Scope{Role: access.RoleAdmin, TenantID: tenant}, all)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Users) != 1 || len(got.Contacts) != 1 || len(got.Buildings) != 1 || len(got.Invoices) != 1 {
				t.Fatalf("got %+v", got)
			}
			u, c, b, inv := got.Users[0], got.Contacts[0], got.Buildings[0], got.Invoices[0]
			if u.ID != ids[node.User] || u.TenantID != tenant || u.IdPID != "dev" || *u.Email != "a@acme.com" || *u.FullName != "A" ||
				u.SyncedAt != nil || u.ErasedAt != nil || u.CreatedAt.IsZero() {
				t.Fatalf("user %+v", u)
			}
			if c.ID != ids[node.Contact] || c.TenantID != tenant || c.UserID != nil || *c.FullName != "C" || c.Email != nil || c.CreatedAt.IsZero() {
				t.Fatalf("contact %+v", c)
			}
			if b.ID != ids[node.Building] || b.TenantID != tenant || b.Name != "B" || b.Address != "B 1" || b.ProviderID == uuid.Nil {
				t.Fatalf("building %+v", b)
			}
			if inv.ID != ids[node.Invoice] || inv.AmountMinor != 100 || inv.Currency != "EUR" || inv.CreatedByUserID != ids[node.User] || inv.IssuedAt.IsZero() {
				t.Fatalf("invoice %+v", inv)
			}
			want := 1
			if separate {
				want = 2
			}
			if n := len(log.Statements()); n != want {
				t.Fatalf("%d statements, want %d", n, want)
			}
			if args := len(log.Statements()[0].Args); args != 2 {
				t.Fatalf("%d arguments, want 2: the ids and the tenant, shared by every branch", args)
			}

			t.Run("OneIDOneStatement", func(t *testing.T) {
				ctx, log := postgres.WithStatementLog(context.Background())
				got, err := st.Find(ctx, access.Scope{Role: access.RoleAdmin, TenantID: tenant}, []uuid.UUID{ids[node.Building]})
				if err != nil || len(got.Buildings) != 1 || len(got.Users)+len(got.Contacts)+len(got.Invoices) != 0 {
					t.Fatalf("got %+v, %v", got, err)
				}
				if n := len(log.Statements()); n != want {
					t.Fatalf("%d statements, want %d", n, want)
				}
			})
			t.Run("OtherTenantSeesNothing", func(t *testing.T) {
				got, err := st.Find(context.Background(), access.Scope{Role: access.RoleAdmin, TenantID: uuid.New()}, all)
				if err != nil || len(got.Users)+len(got.Contacts)+len(got.Buildings)+len(got.Invoices) != 0 {
					t.Fatalf("got %+v, %v", got, err)
				}
			})
			t.Run("CrossTenantSeesAll", func(t *testing.T) {
				got, err := st.Find(context.Background(), access.Scope{Role: access.RoleInternal}, all)
				if err != nil || len(got.Users)+len(got.Contacts)+len(got.Buildings)+len(got.Invoices) != 4 {
					t.Fatalf("got %+v, %v", got, err)
				}
			})
			t.Run("NoIDsNoStatement", func(t *testing.T) {
				ctx, log := postgres.WithStatementLog(context.Background())
				if _, err := st.Find(ctx, access.Scope{Role: access.RoleAdmin, TenantID: tenant}, nil); err != nil || len(log.Statements()) != 0 {
					t.Fatalf("%d statements, %v", len(log.Statements()), err)
				}
			})
		})
	}
}
