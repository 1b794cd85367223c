//! Rust code revisions (docs/design.md §1.7, §4.11): a `.rs` file in the migrations
//! directory whose `pub async fn upgrade(conn: &mut sqlx::PgConnection) -> Result<(), E>`
//! (and optional `downgrade`) runs inside the revision's transaction; a portable one takes
//! [`revchain::Connection`](crate::Connection) and runs on any database.
//!
//! `migrations!` includes the file as a module and stores its functions, type-erased, in
//! the table ([`CodeRevision`]); the connection type they take says which database the
//! revision is written for ([`CodeDatabase`]). A table loaded from disk
//! ([`Migrations::from_history`](crate::Migrations::from_history), the `revchain` tool)
//! knows such a revision but not its functions: running it is refused before anything
//! changes ([`Error::CodeNotCompiled`](crate::Error::CodeNotCompiled)).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// The error a code revision's function returns, boxed: any `E: Into<BoxError>`
/// (`sqlx::Error`, `Box<dyn Error + Send + Sync>`, `anyhow::Error`, …).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future of a code revision's function, boxed.
#[doc(hidden)]
pub type CodeFuture<'c> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'c>>;

/// The database a Rust code revision is written for: the connection type its functions
/// take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeDatabase {
    /// `&mut sqlx::PgConnection`.
    Postgres,
    /// `&mut sqlx::MySqlConnection` (MySQL and MariaDB).
    MySql,
    /// `&mut sqlx::SqliteConnection`.
    Sqlite,
    /// [`revchain::Connection`](crate::Connection): a portable revision, which runs on
    /// any database.
    Any,
}

impl fmt::Display for CodeDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeDatabase::Postgres => "PostgreSQL (sqlx::PgConnection)",
            CodeDatabase::MySql => "MySQL/MariaDB (sqlx::MySqlConnection)",
            CodeDatabase::Sqlite => "SQLite (sqlx::SqliteConnection)",
            CodeDatabase::Any => "any database (revchain::Connection)",
        })
    }
}

impl CodeDatabase {
    /// The database of a dialect.
    pub(crate) fn of(dialect: revchain_core::Dialect) -> Option<CodeDatabase> {
        match dialect {
            revchain_core::Dialect::Postgres => Some(CodeDatabase::Postgres),
            revchain_core::Dialect::MySql => Some(CodeDatabase::MySql),
            revchain_core::Dialect::Sqlite => Some(CodeDatabase::Sqlite),
            _ => None,
        }
    }

    /// Whether a function written for this database runs on `ran_on` (the database's
    /// dialect as [`of`](Self::of) names it): a portable one runs on any.
    pub(crate) fn runs_on(self, ran_on: Option<CodeDatabase>) -> bool {
        self == CodeDatabase::Any || ran_on == Some(self)
    }
}

/// One function of a code revision, type-erased, by the connection it takes. Written by
/// `migrations!` through [`code_future`].
#[doc(hidden)]
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum CodeFn {
    /// Takes a PostgreSQL connection.
    #[cfg(feature = "postgres")]
    Postgres(for<'c> fn(&'c mut sqlx::PgConnection) -> CodeFuture<'c>),
    /// Takes a MySQL/MariaDB connection.
    #[cfg(feature = "mysql")]
    MySql(for<'c> fn(&'c mut sqlx::MySqlConnection) -> CodeFuture<'c>),
    /// Takes a SQLite connection.
    #[cfg(feature = "sqlite")]
    Sqlite(for<'c> fn(&'c mut sqlx::SqliteConnection) -> CodeFuture<'c>),
    /// Takes the portable [`Connection`](crate::Connection): runs on any database.
    #[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
    Portable(for<'c> fn(crate::Connection<'c>) -> CodeFuture<'c>),
}

impl CodeFn {
    /// The database the function is written for.
    pub fn database(&self) -> CodeDatabase {
        match *self {
            #[cfg(feature = "postgres")]
            CodeFn::Postgres(_) => CodeDatabase::Postgres,
            #[cfg(feature = "mysql")]
            CodeFn::MySql(_) => CodeDatabase::MySql,
            #[cfg(feature = "sqlite")]
            CodeFn::Sqlite(_) => CodeDatabase::Sqlite,
            #[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
            CodeFn::Portable(_) => CodeDatabase::Any,
        }
    }
}

impl fmt::Debug for CodeFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeFn({:?})", self.database())
    }
}

/// What the table holds for a Rust code revision.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct CodeRevision {
    /// `upgrade`, or `None` in a table loaded from disk (not compiled in).
    pub upgrade: Option<CodeFn>,
    /// `downgrade`, when the file has one and the table was compiled.
    pub downgrade: Option<CodeFn>,
    /// The file line of `pub async fn upgrade`.
    pub upgrade_line: u32,
    /// The file line of `pub async fn downgrade` (0 without one).
    pub downgrade_line: u32,
}

/// Boxes the future of a code revision's function, its error made a [`BoxError`]: what the
/// closures `migrations!` writes call, so that rustc type-checks the user's function
/// (`Send`, the error type) at the call.
#[doc(hidden)]
pub fn code_future<'c, E, F>(future: F) -> CodeFuture<'c>
where
    F: Future<Output = Result<(), E>> + Send + 'c,
    E: Into<BoxError>,
{
    Box::pin(async move { future.await.map_err(Into::into) })
}
