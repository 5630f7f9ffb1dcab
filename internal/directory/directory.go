// Package directory owns users: local pointers to identities held by external
// identity providers. The IdP is the source of truth for
// identity data; email and full_name here are a read-only cache. This package
// writes SQL against the directory schema only; a change of a user's email
// also moves the creator domain bookkeeping keeps on the user's invoices (its
// trigger, migration 00030), and erasing the email clears it. It also keeps
// every identity a user has had (directory.identity_links, migration 00036),
// so a user moves to another IdP keeping its id (Repoint) and an identity
// belongs to one user forever; it never lets an ended identity create or
// claim a user.
package directory

import (
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/filter"
)

// User is the local pointer to an identity at an IdP.
type User struct {
	ID         uuid.UUID  `db:"id"`          // internal, immutable; the key other services use
	TenantID   uuid.UUID  `db:"tenant_id"`   // the user's tenant
	IdPID      string     `db:"idp_id"`      // the adapter that owns the identity
	ExternalID string     `db:"external_id"` // the subject at the IdP
	Email      *string    `db:"email"`       // cached from the IdP; nil once erased
	FullName   *string    `db:"full_name"`   // cached from the IdP; nil once erased
	SyncedAt   *time.Time `db:"synced_at"`   // when the cache was last refreshed
	CreatedAt  time.Time  `db:"created_at"`
	UpdatedAt  time.Time  `db:"updated_at"`
	ErasedAt   *time.Time `db:"erased_at"`
}

// UserFilter narrows FindUsers; nil fields do not filter.
type UserFilter struct {
	EmailDomain *string // lower-cased domain, e.g. acme.com
	Search      *string // substring of email or full name, at least 3 characters
	IdPID       *string
}

// UserOrderField is what users are ordered by.
type UserOrderField string

// The orders of users; ties are broken by id.
const (
	OrderByEmail     UserOrderField = "EMAIL"
	OrderByFullName  UserOrderField = "FULL_NAME"
	OrderByCreatedAt UserOrderField = "CREATED_AT"
)

// UserOrder is a field and a direction.
type UserOrder struct {
	Field UserOrderField
	Desc  bool
}

// List names the order for cursors: a cursor of one order is refused by another.
func (o UserOrder) List() string {
	dir := "ASC"
	if o.Desc {
		dir = "DESC"
	}
	return "users:" + string(o.Field) + ":" + dir
}

// Normalize checks f and puts its values in canonical form. Invalid names
// the field at fault.
func (f *UserFilter) Normalize() (err error) {
	if f.EmailDomain, err = filter.Domain("filter.emailDomain", f.EmailDomain); err != nil {
		return err
	}
	if f.Search, err = filter.Search("filter.search", f.Search); err != nil {
		return err
	}
	f.IdPID, err = filter.Name("filter.idpId", f.IdPID)
	return err
}

// Claims are what a verified sign-in token says about a user, the input of
// SyncUser.
type Claims struct {
	IdPID      string
	ExternalID string
	TenantID   uuid.UUID
	Email      *string
	FullName   *string
	IssuedAt   time.Time // when the IdP issued the token; orders cache refreshes
	// EmailVerified says the IdP verified Email, and the adapter trusts it
	// to: only then may the sign-in link to a user by email.
	EmailVerified bool
	// LinkFrom are the IdPs whose users a first sign-in of this identity
	// may take over just in time (the adapter's migrate_from with
	// link_on_sign_in); nil links nothing.
	LinkFrom []LinkSource
}

// LinkSource is an IdP whose users move to the signing-in identity's IdP,
// and the grace their old tokens keep after a user moved.
type LinkSource struct {
	IdPID string
	Grace time.Duration
}
