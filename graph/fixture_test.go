package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/property"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is one test's database and gateway.
type env struct {
	t   testing.TB
	db  *sqlx.DB
	srv *httptest.Server
	seq int
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvAuth(t, func(*sqlx.DB) auth.Authenticator { return authtest.Authenticator{} })
}

// newEnvAuth is newEnv with the authenticator authn makes over the test's database.
func newEnvAuth(t testing.TB, authn func(*sqlx.DB) auth.Authenticator) *env {
	t.Helper()
	db := pgtest.DB(t)
	h := httpserver.New(httpserver.Deps{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DBs: []*sqlx.DB{db},
		Stores: loader.Stores{
			Directory: directory.NewStore(db), Comms: comms.NewStore(db),
			Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
		},
		Authenticator: authn(db),
		MaxPageSize:   100,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv}
}

// response is a GraphQL answer plus the statements it cost.
type response struct {
	Status     int
	Data       map[string]any
	Errors     []gqlError
	Statements int
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// code returns the extensions.code of the only error, failing otherwise.
func (r response) code(t testing.TB) string {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want exactly one error, got %+v", r.Errors)
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// query runs a GraphQL query as scope (nil: no credentials).
func (e *env) query(scope *access.Scope, q string, vars map[string]any) response {
	e.t.Helper()
	authz := ""
	if scope != nil {
		authz = authtest.Header(*scope)
	}
	return e.queryAs(authz, q, vars)
}

// queryAs runs a GraphQL query with an Authorization value ("" for none).
func (e *env) queryAs(authz, q string, vars map[string]any) response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	var out response
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("decode %q: %v", raw, err)
	}
	out.Status = res.StatusCode
	out.Statements = -1 // no header: a check for 0 must not pass by accident
	if h := res.Header.Get("X-SQL-Statements"); h != "" {
		out.Statements, _ = strconv.Atoi(h)
	}
	return out
}

// ok runs a query that must succeed and returns its data.
func (e *env) ok(scope *access.Scope, q string, vars map[string]any) map[string]any {
	e.t.Helper()
	r := e.query(scope, q, vars)
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		e.t.Fatalf("query failed (%d): %+v", r.Status, r.Errors)
	}
	return r.Data
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.ExecContext(context.Background(), q, args...); err != nil {
		e.t.Fatalf("fixture: %v", err)
	}
}

func (e *env) next() int { e.seq++; return e.seq }

func (e *env) tenant(name string) uuid.UUID {
	id := uuid.New()
	e.exec(`INSERT INTO directory.tenants (id, name) VALUES ($1, $2)`, id, name)
	return id
}

func (e *env) user(tenant uuid.UUID, idp, email, name string) uuid.UUID {
	id := uuid.New()
	e.exec(`INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name, synced_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, now(), now() + make_interval(secs => $7))`,
		id, tenant, idp, fmt.Sprintf("ext-%d", e.next()), email, name, e.seq)
	return id
}

func (e *env) provider(tenant uuid.UUID, name string) uuid.UUID {
	id := uuid.New()
	e.exec(`INSERT INTO property.providers (id, tenant_id, name) VALUES ($1, $2, $3)`, id, tenant, name)
	return id
}

func (e *env) building(tenant, provider uuid.UUID, name string) uuid.UUID {
	id := uuid.New()
	e.exec(`INSERT INTO property.buildings (id, tenant_id, provider_id, name, address) VALUES ($1, $2, $3, $4, $5)`,
		id, tenant, provider, name, name+" Street 1")
	return id
}

// contact makes a contact; user may be uuid.Nil for one without an account.
func (e *env) contact(tenant, user uuid.UUID, name, email, phone string) uuid.UUID {
	id := uuid.New()
	var u any
	if user != uuid.Nil {
		u = user
	}
	e.exec(`INSERT INTO comms.contacts (id, tenant_id, user_id, full_name, email, phone) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, tenant, u, name, email, phone)
	return id
}

func (e *env) link(tenant, building, contact uuid.UUID, role string, primary bool) {
	e.exec(`INSERT INTO comms.building_contacts (building_id, contact_id, tenant_id, role, is_primary) VALUES ($1, $2, $3, $4, $5)`,
		building, contact, tenant, role, primary)
}

func (e *env) invoice(tenant, user uuid.UUID, issued time.Time) uuid.UUID {
	id := uuid.New()
	e.exec(`INSERT INTO bookkeeping.invoices (id, tenant_id, number, amount_minor, currency, issued_at, created_by_user_id)
		VALUES ($1, $2, $3, $4, 'EUR', $5, $6)`, id, tenant, fmt.Sprintf("INV-%06d", e.next()), 1000+e.seq, issued, user)
	return id
}

func admin(tenant uuid.UUID) *access.Scope {
	return &access.Scope{Role: access.RoleAdmin, TenantID: tenant}
}

func internal() *access.Scope { return &access.Scope{Role: access.RoleInternal} }

// path walks decoded JSON: path(data, "users", "edges", 0, "node", "email").
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// nodes returns the given field of every node of a connection.
func nodes(conn any, field string) []any {
	var out []any
	edges, _ := path(conn, "edges").([]any)
	for _, e := range edges {
		out = append(out, path(e, "node", field))
	}
	return out
}
