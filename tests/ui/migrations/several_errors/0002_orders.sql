-- create orders
--
-- Revises: 0001

-- migrate:upgrade
CREATE TABLE orders (id BIGINT);
