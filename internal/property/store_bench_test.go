package property_test

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/property"
	"github.com/propertyportal/gateway/internal/seed"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// BenchmarkFindBuildings is Q1's first level (a tenant's first 50
// buildings by name) on a small seeded database.
func BenchmarkFindBuildings(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DB(b)
	res, err := seed.Bulk(ctx, db, seed.BulkOptions{Tenants: 2, Users: 20, Buildings: 400, Contacts: 200}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	st := property.NewStore(db)
	admin := access.Scope{Role: access.RoleAdmin, TenantID: res.TenantIDs[0]}
	b.ReportAllocs()
	for b.Loop() {
		if bs, _, err := st.FindBuildings(ctx, admin, property.BuildingFilter{}, page.Request{First: 50}); err != nil || len(bs) != 50 {
			b.Fatalf("%d buildings, %v", len(bs), err)
		}
	}
}
