package directory_test

import (
	"context"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/seed"
)

// BenchmarkFindUsers is Q2's statement (a tenant's first 50 users at
// acme.com by email) and the Q1/Q4 lookup by ids, on a small seeded
// database: the cost of a round trip and of scanning the rows.
func BenchmarkFindUsers(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DB(b)
	res, err := seed.Bulk(ctx, db, seed.BulkOptions{Tenants: 2, Users: 4000}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	st := directory.NewStore(db)
	admin := access.Scope{Role: access.RoleAdmin, TenantID: res.TenantIDs[0]}
	domain := "acme.com"
	var ids []uuid.UUID
	if err := db.Select(&ids, `SELECT id FROM directory.users WHERE tenant_id = $1 ORDER BY id LIMIT 60`, admin.TenantID); err != nil {
		b.Fatal(err)
	}
	b.Run("Page50", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			us, _, err := st.FindUsers(ctx, admin, directory.UserFilter{EmailDomain: &domain},
				directory.UserOrder{Field: directory.OrderByEmail}, page.Request{First: 50})
			if err != nil || len(us) != 50 {
				b.Fatalf("%d users, %v", len(us), err)
			}
		}
	})
	b.Run("ByIDs1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.FindUserByID(ctx, admin, ids[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ByIDs60", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if us, err := st.FindUsersByIDs(ctx, admin, ids); err != nil || len(us) != 60 {
				b.Fatalf("%d users, %v", len(us), err)
			}
		}
	})
}
