package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/dev/devtest"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(mainHelperEnv); ok {
		os.Exit(helperMain(args)) // a gateway for the tests of orphan_test.go
	}
	os.Exit(pgtest.Main(m))
}

// started is a gateway running through the real run function.
type started struct {
	out  *lineBuffer
	done chan error
	stop context.CancelFunc
}

// start runs the gateway with args and env until it prints a line matching
// ready; it returns the first capture group of that line.
func start(t *testing.T, env map[string]string, ready *regexp.Regexp, args ...string) (*started, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{out: newLineBuffer(), done: make(chan error, 1), stop: cancel}
	go func() { s.done <- run(ctx, args, func(k string) string { return env[k] }, s.out) }()
	t.Cleanup(func() { s.shutdown(t) })
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case line := <-s.out.lines:
			if m := ready.FindStringSubmatch(line); m != nil {
				return s, m[1]
			}
		case err := <-s.done:
			s.done <- err
			t.Fatalf("gateway exited before it was ready: %v\n%s", err, s.out.String())
		case <-deadline:
			t.Fatalf("gateway not ready:\n%s", s.out.String())
		}
	}
}

// waitFor reads the gateway's output until a line matches re and returns
// the first capture group of that line.
func (s *started) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case line := <-s.out.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case <-deadline:
			t.Fatalf("no line matching %s:\n%s", re, s.out.String())
		}
	}
}

func (s *started) shutdown(t *testing.T) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("gateway did not stop")
	}
}

func TestDevServesTheDemoAndStopsCleanly(t *testing.T) {
	s, base := start(t, nil, regexp.MustCompile(`^GraphQL:\s+(http://\S+)/graphql$`), "dev", "-addr", "127.0.0.1:0")
	s.waitFor(t, regexp.MustCompile(`^\s+internal service account:\s+(\S+)$`))
	out := s.out.String()
	dbDir := regexp.MustCompile(`(?m)^PostgreSQL: \S*[?&]host=([^&\s]+)`).FindStringSubmatch(out)
	if dbDir != nil { // the URL's query escapes the directory's slashes
		var err error
		if dbDir[1], err = url.QueryUnescape(dbDir[1]); err != nil || !filepath.IsAbs(dbDir[1]) {
			t.Fatalf("database directory %q: %v", dbDir[1], err)
		}
		if _, err := os.Stat(dbDir[1]); err != nil {
			t.Fatalf("database directory %s: %v", dbDir[1], err)
		}
	}
	token := regexp.MustCompile(`(?m)^\s+admin, Northwind Estates:\s+(\S+)$`).FindStringSubmatch(out)
	if token == nil {
		t.Fatalf("no admin token printed:\n%s", out)
	}

	t.Run("GraphQLAnswersWithDemoData", func(t *testing.T) {
		body := `{"query":"{ buildings(first: 3) { edges { node { name primaryContact { fullName } } } } users(filter: {emailDomain: \"acme.com\"}) { totalCount } }"}`
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r struct {
			Data struct {
				Buildings struct {
					Edges []struct {
						Node struct {
							Name           string
							PrimaryContact *struct{ FullName string }
						}
					}
				}
				Users struct{ TotalCount int }
			}
			Errors []any
		}
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || len(r.Errors) > 0 {
			t.Fatalf("decode: %v, errors: %v", err, r.Errors)
		}
		if len(r.Data.Buildings.Edges) != 3 || r.Data.Buildings.Edges[0].Node.PrimaryContact == nil || r.Data.Users.TotalCount == 0 {
			t.Fatalf("demo data missing: %+v", r.Data)
		}
	})

	t.Run("TokenEndpointMintsWorkingTokens", func(t *testing.T) {
		res, err := http.PostForm(base+"/dev-idp/token", url.Values{"role": {"internal"}})
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		err = json.NewDecoder(res.Body).Decode(&tok)
		res.Body.Close()
		if err != nil || tok.TokenType != "Bearer" || tok.AccessToken == "" {
			t.Fatalf("token endpoint: %d %+v %v", res.StatusCode, tok, err)
		}
		status, body := post(t, base, "Bearer "+tok.AccessToken, `{ users(first: 1) { totalCount } }`)
		if status != http.StatusOK || !strings.Contains(body, `"totalCount"`) || strings.Contains(body, `"errors"`) {
			t.Fatalf("minted token refused: %d %s", status, body)
		}
	})

	t.Run("PrintedDevIdPLinksAnswer", func(t *testing.T) {
		// Every dev IdP URL printed for a browser (not the POST-only token
		// endpoint of the curl line) answers 200, with the demo tenants.
		links := regexp.MustCompile(`http://\S+/dev-idp\S*`).FindAllString(out, -1)
		var got int
		for _, l := range links {
			if strings.HasSuffix(l, "/token") {
				continue
			}
			got++
			res, err := http.Get(l)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "Northwind Estates") || !strings.Contains(string(b), "/.well-known/openid-configuration") {
				t.Errorf("GET %s: %d %.300s", l, res.StatusCode, b)
			}
		}
		if got == 0 {
			t.Fatalf("no dev IdP link printed:\n%s", out)
		}
	})

	t.Run("GraphiQLGetQueriesMetricsAndHealth", func(t *testing.T) {
		getQuery := "/graphql?query=" + url.QueryEscape(`{ __typename }`)
		for path, want := range map[string]string{"/": "graphiql", "/healthz": "ok", "/readyz": "ready", "/metrics": "# help gateway_",
			getQuery: `"__typename":"query"`} {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			req.Header.Set("Authorization", "Bearer "+token[1])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(b)), want) {
				t.Fatalf("GET %s: %d %.200s", path, res.StatusCode, b)
			}
		}
	})

	// The profile example of the README, with the token it names.
	t.Run("ProviderUpdatesTheirProfile", func(t *testing.T) {
		provider := regexp.MustCompile(`(?m)^\s+provider, Northwind Estates:\s+(\S+)$`).FindStringSubmatch(out)
		if provider == nil {
			t.Fatalf("no provider token printed:\n%s", out)
		}
		status, body := post(t, base, "Bearer "+provider[1], `mutation {
  updateMyProfile(input: {email: "jane@new.example", phone: "+44 20 7946 0958"}) {
    user { email fullName }
    contact { email phone }
    identitySync { status attempts nextTryAt reason }
  }
}`)
		var r struct {
			Data struct {
				UpdateMyProfile struct {
					Contact      *struct{ Email, Phone string }
					IdentitySync struct{ Status string }
				}
			}
			Errors []any
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("updateMyProfile: %d %s", status, body)
		}
		got := r.Data.UpdateMyProfile
		if got.Contact == nil || got.Contact.Email != "jane@new.example" || got.Contact.Phone != "+442079460958" || got.IdentitySync.Status == "FAILED" {
			t.Fatalf("updateMyProfile: %s", body)
		}
	})

	// The status of a profile change is pushed over SSE, signed in with
	// the dev IdP's token as a query is.
	t.Run("ProviderFollowsTheirIdentityStatus", func(t *testing.T) {
		provider := regexp.MustCompile(`(?m)^\s+provider, Northwind Estates:\s+(\S+)$`).FindStringSubmatch(out)
		if provider == nil {
			t.Fatalf("no provider token printed:\n%s", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql",
			strings.NewReader(`{"query":"subscription { identitySyncChanged { changeId userId identitySync { status } } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+provider[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("subscription: %d", res.StatusCode)
		}
		lines := make(chan string, 16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					lines <- data
				}
			}
		}()
		// Drain what the subscription sends first (changes still pending).
		for drained := false; !drained; {
			select {
			case <-lines:
			case <-time.After(300 * time.Millisecond):
				drained = true
			}
		}
		if status, body := post(t, base, "Bearer "+provider[1], `mutation { updateMyProfile(input: {fullName: "Jane Pushed"}) { identitySync { status } } }`); status != http.StatusOK || strings.Contains(body, "errors") {
			t.Fatalf("updateMyProfile: %d %s", status, body)
		}
		for {
			select {
			case data, ok := <-lines:
				if !ok {
					t.Fatal("the stream ended without the change's status")
				}
				if strings.Contains(data, `"status":"APPLIED"`) {
					return
				}
			case <-ctx.Done():
				t.Fatal("no APPLIED event within 30s")
			}
		}
	})

	// Last: it erases demo users.
	t.Run("AdminErasesUsersOfEveryIdP", func(t *testing.T) {
		authz := "Bearer " + token[1]
		var list struct {
			Data struct {
				Users struct {
					Edges []struct {
						Node struct {
							ID, IdPID, ExternalID string
							ErasedAt              *string
						}
					}
				}
			}
			Errors []any
		}
		status, body := post(t, base, authz, `{ users(first: 100) { edges { node { id idpId externalId erasedAt } } } }`)
		if err := json.Unmarshal([]byte(body), &list); err != nil || status != http.StatusOK || len(list.Errors) > 0 {
			t.Fatalf("users: %d %s", status, body)
		}
		pick := map[string]string{} // IdP id -> a user of it to erase
		for _, e := range list.Data.Users.Edges {
			if n := e.Node; n.ErasedAt == nil && n.ExternalID != "northwind-admin" && pick[n.IdPID] == "" {
				pick[n.IdPID] = n.ID
			}
		}
		for _, idpID := range []string{"auth0-prod", "keycloak-default", "entra-corp", "dev"} {
			t.Run(idpID, func(t *testing.T) {
				id := pick[idpID]
				if id == "" {
					t.Fatalf("no demo user of %s to erase: %s", idpID, body)
				}
				var er struct {
					Data struct {
						EraseUser struct {
							AlreadyErased bool
							ErasedFields  []string
							IdPDeletion   string
						}
					}
					Errors []any
				}
				const erase = `mutation { eraseUser(id: "%s") { alreadyErased erasedFields idpDeletion } }`
				status, body := post(t, base, authz, fmt.Sprintf(erase, id))
				if err := json.Unmarshal([]byte(body), &er); err != nil || status != http.StatusOK || len(er.Errors) > 0 {
					t.Fatalf("eraseUser: %d %s", status, body)
				}
				got := er.Data.EraseUser
				wantDeletion := "NOT_CONFIGURED" // gateway dev trusts no admin API of these IdPs
				if idpID == "dev" {
					wantDeletion = "QUEUED"
				}
				if got.AlreadyErased || !slices.Contains(got.ErasedFields, "user.email") || got.IdPDeletion != wantDeletion {
					t.Fatalf("eraseUser = %+v, want a first erasure scrubbing user.email, idpDeletion %s", got, wantDeletion)
				}
				status, body = post(t, base, authz, fmt.Sprintf(`{ user(id: "%s") { email fullName erasedAt } }`, id))
				if status != http.StatusOK || !strings.Contains(body, `"email":null,"fullName":null,"erasedAt":"`) {
					t.Fatalf("user after erasure: %d %s", status, body)
				}
				if _, body = post(t, base, authz, fmt.Sprintf(erase, id)); !strings.Contains(body, `"alreadyErased":true`) {
					t.Fatalf("erasing again: %s", body)
				}
			})
		}
	})

	// A subscription open at shutdown ends UNAVAILABLE, and does not hold
	// the shutdown for SHUTDOWN_TIMEOUT.
	internal := regexp.MustCompile(`(?m)^\s+internal service account:\s+(\S+)$`).FindStringSubmatch(out)
	if internal == nil {
		t.Fatalf("no internal token printed:\n%s", out)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql",
		strings.NewReader(`{"query":"subscription { identitySyncChanged { changeId } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+internal[1])
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("subscription before shutdown: %v %v", err, res)
	}
	defer res.Body.Close()
	stream := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(res.Body)
		stream <- string(b)
	}()
	began := time.Now()
	s.shutdown(t)
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("shutdown with an open subscription took %v", took)
	}
	select {
	case got := <-stream:
		if !strings.Contains(got, `"UNAVAILABLE"`) || !strings.Contains(got, "event: complete") {
			t.Errorf("the stream at shutdown: %q, want an UNAVAILABLE end", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream stayed open after shutdown")
	}
	if !strings.Contains(s.out.String(), "PostgreSQL stopped and removed") {
		t.Fatalf("no clean stop:\n%s", s.out.String())
	}
	if dbDir == nil {
		t.Fatalf("no database printed:\n%s", out)
	}
	if _, err := os.Stat(dbDir[1]); !os.IsNotExist(err) {
		t.Fatalf("cluster directory %s still exists: %v", dbDir[1], err)
	}
}

// post sends one GraphQL query with an Authorization value ("" for none).
func post(t *testing.T, base, authorization, query string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// idpFile writes an IdP configuration file and returns its path.
func idpFile(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "idps.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeVerifiesTokensOfConfiguredIdPsOnly(t *testing.T) {
	trusted, stranger := devtest.Issuer(t, nil), devtest.Issuer(t, nil)
	cfg := idpFile(t, `idps:
  - id: keycloak-default
    kind: keycloak
    issuer: ${KC_ISSUER}
    audiences: [portal-gateway]
    tenant_claim: tenant_id
    roles_claim: roles
    role_map: {internal: internal}
    internal_clients: [gateway-ops]
`)
	env := map[string]string{"DATABASE_URL": pgtest.URL(t), "LISTEN_ADDR": "127.0.0.1:0", "IDP_CONFIG": cfg, "KC_ISSUER": trusted.URL(),
		"CURSOR_SECRETS": testCursorSecret}
	_, base := start(t, env, regexp.MustCompile(`^GraphQL: (http://\S+)/graphql$`), "serve", "-migrate")
	mint := func(iss *dev.Issuer, client string) string {
		tok, err := iss.Mint(dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: client}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	const q = `{ users(first: 1) { totalCount } }`
	if status, body := post(t, base, mint(trusted, "gateway-ops"), q); status != http.StatusOK || strings.Contains(body, `"errors"`) {
		t.Fatalf("configured IdP's token refused: %d %s", status, body)
	}
	for name, authz := range map[string]string{
		"NoCredentials":     "",
		"OtherIssuer":       mint(stranger, "gateway-ops"),
		"UnlistedClient":    mint(trusted, "someone-else"),
		"OldDevHeader":      "Dev internal 00000000-0000-0000-0000-000000000000",
		"NotABearerToken":   "Basic dXNlcjpwYXNz",
		"GarbageBearer":     "Bearer not.a.token",
		"BearerWithoutText": "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			status, body := post(t, base, authz, q)
			if status != http.StatusUnauthorized || !strings.Contains(body, `"UNAUTHENTICATED"`) {
				t.Fatalf("got %d %s", status, body)
			}
		})
	}
	t.Run("NoDevIdPEndpoint", func(t *testing.T) {
		res, err := http.PostForm(base+"/dev-idp/token", url.Values{"role": {"internal"}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), "access_token") {
			t.Fatalf("serve minted a dev token: %d %s", res.StatusCode, b)
		}
	})
}

// testCursorSecret is the CURSOR_SECRETS that serve is started with.
const testCursorSecret = "a-test-secret-of-at-least-32-bytes-for-cursors"

func TestServeRefusesToStartWithoutTrustworthyIdPs(t *testing.T) {
	url := pgtest.URL(t)
	for name, tc := range map[string]struct{ doc, want string }{
		"NoConfig": {"", "IDP_CONFIG"},
		"DevKind": {`idps: [{id: dev, kind: dev, issuer: "http://127.0.0.1:1/dev-idp", audiences: [x], tenant_claim: t}]`,
			`idp "dev": kind`},
		"MissingAudience": {`idps: [{id: auth0-prod, kind: auth0, issuer: "https://t.eu.auth0.com/", roles_claim: r, tenant_claim: t}]`,
			`idp "auth0-prod": audiences`},
		"UnsetSecret": {`idps: [{id: a, kind: oidc, issuer: "${NOPE}", audiences: [x], tenant_claim: t}]`, "${NOPE}"},
		"HMACAlgorithm": {`idps: [{id: k, kind: keycloak, issuer: "https://kc/realms/r", audiences: [x], tenant: 6f1c1f2e-8a57-4d43-a0a7-5b1c3a9e2d10, algorithms: [HS256]}]`,
			`idp "k": algorithms`},
		"NoCursorSecret": {`idps: [{id: k, kind: keycloak, issuer: "https://kc/realms/r", audiences: [x], tenant: 6f1c1f2e-8a57-4d43-a0a7-5b1c3a9e2d10}]`,
			"serve needs CURSOR_SECRETS"},
		"ShortCursorSecret": {`idps: [{id: k, kind: keycloak, issuer: "https://kc/realms/r", audiences: [x], tenant: 6f1c1f2e-8a57-4d43-a0a7-5b1c3a9e2d10}]`,
			"CURSOR_SECRETS must be"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": "127.0.0.1:0", "CURSOR_SECRETS": testCursorSecret}
			switch name {
			case "NoCursorSecret":
				delete(env, "CURSOR_SECRETS")
			case "ShortCursorSecret":
				env["CURSOR_SECRETS"] = "too-short"
			}
			if tc.doc != "" {
				env["IDP_CONFIG"] = idpFile(t, tc.doc)
			}
			err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestMigrateStatusListsEveryMigration(t *testing.T) {
	var out bytes.Buffer
	url := pgtest.URL(t)
	if err := run(context.Background(), []string{"migrate", "status"}, func(k string) string {
		return map[string]string{"DATABASE_URL": url}[k]
	}, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "applied"); n < 5 {
		t.Fatalf("status shows %d applied migrations:\n%s", n, out.String())
	}
}

func TestBadConfigurationStopsStartup(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, func(k string) string {
		return map[string]string{"MAX_PAGE_SIZE": "lots"}[k]
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "MAX_PAGE_SIZE") {
		t.Fatalf("err = %v, want one naming MAX_PAGE_SIZE", err)
	}
}

// lineBuffer is an io.Writer that keeps everything and hands out lines.
type lineBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
	w     *io.PipeWriter
}

func newLineBuffer() *lineBuffer {
	r, w := io.Pipe()
	lb := &lineBuffer{lines: make(chan string, 1000), w: w}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lb.lines <- sc.Text()
		}
	}()
	return lb
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lineBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestServePrunesWebhookEventIDs: serve forgets the webhook event ids
// received longer than WEBHOOK_EVENT_RETENTION ago and keeps younger ones.
func TestServePrunesWebhookEventIDs(t *testing.T) {
	trusted := devtest.Issuer(t, nil)
	cfg := idpFile(t, `idps:
  - id: keycloak-default
    kind: keycloak
    issuer: ${KC_ISSUER}
    audiences: [portal-gateway]
    tenant_claim: tenant_id
`)
	dbURL := pgtest.URL(t)
	db, err := postgres.Open(context.Background(), dbURL, postgres.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id, age := range map[string]string{"old": "50 hours", "young": "47 hours"} {
		db.MustExec(`INSERT INTO directory.webhook_events (idp_id, event_id, occurred_at, received_at, outcome)
			VALUES ('keycloak-default', $1, now() - $2::interval, now() - $2::interval, 'applied')`, id, age)
	}
	env := map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0", "IDP_CONFIG": cfg, "KC_ISSUER": trusted.URL(),
		"CURSOR_SECRETS": testCursorSecret, "WEBHOOK_EVENT_RETENTION": "48h"}
	start(t, env, regexp.MustCompile(`^(GraphQL): http://\S+/graphql$`), "serve")
	left := func() []string {
		var ids []string
		if err := db.Select(&ids, `SELECT event_id FROM directory.webhook_events ORDER BY event_id`); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ids := left()
		if len(ids) == 1 && ids[0] == "young" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("event ids left: %v, want [young]", ids)
		}
	}
}
