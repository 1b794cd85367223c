-- merge created_at and user_events
--
-- Revision ID: b28c4d6e0f13
-- Revises: 7d3a2b8c6e10, 9e5f1a7b3c42
-- Create Date: 2026-11-12 16:40:00.000000+00:00

-- migrate:upgrade

-- migrate:downgrade
