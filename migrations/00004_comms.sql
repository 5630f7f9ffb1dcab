-- Comms: provider contacts, the primary source for contact data.
-- user_id and building_id point into other contexts without foreign keys, so
-- comms can move to its own database.

-- +goose Up
CREATE TABLE comms.contacts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL,
    user_id    uuid,
    full_name  text,
    email      text,
    phone      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz
);
-- A user has at most one contact.
CREATE UNIQUE INDEX contacts_user_key ON comms.contacts (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX contacts_tenant_name_idx ON comms.contacts (tenant_id, (coalesce(full_name, '')), id);
CREATE INDEX contacts_name_idx ON comms.contacts ((coalesce(full_name, '')), id);
CREATE INDEX contacts_search_idx ON comms.contacts
    USING gin ((coalesce(full_name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '')) gin_trgm_ops);

CREATE TABLE comms.building_contacts (
    building_id uuid NOT NULL,
    contact_id  uuid NOT NULL REFERENCES comms.contacts (id),
    tenant_id   uuid NOT NULL,
    role        text NOT NULL,
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (building_id, contact_id)
);
-- The invariant: a building has at most one primary contact.
CREATE UNIQUE INDEX building_contacts_one_primary ON comms.building_contacts (building_id) WHERE is_primary;
CREATE INDEX building_contacts_contact_idx ON comms.building_contacts (contact_id, building_id);

-- +goose Down
DROP TABLE comms.building_contacts;
DROP TABLE comms.contacts;
