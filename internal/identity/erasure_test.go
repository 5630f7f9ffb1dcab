package identity_test

import (
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/privacy"
)

// TestErasureCancelsQueuedChanges: a user erased while an identity change
// of theirs waits in the outbox. The erasure cancels the change and scrubs
// its values in the same transaction, so the DELETE is the only call the
// IdP sees and the outbox holds no PII of the user.
func TestErasureCancelsQueuedChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	s := e.service(50, identity.Options{})
	e.update(s, 0, "new-address@example.com")
	e.update(s, 0, "newer-address@example.com")
	e.update(s, 1, "other@example.com")
	sv := &privacy.Service{DB: e.db, Identity: s}
	out, err := sv.EraseUser(t.Context(), e.admin(), e.users[0])
	if err != nil {
		t.Fatal(err)
	}
	if out.IdPDeletion != privacy.DeletionQueued || out.CancelledChanges != 2 {
		t.Fatalf("erasure = %+v", out)
	}
	if n := e.count(`SELECT count(*) FROM identity.outbox WHERE user_id = $1
		AND (email IS NOT NULL OR full_name IS NOT NULL OR sent_email IS NOT NULL OR sent_full_name IS NOT NULL)`, e.users[0]); n != 0 {
		t.Fatalf("%d outbox rows still hold the erased user's PII", n)
	}
	s.Start(t.Context())
	defer s.Stop()
	e.waitFor(10*time.Second, "the deletion and the other user's change applied", func() bool {
		_, there := e.fake.Get("auth0|0")
		return !there && len(e.patchesOf("auth0|1")) == 1
	})
	for _, c := range e.fake.Calls() {
		if c.UserID == "auth0|0" && c.Method != "DELETE" {
			t.Fatalf("after the erasure the IdP got %s %s", c.Method, c.Path)
		}
	}
	if n := e.count(`SELECT count(*) FROM identity.outbox WHERE user_id = $1 AND state IN ('pending', 'running')`, e.users[0]); n != 0 {
		t.Fatalf("%d changes of the erased user still queued", n)
	}
}

// TestErasureWithoutAdminAdapter: the user's IdP has no admin section, so
// its deletion cannot be queued. The erasure still scrubs what the gateway
// holds, and says (and audits) that the IdP deletion was not queued.
func TestErasureWithoutAdminAdapter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.exec(`UPDATE directory.users SET idp_id = 'entra-no-admin' WHERE id = $1`, e.users[0])
	s := e.service(50, identity.Options{})
	sv := &privacy.Service{DB: e.db, Identity: s}
	out, err := sv.EraseUser(t.Context(), e.admin(), e.users[0])
	if err != nil {
		t.Fatalf("erasure refused: %v", err)
	}
	if out.IdPDeletion != privacy.DeletionNotConfigured || out.IdPDeletionQueued() {
		t.Fatalf("erasure = %+v", out)
	}
	recs, err := sv.FindErasures(t.Context(), privacy.SubjectUser, e.users[0])
	if err != nil || len(recs) != 1 || recs[0].IdPDeletion != privacy.DeletionNotConfigured {
		t.Fatalf("audit %+v err %v", recs, err)
	}
	if n := e.count(`SELECT count(*) FROM directory.users WHERE id = $1 AND erased_at IS NOT NULL AND email IS NULL AND full_name IS NULL`, e.users[0]); n != 1 {
		t.Fatal("the user was not scrubbed")
	}
	if n := e.count(`SELECT count(*) FROM identity.outbox WHERE user_id = $1`, e.users[0]); n != 0 {
		t.Fatalf("%d outbox rows for an IdP without admin", n)
	}
}
