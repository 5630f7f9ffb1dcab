package bookkeeping

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres"
)

// Store reads and writes the bookkeeping schema. Its reads run as prepared
// statements.
type Store struct {
	db    *sqlx.DB
	stmts *postgres.Stmts
}

// NewStore returns a store over db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db, stmts: postgres.NewStmts(db)} }

// invoiceColumns are what an Invoice holds, scanned by scanInvoice: its
// uuids and issue time packed in one bytea (postgres.Unpack), then the
// rest.
const invoiceColumns = `uuid_send(i.id) || uuid_send(i.tenant_id) || uuid_send(i.created_by_user_id) ||
	timestamptz_send(i.issued_at) AS packed, i.number, i.amount_minor, i.currency`

// scanInvoice reads one row of invoiceColumns.
func scanInvoice(r *sql.Rows) (*Invoice, error) {
	inv := new(Invoice)
	d := invoiceDest(inv)
	return inv, r.Scan(d[:]...)
}

// invoiceDest returns the scan targets of invoiceColumns, in order.
func invoiceDest(inv *Invoice) [4]any {
	return [4]any{(*invoicePacked)(inv), &inv.Number, &inv.AmountMinor, &inv.Currency}
}

// invoicePacked scans the packed column of invoiceColumns.
type invoicePacked Invoice

func (p *invoicePacked) Scan(src any) error {
	return postgres.Unpack(src, &p.ID, &p.TenantID, &p.CreatedByUserID, &p.IssuedAt)
}

// InvoicesByIDs is what FindInvoicesByIDs reads, for a statement that reads
// invoices with other stores' rows (package node); ScanInvoice reads its
// rows.
var InvoicesByIDs = postgres.Part{
	Columns: invoiceColumns,
	Types:   []string{"bytea", "text", "bigint", "char(3)"},
	From:    "bookkeeping.invoices i",
	Where:   invoicesByIDs,
}

// ScanInvoice reads an invoice from the columns of InvoicesByIDs through
// scan (one target per column, as rows.Scan takes them).
func ScanInvoice(scan func(dest ...any) error) (*Invoice, error) {
	inv := new(Invoice)
	d := invoiceDest(inv)
	return inv, scan(d[:]...)
}

// invoicesByIDs adds the conditions of the invoices of ids visible to the
// scope.
func invoicesByIDs(q *postgres.Query, s access.Scope, ids []uuid.UUID) {
	q.WhereIDs("i.id", ids)
	scoped(q, s)
}

func scoped(q *postgres.Query, s access.Scope) {
	if !s.CrossTenant() {
		q.Where("i.tenant_id = " + q.Arg(s.TenantID))
	}
}

// FindInvoiceByID returns one invoice. NotFound when it does not exist or is
// outside the scope's tenant.
func (st *Store) FindInvoiceByID(ctx context.Context, s access.Scope, id uuid.UUID) (*Invoice, error) {
	var q postgres.Query
	q.Where("i.id = " + q.Arg(id))
	scoped(&q, s)
	invs, err := postgres.Select(ctx, st.stmts, scanInvoice, `SELECT `+invoiceColumns+` FROM bookkeeping.invoices i `+q.Clause(), q.Args...)
	if err != nil {
		return nil, postgres.Translate(err, "find invoice")
	}
	if len(invs) == 0 {
		return nil, apperr.E(apperr.NotFound, "invoice not found")
	}
	return invs[0], nil
}

// FindInvoicesByIDs returns the invoices of ids visible to the scope, in no order.
func (st *Store) FindInvoicesByIDs(ctx context.Context, s access.Scope, ids []uuid.UUID) ([]*Invoice, error) {
	var q postgres.Query
	invoicesByIDs(&q, s, ids)
	invs, err := postgres.Select(ctx, st.stmts, scanInvoice, `SELECT `+invoiceColumns+` FROM bookkeeping.invoices i `+q.Clause(), q.Args...)
	return invs, postgres.Translate(err, "find invoices by id")
}

func where(s access.Scope, f InvoiceFilter) *postgres.Query {
	q := &postgres.Query{}
	scoped(q, s)
	if f.CreatedByUserID != nil {
		q.Where("i.created_by_user_id = " + q.Arg(*f.CreatedByUserID))
	}
	if f.CreatedByEmailDomain != nil {
		q.Where("i.created_by_email_domain = " + q.Arg(*f.CreatedByEmailDomain))
	}
	if f.IssuedAfter != nil {
		q.Where("i.issued_at >= " + q.Arg(*f.IssuedAfter))
	}
	if f.IssuedBefore != nil {
		q.Where("i.issued_at < " + q.Arg(*f.IssuedBefore))
	}
	return q
}

// FindInvoices returns a page of invoices, newest first, and whether more follow.
func (st *Store) FindInvoices(ctx context.Context, s access.Scope, f InvoiceFilter, p page.Request) ([]*Invoice, bool, error) {
	q := where(s, f)
	dir, limit := q.Page("i.issued_at", "::timestamptz", "i.id", true, p)
	invs, err := postgres.Select(ctx, st.stmts, scanInvoice, `SELECT `+invoiceColumns+` FROM bookkeeping.invoices i `+q.Clause()+
		` ORDER BY i.issued_at `+dir+`, i.id `+dir+` LIMIT `+limit, q.Args...)
	if err != nil {
		return nil, false, postgres.Translate(err, "find invoices")
	}
	invs, more := page.Trim(invs, p)
	return invs, more, nil
}

// CountInvoices returns how many invoices match f.
func (st *Store) CountInvoices(ctx context.Context, s access.Scope, f InvoiceFilter) (int, error) {
	q := where(s, f)
	var n int
	err := st.stmts.Get(ctx, &n, `SELECT count(*) FROM bookkeeping.invoices i `+q.Clause(), q.Args...)
	return n, postgres.Translate(err, "count invoices")
}

// FindInvoicesByCreators returns, in one statement, a page of each creator's
// invoices (newest first): at most p.Limit() rows per creator, so the caller
// can tell per creator whether more follow, in the order p reads them
// (oldest first for a backward page; page.Trim puts them back in order).
func (st *Store) FindInvoicesByCreators(ctx context.Context, s access.Scope, userIDs []uuid.UUID, p page.Request) ([]*Invoice, error) {
	var q postgres.Query
	q.Where("i.created_by_user_id = k.id")
	scoped(&q, s)
	dir, limit := q.Page("i.issued_at", "::timestamptz", "i.id", true, p)
	ids := q.Arg(postgres.UUIDArray(userIDs))
	invs, err := postgres.Select(ctx, st.stmts, scanInvoice, `SELECT i.* FROM unnest(`+ids+`::uuid[]) AS k(id)
		CROSS JOIN LATERAL (SELECT `+invoiceColumns+` FROM bookkeeping.invoices i `+q.Clause()+
		` ORDER BY i.issued_at `+dir+`, i.id `+dir+` LIMIT `+limit+`) i`, q.Args...)
	return invs, postgres.Translate(err, "find invoices by creator")
}

// InvoiceCursor returns the cursor of inv.
func InvoiceCursor(inv *Invoice) page.Cursor {
	return page.Cursor{List: InvoiceList, Key: inv.IssuedAt.UTC().Format(time.RFC3339Nano), ID: inv.ID}
}
