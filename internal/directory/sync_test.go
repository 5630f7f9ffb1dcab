package directory_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func mustTenant(t *testing.T, db *sqlx.DB) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := db.Exec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func ptr(s string) *string { return &s }

func TestSyncUser(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	st := directory.NewStore(db)
	ctx := context.Background()
	tenant := mustTenant(t, db)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	claims := directory.Claims{IdPID: "auth0-prod", ExternalID: "auth0|1", TenantID: tenant,
		Email: ptr("a@acme.com"), FullName: ptr("A"), IssuedAt: t0}
	updatedAt := func(id uuid.UUID) time.Time {
		var ts time.Time
		if err := db.Get(&ts, `SELECT updated_at FROM directory.users WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		return ts
	}

	first, err := st.SyncUser(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("SameClaimsWriteNothing", func(t *testing.T) {
		before := updatedAt(first.ID)
		c := claims
		c.IssuedAt = t0.Add(time.Minute)
		u, err := st.SyncUser(ctx, c)
		if err != nil || u.ID != first.ID {
			t.Fatalf("user %v err %v", u, err)
		}
		if !updatedAt(first.ID).Equal(before) {
			t.Fatal("an unchanged sign-in wrote the row")
		}
	})

	t.Run("NewerTokenRefreshesCache", func(t *testing.T) {
		c := claims
		c.Email, c.IssuedAt = ptr("new@acme.com"), t0.Add(2*time.Minute)
		u, err := st.SyncUser(ctx, c)
		if err != nil || *u.Email != "new@acme.com" || u.ID != first.ID {
			t.Fatalf("user %+v err %v", u, err)
		}
	})

	t.Run("OlderTokenDoesNotOverwrite", func(t *testing.T) {
		c := claims
		c.Email, c.IssuedAt = ptr("stale@acme.com"), t0.Add(-time.Minute)
		u, err := st.SyncUser(ctx, c)
		if err != nil || *u.Email != "new@acme.com" {
			t.Fatalf("stale token overwrote the cache: %v %v", u.Email, err)
		}
	})

	t.Run("TokenWithoutEmailOrNameKeepsTheCache", func(t *testing.T) {
		// A token that carries no email or name claim says nothing of them:
		// the cache keeps what the IdP last said.
		c := claims
		c.Email, c.FullName, c.IssuedAt = nil, nil, t0.Add(3*time.Minute)
		u, err := st.SyncUser(ctx, c)
		if err != nil || u.Email == nil || *u.Email != "new@acme.com" || u.FullName == nil || *u.FullName != "A" {
			t.Fatalf("a token without claims cleared the cache: %+v %v", u, err)
		}
	})

	t.Run("OtherTenantIsRefused", func(t *testing.T) {
		c := claims
		c.TenantID = mustTenant(t, db)
		c.IssuedAt = t0.Add(time.Hour)
		if _, err := st.SyncUser(ctx, c); apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("UnknownTenantIsRefused", func(t *testing.T) {
		c := claims
		c.ExternalID, c.TenantID = "auth0|other", uuid.New()
		if _, err := st.SyncUser(ctx, c); apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("ErasedUserIsRefused", func(t *testing.T) {
		c := claims
		c.ExternalID = "auth0|erased"
		u, err := st.SyncUser(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE directory.users SET erased_at = now(), email = NULL, full_name = NULL WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		c.IssuedAt = time.Now()
		if _, err := st.SyncUser(ctx, c); apperr.KindOf(err) != apperr.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
		var email *string
		_ = db.Get(&email, `SELECT email FROM directory.users WHERE id = $1`, u.ID)
		if email != nil {
			t.Fatal("sign-in wrote PII back into an erased user")
		}
	})
}

func TestSyncUserBurstCreatesOneUser(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	st := directory.NewStore(db)
	tenant := mustTenant(t, db)
	var wg sync.WaitGroup
	ids := make([]uuid.UUID, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := st.SyncUser(context.Background(), directory.Claims{IdPID: "keycloak-default", ExternalID: "kc-1",
				TenantID: tenant, Email: ptr("b@acme.com"), FullName: ptr("B"), IssuedAt: time.Now()})
			errs[i] = err
			if u != nil {
				ids[i] = u.ID
			}
		}()
	}
	wg.Wait()
	for i := range 100 {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("request %d: id %v err %v (first %v)", i, ids[i], errs[i], ids[0])
		}
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM directory.users WHERE idp_id = 'keycloak-default' AND external_id = 'kc-1'`); err != nil || n != 1 {
		t.Fatalf("users = %d (%v), want 1", n, err)
	}
}
