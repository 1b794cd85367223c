-- create users
--
-- Revision ID: 0001
-- Revises:

-- migrate:downgrade
DROP TABLE users;
