package directory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

var scopeAll = access.Scope{Role: access.RoleInternal}

func countUsers(t *testing.T, db *sqlx.DB, idpID, sub string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM directory.users WHERE idp_id = $1 AND external_id = $2`, idpID, sub); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignInThroughEndedLink(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	st := directory.NewStore(db)
	ctx := context.Background()
	tenant := mustTenant(t, db)
	old := func(sub string) directory.Claims {
		return directory.Claims{IdPID: "auth0-prod", ExternalID: sub, TenantID: tenant, Email: ptr("old@acme.com"), IssuedAt: time.Now()}
	}
	moved := func(t *testing.T, sub string, grace time.Duration) *directory.User {
		t.Helper()
		u := mustUser(t, st, tenant, "auth0-prod", sub, sub+"@acme.com")
		if _, err := repoint(t, db, u.ID, directory.IdentityRef{IdPID: "auth0-prod", ExternalID: sub},
			directory.IdentityRef{IdPID: "keycloak-default", ExternalID: "kc-" + sub}, grace); err != nil {
			t.Fatal(err)
		}
		return u
	}

	t.Run("WithinGraceResolvesToTheUser", func(t *testing.T) {
		u := moved(t, "a1", time.Hour)
		s, err := st.SignIn(ctx, old("a1"))
		if err != nil || s.ID != u.ID || s.Until == nil || time.Until(*s.Until) < 59*time.Minute {
			t.Fatalf("sign-in = %+v err %v", s, err)
		}
		if *s.Email != "a1@acme.com" {
			t.Fatal("a token of the ended link wrote the cache")
		}
		if countUsers(t, db, "auth0-prod", "a1") != 0 {
			t.Fatal("a token of the ended link created a user")
		}
		// The new identity signs in to the same user, without a bound.
		s, err = st.SignIn(ctx, directory.Claims{IdPID: "keycloak-default", ExternalID: "kc-a1", TenantID: tenant, IssuedAt: time.Now()})
		if err != nil || s.ID != u.ID || s.Until != nil {
			t.Fatalf("new identity: %+v %v", s, err)
		}
	})

	t.Run("AfterGraceRefused", func(t *testing.T) {
		u := moved(t, "a2", time.Hour)
		if _, err := db.Exec(`UPDATE directory.identity_links SET unlinked_at = now() - interval '2 hours', accept_until = now() - interval '1 second'
			WHERE user_id = $1 AND unlinked_at IS NOT NULL`, u.ID); err != nil {
			t.Fatal(err)
		}
		_, err := st.SignIn(ctx, old("a2"))
		if !errors.Is(err, directory.ErrSignInMoved) || apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
		if countUsers(t, db, "auth0-prod", "a2") != 0 {
			t.Fatal("a token of an expired link created a user")
		}
	})

	t.Run("ZeroGraceRefusedAtOnce", func(t *testing.T) {
		moved(t, "a3", 0)
		if _, err := st.SignIn(ctx, old("a3")); !errors.Is(err, directory.ErrSignInMoved) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("OtherTenantRefused", func(t *testing.T) {
		moved(t, "a4", time.Hour)
		c := old("a4")
		c.TenantID = mustTenant(t, db)
		if _, err := st.SignIn(ctx, c); apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("ErasedUserRefused", func(t *testing.T) {
		u := moved(t, "a5", time.Hour)
		if _, err := db.Exec(`UPDATE directory.users SET erased_at = now(), email = NULL WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SignIn(ctx, old("a5")); apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("EndedLinkCannotBeClaimedByLinking", func(t *testing.T) {
		// A target whose sources include the ended link's IdP: its first
		// sign-in links by email to users on the source now, never
		// through an identity that moved away.
		u := moved(t, "a6", time.Hour)
		c := directory.Claims{IdPID: "entra-corp", ExternalID: "e-a6", TenantID: tenant, Email: ptr("a6@acme.com"),
			EmailVerified: true, LinkFrom: []directory.LinkSource{{IdPID: "auth0-prod", Grace: time.Hour}}, IssuedAt: time.Now()}
		s, err := st.SignIn(ctx, c)
		if err != nil || s.ID == u.ID {
			t.Fatalf("sign-in = %+v err %v: claimed a moved user", s, err)
		}
		// And a token of the ended link, on a target that links, still
		// resolves only to its own user.
		c = old("a6")
		c.EmailVerified, c.LinkFrom = true, []directory.LinkSource{{IdPID: "keycloak-default"}}
		if s, err := st.SignIn(ctx, c); err != nil || s.ID != u.ID {
			t.Fatalf("ended link with linking on: %+v %v", s, err)
		}
	})
}

func TestJustInTimeLinking(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	st := directory.NewStore(db)
	ctx := context.Background()
	tenant := mustTenant(t, db)
	const grace = 168 * time.Hour
	target := func(sub, email string, verified bool) directory.Claims {
		return directory.Claims{IdPID: "keycloak-default", ExternalID: sub, TenantID: tenant, Email: ptr(email), FullName: ptr("New Name"),
			EmailVerified: verified, LinkFrom: []directory.LinkSource{{IdPID: "auth0-prod", Grace: grace}}, IssuedAt: time.Now()}
	}

	t.Run("VerifiedEmailLinks", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|v", "Verified@Acme.com")
		s, err := st.SignIn(ctx, target("k|v", "verified@acme.com", true))
		if err != nil || s.ID != u.ID || s.IdPID != "keycloak-default" || s.ExternalID != "k|v" || *s.FullName != "New Name" || s.Until != nil {
			t.Fatalf("sign-in = %+v err %v, want user %v moved", s, err, u.ID)
		}
		links := mustLinks(t, db, u.ID)
		if len(links) != 2 || links[0].AcceptUntil.Sub(*links[0].UnlinkedAt) != grace {
			t.Fatalf("links = %+v", links)
		}
		// The old token resolves within the grace; the new one is current.
		if s, err := st.SignIn(ctx, directory.Claims{IdPID: "auth0-prod", ExternalID: "a|v", TenantID: tenant, IssuedAt: time.Now()}); err != nil || s.ID != u.ID {
			t.Fatalf("old identity: %+v %v", s, err)
		}
		if s, err := st.SignIn(ctx, target("k|v", "verified@acme.com", true)); err != nil || s.ID != u.ID {
			t.Fatalf("second sign-in: %+v %v", s, err)
		}
	})

	t.Run("UnverifiedEmailCreates", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|u", "unverified@acme.com")
		s, err := st.SignIn(ctx, target("k|u", "unverified@acme.com", false))
		if err != nil || s.ID == u.ID {
			t.Fatalf("sign-in = %+v err %v", s, err)
		}
		if cur, _ := st.FindUserByID(ctx, scopeAll, u.ID); cur.IdPID != "auth0-prod" {
			t.Fatal("an unverified email moved the user")
		}
	})

	t.Run("AmbiguousRefused", func(t *testing.T) {
		mustUser(t, st, tenant, "auth0-prod", "a|d1", "dup@acme.com")
		mustUser(t, st, tenant, "auth0-prod", "a|d2", "DUP@acme.com")
		_, err := st.SignIn(ctx, target("k|d", "dup@acme.com", true))
		if !errors.Is(err, directory.ErrAmbiguousLink) || apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
		if countUsers(t, db, "keycloak-default", "k|d") != 0 {
			t.Fatal("an ambiguous sign-in created a user")
		}
	})

	t.Run("OtherTenantNeverLinked", func(t *testing.T) {
		other := mustTenant(t, db)
		u := mustUser(t, st, other, "auth0-prod", "a|t", "tenant@acme.com")
		s, err := st.SignIn(ctx, target("k|t", "tenant@acme.com", true))
		if err != nil || s.ID == u.ID {
			t.Fatalf("sign-in = %+v err %v", s, err)
		}
	})

	t.Run("ErasedUserNeverLinked", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|e", "erased@acme.com")
		// An erased user keeps no email; even one left behind never links.
		if _, err := db.Exec(`UPDATE directory.users SET erased_at = now() WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		s, err := st.SignIn(ctx, target("k|e", "erased@acme.com", true))
		if err != nil || s.ID == u.ID {
			t.Fatalf("sign-in = %+v err %v", s, err)
		}
	})

	t.Run("OtherSourceNeverLinked", func(t *testing.T) {
		u := mustUser(t, st, tenant, "entra-corp", "e|s", "source@acme.com")
		s, err := st.SignIn(ctx, target("k|s", "source@acme.com", true))
		if err != nil || s.ID == u.ID {
			t.Fatalf("sign-in = %+v err %v", s, err)
		}
	})

	t.Run("OffWithoutLinkFrom", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|off", "off@acme.com")
		c := target("k|off", "off@acme.com", true)
		c.LinkFrom = nil
		s, err := st.SignIn(ctx, c)
		if err != nil || s.ID == u.ID {
			t.Fatalf("sign-in = %+v err %v", s, err)
		}
	})

	t.Run("ConcurrentFirstSignInsLinkOnce", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|c", "burst@acme.com")
		var wg sync.WaitGroup
		ids := make([]uuid.UUID, 20)
		errs := make([]error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := st.SignIn(ctx, target("k|c", "burst@acme.com", true))
				errs[i] = err
				if s != nil {
					ids[i] = s.ID
				}
			}()
		}
		wg.Wait()
		for i := range 20 {
			if errs[i] != nil || ids[i] != u.ID {
				t.Fatalf("sign-in %d: %v %v, want %v", i, ids[i], errs[i], u.ID)
			}
		}
		if n := countUsers(t, db, "keycloak-default", "k|c"); n != 1 || len(mustLinks(t, db, u.ID)) != 2 {
			t.Fatalf("users on the identity = %d, links %+v", n, mustLinks(t, db, u.ID))
		}
	})

	t.Run("ConcurrentFirstSignInsWithoutCandidateCreateOne", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.SignIn(ctx, target("k|new", "nobody@acme.com", true))
			}()
		}
		wg.Wait()
		for i := range 20 {
			if errs[i] != nil {
				t.Fatalf("sign-in %d: %v", i, errs[i])
			}
		}
		if n := countUsers(t, db, "keycloak-default", "k|new"); n != 1 {
			t.Fatalf("users = %d", n)
		}
	})
}

// The hot path of a known current identity stays one statement when its
// cache changes, with or without linking configured.
func TestSyncUserKnownIdentityStatements(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	st := directory.NewStore(db)
	tenant := mustTenant(t, db)
	mustUser(t, st, tenant, "keycloak-default", "k|hot", "hot@acme.com")
	for name, link := range map[string][]directory.LinkSource{"Plain": nil, "Linking": {{IdPID: "auth0-prod"}}} {
		t.Run(name, func(t *testing.T) {
			ctx, n := postgres.WithStatementCounter(context.Background())
			c := directory.Claims{IdPID: "keycloak-default", ExternalID: "k|hot", TenantID: tenant, Email: ptr(name + "@acme.com"),
				EmailVerified: true, LinkFrom: link, IssuedAt: time.Now()}
			if _, err := st.SignIn(ctx, c); err != nil {
				t.Fatal(err)
			}
			if got := n.Load(); got != 1 {
				t.Fatalf("%d statements, want 1", got)
			}
		})
	}
}
