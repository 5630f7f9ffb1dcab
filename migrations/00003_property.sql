-- Property: provider organisations and the buildings they own.

-- +goose Up
CREATE TABLE property.providers (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_tenant_idx ON property.providers (tenant_id);

CREATE TABLE property.buildings (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL,
    provider_id uuid NOT NULL REFERENCES property.providers (id),
    name        text NOT NULL,
    address     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX buildings_tenant_name_idx ON property.buildings (tenant_id, name, id);
CREATE INDEX buildings_name_idx ON property.buildings (name, id);
CREATE INDEX buildings_provider_idx ON property.buildings (provider_id, name, id);
CREATE INDEX buildings_search_idx ON property.buildings
    USING gin ((name || ' ' || address) gin_trgm_ops);

-- +goose Down
DROP TABLE property.buildings;
DROP TABLE property.providers;
