-- revision abc1
--
-- Revision ID: abc1
-- Revises: 

-- migrate:upgrade
CREATE TABLE users (id BIGINT);

-- migrate:downgrade
DROP TABLE users;
