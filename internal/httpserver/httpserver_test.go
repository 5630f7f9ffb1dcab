package httpserver_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/identity/webhook"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/logging"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/property"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// internal is an internal service account: it may read every tenant.
var internal = authtest.Header(access.Scope{Role: access.RoleInternal, TenantID: uuid.Nil})

// defaultLimits are the limits the gateway starts with.
func defaultLimits(t testing.TB) httpserver.Limits {
	t.Helper()
	l, err := httpserver.LimitsFrom(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newServer starts the handler on a fresh database with the default limits,
// changed by edit.
func newServer(t testing.TB, edit func(*httpserver.Deps)) (*httptest.Server, *sqlx.DB) {
	t.Helper()
	db := pgtest.DB(t)
	return serverOn(t, db, edit), db
}

// serverOn starts the handler on db with the default limits, changed by edit.
func serverOn(t testing.TB, db *sqlx.DB, edit func(*httpserver.Deps)) *httptest.Server {
	t.Helper()
	d := httpserver.Deps{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DBs: []*sqlx.DB{db},
		Stores: loader.Stores{
			Directory: directory.NewStore(db), Comms: comms.NewStore(db),
			Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
		},
		Authenticator:  authtest.Authenticator{},
		MaxPageSize:    100,
		Limits:         defaultLimits(t),
		RequestTimeout: 15 * time.Second,
	}
	if edit != nil {
		edit(&d)
	}
	srv := httptest.NewServer(httpserver.New(d))
	t.Cleanup(srv.Close)
	return srv
}

// answer is an HTTP answer from the endpoint.
type answer struct {
	status     int
	header     http.Header
	raw        string
	body       map[string]any
	statements int
}

// code is the extensions.code of the first error, "" when none.
func (a answer) code() string {
	errs, _ := a.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	c, _ := ext["code"].(string)
	return c
}

func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header, raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	a.statements = -1 // no header: a check for 0 must not pass by accident
	if h := res.Header.Get("X-SQL-Statements"); h != "" {
		a.statements, _ = strconv.Atoi(h)
	}
	return a
}

// post sends body as JSON with the internal credential; hdr are extra
// header name/value pairs.
func post(t testing.TB, srv *httptest.Server, body string, hdr ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", internal)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

func query(t testing.TB, srv *httptest.Server, q string, hdr ...string) answer {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": q})
	return post(t, srv, string(b), hdr...)
}

func get(t testing.TB, srv *httptest.Server, q string, hdr ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?query="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", internal)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

const cheap = `{ buildings(first: 1) { totalCount } }`

func TestGraphQLOverHTTP(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.GraphQLGet = config.GetOn })

	t.Run("PostJSON", func(t *testing.T) {
		a := query(t, srv, cheap)
		if a.status != 200 || a.code() != "" || a.statements == 0 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%d %s %v", a.status, a.raw, a.header)
		}
	})
	t.Run("PostGraphQLResponseJSON", func(t *testing.T) {
		a := query(t, srv, cheap, "Accept", "application/graphql-response+json")
		if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/graphql-response+json") {
			t.Fatalf("%d %s %v", a.status, a.raw, a.header)
		}
	})
	t.Run("GetQuery", func(t *testing.T) {
		if a := get(t, srv, cheap); a.status != 200 || a.code() != "" {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	})
	t.Run("GetMutationIs405", func(t *testing.T) {
		a := get(t, srv, `mutation { anything }`)
		if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" || a.statements != 0 {
			t.Fatalf("%d allow=%q %s", a.status, a.header.Get("Allow"), a.raw)
		}
	})
	t.Run("OtherMethodIs405", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/graphql", strings.NewReader(`{"query":"{__typename}"}`))
		req.Header.Set("Authorization", internal)
		if a := do(t, req); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "GET, POST" {
			t.Fatalf("%d %v", a.status, a.header)
		}
	})
	t.Run("ParseErrorStatusFollowsAccept", func(t *testing.T) {
		a := query(t, srv, `{`)
		if a.status != 200 || a.code() != "GRAPHQL_PARSE_FAILED" {
			t.Fatalf("application/json: %d %s", a.status, a.raw)
		}
		a = query(t, srv, `{`, "Accept", "application/graphql-response+json")
		if _, hasData := a.body["data"]; a.status != 400 || hasData {
			t.Fatalf("graphql-response+json: %d %s", a.status, a.raw)
		}
	})
	t.Run("NotAcceptable", func(t *testing.T) {
		if a := query(t, srv, cheap, "Accept", "text/html"); a.status != http.StatusNotAcceptable || a.statements != 0 {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	})
	t.Run("BadJSONIs400", func(t *testing.T) {
		for _, body := range []string{`{`, `{"query": 5}`, `{"query":"{__typename}","variables":"x"}`, `{}`, `"x"`} {
			if a := post(t, srv, body); a.status != 400 || a.code() != "BAD_REQUEST" {
				t.Fatalf("%s: %d %s", body, a.status, a.raw)
			}
		}
	})
}

// getByHash sends a persisted query over GET, by its hash only.
func getByHash(t testing.TB, srv *httptest.Server, doc string) answer {
	t.Helper()
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + sha(doc) + `"}}`
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?extensions="+url.QueryEscape(ext), nil)
	req.Header.Set("Authorization", internal)
	return do(t, req)
}

func TestGetQueriesOnlyAsConfigured(t *testing.T) {
	refusedGet := func(t *testing.T, a answer) {
		t.Helper()
		if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" || a.code() != "METHOD_NOT_ALLOWED" || a.statements > 0 {
			t.Fatalf("%d allow=%q %s", a.status, a.header.Get("Allow"), a.raw)
		}
	}
	t.Run("OffUnlessSet", func(t *testing.T) {
		srv, _ := newServer(t, nil)
		refusedGet(t, get(t, srv, cheap))
		refusedGet(t, get(t, srv, cheap, "Accept", "application/graphql-response+json"))
		refusedGet(t, getByHash(t, srv, cheap))
		noCredentials, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?query="+url.QueryEscape(cheap), nil)
		refusedGet(t, do(t, noCredentials))
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/graphql", strings.NewReader(`{"query":"{__typename}"}`))
		if a := do(t, req); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" {
			t.Fatalf("PUT: %d allow=%q", a.status, a.header.Get("Allow"))
		}
		if a := query(t, srv, cheap); a.status != 200 || a.code() != "" {
			t.Fatalf("POST: %d %s", a.status, a.raw)
		}
	})
	t.Run("PersistedOnly", func(t *testing.T) {
		srv, _ := newServer(t, func(d *httpserver.Deps) { d.GraphQLGet = config.GetPersisted })
		refusedGet(t, get(t, srv, cheap))
		if a := getByHash(t, srv, cheap); a.code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("unknown hash: %d %s", a.status, a.raw)
		}
		full, _ := json.Marshal(map[string]any{"query": cheap, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha(cheap)}}})
		if a := post(t, srv, string(full)); a.code() != "" {
			t.Fatalf("register: %s", a.raw)
		}
		if a := getByHash(t, srv, cheap); a.status != 200 || a.code() != "" || a.statements == 0 {
			t.Fatalf("GET by hash: %d %s", a.status, a.raw)
		}
	})
	t.Run("PersistedFromTheAllowList", func(t *testing.T) {
		listed := `query Buildings { buildings(first: 1) { totalCount } }`
		srv, _ := newServer(t, func(d *httpserver.Deps) {
			d.GraphQLGet = config.GetPersisted
			d.Limits = allowListed(t, listed)
		})
		refusedGet(t, get(t, srv, listed))
		if a := getByHash(t, srv, listed); a.status != 200 || a.code() != "" || a.statements == 0 {
			t.Fatalf("GET by hash: %d %s", a.status, a.raw)
		}
	})
	t.Run("On", func(t *testing.T) {
		srv, _ := newServer(t, func(d *httpserver.Deps) { d.GraphQLGet = config.GetOn })
		if a := get(t, srv, cheap); a.status != 200 || a.code() != "" {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	})
}

func TestGraphiQLOnlyWhenGiven(t *testing.T) {
	for name, opts := range map[string]*graphiql.Options{"Off": nil, "On": {Title: "Portal gateway"}} {
		t.Run(name, func(t *testing.T) {
			srv, _ := newServer(t, func(d *httpserver.Deps) { d.GraphiQL = opts })
			want := http.StatusNotFound
			if opts != nil {
				want = http.StatusOK
			}
			for _, path := range []string{"/", graphiql.AssetPrefix + "graphiql.js"} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				if a := do(t, req); a.status != want {
					t.Errorf("GET %s: %d, want %d", path, a.status, want)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/index.html", nil)
			if a := do(t, req); a.status != http.StatusNotFound {
				t.Errorf("GET /index.html: %d, want 404", a.status)
			}
		})
	}
}

func TestNoMutationWithoutPreflight(t *testing.T) {
	srv, _ := newServer(t, nil)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json; charset=latin1"} {
		t.Run(ct, func(t *testing.T) {
			a := post(t, srv, `{"query":"mutation { anything }"}`, "Content-Type", ct)
			if a.status != http.StatusUnsupportedMediaType || a.code() != "UNSUPPORTED_MEDIA" || a.statements != 0 {
				t.Fatalf("%d %s", a.status, a.raw)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.CORSAllowedOrigins = []string{"https://portal.example.com"} })
	preflight := func(origin string) answer {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		return do(t, req)
	}
	t.Run("AllowedOrigin", func(t *testing.T) {
		a := preflight("https://portal.example.com")
		if a.status >= 300 || a.header.Get("Access-Control-Allow-Origin") != "https://portal.example.com" ||
			!strings.Contains(strings.ToLower(a.header.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Fatalf("%d %v", a.status, a.header)
		}
	})
	t.Run("OtherOrigin", func(t *testing.T) {
		if a := preflight("https://evil.example.net"); a.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("other origin allowed: %v", a.header)
		}
		a := query(t, srv, cheap, "Origin", "https://evil.example.net")
		if a.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("other origin allowed: %v", a.header)
		}
	})
}

func TestNoCORSWithoutAllowList(t *testing.T) {
	srv, _ := newServer(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
	req.Header.Set("Origin", "https://portal.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if a := do(t, req); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS allowed with no allow-list: %v", a.header)
	}
	if a := query(t, srv, cheap, "Origin", "https://portal.example.com"); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS allowed with no allow-list: %v", a.header)
	}
}

func TestLimitsRefuseBeforeAnythingRuns(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) {
		d.Limits.MaxBodyBytes = 4096
		d.Limits.MaxTokens = 300
	})
	nest := func(n int) string {
		return strings.Repeat("contacts { contact { buildings { building { ", n) + "id" + strings.Repeat(" } } } }", n)
	}
	var aliases strings.Builder
	for i := range 31 {
		aliases.WriteString("a" + strconv.Itoa(i) + ": __typename ")
	}
	for _, c := range []struct{ name, query, code string }{
		{"Depth", `{ buildings { edges { node { ` + nest(3) + ` } } } }`, "QUERY_TOO_DEEP"},
		{"Aliases", `{ ` + aliases.String() + ` }`, "TOO_MANY_ALIASES"},
		{"Complexity", `{ users(first: 100) { edges { node { invoices(first: 100) { edges { node { createdBy { invoices(first: 100) { totalCount } } } } } } } } }`, "QUERY_TOO_COMPLEX"},
		{"Tokens", `{ ` + strings.Repeat("__typename ", 301) + `}`, "TOO_MANY_TOKENS"},
		{"Introspection", `{ __schema { types { name } } }`, "INTROSPECTION_DISABLED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := query(t, srv, c.query)
			if a.code() != c.code || a.statements != 0 {
				t.Fatalf("code %q statements %d, want %s and 0: %s", a.code(), a.statements, c.code, a.raw)
			}
			if _, hasData := a.body["data"]; hasData {
				t.Fatalf("refusal carries data: %s", a.raw)
			}
			a = query(t, srv, c.query, "Accept", "application/graphql-response+json")
			if a.status != 400 || a.code() != c.code {
				t.Fatalf("graphql-response+json: %d %s", a.status, a.raw)
			}
		})
	}
	t.Run("BodySize", func(t *testing.T) {
		a := query(t, srv, `{ __typename }`+strings.Repeat(" ", 5000))
		if a.status != http.StatusRequestEntityTooLarge || a.code() != "REQUEST_TOO_LARGE" || a.statements != 0 {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	})
	t.Run("NoSuggestions", func(t *testing.T) {
		a := query(t, srv, `{ building { nam } }`)
		if a.code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(a.raw, "Did you mean") {
			t.Fatalf("%s", a.raw)
		}
	})
	t.Run("BatchingOff", func(t *testing.T) {
		if a := post(t, srv, `[{"query":"{__typename}"}]`); a.status != 400 || a.code() != "BATCHING_DISABLED" {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	})
}

func TestDevTurnsOnIntrospectionAndSuggestions(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) {
		d.Limits.Introspection, d.Limits.FieldSuggestions = true, true
	})
	if a := query(t, srv, `{ __schema { queryType { name } } }`); a.code() != "" {
		t.Fatalf("introspection refused: %s", a.raw)
	}
	if a := query(t, srv, `{ buildings { edges { node { nam } } } }`); !strings.Contains(a.raw, "Did you mean") {
		t.Fatalf("no suggestion: %s", a.raw)
	}
}

func TestREADMEExamplesFitTheDefaultLimits(t *testing.T) {
	srv, _ := newServer(t, nil)
	for _, q := range []string{
		`{ buildings(first: 10) { edges { node { name address primaryContact { fullName }
		   contacts { role isPrimary contact { fullName email phone
		     user { email invoices(first: 5) { edges { node { number amountMinor currency issuedAt } } } } } } } }
		   pageInfo { hasNextPage endCursor } } }`,
		`query Acme($after: String) { users(first: 50, after: $after, filter: {emailDomain: "acme.com"}, orderBy: {field: EMAIL}) {
		   edges { node { id email fullName idpId } } pageInfo { hasNextPage endCursor } totalCount } }`,
		`{ invoices(first: 100, filter: {createdByEmailDomain: "acme.com"}) {
		   edges { node { number amountMinor currency issuedAt createdBy { id email erasedAt } } } } }`,
	} {
		if a := query(t, srv, q); a.status != 200 || a.code() != "" {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	}
}

func TestBatchingBounded(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.Limits.MaxBatch = 2 })
	a := post(t, srv, `[{"query":"{ __typename }"},{"query":"`+cheap+`"}]`)
	var all []map[string]any
	if err := json.Unmarshal([]byte(a.raw), &all); err != nil || a.status != 200 || len(all) != 2 || all[1]["data"] == nil {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a := post(t, srv, `[{"query":"{a:__typename}"},{"query":"{b:__typename}"},{"query":"{c:__typename}"}]`); a.code() != "BATCH_TOO_LARGE" || a.statements != 0 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestAutomaticPersistedQueries(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.GraphQLGet = config.GetOn })
	ext := func(q string) string {
		return `{"version":1,"sha256Hash":"` + sha(q) + `"}`
	}
	hashOnly := `{"extensions":{"persistedQuery":` + ext(cheap) + `}}`
	if a := post(t, srv, hashOnly); a.code() != "PERSISTED_QUERY_NOT_FOUND" || a.statements != 0 {
		t.Fatalf("unknown hash: %s", a.raw)
	}
	full, _ := json.Marshal(map[string]any{"query": cheap, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha(cheap)}}})
	if a := post(t, srv, string(full)); a.code() != "" {
		t.Fatalf("register: %s", a.raw)
	}
	if a := post(t, srv, hashOnly); a.code() != "" || a.statements == 0 {
		t.Fatalf("by hash: %s", a.raw)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?extensions="+url.QueryEscape(`{"persistedQuery":`+ext(cheap)+`}`), nil)
	req.Header.Set("Authorization", internal)
	if a := do(t, req); a.status != 200 || a.code() != "" {
		t.Fatalf("GET by hash: %d %s", a.status, a.raw)
	}
}

// allowListed are the default limits with a persisted-operations file
// listing docs, as PERSISTED_OPERATIONS_FILE configures it.
func allowListed(t testing.TB, docs ...string) httpserver.Limits {
	t.Helper()
	ops := map[string]string{}
	for _, d := range docs {
		ops[sha(d)] = d
	}
	file := filepath.Join(t.TempDir(), "ops.json")
	b, _ := json.Marshal(ops)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.PersistedOperationsFile = file
	limits, err := httpserver.LimitsFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return limits
}

func TestPersistedOperationAllowList(t *testing.T) {
	listed := `query Buildings { buildings(first: 1) { totalCount } }`
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.Limits = allowListed(t, listed) })
	if a := query(t, srv, listed); a.code() != "" || a.statements == 0 {
		t.Fatalf("listed text: %s", a.raw)
	}
	if a := post(t, srv, `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"`+sha(listed)+`"}}}`); a.code() != "" {
		t.Fatalf("listed hash: %s", a.raw)
	}
	if a := query(t, srv, cheap); a.code() != "OPERATION_NOT_ALLOWED" || a.statements != 0 {
		t.Fatalf("unlisted: %s", a.raw)
	}

	t.Run("BadFileNamesTheVariable", func(t *testing.T) {
		cfg := config.Default()
		cfg.PersistedOperationsFile = filepath.Join(t.TempDir(), "ops.json")
		if err := os.WriteFile(cfg.PersistedOperationsFile, []byte(`{"abc":"{ __typename }"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := httpserver.LimitsFrom(cfg); err == nil || !strings.Contains(err.Error(), "PERSISTED_OPERATIONS_FILE") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRequestTimeout(t *testing.T) {
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.RequestTimeout = time.Nanosecond })
	if a := query(t, srv, cheap); a.code() != "TIMEOUT" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestLogLinesOfARequestCarryItsID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logging.RequestIDHandler(slog.NewJSONHandler(&buf, nil)))
	h := httpserver.New(httpserver.Deps{Log: log, Authenticator: refuser{log}, Limits: defaultLimits(t), RequestTimeout: time.Second})
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
	req.Header.Set("Content-Type", "application/json")
	const id = "3f2b8c1e-9d4a-4c6b-8e2f-1a7d5c9b0e43"
	req.Header.Set("X-Request-ID", id)
	h.ServeHTTP(httptest.NewRecorder(), req)
	var refused map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err == nil && m["msg"] == "refused here" {
			refused = m
		}
	}
	if refused == nil || refused["request_id"] != id {
		t.Fatalf("the authenticator's line lacks the request id:\n%s", buf.String())
	}
}

// TestLogsNameTheRouteNotWhatTheClientSent sends names in paths, methods and
// X-Request-ID: the log lines carry the route the request matched (or a
// fixed word) and a request id of the gateway's own unless the client's
// has the shape of a generated one.
func TestLogsNameTheRouteNotWhatTheClientSent(t *testing.T) {
	var buf syncBuffer
	log := slog.New(logging.RequestIDHandler(slog.NewJSONHandler(&buf, nil)))
	srv, db := newServer(t, func(d *httpserver.Deps) { d.Log = log })
	hooks, err := webhook.New(nil, func(string) string { return "" }, directory.NewStore(db), log)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = httpserver.New(httpserver.Deps{Log: log, DBs: []*sqlx.DB{db}, Authenticator: authtest.Authenticator{},
		Limits: defaultLimits(t), RequestTimeout: time.Second, Webhooks: hooks})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path, id string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", internal)
		req.Header.Set("X-Request-ID", id)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for _, c := range []struct{ method, path, id, route string }{
		{"GET", "/users/jane.doe@example.com/profile", "jane.doe", "unmatched"},
		{"POST", "/webhooks/jane.doe@example.com", "Jane-Doe-1985", "POST /webhooks/{idp_id}"},
		{"PUT", "/webhooks/jane.doe", "jane_doe_example_com", "unmatched"},
		{"POST", "/graphql", "JaneDoe", "/graphql"},
		{"POST", "/graphql/jane.doe", "jane.doe", "unmatched"},
		{"GET", "/graphql/../users/jane.doe", "jane.doe", "unmatched"}, // the mux redirects to the clean path
		{"JANEDOE", "/graphql", "jane.doe", "/graphql"},
	} {
		id := send(c.method, c.path, c.id).Header.Get("X-Request-ID")
		if id == c.id || len(id) != 16 {
			t.Errorf("%s %s: X-Request-ID %q kept, want one of the gateway's", c.method, c.path, id)
		}
		if line := accessLine(t, &buf, id); line["route"] != c.route {
			t.Errorf("%s %s: access log line %v, want route %q", c.method, c.path, line, c.route)
		}
	}
	const generated = "3f2b8c1e-9d4a-4c6b-8e2f-1a7d5c9b0e43"
	for _, id := range []string{generated, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"} {
		if got := send("POST", "/graphql", id).Header.Get("X-Request-ID"); got != id {
			t.Errorf("X-Request-ID %q replaced by %q", id, got)
		}
	}
	logs := strings.ToLower(buf.String())
	for _, leak := range []string{"jane", "doe", "example.com", "/users", "profile"} {
		if strings.Contains(logs, leak) {
			t.Errorf("a log line holds %q:\n%s", leak, buf.String())
		}
	}
	if !strings.Contains(logs, `"request_id":"`+generated+`"`) {
		t.Errorf("the caller's generated request id is not logged:\n%s", buf.String())
	}
}

// accessLine is the access log line of the request with id, waiting a
// moment for it.
func accessLine(t *testing.T, buf *syncBuffer, id string) map[string]any {
	t.Helper()
	for range 1000 { // up to 10 s: a hang guard on a loaded machine, not a speed check
		for _, line := range strings.Split(buf.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["request_id"] == id {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no access log line of request %s:\n%s", id, buf.String())
	return nil
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// refuser logs with the request's context, as the token verifier does, and refuses.
type refuser struct{ log *slog.Logger }

func (r refuser) Authenticate(req *http.Request) (access.Scope, error) {
	r.log.InfoContext(req.Context(), "refused here")
	return access.Scope{}, apperr.E(apperr.Unauthenticated, "sign-in required")
}
