-- create users and fill them
--
-- Revision ID: 0001
-- Revises:

-- migrate:upgrade
CREATE TABLE users (id BIGINT);
INSERT INTO users VALUES (1);
COMMIT;

-- migrate:downgrade
DROP TABLE users;
