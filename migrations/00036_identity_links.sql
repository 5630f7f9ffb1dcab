-- Directory: the history of every identity a user has had. A user's id
-- never changes when its IdP does; identity_links records which (idp_id,
-- external_id) pointed at which user and when, so an identity belongs to one
-- user forever: it can never be given to another user, nor create a new one,
-- not even after it was unlinked. A link is current while unlinked_at is
-- null (exactly the user's idp_id and external_id); an ended link's tokens
-- still resolve to its user until accept_until (unlinked_at plus the grace
-- of the move), and are refused after it.
--
-- Triggers keep it in step with directory.users on every path: an inserted
-- user records its link (a unique violation, 23505, when the identity is or
-- was anyone's: the insert fails as a whole); a change of idp_id or
-- external_id ends the old link (unless the store ended it first, with a
-- grace; otherwise at once), records the new one, and notifies
-- gateway_user_repointed with the user's id from the same transaction, so
-- every replica drops the user's cached sign-ins at commit; an erasure ends
-- the grace of every ended link at once.

-- +goose Up
CREATE TABLE directory.identity_links (
    idp_id       text NOT NULL,
    external_id  text NOT NULL,
    user_id      uuid NOT NULL REFERENCES directory.users (id),
    linked_at    timestamptz NOT NULL DEFAULT now(),
    unlinked_at  timestamptz,
    accept_until timestamptz,
    CONSTRAINT identity_links_pkey PRIMARY KEY (idp_id, external_id),
    CONSTRAINT identity_links_ended_check CHECK ((unlinked_at IS NULL) = (accept_until IS NULL))
);
-- A user has one current link; the history of a user reads by user_id.
CREATE UNIQUE INDEX identity_links_current_idx ON directory.identity_links (user_id) WHERE unlinked_at IS NULL;
CREATE INDEX identity_links_user_idx ON directory.identity_links (user_id, linked_at);

INSERT INTO directory.identity_links (idp_id, external_id, user_id, linked_at)
SELECT idp_id, external_id, id, created_at FROM directory.users;

-- Just-in-time linking looks users of a source IdP up by email, case-insensitively.
CREATE INDEX users_idp_email_lower_idx ON directory.users (tenant_id, idp_id, lower(email)) WHERE erased_at IS NULL;

-- +goose StatementBegin
CREATE FUNCTION directory.link_inserted_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO directory.identity_links (idp_id, external_id, user_id) VALUES (NEW.idp_id, NEW.external_id, NEW.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER users_link_insert AFTER INSERT ON directory.users
    FOR EACH ROW EXECUTE FUNCTION directory.link_inserted_user();

-- +goose StatementBegin
CREATE FUNCTION directory.relink_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory.identity_links SET unlinked_at = now(), accept_until = now()
        WHERE idp_id = OLD.idp_id AND external_id = OLD.external_id AND unlinked_at IS NULL;
    INSERT INTO directory.identity_links (idp_id, external_id, user_id) VALUES (NEW.idp_id, NEW.external_id, NEW.id);
    PERFORM pg_notify('gateway_user_repointed', NEW.id::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- Every update, not UPDATE OF idp_id, external_id: no way of setting the
-- columns (a BEFORE trigger's, say) escapes it; the WHEN test is all other
-- updates pay.
CREATE TRIGGER users_link_update AFTER UPDATE ON directory.users
    FOR EACH ROW WHEN (OLD.idp_id IS DISTINCT FROM NEW.idp_id OR OLD.external_id IS DISTINCT FROM NEW.external_id)
    EXECUTE FUNCTION directory.relink_user();

-- +goose StatementBegin
CREATE FUNCTION directory.end_links_of_erased_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory.identity_links SET accept_until = least(accept_until, now())
        WHERE user_id = NEW.id AND unlinked_at IS NOT NULL;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER users_erased_links AFTER UPDATE ON directory.users
    FOR EACH ROW WHEN (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION directory.end_links_of_erased_user();

-- +goose Down
DROP TRIGGER users_erased_links ON directory.users;
DROP FUNCTION directory.end_links_of_erased_user();
DROP TRIGGER users_link_update ON directory.users;
DROP FUNCTION directory.relink_user();
DROP TRIGGER users_link_insert ON directory.users;
DROP FUNCTION directory.link_inserted_user();
DROP INDEX directory.users_idp_email_lower_idx;
DROP TABLE directory.identity_links;
