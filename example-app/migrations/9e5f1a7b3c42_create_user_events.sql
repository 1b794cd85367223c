-- create user_events, indexed by user and time
--
-- Revision ID: 9e5f1a7b3c42
-- Revises: 4c1e0f5a9b21
-- Create Date: 2026-11-10 11:05:00.000000+00:00

-- migrate:upgrade
-- Developed on a branch in parallel with 7d3a2b8c6e10; merged by b28c4d6e0f13.
CREATE TABLE user_events (
    user_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    kind VARCHAR(50) NOT NULL,
    created_at VARCHAR(32) NOT NULL,
    PRIMARY KEY (user_id, seq),
    FOREIGN KEY (user_id) REFERENCES users (id)
);
-- GET /users/{id}/events lists a user's events by time.
CREATE INDEX ix_user_events_user_time ON user_events (user_id, created_at);

-- migrate:downgrade
-- Dropping the table drops its index (there is no DROP INDEX spelling that all three
-- databases accept: MySQL wants `DROP INDEX name ON table`).
DROP TABLE user_events;
