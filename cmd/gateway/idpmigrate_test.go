package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/idp/idptest"
	"github.com/propertyportal/gateway/internal/idp/keycloak/keycloaktest"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// migrateEnv is a database with users on auth0-prod, a Keycloak fake as
// the target and the IdP file that declares the pair.
type migrateEnv struct {
	env  map[string]string
	db   *sqlx.DB
	fake *keycloaktest.Fake
}

func newMigrateEnv(t *testing.T, users int) *migrateEnv {
	t.Helper()
	url := pgtest.URL(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tenant := uuid.New()
	db.MustExec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, tenant)
	db.MustExec(`INSERT INTO directory.users (tenant_id, idp_id, external_id, email, full_name)
		SELECT $1, 'auth0-prod', 'auth0|' || i, 'person' || i || '@example.com', 'Person ' || i FROM generate_series(1, $2) i`, tenant, users)
	// Two users share an email: a conflict known before any call.
	db.MustExec(`UPDATE directory.users SET email = 'person1@example.com' WHERE external_id = 'auth0|2'`)
	fake := keycloaktest.New(t)
	fake.Put(idptest.User{ID: "kc-3", Email: "Person3@example.com", EmailVerified: true})
	fake.SetRate(200)
	file := idpFile(t, fmt.Sprintf(`idps:
  - id: auth0-prod
    kind: auth0
    issuer: https://portal.eu.auth0.com/
    audiences: [portal-gateway]
    tenant_claim: https://portal.example.com/tenant
    roles_claim: https://portal.example.com/roles
  - id: keycloak-default
    kind: keycloak
    issuer: https://kc.example.com/realms/portal
    audiences: [portal-gateway]
    tenant_claim: tenant_id
    trust_email_verified: true
    migrate_from: [{idp: auth0-prod, grace: 168h}]
    admin:
      base_url: %s
      realm: %s
      client_id: %s
      client_secret: ${KC_SECRET}
      requests_per_second: 150
`, fake.URL, keycloaktest.Realm, fake.ClientID))
	return &migrateEnv{db: db, fake: fake,
		env: map[string]string{"DATABASE_URL": url, "IDP_CONFIG": file, "KC_SECRET": fake.ClientSecret, "LOG_LEVEL": "error"}}
}

// gateway runs the gateway with args to the end, or until stopAt matches
// a line of its output (then as if Ctrl-C was pressed); it returns the
// output and the exit code.
func (e *migrateEnv) gateway(t *testing.T, stopAt *regexp.Regexp, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := newLineBuffer()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return e.env[k] }, out) }()
	for {
		select {
		case line := <-out.lines:
			if stopAt != nil && stopAt.MatchString(line) {
				cancel()
			}
		case err := <-done:
			time.Sleep(50 * time.Millisecond) // the last lines
			return out.String(), exitCode(err)
		}
	}
}

func (e *migrateEnv) count(t *testing.T, q string) int {
	t.Helper()
	var n int
	if err := e.db.Get(&n, q); err != nil {
		t.Fatal(err)
	}
	return n
}

// noPII fails when out holds an email or a name of the data.
func noPII(t *testing.T, out string) {
	t.Helper()
	if regexp.MustCompile(`(?i)person\d*@|Person \d`).MatchString(out) {
		t.Errorf("output holds personal data:\n%s", out)
	}
}

func TestIdPMigrateCommand(t *testing.T) {
	e := newMigrateEnv(t, 150)
	args := []string{"idp", "migrate", "-from", "auth0-prod", "-to", "keycloak-default", "-progress", "200ms"}

	t.Run("DryRunWritesAndCallsNothing", func(t *testing.T) {
		out, code := e.gateway(t, nil, append(args, "-dry-run")...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{"dry run: auth0-prod -> keycloak-default", "users to migrate:  148", "duplicate_email        2",
			"at most 444 (3 per user)", "would start a new migration"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run lacks %q:\n%s", want, out)
			}
		}
		noPII(t, out)
		if n := e.count(t, `SELECT (SELECT count(*) FROM identity.migrations) + (SELECT count(*) FROM identity.outbox)`); n != 0 {
			t.Errorf("%d rows written", n)
		}
		if n := len(e.fake.Calls()); n != 0 {
			t.Errorf("%d calls", n)
		}
	})

	t.Run("StoppedThenResumedThenRepeated", func(t *testing.T) {
		out, code := e.gateway(t, regexp.MustCompile(`^progress: `), args...)
		if code != exitMigrationStopped || !strings.Contains(out, "run the same command to resume") {
			t.Fatalf("stopped: exit %d:\n%s", code, out)
		}
		id := regexp.MustCompile(`migration (\S+) started`).FindStringSubmatch(out)
		if id == nil {
			t.Fatalf("no migration id:\n%s", out)
		}
		noPII(t, out)

		out, code = e.gateway(t, nil, append(args, "-dry-run")...)
		if code != 0 || !strings.Contains(out, "would resume migration "+id[1]) {
			t.Errorf("dry run of a stopped run: exit %d:\n%s", code, out)
		}

		out, code = e.gateway(t, nil, args...)
		if code != exitMigrationFailures {
			t.Fatalf("resumed: exit %d:\n%s", code, out)
		}
		for _, want := range []string{"migration " + id[1] + " resumed", "progress: ", "migration " + id[1] + " finished",
			"done:    148", "failed:  2", "duplicate_email        2"} {
			if !strings.Contains(out, want) {
				t.Errorf("resumed run lacks %q:\n%s", want, out)
			}
		}
		noPII(t, out)
		t.Logf("resumed run:\n%s", out)
		if n := e.count(t, `SELECT count(*) FROM directory.users WHERE idp_id = 'keycloak-default'`); n != 148 {
			t.Errorf("%d users on the target", n)
		}

		calls := len(e.fake.Calls())
		out, code = e.gateway(t, nil, args...)
		if code != exitMigrationFailures || !strings.Contains(out, "failed:  2") || !strings.Contains(out, "done:    0") {
			t.Errorf("repeated: exit %d:\n%s", code, out)
		}
		noPII(t, out)
		if n := len(e.fake.Calls()); n != calls {
			t.Errorf("the repeat made %d calls", n-calls)
		}
		// One identity per user at the target: the one that was there,
		// and one invited for each other user; never a second.
		if n := len(e.fake.Users()); n != 148 {
			t.Errorf("the target holds %d identities, want 148", n)
		}
	})

	t.Run("ErrConfiguration", func(t *testing.T) {
		for name, tc := range map[string]struct {
			args []string
			code int
			want string
		}{
			"NoTo":           {[]string{"idp", "migrate", "-from", "auth0-prod"}, 2, "-from and -to are required"},
			"BadTenant":      {append(args, "-tenant", "acme"), 2, "-tenant must be a tenant id"},
			"Undeclared":     {[]string{"idp", "migrate", "-from", "keycloak-default", "-to", "auth0-prod"}, 1, "admin: required"},
			"UnknownAdapter": {[]string{"idp", "migrate", "-from", "okta", "-to", "keycloak-default"}, 1, `-from "okta" is not an adapter`},
		} {
			t.Run(name, func(t *testing.T) {
				var out bytes.Buffer
				err := run(context.Background(), tc.args, func(k string) string { return e.env[k] }, &out)
				if exitCode(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err %v (exit %d), want %q (exit %d)", err, exitCode(err), tc.want, tc.code)
				}
			})
		}
	})
}
