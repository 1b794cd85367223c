//! Migrating a fleet: many databases, or many schemas of one PostgreSQL database, brought to
//! the same goal with bounded concurrency (`revchain fleet upgrade`, `my-app migrate fleet …`).
//!
//! [`FleetReport`] is what a fleet command found or did, per target: the data behind the
//! summary table, `--format json` and the HTML page.

mod html;
mod report;

pub use html::render;
pub use report::{FleetReport, Shard, TargetError, TargetReport, TargetState};
