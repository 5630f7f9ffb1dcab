package directory

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// ChangeType is what an IdP webhook says happened to an identity.
type ChangeType string

// The changes a webhook can report.
const (
	// ChangeUpdated carries the new email and/or name.
	ChangeUpdated ChangeType = "updated"
	// ChangeStale says the identity changed without saying how (Entra's
	// basic change notifications): the cache is marked never synced, so
	// the next sign-in or reconciliation pass refreshes it first.
	ChangeStale ChangeType = "stale"
	// ChangeDeleted says the identity was deleted at the IdP.
	ChangeDeleted ChangeType = "deleted"
)

// Change is one identity change reported by an IdP webhook.
type Change struct {
	IdPID      string
	EventID    string // the IdP's id of the event; an event is applied once
	ExternalID string
	Type       ChangeType
	OccurredAt time.Time // when the change happened at the IdP
	Email      *string   // updated: the new email; nil leaves it as it is
	FullName   *string   // updated: the new name; nil leaves it as it is
}

// Outcome says what ApplyChange did with a change.
type Outcome string

// The outcomes.
const (
	OutcomeApplied     Outcome = "applied"      // the cache follows the change
	OutcomeDuplicate   Outcome = "duplicate"    // the event was applied before
	OutcomeOutdated    Outcome = "outdated"     // older than what the cache holds; ignored
	OutcomeUnknownUser Outcome = "unknown_user" // no pointer for the identity (yet); ignored
	OutcomeErasedUser  Outcome = "erased_user"  // the pointer was erased; nothing to refresh
)

// ApplyChange applies one webhook change to the cache in one transaction,
// at most once per (IdP, event id):
//   - updated: the email/name cache and synced_at are refreshed, unless the
//     change is not newer than synced_at (an out-of-order or replayed
//     delivery), which is ignored;
//   - stale: synced_at is cleared so the user is refreshed first.
//
// A deletion is an erasure, which scrubs comms and writes the audit too:
// privacy.Service.EraseDeletedIdentity applies it, with RecordWebhookEvent
// and LockUserOfIdentity; ApplyChange refuses it.
//
// A user never signed in here is not created: that needs a token's tenant.
func (st *Store) ApplyChange(ctx context.Context, c Change) (Outcome, error) {
	if c.Type == ChangeDeleted {
		return "", apperr.E(apperr.Internal, "an IdP deletion is an erasure: apply it through the privacy service")
	}
	var out Outcome
	err := postgres.Tx(ctx, st.db, func(tx *sqlx.Tx) error {
		fresh, err := RecordWebhookEvent(ctx, tx, c)
		if err != nil || !fresh {
			out = OutcomeDuplicate
			return err
		}
		if out, err = applyChange(ctx, tx, c); err != nil {
			return err
		}
		return SetWebhookOutcome(ctx, tx, c, out)
	})
	return out, err
}

// RecordWebhookEvent records the event of c inside tx; false when it was
// recorded before (a redelivery, to be ignored).
func RecordWebhookEvent(ctx context.Context, tx *sqlx.Tx, c Change) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO directory.webhook_events (idp_id, event_id, occurred_at, outcome)
		VALUES ($1, $2, $3, '') ON CONFLICT DO NOTHING`, c.IdPID, c.EventID, c.OccurredAt)
	if err != nil {
		return false, postgres.Translate(err, "record webhook event")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SetWebhookOutcome records what became of the event of c.
func SetWebhookOutcome(ctx context.Context, tx *sqlx.Tx, c Change, out Outcome) error {
	_, err := tx.ExecContext(ctx, `UPDATE directory.webhook_events SET outcome = $3 WHERE idp_id = $1 AND event_id = $2`,
		c.IdPID, c.EventID, out)
	return postgres.Translate(err, "record webhook outcome")
}

// LockUserOfIdentity reads and locks the user of the identity (idpID,
// externalID), erased or not, inside tx; nil when there is none.
func LockUserOfIdentity(ctx context.Context, tx *sqlx.Tx, idpID, externalID string) (*User, error) {
	us, err := postgres.QueryAll(ctx, tx, scanUser, `SELECT `+userColumns+` FROM directory.users WHERE idp_id = $1 AND external_id = $2 FOR UPDATE`,
		idpID, externalID)
	if err != nil || len(us) == 0 {
		return nil, postgres.Translate(err, "find webhook user")
	}
	return us[0], nil
}

func applyChange(ctx context.Context, tx *sqlx.Tx, c Change) (Outcome, error) {
	u, err := LockUserOfIdentity(ctx, tx, c.IdPID, c.ExternalID)
	if err != nil {
		return "", err
	}
	if u == nil {
		return OutcomeUnknownUser, nil
	}
	if u.ErasedAt != nil {
		return OutcomeErasedUser, nil
	}
	switch c.Type {
	case ChangeStale:
		if u.SyncedAt != nil && !c.OccurredAt.After(*u.SyncedAt) {
			return OutcomeOutdated, nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE directory.users SET synced_at = NULL, updated_at = now() WHERE id = $1`, u.ID)
		return OutcomeApplied, postgres.Translate(err, "mark user stale")
	default:
		if u.SyncedAt != nil && !c.OccurredAt.After(*u.SyncedAt) {
			return OutcomeOutdated, nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE directory.users SET
				email = CASE WHEN $2 THEN $3 ELSE email END,
				full_name = CASE WHEN $4 THEN $5 ELSE full_name END,
				synced_at = $6, updated_at = now()
			WHERE id = $1`, u.ID, c.Email != nil, c.Email, c.FullName != nil, c.FullName, c.OccurredAt)
		return OutcomeApplied, postgres.Translate(err, "refresh user from webhook")
	}
}

// PruneWebhookEvents forgets the event ids received before before and
// returns how many. Ids need keeping only while a redelivery could still
// pass the replay window (and Graph retries for up to 4 hours); serve runs
// it hourly through webhook.PruneEvents with WEBHOOK_EVENT_RETENTION.
func (st *Store) PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := st.db.ExecContext(ctx, `DELETE FROM directory.webhook_events WHERE received_at < $1`, before)
	if err != nil {
		return 0, postgres.Translate(err, "prune webhook events")
	}
	return res.RowsAffected()
}
