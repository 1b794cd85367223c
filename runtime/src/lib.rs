//! # revchain
//!
//! Alembic-grade database migrations for Rust, embedded into the binary at compile time.
//!
//! Migrations are SQL files that form a revision graph (each names its parent in `Revises`).
//! [`migrations!`] validates the whole graph **at build time** and embeds it as a static
//! [`Migrations`] table; the runtime applies it on PostgreSQL, MySQL/MariaDB and SQLite
//! through `sqlx`, and [`cli`] turns any binary into a complete migration tool.
//!
//! ```no_run
//! static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let pool = sqlx::PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
//!     MIGRATIONS.run(&pool).await?; // upgrade to head; one round trip when up to date
//!     Ok(())
//! }
//! ```
//!
//! sqlx logs any statement slower than a second at `warn`, with its whole text: a slow
//! revision's SQL (`CREATE ROLE … PASSWORD '…'` included) would reach the application's
//! logs. revchain's own pools log statements only at `trace`; give the pool you hand to
//! revchain the same setting with [`quiet_statements`].

#![forbid(unsafe_code)]
// Without a database backend (e.g. as a build-dependency for `build::track`), the engine
// is compiled but unused.
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(dead_code)
)]
#![warn(missing_docs)]

// The parts that talk to a database by URL need at least one backend compiled in.
mod adopt;
#[cfg(all(
    feature = "autogen",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
pub mod autogen;
mod backend;
mod bookkeeping;
pub mod build;
#[cfg(all(
    feature = "cli",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
pub mod cli;
mod code;
mod connection;
mod embedded;
mod error;
pub mod fleet;
mod migrator;
#[cfg(all(
    feature = "cli",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
mod offline;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod pool;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod portable;
mod preflight;
mod repeatable;
mod report;
#[cfg(all(
    any(feature = "autogen", feature = "testing"),
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
mod scratch;
mod state;
#[cfg(all(
    feature = "testing",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
pub mod testing;
pub mod url;

pub use backend::Backend;
pub use backend::lease::{InvalidLockMode, LockMode};
pub use code::{BoxError, CodeDatabase};
pub use connection::PoolOrConnection;
pub use error::{Aftermath, DriftKind, Error, FailedStep};
pub use migrator::{Compatible, Migrator};
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use pool::quiet_statements;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use portable::Connection;
pub use report::{
    CurrentHead, DatabaseState, Report, RevisionState, RevisionStatus, RevisionsStatus, Status,
    StepReport,
};
// The parts of `revchain-core` that this crate's API speaks (no glob, no `core` module:
// `pub use revchain_core as core` shadowed the built-in `core` for `use revchain::*`).
pub use bookkeeping::{InvalidTableName, TableName};
pub use embedded::{Migrations, Revision};
pub use revchain_core::import::Tool;
/// The DDL linter (`revchain lint`): rules, findings and `-- revchain:allow` suppression
/// (docs/lint.md).
pub use revchain_core::lint;
pub use revchain_core::{
    Dialect, Digest, Direction, Graph, History, Mode, Phase, Plan, StampPlan, Target, TargetError,
};
pub use revchain_macros::migrations;

/// The schema model that [`autogen`] reads from a database and compares
/// ([`autogen::Comparison`]), and the revision it generates from a difference.
#[cfg(feature = "autogen")]
pub mod schema {
    pub use revchain_schema::{
        Action, Check, Column, EnumType, ForeignKey, Index, Migration, PrimaryKey, Schema, Script,
        Table, Unique,
    };
}

/// Support for the code that `migrations!` generates. Not public API: the macro crate is
/// pinned to this crate's exact version, and each change of this module's contents gets a
/// new `vN` (the old one kept while a published macro may still name it).
#[doc(hidden)]
pub mod __private {
    /// What `revchain-macros` 0.1 generates code against.
    pub mod v1 {
        pub use crate::code::{CodeFn, CodeFuture, CodeRevision, code_future};
        pub use crate::embedded::{Migrations, Revision, RevisionParts};
        pub use revchain_core::Digest;
        pub use std::borrow::Cow;
    }

    /// What `revchain-macros` 0.1 generates code against since the compact table
    /// ([`EmbeddedTable`](crate::embedded::EmbeddedTable)): `v1` and the table.
    pub mod v2 {
        pub use super::v1::*;
        pub use crate::embedded::EmbeddedTable;
    }
}
