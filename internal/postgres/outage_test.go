package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// TestTranslateOutage: a database that cannot be reached, or that ends the
// session (as a shutdown does), is Unavailable; a statement the caller
// cancelled or the server refused is not.
func TestTranslateOutage(t *testing.T) {
	ctx := context.Background()
	refused, err := sqlx.Open("postgres", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	if k := apperr.KindOf(postgres.Translate(refused.PingContext(ctx), "ping")); k != apperr.Unavailable {
		t.Errorf("connection refused: kind %v, want unavailable", k)
	}

	url := pgtest.URL(t)
	pool, admin := oneConn(t, url), oneConn(t, url)
	victim, err := pool.Connx(ctx) // a session of its own: the pool would retry elsewhere
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	var pid int
	if err := victim.GetContext(ctx, &pid, `SELECT pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	var one int
	err = victim.GetContext(ctx, &one, `SELECT 1`)
	if k := apperr.KindOf(postgres.Translate(err, "select")); err == nil || k != apperr.Unavailable {
		t.Errorf("a terminated session: %v, kind %v, want unavailable", err, k)
	}

	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = admin.ExecContext(cctx, `SELECT pg_sleep(5)`)
	if k := apperr.KindOf(postgres.Translate(err, "sleep")); err == nil || k == apperr.Unavailable {
		t.Errorf("a cancelled statement: %v, kind %v, want not unavailable", err, k)
	}
	_, err = admin.ExecContext(ctx, `SELECT 1/0`)
	if k := apperr.KindOf(postgres.Translate(err, "divide")); err == nil || k == apperr.Unavailable {
		t.Errorf("a refused statement: %v, kind %v, want not unavailable", err, k)
	}
}
