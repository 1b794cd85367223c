//! The database: one pool on PostgreSQL, MySQL/MariaDB or SQLite (chosen by the URL), the
//! embedded migrations, and the queries of the `users` resource.
//!
//! The SQL is the same on the three databases except for the placeholders (`$1` on
//! PostgreSQL, `?` elsewhere), so each query is written twice, side by side.

use std::str::FromStr;
use std::time::Duration;

use revchain::url::{DatabaseKind, Redactor, redact};
use revchain::{Compatible, CurrentHead, Migrations, Report};
use sqlx::{MySqlPool, PgPool, SqlitePool};

/// The default database: a SQLite file in the working directory, created if missing.
pub const DEFAULT_URL: &str = "sqlite://example-app.db";

/// One pool on whichever database the URL names.
#[derive(Debug, Clone)]
pub enum Db {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// Runs the same code on whichever pool `db` holds (each arm is compiled for its driver).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Postgres($pool) => $body,
            Db::MySql($pool) => $body,
            Db::Sqlite($pool) => $body,
        }
    };
}

/// A query in its two spellings.
#[derive(Clone, Copy)]
struct Sql {
    postgres: &'static str,
    other: &'static str,
}

impl Db {
    fn sql(&self, q: Sql) -> &'static str {
        match self {
            Db::Postgres(_) => q.postgres,
            Db::MySql(_) | Db::Sqlite(_) => q.other,
        }
    }
}

/// Connects to `url` (a missing SQLite file is created). The error message never holds
/// the password: a URL that a driver would misread is refused before any driver sees it
/// ([`revchain::url::check`]), and every message goes through the URL's [`Redactor`].
/// sqlx logs statement text only at `trace` on these pools ([`revchain::quiet_statements`]).
pub async fn connect(url: &str) -> Result<Db, String> {
    let redactor = Redactor::for_url(url);
    let fail = |e: sqlx::Error| {
        format!(
            "cannot connect to {}: {}",
            redact(url),
            redactor.scrub_message(&message(&e))
        )
    };
    revchain::url::check(url).map_err(|e| e.to_string())?;
    Ok(match DatabaseKind::of(url) {
        Some(DatabaseKind::Postgres) => {
            let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(fail)?;
            Db::Postgres(open(opts).await.map_err(fail)?)
        }
        Some(DatabaseKind::MySql) => {
            let opts = sqlx::mysql::MySqlConnectOptions::from_str(url).map_err(fail)?;
            Db::MySql(open(opts).await.map_err(fail)?)
        }
        Some(DatabaseKind::Sqlite) => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .map_err(fail)?
                .create_if_missing(true)
                .foreign_keys(true);
            Db::Sqlite(open(opts).await.map_err(fail)?)
        }
        // None, or a database a later revchain knows and this app does not.
        _ => {
            return Err(format!(
                "`{}` is not a database URL this app can use: use postgres://…, mysql://… (or \
                 mariadb://…) or sqlite://…",
                redact(url)
            ));
        }
    })
}

/// The pool, after one connection made directly: a pool retries a failed connection until
/// its acquire timeout and then hides the driver's reason.
async fn open<DB: sqlx::Database>(
    opts: <DB::Connection as sqlx::Connection>::Options,
) -> Result<sqlx::Pool<DB>, sqlx::Error> {
    use sqlx::ConnectOptions as _;
    let opts = revchain::quiet_statements(opts);
    let first = opts.connect().await?;
    let _ = sqlx::Connection::close(first).await;
    pool_options().connect_with(opts).await
}

fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
}

/// The database's own message for a driver error.
pub fn message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

/// Whether the error means the database could not be reached (rather than a failed query).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

/// A user, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `None` only for rows written before `created_at` existed and not yet backfilled.
    pub created_at: Option<String>,
    /// The name made URL-friendly ([`crate::handle::handle`]); `None` only for rows written
    /// before `handle` existed and not yet backfilled (migration `a8b0c2d4e6f8`).
    pub handle: Option<String>,
}

/// An entry of a user's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub seq: i32,
    pub kind: String,
    pub created_at: String,
}

/// A line of the `user_activity` view (a repeatable revision, `migrations/v_user_activity.sql`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Activity {
    pub user_id: i64,
    pub email: String,
    pub events: i64,
}

/// Why creating a user failed.
#[derive(Debug)]
pub enum CreateError {
    /// Another user has this email.
    EmailTaken,
    /// The database failed.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> Self {
        CreateError::Db(e)
    }
}

type UserRow = (i64, String, String, Option<String>, Option<String>);

fn user((id, email, name, created_at, handle): UserRow) -> User {
    User {
        id,
        email,
        name,
        created_at,
        handle,
    }
}

const INSERT_USER: Sql = Sql {
    // The next id is computed in the statement itself; two concurrent inserts that pick
    // the same id collide on the primary key and the loser retries.
    postgres: "INSERT INTO users (id, email, name, created_at, handle) \
               SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4 FROM users",
    other: "INSERT INTO users (id, email, name, created_at, handle) \
            SELECT COALESCE(MAX(id), 0) + 1, ?, ?, ?, ? FROM users",
};
const USER_BY_EMAIL: Sql = Sql {
    postgres: "SELECT id, email, name, created_at, handle FROM users WHERE email = $1",
    other: "SELECT id, email, name, created_at, handle FROM users WHERE email = ?",
};
const USER_BY_ID: Sql = Sql {
    postgres: "SELECT id, email, name, created_at, handle FROM users WHERE id = $1",
    other: "SELECT id, email, name, created_at, handle FROM users WHERE id = ?",
};
const LIST_USERS: Sql = Sql {
    postgres: "SELECT id, email, name, created_at, handle FROM users WHERE id > $1 ORDER BY id LIMIT $2",
    other: "SELECT id, email, name, created_at, handle FROM users WHERE id > ? ORDER BY id LIMIT ?",
};
const INSERT_EVENT: Sql = Sql {
    postgres: "INSERT INTO user_events (user_id, seq, kind, created_at) VALUES ($1, $2, $3, $4)",
    other: "INSERT INTO user_events (user_id, seq, kind, created_at) VALUES (?, ?, ?, ?)",
};
const EVENTS: Sql = Sql {
    postgres: "SELECT seq, kind, created_at FROM user_events WHERE user_id = $1 \
               ORDER BY created_at, seq",
    other: "SELECT seq, kind, created_at FROM user_events WHERE user_id = ? \
            ORDER BY created_at, seq",
};

/// How many times an insert is retried after losing a race for an id.
const INSERT_ATTEMPTS: usize = 8;

impl Db {
    /// Which database this is (`PostgreSQL`, `MySQL/MariaDB`, `SQLite`).
    pub fn kind(&self) -> DatabaseKind {
        match self {
            Db::Postgres(_) => DatabaseKind::Postgres,
            Db::MySql(_) => DatabaseKind::MySql,
            Db::Sqlite(_) => DatabaseKind::Sqlite,
        }
    }

    /// Upgrades to head (what the app does at start).
    pub async fn migrate(&self, m: &Migrations) -> Result<Report, revchain::Error> {
        on_pool!(self, p => m.run(p).await)
    }

    /// Whether this binary can serve the database without migrating it
    /// ([`Migrations::check_compatible`]).
    pub async fn check_compatible(&self, m: &Migrations) -> Result<Compatible, revchain::Error> {
        on_pool!(self, p => m.check_compatible(p).await)
    }

    /// The database's current revisions (one query).
    pub async fn current(&self, m: &Migrations) -> Result<Vec<CurrentHead>, revchain::Error> {
        on_pool!(self, p => m.current(p).await)
    }

    /// Creates a user and its `created` event in one transaction.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        now: &str,
    ) -> Result<User, CreateError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_create_user(email, name, now).await {
                Ok(user) => return Ok(user),
                Err(e) if is_conflict(&e) => {
                    // The email, or the id another request took at the same moment?
                    if self.user_by_email(email).await?.is_some() {
                        return Err(CreateError::EmailTaken);
                    }
                    if attempt >= INSERT_ATTEMPTS {
                        return Err(CreateError::Db(e));
                    }
                }
                Err(e) if is_retryable(&e) && attempt < INSERT_ATTEMPTS => {}
                Err(e) => return Err(CreateError::Db(e)),
            }
            tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
        }
    }

    async fn try_create_user(
        &self,
        email: &str,
        name: &str,
        now: &str,
    ) -> Result<User, sqlx::Error> {
        let insert = self.sql(INSERT_USER);
        let select = self.sql(USER_BY_EMAIL);
        let event = self.sql(INSERT_EVENT);
        let handle = crate::handle::handle(name, email);
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(insert)
                .bind(email)
                .bind(name)
                .bind(now)
                .bind(&handle)
                .execute(&mut *tx)
                .await?;
            let row: UserRow = sqlx::query_as(select).bind(email).fetch_one(&mut *tx).await?;
            sqlx::query(event)
                .bind(row.0)
                .bind(1_i32)
                .bind("created")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(user(row))
        })
    }

    /// The user with this email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, sqlx::Error> {
        let sql = self.sql(USER_BY_EMAIL);
        on_pool!(self, p => {
            let row: Option<UserRow> = sqlx::query_as(sql).bind(email).fetch_optional(p).await?;
            Ok(row.map(user))
        })
    }

    /// The user with this id.
    pub async fn user(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        let sql = self.sql(USER_BY_ID);
        on_pool!(self, p => {
            let row: Option<UserRow> = sqlx::query_as(sql).bind(id).fetch_optional(p).await?;
            Ok(row.map(user))
        })
    }

    /// Up to `limit` users with an id above `after`, by id.
    pub async fn users(&self, after: i64, limit: i64) -> Result<Vec<User>, sqlx::Error> {
        let sql = self.sql(LIST_USERS);
        on_pool!(self, p => {
            let rows: Vec<UserRow> = sqlx::query_as(sql).bind(after).bind(limit).fetch_all(p).await?;
            Ok(rows.into_iter().map(user).collect())
        })
    }

    /// A user's events, by time.
    pub async fn events(&self, user_id: i64) -> Result<Vec<Event>, sqlx::Error> {
        let sql = self.sql(EVENTS);
        on_pool!(self, p => {
            let rows: Vec<(i32, String, String)> =
                sqlx::query_as(sql).bind(user_id).fetch_all(p).await?;
            Ok(rows
                .into_iter()
                .map(|(seq, kind, created_at)| Event { seq, kind, created_at })
                .collect())
        })
    }

    /// Every user with their number of events, by id, from the `user_activity` view.
    pub async fn activity(&self) -> Result<Vec<Activity>, sqlx::Error> {
        let sql = "SELECT user_id, email, events FROM user_activity ORDER BY user_id";
        on_pool!(self, p => {
            let rows: Vec<(i64, String, i64)> = sqlx::query_as(sql).fetch_all(p).await?;
            Ok(rows
                .into_iter()
                .map(|(user_id, email, events)| Activity { user_id, email, events })
                .collect())
        })
    }

    /// Closes the pool (waits for the connections to be returned).
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// A unique or primary key violation.
fn is_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// A deadlock, a serialization failure or a busy SQLite database: worth another try.
fn is_retryable(e: &sqlx::Error) -> bool {
    let Some(d) = e.as_database_error() else {
        return false;
    };
    // PostgreSQL and MySQL give SQLSTATEs (40001: serialization failure or MySQL's
    // deadlock, 40P01: PostgreSQL's deadlock); SQLite its result codes (5 busy, 6 locked,
    // 517 busy snapshot).
    matches!(
        d.code().as_deref(),
        Some("40001" | "40P01" | "5" | "6" | "517")
    )
}
