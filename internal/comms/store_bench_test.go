package comms_test

import (
	"context"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/seed"
)

// BenchmarkFindLinks is Q1's second level (the contacts of 50 buildings)
// and Q4's contact of one user, on a small seeded database.
func BenchmarkFindLinks(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DB(b)
	res, err := seed.Bulk(ctx, db, seed.BulkOptions{Tenants: 2, Users: 4000, Buildings: 400, Contacts: 2000}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	st := comms.NewStore(db)
	admin := access.Scope{Role: access.RoleAdmin, TenantID: res.TenantIDs[0]}
	var buildings, users []uuid.UUID
	if err := db.Select(&buildings, `SELECT id FROM property.buildings WHERE tenant_id = $1 ORDER BY name, id LIMIT 50`, admin.TenantID); err != nil {
		b.Fatal(err)
	}
	if err := db.Select(&users, `SELECT user_id FROM comms.contacts WHERE tenant_id = $1 AND user_id IS NOT NULL LIMIT 1`, admin.TenantID); err != nil {
		b.Fatal(err)
	}
	b.Run("ByBuildings50", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ls, err := st.FindLinksByBuildings(ctx, admin, buildings); err != nil || len(ls) < 50 {
				b.Fatalf("%d links, %v", len(ls), err)
			}
		}
	})
	b.Run("ContactByUser", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if cs, err := st.FindContactsByUserIDs(ctx, admin, users); err != nil || len(cs) != 1 {
				b.Fatalf("%d contacts, %v", len(cs), err)
			}
		}
	})
}
