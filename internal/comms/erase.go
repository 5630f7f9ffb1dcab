package comms

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// The erasure steps below run inside a transaction that the privacy service
// holds (it also scrubs the directory and writes the audit), so they take
// the transaction rather than open their own.

// FindContactForErasure reads a contact visible to the scope, erased or not,
// without locking it. NotFound outside the scope.
func FindContactForErasure(ctx context.Context, tx *sqlx.Tx, s access.Scope, id uuid.UUID) (*Contact, error) {
	var q postgres.Query
	q.Where("c.id = " + q.Arg(id))
	scoped(&q, s, "c.tenant_id")
	c, err := postgres.QueryRow(ctx, tx, scanContact, `SELECT `+contactColumns+` FROM comms.contacts c `+q.Clause(), q.Args...)
	if err != nil {
		if err = postgres.Translate(err, "find contact"); apperr.KindOf(err) == apperr.NotFound {
			return nil, apperr.E(apperr.NotFound, "contact not found")
		}
		return nil, err
	}
	return c, nil
}

// LockContactForErasure locks the contact of id; nil when there is none.
func LockContactForErasure(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) (*Contact, error) {
	return lockOne(ctx, tx, `c.id = $1`, id)
}

// LockContactOfUser locks the contact linked to a user; nil when there is none.
func LockContactOfUser(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID) (*Contact, error) {
	return lockOne(ctx, tx, `c.user_id = $1`, userID)
}

func lockOne(ctx context.Context, tx *sqlx.Tx, cond string, id uuid.UUID) (*Contact, error) {
	cs, err := postgres.QueryAll(ctx, tx, scanContact, `SELECT `+contactColumns+` FROM comms.contacts c WHERE `+cond+` FOR UPDATE`, id)
	if err != nil || len(cs) == 0 {
		return nil, postgres.Translate(err, "lock contact")
	}
	return cs[0], nil
}

// ScrubContact removes the PII of a locked contact (name, email, phone) and
// its building links, marks it erased and keeps its id. It returns the kinds
// of fields that held data, e.g. "contact.email"; none when there was
// nothing left to scrub.
func ScrubContact(ctx context.Context, tx *sqlx.Tx, c *Contact) ([]string, error) {
	var fields []string
	for _, f := range []struct {
		name string
		v    *string
	}{{"contact.full_name", c.FullName}, {"contact.email", c.Email}, {"contact.phone", c.Phone}} {
		if f.v != nil {
			fields = append(fields, f.name)
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM comms.building_contacts WHERE contact_id = $1`, c.ID)
	if err != nil {
		return nil, postgres.Translate(err, "erase contact links")
	}
	if n, _ := res.RowsAffected(); n > 0 {
		fields = append(fields, "contact.building_links")
	}
	if len(fields) == 0 && c.ErasedAt != nil {
		return nil, nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE comms.contacts SET full_name = NULL, email = NULL, phone = NULL,
		erased_at = coalesce(erased_at, now()), updated_at = now() WHERE id = $1`, c.ID)
	return fields, postgres.Translate(err, "erase contact")
}
