-- add users.created_at
--
-- Revision ID: 7d3a2b8c6e10
-- Revises: 4c1e0f5a9b21
-- Create Date: 2026-11-09 14:20:00.000000+00:00

-- migrate:upgrade
-- Nullable: existing rows get a value in the backfill revision. Timestamps are RFC 3339
-- text (UTC), which sorts correctly and is portable across the three databases.
ALTER TABLE users ADD COLUMN created_at VARCHAR(32);

-- migrate:downgrade
ALTER TABLE users DROP COLUMN created_at;
