// Package property owns buildings and the provider organisations that own
// them. It writes SQL against the property schema only.
package property

import (
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/filter"
)

// Building is a building owned by a provider organisation.
type Building struct {
	ID         uuid.UUID `db:"id"`
	TenantID   uuid.UUID `db:"tenant_id"`
	ProviderID uuid.UUID `db:"provider_id"`
	Name       string    `db:"name"`
	Address    string    `db:"address"`
	CreatedAt  time.Time `db:"created_at"`
}

// BuildingFilter narrows FindBuildings; nil fields do not filter.
type BuildingFilter struct {
	Search     *string    // substring of name or address, at least 3 characters
	ProviderID *uuid.UUID // only this provider's buildings
}

// BuildingList names the order of buildings for cursors.
const BuildingList = "buildings:NAME:ASC"

// Normalize checks f and puts its values in canonical form. Invalid names
// the field at fault.
func (f *BuildingFilter) Normalize() (err error) {
	f.Search, err = filter.Search("filter.search", f.Search)
	return err
}
