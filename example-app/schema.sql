-- The schema the example app wants, declared as plain SQL (portable to SQLite, PostgreSQL
-- and MariaDB). Change it, then `make migrate-create MSG="..."` writes the revision that
-- gets the migrations there (`revchain revision --autogenerate`), and
-- `revchain check --schema` fails while the two disagree. Review what it writes.
CREATE TABLE users (
    id BIGINT NOT NULL PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL,
    created_at VARCHAR(32),
    handle VARCHAR(100)
);

CREATE TABLE user_events (
    user_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    kind VARCHAR(50) NOT NULL,
    created_at VARCHAR(32) NOT NULL,
    PRIMARY KEY (user_id, seq),
    FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX ix_user_events_user_time ON user_events (user_id, created_at);
