-- The pace of each IdP's admin calls (internal/identity): the share of the
-- adapter's requests_per_second the gateway uses now, cut by the 429s it
-- meets (another application may use part of the same quota) and raised
-- again by answers within the quota, faster when X-RateLimit-Remaining
-- shows room. Shared by every process, like the slots it spaces.

-- +goose Up
ALTER TABLE identity.rate_slots
    ADD COLUMN pace      double precision NOT NULL DEFAULT 1 CHECK (pace > 0 AND pace <= 1),
    ADD COLUMN slowed_at timestamptz;      -- the last cut: a 429 of a call whose slot was granted before it cuts no further

-- +goose Down
ALTER TABLE identity.rate_slots
    DROP COLUMN pace,
    DROP COLUMN slowed_at;
