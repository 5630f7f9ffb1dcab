package postgres

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// TxAcross runs fn in a transaction on main and one on other, the database
// of a context that may live apart (comms). When other is nil or main it is
// one transaction, and fn gets it twice. Otherwise other's transaction runs
// inside main's and commits just before it: a failure between the two
// commits (a lost connection, a crash) leaves other's writes committed and
// main's undone, so fn's callers must be safe to run again, which completes
// the work. An error of fn rolls both back.
func TxAcross(ctx context.Context, main, other *sqlx.DB, fn func(main, other *sqlx.Tx) error) error {
	return Tx(ctx, main, func(m *sqlx.Tx) error {
		if other == nil || other == main {
			return fn(m, m)
		}
		return Tx(ctx, other, func(o *sqlx.Tx) error { return fn(m, o) })
	})
}
