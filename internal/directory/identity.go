package directory

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// FindUserForUpdate returns user id inside tx and locks its row until tx
// ends, so concurrent identity updates of one user queue behind each other.
// NotFound when there is no such user; the caller checks the tenant.
func (st *Store) FindUserForUpdate(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) (*User, error) {
	var u User
	err := tx.GetContext(ctx, &u, `SELECT `+userColumns+` FROM directory.users WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		err = postgres.Translate(err, "find user for update")
		if apperr.KindOf(err) == apperr.NotFound {
			return nil, apperr.E(apperr.NotFound, "user not found")
		}
		return nil, err
	}
	return &u, nil
}

// ApplyIdentity refreshes the cached email and full name of user id inside
// tx, after the IdP accepted them; nil fields keep their value. An erased
// user's cache stays empty.
func (st *Store) ApplyIdentity(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, email, fullName *string) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE directory.users
		SET email = coalesce($2, email), full_name = coalesce($3, full_name), synced_at = now(), updated_at = now()
		WHERE id = $1 AND erased_at IS NULL`, id, email, fullName)
	return postgres.Translate(err, "apply identity")
}
