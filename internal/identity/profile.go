package identity

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/postgres"
)

// ProfileInput is what a signed-in user changes about themselves: nil
// fields do not change.
type ProfileInput struct {
	Email    *string
	FullName *string
	Phone    *string // "" removes the phone
}

// IdentityInput is what an admin changes about a user's identity.
type IdentityInput struct {
	Email    *string
	FullName *string
}

// UpdateMyProfile changes the signed-in user's email and name at their IdP
// (through the outbox) and the email and phone of their contact in comms,
// in one transaction. A field equal to what is already there (or already
// on its way to the IdP) causes no change.
//
// With comms in a database of its own the contact changes in a
// transaction there, inside the main one (user, outbox) and committed
// just before it, as erasure does (postgres.TxAcross): the user is locked
// before the contact, everywhere. A failure between the two commits
// leaves the contact changed and the IdP change not queued; the same
// mutation again finds the contact as asked and queues the IdP change, so
// retrying completes it.
//
// Unauthenticated without a signed-in user; Forbidden for a service
// account; Invalid (naming the field) for a bad value, a phone without a
// contact, or an IdP whose identities the gateway cannot change.
func (s *Service) UpdateMyProfile(ctx context.Context, sc access.Scope, in ProfileInput) (*Result, error) {
	if sc.UserID == uuid.Nil {
		if sc.Role == access.RoleInternal {
			return nil, apperr.E(apperr.Forbidden, "a service account has no profile")
		}
		return nil, apperr.E(apperr.Unauthenticated, "sign in to change your profile")
	}
	if err := in.normalize(s.opts.PhoneRegion); err != nil {
		return nil, err
	}
	return s.change(ctx, sc.UserID, func(u *directory.User) error {
		if !sc.SeesTenant(u.TenantID) {
			return apperr.E(apperr.NotFound, "user not found")
		}
		return nil
	}, IdentityInput{Email: in.Email, FullName: in.FullName}, in.Phone)
}

// UpdateUserIdentity changes another user's email and name at their IdP
// and the email of their contact, for an admin of the user's tenant.
//
// Forbidden for any other role; NotFound for a user outside the admin's
// tenant; Invalid as for UpdateMyProfile.
func (s *Service) UpdateUserIdentity(ctx context.Context, sc access.Scope, userID uuid.UUID, in IdentityInput) (*Result, error) {
	if sc.Role != access.RoleAdmin {
		return nil, apperr.E(apperr.Forbidden, "only an admin of the user's tenant may change their identity")
	}
	p := ProfileInput{Email: in.Email, FullName: in.FullName}
	if err := p.normalize(s.opts.PhoneRegion); err != nil {
		return nil, err
	}
	return s.change(ctx, userID, func(u *directory.User) error {
		if u.TenantID != sc.TenantID {
			return apperr.E(apperr.NotFound, "user not found")
		}
		return nil
	}, IdentityInput{Email: p.Email, FullName: p.FullName}, nil)
}

// change runs an identity mutation in one transaction (two with comms in
// its own database, see UpdateMyProfile): lock the user, check the caller,
// diff against what the IdP has or is about to have, queue the difference,
// write comms.
func (s *Service) change(ctx context.Context, userID uuid.UUID, allowed func(*directory.User) error, in IdentityInput, phone *string) (*Result, error) {
	var res Result
	var jobID int64
	err := postgres.TxAcross(ctx, s.db, s.comms.DB(), func(tx, ctc *sqlx.Tx) error {
		u, err := s.dir.FindUserForUpdate(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := allowed(u); err != nil {
			return err
		}
		if u.ErasedAt != nil {
			return apperr.E(apperr.Conflict, "the user was erased")
		}
		res.User = u
		contact, err := s.comms.FindContactOfUserForUpdate(ctx, ctc, u.ID)
		if err != nil {
			return err
		}
		res.Contact = contact
		if phone != nil && contact == nil {
			return apperr.InvalidField("input.phone", "no contact is linked to this account, so there is no phone to change")
		}
		pending, err := unfinished(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		// What the IdP will hold once the queued changes apply.
		email, name := u.Email, u.FullName
		for _, j := range pending {
			if j.Op == opUpdate && j.Email != nil {
				email = j.Email
			}
			if j.Op == opUpdate && j.FullName != nil {
				name = j.FullName
			}
		}
		var up job
		if in.Email != nil && !same(email, in.Email) {
			up.Email = in.Email
		}
		if in.FullName != nil && !same(name, in.FullName) {
			up.FullName = in.FullName
		}
		if up.Email != nil || up.FullName != nil {
			if _, ok := s.adapters[u.IdPID]; !ok {
				field := "input.email"
				if up.Email == nil {
					field = "input.fullName"
				}
				return apperr.InvalidField(field, "identities of this user's identity provider cannot be changed through the gateway")
			}
			up.UserID, up.IdPID, up.ExternalID, up.Op, up.Priority = u.ID, u.IdPID, u.ExternalID, opUpdate, int(Interactive)
			if jobID, err = enqueue(ctx, tx, up); err != nil {
				return err
			}
		}
		if contact != nil {
			var ch comms.ProfileChange
			if in.Email != nil && !same(contact.Email, in.Email) {
				ch.Email = in.Email
			}
			if phone != nil && !same(contact.Phone, phone) && !(contact.Phone == nil && *phone == "") {
				ch.Phone = phone
			}
			if ch.Email != nil || ch.Phone != nil {
				if res.Contact, err = s.comms.UpdateProfile(ctx, ctc, contact.ID, ch); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if jobID != 0 {
		s.notify()
		res.Sync, err = s.jobSync(ctx, jobID)
	} else {
		res.Sync, err = s.Status(ctx, userID)
	}
	if err != nil {
		return nil, err
	}
	if res.Sync.Status == Applied && jobID != 0 {
		// The cache moved on while we waited: show it.
		if res.User, err = s.dir.FindUserByID(ctx, access.Scope{Role: access.RoleInternal}, userID); err != nil {
			return nil, err
		}
	}
	return &res, nil
}

// jobSync is the status of job id, after waiting up to InteractiveWait for
// it to leave PENDING.
func (s *Service) jobSync(ctx context.Context, id int64) (Sync, error) {
	deadline := time.Now().Add(s.opts.InteractiveWait)
	for {
		j, err := findJob(ctx, s.db, id)
		if err != nil {
			return Sync{}, err
		}
		if j.State == "applied" || j.State == "failed" || j.State == "cancelled" || !time.Now().Before(deadline) {
			return syncOf(j), nil
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return syncOf(j), nil
		}
	}
}

// Status is the status of a user's identity changes: the oldest unfinished
// one (PENDING), else the latest finished one; APPLIED when there is none.
// A migration to another IdP is no change of the identity: its progress is
// the migration's (Migration).
func (s *Service) Status(ctx context.Context, userID uuid.UUID) (Sync, error) {
	js, err := unfinished(ctx, s.db, userID)
	if err != nil {
		return Sync{}, err
	}
	for i := range js {
		if js[i].Op != opMigrate {
			return syncOf(&js[i]), nil
		}
	}
	err = s.db.SelectContext(ctx, &js, `SELECT `+jobColumns+` FROM identity.outbox
		WHERE user_id = $1 AND op <> $2 ORDER BY id DESC LIMIT 1`, userID, opMigrate)
	if err != nil {
		return Sync{}, postgres.Translate(err, "identity status")
	}
	if len(js) == 0 {
		return Sync{Status: Applied}, nil
	}
	return syncOf(&js[0]), nil
}

// QueueDeletion queues the deletion of user userID's identity at its IdP
// inside the caller's transaction (erasure): it is applied by the workers
// after the caller commits, after any change queued before it, with the
// background priority. Invalid when the user's IdP has no admin adapter;
// NotFound when there is no such user.
func (s *Service) QueueDeletion(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID) error {
	// Lock the user as the mutations do, so a concurrent update of the same
	// user queues in a definite order.
	u, err := s.dir.FindUserForUpdate(ctx, tx, userID)
	if err != nil {
		return err
	}
	if _, ok := s.adapters[u.IdPID]; !ok {
		return apperr.E(apperr.Invalid, "identities of this user's identity provider cannot be deleted through the gateway")
	}
	_, err = enqueue(ctx, tx, job{UserID: userID, IdPID: u.IdPID, ExternalID: u.ExternalID, Op: opDelete, Priority: int(Background)})
	if err == nil {
		s.notify()
	}
	return err
}

// CanDelete reports whether identities of idpID can be deleted through the
// gateway: its adapter has an admin section.
func (s *Service) CanDelete(idpID string) bool {
	_, ok := s.adapters[idpID]
	return ok
}

// CancelChanges ends user userID's queued identity changes and migrations
// (pending ones,
// and running ones: the worker's outcome is then fenced out, and a write it
// has in flight lands, if at all, before the deletion that follows) and
// scrubs the values every change of the user carries, inside the caller's
// transaction (erasure). It returns how many changes it cancelled.
func (s *Service) CancelChanges(ctx context.Context, tx *sqlx.Tx, userID uuid.UUID) (int, error) {
	// Only unfinished changes hold values: a change that ends (applied,
	// failed) is scrubbed as it ends.
	res, err := tx.ExecContext(ctx, `UPDATE identity.outbox
		SET state = 'cancelled', reason = 'cancelled by an erasure', finished_at = now(), locked_until = NULL, `+scrubbed+`
		WHERE user_id = $1 AND op = ANY($2) AND state IN ('pending', 'running')`, userID, pq.Array([]string{opUpdate, opMigrate}))
	if err != nil {
		return 0, postgres.Translate(err, "cancel identity changes")
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func same(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// normalize checks every field and puts it in canonical form: the email
// trimmed with its domain lower-cased, the name trimmed, the phone in
// E.164 (a number without a country code read in region). Invalid names
// the field.
func (in *ProfileInput) normalize(region string) error {
	if in.Email != nil {
		e := strings.TrimSpace(*in.Email)
		a, err := mail.ParseAddress(e)
		if err != nil || a.Address != e || a.Name != "" || len(e) > 254 || strings.Count(e, "@") != 1 {
			return apperr.InvalidField("input.email", "must be an email address such as name@example.com")
		}
		local, domain, _ := strings.Cut(e, "@")
		if !strings.Contains(domain, ".") {
			return apperr.InvalidField("input.email", "must be an email address such as name@example.com")
		}
		e = local + "@" + strings.ToLower(domain)
		in.Email = &e
	}
	if in.FullName != nil {
		n := strings.Join(strings.Fields(*in.FullName), " ")
		if n == "" || utf8.RuneCountInString(n) > 200 || strings.IndexFunc(n, unicode.IsControl) >= 0 {
			return apperr.InvalidField("input.fullName", "must be 1 to 200 characters")
		}
		in.FullName = &n
	}
	if in.Phone != nil && *in.Phone != "" {
		// The one phone validator (comms'): a number phonenumbers takes for
		// a valid one, in E.164; "" removes the phone.
		p, err := comms.NormalizePhone("input.phone", *in.Phone, region)
		if err != nil {
			return err
		}
		in.Phone = &p
	}
	return nil
}
