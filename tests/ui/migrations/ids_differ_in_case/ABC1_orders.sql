-- revision ABC1
--
-- Revision ID: ABC1
-- Revises: abc1

-- migrate:upgrade
CREATE TABLE orders (id BIGINT);

-- migrate:downgrade
DROP TABLE orders;
