package comms

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// Editor changes contacts and their links for the admins of a tenant. Every
// method runs in one transaction: a failure leaves nothing half-written.
// Buildings and users live in other contexts; Editor asks about them through
// BuildingVisible and UserLinkable, which the caller wires to their stores.
type Editor struct {
	Store *Store
	// Region reads phone numbers without a country code (ISO 3166-1
	// alpha-2); DefaultRegion when empty.
	Region string
	// BuildingVisible answers nil when the building exists in the scope's
	// tenant, NotFound otherwise.
	BuildingVisible func(ctx context.Context, s access.Scope, id uuid.UUID) error
	// UserLinkable answers nil when the user exists in the scope's tenant
	// and may get a contact (not erased); NotFound or Conflict otherwise.
	UserLinkable func(ctx context.Context, s access.Scope, id uuid.UUID) error
}

// ErrNotAdmin is what every edit answers a caller that is not an admin of a
// tenant.
var ErrNotAdmin = apperr.E(apperr.Forbidden, "only an admin of the tenant may change contacts")

// adminOnly refuses every caller but an admin of a tenant.
func adminOnly(s access.Scope) error {
	if s.Role != access.RoleAdmin || s.TenantID == uuid.Nil {
		return ErrNotAdmin
	}
	return nil
}

func (e *Editor) region() string {
	if e.Region == "" {
		return DefaultRegion
	}
	return e.Region
}

func nullIfEmpty(v *string) *string {
	if v == nil || *v == "" {
		return nil
	}
	return v
}

// CreateContact records a contact without an account in the admin's tenant.
// Forbidden for non-admins; Invalid names the field at fault.
func (e *Editor) CreateContact(ctx context.Context, s access.Scope, in ContactInput) (*Contact, error) {
	if err := adminOnly(s); err != nil {
		return nil, err
	}
	if err := in.normalize("input", e.region(), true); err != nil {
		return nil, err
	}
	c, err := postgres.QueryRow(ctx, e.Store.db, scanContact, `INSERT INTO comms.contacts AS c (tenant_id, full_name, email, phone)
		VALUES ($1, $2, $3, $4) RETURNING `+contactColumns, s.TenantID, in.FullName, nullIfEmpty(in.Email), nullIfEmpty(in.Phone))
	if err != nil {
		return nil, postgres.Translate(err, "create contact")
	}
	return c, nil
}

// lockContact reads one contact of the scope's tenant for update. NotFound
// outside the tenant; Conflict when it was erased.
func lockContact(ctx context.Context, tx *sqlx.Tx, s access.Scope, id uuid.UUID) (*Contact, error) {
	c, err := postgres.QueryRow(ctx, tx, scanContact, `SELECT `+contactColumns+` FROM comms.contacts c WHERE c.id = $1 AND c.tenant_id = $2 FOR UPDATE`,
		id, s.TenantID)
	if err != nil {
		if err = postgres.Translate(err, "lock contact"); apperr.KindOf(err) == apperr.NotFound {
			return nil, apperr.E(apperr.NotFound, "contact not found")
		}
		return nil, err
	}
	if c.ErasedAt != nil {
		return nil, apperr.E(apperr.Conflict, "contact was erased")
	}
	return c, nil
}

// UpdateContact changes the set fields of a contact; an empty email or phone
// clears it. Forbidden for non-admins, NotFound outside the tenant,
// Conflict once erased, Invalid naming the field.
func (e *Editor) UpdateContact(ctx context.Context, s access.Scope, id uuid.UUID, in ContactInput) (*Contact, error) {
	if err := adminOnly(s); err != nil {
		return nil, err
	}
	if err := in.normalize("input", e.region(), false); err != nil {
		return nil, err
	}
	var c *Contact
	err := postgres.Tx(ctx, e.Store.db, func(tx *sqlx.Tx) error {
		if _, err := lockContact(ctx, tx, s, id); err != nil {
			return err
		}
		var err error
		c, err = postgres.QueryRow(ctx, tx, scanContact, `UPDATE comms.contacts AS c SET
				full_name = CASE WHEN $2 THEN $3 ELSE c.full_name END,
				email     = CASE WHEN $4 THEN $5 ELSE c.email END,
				phone     = CASE WHEN $6 THEN $7 ELSE c.phone END,
				updated_at = now()
			WHERE c.id = $1 RETURNING `+contactColumns,
			id, in.FullName != nil, in.FullName, in.Email != nil, nullIfEmpty(in.Email), in.Phone != nil, nullIfEmpty(in.Phone))
		return postgres.Translate(err, "update contact")
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lockBuilding serialises the changes of one building's links until the
// transaction ends, so that concurrent primary changes queue instead of
// racing. The partial unique index building_contacts_one_primary stays the
// invariant; this lock only spares callers its conflicts.
func lockBuilding(ctx context.Context, tx *sqlx.Tx, buildingID uuid.UUID) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('comms.building:' || $1::text, 0))`, buildingID)
	return postgres.Translate(err, "lock building")
}

// demotePrimary clears the primary flag of every other contact of a building.
func demotePrimary(ctx context.Context, tx *sqlx.Tx, buildingID, except uuid.UUID) error {
	_, err := tx.ExecContext(ctx, `UPDATE comms.building_contacts SET is_primary = false
		WHERE building_id = $1 AND is_primary AND contact_id <> $2`, buildingID, except)
	return postgres.Translate(err, "demote primary contact")
}

// LinkContactToBuilding links a contact to a building of the tenant with a
// role; with primary it becomes the building's one primary contact and the
// old primary is demoted in the same transaction. NotFound for a building
// or contact outside the tenant, Conflict when they are linked already or
// the contact was erased.
func (e *Editor) LinkContactToBuilding(ctx context.Context, s access.Scope, buildingID, contactID uuid.UUID, role string, primary bool) (*BuildingLink, error) {
	if err := adminOnly(s); err != nil {
		return nil, err
	}
	role, err := checkText("role", role, MaxRoleLen)
	if err != nil {
		return nil, err
	}
	if err := e.BuildingVisible(ctx, s, buildingID); err != nil {
		return nil, err
	}
	link := &BuildingLink{BuildingID: buildingID, ContactID: contactID, TenantID: s.TenantID, Role: role, IsPrimary: primary}
	err = postgres.Tx(ctx, e.Store.db, func(tx *sqlx.Tx) error {
		if err := lockBuilding(ctx, tx, buildingID); err != nil {
			return err
		}
		c, err := lockContact(ctx, tx, s, contactID)
		if err != nil {
			return err
		}
		link.Contact = c
		if primary {
			if err := demotePrimary(ctx, tx, buildingID, contactID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO comms.building_contacts (building_id, contact_id, tenant_id, role, is_primary)
			VALUES ($1, $2, $3, $4, $5)`, buildingID, contactID, s.TenantID, role, primary)
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Constraint == "building_contacts_pkey" {
			return apperr.Wrap(err, apperr.Conflict, "the contact is already linked to this building")
		}
		return postgres.Translate(err, "link contact to building")
	})
	if err != nil {
		return nil, err
	}
	return link, nil
}

// SetPrimaryContact makes a linked contact the building's primary contact
// and demotes the old one in the same transaction. Concurrent calls for one
// building queue on the building's lock and end with exactly one primary:
// the last to commit. NotFound when the contact is not linked to the
// building in the tenant.
func (e *Editor) SetPrimaryContact(ctx context.Context, s access.Scope, buildingID, contactID uuid.UUID) (*BuildingLink, error) {
	if err := adminOnly(s); err != nil {
		return nil, err
	}
	var link BuildingLink
	err := postgres.Tx(ctx, e.Store.db, func(tx *sqlx.Tx) error {
		if err := lockBuilding(ctx, tx, buildingID); err != nil {
			return err
		}
		c, err := lockContact(ctx, tx, s, contactID)
		if err != nil {
			return err
		}
		if err := demotePrimary(ctx, tx, buildingID, contactID); err != nil {
			return err
		}
		err = tx.GetContext(ctx, &link, `UPDATE comms.building_contacts SET is_primary = true
			WHERE building_id = $1 AND contact_id = $2 AND tenant_id = $3
			RETURNING building_id, contact_id, tenant_id, role, is_primary`, buildingID, contactID, s.TenantID)
		if err = postgres.Translate(err, "set primary contact"); apperr.KindOf(err) == apperr.NotFound {
			return apperr.E(apperr.NotFound, "the contact is not linked to this building")
		}
		link.Contact = c
		return err
	})
	if err != nil {
		return nil, err
	}
	return &link, nil
}

// UnlinkContactFromBuilding removes a contact's link to a building. NotFound
// when there is no such link in the tenant.
func (e *Editor) UnlinkContactFromBuilding(ctx context.Context, s access.Scope, buildingID, contactID uuid.UUID) error {
	if err := adminOnly(s); err != nil {
		return err
	}
	return postgres.Tx(ctx, e.Store.db, func(tx *sqlx.Tx) error {
		if err := lockBuilding(ctx, tx, buildingID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM comms.building_contacts WHERE building_id = $1 AND contact_id = $2 AND tenant_id = $3`,
			buildingID, contactID, s.TenantID)
		if err != nil {
			return postgres.Translate(err, "unlink contact from building")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.E(apperr.NotFound, "the contact is not linked to this building")
		}
		return nil
	})
}

// LinkContactToUser gives a contact its account: a user of the same tenant.
// Linking to the user it has already is a no-op. NotFound for a contact or
// user outside the tenant; Conflict when the contact has another user, the
// user has another contact, or either was erased.
func (e *Editor) LinkContactToUser(ctx context.Context, s access.Scope, contactID, userID uuid.UUID) (*Contact, error) {
	if err := adminOnly(s); err != nil {
		return nil, err
	}
	if err := e.UserLinkable(ctx, s, userID); err != nil {
		return nil, err
	}
	var c *Contact
	err := postgres.Tx(ctx, e.Store.db, func(tx *sqlx.Tx) error {
		var err error
		if c, err = lockContact(ctx, tx, s, contactID); err != nil {
			return err
		}
		switch {
		case c.UserID != nil && *c.UserID == userID:
			return nil
		case c.UserID != nil:
			return apperr.E(apperr.Conflict, "the contact is linked to another user; unlink it first")
		}
		out, err := postgres.QueryRow(ctx, tx, scanContact, `UPDATE comms.contacts AS c SET user_id = $2, updated_at = now() WHERE c.id = $1 RETURNING `+contactColumns,
			contactID, userID)
		if err = postgres.Translate(err, "link contact to user"); apperr.KindOf(err) == apperr.Conflict {
			return apperr.Wrap(err, apperr.Conflict, "the user has another contact already")
		}
		c = out
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UnlinkContactFromUser removes a contact's account link; the contact stays.
// A contact without an account is returned as it is. NotFound outside the
// tenant; Conflict once erased.
func (e *Editor) UnlinkContactFromUser(ctx context.Context, s access.Scope, contactID uuid.UUID) (*Contact, error) {
	if err := adminOnly(s); err != nil {
		return nil, err
	}
	var c *Contact
	err := postgres.Tx(ctx, e.Store.db, func(tx *sqlx.Tx) error {
		if _, err := lockContact(ctx, tx, s, contactID); err != nil {
			return err
		}
		var err error
		c, err = postgres.QueryRow(ctx, tx, scanContact, `UPDATE comms.contacts AS c SET user_id = NULL,
				updated_at = CASE WHEN c.user_id IS NULL THEN c.updated_at ELSE now() END
			WHERE c.id = $1 RETURNING `+contactColumns, contactID)
		return postgres.Translate(err, "unlink contact from user")
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
