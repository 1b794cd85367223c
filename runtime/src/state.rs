//! The one check of the database's bookkeeping (the version and log tables) against the
//! embedded revisions. Every command that changes the database (`run`, `upgrade`,
//! `downgrade`, `stamp` without `--purge`) runs it before it plans, and `status` (hence
//! the CLIs' `check`) reports what it found, so they all agree: the same state is refused
//! by every writing command with the same message.

use std::collections::{HashMap, HashSet};

use revchain_core::Digest;

use crate::backend::{HeadRow, LogRow, log_disagrees, shorten};
use crate::error::{DriftKind, Error};
use crate::table::Migrations;
use crate::tables::Tables;

/// One reason to refuse the state, other than a dirty mark or a database ahead.
#[derive(Debug, Clone)]
pub(crate) enum Problem {
    /// An applied revision's upgrade SQL differs from the file.
    Edited {
        id: String,
        path: String,
        applied: String,
        embedded: String,
    },
    /// Anything else, as a sentence.
    Other(String),
}

impl Problem {
    fn text(&self) -> String {
        match self {
            Problem::Edited {
                id,
                path,
                applied,
                embedded,
            } => format!(
                "{path}: revision {id} was applied with checksum {applied} but its upgrade section \
                 now hashes to {embedded} (the SQL that ran was edited afterwards: restore it)"
            ),
            Problem::Other(text) => text.clone(),
        }
    }
}

/// What the state check found.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateCheck {
    /// The graph indices of the version rows this binary knows.
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
    /// Every reason to refuse, other than dirty marks and a database ahead.
    pub problems: Vec<Problem>,
}

impl StateCheck {
    /// The refusal for [`problems`](Self::problems), naming every one of them: one edited
    /// revision alone is [`Error::Edited`], anything else [`Error::Drift`].
    pub fn refusal(&self) -> Option<Error> {
        match self.problems.as_slice() {
            [] => None,
            [
                Problem::Edited {
                    id,
                    path,
                    applied,
                    embedded,
                },
            ] => Some(Error::Edited {
                id: id.clone(),
                path: path.clone(),
                applied: applied.clone(),
                embedded: embedded.clone(),
            }),
            problems => Some(Error::Drift {
                kind: DriftKind::State {
                    problems: problems.iter().map(Problem::text).collect(),
                },
            }),
        }
    }
}

/// Checks the version rows `rows` and the log rows `log` (all of it) against `migrations`.
/// Pure: it reads nothing, so every command checks the same thing the same way.
pub(crate) fn check_state(
    migrations: &Migrations,
    tables: &Tables,
    rows: &[HeadRow],
    log: &[LogRow],
) -> StateCheck {
    let graph = migrations.graph();
    let mut check = StateCheck::default();
    damaged_rows(tables, rows, log, &mut check.problems);
    let rows: Vec<&HeadRow> = rows.iter().filter(|r| r.defect.is_none()).collect();
    let log: Vec<&LogRow> = log.iter().filter(|l| l.defect.is_none()).collect();
    duplicates(tables, &rows, &log, &mut check.problems);
    check.dirty = log
        .iter()
        .filter(|l| l.dirty)
        .map(|l| l.revision.clone())
        .collect();
    let dirty_ids = check.dirty.clone();
    let dirty: HashSet<&str> = dirty_ids.iter().map(String::as_str).collect();
    let logged: HashMap<&str, &LogRow> = log.iter().map(|l| (l.revision.as_str(), *l)).collect();
    check.current = rows
        .iter()
        .filter_map(|r| graph.find(&r.revision))
        .collect();
    check.current.sort_unstable();
    check.current.dedup();
    let unknown_heads: Vec<&str> = rows
        .iter()
        .map(|r| r.revision.as_str())
        .filter(|id| graph.find(id).is_none())
        .collect();
    let mut unknown: Vec<String> = unknown_heads
        .iter()
        .copied()
        .chain(log.iter().map(|l| l.revision.as_str()))
        .filter(|id| graph.find(id).is_none())
        .map(str::to_owned)
        .collect();
    unknown.sort();
    unknown.dedup();
    check.unknown = unknown;
    let forged: Vec<&str> = unknown_heads
        .iter()
        .copied()
        .filter(|id| !logged.contains_key(id))
        .collect();
    if !forged.is_empty() {
        check.problems.push(Problem::Other(forged_heads(&forged)));
    }
    let history_problems = check.problems.len();
    logged_revisions(migrations, &log, &mut check);
    let log_explains_digests = check.problems.len() > history_problems;
    if unknown_heads.is_empty() {
        check.applied = graph.applied(&check.current);
        let gone: Vec<&str> = log
            .iter()
            .filter(|l| !l.dirty && graph.find(&l.revision).is_none())
            .map(|l| l.revision.as_str())
            .collect();
        if !gone.is_empty() {
            check.problems.push(Problem::Other(format!(
                "the log records that {} applied, but this binary has no such revision: its \
                 file was deleted or its id changed after it ran; restore it",
                revisions_were(&gone)
            )));
        }
        log_matches_version(migrations, &rows, &logged, &dirty, &mut check);
        if !log_explains_digests {
            version_digests(migrations, tables, &rows, &dirty, &mut check.problems);
        }
    } else {
        // Ahead: the version rows cannot say which embedded revisions are applied (their
        // ancestry is in the newer binary); the log can.
        check.applied = (0..graph.len())
            .map(|i| logged.get(graph.id(i)).is_some_and(|l| !l.dirty))
            .collect();
        check.ahead = unknown_heads
            .iter()
            .filter(|id| !forged.contains(id))
            .map(|id| (*id).to_owned())
            .collect();
    }
    check
}

/// Rows that could not be read as revchain writes them.
fn damaged_rows(tables: &Tables, rows: &[HeadRow], log: &[LogRow], problems: &mut Vec<Problem>) {
    let describe = |table: &str, n: usize, revision: &str, defect: &str| {
        let named = if revision.is_empty() {
            String::new()
        } else {
            format!(" (revision `{}`)", shorten(revision))
        };
        format!("row {}{named} of the {table} table: {defect}", n + 1)
    };
    let mut damaged: Vec<String> = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        if let Some(defect) = &row.defect {
            damaged.push(describe(
                &tables.version.to_string(),
                n,
                &row.revision,
                defect,
            ));
        }
    }
    for (n, row) in log.iter().enumerate() {
        if let Some(defect) = &row.defect {
            damaged.push(describe(&tables.log.to_string(), n, &row.revision, defect));
        }
    }
    if !damaged.is_empty() {
        problems.push(Problem::Other(format!(
            "revchain's tables hold rows it did not write ({}): they were edited by hand; \
             check the schema, then record the true state with `revchain stamp --purge \
             <revision>` (`base` for none), which rewrites both tables",
            damaged.join("; ")
        )));
    }
}

/// Revisions with more than one row in a table.
fn duplicates(tables: &Tables, rows: &[&HeadRow], log: &[&LogRow], problems: &mut Vec<Problem>) {
    let repeated = |ids: Vec<&str>| -> Vec<String> {
        let mut seen = HashSet::new();
        let mut twice: Vec<String> = ids
            .into_iter()
            .filter(|id| !seen.insert(*id))
            .map(|id| format!("`{}`", shorten(id)))
            .collect();
        twice.sort();
        twice.dedup();
        twice
    };
    for (table, twice) in [
        (
            &tables.version,
            repeated(rows.iter().map(|r| r.revision.as_str()).collect()),
        ),
        (
            &tables.log,
            repeated(log.iter().map(|l| l.revision.as_str()).collect()),
        ),
    ] {
        if !twice.is_empty() {
            problems.push(Problem::Other(format!(
                "the {table} table has several rows for {}: it was edited by hand; record the \
                 true state with `revchain stamp --purge <revision>`",
                twice.join(", ")
            )));
        }
    }
}

/// Each known log row against its embedded revision: its checksum (edited SQL), then its
/// chain digest (changed ancestry), blaming only the first revision whose ancestry changed.
fn logged_revisions(migrations: &Migrations, log: &[&LogRow], check: &mut StateCheck) {
    let graph = migrations.graph();
    let logged: HashMap<&str, &LogRow> = log.iter().map(|l| (l.revision.as_str(), *l)).collect();
    let mut chain_ok = vec![true; graph.len()];
    for (i, rev) in migrations.iter().enumerate() {
        let Some(entry) = logged.get(rev.id()) else {
            continue;
        };
        if entry.checksum.parse::<Digest>() != Ok(rev.checksum()) {
            chain_ok[i] = false;
            check.edited.push(rev.id().to_owned());
            check.problems.push(Problem::Edited {
                id: rev.id().to_owned(),
                path: rev.path().to_owned(),
                applied: shorten(&entry.checksum),
                embedded: rev.checksum().to_string(),
            });
        } else if entry.chain_digest.parse::<Digest>() != Ok(rev.chain_digest()) {
            chain_ok[i] = false;
            let node = graph.node(i);
            if node.parents.iter().all(|&p| chain_ok[p]) {
                check.problems.push(Problem::Other(format!(
                    "{}: revision {} now has other ancestors than when it was applied (its \
                     `Revises` line, or one of an ancestor's, was changed); restore them",
                    rev.path(),
                    rev.id()
                )));
            }
        }
    }
}

/// The log must record exactly the revisions the version rows cover (a dirty mark may be
/// either: a revision being applied or being reverted).
fn log_matches_version(
    migrations: &Migrations,
    rows: &[&HeadRow],
    logged: &HashMap<&str, &LogRow>,
    dirty: &HashSet<&str>,
    check: &mut StateCheck,
) {
    let heads: HashSet<&str> = rows.iter().map(|r| r.revision.as_str()).collect();
    let mut unrecorded_heads: Vec<&str> = Vec::new();
    let mut never_applied: Vec<String> = Vec::new();
    let mut stale: Vec<&str> = Vec::new();
    for (i, rev) in migrations.iter().enumerate() {
        let id = rev.id();
        let in_log = logged.contains_key(id);
        if check.applied[i] && !in_log {
            if heads.contains(id) {
                unrecorded_heads.push(id);
            } else {
                never_applied.push(format!("{} ({})", id, rev.path()));
            }
        } else if !check.applied[i] && in_log && !dirty.contains(id) {
            stale.push(id);
        }
    }
    for (ids, in_log) in [(&stale, true), (&unrecorded_heads, false)] {
        match ids.as_slice() {
            [] => {}
            [one] => check
                .problems
                .push(Problem::Other(log_disagrees(one, in_log))),
            many => check
                .problems
                .push(Problem::Other(log_disagrees_about_many(many, in_log))),
        }
    }
    if !never_applied.is_empty() {
        check.problems.push(Problem::Other(format!(
            "{} an ancestor of the database's heads in this binary, but the database never \
             applied {}: a revision's id (its file's `Revision` line) or a `Revises` line was \
             changed after the revisions ran; restore the original ids and `Revises` lines",
            revisions_are(&never_applied),
            if never_applied.len() == 1 {
                "it"
            } else {
                "them"
            }
        )));
    }
}

/// The version rows must be the heads of what they cover (no row an ancestor of another),
/// each with its revision's chain digest.
fn version_digests(
    migrations: &Migrations,
    tables: &Tables,
    rows: &[&HeadRow],
    dirty: &HashSet<&str>,
    problems: &mut Vec<Problem>,
) {
    let graph = migrations.graph();
    let current: Vec<usize> = rows
        .iter()
        .filter_map(|r| graph.find(&r.revision))
        .collect();
    let heads: HashSet<usize> = graph
        .heads_of(&graph.applied(&current))
        .into_iter()
        .collect();
    let lineages: Vec<(usize, Vec<bool>)> =
        current.iter().map(|&h| (h, graph.lineage([h]))).collect();
    let mut covered: Vec<String> = Vec::new();
    for &i in current.iter().filter(|i| !heads.contains(i)) {
        if let Some((by, _)) = lineages.iter().find(|(h, l)| *h != i && l[i]) {
            covered.push(format!(
                "{} (an ancestor of {})",
                graph.id(i),
                graph.id(*by)
            ));
        }
    }
    if !covered.is_empty() {
        problems.push(Problem::Other(format!(
            "the {} table names {} although it holds one row per head: it was edited by hand; \
             check the schema, then record the true state with `revchain stamp --purge \
             <revision>`",
            tables.version,
            covered.join(", ")
        )));
    }
    let wrong: Vec<&str> = rows
        .iter()
        .filter(|r| !dirty.contains(r.revision.as_str()))
        .filter(|r| {
            migrations
                .position(&r.revision)
                .and_then(|i| migrations.at(i))
                .is_some_and(|rev| r.chain_digest.parse::<Digest>() != Ok(rev.chain_digest()))
        })
        .map(|r| r.revision.as_str())
        .collect();
    if !wrong.is_empty() {
        problems.push(Problem::Other(format!(
            "the version table's digests for {} do not match this binary's although every \
             applied revision does (the table was edited by hand); if the schema is right, \
             re-record it with `revchain stamp --purge heads`",
            wrong.join(", ")
        )));
    }
}

/// What the refusal of version rows that name revisions nobody applied says.
pub(crate) fn forged_heads(forged: &[&str]) -> String {
    let ids = forged
        .iter()
        .map(|id| format!("`{}`", shorten(id)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "the version table names {ids}, which this binary does not know and the log does not \
         record as applied: the version table was edited by hand; if the schema is right, \
         record the true state with `revchain stamp --purge <revision>`"
    )
}

fn revisions_were(ids: &[&str]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| shorten(id)).collect();
    match ids.as_slice() {
        [one] => format!("revision {one} was"),
        many => format!("revisions {} were", many.join(", ")),
    }
}

fn revisions_are(ids: &[String]) -> String {
    match ids {
        [one] => format!("revision {one} is"),
        many => format!("revisions {} are", many.join(", ")),
    }
}

/// [`log_disagrees`] about several revisions at once.
fn log_disagrees_about_many(ids: &[&str], in_log: bool) -> String {
    let (log, version) = if in_log {
        ("records", "does not include")
    } else {
        ("has no record of", "includes")
    };
    format!(
        "the log {log} revisions {} as applied, but the version table {version} them (one of \
         the two was edited by hand); check the schema, then record the true state with \
         `revchain stamp --purge <revision>`",
        ids.join(", ")
    )
}
