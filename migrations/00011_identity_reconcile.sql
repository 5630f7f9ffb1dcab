-- Reconciliation (internal/identity) re-reads users from their IdP, least
-- recently synced first; this index finds them without a sort.

-- +goose Up
CREATE INDEX users_idp_synced_idx ON directory.users (idp_id, synced_at NULLS FIRST, id) WHERE erased_at IS NULL;

-- +goose Down
DROP INDEX directory.users_idp_synced_idx;
