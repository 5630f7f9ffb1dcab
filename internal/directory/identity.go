package directory

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// FindUserForUpdate returns user id inside tx and locks its row until tx
// ends, so concurrent identity updates of one user queue behind each other.
// NotFound when there is no such user; the caller checks the tenant.
func (st *Store) FindUserForUpdate(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) (*User, error) {
	u, err := postgres.QueryRow(ctx, tx, scanUser, `SELECT `+userColumns+` FROM directory.users WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		err = postgres.Translate(err, "find user for update")
		if apperr.KindOf(err) == apperr.NotFound {
			return nil, apperr.E(apperr.NotFound, "user not found")
		}
		return nil, err
	}
	return u, nil
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

// FindStalestUsers returns up to limit users of idpID that are not erased,
// least recently synced first (never synced before all), synced before
// olderThan.
func (st *Store) FindStalestUsers(ctx context.Context, idpID string, olderThan time.Time, limit int) ([]*User, error) {
	users, err := postgres.QueryAll(ctx, st.db, scanUser, `SELECT `+userColumns+` FROM directory.users
		WHERE idp_id = $1 AND erased_at IS NULL AND (synced_at IS NULL OR synced_at < $2)
		ORDER BY users.synced_at NULLS FIRST, users.id LIMIT $3`, idpID, olderThan, limit)
	return users, postgres.Translate(err, "find stalest users")
}

// RefreshIdentity sets the cache of user id to what its IdP holds (nil
// fields keep their value) and marks it synced, unless it was synced since
// seenSyncedAt (an accepted change or a webhook got there first): it
// reports whether it wrote.
func (st *Store) RefreshIdentity(ctx context.Context, id uuid.UUID, email, fullName *string, seenSyncedAt *time.Time) (bool, error) {
	res, err := st.db.ExecContext(ctx, `
		UPDATE directory.users
		SET email = coalesce($2, email), full_name = coalesce($3, full_name), synced_at = now(),
			updated_at = CASE WHEN email IS DISTINCT FROM coalesce($2, email) OR full_name IS DISTINCT FROM coalesce($3, full_name)
				THEN now() ELSE updated_at END
		WHERE id = $1 AND erased_at IS NULL AND synced_at IS NOT DISTINCT FROM $4`, id, email, fullName, seenSyncedAt)
	if err != nil {
		return false, postgres.Translate(err, "refresh identity")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// OldestSync returns when the least recently synced user of idpID (not
// erased) was last synced (created, when never synced), and false when the
// IdP has no users.
func (st *Store) OldestSync(ctx context.Context, idpID string) (time.Time, bool, error) {
	var ts []time.Time
	err := st.db.SelectContext(ctx, &ts, `SELECT coalesce(synced_at, created_at) FROM directory.users
		WHERE idp_id = $1 AND erased_at IS NULL ORDER BY users.synced_at NULLS FIRST, users.id LIMIT 1`, idpID)
	if err != nil || len(ts) == 0 {
		return time.Time{}, false, postgres.Translate(err, "oldest sync")
	}
	return ts[0], true, nil
}
