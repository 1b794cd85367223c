//! The runtime's errors: every way applying migrations can fail, each with a message that
//! names the revision, its file and line where there is one, and what to do.

use std::time::Duration;

use revchain_core::{Direction, TargetError};

use crate::tables::InvalidTableName;

/// What a failed revision left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// A statement of a revision failed.
    #[error("{path}:{line}: {direction} of revision {id} failed: {message}{}; {}",
        .code.as_ref().map(|c| format!(" (error code {c})")).unwrap_or_default(),
        aftermath_text(*.aftermath, .id))]
    Statement {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The file line of the failed statement.
        line: usize,
        /// Upgrade or downgrade.
        direction: Direction,
        /// The database's message.
        message: String,
        /// The database's error code, when it gives one.
        code: Option<String>,
        /// What the failure left behind.
        aftermath: Aftermath,
    },

    /// The connection broke during a revision: the server ended the session
    /// (`pg_terminate_backend`, `KILL`, a restart) or the network failed.
    #[error("{path}:{line}: the connection to the database was lost during the {direction} of \
        revision {id}: {message}{}; {}",
        .code.as_ref().map(|c| format!(" (error code {c})")).unwrap_or_default(),
        lost_text(*.aftermath, .id))]
    ConnectionLost {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The file line of the statement that was running, or where the revision's SQL
        /// starts when that is not known.
        line: usize,
        /// Upgrade or downgrade.
        direction: Direction,
        /// The driver's or the database's message.
        message: String,
        /// The database's error code, when it gives one.
        code: Option<String>,
        /// What the failure left behind.
        aftermath: Aftermath,
    },

    /// A revision was cancelled while it ran: by an operator (`pg_cancel_backend`,
    /// `KILL QUERY`) or by a timeout (`statement_timeout`, `max_statement_time`). Its SQL
    /// is not at fault.
    #[error("{path}:{line}: the {direction} of revision {id} was cancelled: {message}{}: an \
        operator cancelled it (pg_cancel_backend, KILL QUERY) or a statement timeout expired; \
        this is not an error in the SQL; {}",
        .code.as_ref().map(|c| format!(" (error code {c})")).unwrap_or_default(),
        cancelled_text(*.aftermath, .id))]
    Cancelled {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The file line of the statement that was running.
        line: usize,
        /// Upgrade or downgrade.
        direction: Direction,
        /// The database's message.
        message: String,
        /// The database's error code.
        code: Option<String>,
        /// What the cancellation left behind.
        aftermath: Aftermath,
    },

    /// Every statement of a revision ran, but its `COMMIT` failed: a deferred constraint
    /// (`DEFERRABLE INITIALLY DEFERRED`, SQLite's `PRAGMA defer_foreign_keys`) is checked
    /// only then. The revision was rolled back.
    #[error("{path}:{line}: the {direction} of revision {id} failed at COMMIT: {message}{}; a \
        deferred constraint is checked only when the revision's transaction commits, after all \
        of its statements ran; {}",
        .code.as_ref().map(|c| format!(" (error code {c})")).unwrap_or_default(),
        aftermath_text(Aftermath::RolledBack, .id))]
    CommitFailed {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// The first line of the revision's section (the constraint belongs to no single
        /// statement).
        line: usize,
        /// Upgrade or downgrade.
        direction: Direction,
        /// The database's message.
        message: String,
        /// The database's error code.
        code: Option<String>,
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
         allow this with `allow_database_ahead` during a rolling deploy) or the revision's file \
         was deleted after it ran (restore it); nothing was run", list(.unknown), if .unknown.len() == 1 { "is" } else { "are" })]
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
    #[error("the database's history differs from this binary's: {detail}; nothing was run")]
    Drift {
        /// What differs, naming the first revision concerned.
        detail: String,
    },

    /// The lock could not be taken in time.
    #[error(
        "gave up after {waited:.1?} waiting for the migration lock{}; another process is migrating \
         this database (or is stuck): wait for it, or stop it, then try again",
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

    /// A table name that is not a plain identifier.
    #[error(transparent)]
    InvalidTableName(#[from] InvalidTableName),

    /// The URL names a database this build does not support.
    #[error(
        "`{0}` is not a database URL revchain can use: use postgres://, mysql:// (or mariadb://) \
         or sqlite:// (this build supports: {1})"
    )]
    UnsupportedUrl(String, String),
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
    }
}

fn cancelled_text(a: Aftermath, id: &str) -> String {
    match a {
        Aftermath::Dirty => aftermath_text(a, id),
        _ => format!(
            "the revision was rolled back, so the database is as it was before {id}; run again \
             (with a longer timeout, if one expired)"
        ),
    }
}

fn lost_text(a: Aftermath, id: &str) -> String {
    match a {
        Aftermath::RolledBack => format!(
            "{id} runs in one transaction with its bookkeeping, so the database has all of it \
             or none of it (the version table says which) and nothing after it ran; run again \
             to finish"
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
    /// The error of a revision (`id`, in `path`) whose statement at `line` failed with
    /// `error` at `stage`, leaving `aftermath`: a lost connection, a cancellation, a failed
    /// `COMMIT` or a failed statement.
    pub(crate) fn of_step(
        (id, path): (String, String),
        line: usize,
        direction: Direction,
        error: &sqlx::Error,
        aftermath: Aftermath,
        stage: Stage,
    ) -> Error {
        let (message, code) = (driver_message(error), driver_code(error));
        if is_connection_lost(error) {
            Error::ConnectionLost {
                id,
                path,
                line,
                direction,
                message,
                code,
                aftermath,
            }
        } else if is_cancelled(error) {
            Error::Cancelled {
                id,
                path,
                line,
                direction,
                message,
                code,
                aftermath,
            }
        } else if stage == Stage::Commit {
            Error::CommitFailed {
                id,
                path,
                line,
                direction,
                message,
                code,
            }
        } else {
            Error::Statement {
                id,
                path,
                line,
                direction,
                message,
                code,
                aftermath,
            }
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
