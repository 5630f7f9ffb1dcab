-- Identity updates: a transactional outbox of changes to identities at the
-- IdPs (the IdP is the source of truth; the directory cache
-- follows only what it accepted), and one rate-slot row per IdP adapter that
-- every gateway process shares, so together they stay within its quota.
-- Owned by internal/identity.

-- +goose Up
CREATE SCHEMA identity;

CREATE TABLE identity.outbox (
    id          bigserial PRIMARY KEY,           -- also the order of a user's changes
    user_id     uuid NOT NULL,
    idp_id      text NOT NULL,
    external_id text NOT NULL,
    op          text NOT NULL CHECK (op IN ('update', 'delete')),
    -- The new values; NULL: unchanged. Scrubbed once the change is applied
    -- or has failed, so the outbox keeps no PII longer than it needs.
    email       text,
    full_name   text,
    priority    smallint NOT NULL DEFAULT 0,     -- 0 interactive, 1 background
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'applied', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    next_try_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,                    -- a running job's lease
    reason      text,                            -- the last error, safe to show: no PII
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
-- What the workers claim next: interactive first, then oldest.
CREATE INDEX outbox_due_idx ON identity.outbox (priority, id) WHERE state IN ('pending', 'running');
-- A user's unfinished changes, for the per-user order.
CREATE INDEX outbox_user_idx ON identity.outbox (user_id, id);

CREATE TABLE identity.rate_slots (
    idp_id  text PRIMARY KEY,
    next_at timestamptz NOT NULL,                -- the earliest start of the next admin call
    held_until timestamptz                       -- the IdP said to wait until then (429)
);

-- +goose Down
DROP SCHEMA identity CASCADE;
