-- Directory: the IdP webhook events already applied, so a redelivered event
-- is applied once (idempotency by event id).

-- +goose Up
CREATE TABLE directory.webhook_events (
    idp_id      text NOT NULL,
    event_id    text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- What the event did: applied, stale, unknown_user, erased_user, ignored.
    outcome     text NOT NULL,
    PRIMARY KEY (idp_id, event_id)
);
CREATE INDEX webhook_events_received_idx ON directory.webhook_events (received_at);

-- +goose Down
DROP TABLE directory.webhook_events;
