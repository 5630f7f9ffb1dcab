-- Identity updates: every change of an identity change's state that a
-- client can see (queued again after an attempt, applied, failed, cancelled
-- by an erasure) notifies the channel gateway_identity_change from inside
-- the transaction that made it, so PostgreSQL delivers it at commit, never
-- for a transaction rolled back, whichever replica's worker made it. Every
-- gateway process LISTENs (internal/live) and pushes the status to the
-- subscribers of identitySyncChanged, after reading the row again.
--
-- The payload carries ids and the state only, never an email or a name:
-- {"id": <change id>, "user_id": "<uuid>", "state": "<state>"}. Claiming a
-- change (pending -> running) notifies nothing: the client sees PENDING
-- either way. Deletions (op 'delete', queued by an erasure) notify nothing:
-- the erasure ends the user's subscriptions.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION identity.notify_change_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_identity_change',
        json_build_object('id', NEW.id, 'user_id', NEW.user_id, 'state', NEW.state)::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_state_notify AFTER UPDATE OF state ON identity.outbox
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state <> 'running' AND NEW.op = 'update')
    EXECUTE FUNCTION identity.notify_change_state();

-- +goose Down
DROP TRIGGER outbox_state_notify ON identity.outbox;
DROP FUNCTION identity.notify_change_state();
