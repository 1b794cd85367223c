-- revision 0002
--
-- Revision ID: 0002
-- Revises 0001

-- migrate:upgarde
CREATE TABLE orders (id BIGINT);

-- MIGRATE: DOWNGRADE
DROP TABLE orders;
