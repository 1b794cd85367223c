-- add users.name
--
-- Revision ID: 8b41d2e6f05c
-- Revises: 3f2a9c01b7de
-- Create Date: 2026-11-25 09:05:00.000000+00:00

-- migrate:upgrade
ALTER TABLE users ADD COLUMN name VARCHAR(100);

-- migrate:downgrade
ALTER TABLE users DROP COLUMN name;
