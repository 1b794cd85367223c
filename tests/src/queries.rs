//! Looking at a test database through a pool of any of the three kinds: the queries the
//! database tests and the shared [`scenarios`](crate::scenarios) assert with.

use std::future::Future;

use revchain::Migrations;
use sqlx::Pool;

use crate::Kind;

/// A database the tests run on: `sqlx::Postgres`, `sqlx::MySql` or `sqlx::Sqlite`.
pub trait Db: revchain::Backend {
    /// Which server.
    const KIND: Kind;

    /// The integer that `sql` selects (one row, one column); panics on an error.
    fn scalar<'a>(pool: &'a Pool<Self>, sql: &'a str) -> impl Future<Output = i64> + Send + 'a;

    /// Runs `sql` (one or more statements); panics on an error.
    fn exec<'a>(pool: &'a Pool<Self>, sql: &'a str) -> impl Future<Output = ()> + Send + 'a;
}

/// The same code for each database type (sqlx's bounds are only met by concrete types).
macro_rules! db {
    ($db:ty, $kind:expr) => {
        impl Db for $db {
            const KIND: Kind = $kind;

            async fn scalar<'a>(pool: &'a Pool<Self>, sql: &'a str) -> i64 {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_one(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }

            async fn exec<'a>(pool: &'a Pool<Self>, sql: &'a str) {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    };
}

db!(sqlx::Postgres, Kind::Postgres);
db!(sqlx::MySql, Kind::MySql);
db!(sqlx::Sqlite, Kind::Sqlite);

/// The integer that `sql` selects (one row, one column).
pub async fn scalar<DB: Db>(pool: &Pool<DB>, sql: &str) -> i64 {
    DB::scalar(pool, sql).await
}

/// How many sessions hold revchain's advisory lock (of the default version table) in
/// `pool`'s PostgreSQL database.
pub async fn pg_lock_holders(pool: &Pool<sqlx::Postgres>) -> i64 {
    let key = crate::pg_lock_key();
    scalar(
        pool,
        &format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid = {} AND objid = {} AND objsubid = 1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            key >> 32,
            key & 0xffff_ffff
        ),
    )
    .await
}

/// Runs `sql` (one or more statements).
pub async fn exec<DB: Db>(pool: &Pool<DB>, sql: &str) {
    DB::exec(pool, sql).await
}

/// Whether the database has a table `name`.
pub async fn table_exists<DB: Db>(pool: &Pool<DB>, name: &str) -> bool {
    let sql = match DB::KIND {
        Kind::Postgres => {
            format!("SELECT count(*) FROM information_schema.tables WHERE table_name = '{name}'")
        }
        Kind::MySql => format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{name}'"
        ),
        Kind::Sqlite => {
            format!("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
        }
    };
    scalar(pool, &sql).await == 1
}

/// Whether the database has an index `name`.
pub async fn index_exists<DB: Db>(pool: &Pool<DB>, name: &str) -> bool {
    let sql = match DB::KIND {
        Kind::Postgres => format!("SELECT count(*) FROM pg_indexes WHERE indexname = '{name}'"),
        Kind::MySql => format!(
            "SELECT count(DISTINCT index_name) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = '{name}'"
        ),
        Kind::Sqlite => {
            format!("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '{name}'")
        }
    };
    scalar(pool, &sql).await == 1
}

/// The database's current revisions, as `m` reads them.
pub async fn heads<DB: Db>(m: &Migrations, pool: &Pool<DB>) -> Vec<String> {
    m.current(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}
