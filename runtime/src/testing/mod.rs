//! Test kit: [`TestDatabase`], a fresh database at the heads of your migrations for each
//! test, and (with the `autogen` feature) [`stairway`] and [`roundtrip`], which prove that
//! every downgrade undoes its upgrade.
//!
//! # `TestDatabase`
//!
//! ```no_run
//! static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
//!
//! #[tokio::test]
//! async fn signs_up_a_user() -> Result<(), Box<dyn std::error::Error>> {
//!     // TEST_DATABASE_URL (or DATABASE_URL): a server where tests may create databases,
//!     // e.g. postgres://postgres@localhost, mysql://root@localhost or sqlite://test.
//!     let db = revchain::testing::TestDatabase::new(&MIGRATIONS).await?;
//!     let pool = db.pg_pool().expect("a PostgreSQL server");
//!     sqlx::query("INSERT INTO users (email) VALUES ('a@example.com')")
//!         .execute(pool)
//!         .await?;
//!     Ok(())
//!     // `db` is dropped here, and with it the database (also on a panic).
//! }
//! # fn main() {}
//! ```
//!
//! The first test database of a migration set on a server migrates a *template* database
//! to the heads; every other one (in this process or any other) is a copy of it:
//!
//! - The template is named after the chain digest of the embedded heads (which covers the
//!   whole history) and the repeatable migrations' checksums: `revchain_tpl_<12 hex>`.
//!   Change a migration and the name changes, so the next test builds a new template.
//!   Old templates are left on the server (drop `revchain_tpl_*` databases, or for
//!   SQLite `revchain_tpl_*.db` files in the temporary directory, whenever you like).
//! - Test processes running in parallel build each template once: the builder holds a
//!   lock (PostgreSQL `pg_advisory_lock`, MariaDB `GET_LOCK`, SQLite an exclusive lock on
//!   `revchain_tpl_<hex>.lock`), all released by the system if the builder dies. A
//!   template is used only once complete: PostgreSQL and SQLite build it under a
//!   temporary name and rename it at the end (a half-built one is dropped by the next
//!   builder); MariaDB marks it complete with a last table, `revchain_template_complete`,
//!   and rebuilds one without it.
//! - PostgreSQL clones with `CREATE DATABASE … TEMPLATE` (retrying while the template is
//!   briefly busy, e.g. under autovacuum). SQLite copies the file. MySQL and MariaDB have
//!   no clone: a test database gets a copy of the template's tables (`SHOW CREATE TABLE`
//!   and `INSERT … SELECT`, so the bookkeeping rows come along), routines, views and
//!   triggers (events and sequences are not copied). Measured on MariaDB 10.11 (the
//!   `testkit` benchmark, 2 cores): this copy against migrating each database from
//!   scratch and against `mariadb-dump --routines --triggers | mariadb`, see
//!   [`TestDatabase`] and the README.
//! - Each test database (`revchain_test_<hex>`; for SQLite a file in a directory of that
//!   name in the temporary directory) is dropped when the `TestDatabase` is dropped,
//!   whatever the runtime (a thread with its own runtime does it), or earlier with
//!   [`TestDatabase::close`].
//! - One `info` line of the `revchain` target states the cost, e.g. `test database
//!   revchain_test_3f2a9c01b7de cloned from template revchain_tpl_8d41c0b2e7f3 in 38 ms
//!   (template built in 1207 ms on first use)`; [`TestDatabase::cost`] has the figures.
//!
//! `TestDatabase` needs the `testing` feature (on by default), not `autogen`.
//!
//! # `stairway` and `roundtrip`
//!
//! On a scratch database (created on the server the URL names, dropped afterwards; for
//! SQLite a file in a temporary directory), for every revision in order: upgrade to it,
//! read the schema, downgrade it, require the schema to equal the one before the upgrade,
//! upgrade again and require the schema to equal the one after the first upgrade
//! (pytest-alembic's `test_up_down_consistency`). The first revision whose downgrade
//! fails, leaves something behind (or removes too much) fails the test, naming the
//! revision and its file, with the differences. Irreversible revisions (no
//! `-- migrate:downgrade` section) are applied, stepped over and reported as such.
//! [`stairway`] and [`roundtrip`] are the same test under two names.
//!
#![cfg_attr(feature = "autogen", doc = "```no_run")]
#![cfg_attr(not(feature = "autogen"), doc = "```ignore")]
//! static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
//!
//! #[tokio::test]
//! async fn every_downgrade_undoes_its_upgrade() {
//!     // A server where the test may create and drop a database.
//!     let url = std::env::var("TEST_DATABASE_URL")
//!         .unwrap_or_else(|_| "postgres://postgres@localhost".into());
//!     let report = revchain::testing::stairway(&url, &MIGRATIONS).await.unwrap();
//!     assert!(report.irreversible().is_empty());
//! }
//! # fn main() {}
//! ```
//!
//! The comparison is the one `revchain check --schema` makes (see `revchain_schema`):
//! tables, columns, keys, indexes, foreign keys, checks and PostgreSQL enum types; not
//! data, views or triggers.

#[cfg(feature = "autogen")]
mod roundtrip;
mod template;

#[cfg(feature = "autogen")]
pub use roundtrip::{Checked, Report, Roundtrip, RoundtripError, roundtrip, stairway};
pub use template::{Cost, Error, TEMPLATE_PREFIX, TEST_PREFIX, TestDatabase};
