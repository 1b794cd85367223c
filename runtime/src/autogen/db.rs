//! What autogenerate does to a pool on any supported database: run a
//! script statement by statement (naming the file and line of a rejected statement), and
//! read its schema.

use revchain_schema::Schema;
use sqlx::AssertSqlSafe;

use super::Error;
use crate::embedded::Migrations;
use crate::error::driver_message;
pub(crate) use crate::pool::{AnyPool, on_any};

impl AnyPool {
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
    /// bookkeeping: the schema they produce is all that matters here. A Rust code revision
    /// (docs/design.md §1.7) is skipped with a warning: its code is not SQL, and is taken to
    /// change data, not the schema.
    pub async fn run_revisions(&self, m: &Migrations, revisions: &[usize]) -> Result<(), Error> {
        for &i in revisions {
            let Some(rev) = m.at(i) else { continue };
            if rev.is_rust() {
                tracing::warn!(
                    target: "revchain",
                    "skipping revision {} ({}): it is Rust code, which the schema comparison \
                     does not run; it is taken to change data only",
                    rev.id(),
                    rev.path()
                );
                continue;
            }
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
}
