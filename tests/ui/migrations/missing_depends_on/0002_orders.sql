-- revision 0002
--
-- Revision ID: 0002
-- Revises: 0001
-- Depends On: accounts

-- migrate:upgrade
CREATE TABLE orders (id BIGINT);

-- migrate:downgrade
DROP TABLE orders;
