package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestDBIsMigratedAndPrivate(t *testing.T) {
	t.Parallel()
	a, b := pgtest.DB(t), pgtest.DB(t)
	ctx := context.Background()
	if _, err := a.ExecContext(ctx, `INSERT INTO directory.tenants (name) VALUES ('a')`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var n int
	if err := b.GetContext(ctx, &n, `SELECT count(*) FROM directory.tenants`); err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 0 {
		t.Fatalf("second database sees %d tenants of the first; want 0", n)
	}
}
