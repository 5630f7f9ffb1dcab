-- Reconciliation (internal/identity) re-reads users from their IdP, least
-- recently synced first; this index finds them without a sort, and a claim
-- keeps two processes from reading the same user.

-- +goose Up
CREATE INDEX users_idp_synced_idx ON directory.users (idp_id, synced_at NULLS FIRST, id) WHERE erased_at IS NULL;

-- A user being re-read by one process, so another process takes the next.
CREATE TABLE identity.reconcile_claims (
    user_id uuid PRIMARY KEY,
    until   timestamptz NOT NULL
);

-- +goose Down
DROP TABLE identity.reconcile_claims;
DROP INDEX directory.users_idp_synced_idx;
