//! Scratch databases: created with a recognisable random name (`revchain_scratch_<hex>`) on
//! the server a URL names, or as files in a fresh temporary directory for SQLite, and
//! dropped afterwards on every path: success, error, Ctrl-C (the caller awaits
//! [`Scratches::cleanup`]), and a panic (the `Drop` fallback).

// Server databases (PostgreSQL, MySQL) need these; a SQLite-only build does not.
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql")),
    allow(unused_imports, unused_variables, dead_code)
)]
// A build with the test kit but without autogenerate uses only part of it.
#![cfg_attr(
    all(not(feature = "autogen"), any(feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{AssertSqlSafe, ConnectOptions};

use crate::error::driver_message;
use crate::pool::AnyPool;
use crate::url::{DatabaseKind, Redactor, redact};

/// Why a scratch database could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The URL names a database this build cannot use.
    #[error(
        "`{0}` is not a database URL revchain can use: use postgres://, mysql:// (or \
         mariadb://) or sqlite:// (this build supports: {1})"
    )]
    UnsupportedUrl(String, String),
    /// The URL was refused before connecting.
    #[error(transparent)]
    Url(#[from] crate::url::UrlError),
    /// Connecting failed.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The driver's message.
        message: String,
    },
    /// A scratch database could not be created.
    #[error("cannot create a scratch database on {server}: {message}")]
    CreateScratch {
        /// The server (password removed) or directory.
        server: String,
        /// The database's or system's message.
        message: String,
    },
    /// PostgreSQL: the template database is in use by another session (retry).
    #[error("cannot create a scratch database on {server}: {message}")]
    Busy {
        /// The server (password removed).
        server: String,
        /// The database's message.
        message: String,
    },
}

/// The prefix of every scratch database (and SQLite scratch directory).
pub const PREFIX: &str = "revchain_scratch_";

/// A fresh random suffix: 12 hex digits.
pub(crate) fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{nanos}:{}:{}:{:?}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::thread::current().id()
    );
    revchain_core::Digest::of(seed.as_bytes()).to_hex()[..12].to_owned()
}

/// One thing to remove afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Created {
    /// A database on the server.
    Database(String),
    /// A SQLite scratch directory.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Dir(PathBuf),
}

/// Why an administrative statement failed.
enum AdminError {
    /// The server could not be reached.
    Connect(String),
    /// The statement failed.
    Statement(String),
    /// PostgreSQL: the statement needs a database nobody else is connected to (55006).
    Busy(String),
}

impl AdminError {
    fn message(&self) -> &str {
        match self {
            AdminError::Connect(m) | AdminError::Statement(m) | AdminError::Busy(m) => m,
        }
    }
}

/// The scratch databases of one operation on one server.
#[derive(Debug)]
pub(crate) struct Scratches {
    url: String,
    kind: DatabaseKind,
    /// What to remove, and whether it is known to exist (registered before creating it, so
    /// that an interruption during `CREATE DATABASE` still drops it).
    created: Mutex<Vec<(Created, bool)>>,
}

impl Scratches {
    /// Scratch databases on the server `url` names (its database part is only used to
    /// connect; SQLite URLs only say "SQLite": the files go to a temporary directory).
    pub fn new(url: &str) -> Result<Scratches, Error> {
        let kind = DatabaseKind::of(url)
            .filter(|k| match k {
                DatabaseKind::Postgres => cfg!(feature = "postgres"),
                DatabaseKind::MySql => cfg!(feature = "mysql"),
                DatabaseKind::Sqlite => cfg!(feature = "sqlite"),
            })
            .ok_or_else(|| Error::UnsupportedUrl(redact(url), crate::pool::supported()))?;
        // A SQLite URL only says "SQLite": its path is not used.
        if kind != DatabaseKind::Sqlite {
            crate::url::check(url)?;
        }
        Ok(Scratches {
            url: url.to_owned(),
            kind,
            created: Mutex::new(Vec::new()),
        })
    }

    fn register(&self, c: Created) {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((c, false));
    }

    fn confirm(&self, c: &Created) {
        for (x, known) in self
            .created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            if x == c {
                *known = true;
            }
        }
    }

    /// Creates database `name` on the server with `sql` (a `CREATE DATABASE name …`); it is
    /// dropped with the others unless [`forget`](Self::forget) takes it out.
    pub async fn create_database_with(&self, name: &str, sql: &str) -> Result<(), Error> {
        let created = Created::Database(name.to_owned());
        self.register(created.clone());
        match self.admin(sql).await {
            Ok(()) => {
                self.confirm(&created);
                tracing::debug!(target: "revchain", "created scratch database {name}");
                Ok(())
            }
            Err(AdminError::Connect(message)) => Err(Error::Connect {
                url: redact(&self.url),
                message,
            }),
            Err(AdminError::Statement(message)) => Err(Error::CreateScratch {
                server: redact(&self.url),
                message,
            }),
            Err(AdminError::Busy(message)) => Err(Error::Busy {
                server: redact(&self.url),
                message,
            }),
        }
    }

    /// Creates database `name` on the server.
    async fn create_database(&self, name: &str) -> Result<(), Error> {
        self.create_database_with(name, &format!("CREATE DATABASE {name}"))
            .await
    }

    /// Takes database `name` out of what is dropped at the end (it is kept).
    pub fn forget(&self, name: &str) {
        let c = Created::Database(name.to_owned());
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(x, _)| x != &c);
    }

    /// Drops database `name` now (whether or not it was created here).
    pub async fn drop_database(&self, name: &str) -> Result<(), String> {
        self.forget(name);
        self.drop_one(&Created::Database(name.to_owned())).await
    }

    /// The kind of database.
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// The server URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn connect_error(&self, e: &sqlx::Error) -> Error {
        Error::Connect {
            url: redact(&self.url),
            message: Redactor::for_url(&self.url).scrub_message(&driver_message(e)),
        }
    }

    /// A small pool on a scratch database.
    async fn pool<DB: sqlx::Database>(
        &self,
        options: <DB::Connection as sqlx::Connection>::Options,
    ) -> Result<sqlx::Pool<DB>, Error> {
        sqlx::pool::PoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(crate::pool::quiet_statements(options))
            .await
            .map_err(|e| self.connect_error(&e))
    }

    /// A pool on database `name` of the server; `None` names the URL's own database
    /// (the administrative one, `postgres`/`mysql` when the URL names none). `max` is the
    /// number of connections (1 keeps a session, e.g. for a lock).
    pub async fn open(&self, name: Option<&str>, max: u32) -> Result<AnyPool, Error> {
        fn with<DB: sqlx::Database>(max: u32) -> sqlx::pool::PoolOptions<DB> {
            sqlx::pool::PoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(60))
        }
        let fail = |e: sqlx::Error| self.connect_error(&e);
        match self.kind {
            #[cfg(feature = "postgres")]
            DatabaseKind::Postgres => {
                let mut opts =
                    sqlx::postgres::PgConnectOptions::from_str(&self.url).map_err(fail)?;
                match name {
                    Some(n) => opts = opts.database(n),
                    None if opts.get_database().is_none() => opts = opts.database("postgres"),
                    None => {}
                }
                let opts = crate::pool::quiet_statements(opts);
                Ok(AnyPool::Postgres(
                    with(max).connect_with(opts).await.map_err(fail)?,
                ))
            }
            #[cfg(feature = "mysql")]
            DatabaseKind::MySql => {
                let mut opts =
                    sqlx::mysql::MySqlConnectOptions::from_str(&self.url).map_err(fail)?;
                match name {
                    Some(n) => opts = opts.database(n),
                    None if opts.get_database().is_none() => opts = opts.database("mysql"),
                    None => {}
                }
                let opts = crate::pool::quiet_statements(opts);
                Ok(AnyPool::MySql(
                    with(max).connect_with(opts).await.map_err(fail)?,
                ))
            }
            #[allow(unreachable_patterns)]
            _ => Err(Error::UnsupportedUrl(
                redact(&self.url),
                crate::pool::supported(),
            )),
        }
    }

    /// A pool on the SQLite file `file` (created if missing).
    #[cfg(feature = "sqlite")]
    pub async fn open_file(&self, file: &std::path::Path) -> Result<AnyPool, Error> {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true);
        Ok(AnyPool::Sqlite(self.pool(opts).await?))
    }

    /// Creates a scratch directory named `name` in the temporary directory (removed with
    /// the scratch databases).
    pub fn create_dir(&self, name: &str) -> Result<PathBuf, Error> {
        let dir = std::env::temp_dir().join(name);
        self.register(Created::Dir(dir.clone()));
        std::fs::create_dir(&dir).map_err(|e| Error::CreateScratch {
            server: dir.display().to_string(),
            message: e.to_string(),
        })?;
        self.confirm(&Created::Dir(dir.clone()));
        Ok(dir)
    }

    /// Creates a scratch database and returns a pool on it.
    pub async fn create(&self) -> Result<AnyPool, Error> {
        let name = format!("{PREFIX}{}", random_suffix());
        match self.kind {
            #[cfg(feature = "sqlite")]
            DatabaseKind::Sqlite => {
                let file = self.create_dir(&name)?.join("scratch.db");
                tracing::debug!(
                    target: "revchain",
                    "created scratch database {}",
                    file.display()
                );
                self.open_file(&file).await
            }
            _ => {
                self.create_database(&name).await?;
                self.open(Some(&name), 2).await
            }
        }
    }

    /// Runs one statement on the server's administrative connection (the URL as given).
    async fn admin(&self, sql: &str) -> Result<(), AdminError> {
        let scrub =
            |e: sqlx::Error| Redactor::for_url(&self.url).scrub_message(&driver_message(&e));
        let fail = |e: sqlx::Error| AdminError::Connect(scrub(e));
        let failed = |e: sqlx::Error| match crate::error::driver_code(&e).as_deref() {
            Some("55006") => AdminError::Busy(scrub(e)),
            _ => AdminError::Statement(scrub(e)),
        };
        match self.kind {
            #[cfg(feature = "postgres")]
            DatabaseKind::Postgres => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(&self.url)
                    .map(crate::pool::quiet_statements)
                    .map_err(fail)?;
                let mut conn = match opts.connect().await {
                    Ok(c) => c,
                    // The URL's database may not exist yet: the server is what matters.
                    Err(e) if crate::error::driver_code(&e).as_deref() == Some("3D000") => {
                        opts.database("postgres").connect().await.map_err(fail)?
                    }
                    Err(e) => return Err(fail(e)),
                };
                let r = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await;
                let _ = sqlx::Connection::close(conn).await;
                r.map(|_| ()).map_err(failed)
            }
            #[cfg(feature = "mysql")]
            DatabaseKind::MySql => {
                let opts = sqlx::mysql::MySqlConnectOptions::from_str(&self.url)
                    .map(crate::pool::quiet_statements)
                    .map_err(fail)?;
                let mut conn = match opts.connect().await {
                    Ok(c) => c,
                    Err(e) if crate::error::driver_code(&e).as_deref() == Some("42000") => opts
                        .clone()
                        .database("mysql")
                        .connect()
                        .await
                        .map_err(fail)?,
                    Err(e) => return Err(fail(e)),
                };
                let r = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await;
                let _ = sqlx::Connection::close(conn).await;
                r.map(|_| ()).map_err(failed)
            }
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        }
    }

    /// Drops one scratch database (or removes its directory).
    async fn drop_one(&self, c: &Created) -> Result<(), String> {
        match c {
            Created::Dir(dir) => match std::fs::remove_dir_all(dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.to_string()),
            },
            Created::Database(name) => {
                let sql = match self.kind {
                    DatabaseKind::Postgres => {
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    }
                    _ => format!("DROP DATABASE IF EXISTS {name}"),
                };
                match self.admin(&sql).await {
                    Err(AdminError::Statement(_)) if self.kind == DatabaseKind::Postgres => {
                        // PostgreSQL before 13 has no FORCE.
                        self.admin(&format!("DROP DATABASE IF EXISTS {name}")).await
                    }
                    other => other,
                }
                .map_err(|e| e.message().to_owned())
            }
        }
    }

    /// Drops every scratch database created so far. A database that cannot be dropped is
    /// logged with its name (drop it by hand), never silently left.
    pub async fn cleanup(&self) {
        let all: Vec<(Created, bool)> =
            std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        let drops = all
            .iter()
            .map(|(c, known)| async move { (c, *known, self.drop_one(c).await) });
        for (c, known, result) in futures_util::future::join_all(drops).await {
            let shown = match c {
                Created::Database(n) => n.clone(),
                Created::Dir(d) => d.display().to_string(),
            };
            match result {
                Ok(()) => tracing::debug!(target: "revchain", "dropped scratch database {shown}"),
                // Its creation failed too (e.g. the server is down): most likely it does not exist.
                Err(e) if !known => tracing::debug!(
                    target: "revchain",
                    "could not drop the scratch database {shown}, whose creation failed: {e}"
                ),
                Err(e) => tracing::warn!(
                    target: "revchain",
                    "could not drop the scratch database {shown}; drop it by hand: {e}"
                ),
            }
        }
    }
}

impl Drop for Scratches {
    /// The fallback for a panic or a dropped future: drops what [`cleanup`](Self::cleanup)
    /// did not, on a thread with its own runtime.
    fn drop(&mut self) {
        let left = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if left.is_empty() {
            return;
        }
        let rest = Scratches {
            url: self.url.clone(),
            kind: self.kind,
            created: Mutex::new(left),
        };
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(30), rest.cleanup()).await;
                });
            }
        })
        .join();
    }
}
