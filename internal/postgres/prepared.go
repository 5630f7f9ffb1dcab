package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Prepared statements. lib/pq sends a statement that has arguments
// unnamed: PostgreSQL parses, analyses and plans it on every call, in two
// round trips (Parse and Describe, then Bind and Execute). A prepared
// statement is parsed once per connection, runs in one round trip, and
// after five runs PostgreSQL may keep its generic plan.

// maxStmts bounds the statements one cache prepares. Query texts are built
// from constant fragments (values travel as arguments), so a store has a
// few dozen shapes; past the bound a new text runs unprepared rather than
// growing every connection's server-side memory.
const maxStmts = 256

// Stmts is a store's cache of prepared statements over one database, by
// query text. It holds database/sql statements, which prepare themselves on
// each pooled connection the first time they run there (that Parse is one
// round trip, not a statement: WithStatementCounter counts only
// executions) and again on the connection that replaces a broken one, so
// after a PostgreSQL restart the old connections fail with
// driver.ErrBadConn, database/sql retries on new ones and the statement is
// prepared on those. The text must not embed values.
type Stmts struct {
	db        *sqlx.DB
	mu        sync.RWMutex
	m         map[string]*sqlx.Stmt
	forValues *Stmts // the cache's ForValues view; nil in that view
	values    bool   // this is the ForValues view
}

// NewStmts returns an empty cache over db.
func NewStmts(db *sqlx.DB) *Stmts {
	c := &Stmts{db: db, m: make(map[string]*sqlx.Stmt)}
	c.forValues = &Stmts{db: db, values: true}
	return c
}

// ForValues returns a view of the cache whose Select and Get plan each
// statement for the values bound, unprepared, rather than generically
// (GenericPlans): for a statement whose best plan depends on a value, a
// substring search (a term on every row walks the list's order index; a
// rare one reads the trigram index). Each costs two round trips more,
// which set and reset the session's plan_cache_mode on the connection it
// runs on; they are not counted as statements.
func (c *Stmts) ForValues() *Stmts {
	if c.values {
		return c
	}
	return c.forValues
}

// For returns the cache to run q's statement with: the ForValues view when
// q is marked PlanForValues, c otherwise.
func (c *Stmts) For(q *Query) *Stmts {
	if q.values {
		return c.ForValues()
	}
	return c
}

// The session settings around a statement planned for its values; count
// leaves them out.
const (
	planForValues = "SET plan_cache_mode = force_custom_plan"
	planAsSession = "RESET plan_cache_mode"
)

type forValuesKey struct{}

// plannedForValues runs fn on a connection of its own whose session plans
// for the values bound, and gives the connection back as it was: when the
// reset fails (a cancelled request, a broken connection) the connection is
// closed rather than pooled in the wrong mode.
func (c *Stmts) plannedForValues(ctx context.Context, fn func(ctx context.Context, conn *sqlx.Conn) error) error {
	conn, err := c.db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, planForValues); err != nil {
		dropConn(conn)
		return err
	}
	err = fn(context.WithValue(ctx, forValuesKey{}, true), conn)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, rerr := conn.ExecContext(rctx, planAsSession); rerr != nil {
		dropConn(conn)
	}
	return err
}

// dropConn makes database/sql close conn instead of pooling it.
func dropConn(conn *sqlx.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}

// prepared returns the statement of query, preparing it on first use; nil
// once the cache is full.
func (c *Stmts) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c.mu.RLock()
	s, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.RUnlock()
	if ok || full {
		return s, nil
	}
	// Prepared outside the lock: a slow or failing database must not hold
	// up statements that are cached already.
	s, err := c.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok { // another caller prepared it meanwhile
		_ = s.Close()
		return prev, nil
	}
	c.m[query] = s
	return s, nil
}

// Query runs query with args as a prepared statement. The ForValues view
// has no Query: its rows must be read before the connection is reset
// (Select).
func (c *Stmts) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if c.values {
		return nil, errors.New("postgres: Query on a ForValues view; use Select")
	}
	s, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.db.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

// Get runs query with args as a prepared statement and scans its one row
// into dest, as sqlx.Get does: for scalars and rarely read rows.
func (c *Stmts) Get(ctx context.Context, dest any, query string, args ...any) error {
	if c.values {
		return c.plannedForValues(ctx, func(ctx context.Context, conn *sqlx.Conn) error {
			return conn.GetContext(ctx, dest, query, args...)
		})
	}
	s, err := c.prepared(ctx, query)
	if err != nil {
		return err
	}
	if s == nil {
		return c.db.GetContext(ctx, dest, query, args...)
	}
	return s.GetContext(ctx, dest, args...)
}

// Select runs query with args as a prepared statement and returns one value
// per row, as scan reads it. scan calls rows.Scan with one target per
// selected column, in order: the stores' hot reads scan without sqlx's
// reflection.
func Select[T any](ctx context.Context, c *Stmts, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	if c.values {
		var out []T
		err := c.plannedForValues(ctx, func(ctx context.Context, conn *sqlx.Conn) error {
			var err error
			out, err = QueryAll(ctx, conn, scan, query, args...)
			return err
		})
		return out, err
	}
	rows, err := c.Query(ctx, query, args...)
	return collect(rows, err, scan)
}

// QueryAll runs query on q (a database or a transaction) without preparing
// it and returns one value per row, as scan reads it: Select for the
// statements not worth preparing (writes, locks, RETURNING), so that every
// read of a table goes through its store's one scan function.
func QueryAll[T any](ctx context.Context, q sqlx.QueryerContext, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	return collect(rows, err, scan)
}

// collect reads every row of rows (from a query that failed with err, or
// not) with scan, and closes rows.
func collect[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// QueryRow is QueryAll for a statement of one row: sql.ErrNoRows when it
// returns none.
func QueryRow[T any](ctx context.Context, q sqlx.QueryerContext, scan func(*sql.Rows) (T, error), query string, args ...any) (T, error) {
	vs, err := QueryAll(ctx, q, scan, query, args...)
	if err == nil && len(vs) == 0 {
		err = sql.ErrNoRows
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return vs[0], nil
}

// Scanning without reflection: a store's scan function passes rows.Scan a
// pointer to each field, in column order. A row struct holds the value and,
// in the same allocation, sql.NullString and NullTime fields for its
// nullable columns, which its pointer fields then point into (StringPtr,
// NullTime.Ptr, NullUUID.Ptr): one allocation per row.

// UUIDColumn: the stores select a uuid column as uuid_send(column), its
// 16-byte binary form, a bytea. A prepared statement receives bytea in
// binary and lib/pq hands it over as is, where it decodes a uuid column to
// its 36-byte text first (one allocation per uuid value, the largest share
// of a list's decoding); ScanUUID, NullUUID and uuid.UUID's own Scan all
// take the 16 bytes. A bare name in ORDER BY means the output column, so
// the stores order by the qualified one (users.id), which is the indexed
// uuid.

// ScanUUID scans a uuid column into p: its 16 bytes (uuid_send), or its
// text (a column selected as itself), parsed in place where uuid.UUID's own
// Scan first copies text into a string.
func ScanUUID(p *uuid.UUID) sql.Scanner { return target[uuid.UUID, uuidDecoder]{p} }

// StringPtr returns a pointer to ns's string, or nil for NULL.
func StringPtr(ns *sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	return &ns.String
}

// The stores select a timestamptz column as timestamptz_send(column): its
// binary form, 8 bytes of microseconds since 2000-01-01 UTC, a bytea, which
// lib/pq hands over as is. Its text form costs PostgreSQL a formatting and
// the gateway a parse, a string and a boxed time.Time per value, the
// largest share of a list's decoding once the uuids are binary.

// target scans a column into *p as D reads it (ScanUUID).
type target[T any, D decoder[T]] struct{ p *T }

func (t target[T, D]) Scan(src any) (err error) {
	var d D
	*t.p, err = d.decode(src)
	return err
}

// Null is a nullable column whose value, when there is one, scans as D
// reads it: NullUUID and NullTime.
type Null[T any, D decoder[T]] struct {
	Value T
	Valid bool // false for NULL
}

// NullUUID is a nullable uuid column, scanned as ScanUUID does.
type NullUUID = Null[uuid.UUID, uuidDecoder]

// NullTime is a nullable timestamptz column selected as
// timestamptz_send(column).
type NullTime = Null[time.Time, timeDecoder]

// decoder reads a column's non-NULL value.
type decoder[T any] interface{ decode(src any) (T, error) }

type (
	uuidDecoder struct{}
	timeDecoder struct{}
)

func (uuidDecoder) decode(src any) (uuid.UUID, error) { return parseUUID(src) }
func (timeDecoder) decode(src any) (time.Time, error) { return parseTime(src) }

// Scan implements sql.Scanner.
func (n *Null[T, D]) Scan(src any) (err error) {
	if src == nil {
		*n = Null[T, D]{}
		return nil
	}
	var d D
	n.Value, err = d.decode(src)
	n.Valid = err == nil
	return err
}

// Ptr returns a pointer to n's value, or nil for NULL.
func (n *Null[T, D]) Ptr() *T {
	if !n.Valid {
		return nil
	}
	return &n.Value
}

// pgEpoch is PostgreSQL's epoch, 2000-01-01 UTC, in Unix microseconds.
const pgEpoch = 946_684_800_000_000

func parseTime(src any) (time.Time, error) {
	switch v := src.(type) {
	case []byte:
		if len(v) == 8 {
			return time.UnixMicro(pgEpoch + int64(binary.BigEndian.Uint64(v))).UTC(), nil
		}
	case time.Time: // a column selected as itself
		return v, nil
	}
	return time.Time{}, fmt.Errorf("scan time: unsupported value %T (select timestamptz_send(column))", src)
}

func parseUUID(src any) (uuid.UUID, error) {
	switch v := src.(type) {
	case []byte:
		if len(v) == 16 {
			return uuid.FromBytes(v)
		}
		return uuid.ParseBytes(v)
	case string:
		return uuid.Parse(v)
	}
	return uuid.UUID{}, fmt.Errorf("scan uuid: unsupported type %T", src)
}

// Packed columns: a store selects a row's uuid and timestamptz columns
// that are never NULL as one bytea, their binary forms (uuid_send,
// timestamptz_send) concatenated with ||. Every column a row has costs
// lib/pq a boxed value and database/sql a conversion and a Scan call, the
// largest share of reading a row; one packed column in place of four saves
// three of each, and PostgreSQL sends the same bytes. A store's scan
// target for it is a pointer type of its own whose Scan calls Unpack, so
// that passing it to rows.Scan allocates nothing.

// Unpack reads a packed column into fields, in order: a *uuid.UUID takes
// 16 bytes, a *time.Time 8; the column must hold exactly that many.
func Unpack(src any, fields ...any) error {
	b, ok := src.([]byte)
	if !ok {
		return fmt.Errorf("postgres: a packed column of %T", src)
	}
	for _, f := range fields {
		switch f := f.(type) {
		case *uuid.UUID:
			if len(b) < 16 {
				return errors.New("postgres: a packed column too short")
			}
			copy(f[:], b[:16])
			b = b[16:]
		case *time.Time:
			if len(b) < 8 {
				return errors.New("postgres: a packed column too short")
			}
			*f = time.UnixMicro(pgEpoch + int64(binary.BigEndian.Uint64(b[:8]))).UTC()
			b = b[8:]
		default:
			return fmt.Errorf("postgres: a packed field of type %T", f)
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("postgres: a packed column %d bytes too long", len(b))
	}
	return nil
}
