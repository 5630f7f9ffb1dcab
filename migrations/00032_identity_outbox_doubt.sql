-- A write whose outcome is unknown (internal/identity): the last identity
-- write a worker sent for a change without learning whether the IdP applied
-- it (no answer: a timeout, a reset connection, a process that died
-- mid-call). Until doubt_until the IdP may still apply it, so nothing newer
-- is sent for that user, and the change's next attempt reads the identity
-- back first. The values are PII: scrubbed with the change's own.

-- +goose Up
ALTER TABLE identity.outbox
    ADD COLUMN sent_email     text,
    ADD COLUMN sent_full_name text,
    ADD COLUMN doubt_until    timestamptz;     -- NULL: the last write's outcome is known

-- +goose Down
ALTER TABLE identity.outbox
    DROP COLUMN sent_email,
    DROP COLUMN sent_full_name,
    DROP COLUMN doubt_until;
