package identity

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// A claim whose lease ran out and was taken over can no longer finish its
// job: the takeover's claim applies it, once.
func TestStaleClaimCannotFinish(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	s := New(db, directory.NewStore(db), comms.NewStore(db), map[string]providers.Admin{"dev": {AdminAdapter: dev.NewAdmin(), RequestsPerSecond: 50}}, Options{})
	tenant, user := uuid.New(), uuid.New()
	mustExec(t, db, `INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, tenant)
	mustExec(t, db, `INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email) VALUES ($1, $2, 'dev', 'x', 'old@example.com')`, user, tenant)
	email := "new@example.com"
	if err := postgres.Tx(t.Context(), db, func(tx *sqlx.Tx) error {
		_, err := enqueue(t.Context(), tx, job{UserID: user, IdPID: "dev", ExternalID: "x", Op: opUpdate, Email: &email})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	first, err := s.claim(t.Context(), []string{"dev"})
	if err != nil || first == nil {
		t.Fatalf("claim: %v %v", first, err)
	}
	if again, _ := s.claim(t.Context(), []string{"dev"}); again != nil {
		t.Fatal("a leased job was claimed twice")
	}
	mustExec(t, db, `UPDATE identity.outbox SET locked_until = now() - interval '1 second'`)
	second, err := s.claim(t.Context(), []string{"dev"})
	if err != nil || second == nil || second.Attempts != 2 {
		t.Fatalf("takeover: %+v %v", second, err)
	}
	stale := "stale@example.com"
	if err := s.applied(t.Context(), first, nil, &stale, nil); err != nil {
		t.Fatal(err)
	}
	var cached string
	if err := db.Get(&cached, `SELECT email FROM directory.users WHERE id = $1`, user); err != nil || cached != "old@example.com" {
		t.Fatalf("the stale claim finished the job: cache %q, %v", cached, err)
	}
	if err := s.applied(t.Context(), second, nil, &email, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&cached, `SELECT email FROM directory.users WHERE id = $1`, user); err != nil || cached != email {
		t.Fatalf("cache %q, %v", cached, err)
	}
	if st, _ := s.Status(t.Context(), user); st.Status != Applied || st.Attempts != 2 {
		t.Fatalf("status %+v", st)
	}
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}
