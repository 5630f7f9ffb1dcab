package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/postgres"
)

const idpMigrationQuery = `query($id: ID!) { idpMigration(id: $id) {
	id fromIdpId toIdpId tenantId state total done failed skipped remaining startedAt finishedAt failures { reason count } } }`

func TestIdPMigration(t *testing.T) {
	e := newIdentityEnv(t, identity.Options{})
	tn := e.tenant("T")
	moved := e.user(tn, "auth0-prod", "moved@example.com", "Moved")
	var users []uuid.UUID
	for range 4 {
		users = append(users, e.user(tn, "auth0-prod", "", "U"))
	}
	id := uuid.New()
	e.exec(`INSERT INTO identity.migrations (id, from_idp, to_idp, grace) VALUES ($1, 'auth0-prod', 'keycloak-default', interval '1 hour')`, id)
	e.exec(`INSERT INTO identity.migration_users (migration_id, user_id, state, reason) VALUES
		($1, $2, 'done', NULL), ($1, $3, 'failed', 'duplicate_email'), ($1, $4, 'failed', 'duplicate_email'),
		($1, $5, 'failed', 'unverified_email'), ($1, $6, 'pending', NULL)`, id, moved, users[0], users[1], users[2], users[3])

	t.Run("Internal", func(t *testing.T) {
		d := e.ok(internal(), idpMigrationQuery, map[string]any{"id": id.String()})
		m := path(d, "idpMigration")
		for k, want := range map[string]any{"id": id.String(), "fromIdpId": "auth0-prod", "toIdpId": "keycloak-default",
			"tenantId": nil, "state": "RUNNING", "total": 5.0, "done": 1.0, "failed": 3.0, "skipped": 0.0, "remaining": 1.0, "finishedAt": nil} {
			if got := path(m, k); got != want {
				t.Errorf("%s = %v, want %v", k, got, want)
			}
		}
		if path(m, "failures", 0, "reason") != "DUPLICATE_EMAIL" || path(m, "failures", 0, "count") != 2.0 ||
			path(m, "failures", 1, "reason") != "UNVERIFIED_EMAIL" || path(m, "failures", 1, "count") != 1.0 {
			t.Errorf("failures %v", path(m, "failures"))
		}
	})

	t.Run("NotFoundIsNull", func(t *testing.T) {
		d := e.ok(internal(), idpMigrationQuery, map[string]any{"id": uuid.NewString()})
		if path(d, "idpMigration") != nil {
			t.Errorf("got %v", d)
		}
	})

	t.Run("OthersAreForbidden", func(t *testing.T) {
		for _, s := range []*access.Scope{admin(tn), {Role: access.RoleProvider, TenantID: tn, UserID: moved}} {
			r := e.query(s, idpMigrationQuery, map[string]any{"id": id.String()})
			if c := r.code(t); c != "FORBIDDEN" {
				t.Errorf("%s: code %s", s.Role, c)
			}
			if path(r.Data, "idpMigration") != nil {
				t.Errorf("%s read %v", s.Role, r.Data)
			}
		}
		if r := e.query(nil, idpMigrationQuery, map[string]any{"id": id.String()}); r.code(t) != "UNAUTHENTICATED" {
			t.Errorf("anonymous: %+v", r.Errors)
		}
	})

	t.Run("BadIDIsBadUserInput", func(t *testing.T) {
		r := e.query(internal(), idpMigrationQuery, map[string]any{"id": "not-a-uuid"})
		if c := r.code(t); c != "BAD_USER_INPUT" {
			t.Errorf("code %s", c)
		}
		for _, er := range r.Errors {
			if containsAt(er.Message) {
				t.Errorf("message holds an email: %q", er.Message)
			}
		}
	})

	t.Run("IdPIDShowsTheTargetOnceRepointed", func(t *testing.T) {
		q := `query($id: ID!) { user(id: $id) { id idpId } }`
		if got := path(e.ok(internal(), q, map[string]any{"id": moved.String()}), "user", "idpId"); got != "auth0-prod" {
			t.Fatalf("before: %v", got)
		}
		var ext string
		if err := e.db.Get(&ext, `SELECT external_id FROM directory.users WHERE id = $1`, moved); err != nil {
			t.Fatal(err)
		}
		if err := postgres.Tx(context.Background(), e.db, func(tx *sqlx.Tx) error {
			_, err := directory.Repoint(context.Background(), tx, moved, directory.IdentityRef{IdPID: "auth0-prod", ExternalID: ext},
				directory.IdentityRef{IdPID: "keycloak-default", ExternalID: "kc-1"}, time.Hour)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		d := e.ok(internal(), q, map[string]any{"id": moved.String()})
		if path(d, "user", "idpId") != "keycloak-default" || path(d, "user", "id") != moved.String() {
			t.Errorf("after: %v", d)
		}
	})
}
