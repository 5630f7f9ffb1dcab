package directory

import (
	"context"
	"time"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// SyncUser is just-in-time sync at sign-in: the first
// verified token of an identity creates its pointer user; a later token
// refreshes the email and name cache only when it was issued after the last
// sync and something changed, so an unchanged sign-in writes nothing; a
// claim the token does not carry leaves its cached value as it is.
// Concurrent first sign-ins of one identity create exactly one user.
//
// Unauthenticated when the identity belongs to another tenant than its user,
// when the user was erased, or when the tenant does not exist.
func (st *Store) SyncUser(ctx context.Context, c Claims) (*User, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	u, err := postgres.QueryRow(ctx, st.db, scanUser, `
		INSERT INTO directory.users AS u (tenant_id, idp_id, external_id, email, full_name, synced_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (idp_id, external_id) DO UPDATE
			SET email = coalesce(EXCLUDED.email, u.email), full_name = coalesce(EXCLUDED.full_name, u.full_name),
				synced_at = EXCLUDED.synced_at, updated_at = now()
			WHERE u.erased_at IS NULL AND u.tenant_id = EXCLUDED.tenant_id
			  AND (u.synced_at IS NULL OR u.synced_at < EXCLUDED.synced_at)
			  AND (u.email IS DISTINCT FROM coalesce(EXCLUDED.email, u.email)
			    OR u.full_name IS DISTINCT FROM coalesce(EXCLUDED.full_name, u.full_name))
		RETURNING `+userColumns,
		c.TenantID, c.IdPID, c.ExternalID, c.Email, c.FullName, c.IssuedAt)
	if err != nil {
		err = postgres.Translate(err, "sync user")
		switch apperr.KindOf(err) {
		case apperr.NotFound: // the conflict updated nothing: the user exists and is current
			u, err = postgres.QueryRow(ctx, st.db, scanUser, `SELECT `+userColumns+` FROM directory.users WHERE idp_id = $1 AND external_id = $2`,
				c.IdPID, c.ExternalID)
			if err != nil {
				return nil, postgres.Translate(err, "find synced user")
			}
		case apperr.Invalid: // the tenant's foreign key
			return nil, apperr.Wrap(err, apperr.Unauthenticated, "unknown tenant")
		default:
			return nil, err
		}
	}
	if u.TenantID != c.TenantID {
		return nil, apperr.E(apperr.Unauthenticated, "identity belongs to another tenant")
	}
	if u.ErasedAt != nil {
		return nil, apperr.E(apperr.Unauthenticated, "user erased")
	}
	return u, nil
}
