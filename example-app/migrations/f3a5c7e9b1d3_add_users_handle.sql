-- add users.handle
--
-- Revision ID: f3a5c7e9b1d3
-- Revises: e61f8a2b4d57
-- Create Date: 2026-11-30 10:30:00.000000+00:00

-- migrate:upgrade
-- A URL-friendly name derived from `name` (`Ada Lovelace` -> `ada-lovelace`). Nullable: the
-- next revision, Rust code, fills it in for the existing rows; the app writes it for new ones.
ALTER TABLE users ADD COLUMN handle VARCHAR(100);

-- migrate:downgrade
ALTER TABLE users DROP COLUMN handle;
