//! The runtime's errors: every way applying migrations can fail, each with a message that
//! names the revision, its file and line where there is one, and what to do.

use std::time::Duration;

use revchain_core::{Direction, TargetError};

use crate::bookkeeping::InvalidTableName;
use crate::report::Report;

/// What a failed revision left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aftermath {
    /// The revision's transaction was rolled back: the database is as it was before it.
    RolledBack,
    /// Part of the revision may have run (a non-transactional revision, or DDL on
    /// MySQL/MariaDB, which commits implicitly): the revision is marked dirty.
    Dirty,
    /// The database refused the revision before running any of it (PostgreSQL parses a
    /// whole batch of revisions before running it, so a syntax error is found before the
    /// revisions ahead of it run; those were then applied): nothing of it ran.
    NeverRan,
    /// The revision ran inside the caller's transaction (see
    /// [`PoolOrConnection`](crate::PoolOrConnection)): what the run did, the failed
    /// revision's earlier statements included, is in that transaction, uncommitted; the
    /// caller rolls it back.
    InCallersTransaction,
    /// A repeatable revision failed (docs/design.md §4.10): it is not recorded as applied,
    /// so the next run applies it again from the start; where its transaction rolled back,
    /// nothing of it stays. The versioned revisions before it stay applied.
    RepeatableNotRecorded,
}

/// When a revision's statement failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// While one of its statements ran.
    Statement,
    /// At its `COMMIT` (a deferred constraint), after every statement had run.
    Commit,
}

/// An error of the migration runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target could not be resolved, or the move is not possible.
    #[error(transparent)]
    Target(#[from] TargetError),

    /// A downgrade would pass through an irreversible revision; nothing ran.
    #[error(
        "{path}: cannot downgrade through revision {id}: it has no `-- migrate:downgrade` section, \
         so it is irreversible; downgrade to {id} itself (or later), or add a downgrade section; \
         nothing was changed"
    )]
    Irreversible {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
    },

    /// A revision holds a statement it may not hold on this database (transaction control
    /// in a transactional revision, `DELIMITER`, …); nothing ran.
    #[error("{path}:{line}: {direction} of revision {id} refused: {reason}; nothing was changed")]
    Refused {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The file line of the statement.
        line: usize,
        /// Upgrade or downgrade.
        direction: Direction,
        /// What the statement is and what to do.
        reason: String,
    },

    /// A statement of a revision failed. [`source`](std::error::Error::source) is the
    /// driver's error (`sqlx::Error`), with the database's SQLSTATE.
    #[error("{}: {} of revision {} failed: {}{}; {}",
        .step.location(), .step.direction, .step.id, .step.message, code_text(&.step.code),
        aftermath_text(.step.aftermath, &.step.id))]
    Statement {
        /// The revision, the statement and what the failure left behind.
        step: Box<FailedStep>,
        /// The driver's error.
        source: sqlx::Error,
    },

    /// The connection broke during a revision: the server ended the session
    /// (`pg_terminate_backend`, `KILL`, a restart) or the network failed. The step's line
    /// is that of the statement that was running, or where the revision's SQL starts when
    /// that is not known.
    #[error("{}: the connection to the database was lost during the {} of revision {}: {}{}; {}",
        .step.location(), .step.direction, .step.id, .step.message, code_text(&.step.code),
        lost_text(.step.aftermath, &.step.id))]
    ConnectionLost {
        /// The revision, the statement and what the failure left behind.
        step: Box<FailedStep>,
        /// The driver's error.
        source: sqlx::Error,
    },

    /// A revision was cancelled while it ran: by an operator (`pg_cancel_backend`,
    /// `KILL QUERY`) or by a timeout (`statement_timeout`, `max_statement_time`). Its SQL
    /// is not at fault.
    #[error("{}: the {} of revision {} was cancelled: {}{}: an operator cancelled it \
        (pg_cancel_backend, KILL QUERY) or a statement timeout expired; this is not an error in \
        the SQL; {}",
        .step.location(), .step.direction, .step.id, .step.message, code_text(&.step.code),
        cancelled_text(.step.aftermath, &.step.id))]
    Cancelled {
        /// The revision, the statement and what the cancellation left behind.
        step: Box<FailedStep>,
        /// The driver's error.
        source: sqlx::Error,
    },

    /// Every statement of a revision ran, but its `COMMIT` failed: a deferred constraint
    /// (`DEFERRABLE INITIALLY DEFERRED`, SQLite's `PRAGMA defer_foreign_keys`) is checked
    /// only then. The revision was rolled back ([`Aftermath::RolledBack`]); the step's line
    /// is the first line of the revision's section (the constraint belongs to no single
    /// statement).
    #[error("{}: the {} of revision {} failed at COMMIT: {}{}; a deferred constraint is checked \
        only when the revision's transaction commits, after all of its statements ran; {}",
        .step.location(), .step.direction, .step.id, .step.message, code_text(&.step.code),
        aftermath_text(Aftermath::RolledBack, &.step.id))]
    CommitFailed {
        /// The revision and the database's message.
        step: Box<FailedStep>,
        /// The driver's error.
        source: sqlx::Error,
    },

    /// A transactional revision ended its own transaction (`COMMIT`, `ROLLBACK`, `END`,
    /// `BEGIN` in a statement revchain could not see, such as a procedure): what ran before
    /// that may have committed, so revchain did not record it, and marked it dirty.
    #[error("{path}:{line}: the {direction} of revision {id} ended its own transaction (a \
        COMMIT, ROLLBACK or END in it, maybe inside a procedure), so it cannot be applied \
        atomically with its record: what ran before that may have been committed; {id} was not \
        recorded as {}{}; give the revision `-- Transactional: false` if it must control \
        transactions itself",
        if *.direction == Direction::Upgrade { "applied" } else { "reverted" },
        if *.dirty_marked { " and is marked dirty: check the database by hand, then `revchain stamp` it" } else { "" })]
    TransactionEnded {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The first line of the revision's section.
        line: usize,
        /// Upgrade or downgrade.
        direction: Direction,
        /// Whether the revision could be marked dirty.
        dirty_marked: bool,
        /// What this run applied before the revision.
        applied_before: Box<Report>,
    },

    /// A previous run died in the middle of a revision that could not be rolled back.
    #[error(
        "revision {id} ({path}) is marked dirty: a previous {direction} of it stopped part-way \
         (a failed statement or a killed process), and it cannot be rolled back automatically. \
         Check the database by hand and finish or undo the revision's changes, then record the \
         truth: `revchain stamp {if_applied}` if all of its changes are in place, or `revchain \
         stamp {if_reverted}` if none of them are; nothing was run"
    )]
    Dirty {
        /// The revision.
        id: String,
        /// Its file (or `?` when this binary does not know it).
        path: String,
        /// What was running.
        direction: Direction,
        /// The stamp target when the revision's changes are all in place.
        if_applied: String,
        /// The stamp target when none of them are.
        if_reverted: String,
    },

    /// The database holds revisions this binary does not know.
    #[error(
        "the database is ahead of this binary: its version table names {}, which {} not in \
         this binary's migrations: either a newer release migrated the database (deploy it, or \
         allow this with `allow_database_ahead` during a rolling deploy; or, to roll back, \
         `downgrade` to this binary's head, which reverts them from the SQL the log stored) or \
         the revision's file was deleted after it ran (restore it); nothing was run", list(.unknown), if .unknown.len() == 1 { "is" } else { "are" })]
    DatabaseAhead {
        /// The unknown ids.
        unknown: Vec<String>,
    },

    /// An applied revision's upgrade SQL differs from the file.
    #[error(
        "{path}: revision {id} was applied with checksum {applied} but its upgrade section now \
         hashes to {embedded}: the SQL that ran was edited afterwards. Restore the original \
         upgrade section and put the change in a new revision (`revchain revision -m \"...\"`); \
         if the edit is deliberate and the database already matches it, accept it with \
         `revchain stamp --purge heads`; nothing was run"
    )]
    Edited {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The checksum recorded when it ran.
        applied: String,
        /// The checksum of the embedded SQL.
        embedded: String,
    },

    /// The applied history differs from the binary's in some other way.
    #[error("the database's history differs from this binary's: {kind}; nothing was run")]
    Drift {
        /// What differs.
        kind: DriftKind,
    },

    /// The MySQL/MariaDB connection given is inside a transaction: their DDL commits
    /// implicitly, which would end the caller's transaction part-way.
    #[error(
        "the connection is inside a transaction, and MySQL/MariaDB commit DDL implicitly, which \
         would end it part-way: migrate on a connection outside any transaction; nothing was run"
    )]
    InTransaction,

    /// The lock could not be taken in time.
    #[error(
        "gave up after {} waiting for the migration lock{}; another process is migrating \
         this database (or is stuck): wait for it, or stop it, then try again",
        crate::report::human_duration(*.waited),
        .holder.as_ref().map(|h| format!(" (held by {h})")).unwrap_or_default())]
    LockTimeout {
        /// How long it waited.
        waited: Duration,
        /// Who holds it, when the database can tell.
        holder: Option<String>,
    },

    /// A database error outside any revision (connecting, bookkeeping).
    #[error("{context}: {message}")]
    Database {
        /// What revchain was doing.
        context: String,
        /// The database's message (passwords removed).
        message: String,
    },

    /// Taking over the database of another tool was refused ([`Migrator::adopt`],
    /// [`Migrator::take_over`]): every problem, each naming the entry of the tool's table.
    /// Nothing was recorded.
    ///
    /// [`Migrator::adopt`]: crate::Migrator::adopt
    /// [`Migrator::take_over`]: crate::Migrator::take_over
    #[error(
        "cannot adopt the database from {tool}: {}; nothing was recorded",
        revchain_core::applied::describe_findings(.problems)
    )]
    AdoptRefused {
        /// The tool whose table was read.
        tool: revchain_core::import::Tool,
        /// The problems, every one of them.
        problems: Vec<String>,
    },

    /// A table name that is not a plain identifier.
    #[error(transparent)]
    InvalidTableName(#[from] InvalidTableName),

    /// The function of a Rust code revision returned an error that is not a
    /// `sqlx::Error` (those are reported as [`Error::Statement`] and its kin, with the
    /// function's line). [`source`](std::error::Error::source) is the function's error.
    #[error("{}: {} of revision {} failed: `{}()` returned an error: {}; {}",
        .step.location(), .step.direction, .step.id, .step.direction, .step.message,
        aftermath_text(.step.aftermath, &.step.id))]
    CodeFailed {
        /// The revision, the function's line and what the failure left behind.
        step: Box<FailedStep>,
        /// The function's error.
        source: crate::code::BoxError,
    },

    /// A Rust code revision written for one database (the connection type its functions
    /// take) was to run on another; nothing was changed.
    #[error(
        "{path}: revision {id} is Rust code written for {written_for}, but this database is \
         {ran_on}: it cannot run here; make it portable (its functions take \
         `revchain::Connection<'_>`, which runs on any database) or write it for this database; \
         nothing was changed"
    )]
    WrongDatabase {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The database its functions take a connection of.
        written_for: crate::code::CodeDatabase,
        /// The database it was to run on.
        ran_on: String,
    },

    /// A Rust code revision was to run from a table loaded from disk (the standalone
    /// `revchain` tool), which does not contain its compiled code; nothing was changed.
    #[error(
        "revision {id} ({path}) is Rust code: run it with your application's `migrate \
         {direction}` command (the binary that embeds `revchain::migrations!`); the \
         standalone `revchain` tool cannot run Rust code; nothing was changed"
    )]
    CodeNotCompiled {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// Upgrade or downgrade.
        direction: Direction,
    },

    /// The URL names a database this build does not support.
    #[error(
        "`{0}` is not a database URL revchain can use: use postgres://, mysql:// (or mariadb://) \
         or sqlite:// (this build supports: {1})"
    )]
    UnsupportedUrl(String, String),

    /// The run's lease lock (docs/design.md §4.2) expired and another process took it over
    /// (the run stalled longer than the lease's time-to-live), or its row was deleted: the
    /// run stopped before its next revision. What it applied before is applied.
    #[error(
        "the migration lease in table {table} (owner {owner}) was lost: it expired and another \
         process took it over, or its row was deleted; this run stopped before its next \
         revision: run again (a longer lease time-to-live avoids this on a stalling host)"
    )]
    LeaseLost {
        /// The lock table.
        table: String,
        /// The run's owner string.
        owner: String,
    },

    /// A downgrade on a database ahead of this binary (docs/design.md §4.13) found revisions
    /// it cannot revert from the SQL the log stored (none stored, altered, or applied before
    /// revchain stored it): each is named; nothing ran.
    #[error(transparent)]
    Unrevertable(#[from] revchain_core::applied::unknown::RevertError),

    /// The database is outside this binary's compatibility window (docs/design.md §4.14):
    /// it lacks expand-phase revisions of this binary, or has contract-phase revisions of a
    /// newer release. What differs is named; nothing ran.
    #[error(
        "the database is not compatible with this binary{}{}",
        if .pending_expand.is_empty() { String::new() } else { format!(": it lacks this binary's expand-phase revision(s) {} (run `migrate upgrade head --phase expand` with this binary first)", list(.pending_expand)) },
        if .newer_contract.is_empty() { String::new() } else { format!(": it has contract-phase revision(s) {} of a newer release, which broke what this release uses (deploy that release)", list(.newer_contract)) }
    )]
    Incompatible {
        /// This binary's expand-phase revisions that the database has not applied.
        pending_expand: Vec<String>,
        /// Revisions unknown to this binary that the log records as `contract` phase.
        newer_contract: Vec<String>,
    },
}

/// A revision whose statement failed: what [`Error::Statement`], [`Error::ConnectionLost`],
/// [`Error::Cancelled`] and [`Error::CommitFailed`] hold, with what the run applied before
/// it.
///
/// ```no_run
/// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
/// # async fn boot(pool: sqlx::PgPool) {
/// match MIGRATIONS.run(&pool).await {
///     Err(revchain::Error::Statement { step, source }) => {
///         eprintln!("{}:{} failed ({source})", step.path, step.line);
///         eprintln!("applied before it: {:?}", step.applied_before.steps);
///     }
///     other => { let _ = other; }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedStep {
    /// The revision.
    pub id: String,
    /// Its file.
    pub path: String,
    /// The file line of the failed statement.
    pub line: usize,
    /// Upgrade or downgrade.
    pub direction: Direction,
    /// The database's (or the driver's) message, passwords removed.
    pub message: String,
    /// The database's error code (SQLSTATE), when it gives one.
    pub code: Option<String>,
    /// What the failure left behind.
    pub aftermath: Aftermath,
    /// What this run applied before the revision (the steps that committed), as a
    /// successful run would have reported them.
    pub applied_before: Report,
}

impl FailedStep {
    /// `path:line`.
    fn location(&self) -> String {
        format!("{}:{}", self.path, self.line)
    }
}

/// How the database's history differs from this binary's ([`Error::Drift`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriftKind {
    /// The state check found revchain's tables damaged or out of step with the embedded
    /// revisions (deleted, renamed or unknown revisions, hand-edited rows): one sentence per
    /// problem, each naming the revision concerned.
    State {
        /// The problems, every one of them.
        problems: Vec<String>,
    },
    /// While a revision was applied, the log and the version table disagreed about it:
    /// the log records it as applied and the version table does not include it
    /// (`in_log`), or the other way round. One of the two was edited by hand.
    LogDisagrees {
        /// The revision.
        id: String,
        /// Whether the log records it (and the version table does not include it).
        in_log: bool,
    },
    /// Another process changed the database while this one applied revisions.
    Raced,
    /// Other processes kept changing the database while this one planned, every time.
    KeptRacing,
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriftKind::State { problems } => {
                f.write_str(&revchain_core::applied::describe_findings(problems))
            }
            DriftKind::LogDisagrees { id, in_log } => {
                f.write_str(&crate::backend::log_disagrees(id, *in_log))
            }
            DriftKind::Raced => {
                f.write_str("another process changed the database while this one applied revisions")
            }
            DriftKind::KeptRacing => {
                f.write_str("other processes kept changing the database while this one planned")
            }
        }
    }
}

fn code_text(code: &Option<String>) -> String {
    code.as_ref()
        .map(|c| format!(" (error code {c})"))
        .unwrap_or_default()
}

fn list(ids: &[String]) -> String {
    ids.join(", ")
}

fn aftermath_text(a: Aftermath, id: &str) -> String {
    match a {
        Aftermath::RolledBack => format!(
            "the revision was rolled back, so the database is as it was before {id}; fix the SQL \
             and run again"
        ),
        Aftermath::NeverRan => format!(
            "the database rejected {id} before running any of it (it parses a batch of \
             revisions whole), so {id} never ran; the revisions before it were applied; fix \
             the SQL and run again"
        ),
        Aftermath::Dirty => format!(
            "part of the revision may have run and cannot be rolled back, so {id} is marked \
             dirty: repair the database by hand, then `revchain stamp` it"
        ),
        Aftermath::InCallersTransaction => format!(
            "{id} ran inside your transaction, which holds what this run did before the \
             failure, uncommitted: roll the transaction back, fix the SQL and run again"
        ),
        Aftermath::RepeatableNotRecorded => format!(
            "{id} is a repeatable revision: it is not recorded as applied (its transaction was \
             rolled back where the database allows), and the versioned revisions of this run \
             stay applied; fix the SQL and run again, which applies {id} again"
        ),
    }
}

fn cancelled_text(a: Aftermath, id: &str) -> String {
    match a {
        Aftermath::Dirty | Aftermath::InCallersTransaction | Aftermath::RepeatableNotRecorded => {
            aftermath_text(a, id)
        }
        _ => format!(
            "the revision was rolled back, so the database is as it was before {id}; run again \
             (with a longer timeout, if one expired)"
        ),
    }
}

fn lost_text(a: Aftermath, id: &str) -> String {
    match a {
        Aftermath::RolledBack => format!(
            "{id} runs atomically with its bookkeeping, in a transaction that the revisions \
             around it may share, so the database has all of it or none of it, and of the \
             revisions after it at most those of its transaction (the version table says which \
             revisions it has); run again to finish"
        ),
        _ => aftermath_text(a, id),
    }
}

/// Whether a driver error means that a statement was cancelled while it ran: PostgreSQL's
/// `query_canceled` (57014: `pg_cancel_backend`, `statement_timeout`), MySQL's
/// `ER_QUERY_INTERRUPTED` (SQLSTATE 70100: `KILL QUERY`) and statement time limits.
pub(crate) fn is_cancelled(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| matches!(&*c, "57014" | "70100"))
                || db.message().contains("max_statement_time")
                || db.message().contains("maximum statement execution time")
        }
        _ => false,
    }
}

/// Whether a driver error means that the connection is gone, rather than that a statement
/// was refused: an I/O or protocol failure, SQLSTATE class 08 (connection exception), or
/// PostgreSQL's 57P01–57P03 (the server terminated the session or is shutting down).
pub(crate) fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

impl Error {
    /// A stable one-word name of this error, for machines: the `kind` of the CLI's JSON
    /// errors, of a fleet target's failure, and of metrics. Documented in `docs/cli.md`;
    /// a name never changes meaning once released (new variants get new names).
    ///
    /// ```
    /// let e = revchain::Error::LockTimeout { waited: std::time::Duration::from_secs(1), holder: None };
    /// assert_eq!(e.kind(), "lock_timeout");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Target(_) => "target",
            Error::Irreversible { .. } => "irreversible",
            Error::Refused { .. } => "refused_statement",
            Error::Statement { .. } => "statement",
            Error::ConnectionLost { .. } => "connection_lost",
            Error::Cancelled { .. } => "cancelled",
            Error::CommitFailed { .. } => "commit_failed",
            Error::TransactionEnded { .. } => "transaction_ended",
            Error::Dirty { .. } => "dirty",
            Error::DatabaseAhead { .. } => "ahead",
            Error::Edited { .. } => "edited",
            Error::Drift { .. } => "drift",
            Error::InTransaction => "in_transaction",
            Error::LockTimeout { .. } => "lock_timeout",
            Error::Database { .. } => "database",
            Error::AdoptRefused { .. } => "adopt_refused",
            Error::InvalidTableName(_) => "invalid_table_name",
            Error::CodeFailed { .. } => "code_failed",
            Error::WrongDatabase { .. } => "wrong_database",
            Error::CodeNotCompiled { .. } => "code_not_compiled",
            Error::UnsupportedUrl(..) => "unsupported_url",
            Error::LeaseLost { .. } => "lease_lost",
            Error::Unrevertable(_) => "unrevertable",
            Error::Incompatible { .. } => "incompatible",
        }
    }

    /// The error of `step` (its message and code still empty) whose statement failed with
    /// `error` at `stage`: a lost connection, a cancellation, a failed `COMMIT` or a failed
    /// statement.
    pub(crate) fn of_step(mut step: FailedStep, source: sqlx::Error, stage: Stage) -> Error {
        step.message = driver_message(&source);
        step.code = driver_code(&source);
        let step = Box::new(step);
        if is_connection_lost(&source) {
            Error::ConnectionLost { step, source }
        } else if is_cancelled(&source) {
            Error::Cancelled { step, source }
        } else if stage == Stage::Commit {
            Error::CommitFailed { step, source }
        } else {
            Error::Statement { step, source }
        }
    }

    /// The error of code revision `step` (message and code still empty) whose function
    /// returned `error`: a `sqlx::Error` is reported as a failed statement is.
    pub(crate) fn of_code(mut step: FailedStep, error: crate::code::BoxError) -> Error {
        match error.downcast::<sqlx::Error>() {
            Ok(e) => Error::of_step(step, *e, Stage::Statement),
            Err(source) => {
                step.message = crate::url::redact_urls_in(&source.to_string());
                Error::CodeFailed {
                    step: Box::new(step),
                    source,
                }
            }
        }
    }

    /// What this run applied before the revision that failed, for an error of a revision
    /// that ran (or began to run); `None` for the others, which stop a run before it
    /// applies anything.
    pub fn applied_before(&self) -> Option<&Report> {
        match self {
            Error::Statement { step, .. }
            | Error::ConnectionLost { step, .. }
            | Error::Cancelled { step, .. }
            | Error::CommitFailed { step, .. }
            | Error::CodeFailed { step, .. } => Some(&step.applied_before),
            Error::TransactionEnded { applied_before, .. } => Some(applied_before),
            _ => None,
        }
    }

    /// Records `report` as what this run applied before the failed revision.
    pub(crate) fn set_applied_before(&mut self, report: Report) {
        match self {
            Error::Statement { step, .. }
            | Error::ConnectionLost { step, .. }
            | Error::Cancelled { step, .. }
            | Error::CommitFailed { step, .. }
            | Error::CodeFailed { step, .. } => step.applied_before = report,
            Error::TransactionEnded { applied_before, .. } => **applied_before = report,
            _ => {}
        }
    }

    /// Wraps a driver error met while doing `context`.
    pub(crate) fn db(context: impl Into<String>, e: &sqlx::Error) -> Error {
        Error::Database {
            context: context.into(),
            message: driver_message(e),
        }
    }
}

/// The database's own message for a driver error, with any URL in it redacted (sqlx's
/// `Configuration` errors may quote one).
pub(crate) fn driver_message(e: &sqlx::Error) -> String {
    let message = match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    crate::url::redact_urls_in(&message)
}

/// The database's error code, if any.
pub(crate) fn driver_code(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(kind: DriftKind) -> String {
        Error::Drift { kind }.to_string()
    }

    #[test]
    fn drift_kinds_read_as_the_sentences_they_replace() {
        let one = drift(DriftKind::State {
            problems: vec!["revision x is gone".into()],
        });
        assert_eq!(
            one,
            "the database's history differs from this binary's: revision x is gone; nothing was run"
        );
        let two = drift(DriftKind::State {
            problems: vec!["a".into(), "b".into()],
        });
        assert_eq!(
            two,
            "the database's history differs from this binary's: 2 problems: a; b; nothing was run"
        );
        assert_eq!(
            drift(DriftKind::Raced),
            "the database's history differs from this binary's: another process changed the \
             database while this one applied revisions; nothing was run"
        );
        assert_eq!(
            drift(DriftKind::KeptRacing),
            "the database's history differs from this binary's: other processes kept changing \
             the database while this one planned; nothing was run"
        );
        let disagrees = drift(DriftKind::LogDisagrees {
            id: "b2".into(),
            in_log: true,
        });
        assert!(
            disagrees.contains(&crate::backend::log_disagrees("b2", true)),
            "{disagrees}"
        );
    }
}
