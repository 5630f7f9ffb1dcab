package directory_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// mustUser signs a user in for the first time on (idpID, sub).
func mustUser(t *testing.T, st *directory.Store, tenant uuid.UUID, idpID, sub, email string) *directory.User {
	t.Helper()
	u, err := st.SyncUser(context.Background(), directory.Claims{IdPID: idpID, ExternalID: sub, TenantID: tenant,
		Email: ptr(email), FullName: ptr("N"), IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// repoint runs directory.Repoint in a transaction of its own.
func repoint(t *testing.T, db *sqlx.DB, id uuid.UUID, from, to directory.IdentityRef, grace time.Duration) (*directory.User, error) {
	t.Helper()
	var u *directory.User
	err := postgres.Tx(context.Background(), db, func(tx *sqlx.Tx) (err error) {
		u, err = directory.Repoint(context.Background(), tx, id, from, to, grace)
		return err
	})
	return u, err
}

func mustLinks(t *testing.T, db *sqlx.DB, id uuid.UUID) []directory.IdentityLink {
	t.Helper()
	links, err := directory.FindIdentityLinks(context.Background(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	return links
}

func TestIdentityLinks(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	st := directory.NewStore(db)
	ctx := context.Background()
	tenant := mustTenant(t, db)
	auth0 := func(sub string) directory.IdentityRef {
		return directory.IdentityRef{IdPID: "auth0-prod", ExternalID: sub}
	}
	kc := func(sub string) directory.IdentityRef {
		return directory.IdentityRef{IdPID: "keycloak-default", ExternalID: sub}
	}

	t.Run("InsertRecordsTheLink", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|insert", "i@acme.com")
		links := mustLinks(t, db, u.ID)
		if len(links) != 1 || links[0].IdentityRef != auth0("a|insert") || links[0].UnlinkedAt != nil || links[0].AcceptUntil != nil {
			t.Fatalf("links = %+v", links)
		}
		if id, ok, err := directory.LinkedUser(ctx, db, auth0("a|insert")); err != nil || !ok || id != u.ID {
			t.Fatalf("LinkedUser = %v %v %v", id, ok, err)
		}
		if _, ok, err := directory.LinkedUser(ctx, db, auth0("a|nobody")); err != nil || ok {
			t.Fatalf("LinkedUser of an unknown identity = %v %v", ok, err)
		}
	})

	t.Run("RepointKeepsIDAndHistory", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|move", "m@acme.com")
		before := time.Now()
		got, err := repoint(t, db, u.ID, auth0("a|move"), kc("k|move"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != u.ID || got.IdPID != "keycloak-default" || got.ExternalID != "k|move" || *got.Email != "m@acme.com" {
			t.Fatalf("repointed user = %+v", got)
		}
		links := mustLinks(t, db, u.ID)
		if len(links) != 2 || links[0].IdentityRef != auth0("a|move") || links[1].IdentityRef != kc("k|move") {
			t.Fatalf("links = %+v", links)
		}
		old, cur := links[0], links[1]
		if old.UnlinkedAt == nil || old.AcceptUntil == nil || cur.UnlinkedAt != nil || cur.AcceptUntil != nil {
			t.Fatalf("links = %+v", links)
		}
		if d := old.AcceptUntil.Sub(*old.UnlinkedAt); d != time.Hour {
			t.Fatalf("grace = %v, want 1h", d)
		}
		if old.UnlinkedAt.Before(before.Add(-time.Second)) {
			t.Fatalf("unlinked_at = %v, before the repoint", old.UnlinkedAt)
		}
		for _, ref := range []directory.IdentityRef{auth0("a|move"), kc("k|move")} {
			if id, ok, err := directory.LinkedUser(ctx, db, ref); err != nil || !ok || id != u.ID {
				t.Fatalf("LinkedUser(%v) = %v %v %v", ref, id, ok, err)
			}
		}
	})

	t.Run("ErrConflictNotOnFrom", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|stale", "s@acme.com")
		_, err := repoint(t, db, u.ID, auth0("a|other"), kc("k|stale"), 0)
		if apperr.KindOf(err) != apperr.Conflict {
			t.Fatalf("err = %v", err)
		}
		if _, ok, _ := directory.LinkedUser(ctx, db, kc("k|stale")); ok {
			t.Fatal("a refused repoint recorded a link")
		}
	})

	t.Run("ErrConflictTargetTaken", func(t *testing.T) {
		a := mustUser(t, st, tenant, "auth0-prod", "a|x", "x@acme.com")
		b := mustUser(t, st, tenant, "keycloak-default", "k|taken", "y@acme.com")
		if _, err := repoint(t, db, a.ID, auth0("a|x"), kc("k|taken"), 0); apperr.KindOf(err) != apperr.Conflict {
			t.Fatalf("current link of another user: err = %v", err)
		}
		// b moves away from k|taken: its ended link still belongs to b forever.
		if _, err := repoint(t, db, b.ID, kc("k|taken"), kc("k|taken2"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := repoint(t, db, a.ID, auth0("a|x"), kc("k|taken"), 0); apperr.KindOf(err) != apperr.Conflict {
			t.Fatalf("ended link of another user: err = %v", err)
		}
		// Nor may a user go back to an identity it had.
		if _, err := repoint(t, db, b.ID, kc("k|taken2"), kc("k|taken"), 0); apperr.KindOf(err) != apperr.Conflict {
			t.Fatalf("own ended link: err = %v", err)
		}
	})

	t.Run("ErrConflictErased", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|erased", "e@acme.com")
		if _, err := db.Exec(`UPDATE directory.users SET erased_at = now(), email = NULL WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		_, err := repoint(t, db, u.ID, auth0("a|erased"), kc("k|erased"), 0)
		if apperr.KindOf(err) != apperr.Conflict {
			t.Fatalf("err = %v", err)
		}
		if m := apperr.As(err).Message; strings.Contains(m, "acme") || strings.Contains(m, "a|erased") {
			t.Fatalf("message %q carries PII", m)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := repoint(t, db, uuid.New(), auth0("a|none"), kc("k|none"), 0); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("OtherPathsKeepTheHistory", func(t *testing.T) {
		// An update of users that bypasses Repoint still ends the link (at
		// once) and records the new one.
		u := mustUser(t, st, tenant, "auth0-prod", "a|raw", "r@acme.com")
		if _, err := db.Exec(`UPDATE directory.users SET external_id = 'a|raw2' WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		links := mustLinks(t, db, u.ID)
		if len(links) != 2 || links[0].UnlinkedAt == nil || !links[0].AcceptUntil.Equal(*links[0].UnlinkedAt) ||
			links[1].IdentityRef != auth0("a|raw2") || links[1].UnlinkedAt != nil {
			t.Fatalf("links = %+v", links)
		}
		// And an insert of a user on an identity that was anyone's fails.
		_, err := db.Exec(`INSERT INTO directory.users (tenant_id, idp_id, external_id) VALUES ($1, 'auth0-prod', 'a|raw')`, tenant)
		if apperr.KindOf(postgres.Translate(err, "insert")) != apperr.Conflict {
			t.Fatalf("insert on an ended identity: err = %v", err)
		}
	})

	t.Run("UserWithoutALinkGetsItsHistory", func(t *testing.T) {
		// As seed.Bulk loads users, with the triggers off.
		u := mustUser(t, st, tenant, "auth0-prod", "a|bulk", "b@acme.com")
		if _, err := db.Exec(`DELETE FROM directory.identity_links WHERE user_id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := repoint(t, db, u.ID, auth0("a|bulk"), kc("k|bulk"), time.Hour); err != nil {
			t.Fatal(err)
		}
		links := mustLinks(t, db, u.ID)
		if len(links) != 2 || links[0].IdentityRef != auth0("a|bulk") || links[0].AcceptUntil.Sub(*links[0].UnlinkedAt) != time.Hour ||
			links[1].IdentityRef != kc("k|bulk") || links[1].UnlinkedAt != nil {
			t.Fatalf("links = %+v", links)
		}
	})

	t.Run("ErasureEndsTheGrace", func(t *testing.T) {
		u := mustUser(t, st, tenant, "auth0-prod", "a|gone", "g@acme.com")
		if _, err := repoint(t, db, u.ID, auth0("a|gone"), kc("k|gone"), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE directory.users SET erased_at = now(), email = NULL WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		if old := mustLinks(t, db, u.ID)[0]; old.AcceptUntil.After(time.Now().Add(time.Minute)) {
			t.Fatalf("accept_until = %v after the erasure", old.AcceptUntil)
		}
	})
}

func TestRepointNotifies(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := directory.NewStore(db)
	u := mustUser(t, st, mustTenant(t, db), "auth0-prod", "a|n", "n@acme.com")
	l := pq.NewListener(url, 10*time.Millisecond, time.Second, nil)
	defer l.Close()
	if err := l.Listen(directory.RepointChannel); err != nil {
		t.Fatal(err)
	}
	if _, err := repoint(t, db, u.ID, directory.IdentityRef{IdPID: "auth0-prod", ExternalID: "a|n"},
		directory.IdentityRef{IdPID: "keycloak-default", ExternalID: "k|n"}, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-l.Notify:
		if n == nil || n.Extra != u.ID.String() {
			t.Fatalf("notice = %+v, want the user id", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notice of the repoint")
	}
}
