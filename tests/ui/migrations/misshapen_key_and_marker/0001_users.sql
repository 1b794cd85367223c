-- revision 0001
--
-- Revision ID: 0001
-- Revises:

-- migrate:upgrade
CREATE TABLE users (id BIGINT);

-- migrate:downgrade
DROP TABLE users;
