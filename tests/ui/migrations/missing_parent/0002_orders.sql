-- revision 0002
--
-- Revision ID: 0002
-- Revises: 0010

-- migrate:upgrade
CREATE TABLE orders (id BIGINT);

-- migrate:downgrade
DROP TABLE orders;
