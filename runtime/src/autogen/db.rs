//! A pool on one database of any supported kind, with what autogenerate does to it: run a
//! script statement by statement (naming the file and line of a rejected statement), and
//! read its schema.

use revchain_core::Dialect;
use revchain_core::schema::Schema;
use sqlx::AssertSqlSafe;

use super::Error;
use crate::error::driver_message;
use crate::table::Migrations;

/// A pool on one database.
#[derive(Debug, Clone)]
pub(crate) enum AnyPool {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// Runs the same block on whichever pool `$db` holds.
macro_rules! on_any {
    ($db:expr, $pool:ident => $e:expr) => {
        match $db {
            #[cfg(feature = "postgres")]
            AnyPool::Postgres($pool) => $e,
            #[cfg(feature = "mysql")]
            AnyPool::MySql($pool) => $e,
            #[cfg(feature = "sqlite")]
            AnyPool::Sqlite($pool) => $e,
        }
    };
}
pub(crate) use on_any;

impl AnyPool {
    /// The SQL dialect of the database.
    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            AnyPool::MySql(_) => Dialect::MySql,
            #[cfg(feature = "sqlite")]
            AnyPool::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Runs `statements` (text and file line) one by one on one connection; on failure,
    /// the line and the database's message.
    async fn run(&self, statements: Vec<(String, usize)>) -> Result<(), (usize, String)> {
        on_any!(self, pool => {
            let mut conn = pool.acquire().await.map_err(|e| (0, driver_message(&e)))?;
            for (sql, line) in statements {
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| (line, driver_message(&e)))?;
            }
            Ok(())
        })
    }

    /// Runs a schema file's text; a rejected statement is reported with `path` and its line.
    pub async fn run_schema_file(&self, path: &str, sql: &str) -> Result<(), Error> {
        let statements = crate::backend::statements(sql, self.dialect(), 1);
        self.run(statements)
            .await
            .map_err(|(line, message)| Error::SchemaStatement {
                path: path.to_owned(),
                line: line.max(1),
                message,
            })
    }

    /// Runs the upgrade SQL of `revisions` (indices, in table order) without any
    /// bookkeeping: the schema they produce is all that matters here.
    pub async fn run_revisions(&self, m: &Migrations, revisions: &[usize]) -> Result<(), Error> {
        for &i in revisions {
            let Some(rev) = m.at(i) else { continue };
            let statements =
                crate::backend::statements(rev.upgrade_sql(), self.dialect(), rev.upgrade_line());
            self.run(statements)
                .await
                .map_err(|(line, message)| Error::Revision {
                    id: rev.id().to_owned(),
                    path: rev.path().to_owned(),
                    line: if line == 0 { rev.upgrade_line() } else { line },
                    message,
                })?;
        }
        Ok(())
    }

    /// The database's schema, leaving out the tables named in `exclude`.
    pub async fn snapshot(&self, exclude: &[String]) -> Result<Schema, Error> {
        let result = match self {
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(p) => super::postgres::introspect(p).await,
            #[cfg(feature = "mysql")]
            AnyPool::MySql(p) => super::mysql::introspect(p).await,
            #[cfg(feature = "sqlite")]
            AnyPool::Sqlite(p) => super::sqlite::introspect(p).await,
        };
        let mut schema = result.map_err(|e| Error::Introspect {
            message: driver_message(&e),
        })?;
        schema
            .tables
            .retain(|t| !exclude.iter().any(|x| x == &t.name));
        schema.sort();
        Ok(schema)
    }

    /// Closes the pool (waits for its connections to close).
    pub async fn close(&self) {
        on_any!(self, pool => pool.close().await)
    }
}
