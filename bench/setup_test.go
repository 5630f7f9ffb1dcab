// Package bench holds the load script (run.sh), the SQL ceiling it replays
// (sql/), the GraphQL queries it sends (queries/), and the Go tests and
// benchmarks that run those same queries through the gateway's handler on a
// small seeded database: EXPLAIN of every statement, and the per-request
// cost of middleware and resolvers.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/property"
	"github.com/propertyportal/gateway/internal/seed"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// smallBulk is the full benchmark data set shrunk about 250 times: every
// relation of Q1-Q4 has rows (acme.com users, dev-IdP users with contacts,
// buildings with a primary contact, users with many invoices), and it seeds
// in a few seconds.
var smallBulk = seed.BulkOptions{Tenants: 2, Users: 4000, Buildings: 400, Contacts: 2000, Invoices: 40000}

// fixture is a seeded database behind the gateway's handler, and one
// caller per query.
type fixture struct {
	db       *sqlx.DB
	h        http.Handler
	admin    access.Scope // Q1, Q2: an admin of tenant 1
	internal access.Scope // Q3: an internal service account
	me       access.Scope // Q4: a dev-IdP provider of tenant 1 who has a contact
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	db := pgtest.DB(tb)
	res, err := seed.Bulk(ctx, db, smallBulk, io.Discard)
	if err != nil {
		tb.Fatalf("seed: %v", err)
	}
	tenant := res.TenantIDs[0]
	var adminID, meID uuid.UUID
	if err := db.GetContext(ctx, &adminID, `SELECT id FROM directory.users WHERE tenant_id = $1 AND idp_id = 'dev'
		ORDER BY created_at, id LIMIT 1`, tenant); err != nil {
		tb.Fatalf("admin: %v", err)
	}
	if err := db.GetContext(ctx, &meID, `SELECT u.id FROM directory.users u JOIN comms.contacts c ON c.user_id = u.id
		WHERE u.tenant_id = $1 AND u.idp_id = 'dev' ORDER BY u.created_at DESC, u.id LIMIT 1`, tenant); err != nil {
		tb.Fatalf("user with a contact: %v", err)
	}
	h := httpserver.New(httpserver.Deps{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DBs: []*sqlx.DB{db},
		Stores: loader.Stores{
			Directory: directory.NewStore(db), Comms: comms.NewStore(db),
			Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
		},
		Authenticator: authtest.Authenticator{},
		MaxPageSize:   100,
	})
	return &fixture{
		db: db, h: h,
		admin:    access.Scope{Role: access.RoleAdmin, TenantID: tenant, UserID: adminID},
		internal: access.Scope{Role: access.RoleInternal},
		me:       access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: meID},
	}
}

// query is one of bench/queries, as run.sh sends it.
type query struct {
	name   string
	levels int // nesting levels: the statements it should cost
	scope  access.Scope
	body   []byte
}

// queries returns Q1-Q4 as run.sh sends them: Q2 twice, its first page
// and the page after it.
func (f *fixture) queries(tb testing.TB) []query {
	tb.Helper()
	q2 := body(tb, "q2", nil)
	var page1 struct {
		Data struct {
			Users struct {
				PageInfo struct{ EndCursor string } `json:"pageInfo"`
			} `json:"users"`
		} `json:"data"`
	}
	raw, _ := f.post(tb, f.admin, q2, nil)
	if err := json.Unmarshal(raw, &page1); err != nil || page1.Data.Users.PageInfo.EndCursor == "" {
		tb.Fatalf("q2 first page has no end cursor: %s", raw)
	}
	return []query{
		{"Q1", 4, f.admin, body(tb, "q1", nil)},
		{"Q2", 1, f.admin, q2},
		{"Q2next", 1, f.admin, body(tb, "q2", map[string]any{"after": page1.Data.Users.PageInfo.EndCursor})},
		{"Q3", 2, f.internal, body(tb, "q3", nil)},
		{"Q4", 2, f.me, body(tb, "q4", nil)},
	}
}

func body(tb testing.TB, name string, vars map[string]any) []byte {
	tb.Helper()
	q, err := os.ReadFile(filepath.Join("queries", name+".graphql"))
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"query": string(q), "variables": vars})
	return b
}

// post sends a body through the handler as scope, with ctx's values (nil:
// none), and returns the answer and the statements it cost. It fails on a
// non-200 answer or a GraphQL error.
func (f *fixture) post(tb testing.TB, s access.Scope, b []byte, ctx context.Context) ([]byte, int) {
	tb.Helper()
	if ctx == nil {
		ctx = context.Background()
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authtest.Header(s))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var out struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Errors) > 0 {
		tb.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
	}
	n, _ := strconv.Atoi(rec.Header().Get("X-SQL-Statements"))
	return rec.Body.Bytes(), n
}

// statementsOf runs q and returns every statement it sent.
func (f *fixture) statementsOf(tb testing.TB, q query) []postgres.Statement {
	tb.Helper()
	ctx, log := postgres.WithStatementLog(context.Background())
	f.post(tb, q.scope, q.body, ctx)
	return log.Statements()
}
