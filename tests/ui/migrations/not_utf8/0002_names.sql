-- add names
--
-- Revision ID: 0002
-- Revises: 0001

-- migrate:upgrade
INSERT INTO users (id) VALUES (1); -- José (Latin-1)

-- migrate:downgrade
DELETE FROM users;
