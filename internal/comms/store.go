package comms

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres"
)

// Store reads and writes the comms schema. It takes its own connection so
// comms can live in its own database.
type Store struct{ db *sqlx.DB }

// NewStore returns a store over db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

const contactColumns = `c.id, c.tenant_id, c.user_id, c.full_name, c.email, c.phone, c.created_at, c.updated_at, c.erased_at`

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
	q.Where("c.id = ANY(" + q.Arg(pq.Array(ids)) + "::uuid[])")
	scoped(&q, s, "c.tenant_id")
	var cs []*Contact
	err := st.db.SelectContext(ctx, &cs, `SELECT `+contactColumns+` FROM comms.contacts c `+q.Clause(), q.Args...)
	return cs, postgres.Translate(err, "find contacts by id")
}

// FindContactsByUserIDs returns the contacts linked to the users of ids, in no order.
func (st *Store) FindContactsByUserIDs(ctx context.Context, s access.Scope, userIDs []uuid.UUID) ([]*Contact, error) {
	var q postgres.Query
	q.Where("c.user_id = ANY(" + q.Arg(pq.Array(userIDs)) + "::uuid[])")
	scoped(&q, s, "c.tenant_id")
	var cs []*Contact
	err := st.db.SelectContext(ctx, &cs, `SELECT `+contactColumns+` FROM comms.contacts c `+q.Clause(), q.Args...)
	return cs, postgres.Translate(err, "find contacts by user")
}

func where(s access.Scope, f ContactFilter) *postgres.Query {
	q := &postgres.Query{}
	scoped(q, s, "c.tenant_id")
	if f.Search != nil {
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
	if p.After != nil {
		q.Where("(coalesce(c.full_name, ''), c.id) > (" + q.Arg(p.After.Key) + "::text, " + q.Arg(p.After.ID) + "::uuid)")
	}
	var cs []*Contact
	err := st.db.SelectContext(ctx, &cs, `SELECT `+contactColumns+` FROM comms.contacts c `+q.Clause()+
		` ORDER BY coalesce(c.full_name, ''), c.id LIMIT `+q.Arg(p.Limit()), q.Args...)
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
	err := st.db.GetContext(ctx, &n, `SELECT count(*) FROM comms.contacts c `+q.Clause(), q.Args...)
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

// linkRow is a link joined with its contact, as one statement returns them;
// the contact's columns are aliased "c.<column>".
type linkRow struct {
	BuildingID uuid.UUID `db:"building_id"`
	ContactID  uuid.UUID `db:"contact_id"`
	TenantID   uuid.UUID `db:"tenant_id"`
	Role       string    `db:"role"`
	IsPrimary  bool      `db:"is_primary"`
	Contact    Contact   `db:"c"`
}

const aliasedContactColumns = `c.id AS "c.id", c.tenant_id AS "c.tenant_id", c.user_id AS "c.user_id", c.full_name AS "c.full_name", ` +
	`c.email AS "c.email", c.phone AS "c.phone", c.created_at AS "c.created_at", c.updated_at AS "c.updated_at", c.erased_at AS "c.erased_at"`

// FindLinksByBuildings returns the links of the buildings of ids with their
// contacts loaded, primary first, then by contact name.
func (st *Store) FindLinksByBuildings(ctx context.Context, s access.Scope, buildingIDs []uuid.UUID) ([]*BuildingLink, error) {
	var q postgres.Query
	q.Where("bc.building_id = ANY(" + q.Arg(pq.Array(buildingIDs)) + "::uuid[])")
	scoped(&q, s, "bc.tenant_id")
	var rows []linkRow
	err := st.db.SelectContext(ctx, &rows, `SELECT bc.building_id, bc.contact_id, bc.tenant_id, bc.role, bc.is_primary, `+
		aliasedContactColumns+` FROM comms.building_contacts bc JOIN comms.contacts c ON c.id = bc.contact_id `+q.Clause()+
		` ORDER BY bc.building_id, bc.is_primary DESC, coalesce(c.full_name, ''), c.id`, q.Args...)
	if err != nil {
		return nil, postgres.Translate(err, "find links by building")
	}
	links := make([]*BuildingLink, len(rows))
	for i := range rows {
		r := &rows[i]
		links[i] = &BuildingLink{BuildingID: r.BuildingID, ContactID: r.ContactID, TenantID: r.TenantID,
			Role: r.Role, IsPrimary: r.IsPrimary, Contact: &r.Contact}
	}
	return links, nil
}

// FindLinksByContacts returns the links of the contacts of ids, without
// their buildings (those live in property).
func (st *Store) FindLinksByContacts(ctx context.Context, s access.Scope, contactIDs []uuid.UUID) ([]*BuildingLink, error) {
	var q postgres.Query
	q.Where("bc.contact_id = ANY(" + q.Arg(pq.Array(contactIDs)) + "::uuid[])")
	scoped(&q, s, "bc.tenant_id")
	var links []*BuildingLink
	err := st.db.SelectContext(ctx, &links, `SELECT bc.building_id, bc.contact_id, bc.tenant_id, bc.role, bc.is_primary
		FROM comms.building_contacts bc `+q.Clause()+` ORDER BY bc.contact_id, bc.is_primary DESC, bc.building_id`, q.Args...)
	return links, postgres.Translate(err, "find links by contact")
}

// FindBuildingIDsOfUser returns the buildings that the contact linked to
// user is a contact of.
func (st *Store) FindBuildingIDsOfUser(ctx context.Context, s access.Scope, userID uuid.UUID) ([]uuid.UUID, error) {
	var q postgres.Query
	q.Where("c.user_id = " + q.Arg(userID))
	scoped(&q, s, "bc.tenant_id")
	var ids []uuid.UUID
	err := st.db.SelectContext(ctx, &ids, `SELECT bc.building_id FROM comms.building_contacts bc
		JOIN comms.contacts c ON c.id = bc.contact_id `+q.Clause(), q.Args...)
	return ids, postgres.Translate(err, "find buildings of user")
}
