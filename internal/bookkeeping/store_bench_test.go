package bookkeeping_test

import (
	"context"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/seed"
)

// BenchmarkFindInvoices is Q3's first level (the newest 100 invoices of
// acme.com creators, across tenants) and Q1's last (the newest 5 invoices
// of each of 60 creators), on a small seeded database.
func BenchmarkFindInvoices(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DB(b)
	res, err := seed.Bulk(ctx, db, seed.BulkOptions{Tenants: 2, Users: 4000, Invoices: 40000}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	st := bookkeeping.NewStore(db)
	internal := access.Scope{Role: access.RoleInternal}
	admin := access.Scope{Role: access.RoleAdmin, TenantID: res.TenantIDs[0]}
	domain := "acme.com"
	var creators []uuid.UUID
	if err := db.Select(&creators, `SELECT created_by_user_id FROM bookkeeping.invoices WHERE tenant_id = $1
		GROUP BY created_by_user_id ORDER BY count(*) DESC, created_by_user_id LIMIT 60`, admin.TenantID); err != nil {
		b.Fatal(err)
	}
	b.Run("Domain100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			invs, _, err := st.FindInvoices(ctx, internal, bookkeeping.InvoiceFilter{CreatedByEmailDomain: &domain}, page.Request{First: 100})
			if err != nil || len(invs) != 100 {
				b.Fatalf("%d invoices, %v", len(invs), err)
			}
		}
	})
	b.Run("ByCreators60", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			invs, err := st.FindInvoicesByCreators(ctx, admin, creators, page.Request{First: 5})
			if err != nil || len(invs) < 60 {
				b.Fatalf("%d invoices, %v", len(invs), err)
			}
		}
	})
}
