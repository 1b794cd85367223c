//! The applied state: the database's bookkeeping as read (docs/design.md §3), and the one check
//! of it against the embedded revisions.
//!
//! The runtime decodes the rows of the version and log tables into [`HeadRow`]s and
//! [`LogRow`]s (digests are parsed there, once) and hands them to [`check_state`]. Every
//! command that changes the database runs that check before it plans, and `status` reports
//! what it found, so they all agree: the same state is refused by every writing command
//! with the same message. The check reads nothing; each rule is one small function below
//! that adds its [`Finding`]s, in the order the refusal lists them.
//!
//! ```
//! use revchain_core::History;
//! use revchain_core::applied::{HeadRow, LogRow, TableNames, check_state};
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("a1_users.sql"), "-- users\n-- Revision ID: a1\n-- Revises:\n\n-- migrate:upgrade\nCREATE TABLE users (id INT);\n\n-- migrate:downgrade\nDROP TABLE users;\n").unwrap();
//! let history = History::load(dir.path()).unwrap();
//! let tables = TableNames { version: "revchain_version".into(), log: "revchain_log".into() };
//! // A version row for `a1` that the log does not record.
//! let heads = [HeadRow { revision: "a1".into(), chain_digest: Some(history.chain_digest(0)), defect: None }];
//! let check = check_state(&history, &tables, &heads, &[]);
//! assert_eq!(check.current, [0]);
//! assert!(check.findings[0].to_string().starts_with("the log has no record of revision a1"));
//! ```

use std::collections::{HashMap, HashSet};

use crate::digest::Digest;
use crate::graph::Graph;
use crate::history::History;
use crate::target::Direction;

/// One row of the version table, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadRow {
    /// The revision id, as read.
    pub revision: String,
    /// The head's chain digest, parsed when the row was decoded: `None` for the `dirty`
    /// mark of a head being downgraded, and for a value that is not a digest (then
    /// [`defect`](Self::defect) says so).
    pub chain_digest: Option<Digest>,
    /// Why the row cannot be trusted as read (a NULL, an empty string, a value of the
    /// wrong type, a digest that is not one), or `None` for a well-formed row. A damaged
    /// row never matches a revision: the check refuses it by name.
    pub defect: Option<String>,
}

/// One row of the log table, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// The revision id, as read.
    pub revision: String,
    /// The checksum recorded when the revision ran (`None` when damaged).
    pub checksum: Option<Digest>,
    /// The chain digest recorded when the revision ran (`None` when damaged).
    pub chain_digest: Option<Digest>,
    /// Whether the revision is marked as running (or left half done).
    pub dirty: bool,
    /// As [`HeadRow::defect`].
    pub defect: Option<String>,
}

/// The bookkeeping tables' names, as messages show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// The version table (one row per current head).
    pub version: String,
    /// The log table (one row per applied revision).
    pub log: String,
}

/// What the check needs to know of one embedded revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedRevision<'a> {
    /// Its file, for messages.
    pub path: &'a str,
    /// Its checksum.
    pub checksum: Digest,
    /// Its chain digest.
    pub chain_digest: Digest,
}

/// The revisions a binary embeds (the runtime's table, or a [`History`] loaded from disk):
/// a graph, and for each of its indices the facts the check compares with the rows.
pub trait Embedded {
    /// The revision graph.
    fn graph(&self) -> &Graph;
    /// The revision at graph index `index`.
    fn revision(&self, index: usize) -> Option<EmbeddedRevision<'_>>;
    /// The `Replaces` list of the revision at graph index `index` (empty unless it is a
    /// baseline, docs/design.md §2.3).
    fn replaces(&self, index: usize) -> Vec<String> {
        let _ = index;
        Vec::new()
    }
    /// Whether the files that baseline `index` replaces are embedded, so that a database in
    /// the middle of its range can be caught up.
    fn can_catch_up(&self, index: usize) -> bool {
        let _ = index;
        false
    }
}

impl Embedded for History {
    fn graph(&self) -> &Graph {
        History::graph(self)
    }

    fn revision(&self, index: usize) -> Option<EmbeddedRevision<'_>> {
        let file = self.revisions().get(index)?;
        Some(EmbeddedRevision {
            path: &file.path,
            checksum: self.checksum(index),
            chain_digest: self.chain_digest(index),
        })
    }

    fn replaces(&self, index: usize) -> Vec<String> {
        self.revisions()
            .get(index)
            .map(|f| f.replaces.clone())
            .unwrap_or_default()
    }

    fn can_catch_up(&self, index: usize) -> bool {
        self.catch_up(index).is_some()
    }
}

/// A row of the bookkeeping tables that could not be read as revchain writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRow {
    /// The table's name.
    pub table: String,
    /// The row's position in the table as read, from 1.
    pub row: usize,
    /// The revision the row names (empty when that cell is damaged itself).
    pub revision: String,
    /// What is wrong with it.
    pub defect: String,
}

impl std::fmt::Display for DamagedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}", self.row)?;
        if !self.revision.is_empty() {
            write!(f, " (revision `{}`)", shorten(&self.revision))?;
        }
        write!(f, " of the {} table: {}", self.table, self.defect)
    }
}

/// One reason to refuse the applied state, other than a dirty mark or a database ahead.
/// Its text is the sentence the refusal shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Finding {
    /// Rows that could not be read as revchain writes them.
    #[error(
        "revchain's tables hold rows it did not write ({}): they were edited by hand; check the \
         schema, then record the true state with `revchain stamp --purge <revision>` (`base` \
         for none), which rewrites both tables", join(.0, "; ")
    )]
    DamagedRows(Vec<DamagedRow>),
    /// A table with several rows for the same revisions.
    #[error(
        "the {table} table has several rows for {}: it was edited by hand; record the true \
         state with `revchain stamp --purge <revision>`", quoted(.revisions)
    )]
    DuplicateRows {
        /// The table's name.
        table: String,
        /// The revisions (shortened), in the order the message lists them.
        revisions: Vec<String>,
    },
    /// Version rows naming revisions that this binary does not know and the log does not
    /// record as applied.
    #[error(
        "the version table names {}, which this binary does not know and the log does not \
         record as applied: the version table was edited by hand; if the schema is right, \
         record the true state with `revchain stamp --purge <revision>`", quoted(.0)
    )]
    ForgedHeads(Vec<String>),
    /// An applied revision's upgrade SQL differs from the file.
    #[error(
        "{path}: revision {id} was applied with checksum {applied} but its upgrade section now \
         hashes to {embedded} (the SQL that ran was edited afterwards: restore it)"
    )]
    Edited {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The checksum recorded when it ran.
        applied: Digest,
        /// The checksum of the embedded SQL.
        embedded: Digest,
    },
    /// An applied revision whose ancestry changed: the first one, not those above it.
    #[error(
        "{path}: revision {id} now has other ancestors than when it was applied (its `Revises` \
         line, or one of an ancestor's, was changed); restore them"
    )]
    AncestryChanged {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
    },
    /// Applied revisions (shortened ids) that this binary does not have.
    #[error(
        "the log records that {} applied, but this binary has no such revision: its file was \
         deleted or its id changed after it ran; restore it",
        revisions_verb(.0, "was", "were")
    )]
    RemovedRevisions(Vec<String>),
    /// The log and the version table disagree about revisions.
    #[error("{}", log_disagrees(.revisions, *.in_log))]
    LogDisagrees {
        /// The revisions.
        revisions: Vec<String>,
        /// Whether the log records them (and the version rows do not cover them), or the
        /// other way round.
        in_log: bool,
    },
    /// Revisions the version rows cover that the log never recorded, as `id (path)`.
    #[error(
        "{} an ancestor of the database's heads in this binary, but the database never applied \
         {}: a revision's id (its file's `Revision` line) or a `Revises` line was changed after \
         the revisions ran; restore the original ids and `Revises` lines",
        revisions_verb(.0, "is", "are"), if .0.len() == 1 { "it" } else { "them" }
    )]
    NeverApplied(Vec<String>),
    /// Version rows that are ancestors of other version rows, as `id (an ancestor of head)`.
    #[error(
        "the {table} table names {} although it holds one row per head: it was edited by hand; \
         check the schema, then record the true state with `revchain stamp --purge <revision>`",
        .covered.join(", ")
    )]
    CoveredHeads {
        /// The table's name.
        table: String,
        /// The rows, described.
        covered: Vec<String>,
    },
    /// Version rows whose chain digests differ from the embedded heads' while the log
    /// agrees with this binary.
    #[error(
        "the version table's digests for {} do not match this binary's although every applied \
         revision does (the table was edited by hand); if the schema is right, re-record it \
         with `revchain stamp --purge heads`", .0.join(", ")
    )]
    WrongHeadDigests(Vec<String>),
    /// The database is in the middle of a range squashed into a baseline whose replaced
    /// files are gone (docs/design.md §2.3): the whole sentence, with the release to use.
    #[error("{0}")]
    InSquashedRange(String),
}

/// A revision that a previous run left half done (its log row is marked dirty), and how to
/// repair it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyMark {
    /// The revision.
    pub id: String,
    /// Its file (`?` when this binary does not know it).
    pub path: String,
    /// What was running.
    pub direction: Direction,
    /// What to stamp when none of its changes are in place (the state before it ran).
    pub if_reverted: String,
}

/// Why a command that writes refuses the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// Damaged, edited or inconsistent bookkeeping: every finding.
    Findings(&'a [Finding]),
    /// A revision left half done.
    Dirty(&'a DirtyMark),
}

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateCheck {
    /// The graph indices of the version rows this binary knows, sorted.
    pub current: Vec<usize>,
    /// The embedded revisions the database has applied, by graph index.
    pub applied: Vec<bool>,
    /// Version rows naming revisions this binary does not know that the log records as
    /// applied: a newer binary migrated the database.
    pub ahead: Vec<String>,
    /// Every id the database names (version or log) that this binary does not know.
    pub unknown: Vec<String>,
    /// Revisions whose applied checksum differs from the file's.
    pub edited: Vec<String>,
    /// Revisions marked dirty, in log order.
    pub dirty: Vec<String>,
    /// The first dirty mark, with its repair.
    pub dirty_mark: Option<DirtyMark>,
    /// Every reason to refuse, other than dirty marks and a database ahead.
    pub findings: Vec<Finding>,
    /// What the bookkeeping says about each baseline whose replaced ids it records
    /// (docs/design.md §2.3): at the baseline (the next write re-records it), or in the
    /// middle of its range (a catch-up when the replaced files are embedded, else a
    /// finding).
    pub baselines: Vec<crate::baseline::Fold>,
}

impl StateCheck {
    /// The refusal of a command that writes: the [findings](Self::findings) when there are
    /// any, else the dirty mark unless `dirty_allowed` (a stamp, which is its repair). A
    /// database ahead is the caller's to judge ([`ahead`](Self::ahead)).
    pub fn refusal(&self, dirty_allowed: bool) -> Option<Refusal<'_>> {
        if !self.findings.is_empty() {
            return Some(Refusal::Findings(&self.findings));
        }
        self.dirty_mark
            .as_ref()
            .filter(|_| !dirty_allowed)
            .map(Refusal::Dirty)
    }
}

/// The text of a refusal for several findings: each of them, counted when there are more
/// than one.
pub fn describe_findings<T: std::fmt::Display>(findings: &[T]) -> String {
    let text = join(findings, "; ");
    if findings.len() > 1 {
        format!("{} problems: {text}", findings.len())
    } else {
        text
    }
}

/// The rows of the version and log tables whose revisions a check looks at: the
/// well-formed ones, and what they say together.
struct Rows<'r> {
    heads: Vec<&'r HeadRow>,
    log: Vec<&'r LogRow>,
    logged: HashMap<&'r str, &'r LogRow>,
    dirty: HashSet<&'r str>,
    /// Version rows naming revisions this binary does not know.
    unknown_heads: Vec<&'r str>,
}

/// Checks the version rows `heads` and the log rows `log` (all of it) against `embedded`.
/// Pure: it reads nothing, so every command checks the same thing the same way.
pub fn check_state(
    embedded: &impl Embedded,
    tables: &TableNames,
    heads: &[HeadRow],
    log: &[LogRow],
) -> StateCheck {
    let graph = embedded.graph();
    let mut check = StateCheck::default();
    let (heads, log) = fold_baselines(embedded, heads, log, &mut check);
    let (heads, log) = (heads.as_slice(), log.as_slice());
    check.findings.extend(damaged_rows(tables, heads, log));
    let rows = well_formed(graph, heads, log);
    check.findings.extend(duplicate_rows(tables, &rows));
    check.dirty = rows
        .log
        .iter()
        .filter(|l| l.dirty)
        .map(|l| l.revision.clone())
        .collect();
    check.current = known_heads(graph, rows.heads.iter().copied());
    check.unknown = unknown_ids(graph, &rows);
    let forged = forged_heads(&rows);
    if !forged.is_empty() {
        let ids = forged.iter().map(|id| shorten(id)).collect();
        check.findings.push(Finding::ForgedHeads(ids));
    }
    let history_findings = check.findings.len();
    logged_revisions(embedded, &rows, &mut check);
    let log_explains_digests = check.findings.len() > history_findings;
    if rows.unknown_heads.is_empty() {
        check.applied = graph.applied(&check.current);
        check.findings.extend(removed_revisions(graph, &rows));
        log_matches_version(embedded, &rows, &mut check);
        if !log_explains_digests {
            check.findings.extend(covered_heads(graph, tables, &rows));
            check.findings.extend(wrong_head_digests(embedded, &rows));
        }
    } else {
        // Ahead: the version rows cannot say which embedded revisions are applied (their
        // ancestry is in the newer binary); the log can.
        check.applied = (0..graph.len())
            .map(|i| rows.logged.get(graph.id(i)).is_some_and(|l| !l.dirty))
            .collect();
        check.ahead = rows
            .unknown_heads
            .iter()
            .filter(|id| !forged.contains(id))
            .map(|id| (*id).to_owned())
            .collect();
    }
    check.dirty_mark = dirty_mark(embedded, heads, log);
    check
}

/// The rows with every baseline folded in ([`crate::baseline::fold_rows`]); a database in
/// the middle of a squashed range is a finding unless the replaced files are embedded
/// (then the runtime catches it up before it plans, and the rows of the range are left out
/// here).
fn fold_baselines(
    embedded: &impl Embedded,
    heads: &[HeadRow],
    log: &[LogRow],
    check: &mut StateCheck,
) -> (Vec<HeadRow>, Vec<LogRow>) {
    let graph = embedded.graph();
    let baselines: Vec<(usize, Vec<String>, LogRow)> = (0..graph.len())
        .filter_map(|i| {
            let replaces = embedded.replaces(i);
            let rev = embedded.revision(i)?;
            (!replaces.is_empty()).then(|| {
                let row = LogRow {
                    revision: graph.id(i).to_owned(),
                    checksum: Some(rev.checksum),
                    chain_digest: Some(rev.chain_digest),
                    dirty: false,
                    defect: None,
                };
                (i, replaces, row)
            })
        })
        .collect();
    if baselines.is_empty() {
        return (heads.to_vec(), log.to_vec());
    }
    let (mut heads, mut log, folds) = crate::baseline::fold_rows(
        baselines
            .iter()
            .map(|(i, r, row)| (*i, r.as_slice(), row.clone())),
        heads,
        log,
    );
    for fold in &folds {
        if let crate::baseline::Fold::Partial { baseline, .. } = fold {
            let replaces = &baselines.iter().find(|b| b.0 == *baseline).map(|b| &b.1);
            if embedded.can_catch_up(*baseline) {
                let inside = |id: &str| replaces.is_some_and(|r| r.iter().any(|x| x == id));
                heads.retain(|h| !inside(&h.revision));
                log.retain(|l| !inside(&l.revision));
            } else if let Some(text) = fold.refusal(graph.id(*baseline)) {
                check.findings.push(Finding::InSquashedRange(text));
            }
        }
    }
    check.baselines = folds;
    (heads, log)
}

fn well_formed<'r>(graph: &Graph, heads: &'r [HeadRow], log: &'r [LogRow]) -> Rows<'r> {
    let heads: Vec<&HeadRow> = heads.iter().filter(|r| r.defect.is_none()).collect();
    let log: Vec<&LogRow> = log.iter().filter(|l| l.defect.is_none()).collect();
    let logged = log.iter().map(|l| (l.revision.as_str(), *l)).collect();
    let dirty = log
        .iter()
        .filter(|l| l.dirty)
        .map(|l| l.revision.as_str())
        .collect();
    let unknown_heads = heads
        .iter()
        .map(|r| r.revision.as_str())
        .filter(|id| graph.find(id).is_none())
        .collect();
    Rows {
        heads,
        log,
        logged,
        dirty,
        unknown_heads,
    }
}

/// The graph indices of the version rows that name known revisions, sorted, once each.
pub fn known_heads<'r>(graph: &Graph, heads: impl IntoIterator<Item = &'r HeadRow>) -> Vec<usize> {
    let mut known: Vec<usize> = heads
        .into_iter()
        .filter_map(|r| graph.find(&r.revision))
        .collect();
    known.sort_unstable();
    known.dedup();
    known
}

/// The version rows in the order to show them: the known ones in graph order, then the
/// unknown ones; ties by id. Each comes with its graph index when known.
pub fn ordered_heads<'r>(graph: &Graph, heads: &'r [HeadRow]) -> Vec<(Option<usize>, &'r HeadRow)> {
    let mut ordered: Vec<(Option<usize>, &HeadRow)> =
        heads.iter().map(|r| (graph.find(&r.revision), r)).collect();
    ordered.sort_by(|a, b| {
        let at = |i: Option<usize>| i.unwrap_or(usize::MAX);
        at(a.0)
            .cmp(&at(b.0))
            .then_with(|| a.1.revision.cmp(&b.1.revision))
    });
    ordered
}

/// Whether the version rows are exactly the embedded heads (`(id, chain digest)` each)
/// with their digests: the boot check's fast path, which needs nothing else.
pub fn at_embedded_heads<'a>(
    embedded_heads: impl IntoIterator<Item = (&'a str, Digest)>,
    heads: &[HeadRow],
) -> bool {
    let embedded_heads: Vec<(&str, Digest)> = embedded_heads.into_iter().collect();
    embedded_heads.len() == heads.len()
        && embedded_heads.iter().all(|&(id, digest)| {
            (heads.iter()).any(|r| r.revision == id && r.chain_digest == Some(digest))
        })
}

/// Rows that could not be read as revchain writes them.
fn damaged_rows(tables: &TableNames, heads: &[HeadRow], log: &[LogRow]) -> Option<Finding> {
    let damaged = |table: &str, n: usize, revision: &str, defect: &Option<String>| {
        defect.as_ref().map(|defect| DamagedRow {
            table: table.to_owned(),
            row: n + 1,
            revision: revision.to_owned(),
            defect: defect.clone(),
        })
    };
    let rows: Vec<DamagedRow> = (heads.iter().enumerate())
        .filter_map(|(n, r)| damaged(&tables.version, n, &r.revision, &r.defect))
        .chain(
            (log.iter().enumerate())
                .filter_map(|(n, r)| damaged(&tables.log, n, &r.revision, &r.defect)),
        )
        .collect();
    (!rows.is_empty()).then_some(Finding::DamagedRows(rows))
}

/// Revisions with more than one row in a table.
fn duplicate_rows(tables: &TableNames, rows: &Rows<'_>) -> Vec<Finding> {
    let repeated = |ids: Vec<&str>| -> Vec<String> {
        let mut seen = HashSet::new();
        let mut twice: Vec<String> = ids
            .into_iter()
            .filter(|id| !seen.insert(*id))
            .map(shorten)
            .collect();
        // In the order of their quoted form, as the message lists them.
        twice.sort_by_cached_key(|id| format!("{id}`"));
        twice.dedup();
        twice
    };
    [
        (
            &tables.version,
            repeated(rows.heads.iter().map(|r| r.revision.as_str()).collect()),
        ),
        (
            &tables.log,
            repeated(rows.log.iter().map(|l| l.revision.as_str()).collect()),
        ),
    ]
    .into_iter()
    .filter(|(_, twice)| !twice.is_empty())
    .map(|(table, revisions)| Finding::DuplicateRows {
        table: table.clone(),
        revisions,
    })
    .collect()
}

/// Every id the rows name that the graph does not know, sorted, once each.
fn unknown_ids(graph: &Graph, rows: &Rows<'_>) -> Vec<String> {
    let mut unknown: Vec<String> = (rows.unknown_heads.iter().copied())
        .chain(rows.log.iter().map(|l| l.revision.as_str()))
        .filter(|id| graph.find(id).is_none())
        .map(str::to_owned)
        .collect();
    unknown.sort();
    unknown.dedup();
    unknown
}

/// Unknown version rows that the log does not record either: written by hand.
fn forged_heads<'r>(rows: &Rows<'r>) -> Vec<&'r str> {
    (rows.unknown_heads.iter().copied())
        .filter(|id| !rows.logged.contains_key(id))
        .collect()
}

/// Each known log row against its embedded revision: its checksum (edited SQL), then its
/// chain digest (changed ancestry), blaming only the first revision whose ancestry changed.
fn logged_revisions(embedded: &impl Embedded, rows: &Rows<'_>, check: &mut StateCheck) {
    let graph = embedded.graph();
    let mut chain_ok = vec![true; graph.len()];
    for i in 0..graph.len() {
        let (Some(rev), Some(entry)) = (embedded.revision(i), rows.logged.get(graph.id(i))) else {
            continue;
        };
        let id = graph.id(i).to_owned();
        // Damaged rows are left out: a logged row has its digests.
        if let Some(applied) = entry.checksum.filter(|c| *c != rev.checksum) {
            chain_ok[i] = false;
            check.edited.push(id.clone());
            check.findings.push(Finding::Edited {
                id,
                path: rev.path.to_owned(),
                applied,
                embedded: rev.checksum,
            });
        } else if entry.chain_digest != Some(rev.chain_digest) {
            chain_ok[i] = false;
            if graph.node(i).parents.iter().all(|&p| chain_ok[p]) {
                check.findings.push(Finding::AncestryChanged {
                    id,
                    path: rev.path.to_owned(),
                });
            }
        }
    }
}

/// Applied (not dirty) revisions that this binary does not have.
fn removed_revisions(graph: &Graph, rows: &Rows<'_>) -> Option<Finding> {
    let gone: Vec<String> = (rows.log.iter())
        .filter(|l| !l.dirty && graph.find(&l.revision).is_none())
        .map(|l| shorten(&l.revision))
        .collect();
    (!gone.is_empty()).then_some(Finding::RemovedRevisions(gone))
}

/// The log must record exactly the revisions the version rows cover (a dirty mark may be
/// either: a revision being applied or being reverted).
fn log_matches_version(embedded: &impl Embedded, rows: &Rows<'_>, check: &mut StateCheck) {
    let graph = embedded.graph();
    let heads: HashSet<&str> = rows.heads.iter().map(|r| r.revision.as_str()).collect();
    let mut unrecorded_heads: Vec<String> = Vec::new();
    let mut never_applied: Vec<String> = Vec::new();
    let mut stale: Vec<String> = Vec::new();
    for i in 0..graph.len() {
        let Some(rev) = embedded.revision(i) else {
            continue;
        };
        let id = graph.id(i);
        let in_log = rows.logged.contains_key(id);
        if check.applied[i] && !in_log {
            if heads.contains(id) {
                unrecorded_heads.push(id.to_owned());
            } else {
                never_applied.push(format!("{id} ({})", rev.path));
            }
        } else if !check.applied[i] && in_log && !rows.dirty.contains(id) {
            stale.push(id.to_owned());
        }
    }
    for (revisions, in_log) in [(stale, true), (unrecorded_heads, false)] {
        if !revisions.is_empty() {
            check
                .findings
                .push(Finding::LogDisagrees { revisions, in_log });
        }
    }
    if !never_applied.is_empty() {
        check.findings.push(Finding::NeverApplied(never_applied));
    }
}

/// The version rows must be the heads of what they cover: no row an ancestor of another.
fn covered_heads(graph: &Graph, tables: &TableNames, rows: &Rows<'_>) -> Option<Finding> {
    let current: Vec<usize> = (rows.heads.iter())
        .filter_map(|r| graph.find(&r.revision))
        .collect();
    let heads: HashSet<usize> = graph
        .heads_of(&graph.applied(&current))
        .into_iter()
        .collect();
    let lineages: Vec<(usize, Vec<bool>)> = (current.iter())
        .map(|&h| (h, graph.ancestors_by_revises([h])))
        .collect();
    let covered: Vec<String> = (current.iter().filter(|i| !heads.contains(i)))
        .filter_map(|&i| {
            let (by, _) = lineages.iter().find(|(h, l)| *h != i && l[i])?;
            Some(format!(
                "{} (an ancestor of {})",
                graph.id(i),
                graph.id(*by)
            ))
        })
        .collect();
    (!covered.is_empty()).then(|| Finding::CoveredHeads {
        table: tables.version.clone(),
        covered,
    })
}

/// Each version row not marked dirty must carry its revision's chain digest.
fn wrong_head_digests(embedded: &impl Embedded, rows: &Rows<'_>) -> Option<Finding> {
    let graph = embedded.graph();
    let wrong: Vec<String> = (rows.heads.iter())
        .filter(|r| !rows.dirty.contains(r.revision.as_str()))
        .filter(|r| {
            (graph.find(&r.revision))
                .and_then(|i| embedded.revision(i))
                .is_some_and(|rev| r.chain_digest != Some(rev.chain_digest))
        })
        .map(|r| r.revision.clone())
        .collect();
    (!wrong.is_empty()).then_some(Finding::WrongHeadDigests(wrong))
}

/// The first revision the log marks dirty, whether it was being applied or reverted, and
/// what to stamp once the database is repaired by hand.
fn dirty_mark(embedded: &impl Embedded, heads: &[HeadRow], log: &[LogRow]) -> Option<DirtyMark> {
    let dirty = log.iter().find(|l| l.dirty)?;
    let graph = embedded.graph();
    let id = dirty.revision.clone();
    let index = graph.find(&id);
    let path = (index.and_then(|i| embedded.revision(i))).map_or("?", |r| r.path);
    let applied = graph.applied(&known_heads(graph, heads));
    let row_ids: Vec<&str> = heads.iter().map(|r| r.revision.as_str()).collect();
    // An upgrade records its head only at the end, so a dirty revision that the version
    // table already covers was being downgraded.
    let (direction, if_reverted) = match index {
        Some(i) if applied[i] => (Direction::Downgrade, state_below(graph, i, &row_ids)),
        _ if row_ids.is_empty() => (Direction::Upgrade, "base".to_owned()),
        _ => (Direction::Upgrade, row_ids.join(" ")),
    };
    Some(DirtyMark {
        path: path.to_owned(),
        id,
        direction,
        if_reverted,
    })
}

/// What to stamp for the state just below revision `index`, reverted by hand, when the
/// version rows are `row_ids`: its parents; for a base, the other rows (or `base`).
fn state_below(graph: &Graph, index: usize, row_ids: &[&str]) -> String {
    let parents = &graph.node(index).parents;
    if !parents.is_empty() {
        let ids: Vec<&str> = parents.iter().map(|&p| graph.id(p)).collect();
        return ids.join(" ");
    }
    let id = graph.id(index);
    let others: Vec<&str> = row_ids.iter().copied().filter(|r| *r != id).collect();
    if others.is_empty() {
        "base".to_owned()
    } else {
        format!("--purge {}", others.join(" "))
    }
}

/// The refusal when the log and the version table disagree about revisions (one of them
/// was edited by hand): the log records them as applied and the version table does not
/// include them (`in_log`), or the other way round. Nothing of them ran.
///
/// ```
/// use revchain_core::applied::log_disagrees;
/// assert!(log_disagrees(&["a1"], true).starts_with("the log records revision a1 as applied"));
/// assert!(log_disagrees(&["a1", "b2"], false).starts_with("the log has no record of revisions a1, b2"));
/// ```
pub fn log_disagrees(ids: &[impl AsRef<str>], in_log: bool) -> String {
    let (log, version) = if in_log {
        ("records", "does not include")
    } else {
        ("has no record of", "includes")
    };
    let (revisions, them) = match ids {
        [one] => (format!("revision {}", one.as_ref()), "it"),
        many => {
            let ids: Vec<&str> = many.iter().map(AsRef::<str>::as_ref).collect();
            (format!("revisions {}", ids.join(", ")), "them")
        }
    };
    format!(
        "the log {log} {revisions} as applied, but the version table {version} {them} (one of \
         the two was edited by hand); check the schema, then record the true state with \
         `revchain stamp --purge <revision>`"
    )
}

/// `text` cut to at most 80 characters, for messages about values read from the database
/// (which may be megabytes long).
///
/// ```
/// use revchain_core::applied::shorten;
/// assert_eq!(shorten("a1"), "a1");
/// assert_eq!(shorten(&"x".repeat(100)), format!("{}…", "x".repeat(80)));
/// ```
pub fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>, separator: &str) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(separator)
}

/// `ids` each in backticks, joined by commas.
fn quoted(ids: &[String]) -> String {
    join(ids.iter().map(|id| format!("`{id}`")), ", ")
}

/// `revision a was` or `revisions a, b were`.
fn revisions_verb(ids: &[String], one: &str, many: &str) -> String {
    match ids {
        [id] => format!("revision {id} {one}"),
        ids => format!("revisions {} {many}", ids.join(", ")),
    }
}

pub mod unknown;

#[cfg(test)]
mod tests;
