//! Migrating a fleet: many databases, or many schemas of one PostgreSQL database, brought to
//! the same goal with bounded concurrency (`revchain fleet upgrade`, `my-app migrate fleet …`).
//!
//! [`FleetReport`] is what a fleet command found or did, per target: the data behind the
//! summary table ([`summary_text`]), `--format json` and the HTML page.
//!
//! Targets ([`Target`]) come from a file of URLs ([`read_targets_file`]), from a catalog
//! query (`targets_from_query`) or from the schemas of one PostgreSQL database matching a
//! `LIKE` pattern (`schema_targets`); a [`Shard`] takes a stable share of them
//! ([`Target::in_shard`]). `Fleet` (with the `cli` feature) runs an `Action` on them:
//!
//! ```no_run
//! # #[cfg(feature = "cli")]
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use revchain::fleet::{Action, Fleet, Shard, read_targets_file, summary_text};
//!
//! static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
//!
//! let shard: Shard = "0/4".parse()?;
//! let targets: Vec<_> = read_targets_file("tenants.txt".as_ref())?
//!     .into_iter()
//!     .filter(|t| t.in_shard(shard))
//!     .collect();
//! let report = Fleet::new(revchain::Migrator::new(&MIGRATIONS))
//!     .jobs(16)
//!     .canary(5)
//!     .run(&Action::Upgrade("heads".into()), &targets, &|_| {})
//!     .await;
//! print!("{}", summary_text(&report));
//! # Ok(()) }
//! ```
//!
//! A schema target keeps its bookkeeping tables inside its schema (`tenant_7.revchain_version`,
//! so each schema has its own migration lock) and its connections run with `search_path`
//! set to the schema, so that the revisions' unqualified names land in it.

mod report;
#[cfg(feature = "cli")]
mod runner;
mod summary;
mod target;

pub use report::{FORMAT_VERSION, FleetReport, Shard, TargetError, TargetReport, TargetState};
#[cfg(feature = "cli")]
pub use runner::{Action, DEFAULT_JOBS, Fleet, schema_targets, targets_from_query};
#[cfg(feature = "cli")]
pub(crate) use summary::counts_line;
pub use summary::summary_text;
#[cfg(feature = "cli")]
pub(crate) use target::stable_hash;
pub use target::{InvalidShard, Target, TargetsError, parse_targets, read_targets_file};
