// Package postgres opens the database, applies the embedded migrations under
// an advisory lock, runs transactions and translates Postgres errors into
// apperr kinds at the store edge. It owns no tables: each context's store
// writes SQL against its own schema only.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/XSAM/otelsql"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/ngrok/sqlmw"
	"go.opentelemetry.io/otel/attribute"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/page"
)

// The drivers Open registers: lib/pq wrapped so that every statement sent
// is counted, and, for a pool opened with Options.Traced, traced too
// (otelsql: one span per statement, with its text, which holds
// placeholders and never values). Without tracing, otelsql is not in the
// way at all: its no-op spans and metrics still cost every statement
// about a dozen allocations.
const (
	driverName       = "postgres-counted"
	tracedDriverName = "postgres-counted-traced"
)

func init() {
	counted := sqlmw.Driver(&pq.Driver{}, counter{})
	sql.Register(driverName, counted)
	sql.Register(tracedDriverName, otelsql.WrapDriver(counted,
		otelsql.WithAttributes(attribute.String("db.system", "postgresql")),
		otelsql.WithSpanOptions(otelsql.SpanOptions{DisableErrSkip: true, OmitConnResetSession: true, OmitRows: true})))
}

// Options tune the connection pool; zero values take the defaults
// (MaxOpenConns: DB_MAX_CONNS's, config.DefaultDBMaxConns).
type Options struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// Traced sends a span per statement to the global tracer provider;
	// the binary sets it when tracing is configured
	// (OTEL_EXPORTER_OTLP_ENDPOINT).
	Traced bool
}

// Open connects to url and checks the connection. Its sessions plan
// prepared statements generically (see GenericPlans) unless url sets
// plan_cache_mode itself.
func Open(ctx context.Context, url string, opts Options) (*sqlx.DB, error) {
	driver := driverName
	if opts.Traced {
		driver = tracedDriverName
	}
	url, err := GenericPlans(url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db, err := sql.Open(driver, url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = config.DefaultDBMaxConns
	}
	if opts.MaxIdleConns == 0 {
		opts.MaxIdleConns = opts.MaxOpenConns
	}
	if opts.ConnMaxLifetime == 0 {
		opts.ConnMaxLifetime = 30 * time.Minute
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxIdleConns)
	db.SetConnMaxLifetime(opts.ConnMaxLifetime)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return sqlx.NewDb(db, "postgres"), nil
}

// GenericPlans returns dsn (a URL or key=value connection string) with the
// session setting plan_cache_mode=force_generic_plan, unless dsn sets
// plan_cache_mode already (as a parameter or in options).
//
// PostgreSQL plans a prepared statement again on every execution for as
// long as it judges a plan made for the values bound cheaper than the
// generic one. The gateway's reads are keyset walks bounded by LIMIT $n and
// lookups by key: their generic plans are the plans any value gets (the
// EXPLAIN tests in bench/ read them as the gateway's sessions run them),
// but for a page filtered on a common value the custom plan always looks
// cheaper, so the hot list statements were planned on every request, at a
// cost equal to running them. With generic plans a statement is planned
// once per connection. A deployment that wants PostgreSQL's own choice
// back sets plan_cache_mode=auto in DATABASE_URL.
func GenericPlans(dsn string) (string, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return "", err
	}
	if _, ok := cfg.Runtime["plan_cache_mode"]; ok || strings.Contains(cfg.Options, "plan_cache_mode") {
		return dsn, nil
	}
	const param = "plan_cache_mode=force_generic_plan"
	switch {
	case !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://"):
		return strings.TrimSpace(dsn + " " + param), nil
	case strings.Contains(dsn, "?"):
		return dsn + "&" + param, nil
	default:
		return dsn + "?" + param, nil
	}
}

// Tx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise, so a failure leaves nothing half-written.
func Tx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return Translate(err, "begin transaction")
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return Translate(err, "commit")
	}
	return nil
}

// Translate turns a database error into an apperr: no rows is NotFound, a
// unique violation is Conflict, a foreign-key or check violation is Invalid,
// a database that cannot be reached (see Outage) Unavailable, anything else
// Internal. what names the operation, never the values.
func Translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if apperr.As(err) != nil {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.Wrap(err, apperr.NotFound, "not found")
	}
	if Outage(err) {
		return apperr.Wrap(err, apperr.Unavailable, "the database is unavailable")
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "23505": // unique_violation
			return apperr.Wrap(err, apperr.Conflict, "conflicts with an existing record")
		case "23503": // foreign_key_violation
			return apperr.Wrap(err, apperr.Invalid, "refers to a record that does not exist")
		case "23514", "22001", "22P02": // check_violation, string_data_right_truncation, invalid_text_representation
			return apperr.Wrap(err, apperr.Invalid, "invalid value")
		case "57014": // query_canceled
			return apperr.Wrap(err, apperr.Internal, "query canceled")
		}
	}
	return apperr.Wrap(err, apperr.Internal, what)
}

// Outage reports whether err says the database cannot be reached, as
// opposed to refusing a statement: a connection refused, reset or timed out
// while dialling, a connection the server closed, the server shutting down
// or not accepting connections yet (admin_shutdown, crash_shutdown,
// cannot_connect_now) and any connection exception (class 08). A cancelled
// or timed-out context is not an outage: the caller gave up.
func Outage(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "57P01", "57P02", "57P03":
			return true
		}
		return pqErr.Code.Class() == "08"
	}
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr)
}

// Query builds a WHERE clause with numbered placeholders.
type Query struct {
	conds  []string
	Args   []any
	share  bool // a branch of UnionAll: a uuid or uuid array already an argument is not added again
	values bool // PlanForValues
}

// PlanForValues marks a query whose best plan depends on its values (a
// substring search): Stmts.For runs it planned for them.
func (q *Query) PlanForValues() { q.values = true }

// Arg adds a parameter and returns its placeholder ($n).
func (q *Query) Arg(v any) string {
	if q.share {
		for i, a := range q.Args {
			if same(a, v) {
				return fmt.Sprintf("$%d", i+1)
			}
		}
	}
	q.Args = append(q.Args, v)
	return fmt.Sprintf("$%d", len(q.Args))
}

// same reports whether a and b are the same uuid, or the same uuid array
// (one slice).
func same(a, b any) bool {
	switch a := a.(type) {
	case uuid.UUID:
		b, ok := b.(uuid.UUID)
		return ok && a == b
	case UUIDArray:
		b, ok := b.(UUIDArray)
		return ok && len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
	}
	return false
}

// Where adds a condition; conditions are ANDed.
func (q *Query) Where(cond string) { q.conds = append(q.conds, cond) }

// WhereIDs adds "column = ANY($n::uuid[])", or "column = $n" for a single
// id. Both read the same rows, but a prepared statement of the single form
// keeps one generic plan, where the generic plan of the array form guesses
// the array's length and may lose to a fresh plan on every call; a batch of
// one key (me, user(id)) is the most frequent lookup.
func (q *Query) WhereIDs(column string, ids []uuid.UUID) {
	if len(ids) == 1 {
		q.Where(column + " = " + q.Arg(ids[0]))
		return
	}
	q.Where(column + " = ANY(" + q.Arg(UUIDArray(ids)) + "::uuid[])")
}

// UUIDArray is a uuid[] parameter. Its value is the array's text form built
// in one buffer, where pq.Array reflects over the slice and formats each
// element on its own (three allocations per id).
type UUIDArray []uuid.UUID

// Value implements driver.Valuer.
func (a UUIDArray) Value() (driver.Value, error) {
	if a == nil {
		return nil, nil
	}
	b := make([]byte, 0, 2+len(a)*37)
	b = append(b, '{')
	for i, id := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = hex.AppendEncode(b, id[0:4])
		b = append(b, '-')
		b = hex.AppendEncode(b, id[4:6])
		b = append(b, '-')
		b = hex.AppendEncode(b, id[6:8])
		b = append(b, '-')
		b = hex.AppendEncode(b, id[8:10])
		b = append(b, '-')
		b = hex.AppendEncode(b, id[10:16])
	}
	return string(append(b, '}')), nil
}

// Clause returns "WHERE a AND b", or "" with no conditions.
func (q *Query) Clause() string {
	if len(q.conds) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(q.conds, " AND ")
}

// LikePattern escapes s for ILIKE and wraps it in %...%.
func LikePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// Statement counting: every statement that reaches Postgres through Open's
// driver is counted in the request's counter when its context carries one.

type counterKey struct{}

// WithStatementCounter returns a context whose statements are counted in the
// returned counter.
func WithStatementCounter(ctx context.Context) (context.Context, *atomic.Int64) {
	c := new(atomic.Int64)
	return context.WithValue(ctx, counterKey{}, c), c
}

// StatementsFrom returns the counter of ctx, or nil.
func StatementsFrom(ctx context.Context) *atomic.Int64 {
	c, _ := ctx.Value(counterKey{}).(*atomic.Int64)
	return c
}

type counter struct{ sqlmw.NullInterceptor }

func count(ctx context.Context, query string, args []driver.NamedValue) {
	if query == planForValues || query == planAsSession {
		return // the session setting around a statement planned for its values (Stmts.ForValues)
	}
	if c := StatementsFrom(ctx); c != nil {
		c.Add(1)
	}
	if l, _ := ctx.Value(statementLogKey{}).(*StatementLog); l != nil {
		l.add(query, args, ctx.Value(forValuesKey{}) != nil)
	}
}

// Statement is one SQL statement as it reached the driver, with its
// arguments (already converted to driver values).
type Statement struct {
	Query string
	Args  []any
	// ForValues: the statement was planned for its arguments
	// (Stmts.ForValues), not generically.
	ForValues bool
}

// StatementLog records the statements sent with a context, for tests and
// benchmarks that inspect them (EXPLAIN every statement of a request).
// Production requests never carry one: it would hold PII in arguments.
type StatementLog struct {
	mu    sync.Mutex
	stmts []Statement
}

type statementLogKey struct{}

// WithStatementLog returns a context whose statements are recorded in the
// returned log, as well as counted.
func WithStatementLog(ctx context.Context) (context.Context, *StatementLog) {
	l := &StatementLog{}
	return context.WithValue(ctx, statementLogKey{}, l), l
}

func (l *StatementLog) add(query string, args []driver.NamedValue, forValues bool) {
	s := Statement{Query: query, Args: make([]any, len(args)), ForValues: forValues}
	for i, a := range args {
		s.Args[i] = a.Value
	}
	l.mu.Lock()
	l.stmts = append(l.stmts, s)
	l.mu.Unlock()
}

// Statements returns the statements recorded so far, in the order sent.
func (l *StatementLog) Statements() []Statement {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Statement(nil), l.stmts...)
}

func (counter) ConnExecContext(ctx context.Context, conn driver.ExecerContext, query string, args []driver.NamedValue) (driver.Result, error) {
	count(ctx, query, args)
	return conn.ExecContext(ctx, query, args)
}

func (counter) ConnQueryContext(ctx context.Context, conn driver.QueryerContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	count(ctx, query, args)
	r, err := conn.QueryContext(ctx, query, args)
	return ctx, r, err
}

func (counter) StmtExecContext(ctx context.Context, stmt driver.StmtExecContext, query string, args []driver.NamedValue) (driver.Result, error) {
	count(ctx, query, args)
	return stmt.ExecContext(ctx, args)
}

func (counter) StmtQueryContext(ctx context.Context, stmt driver.StmtQueryContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	count(ctx, query, args)
	r, err := stmt.QueryContext(ctx, args)
	return ctx, r, err
}

// Page adds the keyset bounds of p to a list ordered by key (an expression
// of SQL type cast, e.g. "::text") then by the id column, ascending or, when
// desc, descending. It returns the direction to ORDER BY both in, which
// reads p's rows in the list's order or, for a backward page, in its
// reverse (the same index walked the other way; page.Trim puts the rows
// back in order), and the placeholder of the LIMIT.
func (q *Query) Page(key, cast, id string, desc bool, p page.Request) (dir, limit string) {
	after, before := ">", "<"
	if desc {
		after, before = "<", ">"
	}
	if p.After != nil {
		q.Where("(" + key + ", " + id + ") " + after + " (" + q.Arg(p.After.Key) + cast + ", " + q.Arg(p.After.ID) + "::uuid)")
	}
	if p.Before != nil {
		q.Where("(" + key + ", " + id + ") " + before + " (" + q.Arg(p.Before.Key) + cast + ", " + q.Arg(p.Before.ID) + "::uuid)")
	}
	dir = "ASC"
	if desc != p.Backward {
		dir = "DESC"
	}
	return dir, q.Arg(p.Limit())
}
