-- The directory: tenants and users. A user is a pointer to an identity at an
-- external IdP. email and full_name are a read-only cache.

-- +goose Up
CREATE TABLE directory.tenants (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE directory.users (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES directory.tenants (id),
    idp_id       text NOT NULL,
    external_id  text NOT NULL,
    email        text,
    full_name    text,
    -- The lower-cased domain of the cached email, for "users of acme.com".
    email_domain text GENERATED ALWAYS AS (lower(split_part(email, '@', 2))) STORED,
    synced_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    CONSTRAINT users_idp_external_key UNIQUE (idp_id, external_id)
);

-- Keyset orders inside a tenant (the portal) and across tenants (internal
-- tooling). Sort keys are coalesced so erased users (no email) still page.
CREATE INDEX users_tenant_email_idx ON directory.users (tenant_id, (coalesce(email, '')), id);
CREATE INDEX users_tenant_name_idx ON directory.users (tenant_id, (coalesce(full_name, '')), id);
CREATE INDEX users_tenant_created_idx ON directory.users (tenant_id, created_at, id);
CREATE INDEX users_tenant_domain_email_idx ON directory.users (tenant_id, email_domain, (coalesce(email, '')), id);
CREATE INDEX users_email_idx ON directory.users ((coalesce(email, '')), id);
CREATE INDEX users_name_idx ON directory.users ((coalesce(full_name, '')), id);
CREATE INDEX users_created_idx ON directory.users (created_at, id);
CREATE INDEX users_domain_email_idx ON directory.users (email_domain, (coalesce(email, '')), id);
-- Substring search over the cached name and email.
CREATE INDEX users_search_idx ON directory.users
    USING gin ((coalesce(email, '') || ' ' || coalesce(full_name, '')) gin_trgm_ops);

-- +goose Down
DROP TABLE directory.users;
DROP TABLE directory.tenants;
