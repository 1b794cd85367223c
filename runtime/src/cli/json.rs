//! `--format json`: the documents the CLI prints, one serde struct per command's output
//! (schema in docs/cli.md, version [`FORMAT`]). Every document is one JSON object on
//! stdout with `"format"` and `"command"` at the top; an error is a document with
//! `"error"` instead of the command's fields.

use std::collections::HashSet;
use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;

use crate::embedded::{Migrations, Revision};
use crate::report::{CurrentHead, Report, RevisionsStatus, Status, StepReport};

/// The version of every JSON document (`"format": 1`): a field is only ever added to it.
pub(crate) const FORMAT: u32 = 1;

/// How the CLI prints what it reads and reports (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Lines for people (Alembic's formats where Alembic has the command).
    #[default]
    Text,
    /// One JSON document on stdout, errors included (docs/cli.md).
    Json,
    /// GitHub workflow annotations (`::error file=…,line=…,col=…,title=…::…`); `lint`
    /// only.
    Github,
    /// One self-contained HTML page: the targets, failures first, and the revision graph
    /// with how many targets sit at each revision; `fleet` only.
    Html,
    /// Graphviz DOT (`revchain graph | dot -Tsvg > graph.svg`); `graph` only (its default).
    Dot,
    /// A Mermaid flowchart (paste it in a ```` ```mermaid ```` block of a README); `graph`
    /// only.
    Mermaid,
}

/// The top of every document: `{"format": 1, "command": "...", ...}`.
#[derive(Serialize)]
pub(crate) struct Document<'a, T: Serialize> {
    format: u32,
    command: &'a str,
    #[serde(flatten)]
    body: T,
}

/// `body` as the document of `command`, pretty-printed, with a final newline.
pub(crate) fn document<T: Serialize>(command: &str, body: T) -> String {
    let doc = Document {
        format: FORMAT,
        command,
        body,
    };
    // A document of strings, numbers and lists cannot fail to serialize.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// A revision of the graph, as `heads`, `history`, `branches` and `show` list it.
#[derive(Serialize)]
pub(crate) struct RevisionJson<'a> {
    id: &'a str,
    parents: Vec<&'a str>,
    depends_on: Vec<&'a str>,
    branch_labels: Vec<&'a str>,
    message: &'a str,
    path: &'a str,
    /// `sql`, `rust` or `repeatable`.
    kind: &'static str,
    transactional: bool,
    reversible: bool,
    create_date: Option<&'a str>,
    is_head: bool,
    is_branch_point: bool,
    is_merge_point: bool,
    is_current: bool,
}

impl<'a> RevisionJson<'a> {
    /// Revision `i` of `m`; `current` marks the database's current revisions.
    pub fn of(m: &'a Migrations, i: usize, current: &HashSet<String>) -> Option<Self> {
        let g = m.graph();
        let rev = m.at(i)?;
        let mut r = Self::of_revision(rev, false);
        r.is_head = g.is_head(i);
        r.is_branch_point = g.is_branch_point(i);
        r.is_merge_point = g.is_merge_point(i);
        r.is_current = current.contains(rev.id());
        Some(r)
    }

    /// `rev` alone (a repeatable revision is outside the graph).
    pub fn of_revision(rev: &'a Revision, repeatable: bool) -> Self {
        RevisionJson {
            id: rev.id(),
            parents: rev.parents().collect(),
            depends_on: rev.depends_on().collect(),
            branch_labels: rev.branch_labels().collect(),
            message: rev.message(),
            path: rev.path(),
            kind: match (repeatable, rev.is_rust()) {
                (true, _) => "repeatable",
                (false, true) => "rust",
                (false, false) => "sql",
            },
            transactional: rev.is_transactional(),
            reversible: rev.is_reversible(),
            create_date: rev.create_date(),
            is_head: false,
            is_branch_point: false,
            is_merge_point: false,
            is_current: false,
        }
    }
}

/// `heads`.
#[derive(Serialize)]
pub(crate) struct Heads<'a> {
    pub heads: Vec<RevisionJson<'a>>,
}

/// `history`: newest first, the repeatable revisions (which run last) first.
#[derive(Serialize)]
pub(crate) struct History<'a> {
    pub revisions: Vec<RevisionJson<'a>>,
}

/// One branch point of `branches` and the revisions that revise it.
#[derive(Serialize)]
pub(crate) struct BranchPoint<'a> {
    pub revision: RevisionJson<'a>,
    pub children: Vec<RevisionJson<'a>>,
}

/// `branches`.
#[derive(Serialize)]
pub(crate) struct Branches<'a> {
    pub branch_points: Vec<BranchPoint<'a>>,
}

/// One revision of `show`, with its SQL.
#[derive(Serialize)]
pub(crate) struct Shown<'a> {
    #[serde(flatten)]
    pub revision: RevisionJson<'a>,
    pub checksum: String,
    /// The upgrade SQL (for a Rust revision, what `show` prints of its code).
    pub upgrade_sql: &'a str,
    /// `null` for an irreversible revision.
    pub downgrade_sql: Option<&'a str>,
}

/// `show`.
#[derive(Serialize)]
pub(crate) struct Show<'a> {
    pub revisions: Vec<Shown<'a>>,
}

/// A current head of `current`.
#[derive(Serialize)]
pub(crate) struct Head<'a> {
    id: &'a str,
    known: bool,
    is_head: bool,
    is_branch_point: bool,
    is_merge_point: bool,
}

impl<'a> From<&'a CurrentHead> for Head<'a> {
    fn from(h: &'a CurrentHead) -> Self {
        Head {
            id: &h.id,
            known: h.known,
            is_head: h.is_head,
            is_branch_point: h.is_branch_point,
            is_merge_point: h.is_merge_point,
        }
    }
}

/// A repeatable revision of `current`: `applied`, `pending` or `missing` (recorded, not
/// shipped).
#[derive(Serialize)]
pub(crate) struct RepeatableJson<'a> {
    id: &'a str,
    state: &'static str,
}

/// The repeatable revisions of `status`, as `current` lists them.
pub(crate) fn repeatables(status: &Status) -> Vec<RepeatableJson<'_>> {
    [
        (&status.repeatables_applied, "applied"),
        (&status.repeatables_pending, "pending"),
        (&status.repeatables_unknown, "missing"),
    ]
    .into_iter()
    .flat_map(|(ids, state)| ids.iter().map(move |id| RepeatableJson { id, state }))
    .collect()
}

/// `current`.
#[derive(Serialize)]
pub(crate) struct Current<'a> {
    pub heads: Vec<Head<'a>>,
    pub repeatables: Vec<RepeatableJson<'a>>,
}

/// The database part of `check` and `status`: where it stands.
#[derive(Serialize)]
pub(crate) struct DatabaseJson<'a> {
    /// `up_to_date`, `behind`, `ahead`, `diverged`, `edited`, `dirty`, `refused`.
    state: &'static str,
    heads: &'a [String],
    applied: usize,
    pending: &'a [String],
    ahead: &'a [String],
    unknown: &'a [String],
    edited: &'a [String],
    dirty: &'a [String],
    repeatables_pending: &'a [String],
    /// Why every command that changes the database refuses it, when it does.
    refusal: Option<&'a str>,
}

impl<'a> From<&'a Status> for DatabaseJson<'a> {
    fn from(s: &'a Status) -> Self {
        DatabaseJson {
            state: state_name(s),
            heads: &s.heads,
            applied: s.applied.len(),
            pending: &s.pending,
            ahead: &s.ahead,
            unknown: &s.unknown,
            edited: &s.edited,
            dirty: &s.dirty,
            repeatables_pending: &s.repeatables_pending,
            refusal: s.refusal.as_deref(),
        }
    }
}

/// The stable name of the database's state.
pub(crate) fn state_name(s: &Status) -> &'static str {
    use crate::report::DatabaseState as S;
    match s.state() {
        S::UpToDate => "up_to_date",
        S::Behind => "behind",
        S::Ahead => "ahead",
        S::Diverged => "diverged",
        S::Edited => "edited",
        S::Dirty => "dirty",
        _ => "refused",
    }
}

/// `check`.
#[derive(Serialize)]
pub(crate) struct Check<'a> {
    pub directory: &'a str,
    pub revisions: usize,
    pub repeatables: usize,
    pub heads: Vec<&'a str>,
    /// With `--database-url`: where the database stands; else `null`.
    pub database: Option<DatabaseJson<'a>>,
}

/// Milliseconds, to the microsecond.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1_000.0
}

/// A revision that ran.
#[derive(Serialize)]
pub(crate) struct Step<'a> {
    id: &'a str,
    message: &'a str,
    duration_ms: f64,
}

impl<'a> From<&'a StepReport> for Step<'a> {
    fn from(s: &'a StepReport) -> Self {
        Step {
            id: &s.id,
            message: &s.message,
            duration_ms: millis(s.duration),
        }
    }
}

/// What `upgrade`, `downgrade` and `stamp` did (and, in an error, what the run applied
/// before the failed revision).
#[derive(Serialize)]
pub(crate) struct Applied<'a> {
    /// `upgrade`, `downgrade`, or `null` (a stamp, or nothing ran).
    direction: Option<String>,
    steps: Vec<Step<'a>>,
    repeatables_applied: Vec<Step<'a>>,
    repeatables_removed: &'a [String],
    stamped: &'a [String],
    unstamped: &'a [String],
    heads_before: &'a [String],
    heads_after: &'a [String],
}

impl<'a> From<&'a Report> for Applied<'a> {
    fn from(r: &'a Report) -> Self {
        Applied {
            direction: r.direction.map(|d| d.to_string()),
            steps: r.steps.iter().map(Step::from).collect(),
            repeatables_applied: r.repeatables_applied.iter().map(Step::from).collect(),
            repeatables_removed: &r.repeatables_removed,
            stamped: &r.stamped,
            unstamped: &r.unstamped,
            heads_before: &r.heads_before,
            heads_after: &r.heads_after,
        }
    }
}

/// `upgrade`, `downgrade`, `stamp`: what ran, and the database's state at the end.
#[derive(Serialize)]
pub(crate) struct Run<'a> {
    #[serde(flatten)]
    pub applied: Applied<'a>,
    pub database: DatabaseJson<'a>,
}

/// A line of `status`.
#[derive(Serialize)]
pub(crate) struct StatusLine<'a> {
    id: &'a str,
    message: Option<&'a str>,
    /// `applied`, `pending`, `edited`, `missing`, `dirty`, `unknown`.
    state: &'static str,
    repeatable: bool,
    applied_at: Option<&'a str>,
    duration_ms: Option<f64>,
}

/// `status`.
#[derive(Serialize)]
pub(crate) struct StatusJson<'a> {
    pub database: DatabaseJson<'a>,
    pub revisions: Vec<StatusLine<'a>>,
}

impl<'a> From<&'a RevisionsStatus> for StatusJson<'a> {
    fn from(v: &'a RevisionsStatus) -> Self {
        StatusJson {
            database: DatabaseJson::from(&v.status),
            revisions: (v.revisions.iter())
                .map(|r| StatusLine {
                    id: &r.id,
                    message: r.message.as_deref(),
                    state: r.state.as_str(),
                    repeatable: r.repeatable,
                    applied_at: r.applied_at.as_deref(),
                    duration_ms: r.duration.map(millis),
                })
                .collect(),
        }
    }
}

/// The `error` of an error document.
#[derive(Serialize)]
pub(crate) struct ErrorJson<'a> {
    /// The stable kind: [`Error::kind`](crate::Error::kind)'s, or the CLI's own.
    pub kind: &'a str,
    pub message: &'a str,
    pub exit_code: u8,
    pub revision: Option<&'a str>,
    pub file: Option<&'a str>,
    pub line: Option<usize>,
    /// For a revision that failed: what the run applied before it.
    pub applied_before: Option<Applied<'a>>,
}

/// The revision, file and line of a runtime error, when it has them.
pub(crate) fn location(e: &crate::Error) -> (Option<String>, Option<String>, Option<usize>) {
    use crate::Error as E;
    match e {
        E::Statement { step, .. }
        | E::ConnectionLost { step, .. }
        | E::Cancelled { step, .. }
        | E::CommitFailed { step, .. }
        | E::CodeFailed { step, .. } => (
            Some(step.id.clone()),
            Some(step.path.clone()),
            Some(step.line),
        ),
        E::Refused { id, path, line, .. } | E::TransactionEnded { id, path, line, .. } => {
            (Some(id.clone()), Some(path.clone()), Some(*line))
        }
        E::Irreversible { id, path }
        | E::Edited { id, path, .. }
        | E::WrongDatabase { id, path, .. }
        | E::CodeNotCompiled { id, path, .. }
        | E::Dirty { id, path, .. } => (Some(id.clone()), Some(path.clone()), None),
        _ => (None, None, None),
    }
}

/// The error document of `e`: `{"format": 1, "error": {...}}`, passwords removed.
pub(crate) fn error_document(e: &super::CliError, redactor: &crate::url::Redactor) -> String {
    #[derive(Serialize)]
    struct Top<'a> {
        format: u32,
        error: ErrorJson<'a>,
    }
    let message = redactor.scrub_message(&e.message);
    let detail = e.detail.as_deref();
    let top = Top {
        format: FORMAT,
        error: ErrorJson {
            kind: e.kind,
            message: &message,
            exit_code: e.code,
            revision: detail.and_then(|d| d.revision.as_deref()),
            file: detail.and_then(|d| d.file.as_deref()),
            line: detail.and_then(|d| d.line),
            applied_before: detail.and_then(|d| d.applied_before.as_ref().map(Applied::from)),
        },
    };
    let mut text = serde_json::to_string_pretty(&top).unwrap_or_default();
    text.push('\n');
    text
}
