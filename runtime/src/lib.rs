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
#[cfg(all(
    feature = "autogen",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
pub mod autogen;
mod backend;
pub mod build;
#[cfg(all(
    feature = "cli",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
pub mod cli;
mod error;
mod migrator;
#[cfg(all(
    feature = "cli",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
mod offline;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod pool;
mod preflight;
mod report;
mod state;
mod table;
mod tables;
#[cfg(all(
    feature = "autogen",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
pub mod testing;
pub mod url;

pub use backend::Backend;
pub use error::{Aftermath, Error};
pub use migrator::Migrator;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use pool::quiet_statements;
pub use report::{CurrentHead, DatabaseState, Report, Status, StepReport};
pub use revchain_core as core;
pub use revchain_core::{Digest, Direction, Plan, StampPlan, Target, TargetError};
pub use revchain_macros::migrations;
pub use table::{Migrations, Revision};
pub use tables::{InvalidTableName, TableName};

/// Support for the code that `migrations!` generates. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::table::{Migrations, Revision, RevisionParts};
    pub use revchain_core::Digest;
    pub use std::borrow::Cow;
}
