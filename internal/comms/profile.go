package comms

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/postgres"
)

// ProfileChange is a change a user makes to their own contact: nil fields
// do not change; a Phone of "" removes the phone.
type ProfileChange struct {
	Email *string
	Phone *string // E.164, already normalised
}

// FindContactOfUserForUpdate returns the contact linked to userID inside tx
// and locks it until tx ends; nil when the user has no contact.
func (st *Store) FindContactOfUserForUpdate(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID) (*Contact, error) {
	cs, err := postgres.QueryAll(ctx, tx, scanContact, `SELECT `+contactColumns+` FROM comms.contacts c
		WHERE c.user_id = $1 AND c.erased_at IS NULL FOR UPDATE`, userID)
	if err != nil || len(cs) == 0 {
		return nil, postgres.Translate(err, "find contact of user")
	}
	return cs[0], nil
}

// UpdateProfile writes ch to contact id inside tx and returns the contact.
func (st *Store) UpdateProfile(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, ch ProfileChange) (*Contact, error) {
	c, err := postgres.QueryRow(ctx, tx, scanContact, `
		UPDATE comms.contacts AS c
		SET email = CASE WHEN $2::boolean THEN $3 ELSE email END,
		    phone = CASE WHEN $4::boolean THEN nullif($5, '') ELSE phone END,
		    updated_at = now()
		WHERE c.id = $1
		RETURNING `+contactColumns,
		id, ch.Email != nil, ch.Email, ch.Phone != nil, ch.Phone)
	return c, postgres.Translate(err, "update contact profile")
}
