// Package privacy owns erasure (GDPR Art. 17): it scrubs a person's PII from
// comms and from the directory cache in one transaction, keeps their stable
// ids (invoices still join and show an erased user), asks the IdP to delete
// the identity through a hook, and writes an audit record that holds no PII.
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
	"github.com/propertyportal/gateway/internal/postgres"
)

// IdPDeletion queues the deletion of a user's identity at its IdP. It runs
// inside the erasure's transaction on the main database (the outbox lives
// there), so a failure rolls the whole erasure back.
type IdPDeletion func(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID) error

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
	// IdPDeletionQueued is true when this call queued the deletion of the
	// identity at its IdP.
	IdPDeletionQueued bool
}

// Service erases contacts and users.
type Service struct {
	DB *sqlx.DB // directory, privacy and the outbox
	// CommsDB holds comms; nil or DB when comms shares the main database,
	// which makes an erasure one transaction. With its own database the
	// comms transaction commits just before the main one; a failure between
	// the two leaves comms scrubbed and the rest undone, and erasing again
	// completes it.
	CommsDB *sqlx.DB
	// IdPDeletion queues the deletion at the IdP; nil queues nothing.
	IdPDeletion IdPDeletion
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
	return postgres.Tx(ctx, sv.DB, func(main *sqlx.Tx) error {
		if sv.CommsDB == nil || sv.CommsDB == sv.DB {
			return fn(main, main)
		}
		return postgres.Tx(ctx, sv.CommsDB, func(c *sqlx.Tx) error { return fn(main, c) })
	})
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
		out, err = sv.erase(ctx, main, ctc, s, SubjectUser, u.ID, u, c)
		return err
	})
	return out, err
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
		out, err = sv.erase(ctx, main, ctc, s, SubjectContact, c.ID, u, c)
		return err
	})
	return out, err
}

// erase scrubs the locked user u and contact c (either may be nil), queues
// the IdP deletion of a user not erased before, and writes the audit.
func (sv *Service) erase(ctx context.Context, main, ctc *sqlx.Tx, s access.Scope, kind SubjectKind, id uuid.UUID,
	u *directory.User, c *comms.Contact) (*Erasure, error) {
	out := &Erasure{Kind: kind, ID: id, RelatedIDs: []uuid.UUID{}}
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
		if u.ErasedAt == nil && sv.IdPDeletion != nil {
			if err := sv.IdPDeletion(ctx, main, u.ID); err != nil {
				return nil, apperr.Wrap(err, apperr.KindOf(err), "queue the deletion at the IdP")
			}
			out.IdPDeletionQueued = true
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
	if out.AlreadyErased && len(out.Fields) == 0 {
		out.ErasedAt = *firstErased
		return out, nil
	}
	var actor *uuid.UUID
	if s.UserID != uuid.Nil {
		actor = &s.UserID
	}
	err := main.GetContext(ctx, &out.ErasedAt, `INSERT INTO privacy.erasures
		(subject_kind, subject_id, tenant_id, related_ids, actor_role, actor_user_id, fields, idp_deletion_queued)
		VALUES (lower($1), $2, $3, $4, $5, $6, $7, $8) RETURNING erased_at`,
		kind, id, tenant, pq.Array(out.RelatedIDs), s.Role, actor, pq.Array(out.Fields), out.IdPDeletionQueued)
	if err != nil {
		return nil, postgres.Translate(err, "record erasure")
	}
	if firstErased != nil {
		out.ErasedAt = *firstErased
	}
	return out, nil
}

// Record is one audit record of an erasure, as FindErasures returns it.
type Record struct {
	SubjectKind       SubjectKind `db:"subject_kind"`
	SubjectID         uuid.UUID   `db:"subject_id"`
	TenantID          uuid.UUID   `db:"tenant_id"`
	RelatedIDs        []uuid.UUID `db:"-"`
	ActorRole         string      `db:"actor_role"`
	ActorUserID       *uuid.UUID  `db:"actor_user_id"`
	Fields            []string    `db:"-"`
	IdPDeletionQueued bool        `db:"idp_deletion_queued"`
	ErasedAt          time.Time   `db:"erased_at"`
}

// FindErasures returns the audit records of a subject, oldest first.
func (sv *Service) FindErasures(ctx context.Context, kind SubjectKind, id uuid.UUID) ([]Record, error) {
	rows, err := sv.DB.QueryContext(ctx, `SELECT subject_kind, subject_id, tenant_id, related_ids, actor_role, actor_user_id,
		fields, idp_deletion_queued, erased_at FROM privacy.erasures WHERE subject_kind = lower($1) AND subject_id = $2 ORDER BY id`, kind, id)
	if err != nil {
		return nil, postgres.Translate(err, "find erasures")
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var related []string
		var kind string
		if err := rows.Scan(&kind, &r.SubjectID, &r.TenantID, pq.Array(&related), &r.ActorRole, &r.ActorUserID,
			pq.Array(&r.Fields), &r.IdPDeletionQueued, &r.ErasedAt); err != nil {
			return nil, postgres.Translate(err, "read erasure")
		}
		r.SubjectKind = SubjectKind(strings.ToUpper(kind))
		for _, s := range related {
			r.RelatedIDs = append(r.RelatedIDs, uuid.MustParse(s))
		}
		out = append(out, r)
	}
	return out, postgres.Translate(rows.Err(), "read erasures")
}
