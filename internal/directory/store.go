package directory

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres"
)

// Store reads and writes the directory schema. Its reads run as prepared
// statements.
type Store struct {
	db    *sqlx.DB
	stmts *postgres.Stmts
}

// NewStore returns a store over db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db, stmts: postgres.NewStmts(db)} }

// userColumns are what a User holds, scanned by scanUser: its uuids and
// the times never NULL packed in one bytea (postgres.Unpack), the nullable
// times in their binary form (postgres.NullTime), then the rest.
const userColumns = `uuid_send(id) || uuid_send(tenant_id) || timestamptz_send(created_at) ||
	timestamptz_send(updated_at) AS packed, idp_id, external_id, email, full_name,
	timestamptz_send(synced_at) AS synced_at, timestamptz_send(erased_at) AS erased_at`

// userRow is one row of userColumns: the user and, in the same
// allocation, the nullable columns its pointer fields point into.
type userRow struct {
	User
	email, fullName    sql.NullString
	syncedAt, erasedAt postgres.NullTime
}

// dest returns the scan targets of userColumns, in order.
func (x *userRow) dest() [7]any {
	u := &x.User
	return [7]any{(*userPacked)(u), &u.IdPID, &u.ExternalID, &x.email, &x.fullName, &x.syncedAt, &x.erasedAt}
}

// userPacked scans the packed column of userColumns.
type userPacked User

func (p *userPacked) Scan(src any) error {
	return postgres.Unpack(src, &p.ID, &p.TenantID, &p.CreatedAt, &p.UpdatedAt)
}

// point sets the user's pointer fields to what was scanned.
func (x *userRow) point() *User {
	u := &x.User
	u.Email, u.FullName = postgres.StringPtr(&x.email), postgres.StringPtr(&x.fullName)
	u.SyncedAt, u.ErasedAt = x.syncedAt.Ptr(), x.erasedAt.Ptr()
	return u
}

// scanUser reads one row of userColumns.
func scanUser(r *sql.Rows) (*User, error) {
	x := new(userRow)
	d := x.dest()
	err := r.Scan(d[:]...)
	return x.point(), err
}

// UsersByIDs is what FindUsersByIDs reads, for a statement that reads users
// with other stores' rows (package node); ScanUser reads its rows.
var UsersByIDs = postgres.Part{
	Columns: userColumns,
	Types:   []string{"bytea", "text", "text", "text", "text", "bytea", "bytea"},
	From:    "directory.users",
	Where:   usersByIDs,
}

// ScanUser reads a user from the columns of UsersByIDs through scan (one
// target per column, as rows.Scan takes them).
func ScanUser(scan func(dest ...any) error) (*User, error) {
	x := new(userRow)
	d := x.dest()
	err := scan(d[:]...)
	return x.point(), err
}

// usersByIDs adds the conditions of the users of ids visible to the scope.
func usersByIDs(q *postgres.Query, s access.Scope, ids []uuid.UUID) {
	q.WhereIDs("id", ids)
	scoped(q, s, "tenant_id")
}

// scoped adds the tenant condition unless the scope reads across tenants.
func scoped(q *postgres.Query, s access.Scope, column string) {
	if !s.CrossTenant() {
		q.Where(column + " = " + q.Arg(s.TenantID))
	}
}

// FindUserByID returns one user. NotFound when it does not exist or is
// outside the scope's tenant.
func (st *Store) FindUserByID(ctx context.Context, s access.Scope, id uuid.UUID) (*User, error) {
	users, err := st.FindUsersByIDs(ctx, s, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, apperr.E(apperr.NotFound, "user not found")
	}
	return users[0], nil
}

// FindUsersByIDs returns the users of ids visible to the scope, in no order.
func (st *Store) FindUsersByIDs(ctx context.Context, s access.Scope, ids []uuid.UUID) ([]*User, error) {
	var q postgres.Query
	usersByIDs(&q, s, ids)
	users, err := postgres.Select(ctx, st.stmts, scanUser, `SELECT `+userColumns+` FROM directory.users `+q.Clause(), q.Args...)
	return users, postgres.Translate(err, "find users by id")
}

// sortKey returns the SQL sort expression of an order and how a cursor key
// is cast back to it. The expressions match the indexes in the migrations.
func sortKey(f UserOrderField) (expr, cast string) {
	switch f {
	case OrderByFullName:
		return "coalesce(full_name, '')", "::text"
	case OrderByCreatedAt:
		return "users.created_at", "::timestamptz"
	default:
		return "coalesce(email, '')", "::text"
	}
}

func (st *Store) where(s access.Scope, f UserFilter) *postgres.Query {
	q := &postgres.Query{}
	scoped(q, s, "tenant_id")
	if f.EmailDomain != nil {
		q.Where("email_domain = " + q.Arg(*f.EmailDomain))
	}
	if f.IdPID != nil {
		q.Where("idp_id = " + q.Arg(*f.IdPID))
	}
	if f.Search != nil {
		q.PlanForValues() // a term on every row and a rare one need different plans
		q.Where("(coalesce(email, '') || ' ' || coalesce(full_name, '')) ILIKE " + q.Arg(postgres.LikePattern(*f.Search)))
	}
	return q
}

// FindUsers returns a page of users matching f in order o, and whether more
// follow.
func (st *Store) FindUsers(ctx context.Context, s access.Scope, f UserFilter, o UserOrder, p page.Request) ([]*User, bool, error) {
	q := st.where(s, f)
	expr, cast := sortKey(o.Field)
	dir, limit := q.Page(expr, cast, "users.id", o.Desc, p)
	query := `SELECT ` + userColumns + ` FROM directory.users ` + q.Clause() +
		` ORDER BY ` + expr + ` ` + dir + `, users.id ` + dir + ` LIMIT ` + limit
	users, err := postgres.Select(ctx, st.stmts.For(q), scanUser, query, q.Args...)
	if err != nil {
		return nil, false, postgres.Translate(err, "find users")
	}
	users, more := page.Trim(users, p)
	return users, more, nil
}

// CountUsers returns how many users match f.
func (st *Store) CountUsers(ctx context.Context, s access.Scope, f UserFilter) (int, error) {
	q := st.where(s, f)
	var n int
	err := st.stmts.For(q).Get(ctx, &n, `SELECT count(*) FROM directory.users `+q.Clause(), q.Args...)
	return n, postgres.Translate(err, "count users")
}

// UserCursor returns the cursor of u in order o.
func UserCursor(u *User, o UserOrder) page.Cursor {
	c := page.Cursor{List: o.List(), ID: u.ID}
	switch o.Field {
	case OrderByFullName:
		c.Key = deref(u.FullName)
	case OrderByCreatedAt:
		c.Key = u.CreatedAt.UTC().Format(time.RFC3339Nano)
	default:
		c.Key = deref(u.Email)
	}
	return c
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DB is the database the store is over: the main database, which holds
// every context's schema but perhaps comms'.
func (st *Store) DB() *sqlx.DB { return st.db }
