-- a procedure, written for the mysql client
--
-- Revision ID: 0001
-- Revises:
-- Transactional: false

-- migrate:upgrade
DELIMITER //
CREATE PROCEDURE p() BEGIN SELECT 1; END //
DELIMITER ;

-- migrate:downgrade
DROP PROCEDURE p;
