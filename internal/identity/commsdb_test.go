package identity_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// TestProfileWithCommsInItsOwnDatabase: with comms in a database of its
// own, updateMyProfile changes the contact there and queues the IdP change
// in the main database. When the main commit fails after the comms one
// (here a deferred trigger refuses the outbox row at commit), the contact
// keeps its change, nothing is queued, and the same call again queues the
// IdP change: retrying completes it.
func TestProfileWithCommsInItsOwnDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.comms = pgtest.DB(t)
	contact := uuid.New()
	if _, err := e.comms.Exec(`INSERT INTO comms.contacts (id, tenant_id, user_id, full_name, email, phone)
		VALUES ($1, $2, $3, 'User 0', 'u0@example.com', '+4930901820')`, contact, e.tenant, e.users[0]); err != nil {
		t.Fatal(err)
	}
	s := e.service(50, identity.Options{})
	me := access.Scope{Role: access.RoleProvider, TenantID: e.tenant, UserID: e.users[0]}
	contactIn := func() (email, phone string) {
		t.Helper()
		if err := e.comms.QueryRow(`SELECT email, phone FROM comms.contacts WHERE id = $1`, contact).Scan(&email, &phone); err != nil {
			t.Fatal(err)
		}
		return email, phone
	}
	queued := func(email string) int {
		return e.count(`SELECT count(*) FROM identity.outbox WHERE user_id = $1 AND email = $2`, e.users[0], email)
	}

	// The main commit fails after comms committed.
	e.exec(`CREATE FUNCTION identity.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$`)
	e.exec(`CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON identity.outbox DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION identity.refuse()`)
	email, phone := "first@example.com", "+49 30 1234567"
	if _, err := s.UpdateMyProfile(context.Background(), me, identity.ProfileInput{Email: &email, Phone: &phone}); err == nil {
		t.Fatal("updateMyProfile succeeded although the main commit was refused")
	}
	if gotEmail, gotPhone := contactIn(); gotEmail != email || gotPhone != "+49301234567" {
		t.Fatalf("contact after the failed main commit: %s %s, want the change kept (comms commits first)", gotEmail, gotPhone)
	}
	if n := queued(email); n != 0 {
		t.Fatalf("%d IdP changes queued by the failed call, want 0", n)
	}

	// Retrying completes it.
	e.exec(`DROP TRIGGER refuse ON identity.outbox`)
	r, err := s.UpdateMyProfile(context.Background(), me, identity.ProfileInput{Email: &email, Phone: &phone})
	if err != nil {
		t.Fatal(err)
	}
	if r.Contact == nil || r.Contact.ID != contact || r.Contact.Phone == nil || *r.Contact.Phone != "+49301234567" {
		t.Fatalf("contact answered: %+v", r.Contact)
	}
	if n := queued(email); n != 1 {
		t.Fatalf("%d IdP changes queued by the retry, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM comms.contacts`); n != 0 {
		t.Fatalf("the main database's comms schema has %d contacts, want none", n)
	}
}
