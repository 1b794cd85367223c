//! What the runtime's operations return.

use std::time::Duration;

use revchain_core::Direction;

/// One revision that was applied or reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The revision id.
    pub id: String,
    /// Its message.
    pub message: String,
    /// How long its SQL took.
    pub duration: Duration,
}

/// The outcome of `run`, `upgrade`, `downgrade` or `stamp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Upgrade or downgrade; `None` for a stamp or when nothing ran.
    pub direction: Option<Direction>,
    /// The revisions that ran, in order.
    pub steps: Vec<StepReport>,
    /// For a stamp: the revisions that became applied and that stopped being applied.
    pub stamped: Vec<String>,
    /// For a stamp: the revisions unstamped.
    pub unstamped: Vec<String>,
    /// The heads before.
    pub heads_before: Vec<String>,
    /// The heads after.
    pub heads_after: Vec<String>,
    /// The boot check found the database up to date with one query and took no lock.
    pub up_to_date: bool,
    /// The database is ahead of this binary and that was tolerated: nothing ran.
    pub database_ahead: bool,
}

impl Report {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        !self.steps.is_empty() || !self.stamped.is_empty() || !self.unstamped.is_empty()
    }
}

/// One current head of a database (a row of the version table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentHead {
    /// The revision id.
    pub id: String,
    /// Whether this binary knows the revision.
    pub known: bool,
    /// Whether it is a head of the graph.
    pub is_head: bool,
    /// Whether it merges several parents.
    pub is_merge_point: bool,
    /// Whether several revisions revise it.
    pub is_branch_point: bool,
}

/// Where a database stands against the embedded revisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Applied revisions, in order.
    pub applied: Vec<String>,
    /// Revisions not applied yet, in the order an upgrade to `heads` would apply them.
    pub pending: Vec<String>,
    /// Revisions the database records that this binary does not know.
    pub unknown: Vec<String>,
    /// Revisions marked dirty.
    pub dirty: Vec<String>,
    /// The current heads.
    pub heads: Vec<String>,
}

impl Status {
    /// Whether every embedded revision is applied and nothing is unknown or dirty.
    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.dirty.is_empty()
    }
}
