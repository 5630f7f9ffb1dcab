-- Erasure and the identity outbox (internal/privacy, internal/identity).
-- An erasure cancels the user's queued identity changes, scrubbing the values
-- they carry, in its own transaction: the IdP deletion is the only call that
-- follows. The audit records what became of the identity at its IdP and how
-- many changes were cancelled, never their values.

-- +goose Up
ALTER TABLE identity.outbox DROP CONSTRAINT outbox_state_check;
ALTER TABLE identity.outbox ADD CONSTRAINT outbox_state_check
    CHECK (state IN ('pending', 'running', 'applied', 'failed', 'cancelled'));

ALTER TABLE privacy.erasures
    -- none: no identity to delete (a contact without an account, a user
    -- erased before); queued: this erasure queued the deletion at the IdP;
    -- not_configured: the IdP has no admin adapter, so the identity must be
    -- deleted there by hand; deleted_at_idp: the IdP deleted it and told us.
    ADD COLUMN idp_deletion text NOT NULL DEFAULT 'none'
        CHECK (idp_deletion IN ('none', 'queued', 'not_configured', 'deleted_at_idp')),
    ADD COLUMN cancelled_changes integer NOT NULL DEFAULT 0;
UPDATE privacy.erasures SET idp_deletion = 'queued' WHERE idp_deletion_queued;
ALTER TABLE privacy.erasures DROP COLUMN idp_deletion_queued;

-- +goose Down
ALTER TABLE privacy.erasures ADD COLUMN idp_deletion_queued boolean NOT NULL DEFAULT false;
UPDATE privacy.erasures SET idp_deletion_queued = (idp_deletion = 'queued');
ALTER TABLE privacy.erasures DROP COLUMN idp_deletion, DROP COLUMN cancelled_changes;
UPDATE identity.outbox SET state = 'failed', reason = 'cancelled by an erasure' WHERE state = 'cancelled';
ALTER TABLE identity.outbox DROP CONSTRAINT outbox_state_check;
ALTER TABLE identity.outbox ADD CONSTRAINT outbox_state_check
    CHECK (state IN ('pending', 'running', 'applied', 'failed'));
