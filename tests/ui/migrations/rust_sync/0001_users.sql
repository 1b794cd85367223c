-- users
--
-- Revision ID: 0001
-- Revises:

-- migrate:upgrade
CREATE TABLE users (id INT PRIMARY KEY, email TEXT NOT NULL);

-- migrate:downgrade
DROP TABLE users;
