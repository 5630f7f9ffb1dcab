-- Migrations of users between IdP adapters (internal/identity,
-- docs/idp-migration.md): one identity.migrations row per run of
-- `gateway idp migrate` for (from_idp, to_idp, tenant), and one
-- identity.migration_users row per user it takes on, so a run is resumable
-- and never handles a user twice. The calls to the target IdP go through the
-- outbox as op 'migrate' jobs (its idp_id is the target's, so they share its
-- rate slots); a job carries the email and full name it looks up and invites
-- while it is unfinished, scrubbed as it ends or by an erasure, like every
-- other job. These tables hold no PII: user ids, states, safe reason codes
-- and the subject of the identity at the target.

-- +goose Up
ALTER TABLE identity.outbox DROP CONSTRAINT outbox_op_check;
ALTER TABLE identity.outbox ADD CONSTRAINT outbox_op_check CHECK (op IN ('update', 'delete', 'migrate'));

CREATE TABLE identity.migrations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    from_idp    text NOT NULL,
    to_idp      text NOT NULL,
    tenant_id   uuid,                            -- NULL: the users of every tenant
    state       text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished')),
    grace       interval NOT NULL,               -- how long the source's tokens still resolve after a user moves
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CHECK (from_idp <> to_idp),
    CHECK ((state = 'finished') = (finished_at IS NOT NULL))
);
-- At most one unfinished run per (from, to, tenant): the one a new run resumes.
CREATE UNIQUE INDEX migrations_unfinished_key ON identity.migrations
    (from_idp, to_idp, coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)) WHERE state = 'running';

CREATE TABLE identity.migration_users (
    migration_id uuid NOT NULL REFERENCES identity.migrations (id),
    user_id      uuid NOT NULL,
    -- pending: not yet handed to the outbox; running: its job is queued or in
    -- flight; done: re-pointed to the target; failed: left on the source
    -- (see reason); skipped: erased.
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    reason       text CHECK (reason IN ('erased', 'no_email', 'duplicate_email', 'linked_to_other_user',
                                        'several_identities', 'unverified_email', 'user_changed', 'idp_refused')),
    job_id       bigint,                         -- the outbox job making its calls
    target_external_id text,                     -- the identity at the target, once known
    created      boolean NOT NULL DEFAULT false, -- the gateway created (invited) that identity
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (migration_id, user_id),
    CHECK ((state IN ('failed', 'skipped')) = (reason IS NOT NULL))
);
-- Counts by state, and the next pending users in id order (fillMigration).
CREATE INDEX migration_users_state_idx ON identity.migration_users (migration_id, state, user_id);
CREATE INDEX migration_users_job_idx ON identity.migration_users (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX migration_users_user_idx ON identity.migration_users (user_id);

-- A migrate job that ends other than through the migration's own record
-- (an erasure cancels it; the IdP refused a call for good) ends its user's
-- migration too, so a run never waits for a job that will not finish.
-- +goose StatementBegin
CREATE FUNCTION identity.migration_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity.migration_users
    SET state = CASE WHEN NEW.state = 'cancelled' THEN 'skipped' ELSE 'failed' END,
        reason = CASE WHEN NEW.state = 'cancelled' THEN 'erased' ELSE 'idp_refused' END,
        updated_at = now()
    WHERE job_id = NEW.id AND state IN ('pending', 'running');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_migrate_ended AFTER UPDATE ON identity.outbox
    FOR EACH ROW WHEN (NEW.op = 'migrate' AND NEW.state IN ('failed', 'cancelled') AND OLD.state IN ('pending', 'running'))
    EXECUTE FUNCTION identity.migration_job_ended();

-- +goose Down
DROP TRIGGER outbox_migrate_ended ON identity.outbox;
DROP FUNCTION identity.migration_job_ended();
DROP TABLE identity.migration_users;
DROP TABLE identity.migrations;
DELETE FROM identity.outbox WHERE op = 'migrate';
ALTER TABLE identity.outbox DROP CONSTRAINT outbox_op_check;
ALTER TABLE identity.outbox ADD CONSTRAINT outbox_op_check CHECK (op IN ('update', 'delete'));
