package httpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/property"
	"github.com/propertyportal/gateway/internal/seed"
)

// FuzzGraphQLEndpoint sends random documents, variables and headers to
// /graphql over GET and POST: whatever comes in, the answer is never a 5xx
// and never a panic, and it is always JSON. The seed corpus runs with the
// normal tests; `go test -fuzz FuzzGraphQLEndpoint ./internal/httpserver`
// explores further.
func FuzzGraphQLEndpoint(f *testing.F) {
	seeds := []struct {
		get                                 bool
		doc, vars, ext, ctype, accept, auth string
	}{
		{false, `{ buildings(first: 2) { edges { node { id name contacts { role contact { fullName user { email } } } } } } }`, `{}`, ``, "application/json", "", internal},
		{true, `query Q($n: Int) { users(first: $n) { totalCount } }`, `{"n": 3}`, ``, "", "application/graphql-response+json", internal},
		{false, `query Q($n: Int) { users(first: $n) { totalCount } }`, `{"n": "three"}`, ``, "application/json", "*/*", internal},
		{false, `{ users(first: -1, after: "bm90IGEgY3Vyc29y") { totalCount } }`, `null`, ``, "application/json", "", internal},
		{false, `{ invoices(filter: {issuedAfter: "yesterday"}) { totalCount } }`, ``, ``, "application/json; charset=utf-8", "application/json", internal},
		{false, `{ user(id: "not-a-uuid") { id } }`, ``, ``, "application/json", "", internal},
		{false, `mutation { x }`, ``, ``, "text/plain", "", internal},
		{true, `mutation { x }`, ``, ``, "", "", internal},
		{false, `{ __schema { types { name } } }`, ``, ``, "application/json", "", internal},
		{false, `{`, `{`, `{`, "application/json", "text/html", internal},
		{false, ``, ``, `{"persistedQuery":{"version":1,"sha256Hash":"abc"}}`, "application/json", "", internal},
		{false, `{ me { id } }`, ``, ``, "application/json", "", "Scope admin nope"},
		{false, `{ me { id } }`, ``, ``, "application/json", "", ""},
		{false, `query A { a: __typename } query B { b: __typename }`, `{"x": [1, {"y": null}]}`, ``, "application/json", "application/graphql-response+json;q=0, application/json;q=0.5", internal},
		{false, `{ contacts(filter: {search: "%_\\"}) { totalCount } }`, ``, ``, "application/json", "", internal},
		{false, "{ buildings { edges { node { ...F } } } } fragment F on Building { ...F }", ``, ``, "application/json", "", internal},
		{false, `{ buildings(first: 100) { edges { node { contacts { contact { buildings { building { contacts { contact { user { invoices(first: 100) { totalCount } } } } } } } } } } } }`, ``, ``, "application/json", "", internal},
	}
	for _, s := range seeds {
		f.Add(s.get, s.doc, s.vars, s.ext, s.ctype, s.accept, s.auth)
	}
	srv, db := newServer(f, func(d *httpserver.Deps) {
		d.Limits.MaxBatch = 3
		d.GraphQLGet = config.GetOn
	})
	if _, err := seed.Demo(context.Background(), db); err != nil {
		f.Fatal(err)
	}
	h := srv.Config.Handler
	f.Fuzz(func(t *testing.T, get bool, doc, vars, ext, ctype, accept, auth string) {
		var req *http.Request
		if get {
			q := url.Values{"query": {doc}}
			if vars != "" {
				q.Set("variables", vars)
			}
			if ext != "" {
				q.Set("extensions", ext)
			}
			req = httptest.NewRequest(http.MethodGet, "/graphql?"+q.Encode(), nil)
		} else {
			body := `{"query":` + quote(doc)
			if vars != "" {
				body += `,"variables":` + vars
			}
			if ext != "" {
				body += `,"extensions":` + ext
			}
			body += "}"
			req = httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		}
		for name, v := range map[string]string{"Content-Type": ctype, "Accept": accept, "Authorization": auth} {
			if v != "" && validHeader(v) {
				req.Header.Set(name, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %s %q vars %q: %s", rec.Code, req.Method, doc, vars, rec.Body.String())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d body is not JSON: %q", rec.Code, rec.Body.String())
		}
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// validHeader is what net/http would let a client send.
func validHeader(v string) bool {
	for _, r := range v {
		if r < ' ' || r == 0x7f || r > 0xff {
			return false
		}
	}
	return true
}

// TestPostgresRestartUnderLoad serves the gateway from its own throwaway
// cluster, stops the server while queries and writes flow, checks that the
// gateway answers errors and /readyz 503 meanwhile, starts the server again,
// and checks that the gateway recovers by itself and that every write whose
// commit was acknowledged is there.
func TestPostgresRestartUnderLoad(t *testing.T) {
	cluster, db := ownCluster(t)
	ctx := context.Background()
	if _, err := seed.Demo(ctx, db); err != nil {
		t.Fatal(err)
	}
	tenant, provider := uuid.New(), uuid.New()
	if _, err := db.ExecContext(ctx, `INSERT INTO property.providers (id, tenant_id, name) VALUES ($1, $2, 'Restart Test Provider')`, provider, tenant); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpserver.New(httpserver.Deps{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DBs: []*sqlx.DB{db},
		Stores: loader.Stores{
			Directory: directory.NewStore(db), Comms: comms.NewStore(db),
			Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
		},
		Authenticator:  authtest.Authenticator{},
		MaxPageSize:    100,
		Limits:         defaultLimits(t),
		RequestTimeout: 5 * time.Second,
	}))
	t.Cleanup(srv.Close)

	// Load: readers through the gateway, one writer straight to the
	// database, until stop is closed (and at most 2 minutes, 20,000 requests).
	var (
		stop               = make(chan struct{})
		wg                 sync.WaitGroup
		okReads, errReads  atomic.Int64
		fiveXX             atomic.Int64
		mu                 sync.Mutex
		committed          []uuid.UUID
		failedWrites, sent atomic.Int64
	)
	deadline := time.Now().Add(2 * time.Minute)
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return time.Now().Before(deadline) && sent.Add(1) < 20_000
		}
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for running() {
				a := query(t, srv, `{ buildings(first: 5) { edges { node { name contacts { contact { fullName } } } } } }`)
				switch {
				case a.status >= 500:
					fiveXX.Add(1)
				case a.code() == "":
					okReads.Add(1)
				default:
					errReads.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; running(); i++ {
			id := uuid.New()
			_, err := db.ExecContext(ctx, `INSERT INTO property.buildings (id, tenant_id, provider_id, name, address) VALUES ($1, $2, $3, $4, 'Restart Street')`,
				id, tenant, provider, fmt.Sprintf("Restart %05d", i))
			if err != nil {
				failedWrites.Add(1)
			} else {
				mu.Lock()
				committed = append(committed, id)
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitUntil(t, "reads before the restart", 30*time.Second, func() bool { return okReads.Load() > 10 })

	if err := cluster.StopServer(); err != nil {
		t.Fatal(err)
	}
	downAt := time.Now()
	errsBefore := errReads.Load()
	waitUntil(t, "/readyz 503 while PostgreSQL is down", 30*time.Second, func() bool { return status(t, srv.URL+"/readyz") == http.StatusServiceUnavailable })
	waitUntil(t, "errors while PostgreSQL is down", 30*time.Second, func() bool { return errReads.Load() > errsBefore+5 })
	a := query(t, srv, `{ buildings(first: 1) { totalCount } }`)
	if a.status >= 500 || a.code() == "" {
		t.Fatalf("while down: %d %s", a.status, a.raw)
	}
	t.Logf("while down: a query answers %d with %s", a.status, a.code())

	if err := cluster.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	okBefore := okReads.Load()
	waitUntil(t, "/readyz 200 after the restart", 30*time.Second, func() bool { return status(t, srv.URL+"/readyz") == http.StatusOK })
	waitUntil(t, "reads succeed again", 30*time.Second, func() bool { return okReads.Load() > okBefore+10 })
	recovered := time.Since(upAt)
	close(stop)
	wg.Wait()

	t.Logf("down for %s; recovered %s after the server was back; reads ok %d, failed %d; writes committed %d, failed %d",
		upAt.Sub(downAt).Round(time.Millisecond), recovered.Round(time.Millisecond), okReads.Load(), errReads.Load(), len(committed), failedWrites.Load())
	if fiveXX.Load() > 0 {
		t.Errorf("%d answers were 5xx", fiveXX.Load())
	}
	if failedWrites.Load() == 0 {
		t.Errorf("no write failed: the outage did not happen under load")
	}

	// Every acknowledged write is there, seen through the gateway and in SQL.
	var present int
	if err := db.GetContext(ctx, &present, `SELECT count(*) FROM property.buildings WHERE id = ANY($1)`, uuidArray(committed)); err != nil {
		t.Fatal(err)
	}
	if present != len(committed) {
		t.Fatalf("%d of %d committed writes survived the restart", present, len(committed))
	}
	a = query(t, srv, `{ buildings(first: 1, filter: {providerId: "`+provider.String()+`"}) { totalCount } }`)
	total, _ := a.body["data"].(map[string]any)["buildings"].(map[string]any)["totalCount"].(float64)
	if a.code() != "" || int(total) < len(committed) {
		t.Fatalf("the gateway sees %v buildings of the provider, %d were committed: %s", total, len(committed), a.raw)
	}
}

func uuidArray(ids []uuid.UUID) any {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return "{" + strings.Join(s, ",") + "}"
}

func status(t *testing.T, u string) int {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// waitUntil polls cond until it holds, failing after limit.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
