package property

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

// Store reads and writes the property schema. Its reads run as prepared
// statements.
type Store struct {
	db    *sqlx.DB
	stmts *postgres.Stmts
}

// NewStore returns a store over db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db, stmts: postgres.NewStmts(db)} }

// buildingColumns are what a Building holds, scanned by scanBuilding: its
// uuids and creation time packed in one bytea (postgres.Unpack), then the
// rest.
const buildingColumns = `uuid_send(id) || uuid_send(tenant_id) || uuid_send(provider_id) ||
	timestamptz_send(created_at) AS packed, name, address`

// scanBuilding reads one row of buildingColumns.
func scanBuilding(r *sql.Rows) (*Building, error) {
	b := new(Building)
	d := buildingDest(b)
	return b, r.Scan(d[:]...)
}

// buildingDest returns the scan targets of buildingColumns, in order.
func buildingDest(b *Building) [3]any {
	return [3]any{(*buildingPacked)(b), &b.Name, &b.Address}
}

// buildingPacked scans the packed column of buildingColumns.
type buildingPacked Building

func (p *buildingPacked) Scan(src any) error {
	return postgres.Unpack(src, &p.ID, &p.TenantID, &p.ProviderID, &p.CreatedAt)
}

// BuildingsByIDs is what FindBuildingsByIDs reads, for a statement that
// reads buildings with other stores' rows (package node); ScanBuilding reads
// its rows.
var BuildingsByIDs = postgres.Part{
	Columns: buildingColumns,
	Types:   []string{"bytea", "text", "text"},
	From:    "property.buildings",
	Where:   buildingsByIDs,
}

// ScanBuilding reads a building from the columns of BuildingsByIDs through
// scan (one target per column, as rows.Scan takes them).
func ScanBuilding(scan func(dest ...any) error) (*Building, error) {
	b := new(Building)
	d := buildingDest(b)
	return b, scan(d[:]...)
}

// buildingsByIDs adds the conditions of the buildings of ids visible to the
// scope.
func buildingsByIDs(q *postgres.Query, s access.Scope, ids []uuid.UUID) {
	q.WhereIDs("id", ids)
	scoped(q, s)
}

func scoped(q *postgres.Query, s access.Scope) {
	if !s.CrossTenant() {
		q.Where("tenant_id = " + q.Arg(s.TenantID))
	}
}

// FindBuildingByID returns one building. NotFound when it does not exist or
// is outside the scope's tenant.
func (st *Store) FindBuildingByID(ctx context.Context, s access.Scope, id uuid.UUID) (*Building, error) {
	bs, err := st.FindBuildingsByIDs(ctx, s, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, apperr.E(apperr.NotFound, "building not found")
	}
	return bs[0], nil
}

// FindBuildingsByIDs returns the buildings of ids visible to the scope, in no order.
func (st *Store) FindBuildingsByIDs(ctx context.Context, s access.Scope, ids []uuid.UUID) ([]*Building, error) {
	var q postgres.Query
	buildingsByIDs(&q, s, ids)
	bs, err := postgres.Select(ctx, st.stmts, scanBuilding, `SELECT `+buildingColumns+` FROM property.buildings `+q.Clause(), q.Args...)
	return bs, postgres.Translate(err, "find buildings by id")
}

func where(s access.Scope, f BuildingFilter) *postgres.Query {
	q := &postgres.Query{}
	scoped(q, s)
	if f.Search != nil {
		q.PlanForValues() // a term on every row and a rare one need different plans
		q.Where("(name || ' ' || address) ILIKE " + q.Arg(postgres.LikePattern(*f.Search)))
	}
	if f.ProviderID != nil {
		q.Where("provider_id = " + q.Arg(*f.ProviderID))
	}
	return q
}

// FindBuildings returns a page of buildings by name, and whether more follow
// in the direction p reads.
func (st *Store) FindBuildings(ctx context.Context, s access.Scope, f BuildingFilter, p page.Request) ([]*Building, bool, error) {
	q := where(s, f)
	dir, limit := q.Page("name", "::text", "buildings.id", false, p)
	bs, err := postgres.Select(ctx, st.stmts.For(q), scanBuilding, `SELECT `+buildingColumns+` FROM property.buildings `+q.Clause()+
		` ORDER BY name `+dir+`, buildings.id `+dir+` LIMIT `+limit, q.Args...)
	if err != nil {
		return nil, false, postgres.Translate(err, "find buildings")
	}
	bs, more := page.Trim(bs, p)
	return bs, more, nil
}

// CountBuildings returns how many buildings match f.
func (st *Store) CountBuildings(ctx context.Context, s access.Scope, f BuildingFilter) (int, error) {
	q := where(s, f)
	var n int
	err := st.stmts.For(q).Get(ctx, &n, `SELECT count(*) FROM property.buildings `+q.Clause(), q.Args...)
	return n, postgres.Translate(err, "count buildings")
}

// BuildingCursor returns the cursor of b.
func BuildingCursor(b *Building) page.Cursor {
	return page.Cursor{List: BuildingList, Key: b.Name, ID: b.ID}
}
