-- Privacy: the audit of erasures (GDPR Art. 17). A record says who erased
-- which id, when, and which kinds of fields were scrubbed; it never holds the
-- PII itself.

-- +goose Up
CREATE SCHEMA privacy;

CREATE TABLE privacy.erasures (
    id                  bigserial PRIMARY KEY,
    subject_kind        text NOT NULL CHECK (subject_kind IN ('contact', 'user')),
    subject_id          uuid NOT NULL,
    tenant_id           uuid NOT NULL,
    -- The other ids erased with the subject: the user of a contact, the
    -- contact of a user.
    related_ids         uuid[] NOT NULL DEFAULT '{}',
    actor_role          text NOT NULL,
    actor_user_id       uuid,
    -- Kinds of fields scrubbed, e.g. {user.email, contact.phone}; never values.
    fields              text[] NOT NULL,
    idp_deletion_queued boolean NOT NULL DEFAULT false,
    erased_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasures_subject_idx ON privacy.erasures (subject_kind, subject_id);

-- +goose Down
DROP SCHEMA privacy CASCADE;
