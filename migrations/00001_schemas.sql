-- One Postgres schema per bounded context. Only a context's own store writes
-- to its tables.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA directory;
CREATE SCHEMA property;
CREATE SCHEMA comms;
CREATE SCHEMA bookkeeping;

-- +goose Down
DROP SCHEMA bookkeeping CASCADE;
DROP SCHEMA comms CASCADE;
DROP SCHEMA property CASCADE;
DROP SCHEMA directory CASCADE;
