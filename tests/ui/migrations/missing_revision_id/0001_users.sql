-- create users
--
-- Revises:

-- migrate:upgrade
CREATE TABLE users (id BIGINT);

-- migrate:downgrade
DROP TABLE users;
