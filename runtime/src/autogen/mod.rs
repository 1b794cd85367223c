//! Autogenerate: compare the schema the migrations produce with a declarative
//! `schema.sql`, on scratch databases.
//!
//! [`Autogen::compare`] creates two scratch databases on the server a URL names
//! (`revchain_scratch_<random>`; for SQLite, files in a temporary directory): one gets
//! every revision up to the given heads, the other the schema file. Both are read back from
//! the catalogs into a [`Schema`] and both are dropped again,
//! on success, on error, and (with [`Autogen::handle_signals`]) on Ctrl-C. The
//! [`Comparison`] lists the differences and renders the revision that removes them.
//!
//! This is what `revchain revision --autogenerate` and `revchain check --schema` run;
//! [`crate::testing::roundtrip`] uses the same scratch databases and snapshots.
//!
//! ```no_run
//! # async fn f(migrations: &revchain::Migrations) -> Result<(), revchain::autogen::Error> {
//! use revchain::autogen::Autogen;
//! let heads: Vec<&str> = migrations.heads().map(|r| r.id()).collect();
//! let cmp = Autogen::new("postgres://postgres@localhost", migrations)
//!     .compare(&heads, "schema.sql".as_ref())
//!     .await?;
//! for change in cmp.changes() {
//!     println!("{change}"); // e.g. "added column users.email (text NOT NULL)"
//! }
//! if let Some(m) = cmp.migration() {
//!     println!("-- migrate:upgrade\n{}\n-- migrate:downgrade\n{}", m.upgrade, m.downgrade);
//! }
//! # Ok(()) }
//! ```

pub(crate) mod db;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::future::Future;
use std::path::Path;

use revchain_core::Dialect;
use revchain_schema::{Migration, Schema, changes, generate};

use crate::bookkeeping::TableName;
use crate::embedded::Migrations;
use crate::scratch::Scratches;

pub use crate::scratch::PREFIX as SCRATCH_PREFIX;

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL names a database this build cannot use.
    #[error(
        "`{0}` is not a database URL revchain can use: use postgres://, mysql:// (or \
         mariadb://) or sqlite:// (this build supports: {1})"
    )]
    UnsupportedUrl(String, String),
    /// The URL was refused before connecting (see [`crate::url::check`]).
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
    /// A scratch database could not be created or removed.
    #[error(
        "cannot create a scratch database on {server}: {message} (the --database-url user must \
         be allowed to create and drop databases there)"
    )]
    CreateScratch {
        /// The server (password removed) or directory.
        server: String,
        /// The database's or system's message.
        message: String,
    },
    /// The schema file could not be read.
    #[error("{path}: cannot read the schema file: {message}")]
    ReadSchema {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// A statement of the schema file failed.
    #[error("{path}:{line}: the database rejected this statement of the schema file: {message}")]
    SchemaStatement {
        /// The file.
        path: String,
        /// The line of the statement.
        line: usize,
        /// The database's message.
        message: String,
    },
    /// A revision failed in the scratch database.
    #[error("{path}:{line}: upgrade of revision {id} failed in a scratch database: {message}")]
    Revision {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The line of the failed statement.
        line: usize,
        /// The database's message.
        message: String,
    },
    /// Reading the catalogs failed.
    #[error("reading the schema from the database's catalogs failed: {message}")]
    Introspect {
        /// The driver's message.
        message: String,
    },
    /// The migration engine failed (roundtrip test).
    #[error(transparent)]
    Migrate(#[from] crate::Error),
    /// A head to compare at is not a revision.
    #[error("`{0}` is not a revision of the migrations")]
    UnknownRevision(String),
    /// Ctrl-C or SIGTERM arrived; the scratch databases were dropped.
    #[error("interrupted; the scratch databases were dropped")]
    Interrupted,
}

impl From<crate::scratch::Error> for Error {
    fn from(e: crate::scratch::Error) -> Error {
        use crate::scratch::Error as S;
        match e {
            S::UnsupportedUrl(url, supported) => Error::UnsupportedUrl(url, supported),
            S::Url(e) => Error::Url(e),
            S::Connect { url, message } => Error::Connect { url, message },
            S::CreateScratch { server, message } | S::Busy { server, message } => {
                Error::CreateScratch { server, message }
            }
        }
    }
}

/// Waits for Ctrl-C (or, on Unix, SIGTERM). Never returns if no handler can be installed.
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() {
                        let _ = term.recv().await;
                    }
                }
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs `work`; with `signals`, Ctrl-C or SIGTERM stops it with [`Error::Interrupted`]
/// (the caller then drops its scratch databases as on any other error).
pub(crate) async fn guarded<T>(
    signals: bool,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    if signals {
        tokio::select! {
            r = work => r,
            _ = interrupted() => Err(Error::Interrupted),
        }
    } else {
        work.await
    }
}

/// The tables left out of every snapshot by default: revchain's own.
fn default_exclude() -> Vec<String> {
    vec![
        TableName::DEFAULT_VERSION.to_owned(),
        TableName::DEFAULT_LOG.to_owned(),
    ]
}

/// Compares migrations with a schema file on scratch databases. See the [module
/// documentation](self).
#[derive(Debug, Clone)]
pub struct Autogen<'m> {
    server: String,
    migrations: &'m Migrations,
    exclude: Vec<String>,
    signals: bool,
}

/// The schema the migrations produce and the schema the file declares.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The database's dialect.
    pub dialect: Dialect,
    /// What the migrations produce (the revisions up to the heads compared at).
    pub current: Schema,
    /// What the schema file declares.
    pub declared: Schema,
}

impl Comparison {
    /// The differences, one line each (empty when the migrations produce the schema).
    pub fn changes(&self) -> Vec<String> {
        changes(&self.current, &self.declared, self.dialect)
    }

    /// Whether the migrations produce the declared schema.
    pub fn is_empty(&self) -> bool {
        self.changes().is_empty()
    }

    /// The revision body that takes the current schema to the declared one, and back; `None`
    /// when nothing differs.
    pub fn migration(&self) -> Option<Migration> {
        generate(&self.current, &self.declared, self.dialect)
    }
}

impl<'m> Autogen<'m> {
    /// Comparisons on scratch databases of the server `server_url` names (for SQLite, any
    /// `sqlite:` URL: the scratch files go to a temporary directory).
    pub fn new(server_url: &str, migrations: &'m Migrations) -> Autogen<'m> {
        Autogen {
            server: server_url.to_owned(),
            migrations,
            exclude: default_exclude(),
            signals: false,
        }
    }

    /// Tables to leave out of the comparison (default: `revchain_version`, `revchain_log`).
    pub fn exclude_tables(mut self, names: &[&str]) -> Self {
        self.exclude = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Whether Ctrl-C and SIGTERM stop the comparison (dropping the scratch databases)
    /// instead of the process. This installs signal handlers for the rest of the
    /// process's life, so it is meant for command-line tools (the CLI turns it on).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Applies every revision up to `heads` (ids; their ancestors included; none for an
    /// empty database) in one scratch database and `schema_file` in another, and reads
    /// both back.
    pub async fn compare(&self, heads: &[&str], schema_file: &Path) -> Result<Comparison, Error> {
        let shown = schema_file.display().to_string();
        // Read as revision files are: a regular file of bounded size, never a FIFO.
        let unreadable = |message: String| Error::ReadSchema {
            path: shown.clone(),
            message,
        };
        let bytes =
            revchain_core::history::read_file(schema_file, &shown).map_err(|e| match e {
                revchain_core::LoadError::Io { message, .. } => unreadable(message),
                other => {
                    let text = other.to_string();
                    let prefix = format!("{shown}: ");
                    unreadable(text.strip_prefix(&prefix).unwrap_or(&text).to_owned())
                }
            })?;
        let sql = String::from_utf8(bytes)
            .map_err(|_| unreadable("the file is not valid UTF-8; save it as UTF-8".to_owned()))?;
        let mut roots = Vec::new();
        for h in heads {
            roots.push(
                self.migrations
                    .position(h)
                    .ok_or_else(|| Error::UnknownRevision((*h).to_owned()))?,
            );
        }
        let marked = self.migrations.graph().ancestors_with_dependencies(roots);
        let revisions: Vec<usize> = (0..self.migrations.len()).filter(|&i| marked[i]).collect();
        let m = self.migrations;
        let exclude = &self.exclude;
        let scratches = Scratches::new(&self.server)?;
        let work = async {
            let current = async {
                let pool = scratches.create().await?;
                let r = async {
                    pool.run_revisions(m, &revisions).await?;
                    pool.snapshot(exclude).await
                }
                .await;
                pool.close().await;
                r
            };
            let declared = async {
                let pool = scratches.create().await?;
                let r = async {
                    pool.run_schema_file(&shown, &sql).await?;
                    pool.snapshot(exclude).await
                }
                .await;
                let dialect = pool.dialect();
                pool.close().await;
                r.map(|s| (s, dialect))
            };
            let (current, (declared, dialect)) = tokio::try_join!(current, declared)?;
            Ok(Comparison {
                dialect,
                current,
                declared,
            })
        };
        let result = guarded(self.signals, work).await;
        scratches.cleanup().await;
        result
    }
}

/// Reads the schema of the database at `url` (leaving out `revchain_version` and
/// `revchain_log`): what the comparisons see.
pub async fn snapshot(url: &str) -> Result<Schema, Error> {
    let pool = connect(url).await?;
    let s = pool.snapshot(&default_exclude()).await;
    pool.close().await;
    s
}

/// A pool on the database `url` names.
pub(crate) async fn connect(url: &str) -> Result<db::AnyPool, Error> {
    db::AnyPool::connect(url, false).await.map_err(|e| match e {
        crate::pool::ConnectError::Unsupported(url, supported) => {
            Error::UnsupportedUrl(url, supported)
        }
        crate::pool::ConnectError::Failed(url, message) => Error::Connect { url, message },
        crate::pool::ConnectError::Url(e) => Error::Url(e),
    })
}

impl Autogen<'_> {
    /// Applies every revision up to `heads` (ids; their ancestors included) in one scratch
    /// database and reads its schema back, with the database's dialect: what `revchain
    /// squash` writes a baseline from.
    pub async fn schema_at(&self, heads: &[&str]) -> Result<(Schema, Dialect), Error> {
        let mut roots = Vec::new();
        for h in heads {
            roots.push(
                self.migrations
                    .position(h)
                    .ok_or_else(|| Error::UnknownRevision((*h).to_owned()))?,
            );
        }
        let marked = self.migrations.graph().ancestors_with_dependencies(roots);
        let revisions: Vec<usize> = (0..self.migrations.len()).filter(|&i| marked[i]).collect();
        let scratches = Scratches::new(&self.server)?;
        let work = async {
            let pool = scratches.create().await?;
            let r = async {
                pool.run_revisions(self.migrations, &revisions).await?;
                pool.snapshot(&self.exclude).await
            }
            .await;
            let dialect = pool.dialect();
            pool.close().await;
            r.map(|s| (s, dialect))
        };
        let result = guarded(self.signals, work).await;
        scratches.cleanup().await;
        result
    }
}
