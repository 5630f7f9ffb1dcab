package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// oneConn returns a database of one pooled connection, so that what a test
// reads of the session (pg_prepared_statements) is the session its
// statements ran on.
func oneConn(t *testing.T, url string) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// prepared returns how often the session has run the prepared statement of
// query (generic and custom plans together), and false when it holds none.
func prepared(t *testing.T, db *sqlx.DB, query string) (int, bool) {
	t.Helper()
	var runs []int
	err := db.Select(&runs, `SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement = $1`, query)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) > 1 {
		t.Fatalf("%d prepared statements of one text", len(runs))
	}
	if len(runs) == 0 {
		return 0, false
	}
	return runs[0], true
}

func count(t *testing.T, c *postgres.Stmts, ctx context.Context, query string, args ...any) int {
	t.Helper()
	var n int
	if err := c.Get(ctx, &n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStmts(t *testing.T) {
	t.Parallel()
	const q = `SELECT count(*) FROM directory.tenants WHERE name <> $1`

	t.Run("PreparesOncePerConnectionAndCountsEachRun", func(t *testing.T) {
		t.Parallel()
		db := oneConn(t, pgtest.URL(t))
		c := postgres.NewStmts(db)
		ctx, counter := postgres.WithStatementCounter(context.Background())
		for range 3 {
			count(t, c, ctx, q, "x")
		}
		if got := counter.Load(); got != 3 {
			t.Errorf("statement counter %d after 3 runs, want 3 (a prepare is not a statement)", got)
		}
		if runs, ok := prepared(t, db, q); !ok || runs != 3 {
			t.Errorf("prepared statement ran %d times (held: %v), want one statement run 3 times", runs, ok)
		}
	})

	t.Run("PreparesAgainAfterTheConnectionDies", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		db := oneConn(t, url)
		c := postgres.NewStmts(db)
		ctx := context.Background()
		count(t, c, ctx, q, "x")
		var pid int
		if err := db.Get(&pid, `SELECT pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		// What a PostgreSQL restart does to a pooled connection.
		killer := oneConn(t, url)
		if _, err := killer.Exec(`SELECT pg_terminate_backend($1, 5000)`, pid); err != nil {
			t.Fatal(err)
		}
		if got := count(t, c, ctx, q, "x"); got != 0 {
			t.Fatalf("count %d", got)
		}
		var now int
		if err := db.Get(&now, `SELECT pg_backend_pid()`); err != nil || now == pid {
			t.Fatalf("backend %d after terminating %d: %v", now, pid, err)
		}
		if runs, ok := prepared(t, db, q); !ok || runs != 1 {
			t.Errorf("on the new connection the statement ran %d times (held: %v), want 1", runs, ok)
		}
	})

	t.Run("RunsUnpreparedPastTheBound", func(t *testing.T) {
		t.Parallel()
		db := oneConn(t, pgtest.URL(t))
		c := postgres.NewStmts(db)
		ctx, counter := postgres.WithStatementCounter(context.Background())
		for i := range postgres.MaxStmts + 1 {
			if got := count(t, c, ctx, fmt.Sprintf(`SELECT $1::int + %d`, i), 1); got != i+1 {
				t.Fatalf("statement %d answered %d", i, got)
			}
		}
		if got := counter.Load(); got != postgres.MaxStmts+1 {
			t.Errorf("statement counter %d, want %d", got, postgres.MaxStmts+1)
		}
		var held int
		if err := db.Get(&held, `SELECT count(*) FROM pg_prepared_statements`); err != nil {
			t.Fatal(err)
		}
		if held != postgres.MaxStmts {
			t.Errorf("%d statements prepared, want the bound, %d", held, postgres.MaxStmts)
		}
	})
}

func TestScanTargets(t *testing.T) {
	t.Parallel()
	c := postgres.NewStmts(pgtest.DB(t))
	id := uuid.New()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	scan := func(r *sql.Rows) (*scanned, error) {
		// Set, so that NULL must clear them.
		x := &scanned{noID: postgres.NullUUID{Value: id, Valid: true}, none: sql.NullString{String: "x", Valid: true},
			never: postgres.NullTime{Value: at, Valid: true}}
		return x, r.Scan(postgres.ScanUUID(&x.id), &x.someID, &x.noID, &x.text, &x.none, &x.at, &x.when, &x.never)
	}
	// Before PostgreSQL's epoch too: its binary form counts back from 2000.
	for _, at := range []time.Time{at, time.Date(1999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)} {
		for _, q := range []string{
			// The stores' binary forms, as bytea.
			`SELECT uuid_send($1::uuid), uuid_send($1::uuid), uuid_send(NULL::uuid), 'Zoë'::text, NULL::text,
				timestamptz_send($2::timestamptz), timestamptz_send($2::timestamptz), timestamptz_send(NULL::timestamptz)`,
			`SELECT $1::uuid, $1::uuid, NULL::uuid, 'Zoë'::text, NULL::text, $2::timestamptz, $2::timestamptz, NULL::timestamptz`,
			// The same as text: lib/pq decodes a uuid from either format.
			`SELECT $1::uuid::text, $1::uuid::text, NULL::text, 'Zoë'::text, NULL::text, $2::timestamptz, $2::timestamptz, NULL::timestamptz`,
		} {
			scanRow(t, c, scan, q, id, at)
		}
	}
}

type scanned struct {
	id           uuid.UUID
	someID, noID postgres.NullUUID
	text, none   sql.NullString
	at, when     postgres.NullTime
	never        postgres.NullTime
}

func scanRow(t *testing.T, c *postgres.Stmts, scan func(*sql.Rows) (*scanned, error), q string, id uuid.UUID, at time.Time) {
	t.Helper()
	{
		rows, err := postgres.Select(context.Background(), c, scan, q, id, at)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%d rows, %v", len(rows), err)
		}
		r := rows[0]
		if got := r.someID.Ptr(); r.id != id || got == nil || *got != id || r.noID.Ptr() != nil {
			t.Errorf("uuids %v %v %v, want %v %v nil", r.id, got, r.noID.Ptr(), id, id)
		}
		if got := postgres.StringPtr(&r.text); got == nil || *got != "Zoë" || postgres.StringPtr(&r.none) != nil {
			t.Errorf("texts %v %v, want Zoë nil", got, postgres.StringPtr(&r.none))
		}
		if got := r.when.Ptr(); got == nil || !got.Equal(at) || !r.at.Valid || !r.at.Value.Equal(at) || r.never.Ptr() != nil {
			t.Errorf("times %v %v %v, want %v %v nil", r.at.Value, got, r.never.Ptr(), at, at)
		}
	}
}

// TestUUIDArray: the hand-built array text is what PostgreSQL reads as the
// same uuid[] as pq.Array's, empty and nil included.
func TestUUIDArray(t *testing.T) {
	db := pgtest.DB(t)
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.Nil, uuid.MustParse("ffffffff-ffff-ffff-ffff-ffffffffffff")}
	for _, in := range [][]uuid.UUID{ids, ids[:1], {}, nil} {
		var got, want sql.NullString
		if err := db.QueryRow(`SELECT $1::uuid[]::text, $2::uuid[]::text`, postgres.UUIDArray(in), pq.Array(in)).Scan(&got, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%v: UUIDArray %v, pq.Array %v", in, got, want)
		}
	}
}

// TestSessionsPlanGenerically: the gateway's sessions plan a prepared
// statement once, for any values, unless the connection string asks for
// PostgreSQL's own choice; every form of connection string keeps its other
// settings.
func TestSessionsPlanGenerically(t *testing.T) {
	url := pgtest.URL(t)
	mode := func(url string) string {
		t.Helper()
		var m string
		if err := oneConn(t, url).Get(&m, `SHOW plan_cache_mode`); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := mode(url); m != "force_generic_plan" {
		t.Errorf("plan_cache_mode %q", m)
	}
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h/db", "postgres://u@h/db?plan_cache_mode=force_generic_plan"},
		{"postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=disable&plan_cache_mode=force_generic_plan"},
		{"host=h dbname=db", "host=h dbname=db plan_cache_mode=force_generic_plan"},
		{"postgres://u@h/db?plan_cache_mode=auto", "postgres://u@h/db?plan_cache_mode=auto"},
		{"host=h options='-c plan_cache_mode=auto'", "host=h options='-c plan_cache_mode=auto'"},
	} {
		if got, err := postgres.GenericPlans(tc.in); err != nil || got != tc.want {
			t.Errorf("GenericPlans(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	sep := "&"
	if !strings.Contains(url, "?") {
		sep = "?"
	}
	if m := mode(url + sep + "plan_cache_mode=auto"); m != "auto" {
		t.Errorf("with plan_cache_mode=auto in the URL: %q", m)
	}
}

// TestForValues: the ForValues view plans a statement for the values
// bound, counts it as one statement, and hands the connection back in the
// session's own mode, also when the request is cancelled mid-way.
func TestForValues(t *testing.T) {
	db := oneConn(t, pgtest.URL(t))
	c := postgres.NewStmts(db).ForValues()
	ctx, n := postgres.WithStatementCounter(context.Background())
	ctx, log := postgres.WithStatementLog(ctx)
	var inside string
	if err := c.Get(ctx, &inside, `SELECT current_setting('plan_cache_mode') WHERE $1::int = 1`, 1); err != nil {
		t.Fatal(err)
	}
	modes, err := postgres.Select(ctx, c, func(r *sql.Rows) (string, error) {
		var m string
		return m, r.Scan(&m)
	}, `SELECT current_setting('plan_cache_mode') FROM generate_series(1, $1::int)`, 2)
	if err != nil {
		t.Fatal(err)
	}
	if inside != "force_custom_plan" || fmt.Sprint(modes) != "[force_custom_plan force_custom_plan]" {
		t.Errorf("planned as %q and %v", inside, modes)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("%d statements counted, want 2", got)
	}
	for _, s := range log.Statements() {
		if !s.ForValues {
			t.Errorf("logged as planned generically: %s", s.Query)
		}
	}
	after := func() string {
		t.Helper()
		var m string
		if err := db.Get(&m, `SHOW plan_cache_mode`); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := after(); m != "force_generic_plan" {
		t.Errorf("the connection went back to the pool planning %q", m)
	}

	// Cancelled while the statement runs: the reset still happens, or the
	// connection is closed; the pool never plans for values afterwards.
	cctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Get(cctx, new(int), `SELECT 1 FROM pg_sleep(1) WHERE $1::int = 1`, 1); err == nil {
		t.Fatal("a cancelled statement succeeded")
	}
	if m := after(); m != "force_generic_plan" {
		t.Errorf("after a cancelled statement the pool plans %q", m)
	}
	if _, err := c.Query(ctx, `SELECT 1`); err == nil {
		t.Error("Query on the ForValues view: no error")
	}
}

// TestUnpack: a packed column reads back into its uuids and times, whether
// it arrives in binary (a prepared statement) or as text (an unprepared
// one, which lib/pq decodes), and a column of the wrong length is an error.
func TestUnpack(t *testing.T) {
	db := oneConn(t, pgtest.URL(t))
	id := uuid.New()
	const q = `SELECT uuid_send($1::uuid) || timestamptz_send($2::timestamptz) || uuid_send($1::uuid) WHERE $3::int = 1`
	for name, c := range map[string]*postgres.Stmts{"prepared": postgres.NewStmts(db), "unprepared": postgres.NewStmts(db).ForValues()} {
		for _, at := range []time.Time{time.Date(2026, 12, 1, 16, 0, 0, 123456000, time.UTC),
			time.Date(1999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)} { // before PostgreSQL's epoch
			var raw []byte
			if err := c.Get(context.Background(), &raw, q, id, at, 1); err != nil {
				t.Fatal(err)
			}
			var a, b uuid.UUID
			var ts time.Time
			if err := postgres.Unpack(raw, &a, &ts, &b); err != nil || a != id || b != id || !ts.Equal(at) {
				t.Errorf("%s: %v %v %v, %v", name, a, ts, b, err)
			}
		}
	}
	var u uuid.UUID
	var ts time.Time
	for _, tc := range []struct {
		src    any
		fields []any
	}{
		{make([]byte, 15), []any{&u}},
		{make([]byte, 17), []any{&u}},
		{make([]byte, 23), []any{&u, &ts}},
		{"text", []any{&u}},
		{make([]byte, 16), []any{new(string)}},
	} {
		if err := postgres.Unpack(tc.src, tc.fields...); err == nil {
			t.Errorf("Unpack(%d bytes into %d fields): no error", len(fmt.Sprint(tc.src)), len(tc.fields))
		}
	}
}
