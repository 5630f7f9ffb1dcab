package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/dev/devtest"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// open opens a small pool to url, closed when the test ends.
func open(t *testing.T, url string) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// gql sends one GraphQL request with variables and decodes its answer into out.
func gql(t *testing.T, base, authorization, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if res.StatusCode != http.StatusOK || strings.Contains(string(raw), `"errors"`) {
		t.Fatalf("%d %s", res.StatusCode, raw)
	}
}

// phoneIn is the phone of contact id in db's comms schema.
func phoneIn(t *testing.T, db *sqlx.DB, id uuid.UUID) string {
	t.Helper()
	var p *string
	if err := db.Get(&p, `SELECT phone FROM comms.contacts WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if p == nil {
		return ""
	}
	return *p
}

// TestServeWithCommsInItsOwnDatabase runs the whole API through `serve
// -migrate` with COMMS_DATABASE_URL naming an empty database of its own:
// serve migrates it, a signed-in user's updateMyProfile writes the phone
// there, and reads of it (the mutation's answer, me.contact) come from
// there. The main database keeps a stale copy of the contact in its comms
// schema, as after comms moved out of it; that copy must stay untouched.
func TestServeWithCommsInItsOwnDatabase(t *testing.T) {
	mainURL, commsURL := pgtest.URL(t), pgtest.EmptyURL(t)
	mainDB, commsDB := open(t, mainURL), open(t, commsURL)
	tenant, user, contact := uuid.New(), uuid.New(), uuid.New()
	const ext, oldPhone = "kc-person-1", "+4930901820"
	mainDB.MustExec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, tenant)
	mainDB.MustExec(`INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name, synced_at)
		VALUES ($1, $2, 'keycloak-default', $3, 'ada@example.com', 'Ada', now())`, user, tenant, ext)

	iss := devtest.Issuer(t, nil)
	env := map[string]string{
		"DATABASE_URL": mainURL, "COMMS_DATABASE_URL": commsURL, "LISTEN_ADDR": "127.0.0.1:0", "KC_ISSUER": iss.URL(),
		"CURSOR_SECRETS": testCursorSecret,
		"IDP_CONFIG": idpFile(t, `idps: [{id: keycloak-default, kind: keycloak, issuer: "${KC_ISSUER}", audiences: [portal-gateway],
  tenant_claim: tenant_id, roles_claim: roles, role_map: {admin: admin}}]`),
	}
	_, base := start(t, env, regexp.MustCompile(`^GraphQL: (http://\S+)/graphql$`), "serve", "-migrate")

	// serve -migrate gave the comms database its schema.
	for name, db := range map[string]*sqlx.DB{"comms": commsDB, "main": mainDB} {
		if _, err := db.Exec(`INSERT INTO comms.contacts (id, tenant_id, user_id, full_name, email, phone)
			VALUES ($1, $2, $3, 'Ada', 'ada@example.com', $4)`, contact, tenant, user, oldPhone); err != nil {
			t.Fatalf("contact in the %s database: %v", name, err)
		}
	}
	tok, err := iss.Mint(dev.Claims{Subject: ext, TenantID: tenant, Role: access.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	authz := "Bearer " + tok

	var up struct {
		Data struct {
			UpdateMyProfile struct {
				Contact *struct{ ID, Phone string }
			}
		}
	}
	gql(t, base, authz, `mutation($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { contact { id phone } } }`,
		map[string]any{"input": map[string]any{"phone": "+49 30 1234567"}}, &up)
	const newPhone = "+49301234567"
	if c := up.Data.UpdateMyProfile.Contact; c == nil || c.ID != contact.String() || c.Phone != newPhone {
		t.Fatalf("updateMyProfile answered contact %+v, want %s with %s", c, contact, newPhone)
	}

	var me struct {
		Data struct {
			Me struct {
				Contact *struct{ Phone string }
			}
		}
	}
	gql(t, base, authz, `{ me { contact { phone } } }`, nil, &me)
	if c := me.Data.Me.Contact; c == nil || c.Phone != newPhone {
		t.Fatalf("me.contact = %+v, want the phone %s", c, newPhone)
	}

	if got := phoneIn(t, commsDB, contact); got != newPhone {
		t.Errorf("comms database holds phone %q, want %q", got, newPhone)
	}
	if got := phoneIn(t, mainDB, contact); got != oldPhone {
		t.Errorf("main database's comms schema holds phone %q, want it untouched (%q)", got, oldPhone)
	}
}

// migrated is whether db has the comms schema's contacts table.
func migrated(t *testing.T, db *sqlx.DB) bool {
	t.Helper()
	var ok bool
	if err := db.Get(&ok, `SELECT to_regclass('comms.contacts') IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestMigrateUpMigratesTheCommsDatabaseToo: with COMMS_DATABASE_URL
// naming another database, `migrate up` migrates both, `migrate status`
// lists both and `migrate down` rolls back the newest on both.
func TestMigrateUpMigratesTheCommsDatabaseToo(t *testing.T) {
	mainURL, commsURL := pgtest.EmptyURL(t), pgtest.EmptyURL(t)
	env := map[string]string{"DATABASE_URL": mainURL, "COMMS_DATABASE_URL": commsURL}
	migrate := func(cmd string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), []string{"migrate", cmd}, func(k string) string { return env[k] }, &out); err != nil {
			t.Fatalf("migrate %s: %v\n%s", cmd, err, out.String())
		}
		return out.String()
	}
	migrate("up")
	mainDB, commsDB := open(t, mainURL), open(t, commsURL)
	if !migrated(t, mainDB) || !migrated(t, commsDB) {
		t.Fatalf("after migrate up: main migrated %v, comms migrated %v; want both", migrated(t, mainDB), migrated(t, commsDB))
	}
	status := migrate("status")
	if !strings.Contains(status, "main database") || !strings.Contains(status, "comms database") {
		t.Fatalf("status names not both databases:\n%s", status)
	}
	pending := func(db *sqlx.DB) int {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM goose_db_version WHERE is_applied AND version_id > 0`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := pending(commsDB)
	migrate("down")
	if got := pending(commsDB); got != before-1 {
		t.Fatalf("comms database has %d applied migrations after migrate down, want %d", got, before-1)
	}
	if pending(mainDB) != before-1 {
		t.Fatalf("main database has %d applied migrations after migrate down, want %d", pending(mainDB), before-1)
	}
	for _, u := range []string{mainURL, commsURL} {
		if strings.Contains(status, u) {
			t.Fatalf("status prints a database URL:\n%s", status)
		}
	}
}

// TestServeMigrateMigratesTheCommsDatabase: `serve -migrate` migrates the
// comms database when COMMS_DATABASE_URL names another one.
func TestServeMigrateMigratesTheCommsDatabase(t *testing.T) {
	commsURL := pgtest.EmptyURL(t)
	startServe(t, map[string]string{"COMMS_DATABASE_URL": commsURL})
	if !migrated(t, open(t, commsURL)) {
		t.Fatal("serve -migrate left the comms database without its schema")
	}
}

// TestSeedRefusesCommsInItsOwnDatabase: seed writes every context into
// DATABASE_URL, so it refuses to run when comms lives elsewhere rather
// than fill a comms schema nothing reads.
func TestSeedRefusesCommsInItsOwnDatabase(t *testing.T) {
	mainURL, commsURL := pgtest.URL(t), pgtest.URL(t)
	env := map[string]string{"DATABASE_URL": mainURL, "COMMS_DATABASE_URL": commsURL}
	err := run(context.Background(), []string{"seed", "-demo"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "COMMS_DATABASE_URL") {
		t.Fatalf("err = %v, want one naming COMMS_DATABASE_URL", err)
	}
	var n int
	if err := open(t, mainURL).Get(&n, `SELECT count(*) FROM directory.tenants`); err != nil || n != 0 {
		t.Fatalf("seed wrote %d tenants (%v)", n, err)
	}
}
