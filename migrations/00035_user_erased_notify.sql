-- Directory: every erasure of a user (privacy's eraseUser and eraseContact,
-- an IdP deletion through a webhook, anything else that sets erased_at)
-- notifies the channel gateway_user_erased with the user's id, from inside
-- the erasing transaction, so PostgreSQL delivers it at commit and never for
-- an erasure rolled back. Every gateway process listens (internal/auth) and
-- drops the user's signed-in tokens from its cache at once. Only the first
-- erasure notifies: erasing again leaves erased_at as it is. The trigger
-- watches every update (not UPDATE OF erased_at), so no way of setting the
-- column escapes it; the WHEN test is all other updates pay.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION directory.notify_user_erased() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_user_erased', NEW.id::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER users_erased_notify AFTER UPDATE ON directory.users
    FOR EACH ROW WHEN (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION directory.notify_user_erased();

-- +goose Down
DROP TRIGGER users_erased_notify ON directory.users;
DROP FUNCTION directory.notify_user_erased();
