//! The text summary of a fleet command: one line per target, failures first, then the
//! counts.

use std::fmt::Write as _;

use super::{FleetReport, TargetState};

/// The summary table of `report`: a line per target (failures first, see
/// [`TargetState::rank`]) with its state, current revisions, pending and applied counts,
/// time and error, then one line of counts. Every target is already shown redacted.
///
/// ```
/// use revchain::fleet::{FleetReport, TargetReport, TargetState, summary_text};
///
/// let mut report = FleetReport::new("upgrade", vec!["c3".into()]);
/// report.targets.push(TargetReport::new("sqlite://a.db", TargetState::AtGoal));
/// report.targets.push(TargetReport::new("sqlite://b.db", TargetState::Failed));
/// let text = summary_text(&report);
/// assert!(text.find("b.db").unwrap() < text.find("a.db").unwrap());
/// assert!(text.contains("2 target(s): 1 at_goal, 1 failed"), "{text}");
/// ```
pub fn summary_text(report: &FleetReport) -> String {
    let mut sorted = report.clone();
    sorted.sort_failures_first();
    let width = sorted
        .targets
        .iter()
        .map(|t| t.target.chars().count())
        .max()
        .unwrap_or(0)
        .max("TARGET".len());
    let mut out = format!(
        "{:<width$}  {:<11}  {:<14}  {:>7}  {:>7}  {:>8}  ERROR\n",
        "TARGET", "STATE", "CURRENT", "PENDING", "APPLIED", "TIME"
    );
    for t in &sorted.targets {
        let current = if t.current.is_empty() {
            "<base>".to_owned()
        } else {
            t.current.join(",")
        };
        let error = t
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.kind, first_line(&e.message)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<width$}  {:<11}  {:<14}  {:>7}  {:>7}  {:>6}ms  {error}",
            t.target,
            t.state.as_str(),
            current,
            t.pending,
            t.applied.len(),
            t.duration_ms,
        );
    }
    out.push_str(&counts_line(report));
    out
}

/// `N target(s): a at_goal, b failed, … in 1.2 s` (and the shard, when one was taken).
pub(crate) fn counts_line(report: &FleetReport) -> String {
    let states = [
        TargetState::AtGoal,
        TargetState::Failed,
        TargetState::Refused,
        TargetState::Unreachable,
        TargetState::Diverged,
        TargetState::Ahead,
        TargetState::Behind,
    ];
    let counts: Vec<String> = states
        .iter()
        .map(|&s| (s, report.count(s)))
        .filter(|&(s, n)| n > 0 || s == TargetState::AtGoal)
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    let shard = report
        .shard
        .map(|s| format!(" (shard {}/{})", s.index, s.count))
        .unwrap_or_default();
    format!(
        "{} target(s){shard}: {} in {:.1} s\n",
        report.targets.len(),
        counts.join(", "),
        report.elapsed_ms as f64 / 1000.0
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
