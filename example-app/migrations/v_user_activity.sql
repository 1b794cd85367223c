-- user_activity: each user with the number of their events (served by GET /activity)
--
-- Revision ID: v_user_activity
-- Repeatable: true
-- Depends On: b28c4d6e0f13

-- migrate:upgrade
-- A repeatable revision (docs/design.md §4.10): edit this text and the next boot replaces
-- the view. SQLite has no CREATE OR REPLACE VIEW, so drop and create, which the three
-- databases all accept.
DROP VIEW IF EXISTS user_activity;
CREATE VIEW user_activity AS
    SELECT u.id AS user_id, u.email AS email, COUNT(e.seq) AS events
    FROM users u LEFT JOIN user_events e ON e.user_id = u.id
    GROUP BY u.id, u.email;

-- migrate:downgrade
DROP VIEW IF EXISTS user_activity;
