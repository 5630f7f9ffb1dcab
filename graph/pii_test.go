package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/identity/webhook"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/oidc"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/logging"
)

// syncBuffer is a log sink shared by concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The PII and secrets the scenarios use.
const (
	piiName     = "Zelda Quintero"
	piiEmail    = "Zelda.Quintero@PII-Test.example"
	piiEmail2   = "zq.renamed@pii-test.example"
	piiPhone    = "+49 30 5550123"
	piiPhoneE   = "+49305550123"
	piiUserName = "Yorick Underhill"
	piiUserMail = "yorick.underhill@pii-test.example"
	hookSecret  = "webhook-secret-0123456789-abcdef"
	auth0Token  = "Bearer auth0-stream-token-0123456789"
)

// TestNoPIIInLogsOrErrors runs the scenarios of comms and privacy (contact
// mutations, bad input, webhooks good and forged, erasure, queries with
// errors, a 404 whose path holds an email, an internal database error whose
// cause holds PII) with every log line captured at debug level through the
// gateway's redacting handler, and every error message and webhook answer
// collected. None of the PII the scenarios used may appear in any of them.
func TestNoPIIInLogsOrErrors(t *testing.T) {
	// Not parallel: it runs before the parallel tests, so that it does not
	// load the machine while the statement-count test times its batches.
	logs := &syncBuffer{}
	log := slog.New(logging.NewRedactor(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	env := map[string]string{"OIDC_SECRET": hookSecret, "AUTH0_TOKEN": auth0Token}
	e := newWriteEnv(t, log, func(db *sqlx.DB, d *httpserver.Deps) {
		var cfgs []idp.Config
		for _, c := range []struct {
			id, env string
			kind    idp.Kind
		}{{"oidc-pii", "OIDC_SECRET", idp.KindOIDC}, {"auth0-pii", "AUTH0_TOKEN", idp.KindAuth0}} {
			cfg := idp.Config{ID: c.id, Kind: c.kind, Issuer: "https://" + c.id + ".example.com/", Audiences: []string{"p"},
				Tenant: uuid.NewString(), RolesClaim: "roles", Webhook: &idp.WebhookConfig{SecretEnv: c.env}}
			if err := providers.Normalize(&cfg); err != nil {
				t.Fatal(err)
			}
			cfgs = append(cfgs, cfg)
		}
		h, err := webhook.New(cfgs, func(k string) string { return env[k] }, directory.NewStore(db), log)
		if err != nil {
			t.Fatal(err)
		}
		d.Webhooks = h
	})
	var answers []string // every error message and webhook answer
	collect := func(r response) {
		for _, er := range r.Errors {
			b, _ := json.Marshal(er)
			answers = append(answers, string(b))
		}
	}
	run := func(s *access.Scope, q string, vars map[string]any) response {
		r := e.query(s, q, vars)
		collect(r)
		return r
	}

	tenant := e.tenant("Privacy Ltd")
	adm := admin(tenant)
	b := e.building(tenant, e.provider(tenant, "P"), "Quiet House")
	user := e.user(tenant, "oidc-pii", piiUserMail, piiUserName)
	var external string
	if err := e.db.Get(&external, `SELECT external_id FROM directory.users WHERE id = $1`, user); err != nil {
		t.Fatal(err)
	}

	// Contact mutations, good and bad.
	r := run(adm, createContact, map[string]any{"in": map[string]any{"fullName": piiName, "email": piiEmail, "phone": piiPhone}})
	id, _ := path(r.Data, "createContact", "id").(string)
	if id == "" {
		t.Fatalf("create: %+v", r.Errors)
	}
	for _, in := range []map[string]any{
		{"email": piiName},                   // a name where an email goes
		{"phone": piiEmail},                  // an email where a phone goes
		{"email": piiEmail + ">"},            // almost an email
		{"fullName": piiName + "\x00"},       // control character
		{"phone": piiPhone + " 99999999999"}, // too long a number
	} {
		if r := run(adm, updateContact, map[string]any{"id": id, "in": in}); r.code(t) != "BAD_USER_INPUT" {
			t.Fatalf("update %v: %+v", in, r.Errors)
		}
	}
	run(adm, updateContact, map[string]any{"id": id, "in": map[string]any{"email": piiEmail2}})
	run(adm, linkBuilding, map[string]any{"b": b, "c": id, "role": "manager", "p": true})
	run(adm, linkBuilding, map[string]any{"b": b, "c": id, "role": piiName, "p": true}) // conflict
	run(adm, setPrimary, map[string]any{"b": b, "c": id})
	run(adm, linkUser, map[string]any{"c": id, "u": user})
	prov := &access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: uuid.New()}
	run(prov, createContact, map[string]any{"in": map[string]any{"fullName": piiName, "email": piiEmail}})
	run(prov, `query($id: ID!) { contact(id: $id) { fullName email phone } }`, map[string]any{"id": id})

	// Queries with errors.
	run(adm, `query($s: String) { contacts(filter: {search: $s}) { edges { node { email } } } }`, map[string]any{"s": "Ze"})
	run(adm, `query($s: String) { users(filter: {emailDomain: $s}) { totalCount } }`, map[string]any{"s": piiEmail})
	run(adm, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": piiEmail})
	run(adm, `query($a: String) { contacts(after: $a) { totalCount } }`, map[string]any{"a": piiEmail})
	run(adm, `query($s: String) { users(filter: {search: $s}) { totalCount } }`, map[string]any{"s": piiName + "\x00"})
	run(adm, `query($o: UserOrder) { users(orderBy: $o) { totalCount } }`, map[string]any{"o": map[string]any{"field": piiEmail}})
	run(adm, `query($f: UserFilter) { users(filter: $f) { totalCount } }`, map[string]any{"f": map[string]any{piiEmail: "x"}})
	run(adm, `{ users(filter: {search: "`+piiName+`", emailDomain: 7}) { totalCount } }`, nil)
	// A provider may not search or filter by what it may not read.
	for _, q := range []string{
		`query($s: String) { users(filter: {search: $s}) { totalCount } }`,
		`query($s: String) { contacts(filter: {search: $s}) { totalCount } }`,
	} {
		for _, v := range []string{piiEmail, piiPhone} {
			if r := run(prov, q, map[string]any{"s": v}); r.code(t) != "FORBIDDEN" {
				t.Fatalf("provider search: %+v", r.Errors)
			}
		}
	}

	// Webhooks: a good generic update, a forged one, an Auth0 batch, a
	// wrong Auth0 token.
	post := func(path string, body []byte, headers map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		answers = append(answers, string(b))
	}
	ev, _ := json.Marshal(map[string]any{"id": "pii-1", "type": "user.updated", "occurred_at": time.Now().Format(time.RFC3339Nano),
		"user": map[string]any{"id": external, "email": piiUserMail, "name": piiUserName}})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	post("/webhooks/oidc-pii", ev, map[string]string{oidc.TimestampHeader: ts, oidc.SignatureHeader: oidc.Sign([]byte(hookSecret), ts, ev)})
	post("/webhooks/oidc-pii", ev, map[string]string{oidc.TimestampHeader: ts, oidc.SignatureHeader: "sha256=" + strings.Repeat("0", 64)})
	post("/webhooks/oidc-pii", []byte(`{"user": {"email": "`+piiEmail+`"}`), map[string]string{oidc.TimestampHeader: ts,
		oidc.SignatureHeader: oidc.Sign([]byte(hookSecret), ts, []byte(`{"user": {"email": "`+piiEmail+`"}`))})
	a0, _ := json.Marshal([]any{map[string]any{"log_id": "a0-1", "data": map[string]any{"log_id": "a0-1", "type": "sapi",
		"date": time.Now().Format(time.RFC3339Nano), "details": map[string]any{
			"request":  map[string]any{"method": "patch", "path": "/api/v2/users/auth0%7Cpii", "body": map[string]any{"email": piiEmail, "name": piiName}},
			"response": map[string]any{"body": map[string]any{"user_id": "auth0|pii", "email": piiEmail, "name": piiName}}}}}})
	post("/webhooks/auth0-pii", a0, map[string]string{"Authorization": auth0Token})
	post("/webhooks/auth0-pii", a0, map[string]string{"Authorization": "Bearer " + piiEmail})

	// An unknown path holding an email, logged by the access log.
	if res, err := http.Get(e.srv.URL + "/profiles/" + piiEmail); err == nil {
		res.Body.Close()
	}

	// An internal error whose database cause holds PII: a trigger that
	// fails naming the new values.
	e.exec(`CREATE FUNCTION comms.pii_boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused % %', NEW.email, NEW.phone; END $$`)
	e.exec(`CREATE TRIGGER pii_boom BEFORE UPDATE ON comms.contacts FOR EACH ROW WHEN (NEW.phone IS NOT NULL AND OLD.phone IS DISTINCT FROM NEW.phone) EXECUTE FUNCTION comms.pii_boom()`)
	if r := run(adm, updateContact, map[string]any{"id": id, "in": map[string]any{"email": piiEmail, "phone": "030 5550124"}}); r.code(t) != "INTERNAL" {
		t.Fatalf("trigger: %+v", r.Errors)
	}
	e.exec(`DROP TRIGGER pii_boom ON comms.contacts`)

	// Erasure, twice.
	run(adm, eraseCt, map[string]any{"id": id})
	run(adm, eraseUser, map[string]any{"id": user})
	run(internal(), eraseUser, map[string]any{"id": user})

	out := logs.String()
	// The scenarios logged: requests, refused webhooks, the internal error.
	for _, want := range []string{`"msg":"request"`, `webhook: refused`, `webhook: delivery`, `"msg":"internal error"`, logging.RedactedEmail, logging.RedactedPhone} {
		if !strings.Contains(out, want) {
			t.Fatalf("the logs lack %q; the scenarios did not run as meant:\n%s", want, out)
		}
	}
	if len(answers) < 15 {
		t.Fatalf("only %d answers collected", len(answers))
	}
	all := strings.ToLower(out + "\n" + strings.Join(answers, "\n"))
	for _, p := range []string{piiName, "zelda", "quintero", piiEmail, piiEmail2, piiPhone, piiPhoneE, "5550123", "5550124",
		piiUserName, "yorick", "underhill", piiUserMail, hookSecret, auth0Token, "auth0-stream-token"} {
		if strings.Contains(all, strings.ToLower(p)) {
			for _, line := range strings.Split(out+"\n"+strings.Join(answers, "\n"), "\n") {
				if strings.Contains(strings.ToLower(line), strings.ToLower(p)) {
					t.Errorf("%q appears in: %s", p, line)
				}
			}
		}
	}
}

// TestPIIOfAContactSelectedTwoWays selects a provider's own contact's user
// with its email and, below the contact's buildings, the same contact's user
// again without it: what the second selection plans must not replace what
// the first one planned.
func TestPIIOfAContactSelectedTwoWays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant("T")
	prov := e.provider(tenant, "P")
	me := e.user(tenant, "dev", "me@acme.com", "Me")
	mine := e.contact(tenant, me, "Me", "me@acme.com", "+441234567890")
	e.link(tenant, e.building(tenant, prov, "B"), mine, "manager", true)
	scope := &access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: me}
	r := e.query(scope, `query($id: ID!) { contact(id: $id) { email user { email }
		buildings { contact { user { id } } } } }`, map[string]any{"id": mine})
	if len(r.Errors) > 0 || path(r.Data, "contact", "user", "email") != "me@acme.com" {
		t.Fatalf("own user's email: %v, errors %+v", path(r.Data, "contact", "user"), r.Errors)
	}
}
