//! What the runtime's operations return.

use std::time::Duration;

use revchain_core::Direction;

/// One revision that was applied or reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// The repeatable revisions (`Repeatable: true`) applied after the versioned steps
    /// (new or changed ones; on a downgrade, the text recorded at the target), in order.
    pub repeatables_applied: Vec<StepReport>,
    /// The repeatable revisions removed (their downgrade section ran) because a revision
    /// they depend on was reverted.
    pub repeatables_removed: Vec<String>,
}

impl Report {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        !self.steps.is_empty()
            || !self.stamped.is_empty()
            || !self.unstamped.is_empty()
            || !self.repeatables_applied.is_empty()
            || !self.repeatables_removed.is_empty()
    }
}

/// One current head of a database (a row of the version table).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// Where a database stands against the embedded revisions: what every command that
/// changes the database would do with it ([`Status::state`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Applied revisions, in order.
    pub applied: Vec<String>,
    /// Revisions not applied yet, in the order an upgrade to `heads` would apply them.
    pub pending: Vec<String>,
    /// Revisions the database records that this binary does not know.
    pub unknown: Vec<String>,
    /// The database's heads that this binary does not know and that the log records as
    /// applied: a newer binary migrated the database (it is ahead of this one).
    pub ahead: Vec<String>,
    /// Applied revisions whose upgrade SQL was edited since it ran.
    pub edited: Vec<String>,
    /// Revisions marked dirty.
    pub dirty: Vec<String>,
    /// The current heads.
    pub heads: Vec<String>,
    /// The message every command that changes the database (`run`, `upgrade`,
    /// `downgrade`, `stamp` without `--purge`) refuses this state with, naming every
    /// edited, missing, unknown or damaged revision; `None` when they would proceed.
    pub refusal: Option<String>,
    /// Repeatable revisions applied with the text this binary ships.
    pub repeatables_applied: Vec<String>,
    /// Repeatable revisions that `run` would apply: new, or changed since they were
    /// applied (a pending one makes the state [`Behind`](DatabaseState::Behind)).
    pub repeatables_pending: Vec<String>,
    /// Repeatable revisions the database records that this binary does not ship (left as
    /// they are; a warning, not a refusal).
    pub repeatables_unknown: Vec<String>,
}

/// Where a database stands, in one word ([`Status::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatabaseState {
    /// Every embedded revision is applied, and nothing else.
    UpToDate,
    /// Some embedded revisions are not applied yet, or a repeatable revision is new or
    /// changed: `upgrade` applies them.
    Behind,
    /// The database has revisions this binary does not know, recorded in its log, and
    /// every embedded one: a newer release migrated it. `run` refuses unless
    /// [`allow_database_ahead`](crate::Migrator::allow_database_ahead).
    Ahead,
    /// Both ahead and behind: the database has revisions this binary does not know, and
    /// lacks some that it has.
    Diverged,
    /// An applied revision's SQL was edited since it ran: refused.
    Edited,
    /// A revision is marked dirty by a run that stopped part-way: refused until repaired.
    Dirty,
    /// revchain's tables are damaged or disagree with the binary's history in another way
    /// (deleted or renamed revisions, hand-edited rows): refused.
    Refused,
}

impl Status {
    /// Whether every embedded revision is applied and nothing is unknown, dirty or refused.
    pub fn is_up_to_date(&self) -> bool {
        self.state() == DatabaseState::UpToDate
    }

    /// Where the database stands: a refusal first (edited, dirty, anything else), then
    /// ahead, diverged, behind or up to date.
    pub fn state(&self) -> DatabaseState {
        match (
            &self.refusal,
            self.ahead.is_empty(),
            self.pending.is_empty() && self.repeatables_pending.is_empty(),
        ) {
            (Some(_), _, _) if !self.edited.is_empty() => DatabaseState::Edited,
            (Some(_), _, _) if !self.dirty.is_empty() => DatabaseState::Dirty,
            (Some(_), _, _) => DatabaseState::Refused,
            (None, false, false) => DatabaseState::Diverged,
            (None, false, true) => DatabaseState::Ahead,
            (None, true, false) => DatabaseState::Behind,
            (None, true, true) => DatabaseState::UpToDate,
        }
    }
}

/// The state of one revision in [`Migrator::revisions_status`](crate::Migrator::revisions_status)
/// (the `status` command), from the same state check every command that changes the
/// database runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevisionState {
    /// Applied with the SQL this binary ships.
    Applied,
    /// Not applied yet: `upgrade` applies it (for a repeatable revision: new or changed).
    Pending,
    /// Applied, but its upgrade SQL was edited since it ran (checksum differs): refused.
    Edited,
    /// Recorded by the database but absent from this binary (or directory).
    Missing,
    /// Marked dirty by a run that stopped part-way: refused until repaired.
    Dirty,
    /// The database's tables do not say: a damaged log row names it.
    Unknown,
}

impl RevisionState {
    /// The state's stable name: `applied`, `pending`, `edited`, `missing`, `dirty`,
    /// `unknown` (the `state` of `status --format json`).
    ///
    /// ```
    /// assert_eq!(revchain::RevisionState::Edited.as_str(), "edited");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionState::Applied => "applied",
            RevisionState::Pending => "pending",
            RevisionState::Edited => "edited",
            RevisionState::Missing => "missing",
            RevisionState::Dirty => "dirty",
            RevisionState::Unknown => "unknown",
        }
    }
}

/// One revision of [`RevisionsStatus`]: where it stands, and when its record says it was
/// applied and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevisionStatus {
    /// The revision id.
    pub id: String,
    /// Its message (`None` for a revision this binary does not have).
    pub message: Option<String>,
    /// Where it stands.
    pub state: RevisionState,
    /// A repeatable revision (docs/design.md §4.10).
    pub repeatable: bool,
    /// When the log records it applied, in UTC (`2026-11-30T13:05:09Z`); `None` when not
    /// applied, or for a repeatable revision.
    pub applied_at: Option<String>,
    /// How long its upgrade took, as the log records it (whole milliseconds); `None` when
    /// not recorded.
    pub duration: Option<Duration>,
}

/// What `status` shows: one line per revision, in order (the versioned revisions in table
/// order, then those the database records and this binary lacks, then the repeatable
/// revisions), and the database's [`Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevisionsStatus {
    /// Where the database stands as a whole.
    pub status: Status,
    /// One line per revision.
    pub revisions: Vec<RevisionStatus>,
}

/// A duration in the unit a person reads best, the one form every message and table of
/// revchain uses: `850 µs`, `8 ms`, `1.24 s`, `2 min 5 s`, `1 h 3 min` (never `0.0ns` nor
/// `8.0ms`).
pub(crate) fn human_duration(d: Duration) -> String {
    let micros = d.as_micros();
    let secs = d.as_secs();
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 10_000 {
        let ms = d.as_secs_f64() * 1_000.0;
        let text = format!("{ms:.1}");
        format!("{} ms", text.strip_suffix(".0").unwrap_or(&text))
    } else if micros < 1_000_000 {
        format!("{} ms", d.as_millis())
    } else if secs < 60 {
        let text = format!("{:.2}", d.as_secs_f64());
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text} s")
    } else if secs < 3_600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{} h {} min", secs / 3_600, (secs % 3_600) / 60)
    }
}

/// Logs `message` at `info` (target `revchain`) through `tracing`. When the process has no
/// `tracing` subscriber at all (an application that never set up logging), the line goes
/// to stderr as `revchain: <message>` instead, so that what a migration applied is never
/// silent; an application that installed a subscriber decides itself what it shows.
pub(crate) fn announce(revision: Option<&str>, message: &str) {
    announce_each(std::iter::once((revision, message.to_owned())));
}

/// [`announce`] for several lines at once (`(revision, message)`): without a tracing
/// subscriber, they go to stderr in one write.
pub(crate) fn announce_each<'r>(lines: impl Iterator<Item = (Option<&'r str>, String)>) {
    if QUIET.try_with(|_| ()).is_ok() {
        return;
    }
    if no_subscriber() {
        let text: String = lines
            .map(|(_, message)| format!("revchain: {message}\n"))
            .collect();
        eprint!("{text}");
        return;
    }
    for (revision, message) in lines {
        match revision {
            Some(revision) => tracing::info!(target: "revchain", revision, "{message}"),
            None => tracing::info!(target: "revchain", "{message}"),
        }
    }
}

tokio::task_local! {
    /// Set while a caller that prints its own summary runs migrations (`test-roundtrip`
    /// without `-v`): [`announce`] says nothing.
    static QUIET: ();
}

/// Runs `work` without the per-revision lines of [`announce`] (warnings still go out).
#[cfg(feature = "autogen")]
pub(crate) async fn quietly<T>(work: impl std::future::Future<Output = T>) -> T {
    QUIET.scope((), work).await
}

/// Like [`announce`], at `warn` (stderr: `revchain: warning: <message>`).
pub(crate) fn warn(message: &str) {
    if no_subscriber() {
        eprintln!("revchain: warning: {message}");
    } else {
        tracing::warn!(target: "revchain", "{message}");
    }
}

/// Whether no `tracing` subscriber is in effect on this thread (none global, none scoped).
fn no_subscriber() -> bool {
    tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_one_human_unit() {
        for (d, text) in [
            (Duration::ZERO, "0 µs"),
            (Duration::from_nanos(850_400), "850 µs"),
            (Duration::from_micros(8_000), "8 ms"),
            (Duration::from_micros(8_460), "8.5 ms"),
            (Duration::from_micros(85_400), "85 ms"),
            (Duration::from_millis(1_000), "1 s"),
            (Duration::from_millis(1_240), "1.24 s"),
            (Duration::from_millis(59_999), "60 s"),
            (Duration::from_secs(125), "2 min 5 s"),
            (Duration::from_secs(3_780), "1 h 3 min"),
        ] {
            assert_eq!(human_duration(d), text, "{d:?}");
        }
    }
}
