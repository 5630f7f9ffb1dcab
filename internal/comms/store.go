package comms

import (
	"context"
	"database/sql"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres"
)

// Store reads and writes the comms schema. It takes its own connection so
// comms can live in its own database. Its reads run as prepared statements.
type Store struct {
	db    *sqlx.DB
	stmts *postgres.Stmts
}

// NewStore returns a store over db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db, stmts: postgres.NewStmts(db)} }

// contactColumns are what a Contact holds, scanned by scanContact: its
// uuids and the times never NULL packed in one bytea (postgres.Unpack),
// the nullable uuid and time in their binary form (postgres.NullUUID,
// postgres.NullTime), then the rest.
const contactColumns = `uuid_send(c.id) || uuid_send(c.tenant_id) || timestamptz_send(c.created_at) ||
	timestamptz_send(c.updated_at) AS packed, uuid_send(c.user_id) AS user_id, c.full_name, c.email, c.phone,
	timestamptz_send(c.erased_at) AS erased_at`

// contactRow is one row of contactColumns: the contact and, in the same
// allocation, the nullable columns its pointer fields point into.
type contactRow struct {
	Contact
	userID                 postgres.NullUUID
	fullName, email, phone sql.NullString
	erasedAt               postgres.NullTime
}

// dest returns the scan targets of contactColumns, in order.
func (x *contactRow) dest() [6]any {
	c := &x.Contact
	return [6]any{(*contactPacked)(c), &x.userID, &x.fullName, &x.email, &x.phone, &x.erasedAt}
}

// contactPacked scans the packed column of contactColumns.
type contactPacked Contact

func (p *contactPacked) Scan(src any) error {
	return postgres.Unpack(src, &p.ID, &p.TenantID, &p.CreatedAt, &p.UpdatedAt)
}

// point sets the contact's pointer fields to what was scanned.
func (x *contactRow) point() *Contact {
	c := &x.Contact
	c.UserID, c.ErasedAt = x.userID.Ptr(), x.erasedAt.Ptr()
	c.FullName, c.Email, c.Phone = postgres.StringPtr(&x.fullName), postgres.StringPtr(&x.email), postgres.StringPtr(&x.phone)
	return c
}

// scanContact reads one row of contactColumns.
func scanContact(r *sql.Rows) (*Contact, error) {
	x := new(contactRow)
	d := x.dest()
	err := r.Scan(d[:]...)
	return x.point(), err
}

// ContactsByIDs is what FindContactsByIDs reads, for a statement that reads
// contacts with other stores' rows (package node); ScanContact reads its
// rows.
var ContactsByIDs = postgres.Part{
	Columns: contactColumns,
	Types:   []string{"bytea", "bytea", "text", "text", "text", "bytea"},
	From:    "comms.contacts c",
	Where:   contactsByIDs,
}

// ScanContact reads a contact from the columns of ContactsByIDs through
// scan (one target per column, as rows.Scan takes them).
func ScanContact(scan func(dest ...any) error) (*Contact, error) {
	x := new(contactRow)
	d := x.dest()
	err := scan(d[:]...)
	return x.point(), err
}

// contactsByIDs adds the conditions of the contacts of ids visible to the
// scope.
func contactsByIDs(q *postgres.Query, s access.Scope, ids []uuid.UUID) {
	q.WhereIDs("c.id", ids)
	scoped(q, s, "c.tenant_id")
}

func scoped(q *postgres.Query, s access.Scope, column string) {
	if !s.CrossTenant() {
		q.Where(column + " = " + q.Arg(s.TenantID))
	}
}

// FindContactByID returns one contact. NotFound when it does not exist or is
// outside the scope's tenant.
func (st *Store) FindContactByID(ctx context.Context, s access.Scope, id uuid.UUID) (*Contact, error) {
	cs, err := st.FindContactsByIDs(ctx, s, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, apperr.E(apperr.NotFound, "contact not found")
	}
	return cs[0], nil
}

// FindContactsByIDs returns the contacts of ids visible to the scope, in no order.
func (st *Store) FindContactsByIDs(ctx context.Context, s access.Scope, ids []uuid.UUID) ([]*Contact, error) {
	var q postgres.Query
	contactsByIDs(&q, s, ids)
	cs, err := postgres.Select(ctx, st.stmts, scanContact, `SELECT `+contactColumns+` FROM comms.contacts c `+q.Clause(), q.Args...)
	return cs, postgres.Translate(err, "find contacts by id")
}

// FindContactsByUserIDs returns the contacts linked to the users of ids, in no order.
func (st *Store) FindContactsByUserIDs(ctx context.Context, s access.Scope, userIDs []uuid.UUID) ([]*Contact, error) {
	var q postgres.Query
	q.WhereIDs("c.user_id", userIDs)
	scoped(&q, s, "c.tenant_id")
	cs, err := postgres.Select(ctx, st.stmts, scanContact, `SELECT `+contactColumns+` FROM comms.contacts c `+q.Clause(), q.Args...)
	return cs, postgres.Translate(err, "find contacts by user")
}

func where(s access.Scope, f ContactFilter) *postgres.Query {
	q := &postgres.Query{}
	scoped(q, s, "c.tenant_id")
	if f.Search != nil {
		q.PlanForValues() // a term on every row and a rare one need different plans
		q.Where("(coalesce(c.full_name, '') || ' ' || coalesce(c.email, '') || ' ' || coalesce(c.phone, '')) ILIKE " +
			q.Arg(postgres.LikePattern(*f.Search)))
	}
	if f.BuildingID != nil {
		q.Where("EXISTS (SELECT 1 FROM comms.building_contacts bc WHERE bc.contact_id = c.id AND bc.building_id = " +
			q.Arg(*f.BuildingID) + ")")
	}
	if f.HasAccount != nil {
		if *f.HasAccount {
			q.Where("c.user_id IS NOT NULL")
		} else {
			q.Where("c.user_id IS NULL")
		}
	}
	return q
}

// FindContacts returns a page of contacts by name, and whether more follow.
func (st *Store) FindContacts(ctx context.Context, s access.Scope, f ContactFilter, p page.Request) ([]*Contact, bool, error) {
	q := where(s, f)
	dir, limit := q.Page("coalesce(c.full_name, '')", "::text", "c.id", false, p)
	cs, err := postgres.Select(ctx, st.stmts.For(q), scanContact, `SELECT `+contactColumns+` FROM comms.contacts c `+q.Clause()+
		` ORDER BY coalesce(c.full_name, '') `+dir+`, c.id `+dir+` LIMIT `+limit, q.Args...)
	if err != nil {
		return nil, false, postgres.Translate(err, "find contacts")
	}
	cs, more := page.Trim(cs, p)
	return cs, more, nil
}

// CountContacts returns how many contacts match f.
func (st *Store) CountContacts(ctx context.Context, s access.Scope, f ContactFilter) (int, error) {
	q := where(s, f)
	var n int
	err := st.stmts.For(q).Get(ctx, &n, `SELECT count(*) FROM comms.contacts c `+q.Clause(), q.Args...)
	return n, postgres.Translate(err, "count contacts")
}

// ContactCursor returns the cursor of c.
func ContactCursor(c *Contact) page.Cursor {
	key := ""
	if c.FullName != nil {
		key = *c.FullName
	}
	return page.Cursor{List: ContactList, Key: key, ID: c.ID}
}

const linkColumns = `uuid_send(bc.building_id) || uuid_send(bc.contact_id) || uuid_send(bc.tenant_id) AS link,
	bc.role, bc.is_primary`

// linkPacked scans the packed column of linkColumns.
type linkPacked BuildingLink

func (p *linkPacked) Scan(src any) error {
	return postgres.Unpack(src, &p.BuildingID, &p.ContactID, &p.TenantID)
}

// scanLink reads one row of linkColumns.
func scanLink(r *sql.Rows) (*BuildingLink, error) {
	l := new(BuildingLink)
	return l, r.Scan((*linkPacked)(l), &l.Role, &l.IsPrimary)
}

// linkRow is one row of linkColumns and contactColumns, in one allocation.
type linkRow struct {
	BuildingLink
	contact contactRow
}

// scanLinkWithContact reads one row of linkColumns and contactColumns.
func scanLinkWithContact(r *sql.Rows) (*BuildingLink, error) {
	x := new(linkRow)
	l := &x.BuildingLink
	d := [9]any{(*linkPacked)(l), &l.Role, &l.IsPrimary}
	c := x.contact.dest()
	copy(d[3:], c[:])
	err := r.Scan(d[:]...)
	l.Contact = x.contact.point()
	return l, err
}

// FindLinksByBuildings returns the links of the buildings of ids with their
// contacts loaded, primary first, then by contact name.
func (st *Store) FindLinksByBuildings(ctx context.Context, s access.Scope, buildingIDs []uuid.UUID) ([]*BuildingLink, error) {
	var q postgres.Query
	q.WhereIDs("bc.building_id", buildingIDs)
	scoped(&q, s, "bc.tenant_id")
	links, err := postgres.Select(ctx, st.stmts, scanLinkWithContact, `SELECT `+linkColumns+`, `+contactColumns+
		` FROM comms.building_contacts bc JOIN comms.contacts c ON c.id = bc.contact_id `+q.Clause()+
		` ORDER BY bc.building_id, bc.is_primary DESC, coalesce(c.full_name, ''), c.id`, q.Args...)
	return links, postgres.Translate(err, "find links by building")
}

// FindLinksByContacts returns the links of the contacts of ids, without
// their buildings (those live in property).
func (st *Store) FindLinksByContacts(ctx context.Context, s access.Scope, contactIDs []uuid.UUID) ([]*BuildingLink, error) {
	var q postgres.Query
	q.WhereIDs("bc.contact_id", contactIDs)
	scoped(&q, s, "bc.tenant_id")
	links, err := postgres.Select(ctx, st.stmts, scanLink, `SELECT `+linkColumns+
		` FROM comms.building_contacts bc `+q.Clause()+` ORDER BY bc.contact_id, bc.is_primary DESC, bc.building_id`, q.Args...)
	return links, postgres.Translate(err, "find links by contact")
}

// FindBuildingIDsOfUser returns the buildings that the contact linked to
// user is a contact of.
func (st *Store) FindBuildingIDsOfUser(ctx context.Context, s access.Scope, userID uuid.UUID) ([]uuid.UUID, error) {
	var q postgres.Query
	q.Where("c.user_id = " + q.Arg(userID))
	scoped(&q, s, "bc.tenant_id")
	ids, err := postgres.Select(ctx, st.stmts, scanID, `SELECT bc.building_id FROM comms.building_contacts bc
		JOIN comms.contacts c ON c.id = bc.contact_id `+q.Clause(), q.Args...)
	return ids, postgres.Translate(err, "find buildings of user")
}

func scanID(r *sql.Rows) (id uuid.UUID, err error) {
	return id, r.Scan(postgres.ScanUUID(&id))
}

// DB is the database the store is over: the one to open the transactions
// its methods that take a *sqlx.Tx run in.
func (st *Store) DB() *sqlx.DB { return st.db }
