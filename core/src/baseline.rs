//! Baselines (docs/design.md §2.3): a revision written by `revchain squash` with
//! `Replaces: <ids>` stands for a closed range of older revisions.
//!
//! [`split`] takes the parsed files apart before the graph is built: the main graph holds
//! the baseline and every other revision, with each `Revises`/`Depends On` that names a
//! replaced id rewritten to the baseline; the replaced files still present are kept aside
//! for the catch-up path of a database in the middle of the range ([`Squashed::replaced`]).
//! [`check_replaced`] then proves that those files are the range the baseline says: they
//! form a closed range, and END's chain digest computed from them is `Replaces Digest`.
//!
//! [`fold_rows`] is the state rule: a database whose bookkeeping records every replaced id
//! is at the baseline; one that records some of them is in the middle of the range.

use std::collections::{HashMap, HashSet};

use crate::applied::{HeadRow, LogRow};
use crate::digest::Digest;
use crate::graph;
use crate::history::History;
use crate::parse::RevisionFile;

/// A problem with a baseline or the revisions it replaces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaselineError {
    /// Two baselines replace the same id.
    #[error(
        "{path}:{line}: baseline `{baseline}` replaces `{id}`, which baseline `{other}` \
         replaces too; a revision can be squashed into one baseline only"
    )]
    ReplacedTwice {
        /// The second baseline's file.
        path: String,
        /// Its `Replaces` line.
        line: usize,
        /// The second baseline.
        baseline: String,
        /// The id.
        id: String,
        /// The first baseline.
        other: String,
    },
    /// A revision outside the range names a replaced revision other than END.
    #[error(
        "{path}:{line}: revision `{id}` names `{replaced}`, which baseline `{baseline}` \
         replaces in the middle of its range; only END (`{end}`) may have children or \
         dependents outside the range: make `{id}` revise `{baseline}`"
    )]
    IntoTheMiddle {
        /// The revision's file.
        path: String,
        /// Its `Revises` (or `Depends On`) line.
        line: usize,
        /// The revision.
        id: String,
        /// The replaced id it names.
        replaced: String,
        /// The baseline.
        baseline: String,
        /// The last id of `Replaces`.
        end: String,
    },
    /// Some of the replaced files are present and some are not.
    #[error(
        "{path}:{line}: baseline `{baseline}` replaces {missing}, whose files are missing, \
         while the files of other replaced revisions are present; keep all of them (for \
         databases still in the middle of the range) or delete all of them"
    )]
    PartlyPresent {
        /// The baseline's file.
        path: String,
        /// Its `Replaces` line.
        line: usize,
        /// The baseline.
        baseline: String,
        /// The missing ids, comma separated.
        missing: String,
    },
    /// A replaced revision revises one outside the range that the baseline does not revise.
    #[error(
        "{path}:{line}: revision `{id}`, replaced by baseline `{baseline}`, revises `{parent}`, \
         which is neither in the range nor a parent of the baseline: the replaced revisions \
         must form a closed range"
    )]
    NotClosed {
        /// The replaced revision's file.
        path: String,
        /// Its `Revises` line.
        line: usize,
        /// The replaced revision.
        id: String,
        /// The parent outside the range.
        parent: String,
        /// The baseline.
        baseline: String,
    },
    /// `Replaces Digest` is not END's chain digest as the replaced files compute it.
    #[error(
        "{path}:{line}: baseline `{baseline}` records `Replaces Digest: {written}`, but the \
         replaced files compute {computed} for `{end}`: a replaced file was edited after the \
         squash, or the baseline was; restore the file, or squash again"
    )]
    DigestMismatch {
        /// The baseline's file.
        path: String,
        /// Its `Replaces` line.
        line: usize,
        /// The baseline.
        baseline: String,
        /// END.
        end: String,
        /// The digest written in the baseline (hex).
        written: String,
        /// The digest the files compute (hex).
        computed: String,
    },
    /// `Replaces` without `Replaces Digest`, or the other way round.
    #[error(
        "{path}:{line}: `Replaces` and `Replaces Digest` go together: a baseline written by \
         `revchain squash` has both"
    )]
    KeysApart {
        /// The file.
        path: String,
        /// The line of the key that is there.
        line: usize,
    },
    /// The replaced files do not form a graph by themselves.
    #[error("{0}")]
    Graph(String),
}

/// The files of a directory taken apart by [`split`].
#[derive(Debug, Clone, Default)]
pub struct Squashed {
    /// The main graph's files: every revision but the replaced ones, with references to a
    /// replaced id rewritten to its baseline.
    pub main: Vec<RevisionFile>,
    /// The replaced files still present, as written.
    pub replaced: Vec<RevisionFile>,
}

/// Whether `file` has one of `Replaces` (with ids) and `Replaces Digest` without the other.
fn keys_apart(file: &RevisionFile) -> bool {
    let replaces = file.lines.replaces.is_some() || !file.replaces.is_empty();
    replaces != file.replaces_digest.is_some() || (replaces && file.replaces.is_empty())
}

/// Which baseline replaces each replaced id: id → index of the baseline in `files`.
fn replaced_by(files: &[RevisionFile], errors: &mut Vec<BaselineError>) -> HashMap<String, usize> {
    let mut by: HashMap<String, usize> = HashMap::new();
    for (b, file) in files.iter().enumerate() {
        for id in &file.replaces {
            if let Some(&other) = by.get(id) {
                errors.push(BaselineError::ReplacedTwice {
                    path: file.path.clone(),
                    line: file.lines.replaces.unwrap_or(file.lines.id),
                    baseline: file.id.clone(),
                    id: id.clone(),
                    other: files[other].id.clone(),
                });
            } else {
                by.insert(id.clone(), b);
            }
        }
    }
    by
}

/// Takes `files` apart into the main graph's files and the replaced ones (see the module
/// documentation). Every problem is reported.
pub fn split(files: Vec<RevisionFile>) -> Result<Squashed, Vec<BaselineError>> {
    let mut errors: Vec<BaselineError> = (files.iter())
        .filter(|f| keys_apart(f))
        .map(|f| BaselineError::KeysApart {
            path: f.path.clone(),
            line: f.lines.replaces.unwrap_or(f.lines.id),
        })
        .collect();
    let by = replaced_by(&files, &mut errors);
    if by.is_empty() {
        return Ok(Squashed {
            main: files,
            replaced: Vec::new(),
        });
    }
    let present: HashSet<&str> = files.iter().map(|f| f.id.as_str()).collect();
    for file in files.iter().filter(|f| !f.replaces.is_empty()) {
        let missing: Vec<&str> = (file.replaces.iter())
            .map(String::as_str)
            .filter(|id| !present.contains(id))
            .collect();
        if !missing.is_empty() && missing.len() < file.replaces.len() {
            errors.push(BaselineError::PartlyPresent {
                path: file.path.clone(),
                line: file.lines.replaces.unwrap_or(file.lines.id),
                baseline: file.id.clone(),
                missing: missing.join(", "),
            });
        }
    }
    let ids: Vec<String> = files.iter().map(|f| f.id.clone()).collect();
    // Each baseline's END, also of a baseline that a later one replaces.
    let ends: HashMap<String, String> = (files.iter())
        .filter_map(|f| f.replaces.last().map(|end| (f.id.clone(), end.clone())))
        .collect();
    let (replaced, mut main): (Vec<RevisionFile>, Vec<RevisionFile>) =
        files.into_iter().partition(|f| by.contains_key(&f.id));
    let baseline_of = |id: &str| by.get(id).map(|&b| &ids[b]);
    for file in &mut main {
        let own = file.id.clone();
        let (path, line) = (file.path.clone(), file.revises_line());
        let dep_line = file.lines.depends_on.unwrap_or(line);
        let mut rewrite = |names: &mut Vec<String>, line: usize| {
            let mut out: Vec<String> = Vec::with_capacity(names.len());
            for name in names.iter() {
                // A baseline replaced by a later one resolves on to that one.
                let mut target = name.clone();
                for _ in 0..=ids.len() {
                    let Some(b) = baseline_of(&target) else {
                        break;
                    };
                    if ends.get(b) != Some(&target) {
                        errors.push(BaselineError::IntoTheMiddle {
                            path: path.clone(),
                            line,
                            id: own.clone(),
                            replaced: target.clone(),
                            baseline: b.clone(),
                            end: ends.get(b).cloned().unwrap_or_default(),
                        });
                    }
                    target = b.clone();
                }
                if target == own {
                    continue;
                }
                if !out.contains(&target) {
                    out.push(target);
                }
            }
            *names = out;
        };
        rewrite(&mut file.parents, line);
        rewrite(&mut file.depends_on, dep_line);
    }
    if errors.is_empty() {
        Ok(Squashed { main, replaced })
    } else {
        Err(errors)
    }
}

/// Checks the replaced files still present against their baselines in `history` (the main
/// graph): parents outside the range are the baseline's parents, and END's chain digest as
/// they compute it is the baseline's `Replaces Digest`.
pub fn check_replaced(history: &History, replaced: &[RevisionFile]) -> Vec<BaselineError> {
    let mut errors = Vec::new();
    for (b, file) in history.revisions().iter().enumerate() {
        if file.replaces.is_empty() || !replaced.iter().any(|r| r.id == file.replaces[0]) {
            continue;
        }
        let range: Vec<RevisionFile> = (file.replaces.iter())
            .filter_map(|id| replaced.iter().find(|r| &r.id == id).cloned())
            .collect();
        if let Err(e) = check_range(history, b, &range, replaced) {
            errors.extend(e);
        }
    }
    errors
}

/// The chain digests of `range` (replaced files of baseline `b`), in their own order;
/// outside parents take their digests from the main graph.
fn check_range(
    history: &History,
    b: usize,
    range: &[RevisionFile],
    replaced: &[RevisionFile],
) -> Result<(), Vec<BaselineError>> {
    let baseline = &history.revisions()[b];
    let in_range: HashSet<&str> = range.iter().map(|r| r.id.as_str()).collect();
    // A parent replaced by an older baseline in the range stands for that baseline.
    let older: HashMap<&str, &str> = (replaced.iter())
        .flat_map(|f| f.replaces.iter().map(move |r| (r.as_str(), f.id.as_str())))
        .collect();
    let resolve = |p: &str| -> String {
        let mut p = p;
        for _ in 0..=older.len() {
            match older.get(p) {
                Some(b) if !in_range.contains(p) => p = b,
                _ => break,
            }
        }
        p.to_owned()
    };
    let mut range = range.to_vec();
    for r in &mut range {
        r.parents = r.parents.iter().map(|p| resolve(p)).collect();
    }
    let range = &range[..];
    let outside: Vec<String> = (baseline.parents.iter()).map(String::clone).collect();
    let mut errors = Vec::new();
    let mut trimmed = range.to_vec();
    for r in &mut trimmed {
        for p in &r.parents {
            if !in_range.contains(p.as_str()) && !outside.contains(p) {
                errors.push(BaselineError::NotClosed {
                    path: r.path.clone(),
                    line: r.revises_line(),
                    id: r.id.clone(),
                    parent: p.clone(),
                    baseline: baseline.id.clone(),
                });
            }
        }
        r.parents.retain(|p| in_range.contains(p.as_str()));
        r.depends_on.retain(|d| in_range.contains(d.as_str()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (_, order) = graph::build(&trimmed).map_err(|es| {
        es.into_iter()
            .map(|e| BaselineError::Graph(e.to_string()))
            .collect::<Vec<_>>()
    })?;
    let mut digests: HashMap<&str, Digest> = HashMap::new();
    for &i in &order {
        let file = &range[i];
        let parents: Vec<Digest> = (file.parents.iter())
            .map(|p| match digests.get(p.as_str()) {
                Some(d) => *d,
                None => history
                    .graph()
                    .find(p)
                    .map_or(Digest::of(b""), |i| history.chain_digest(i)),
            })
            .collect();
        let own = file
            .replaces_digest
            .unwrap_or_else(|| Digest::chain(&file.checksum(), parents.iter()));
        digests.insert(&file.id, own);
    }
    let end = baseline.replaces.last().map(String::as_str).unwrap_or("");
    let computed = digests.get(end).copied().unwrap_or(Digest::of(b""));
    let written = history.chain_digest(b);
    if computed != written {
        return Err(vec![BaselineError::DigestMismatch {
            path: baseline.path.clone(),
            line: baseline.lines.replaces.unwrap_or(baseline.lines.id),
            baseline: baseline.id.clone(),
            end: end.to_owned(),
            written: written.to_hex(),
            computed: computed.to_hex(),
        }]);
    }
    Ok(())
}

/// What the bookkeeping says about one baseline, read by [`fold_rows`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fold {
    /// Every replaced id is recorded: the database is at (or past) the baseline. The next
    /// write replaces the rows of `replaced_rows` by one log row of the baseline, and the
    /// version rows of `version_rows` (END) by one of the baseline.
    Stands {
        /// The baseline's graph index.
        baseline: usize,
        /// The replaced ids that have log rows.
        replaced_rows: Vec<String>,
        /// The replaced ids that have version rows.
        version_rows: Vec<String>,
    },
    /// Some replaced ids are recorded, not all: the database is in the middle of the range.
    Partial {
        /// The baseline's graph index.
        baseline: usize,
        /// The replaced ids recorded, in `Replaces` order.
        applied: Vec<String>,
        /// The replaced ids not recorded, in `Replaces` order.
        missing: Vec<String>,
    },
}

impl Fold {
    /// The message refusing a database in the middle of the range of `baseline` when the
    /// replaced files are gone.
    pub fn refusal(&self, baseline_id: &str) -> Option<String> {
        let Fold::Partial {
            applied, missing, ..
        } = self
        else {
            return None;
        };
        let end = missing.last().map_or("", String::as_str);
        let first = missing.first().map_or("", String::as_str);
        Some(format!(
            "the database is in the middle of the revisions squashed into baseline `{baseline_id}`: \
             it has {} of them ({}) but not {} ({}), and their files are gone; upgrade to \
             `{end}` with a release that still ships {first}…{end} first, then run this one",
            applied.len(),
            crate::applied::shorten(&applied.join(", ")),
            missing.len(),
            crate::applied::shorten(&missing.join(", ")),
        ))
    }
}

/// The rows as the state check reads them once every baseline is folded in (the rows of
/// replaced ids of a baseline that [`Fold::Stands`] become the baseline's), and what was
/// found per baseline. `replaces(i)` is the `Replaces` list of graph index `i`, `log_row(i)`
/// the log row a baseline would have (its checksum and chain digest).
pub fn fold_rows<'a>(
    baselines: impl IntoIterator<Item = (usize, &'a [String], LogRow)>,
    heads: &[HeadRow],
    log: &[LogRow],
) -> (Vec<HeadRow>, Vec<LogRow>, Vec<Fold>) {
    let mut heads = heads.to_vec();
    let mut log = log.to_vec();
    let mut folds = Vec::new();
    for (baseline, replaces, row) in baselines {
        let logged: HashSet<&str> = (log.iter())
            .filter(|l| l.defect.is_none() && !l.dirty)
            .map(|l| l.revision.as_str())
            .collect();
        let applied: Vec<String> = (replaces.iter())
            .filter(|id| logged.contains(id.as_str()))
            .cloned()
            .collect();
        if applied.is_empty() {
            continue;
        }
        if applied.len() < replaces.len() {
            let missing = (replaces.iter())
                .filter(|id| !logged.contains(id.as_str()))
                .cloned()
                .collect();
            folds.push(Fold::Partial {
                baseline,
                applied,
                missing,
            });
            continue;
        }
        let is_replaced = |id: &str| replaces.iter().any(|r| r == id);
        let version_rows: Vec<String> = (heads.iter())
            .filter(|h| is_replaced(&h.revision))
            .map(|h| h.revision.clone())
            .collect();
        let digest = (heads.iter())
            .find(|h| is_replaced(&h.revision))
            .and_then(|h| h.chain_digest);
        heads.retain(|h| !is_replaced(&h.revision));
        if !version_rows.is_empty() {
            heads.push(HeadRow {
                revision: row.revision.clone(),
                chain_digest: digest,
                defect: None,
            });
        }
        log.retain(|l| !is_replaced(&l.revision));
        if !log.iter().any(|l| l.revision == row.revision) {
            log.push(row);
        }
        folds.push(Fold::Stands {
            baseline,
            replaced_rows: applied,
            version_rows,
        });
    }
    (heads, log, folds)
}

/// The words that make a statement change data rather than schema.
const DML: [&str; 7] = [
    "INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "REPLACE", "UPSERT",
];

/// Whether revision `file` changes data, so that a baseline does not carry what it did:
/// its upgrade holds a DML statement (found with the splitter and the lexer, so words in
/// strings and comments do not count), or it is not an SQL revision (a code revision).
pub fn changes_data(file: &RevisionFile) -> bool {
    if !file.path.ends_with(".sql") {
        return true;
    }
    let dialect = crate::split::Dialect::Generic;
    crate::split::split_statements(&file.upgrade.sql, dialect)
        .iter()
        .any(|st| {
            crate::lex::tokens(st.sql, dialect)
                .iter()
                .filter(|t| !t.is_trivia())
                .any(|t| DML.iter().any(|w| t.is_word(w)))
        })
}

/// The revisions `squash [START:]END` replaces, in graph order: END and its ancestors
/// (through `Revises` and `Depends On`), less the ancestors of START's parents.
pub fn range(graph: &crate::Graph, start: Option<usize>, end: usize) -> Vec<usize> {
    let ancestors = graph.ancestors_with_dependencies([end]);
    let before = match start {
        Some(s) => graph.ancestors_with_dependencies(graph.node(s).parents.iter().copied()),
        None => vec![false; graph.len()],
    };
    (0..graph.len())
        .filter(|&i| ancestors[i] && !before[i])
        .collect()
}

/// Why a range cannot be squashed: a revision outside it names one inside other than END
/// (a child or a dependent into the middle), as `id` → `named`.
pub fn open_edges(graph: &crate::Graph, range: &[usize], end: usize) -> Vec<(String, String)> {
    let inside: HashSet<usize> = range.iter().copied().collect();
    let mut open = Vec::new();
    for (i, node) in graph.nodes().iter().enumerate() {
        if inside.contains(&i) {
            continue;
        }
        for &p in node.parents.iter().chain(&node.depends_on) {
            if inside.contains(&p) && p != end {
                open.push((node.id.clone(), graph.id(p).to_owned()));
            }
        }
    }
    open
}

/// The parents of the range outside it, in graph order: the baseline's `Revises`.
pub fn outside_parents(graph: &crate::Graph, range: &[usize]) -> Vec<usize> {
    let inside: HashSet<usize> = range.iter().copied().collect();
    let mut parents: Vec<usize> = range
        .iter()
        .flat_map(|&i| graph.node(i).parents.iter().copied())
        .filter(|p| !inside.contains(p))
        .collect();
    parents.sort_unstable();
    parents.dedup();
    parents
}

/// Adds a baseline's keys and notes to the text `render` wrote for it: `Replaces` and
/// `Replaces Digest` after `Revises`, and one description line per `note` after the
/// message (docs/design.md §2.3). The result is parsed back to prove it reads as meant.
pub fn add_baseline_keys(
    text: &str,
    replaces: &[String],
    digest: Digest,
    notes: &[String],
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 64 * replaces.len());
    let mut message_done = false;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if !message_done {
            message_done = true;
            for note in notes {
                out.push_str("-- ");
                out.push_str(note);
                out.push('\n');
            }
        }
        if line.starts_with("-- Revises:") {
            out.push_str(&format!("-- Replaces: {}\n", replaces.join(", ")));
            out.push_str(&format!("-- Replaces Digest: {digest}\n"));
        }
    }
    let parsed = crate::parse::parse("baseline", &out).map_err(|es| {
        es.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    if parsed.replaces != replaces || parsed.replaces_digest != Some(digest) {
        return Err("the baseline's header does not read back as written".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
