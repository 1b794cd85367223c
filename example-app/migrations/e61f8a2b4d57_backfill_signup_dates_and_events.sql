-- backfill signup dates and events of existing users
--
-- Revision ID: e61f8a2b4d57
-- Revises: b28c4d6e0f13
-- Create Date: 2026-11-18 08:30:00.000000+00:00

-- migrate:upgrade
-- A data migration: users created before created_at existed get a recognisable "unknown"
-- date, and every user gets an `imported` event (seq 0; the application's events start
-- at 1).
UPDATE users SET created_at = '1970-01-01T00:00:00Z' WHERE created_at IS NULL;
INSERT INTO user_events (user_id, seq, kind, created_at)
    SELECT id, 0, 'imported', created_at FROM users;

-- migrate:downgrade
DELETE FROM user_events WHERE seq = 0 AND kind = 'imported';
UPDATE users SET created_at = NULL WHERE created_at = '1970-01-01T00:00:00Z';
