-- revision 0002
--
-- Revision ID: 0002
-- Revises: 0001

-- migrate:upgrade
ALTER TABLE users ADD COLUMN phone TEXT;

-- migrate:downgrade
ALTER TABLE users DROP COLUMN phone;
