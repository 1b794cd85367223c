-- revision 0002
--
-- Revision ID: 0002
-- Revises: 0001, 0003

-- migrate:upgrade
CREATE TABLE orders (id BIGINT);

-- migrate:downgrade
DROP TABLE orders;
