-- Bookkeeping: invoices. created_by_user_id is the directory user's stable id.

-- +goose Up
CREATE TABLE bookkeeping.invoices (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL,
    number             text NOT NULL,
    amount_minor       bigint NOT NULL,
    currency           char(3) NOT NULL,
    issued_at          timestamptz NOT NULL,
    created_by_user_id uuid NOT NULL REFERENCES directory.users (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoices_tenant_number_key UNIQUE (tenant_id, number)
);
-- Newest first, inside a tenant and across tenants, and per creator.
CREATE INDEX invoices_tenant_issued_idx ON bookkeeping.invoices (tenant_id, issued_at DESC, id DESC);
CREATE INDEX invoices_issued_idx ON bookkeeping.invoices (issued_at DESC, id DESC);
CREATE INDEX invoices_creator_issued_idx ON bookkeeping.invoices (created_by_user_id, issued_at DESC, id DESC);

-- +goose Down
DROP TABLE bookkeeping.invoices;
