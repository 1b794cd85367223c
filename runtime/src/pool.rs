//! A pool on whichever database a URL names, for the parts that start from a URL (the CLI,
//! autogenerate, the roundtrip test) rather than from a pool the application holds: only
//! with the `cli` or `autogen` feature. [`quiet_statements`] is for every build.

// The test kit alone uses only `AnyPool`.
#![cfg_attr(not(any(feature = "cli", feature = "autogen")), allow(dead_code))]

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
use std::str::FromStr;

#[cfg(feature = "autogen")]
use revchain_core::Dialect;

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
use crate::url::{DatabaseKind, Redactor, UrlError, redact};

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
/// A pool on one of the databases this build supports.
#[derive(Debug, Clone)]
pub(crate) enum AnyPool {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
/// Runs the same expression on whichever pool `$db` holds (the expression is compiled once
/// per database type).
macro_rules! on_any {
    ($db:expr, $pool:ident => $e:expr) => {
        match $db {
            #[cfg(feature = "postgres")]
            $crate::pool::AnyPool::Postgres($pool) => $e,
            #[cfg(feature = "mysql")]
            $crate::pool::AnyPool::MySql($pool) => $e,
            #[cfg(feature = "sqlite")]
            $crate::pool::AnyPool::Sqlite($pool) => $e,
        }
    };
}
#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
pub(crate) use on_any;

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
/// Why a URL gave no pool.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The scheme names a database this build does not support; holds the redacted URL and
    /// the supported databases.
    Unsupported(String, String),
    /// Connecting failed; holds the redacted URL and the driver's message, scrubbed of the
    /// password.
    Failed(String, String),
    /// The URL was refused before any driver read it.
    Url(UrlError),
}

pub use crate::backend::quiet_statements;

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
/// The databases this build was compiled for.
pub(crate) fn supported() -> String {
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

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
fn options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(15))
}

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
/// Opens the pool after one connection made directly. A pool retries a refused or failed
/// connection until its acquire timeout, then says only "pool timed out while waiting for
/// an open connection": a dead port cost 15 s and hid the reason. The direct connection
/// fails at once with the driver's own message.
pub(crate) async fn open<DB: sqlx::Database>(
    opts: <DB::Connection as sqlx::Connection>::Options,
) -> Result<sqlx::Pool<DB>, sqlx::Error> {
    use sqlx::ConnectOptions as _;
    let opts = quiet_statements(opts);
    let first = opts.connect().await?;
    let _ = sqlx::Connection::close(first).await;
    options().connect_with(opts).await
}

#[cfg(any(feature = "cli", feature = "autogen", feature = "testing"))]
impl AnyPool {
    /// Connects to `url` (two connections at most); `create` lets SQLite create a missing
    /// file.
    pub async fn connect(url: &str, create: bool) -> Result<AnyPool, ConnectError> {
        // Only SQLite creates a database by connecting.
        let _ = create;
        crate::url::check(url).map_err(ConnectError::Url)?;
        let redactor = Redactor::for_url(url);
        let fail = |e: sqlx::Error| {
            ConnectError::Failed(
                redact(url),
                redactor.scrub_message(&crate::error::driver_message(&e)),
            )
        };
        match DatabaseKind::of(url) {
            #[cfg(feature = "postgres")]
            Some(DatabaseKind::Postgres) => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(fail)?;
                Ok(AnyPool::Postgres(open(opts).await.map_err(fail)?))
            }
            #[cfg(feature = "mysql")]
            Some(DatabaseKind::MySql) => {
                let opts = sqlx::mysql::MySqlConnectOptions::from_str(url).map_err(fail)?;
                Ok(AnyPool::MySql(open(opts).await.map_err(fail)?))
            }
            #[cfg(feature = "sqlite")]
            Some(DatabaseKind::Sqlite) => {
                let mut opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).map_err(fail)?;
                if create {
                    opts = opts.create_if_missing(true);
                }
                let file = opts.get_filename().to_owned();
                match open(opts).await {
                    Ok(pool) => Ok(AnyPool::Sqlite(pool)),
                    // sqlx says only "unable to open database file".
                    Err(_) if !create && !file.as_os_str().is_empty() && !file.exists() => {
                        Err(ConnectError::Failed(
                            redact(url),
                            redactor.scrub(&format!(
                                "the file {} does not exist (`upgrade` and `stamp` create it)",
                                file.display()
                            )),
                        ))
                    }
                    Err(e) => Err(fail(e)),
                }
            }
            _ => Err(ConnectError::Unsupported(redact(url), supported())),
        }
    }

    /// The SQL dialect of the database.
    #[cfg(feature = "autogen")]
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

    /// Closes the pool (waits for its connections to close).
    pub async fn close(&self) {
        on_any!(self, pool => pool.close().await)
    }
}
