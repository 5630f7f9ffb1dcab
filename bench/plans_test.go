package bench

import (
	"strings"
	"testing"
)

// TestHotReadsArePlannedOnce: a prepared statement is parsed once per
// connection, but PostgreSQL plans it again on every execution for as long
// as it judges a plan made for the values bound (a custom plan) cheaper
// than its generic one, and it tries five such plans first whatever it
// then decides. For a keyset page bounded by `LIMIT $n` with a filter on a
// common value (acme.com), on the full data set it never settles: each
// list statement of Q1-Q3 was planned again on every request, and the
// planning cost as much as the run (bench/README.md, History). The
// gateway's statements are keyset walks and lookups by key whose generic
// plans are the plans PostgreSQL would make for any value (TestQueriesUseIndexes
// EXPLAINs them as run), so the gateway's sessions use them from the first
// run: every statement Q1-Q4 send, run a dozen times on one connection, is
// planned once there and never for the values bound.
func TestHotReadsArePlannedOnce(t *testing.T) {
	f := newFixture(t)
	qs := f.queries(t)
	// One connection, so that its session's pg_prepared_statements holds
	// every statement the requests ran.
	f.db.SetMaxOpenConns(1)
	const runs = 12
	for range runs {
		for _, q := range qs {
			f.post(t, q.scope, q.body, nil)
		}
	}
	var stmts []struct {
		Statement string `db:"statement"`
		Generic   int    `db:"generic_plans"`
		Custom    int    `db:"custom_plans"`
	}
	if err := f.db.Select(&stmts, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`); err != nil {
		t.Fatal(err)
	}
	hot := 0
	for _, s := range stmts {
		if s.Generic+s.Custom < runs {
			continue // a statement of the setup, or run once
		}
		hot++
		if s.Custom > 0 {
			q := strings.Join(strings.Fields(s.Statement), " ")
			t.Errorf("planned for the values bound %d times in %d runs: %.200s", s.Custom, s.Generic+s.Custom, q)
		}
	}
	// Q1 4, Q2 1 (both pages one text but for the cursor), Q3 2, Q4 2.
	if hot < 8 {
		t.Errorf("%d prepared statements ran %d times or more; Q1-Q4 send at least 8", hot, runs)
	}
}
