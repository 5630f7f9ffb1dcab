package httpserver_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/logging"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/property"
)

// ownCluster starts a throwaway PostgreSQL cluster with a migrated database
// "portal", which the test may stop and start again.
func ownCluster(t *testing.T) (*postgres.Cluster, *sqlx.DB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts its own PostgreSQL cluster")
	}
	ctx := context.Background()
	cluster, err := postgres.StartCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.StartServer(context.Background()) // Stop needs a running server
		if err := cluster.Stop(); err != nil {
			t.Logf("stop cluster: %v", err)
		}
	})
	admin, err := postgres.Open(ctx, cluster.URL("postgres"), postgres.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.ExecContext(ctx, "CREATE DATABASE portal")
	_ = admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, cluster.URL("portal"), postgres.Options{MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := postgres.Migrate(ctx, db.DB); err != nil {
		t.Fatal(err)
	}
	return cluster, db
}

// logLines are the JSON log lines in buf.
func logLines(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// dbAuthenticator signs in a request with an X-Sign-In header as the
// directory does: it asks the database first, and fails the way the
// gateway's sign-in fails when it cannot. Other requests sign in as
// authtest's.
type dbAuthenticator struct{ db *sqlx.DB }

func (a dbAuthenticator) Authenticate(r *http.Request) (access.Scope, error) {
	if r.Header.Get("X-Sign-In") != "" {
		var one int
		if err := a.db.GetContext(r.Context(), &one, `SELECT 1`); err != nil {
			return access.Scope{}, postgres.Translate(err, "sign in")
		}
	}
	return authtest.Authenticator{}.Authenticate(r)
}

// TestDatabaseOutageAnswersUnavailableAndLogsOnce stops PostgreSQL under a
// running gateway: every request meanwhile answers UNAVAILABLE with a retry
// hint (in the GraphQL error, and as Retry-After when sign-in itself
// fails), and the log holds one ERROR when the database goes away and one
// INFO when it is back, not a line per request.
func TestDatabaseOutageAnswersUnavailableAndLogsOnce(t *testing.T) {
	cluster, db := ownCluster(t)
	var buf syncBuffer
	srv := httptest.NewServer(httpserver.New(httpserver.Deps{
		Log: slog.New(logging.RequestIDHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		DBs: []*sqlx.DB{db},
		Stores: loader.Stores{
			Directory: directory.NewStore(db), Comms: comms.NewStore(db),
			Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
		},
		Authenticator:  dbAuthenticator{db},
		MaxPageSize:    100,
		Limits:         defaultLimits(t),
		RequestTimeout: 5 * time.Second,
	}))
	t.Cleanup(srv.Close)

	const q = `{ buildings(first: 1) { totalCount } }`
	if a := query(t, srv, q); a.code() != "" {
		t.Fatalf("before the outage: %d %s", a.status, a.raw)
	}
	if err := cluster.StopServer(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		a := query(t, srv, q)
		errs, _ := a.body["errors"].([]any)
		if a.code() != "UNAVAILABLE" || len(errs) == 0 {
			t.Fatalf("query %d while down: %d %s", i, a.status, a.raw)
		}
		ext := errs[0].(map[string]any)["extensions"].(map[string]any)
		if n, _ := ext["retryAfter"].(float64); n < 1 {
			t.Fatalf("query %d while down: no retryAfter: %s", i, a.raw)
		}
		a = query(t, srv, q, "X-Sign-In", "db")
		if a.status != http.StatusServiceUnavailable || a.code() != "UNAVAILABLE" || a.header.Get("Retry-After") == "" {
			t.Fatalf("sign-in %d while down: %d %v %s", i, a.status, a.header, a.raw)
		}
	}
	if err := cluster.StartServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "queries succeed again", 30*time.Second, func() bool { return query(t, srv, q).code() == "" })
	if a := query(t, srv, q, "X-Sign-In", "db"); a.code() != "" {
		t.Fatalf("sign-in after the outage: %d %s", a.status, a.raw)
	}

	var errors, infos []map[string]any
	for _, m := range logLines(t, &buf) {
		switch m["level"] {
		case "ERROR":
			errors = append(errors, m)
		case "INFO":
			if m["msg"] == "database available again" {
				infos = append(infos, m)
			}
		}
	}
	if len(errors) != 1 || errors[0]["msg"] != "database unavailable" {
		t.Errorf("%d ERROR lines, want one \"database unavailable\":\n%s", len(errors), buf.String())
	}
	if len(infos) != 1 {
		t.Errorf("%d \"database available again\" lines, want one:\n%s", len(infos), buf.String())
	}
}
