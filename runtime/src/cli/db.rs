//! Connecting the CLI to the database a URL names, and running the runtime on it.

use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;
use crate::migrator::Migrator;
use crate::report::{CurrentHead, Report, Status};
use crate::url::{DatabaseKind, Redactor, redact};

use super::CliError;

/// A pool on one of the supported databases.
pub(crate) enum Db {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// Runs the same expression on whichever pool `db` holds.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $e:expr) => {
        match $db {
            #[cfg(feature = "postgres")]
            Db::Postgres($pool) => $e,
            #[cfg(feature = "mysql")]
            Db::MySql($pool) => $e,
            #[cfg(feature = "sqlite")]
            Db::Sqlite($pool) => $e,
        }
    };
}

/// The databases this build was compiled for.
fn supported() -> String {
    let mut kinds = Vec::new();
    if cfg!(feature = "postgres") {
        kinds.push("PostgreSQL");
    }
    if cfg!(feature = "mysql") {
        kinds.push("MySQL/MariaDB");
    }
    if cfg!(feature = "sqlite") {
        kinds.push("SQLite");
    }
    kinds.join(", ")
}

fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(15))
}

/// Connects to `url`; `create` allows creating a missing SQLite file.
pub(crate) async fn connect(url: &str, create: bool) -> Result<Db, CliError> {
    // Only SQLite creates a database by connecting.
    let _ = create;
    let redactor = Redactor::for_url(url);
    let fail = |e: sqlx::Error| {
        CliError::user(format!(
            "cannot connect to {}: {}",
            redact(url),
            redactor.scrub(&crate::error::driver_message(&e))
        ))
    };
    let unsupported = || CliError::from_display(Error::UnsupportedUrl(redact(url), supported()));
    match DatabaseKind::of(url) {
        #[cfg(feature = "postgres")]
        Some(DatabaseKind::Postgres) => {
            let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(fail)?;
            Ok(Db::Postgres(
                pool_options().connect_with(opts).await.map_err(fail)?,
            ))
        }
        #[cfg(feature = "mysql")]
        Some(DatabaseKind::MySql) => {
            let opts = sqlx::mysql::MySqlConnectOptions::from_str(url).map_err(fail)?;
            Ok(Db::MySql(
                pool_options().connect_with(opts).await.map_err(fail)?,
            ))
        }
        #[cfg(feature = "sqlite")]
        Some(DatabaseKind::Sqlite) => {
            let mut opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).map_err(fail)?;
            if create {
                opts = opts.create_if_missing(true);
            }
            Ok(Db::Sqlite(
                pool_options().connect_with(opts).await.map_err(fail)?,
            ))
        }
        _ => Err(unsupported()),
    }
}

impl Db {
    pub async fn upgrade(&self, m: &Migrator<'_>, target: &str) -> Result<Report, Error> {
        on_pool!(self, p => m.upgrade(p, target).await)
    }

    pub async fn downgrade(&self, m: &Migrator<'_>, target: &str) -> Result<Report, Error> {
        on_pool!(self, p => m.downgrade(p, target).await)
    }

    pub async fn stamp(
        &self,
        m: &Migrator<'_>,
        targets: &[&str],
        purge: bool,
    ) -> Result<Report, Error> {
        on_pool!(self, p => m.stamp(p, targets, purge).await)
    }

    pub async fn current(&self, m: &Migrator<'_>) -> Result<Vec<CurrentHead>, Error> {
        on_pool!(self, p => m.current(p).await)
    }

    pub async fn status(&self, m: &Migrator<'_>) -> Result<Status, Error> {
        on_pool!(self, p => m.status(p).await)
    }

    pub async fn close(self) {
        on_pool!(self, p => p.close().await)
    }
}
