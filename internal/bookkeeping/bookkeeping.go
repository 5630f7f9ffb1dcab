// Package bookkeeping owns invoices. An invoice's creator is the directory
// user's stable id. It writes SQL against the bookkeeping schema only. To
// answer "invoices created by users of acme.com" an invoice carries its
// creator's email domain, which triggers of this context derive from
// directory.users (migration 00030: on insert, and on every change of the
// user's email, erasure included), which is why the two contexts share a
// database. The domain is never exposed.
package bookkeeping

import (
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/filter"
)

// Invoice is an invoice.
type Invoice struct {
	ID              uuid.UUID `db:"id"`
	TenantID        uuid.UUID `db:"tenant_id"`
	Number          string    `db:"number"`
	AmountMinor     int64     `db:"amount_minor"` // in minor units of Currency
	Currency        string    `db:"currency"`     // ISO 4217
	IssuedAt        time.Time `db:"issued_at"`
	CreatedByUserID uuid.UUID `db:"created_by_user_id"`
}

// InvoiceFilter narrows FindInvoices; nil fields do not filter.
type InvoiceFilter struct {
	CreatedByEmailDomain *string // lower-cased domain of the creator's cached email (none once erased)
	CreatedByUserID      *uuid.UUID
	IssuedAfter          *time.Time // inclusive
	IssuedBefore         *time.Time // exclusive
}

// InvoiceList names the order of invoices (newest first) for cursors.
const InvoiceList = "invoices:ISSUED_AT:DESC"

// Normalize checks f and puts its values in canonical form. Invalid names
// the field at fault.
func (f *InvoiceFilter) Normalize() (err error) {
	if f.CreatedByEmailDomain, err = filter.Domain("filter.createdByEmailDomain", f.CreatedByEmailDomain); err != nil {
		return err
	}
	if f.IssuedAfter != nil && f.IssuedBefore != nil && !f.IssuedAfter.Before(*f.IssuedBefore) {
		return apperr.InvalidField("filter.issuedBefore", "filter.issuedBefore must be later than filter.issuedAfter")
	}
	return nil
}
