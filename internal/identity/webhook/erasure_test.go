package webhook_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestDeletionAtIdPErases: an Auth0 "sdu" event (a user deleted at the
// IdP) erases the user here as an erasure through the API does: the
// linked contact is scrubbed too, queued identity changes are cancelled
// and scrubbed, and the audit gets its record, without PII.
func TestDeletionAtIdPErases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("auth0-test", "auth0|sdu1", now.Add(-time.Hour))
	contact := uuid.New()
	e.exec(`INSERT INTO comms.contacts (id, tenant_id, user_id, full_name, email, phone)
		SELECT $1, tenant_id, id, 'Old Name', 'old@example.com', '+4930123456' FROM directory.users WHERE id = $2`, contact, id)
	e.exec(`INSERT INTO identity.outbox (user_id, idp_id, external_id, op, email, priority)
		VALUES ($1, 'auth0-test', 'auth0|sdu1', 'update', 'queued@example.com', 0)`, id)
	ev := map[string]any{"log_id": "910001", "data": map[string]any{"log_id": "910001", "date": now.Format(time.RFC3339), "type": "sdu", "user_id": "auth0|sdu1"}}
	body, _ := json.Marshal(ev)
	code, sum := e.post("/webhooks/auth0-test", body, map[string]string{"Authorization": secret, "Content-Type": "application/json"})
	if code != http.StatusOK || sum["applied"] != 1 {
		t.Fatalf("status %d summary %v", code, sum)
	}
	if c := e.cache(id); c.ErasedAt == nil || c.Email != nil || c.FullName != nil {
		t.Fatalf("user = %+v", c)
	}
	if n := e.count(`SELECT count(full_name) + count(email) + count(phone) FROM comms.contacts WHERE id = $1 AND erased_at IS NOT NULL`, contact); n != 0 {
		t.Fatalf("the linked contact keeps %d PII values", n)
	}
	if n := e.count(`SELECT count(*) FROM comms.contacts WHERE id = $1 AND erased_at IS NOT NULL`, contact); n != 1 {
		t.Fatal("the linked contact is not erased")
	}
	if n := e.count(`SELECT count(*) FROM identity.outbox WHERE user_id = $1 AND (state IN ('pending', 'running') OR email IS NOT NULL)`, id); n != 0 {
		t.Fatalf("%d identity changes of the deleted user left queued or holding PII", n)
	}
	if n := e.count(`SELECT count(*) FROM privacy.erasures WHERE subject_kind = 'user' AND subject_id = $1 AND $2 = ANY(related_ids)
		AND 'user.email' = ANY(fields) AND 'contact.phone' = ANY(fields)`, id, contact); n != 1 {
		t.Fatalf("%d audit records of the deletion", n)
	}
	// Redelivered: nothing more happens.
	if code, sum := e.post("/webhooks/auth0-test", body, map[string]string{"Authorization": secret}); code != http.StatusOK || sum["duplicate"] != 1 {
		t.Fatalf("redelivery: status %d summary %v", code, sum)
	}
	if n := e.count(`SELECT count(*) FROM privacy.erasures WHERE subject_id = $1`, id); n != 1 {
		t.Fatalf("%d audit records after the redelivery", n)
	}
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}
