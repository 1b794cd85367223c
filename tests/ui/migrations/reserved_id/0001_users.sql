-- revision head
--
-- Revision ID: head
-- Revises: 

-- migrate:upgrade
CREATE TABLE users (id BIGINT);

-- migrate:downgrade
DROP TABLE users;
