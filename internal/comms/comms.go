// Package comms owns provider contacts, the primary source for contact data,
// and their links to buildings. A contact may have no account.
// It writes SQL against the comms schema only, and refers to users and
// buildings by id without joining their schemas, so it can move to its own
// database.
package comms

import (
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/filter"
)

// Contact is a provider contact.
type Contact struct {
	ID        uuid.UUID  `db:"id"`
	TenantID  uuid.UUID  `db:"tenant_id"`
	UserID    *uuid.UUID `db:"user_id"` // the linked directory user; nil without an account
	FullName  *string    `db:"full_name"`
	Email     *string    `db:"email"`
	Phone     *string    `db:"phone"` // E.164
	CreatedAt time.Time  `db:"created_at"`
	UpdatedAt time.Time  `db:"updated_at"`
	ErasedAt  *time.Time `db:"erased_at"`
}

// BuildingLink links a contact to a building with a role.
type BuildingLink struct {
	BuildingID uuid.UUID `db:"building_id"`
	ContactID  uuid.UUID `db:"contact_id"`
	TenantID   uuid.UUID `db:"tenant_id"`
	Role       string    `db:"role"`
	IsPrimary  bool      `db:"is_primary"`
	// Contact is the linked contact, when the query that found the link
	// loaded it too; nil otherwise.
	Contact *Contact `db:"-"`
}

// ContactFilter narrows FindContacts; nil fields do not filter.
type ContactFilter struct {
	Search     *string    // substring of name, email or phone, at least 3 characters
	BuildingID *uuid.UUID // only contacts linked to this building
	HasAccount *bool      // with (true) or without (false) a linked user
}

// ContactList names the order of contacts for cursors.
const ContactList = "contacts:FULL_NAME:ASC"

// Normalize checks f and puts its values in canonical form. Invalid names
// the field at fault.
func (f *ContactFilter) Normalize() (err error) {
	f.Search, err = filter.Search("filter.search", f.Search)
	return err
}
