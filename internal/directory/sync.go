package directory

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// The refusals of SyncUser that callers tell apart (errors.Is), e.g. to log
// a reason class. Their messages are safe: no PII.
var (
	// ErrSignInMoved refuses a token of an identity whose user moved to
	// another identity, once the move's grace is over.
	ErrSignInMoved = apperr.E(apperr.Unauthenticated, "this sign-in has moved to another identity provider")
	// ErrAmbiguousLink refuses a first sign-in that just-in-time linking
	// would give to more than one user.
	ErrAmbiguousLink = apperr.E(apperr.Unauthenticated, "this sign-in matches more than one user; an administrator must link it")
)

// SignedIn is a user signed in by SignIn.
type SignedIn struct {
	*User
	// Until, when set, is when the token's identity stops resolving to the
	// user: the identity is an ended link (the user moved to another
	// identity) and this is its accept_until. Nothing that caches the
	// sign-in may keep it beyond.
	Until *time.Time
}

// syncUserSQL creates the pointer user of a first sign-in, or refreshes the
// cache of a known one; it returns no row when nothing changed. An identity
// that was anyone's before (an ended link) makes the insert's trigger fail
// with a unique violation: it never creates a user.
const syncUserSQL = `
	INSERT INTO directory.users AS u (tenant_id, idp_id, external_id, email, full_name, synced_at)
	SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::timestamptz
	WHERE $7::boolean OR EXISTS (SELECT 1 FROM directory.users WHERE idp_id = $2 AND external_id = $3)
	ON CONFLICT (idp_id, external_id) DO UPDATE
		SET email = coalesce(EXCLUDED.email, u.email), full_name = coalesce(EXCLUDED.full_name, u.full_name),
			synced_at = EXCLUDED.synced_at, updated_at = now()
		WHERE u.erased_at IS NULL AND u.tenant_id = EXCLUDED.tenant_id
		  AND (u.synced_at IS NULL OR u.synced_at < EXCLUDED.synced_at)
		  AND (u.email IS DISTINCT FROM coalesce(EXCLUDED.email, u.email)
		    OR u.full_name IS DISTINCT FROM coalesce(EXCLUDED.full_name, u.full_name))
	RETURNING ` + userColumns

// SyncUser is just-in-time sync at sign-in: the first
// verified token of an identity creates its pointer user; a later token
// refreshes the email and name cache only when it was issued after the last
// sync and something changed, so an unchanged sign-in writes nothing; a
// claim the token does not carry leaves its cached value as it is.
// Concurrent first sign-ins of one identity create exactly one user. A
// known current identity costs one statement when its cache changes, two
// when it does not.
//
// A token of an ended link (its user moved to another identity, see
// Repoint) resolves to that user, cache untouched, until the link's
// accept_until (SignedIn.Until, see SignIn), and is refused with ErrSignInMoved after
// it; it never creates a user.
//
// With c.LinkFrom and a verified email, the first sign-in of an identity
// nobody had takes over the one user of those source IdPs in the tenant
// whose email matches (case-insensitively): the user is repointed to the
// identity (same id, the source's grace) and its cache refreshed; more than
// one such user refuses the sign-in (ErrAmbiguousLink); none creates a user.
//
// Unauthenticated when the identity belongs to another tenant than its user,
// when the user was erased, or when the tenant does not exist.
func (st *Store) SyncUser(ctx context.Context, c Claims) (*User, error) {
	s, err := st.SignIn(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.User, nil
}

// SignIn is SyncUser, and also says until when the sign-in may be reused
// (SignedIn.Until: set for a token of an ended link). A cache of sign-ins
// uses it, not SyncUser.
func (st *Store) SignIn(ctx context.Context, c Claims) (*SignedIn, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	return st.syncUser(ctx, c, false)
}

// syncUser is SyncUser; retried is set on its one retry after losing a race
// to a concurrent first sign-in or move of the same identity.
func (st *Store) syncUser(ctx context.Context, c Claims, retried bool) (*SignedIn, error) {
	// With linking possible, the statement only refreshes a known user: an
	// unknown identity first looks for a user to link.
	create := !c.linking()
	u, err := postgres.QueryRow(ctx, st.db, scanUser, syncUserSQL,
		c.TenantID, c.IdPID, c.ExternalID, c.Email, c.FullName, c.IssuedAt, create)
	if err != nil {
		err = postgres.Translate(err, "sync user")
		switch apperr.KindOf(err) {
		case apperr.NotFound: // nothing changed, or (linking) nobody is on the identity
			u, err = postgres.QueryRow(ctx, st.db, scanUser, `SELECT `+userColumns+` FROM directory.users WHERE idp_id = $1 AND external_id = $2`,
				c.IdPID, c.ExternalID)
			if err != nil {
				if err = postgres.Translate(err, "find synced user"); apperr.KindOf(err) != apperr.NotFound {
					return nil, err
				}
				return st.signInUnlinked(ctx, c, retried)
			}
		case apperr.Conflict: // the identity is or was someone else's link
			return st.signInUnlinked(ctx, c, retried)
		case apperr.Invalid: // the tenant's foreign key
			return nil, apperr.Wrap(err, apperr.Unauthenticated, "unknown tenant")
		default:
			return nil, err
		}
	}
	if err := c.admits(u); err != nil {
		return nil, err
	}
	return &SignedIn{User: u}, nil
}

// linking reports whether a first sign-in of c may take over a user.
func (c Claims) linking() bool { return len(c.LinkFrom) > 0 && c.EmailVerified && c.Email != nil }

// admits refuses a user the identity of c may not sign in as.
func (c Claims) admits(u *User) error {
	if u.TenantID != c.TenantID {
		return apperr.E(apperr.Unauthenticated, "identity belongs to another tenant")
	}
	if u.ErasedAt != nil {
		return apperr.E(apperr.Unauthenticated, "user erased")
	}
	return nil
}

// errRaced says a concurrent sign-in or move of the identity got there
// first: SyncUser starts again, once.
var errRaced = errors.New("directory: identity changed during sign-in")

// signInUnlinked signs in an identity no user is on now: an ended link
// resolves to its user within its grace; an identity nobody ever had links
// just in time or creates a user.
func (st *Store) signInUnlinked(ctx context.Context, c Claims, retried bool) (*SignedIn, error) {
	s, err := st.signInEndedLink(ctx, c)
	if errors.Is(err, errRaced) {
		if retried {
			return nil, apperr.Wrap(err, apperr.Conflict, "the identity changed during sign-in; try again")
		}
		return st.syncUser(ctx, c, true)
	}
	if s != nil || err != nil {
		return s, err
	}
	if !c.linking() {
		// No link, yet the insert conflicted or found nobody: a move or
		// first sign-in committed meanwhile.
		if retried {
			return nil, apperr.E(apperr.Conflict, "the identity changed during sign-in; try again")
		}
		return st.syncUser(ctx, c, true)
	}
	var out *SignedIn
	err = postgres.Tx(ctx, st.db, func(tx *sqlx.Tx) (err error) {
		out, err = linkOnSignIn(ctx, tx, c)
		return err
	})
	if errors.Is(err, errRaced) || (err != nil && apperr.KindOf(err) == apperr.Conflict) {
		if retried {
			return nil, apperr.Wrap(err, apperr.Conflict, "the identity changed during sign-in; try again")
		}
		return st.syncUser(ctx, c, true)
	}
	return out, err
}

// signInEndedLink resolves an identity through its ended link: the user
// while the link's accept_until is ahead, else ErrSignInMoved. Nil, nil when
// the identity was never linked; errRaced when it is current (someone is
// on it now).
func (st *Store) signInEndedLink(ctx context.Context, c Claims) (*SignedIn, error) {
	var links []struct {
		UserID      uuid.UUID  `db:"user_id"`
		AcceptUntil *time.Time `db:"accept_until"`
		Accepted    bool       `db:"accepted"`
	}
	err := st.db.SelectContext(ctx, &links, `SELECT user_id, accept_until, coalesce(accept_until > now(), false) AS accepted
		FROM directory.identity_links WHERE idp_id = $1 AND external_id = $2`, c.IdPID, c.ExternalID)
	if err != nil {
		return nil, postgres.Translate(err, "find identity link")
	}
	if len(links) == 0 {
		return nil, nil
	}
	l := links[0]
	if l.AcceptUntil == nil {
		return nil, errRaced
	}
	if !l.Accepted {
		return nil, ErrSignInMoved
	}
	u, err := postgres.QueryRow(ctx, st.db, scanUser, `SELECT `+userColumns+` FROM directory.users WHERE id = $1`, l.UserID)
	if err != nil {
		return nil, postgres.Translate(err, "find linked user")
	}
	if err := c.admits(u); err != nil {
		return nil, err
	}
	return &SignedIn{User: u, Until: l.AcceptUntil}, nil
}

// linkOnSignIn is a first sign-in with linking on, inside tx: under a lock
// of the identity (concurrent first sign-ins of it queue here), it takes
// over the one user of c.LinkFrom in the tenant with c's email, or creates
// a user when there is none.
func linkOnSignIn(ctx context.Context, tx *sqlx.Tx, c Claims) (*SignedIn, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('directory.identity_links:' || $1 || ':' || $2, 0))`,
		c.IdPID, c.ExternalID); err != nil {
		return nil, postgres.Translate(err, "lock identity")
	}
	if _, linked, err := LinkedUser(ctx, tx, IdentityRef{c.IdPID, c.ExternalID}); err != nil || linked {
		if err == nil {
			err = errRaced // a concurrent first sign-in linked it: start again
		}
		return nil, err
	}
	sources := make([]string, len(c.LinkFrom))
	grace := map[string]time.Duration{}
	for i, s := range c.LinkFrom {
		sources[i], grace[s.IdPID] = s.IdPID, s.Grace
	}
	candidates, err := postgres.QueryAll(ctx, tx, scanUser, `SELECT `+userColumns+` FROM directory.users
		WHERE tenant_id = $1 AND idp_id = ANY($2) AND lower(email) = lower($3) AND erased_at IS NULL
		ORDER BY users.id LIMIT 2 FOR UPDATE`, c.TenantID, pq.Array(sources), *c.Email)
	if err != nil {
		return nil, postgres.Translate(err, "find users to link")
	}
	switch len(candidates) {
	case 0:
		u, err := postgres.QueryRow(ctx, tx, scanUser, `
			INSERT INTO directory.users (tenant_id, idp_id, external_id, email, full_name, synced_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+userColumns,
			c.TenantID, c.IdPID, c.ExternalID, c.Email, c.FullName, c.IssuedAt)
		if err != nil {
			if err = postgres.Translate(err, "create user"); apperr.KindOf(err) == apperr.Invalid {
				return nil, apperr.Wrap(err, apperr.Unauthenticated, "unknown tenant")
			}
			return nil, err
		}
		return &SignedIn{User: u}, nil
	case 1:
	default:
		return nil, ErrAmbiguousLink
	}
	from := candidates[0]
	if _, err := Repoint(ctx, tx, from.ID, IdentityRef{from.IdPID, from.ExternalID}, IdentityRef{c.IdPID, c.ExternalID},
		grace[from.IdPID]); err != nil {
		return nil, err
	}
	u, err := postgres.QueryRow(ctx, tx, scanUser, `UPDATE directory.users
		SET email = coalesce($2, email), full_name = coalesce($3, full_name), synced_at = $4, updated_at = now()
		WHERE id = $1 RETURNING `+userColumns, from.ID, c.Email, c.FullName, c.IssuedAt)
	if err != nil {
		return nil, postgres.Translate(err, "refresh linked user")
	}
	return &SignedIn{User: u}, nil
}
