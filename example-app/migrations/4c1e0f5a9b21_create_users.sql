-- create users
--
-- Revision ID: 4c1e0f5a9b21
-- Revises:
-- Create Date: 2026-11-02 09:00:00.000000+00:00

-- migrate:upgrade
-- Ids are assigned by the application (no SERIAL / AUTO_INCREMENT: this SQL runs unchanged
-- on PostgreSQL, MySQL/MariaDB and SQLite).
CREATE TABLE users (
    id BIGINT NOT NULL PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL
);

-- migrate:downgrade
DROP TABLE users;
