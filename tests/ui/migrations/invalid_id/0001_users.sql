-- revision add-users
--
-- Revision ID: add-users
-- Revises: 

-- migrate:upgrade
CREATE TABLE users (id BIGINT);

-- migrate:downgrade
DROP TABLE users;
