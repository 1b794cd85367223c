//! The outcome of a fleet command, per target.

use serde::{Deserialize, Serialize};

/// The version of the JSON form of [`FleetReport`] (its `format` field).
pub const FORMAT_VERSION: u32 = 1;

/// What a fleet command (`upgrade`, `downgrade`, `status`, `check`) found or did on every
/// target it was given.
///
/// ```
/// use revchain::fleet::{FleetReport, TargetReport, TargetState};
///
/// let mut report = FleetReport::new("status", vec!["b2".into()]);
/// report.targets.push(TargetReport::new("postgres://app@db1/tenant_1", TargetState::AtGoal));
/// assert!(report.all_at_goal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FleetReport {
    /// The version of this form (`FORMAT_VERSION`).
    pub format: u32,
    /// The command: `upgrade`, `downgrade`, `status` or `check`.
    pub command: String,
    /// The revisions every target should be at when the command is done (the heads, for
    /// `upgrade head`).
    pub goal: Vec<String>,
    /// The share of the targets this run took (`--shard I/N`), if any.
    pub shard: Option<Shard>,
    /// One entry per target, in the order the summary shows them.
    pub targets: Vec<TargetReport>,
    /// How long the whole command took, in milliseconds.
    pub elapsed_ms: u64,
}

/// A stable share of the targets: `index` of `count`, 0-based (`--shard 0/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// How many shards share the targets.
    pub count: u32,
}

/// What one target's state is at the end of the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TargetState {
    /// At the goal.
    AtGoal,
    /// Behind the goal: revisions pending (not attempted: `status`, `check`, or skipped
    /// after a failed canary wave).
    Behind,
    /// Ahead of this binary (a newer release migrated it).
    Ahead,
    /// Both ahead and behind.
    Diverged,
    /// Refused: edited, dirty, or damaged bookkeeping (nothing ran on it).
    Refused,
    /// The command failed on it (a statement, a lock timeout…): see its error.
    Failed,
    /// It could not be reached (connection refused, bad URL).
    Unreachable,
}

impl TargetState {
    /// Whether the target is where the command wanted it.
    pub fn is_at_goal(self) -> bool {
        self == TargetState::AtGoal
    }

    /// The order of the summary: failures first, then refusals, unreachable, diverged,
    /// ahead, behind, and targets at the goal last.
    pub fn rank(self) -> u8 {
        match self {
            TargetState::Failed => 0,
            TargetState::Refused => 1,
            TargetState::Unreachable => 2,
            TargetState::Diverged => 3,
            TargetState::Ahead => 4,
            TargetState::Behind => 5,
            TargetState::AtGoal => 6,
        }
    }

    /// The word the summary and the JSON form show (`at_goal`, `behind`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::AtGoal => "at_goal",
            TargetState::Behind => "behind",
            TargetState::Ahead => "ahead",
            TargetState::Diverged => "diverged",
            TargetState::Refused => "refused",
            TargetState::Failed => "failed",
            TargetState::Unreachable => "unreachable",
        }
    }
}

/// Why a target failed: the error's stable [`kind`](crate::Error::kind) and its message
/// (passwords redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetError {
    /// [`Error::kind`](crate::Error::kind), or `connect` when it could not be reached.
    pub kind: String,
    /// The whole message, with every URL in it redacted.
    pub message: String,
}

/// One target's line of a [`FleetReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TargetReport {
    /// The target as shown everywhere: its URL with the password redacted, and
    /// `#schema` for a schema target.
    pub target: String,
    /// Its state at the end.
    pub state: TargetState,
    /// Its current revisions at the end (the version table's rows).
    pub current: Vec<String>,
    /// How many revisions it still lacks to reach the goal.
    pub pending: usize,
    /// The revisions this command applied (or reverted, for `downgrade`) on it, in order.
    pub applied: Vec<String>,
    /// How long its work took, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed, was refused or could not be reached.
    pub error: Option<TargetError>,
}

impl TargetReport {
    /// A report for `target` in `state`, everything else empty.
    pub fn new(target: impl Into<String>, state: TargetState) -> TargetReport {
        TargetReport {
            target: target.into(),
            state,
            current: Vec::new(),
            pending: 0,
            applied: Vec::new(),
            duration_ms: 0,
            error: None,
        }
    }
}

impl FleetReport {
    /// An empty report of `command` towards `goal`.
    pub fn new(command: impl Into<String>, goal: Vec<String>) -> FleetReport {
        FleetReport {
            format: FORMAT_VERSION,
            command: command.into(),
            goal,
            shard: None,
            targets: Vec::new(),
            elapsed_ms: 0,
        }
    }

    /// Whether every target is at the goal (the fleet command's exit code 0).
    pub fn all_at_goal(&self) -> bool {
        self.targets.iter().all(|t| t.state.is_at_goal())
    }

    /// How many targets are in `state`.
    pub fn count(&self, state: TargetState) -> usize {
        self.targets.iter().filter(|t| t.state == state).count()
    }

    /// Orders the targets as the summary shows them: failures first
    /// ([`TargetState::rank`]), then by name.
    pub fn sort_failures_first(&mut self) {
        self.targets
            .sort_by(|a, b| (a.state.rank(), &a.target).cmp(&(b.state.rank(), &b.target)));
    }

    /// How many targets sit at each current revision (a target at a merge of two heads
    /// counts once at each), for the graph of the HTML page.
    pub fn targets_per_revision(&self) -> std::collections::BTreeMap<&str, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for id in self.targets.iter().flat_map(|t| &t.current) {
            *counts.entry(id.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_sort_first_and_the_json_form_round_trips() {
        let mut r = FleetReport::new("upgrade", vec!["c".into()]);
        r.targets.push(TargetReport::new("b", TargetState::AtGoal));
        r.targets.push(TargetReport::new("a", TargetState::Failed));
        r.sort_failures_first();
        assert_eq!(r.targets[0].target, "a");
        assert!(!r.all_at_goal());
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"state\":\"failed\""), "{json}");
        assert_eq!(serde_json::from_str::<FleetReport>(&json).unwrap(), r);
    }
}
