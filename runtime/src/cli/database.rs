//! The database a URL names, as a whole: whether it exists, creating it, dropping it (a
//! database on the PostgreSQL or MySQL/MariaDB server, through the server's maintenance
//! database; a SQLite file).

#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
use std::str::FromStr;

use super::CliError;
use crate::url::{DatabaseKind, Redactor, redact};

/// The database a URL names.
pub(crate) struct Database {
    /// The URL, as given (its password is never shown).
    url: String,
    kind: DatabaseKind,
}

impl Database {
    /// The database of `url`; refuses a URL this build cannot use and SQLite's in-memory
    /// database, which no command could keep.
    pub fn of(url: &str) -> Result<Database, CliError> {
        if crate::url::is_sqlite_memory(url) {
            return Err(CliError::user(format!(
                "`{}` is SQLite's in-memory database: there is nothing to create or drop; \
                 write sqlite://path/to/file.db",
                redact(url)
            )));
        }
        crate::url::check(url).map_err(CliError::from_display)?;
        let kind = DatabaseKind::of(url)
            .filter(|k| match k {
                DatabaseKind::Postgres => cfg!(feature = "postgres"),
                DatabaseKind::MySql => cfg!(feature = "mysql"),
                DatabaseKind::Sqlite => cfg!(feature = "sqlite"),
            })
            .ok_or_else(|| {
                CliError::from_display(crate::Error::UnsupportedUrl(
                    redact(url),
                    crate::pool::supported(),
                ))
            })?;
        Ok(Database {
            url: url.to_owned(),
            kind,
        })
    }

    /// What to call it in messages: `database app on postgres://…` or `the file app.db`.
    pub fn describe(&self) -> String {
        match self.name() {
            Ok(name) if self.kind == DatabaseKind::Sqlite => format!("the SQLite file {name}"),
            Ok(name) => format!("database {name} on {}", redact(&self.url)),
            Err(_) => redact(&self.url),
        }
    }

    /// Whether it exists.
    pub async fn exists(&self) -> Result<bool, CliError> {
        match self.kind {
            #[cfg(feature = "postgres")]
            DatabaseKind::Postgres => {
                let sql = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)";
                let mut conn = self.postgres_maintenance().await?;
                let r = sqlx::query_scalar::<_, bool>(sql)
                    .bind(self.name()?)
                    .fetch_one(&mut conn)
                    .await;
                let _ = sqlx::Connection::close(conn).await;
                r.map_err(|e| self.failed("reading whether it exists", &e))
            }
            #[cfg(feature = "mysql")]
            DatabaseKind::MySql => {
                let sql = "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?";
                let mut conn = self.mysql_maintenance().await?;
                let r = sqlx::query_scalar::<_, i64>(sql)
                    .bind(self.name()?)
                    .fetch_one(&mut conn)
                    .await;
                let _ = sqlx::Connection::close(conn).await;
                r.map(|n| n > 0)
                    .map_err(|e| self.failed("reading whether it exists", &e))
            }
            #[cfg(feature = "sqlite")]
            DatabaseKind::Sqlite => Ok(self.sqlite_file()?.exists()),
            #[allow(unreachable_patterns)]
            _ => Err(self.unsupported()),
        }
    }

    /// Creates it; `Ok(false)` when it existed already.
    pub async fn create(&self) -> Result<bool, CliError> {
        if self.exists().await? {
            return Ok(false);
        }
        match self.kind {
            #[cfg(feature = "sqlite")]
            DatabaseKind::Sqlite => {
                use sqlx::ConnectOptions as _;
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
                    .map_err(|e| self.failed("reading the URL", &e))?
                    .create_if_missing(true);
                let conn = opts
                    .connect()
                    .await
                    .map_err(|e| self.failed("creating the file", &e))?;
                let _ = sqlx::Connection::close(conn).await;
            }
            _ => {
                let sql = format!("CREATE DATABASE {}", self.quoted_name()?);
                self.on_server(&sql, "creating it").await?;
            }
        }
        Ok(true)
    }

    /// Drops it; `Ok(false)` when it did not exist.
    pub async fn drop(&self) -> Result<bool, CliError> {
        if !self.exists().await? {
            return Ok(false);
        }
        match self.kind {
            #[cfg(feature = "sqlite")]
            DatabaseKind::Sqlite => {
                let file = self.sqlite_file()?;
                for extra in ["", "-wal", "-shm", "-journal"] {
                    let mut path = file.clone().into_os_string();
                    path.push(extra);
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if extra.is_empty() || e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(CliError::user(format!(
                                "cannot delete {}: {e}",
                                std::path::Path::new(&path).display()
                            )));
                        }
                        Err(_) => {}
                    }
                }
            }
            _ => {
                let sql = format!("DROP DATABASE {}", self.quoted_name()?);
                self.on_server(&sql, "dropping it").await?;
            }
        }
        Ok(true)
    }

    /// The database's name (SQLite: the file's path).
    fn name(&self) -> Result<String, CliError> {
        #[cfg(any(feature = "postgres", feature = "mysql"))]
        let fail = |e: sqlx::Error| self.failed("reading the URL", &e);
        let name = match self.kind {
            #[cfg(feature = "postgres")]
            DatabaseKind::Postgres => sqlx::postgres::PgConnectOptions::from_str(&self.url)
                .map_err(fail)?
                .get_database()
                .map(str::to_owned),
            #[cfg(feature = "mysql")]
            DatabaseKind::MySql => sqlx::mysql::MySqlConnectOptions::from_str(&self.url)
                .map_err(fail)?
                .get_database()
                .map(str::to_owned),
            #[cfg(feature = "sqlite")]
            DatabaseKind::Sqlite => Some(self.sqlite_file()?.display().to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        name.filter(|n| !n.is_empty()).ok_or_else(|| {
            CliError::user(format!(
                "{} names no database: add its name after the server (…/app)",
                redact(&self.url)
            ))
        })
    }

    /// The name as an identifier in the server's SQL.
    fn quoted_name(&self) -> Result<String, CliError> {
        let name = self.name()?;
        Ok(match self.kind {
            DatabaseKind::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        })
    }

    #[cfg(feature = "sqlite")]
    fn sqlite_file(&self) -> Result<std::path::PathBuf, CliError> {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
            .map_err(|e| self.failed("reading the URL", &e))?;
        Ok(opts.get_filename().to_owned())
    }

    /// Runs `sql` on the server's maintenance database.
    async fn on_server(&self, sql: &str, what: &str) -> Result<(), CliError> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let done = |r: Result<(), sqlx::Error>| r.map_err(|e| self.failed(what, &e));
        match self.kind {
            #[cfg(feature = "postgres")]
            DatabaseKind::Postgres => {
                let mut conn = self.postgres_maintenance().await?;
                let r = sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ());
                let _ = sqlx::Connection::close(conn).await;
                done(r)
            }
            #[cfg(feature = "mysql")]
            DatabaseKind::MySql => {
                let mut conn = self.mysql_maintenance().await?;
                let r = sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ());
                let _ = sqlx::Connection::close(conn).await;
                done(r)
            }
            #[allow(unreachable_patterns)]
            _ => {
                let _ = (sql, done);
                Err(self.unsupported())
            }
        }
    }

    /// A connection to PostgreSQL's maintenance database (`postgres`, or `template1` to
    /// work on `postgres` itself), as `createdb` does.
    #[cfg(feature = "postgres")]
    async fn postgres_maintenance(&self) -> Result<sqlx::PgConnection, CliError> {
        use sqlx::ConnectOptions as _;
        let maintenance = if self.name()? == "postgres" {
            "template1"
        } else {
            "postgres"
        };
        sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .map(crate::pool::quiet_statements)
            .map_err(|e| self.failed("reading the URL", &e))?
            .database(maintenance)
            .connect()
            .await
            .map_err(|e| self.failed("connecting to the server", &e))
    }

    /// A connection to the MySQL/MariaDB server, on `information_schema`, which every
    /// server has.
    #[cfg(feature = "mysql")]
    async fn mysql_maintenance(&self) -> Result<sqlx::MySqlConnection, CliError> {
        use sqlx::ConnectOptions as _;
        sqlx::mysql::MySqlConnectOptions::from_str(&self.url)
            .map(crate::pool::quiet_statements)
            .map_err(|e| self.failed("reading the URL", &e))?
            .database("information_schema")
            .connect()
            .await
            .map_err(|e| self.failed("connecting to the server", &e))
    }

    /// The error of `what` failing, scrubbed of the password.
    fn failed(&self, what: &str, e: &sqlx::Error) -> CliError {
        let message = crate::error::driver_message(e);
        CliError::user(format!(
            "{}: {what} failed: {}",
            self.describe_plain(),
            Redactor::for_url(&self.url).scrub_message(&message)
        ))
    }

    /// [`describe`](Self::describe) without reading the URL again (for its own errors).
    fn describe_plain(&self) -> String {
        redact(&self.url)
    }

    fn unsupported(&self) -> CliError {
        CliError::from_display(crate::Error::UnsupportedUrl(
            redact(&self.url),
            crate::pool::supported(),
        ))
    }
}
