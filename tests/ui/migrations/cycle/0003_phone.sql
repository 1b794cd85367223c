-- revision 0003
--
-- Revision ID: 0003
-- Revises: 0002

-- migrate:upgrade
ALTER TABLE users ADD COLUMN phone TEXT;

-- migrate:downgrade
ALTER TABLE users DROP COLUMN phone;
