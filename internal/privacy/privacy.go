// Package privacy owns erasure (GDPR Art. 17): it scrubs a person's PII from
// comms and from the directory cache in one transaction, keeps their stable
// ids (invoices still join and show an erased user), cancels the person's
// queued identity changes and queues the deletion of their identity at the
// IdP (through the identity outbox, Identities), and writes an audit record
// that holds no PII. An IdP's own deletion of an identity (a webhook event)
// erases the same way (EraseDeletedIdentity).
// It writes SQL against the privacy schema only; the scrubbing SQL sits in
// the comms and directory packages.
package privacy

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/postgres"
)

// Identities is what an erasure asks of the identity outbox
// (*identity.Service). Its calls run inside the erasure's transaction on
// the main database (the outbox lives there), so a failure rolls the whole
// erasure back.
type Identities interface {
	// CancelChanges ends the user's queued identity changes and scrubs the
	// values they carry; it returns how many it cancelled.
	CancelChanges(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID) (int, error)
	// CanDelete reports whether identities of the IdP can be deleted
	// through the gateway (its adapter has an admin section).
	CanDelete(idpID string) bool
	// QueueDeletion queues the deletion of the user's identity at its IdP.
	QueueDeletion(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID) error
}

// IdPDeletion is what became of an erased user's identity at its IdP.
type IdPDeletion string

// The outcomes, as the API and the audit name them.
const (
	// DeletionNone: no identity to delete (a contact without an account,
	// or a user erased before).
	DeletionNone IdPDeletion = "NONE"
	// DeletionQueued: the erasure queued the deletion at the IdP; the
	// identity outbox applies it, after nothing else for that user.
	DeletionQueued IdPDeletion = "QUEUED"
	// DeletionNotConfigured: the IdP has no admin adapter, so the identity
	// must be deleted there by hand; what the gateway holds is scrubbed all
	// the same.
	DeletionNotConfigured IdPDeletion = "NOT_CONFIGURED"
	// DeletionAtIdP: the IdP deleted the identity and told the gateway
	// (a webhook), which erased the user.
	DeletionAtIdP IdPDeletion = "DELETED_AT_IDP"
)

// audit is the outcome's name in privacy.erasures and in the metric.
func (d IdPDeletion) audit() string { return strings.ToLower(string(d)) }

// SubjectKind is what was asked to be erased.
type SubjectKind string

// The kinds of subject.
const (
	SubjectContact SubjectKind = "CONTACT"
	SubjectUser    SubjectKind = "USER"
)

// Erasure is the outcome of an erase call. It names kinds of fields, never
// their values.
type Erasure struct {
	Kind          SubjectKind
	ID            uuid.UUID
	AlreadyErased bool      // the subject had been erased before this call
	ErasedAt      time.Time // when the subject was (first) erased
	// Fields are the kinds of fields this call scrubbed, e.g. "user.email";
	// empty when there was nothing left.
	Fields []string
	// RelatedIDs are the other ids erased with the subject: a contact's
	// user, a user's contact.
	RelatedIDs []uuid.UUID
	// IdPDeletion is what this call did about the identity at its IdP.
	IdPDeletion IdPDeletion
	// CancelledChanges is how many queued identity changes of the user this
	// call cancelled.
	CancelledChanges int

	audited bool // this call wrote an audit record
}

// counted counts an erasure that committed, when it wrote an audit record.
func counted(e *Erasure, err error) (*Erasure, error) {
	if err == nil && e != nil && e.audited {
		metrics.ObserveErasure(e.IdPDeletion.audit())
	}
	return e, err
}

// IdPDeletionQueued reports whether this call queued the deletion of the
// identity at its IdP.
func (e *Erasure) IdPDeletionQueued() bool { return e.IdPDeletion == DeletionQueued }

// Service erases contacts and users.
type Service struct {
	DB *sqlx.DB // directory, privacy and the outbox
	// CommsDB holds comms; nil or DB when comms shares the main database,
	// which makes an erasure one transaction. With its own database the
	// comms transaction commits just before the main one; a failure between
	// the two leaves comms scrubbed and the rest undone, and erasing again
	// completes it.
	CommsDB *sqlx.DB
	// Identity cancels an erased user's queued identity changes and queues
	// the deletion at the IdP; nil (tests without an outbox) does neither
	// and reports DeletionNotConfigured.
	Identity Identities
}

// ErrNotAllowed is what erasure answers a caller that may not erase.
var ErrNotAllowed = apperr.E(apperr.Forbidden, "only an admin of the tenant or an internal service account may erase")

// allowed lets admins erase in their tenant and internal service accounts
// (the data protection tooling) in any.
func allowed(s access.Scope) error {
	if s.Role == access.RoleInternal || (s.Role == access.RoleAdmin && s.TenantID != uuid.Nil) {
		return nil
	}
	return ErrNotAllowed
}

func (sv *Service) tx(ctx context.Context, fn func(main, comms *sqlx.Tx) error) error {
	return postgres.TxAcross(ctx, sv.DB, sv.CommsDB, fn)
}

// EraseUser scrubs a user's cached PII and the PII of the contact linked to
// them, queues the deletion of the identity at the IdP and writes the
// audit. Erasing an erased user scrubs whatever is left and reports
// AlreadyErased. Forbidden for providers; NotFound outside the tenant.
func (sv *Service) EraseUser(ctx context.Context, s access.Scope, id uuid.UUID) (*Erasure, error) {
	if err := allowed(s); err != nil {
		return nil, err
	}
	var out *Erasure
	err := sv.tx(ctx, func(main, ctc *sqlx.Tx) error {
		u, err := directory.LockUserForErasure(ctx, main, s, id)
		if err != nil {
			return err
		}
		c, err := comms.LockContactOfUser(ctx, ctc, u.ID)
		if err != nil {
			return err
		}
		out, err = sv.erase(ctx, main, ctc, s, SubjectUser, u.ID, u, c, false)
		return err
	})
	return counted(out, err)
}

// EraseContact scrubs a contact's PII and links and, when the contact has an
// account, the user's cached PII too (they are one person), queues the
// deletion of that identity at its IdP and writes the audit. Erasing an
// erased contact reports AlreadyErased. Forbidden for providers; NotFound
// outside the tenant.
func (sv *Service) EraseContact(ctx context.Context, s access.Scope, id uuid.UUID) (*Erasure, error) {
	if err := allowed(s); err != nil {
		return nil, err
	}
	var out *Erasure
	err := sv.tx(ctx, func(main, ctc *sqlx.Tx) error {
		c, err := comms.FindContactForErasure(ctx, ctc, s, id)
		if err != nil {
			return err
		}
		// Lock in one order everywhere, user before contact, so that an
		// eraseUser and an eraseContact of one person never deadlock.
		var u *directory.User
		firstUser := c.UserID
		if c.UserID != nil {
			if u, err = directory.LockUserForErasure(ctx, main, access.Scope{Role: access.RoleInternal}, *c.UserID); err != nil &&
				apperr.KindOf(err) != apperr.NotFound {
				return err
			}
		}
		if c, err = comms.LockContactForErasure(ctx, ctc, id); err != nil {
			return err
		}
		if c == nil {
			return apperr.E(apperr.NotFound, "contact not found")
		}
		if (firstUser == nil) != (c.UserID == nil) || (firstUser != nil && *firstUser != *c.UserID) {
			return apperr.E(apperr.Conflict, "the contact's account changed during the erasure; try again")
		}
		out, err = sv.erase(ctx, main, ctc, s, SubjectContact, c.ID, u, c, false)
		return err
	})
	return counted(out, err)
}

// erase scrubs the locked user u and contact c (either may be nil), cancels
// the user's queued identity changes, queues the IdP deletion of a user not
// erased before (unless atIdP: the IdP deleted the identity itself), and
// writes the audit.
func (sv *Service) erase(ctx context.Context, main, ctc *sqlx.Tx, s access.Scope, kind SubjectKind, id uuid.UUID,
	u *directory.User, c *comms.Contact, atIdP bool) (*Erasure, error) {
	out := &Erasure{Kind: kind, ID: id, RelatedIDs: []uuid.UUID{}, IdPDeletion: DeletionNone}
	var tenant uuid.UUID
	var firstErased *time.Time
	if u != nil {
		tenant = u.TenantID
		if kind == SubjectUser {
			firstErased = u.ErasedAt
		} else {
			out.RelatedIDs = append(out.RelatedIDs, u.ID)
		}
		fields, err := directory.ScrubUser(ctx, main, u)
		if err != nil {
			return nil, err
		}
		out.Fields = append(out.Fields, fields...)
		if sv.Identity != nil {
			// Always, even for a user erased before: nothing the user asked
			// for may reach the IdP after their erasure.
			if out.CancelledChanges, err = sv.Identity.CancelChanges(ctx, main, u.ID); err != nil {
				return nil, err
			}
		}
		if u.ErasedAt == nil {
			switch {
			case atIdP:
				out.IdPDeletion = DeletionAtIdP
			case sv.Identity == nil || !sv.Identity.CanDelete(u.IdPID):
				out.IdPDeletion = DeletionNotConfigured
			default:
				if err := sv.Identity.QueueDeletion(ctx, main, u.ID); err != nil {
					return nil, err
				}
				out.IdPDeletion = DeletionQueued
			}
		}
	}
	if c != nil {
		tenant = c.TenantID
		if kind == SubjectContact {
			firstErased = c.ErasedAt
		} else {
			out.RelatedIDs = append(out.RelatedIDs, c.ID)
		}
		fields, err := comms.ScrubContact(ctx, ctc, c)
		if err != nil {
			return nil, err
		}
		out.Fields = append(out.Fields, fields...)
	}
	out.AlreadyErased = firstErased != nil
	if out.Fields == nil {
		out.Fields = []string{}
	}
	if out.AlreadyErased && len(out.Fields) == 0 && out.CancelledChanges == 0 {
		out.ErasedAt = *firstErased
		return out, nil
	}
	var actor *uuid.UUID
	if s.UserID != uuid.Nil {
		actor = &s.UserID
	}
	role := string(s.Role)
	if atIdP {
		role = actorIdP
	}
	err := main.GetContext(ctx, &out.ErasedAt, `INSERT INTO privacy.erasures
		(subject_kind, subject_id, tenant_id, related_ids, actor_role, actor_user_id, fields, idp_deletion, cancelled_changes)
		VALUES (lower($1), $2, $3, $4, $5, $6, $7, $8, $9) RETURNING erased_at`,
		kind, id, tenant, pq.Array(out.RelatedIDs), role, actor, pq.Array(out.Fields), out.IdPDeletion.audit(), out.CancelledChanges)
	if err != nil {
		return nil, postgres.Translate(err, "record erasure")
	}
	if firstErased != nil {
		out.ErasedAt = *firstErased
	}
	out.audited = true
	return out, nil
}

// actorIdP is the audit's actor of an erasure that an IdP's deletion
// caused (EraseDeletedIdentity).
const actorIdP = "idp"

// EraseDeletedIdentity applies an IdP's report that an identity was deleted
// (a webhook change c): its user is erased as through the API (their cache
// and linked contact scrubbed, their queued identity changes cancelled, the
// audit written) with actor "idp" and nothing queued at the IdP. It runs in
// the transaction that records the event, so an event is applied once: a
// redelivery is OutcomeDuplicate, an unknown identity OutcomeUnknownUser, a
// user erased before OutcomeErasedUser.
func (sv *Service) EraseDeletedIdentity(ctx context.Context, c directory.Change) (directory.Outcome, error) {
	var out *Erasure
	var outcome directory.Outcome
	err := sv.tx(ctx, func(main, ctc *sqlx.Tx) error {
		out, outcome = nil, directory.OutcomeDuplicate
		fresh, err := directory.RecordWebhookEvent(ctx, main, c)
		if err != nil || !fresh {
			return err
		}
		u, err := directory.LockUserOfIdentity(ctx, main, c.IdPID, c.ExternalID)
		switch {
		case err != nil:
			return err
		case u == nil:
			outcome = directory.OutcomeUnknownUser
		case u.ErasedAt != nil:
			outcome = directory.OutcomeErasedUser
		default:
			ct, err := comms.LockContactOfUser(ctx, ctc, u.ID)
			if err != nil {
				return err
			}
			if out, err = sv.erase(ctx, main, ctc, access.Scope{Role: access.RoleInternal}, SubjectUser, u.ID, u, ct, true); err != nil {
				return err
			}
			outcome = directory.OutcomeApplied
		}
		return directory.SetWebhookOutcome(ctx, main, c, outcome)
	})
	if _, err = counted(out, err); err != nil {
		return "", err
	}
	return outcome, nil
}

// Changes applies IdP webhook changes (it is the webhook handler's
// Applier): a deletion as an erasure (EraseDeletedIdentity), the rest to
// the directory cache (directory.Store.ApplyChange).
type Changes struct {
	Erasure   *Service
	Directory *directory.Store
}

// ApplyChange applies c.
func (ch Changes) ApplyChange(ctx context.Context, c directory.Change) (directory.Outcome, error) {
	if c.Type == directory.ChangeDeleted {
		return ch.Erasure.EraseDeletedIdentity(ctx, c)
	}
	return ch.Directory.ApplyChange(ctx, c)
}

// Record is one audit record of an erasure, as FindErasures returns it.
type Record struct {
	SubjectKind      SubjectKind `db:"subject_kind"`
	SubjectID        uuid.UUID   `db:"subject_id"`
	TenantID         uuid.UUID   `db:"tenant_id"`
	RelatedIDs       []uuid.UUID `db:"-"`
	ActorRole        string      `db:"actor_role"`
	ActorUserID      *uuid.UUID  `db:"actor_user_id"`
	Fields           []string    `db:"-"`
	IdPDeletion      IdPDeletion `db:"-"`
	CancelledChanges int         `db:"cancelled_changes"`
	ErasedAt         time.Time   `db:"erased_at"`
}

// FindErasures returns the audit records of a subject, oldest first.
func (sv *Service) FindErasures(ctx context.Context, kind SubjectKind, id uuid.UUID) ([]Record, error) {
	rows, err := sv.DB.QueryContext(ctx, `SELECT subject_kind, subject_id, tenant_id, related_ids, actor_role, actor_user_id,
		fields, idp_deletion, cancelled_changes, erased_at FROM privacy.erasures WHERE subject_kind = lower($1) AND subject_id = $2 ORDER BY id`, kind, id)
	if err != nil {
		return nil, postgres.Translate(err, "find erasures")
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var related []string
		var kind, deletion string
		if err := rows.Scan(&kind, &r.SubjectID, &r.TenantID, pq.Array(&related), &r.ActorRole, &r.ActorUserID,
			pq.Array(&r.Fields), &deletion, &r.CancelledChanges, &r.ErasedAt); err != nil {
			return nil, postgres.Translate(err, "read erasure")
		}
		r.SubjectKind = SubjectKind(strings.ToUpper(kind))
		r.IdPDeletion = IdPDeletion(strings.ToUpper(deletion))
		for _, s := range related {
			r.RelatedIDs = append(r.RelatedIDs, uuid.MustParse(s))
		}
		out = append(out, r)
	}
	return out, postgres.Translate(rows.Err(), "read erasures")
}
