// Package pgtest gives tests real PostgreSQL databases: one throwaway cluster
// per test binary (or the server at TEST_DATABASE_URL), one migrated template
// database built once, and a fresh copy of it for every test, so tests run in
// parallel without sharing rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/postgres"
)

var (
	mu       sync.Mutex
	baseURL  string // a URL to the server; the database part is replaced
	template string
	cluster  *postgres.Cluster
)

// Main runs the tests of a package with a database server ready, and stops
// the cluster afterwards. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	ctx := context.Background()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		baseURL = u
	} else {
		c, err := postgres.StartCluster(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: start throwaway PostgreSQL:", err)
			return 1
		}
		cluster = c
		baseURL = c.URL("postgres")
	}
	code := run(ctx, m)
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop cluster:", err)
		}
	}
	return code
}

func run(ctx context.Context, m *testing.M) int {
	template = "gwtpl_" + randomSuffix()
	if err := createTemplate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: template database:", err)
		return 1
	}
	defer dropDatabase(ctx, template)
	return m.Run()
}

func createTemplate(ctx context.Context) error {
	if err := exec(ctx, "CREATE DATABASE "+template); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, withDatabase(baseURL, template), postgres.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	return postgres.Migrate(ctx, db.DB)
}

// URL returns the URL of a new, migrated, empty database that is dropped
// when t ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, template)
}

// EmptyURL returns the URL of a new database with nothing in it, not even
// the migrations, that is dropped when t ends.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "template0")
}

// newDatabase creates a copy of the template database tpl.
func newDatabase(t testing.TB, tpl string) string {
	t.Helper()
	if baseURL == "" {
		t.Fatal("pgtest: call pgtest.Main from TestMain")
	}
	ctx := context.Background()
	name := "gwtest_" + randomSuffix()
	mu.Lock() // CREATE DATABASE ... TEMPLATE cannot copy while another copy runs
	err := exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tpl))
	mu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(context.Background(), name) })
	return withDatabase(baseURL, name)
}

// DB returns an open connection to a new, migrated, empty database.
func DB(t testing.TB) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), URL(t), postgres.Options{MaxOpenConns: 10})
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func exec(ctx context.Context, stmt string) error {
	db, err := postgres.Open(ctx, baseURL, postgres.Options{MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

func dropDatabase(ctx context.Context, name string) {
	_ = exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		// A key=value connection string.
		return raw + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
