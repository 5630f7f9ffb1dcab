package directory

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// RepointChannel is the channel migration 00036's trigger on
// directory.users notifies, with the user's id, from the transaction that
// changes a user's idp_id or external_id (Repoint, or any other path), so
// every replica drops the user's cached sign-ins at its commit.
const RepointChannel = "gateway_user_repointed"

// IdentityRef names an identity at an IdP: the adapter and the subject.
type IdentityRef struct {
	IdPID      string
	ExternalID string
}

// Repoint moves user userID from identity from to identity to inside the
// caller's tx, keeping its id: it locks the user, sets its idp_id and
// external_id to to, ends the link of from (unlinked now; its tokens
// resolve to the user until now + grace, see SyncUser) and records the link
// of to. The trigger of migration 00036 notifies RepointChannel from tx, so
// every replica drops the user's cached sign-ins when tx commits.
//
// NotFound when there is no such user. Conflict when the user is no longer
// on from or is erased, or when to is or was linked to any user (an
// identity belongs to one user forever). A negative grace is Invalid.
func Repoint(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID, from, to IdentityRef, grace time.Duration) (*User, error) {
	if grace < 0 {
		return nil, apperr.InvalidField("grace", "must not be negative")
	}
	if to.IdPID == "" || to.ExternalID == "" || len(to.ExternalID) > 255 {
		return nil, apperr.InvalidField("to", "an IdP id and a subject of at most 255 characters are required")
	}
	u, err := postgres.QueryRow(ctx, tx, scanUser, `SELECT `+userColumns+` FROM directory.users WHERE id = $1 FOR UPDATE`, userID)
	if err != nil {
		if err = postgres.Translate(err, "lock user to repoint"); apperr.KindOf(err) == apperr.NotFound {
			return nil, apperr.E(apperr.NotFound, "user not found")
		}
		return nil, err
	}
	switch {
	case u.ErasedAt != nil:
		return nil, apperr.E(apperr.Conflict, "the user was erased")
	case u.IdPID != from.IdPID || u.ExternalID != from.ExternalID:
		return nil, apperr.E(apperr.Conflict, "the user is no longer on the identity to move from")
	}
	var taken bool
	err = tx.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM directory.identity_links WHERE idp_id = $1 AND external_id = $2)`,
		to.IdPID, to.ExternalID)
	if err != nil {
		return nil, postgres.Translate(err, "find identity link")
	}
	if taken {
		return nil, apperr.E(apperr.Conflict, "the target identity is or was linked to a user")
	}
	// The old link ends with its grace first; the trigger then finds no
	// current link of from to end and only records the new one. A user
	// loaded with the triggers off (seed.Bulk) has no link yet: it is
	// recorded here, ended, so its history starts with from.
	_, err = tx.ExecContext(ctx, `
		INSERT INTO directory.identity_links AS l (idp_id, external_id, user_id, linked_at, unlinked_at, accept_until)
		VALUES ($1, $2, $3, $5, now(), now() + $4 * interval '1 microsecond')
		ON CONFLICT (idp_id, external_id) DO UPDATE SET unlinked_at = EXCLUDED.unlinked_at, accept_until = EXCLUDED.accept_until
			WHERE l.user_id = EXCLUDED.user_id AND l.unlinked_at IS NULL`,
		from.IdPID, from.ExternalID, userID, grace.Microseconds(), u.CreatedAt)
	if err != nil {
		return nil, postgres.Translate(err, "end identity link")
	}
	u, err = postgres.QueryRow(ctx, tx, scanUser, `UPDATE directory.users SET idp_id = $2, external_id = $3, updated_at = now()
		WHERE id = $1 RETURNING `+userColumns, userID, to.IdPID, to.ExternalID)
	if err != nil {
		err = postgres.Translate(err, "repoint user")
		if apperr.KindOf(err) == apperr.Conflict { // linked by a transaction that committed since the check
			return nil, apperr.E(apperr.Conflict, "the target identity is or was linked to a user")
		}
		return nil, err
	}
	return u, nil
}

// LinkedUser returns the user identity ref is or was linked to, and false
// when it never was anyone's. An erased user is returned too: the caller
// decides what an erased user may do (SyncUser refuses it).
func LinkedUser(ctx context.Context, q sqlx.QueryerContext, ref IdentityRef) (uuid.UUID, bool, error) {
	var ids []uuid.UUID
	err := sqlx.SelectContext(ctx, q, &ids, `SELECT user_id FROM directory.identity_links WHERE idp_id = $1 AND external_id = $2`,
		ref.IdPID, ref.ExternalID)
	if err != nil || len(ids) == 0 {
		return uuid.Nil, false, postgres.Translate(err, "find linked user")
	}
	return ids[0], true, nil
}

// IdentityLink is one identity a user has had.
type IdentityLink struct {
	IdentityRef
	UserID      uuid.UUID
	LinkedAt    time.Time
	UnlinkedAt  *time.Time // nil while the link is current
	AcceptUntil *time.Time // until when a token of the ended link still resolves to the user
}

// FindIdentityLinks returns the identities user userID has had, oldest
// first; the last is the current one.
func FindIdentityLinks(ctx context.Context, q sqlx.QueryerContext, userID uuid.UUID) ([]IdentityLink, error) {
	var rows []struct {
		IdPID       string     `db:"idp_id"`
		ExternalID  string     `db:"external_id"`
		UserID      uuid.UUID  `db:"user_id"`
		LinkedAt    time.Time  `db:"linked_at"`
		UnlinkedAt  *time.Time `db:"unlinked_at"`
		AcceptUntil *time.Time `db:"accept_until"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT idp_id, external_id, user_id, linked_at, unlinked_at, accept_until
		FROM directory.identity_links WHERE user_id = $1 ORDER BY linked_at, unlinked_at NULLS LAST`, userID)
	if err != nil {
		return nil, postgres.Translate(err, "find identity links")
	}
	links := make([]IdentityLink, len(rows))
	for i, r := range rows {
		links[i] = IdentityLink{IdentityRef: IdentityRef{r.IdPID, r.ExternalID}, UserID: r.UserID,
			LinkedAt: r.LinkedAt, UnlinkedAt: r.UnlinkedAt, AcceptUntil: r.AcceptUntil}
	}
	return links, nil
}
