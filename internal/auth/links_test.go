package auth_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/postgres"
)

// migrating is the rig's verifier again, with the Keycloak adapter as the
// target of a migration from the Auth0 one, configured by edit.
func migrating(t *testing.T, r *rig, edit func(kc *idp.Config)) *auth.Verifier {
	t.Helper()
	kc := r.keycloakCfg
	edit(&kc)
	v, err := auth.New([]idp.Config{r.auth0Cfg, kc}, directory.NewStore(r.db), auth.Options{
		Log: slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { return time.Now().Add(time.Duration(r.clock.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func linkOnSignIn(kc *idp.Config) {
	kc.TrustEmailVerified = true
	kc.MigrateSources = []idp.MigrateFrom{{IdP: "auth0-prod", Grace: idp.Duration(time.Hour), LinkOnSignIn: true}}
}

func (r *rig) keycloakToken(t *testing.T, subject, email string, extra map[string]any) string {
	t.Helper()
	claims := rolesClaim(idp.KindKeycloak, "portal-admin")
	for k, v := range extra {
		claims[k] = v
	}
	return r.keycloak.mint(t, dev.Claims{Subject: subject, Email: email, Name: "Jane Doe", Extra: claims})
}

func on(v *auth.Verifier, tok string) (access.Scope, int64, error) {
	return authenticateCounted(v, tok)
}

func userOf(t *testing.T, db *sqlx.DB, idpID, sub string) uuid.UUID {
	t.Helper()
	id, ok, err := directory.LinkedUser(context.Background(), db, directory.IdentityRef{IdPID: idpID, ExternalID: sub})
	if err != nil || !ok {
		t.Fatalf("no user linked to %s/%s: %v", idpID, sub, err)
	}
	return id
}

func TestJustInTimeLinkingThroughTokens(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	v := migrating(t, r, linkOnSignIn)
	signInOld := func(t *testing.T, sub, email string) uuid.UUID {
		t.Helper()
		s, _, err := on(v, r.auth0.mint(t, dev.Claims{Subject: sub, TenantID: r.tenant, Email: email,
			Extra: map[string]any{rolesNS: []string{"portal-provider"}}}))
		if err != nil {
			t.Fatal(err)
		}
		return s.UserID
	}

	t.Run("VerifiedEmailLinks", func(t *testing.T) {
		old := signInOld(t, "auth0|v", "v@acme.com")
		s, _, err := on(v, r.keycloakToken(t, "kc-v", "V@acme.com", map[string]any{"email_verified": true}))
		if err != nil || s.UserID != old {
			t.Fatalf("scope %+v err %v, want user %v", s, err, old)
		}
	})

	t.Run("StringTrueIsVerified", func(t *testing.T) {
		old := signInOld(t, "auth0|s", "s@acme.com")
		s, _, err := on(v, r.keycloakToken(t, "kc-s", "s@acme.com", map[string]any{"email_verified": "true"}))
		if err != nil || s.UserID != old {
			t.Fatalf("scope %+v err %v, want user %v", s, err, old)
		}
	})

	t.Run("UnverifiedEmailCreates", func(t *testing.T) {
		old := signInOld(t, "auth0|u", "u@acme.com")
		for i, ev := range []any{false, "false", "yes", nil} {
			extra := map[string]any{"jti": uuid.NewString()}
			if ev != nil {
				extra["email_verified"] = ev
			}
			sub := "kc-u" + string(rune('a'+i))
			s, _, err := on(v, r.keycloakToken(t, sub, "u@acme.com", extra))
			if err != nil || s.UserID == old {
				t.Fatalf("email_verified %v: scope %+v err %v", ev, s, err)
			}
		}
	})

	t.Run("AmbiguousRefusedWithAReasonOnly", func(t *testing.T) {
		signInOld(t, "auth0|d1", "dup@acme.com")
		signInOld(t, "auth0|d2", "dup@acme.com")
		_, _, err := on(v, r.keycloakToken(t, "kc-d", "dup@acme.com", map[string]any{"email_verified": true}))
		if !refused(err) || err.Error() != "sign-in required" {
			t.Fatalf("err = %v", err)
		}
		logs := r.logs.String()
		if !strings.Contains(logs, `"reason":"ambiguous_link"`) || strings.Contains(logs, "dup@acme.com") {
			t.Fatalf("logs:\n%s", logs)
		}
	})

	t.Run("OffByDefault", func(t *testing.T) {
		plain := migrating(t, r, func(*idp.Config) {})
		old := signInOld(t, "auth0|off", "off@acme.com")
		s, _, err := on(plain, r.keycloakToken(t, "kc-off", "off@acme.com", map[string]any{"email_verified": true}))
		if err != nil || s.UserID == old {
			t.Fatalf("scope %+v err %v", s, err)
		}
	})

	t.Run("TrustWithoutLinkingLinksNothing", func(t *testing.T) {
		trusting := migrating(t, r, func(kc *idp.Config) {
			kc.TrustEmailVerified = true
			kc.MigrateSources = []idp.MigrateFrom{{IdP: "auth0-prod", Grace: idp.Duration(time.Hour)}}
		})
		old := signInOld(t, "auth0|nolink", "nolink@acme.com")
		s, _, err := on(trusting, r.keycloakToken(t, "kc-nolink", "nolink@acme.com", map[string]any{"email_verified": true}))
		if err != nil || s.UserID == old {
			t.Fatalf("scope %+v err %v", s, err)
		}
	})

	t.Run("UnknownSourceRefusedAtStart", func(t *testing.T) {
		kc := r.keycloakCfg
		kc.TrustEmailVerified = true
		kc.MigrateSources = []idp.MigrateFrom{{IdP: "okta-old"}}
		_, err := auth.New([]idp.Config{r.auth0Cfg, kc}, directory.NewStore(r.db), auth.Options{})
		if err == nil || !strings.Contains(err.Error(), `"okta-old" is not a configured adapter`) {
			t.Fatalf("err = %v", err)
		}
	})
}

// A token of an identity its user moved away from keeps resolving within
// the grace, but the cache never holds it past accept_until; after the
// grace it is refused with its own reason.
func TestMovedIdentityGrace(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	v := migrating(t, r, linkOnSignIn)
	old := r.auth0Token(t, "auth0|grace", nil)
	s, _, err := on(v, old)
	if err != nil {
		t.Fatal(err)
	}
	user := s.UserID
	err = postgres.Tx(context.Background(), r.db, func(tx *sqlx.Tx) error {
		_, err := directory.Repoint(context.Background(), tx, user, directory.IdentityRef{IdPID: "auth0-prod", ExternalID: "auth0|grace"},
			directory.IdentityRef{IdPID: "keycloak-default", ExternalID: "kc-grace"}, 10*time.Minute)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// No listener here: the cached entry of the old token may stay up to a
	// minute; a fresh token of the old identity is verified and resolves.
	fresh := r.auth0Token(t, "auth0|grace", map[string]any{"jti": "fresh"})
	if s, _, err := on(v, fresh); err != nil || s.UserID != user {
		t.Fatalf("within the grace: %+v %v", s, err)
	}
	if _, n, err := on(v, fresh); err != nil || n != 0 {
		t.Fatalf("second use: %d statements, %v; want a cache hit", n, err)
	}
	r.clock.Add(int64(15 * time.Minute)) // past accept_until on the verifier's clock, not the token's exp
	if _, n, err := on(v, fresh); err != nil || n == 0 {
		t.Fatalf("past accept_until: %d statements, %v; want the cache capped", n, err)
	}
	if s, _, err := on(v, r.keycloakToken(t, "kc-grace", "", nil)); err != nil || s.UserID != user {
		t.Fatalf("new identity: %+v %v", s, err)
	}

	if _, err := r.db.Exec(`UPDATE directory.identity_links SET accept_until = now() - interval '1 second'
		WHERE user_id = $1 AND unlinked_at IS NOT NULL`, user); err != nil {
		t.Fatal(err)
	}
	r.clock.Store(int64(2 * time.Minute)) // past the cache's TTL, within the token's exp
	_, _, err = on(v, r.auth0Token(t, "auth0|grace", map[string]any{"jti": "late"}))
	if !refused(err) || err.Error() != "sign-in required" {
		t.Fatalf("after the grace: %v", err)
	}
	if !strings.Contains(r.logs.String(), `"reason":"identity_moved"`) {
		t.Fatalf("the refusal is not logged as identity_moved:\n%s", r.logs.String())
	}
	if got := userOf(t, r.db, "auth0-prod", "auth0|grace"); got != user {
		t.Fatalf("the old identity is linked to %v", got)
	}
}

// A repoint drops the user's cached sign-ins on every replica when it
// commits, as an erasure does; others keep theirs.
func TestRepointDropsCachedSignInsOnEveryReplica(t *testing.T) {
	t.Parallel()
	r := newReplicas(t)
	ctx := context.Background()
	bystander := r.token(t, "auth0|stays")
	r.signIn(t, bystander)
	tok := r.token(t, "auth0|moves")
	user := r.signIn(t, tok)
	err := postgres.Tx(ctx, r.db, func(tx *sqlx.Tx) error {
		_, err := directory.Repoint(ctx, tx, user, directory.IdentityRef{IdPID: "auth0-prod", ExternalID: "auth0|moves"},
			directory.IdentityRef{IdPID: "keycloak-default", ExternalID: "kc-moves"}, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r.refusedSoon(t, tok) // grace 0: refused once the cache forgot it
	for i, v := range r.vs {
		if n := auth.CachedTokens(v); n != 1 {
			t.Fatalf("replica %d caches %d tokens, want the other user's only", i, n)
		}
		if _, err := authenticateOn(v, bystander); err != nil {
			t.Fatalf("replica %d refuses another user: %v", i, err)
		}
	}
}

// A repoint rolled back notifies nobody: the cache keeps the user.
func TestRepointRolledBackKeepsTheCache(t *testing.T) {
	t.Parallel()
	r := newReplicas(t)
	ctx := context.Background()
	tok := r.token(t, "auth0|stays")
	user := r.signIn(t, tok)
	tx, err := r.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := directory.Repoint(ctx, tx, user, directory.IdentityRef{IdPID: "auth0-prod", ExternalID: "auth0|stays"},
		directory.IdentityRef{IdPID: "keycloak-default", ExternalID: "kc-stays"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a notice, were there one, would have come
	for i, v := range r.vs {
		if _, n, err := authenticateCounted(v, tok); err != nil || n != 0 {
			t.Fatalf("replica %d: %d statements, %v; want a cache hit", i, n, err)
		}
	}
}
