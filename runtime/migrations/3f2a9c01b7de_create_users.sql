-- create users
--
-- Revision ID: 3f2a9c01b7de
-- Revises:
-- Create Date: 2026-11-25 09:00:00.000000+00:00

-- migrate:upgrade
CREATE TABLE users (
    id BIGINT NOT NULL PRIMARY KEY,
    email VARCHAR(255) NOT NULL
);

-- migrate:downgrade
DROP TABLE users;
