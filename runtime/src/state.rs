//! The one check of the database's bookkeeping (the version and log tables) against the
//! embedded revisions. The check itself is revchain-core's
//! ([`revchain_core::applied`]): pure, and unit-tested there without a database. Here are
//! what the runtime adds: the embedded table as the check's [`Embedded`] revisions, and the
//! one conversion of a refusal into an [`Error`]. Every command that changes the database
//! (`run`, `upgrade`, `downgrade`, `stamp` without `--purge`) runs the check before it
//! plans, and `status` (hence the CLIs' `check`) reports what it found, so they all agree:
//! the same state is refused by every writing command with the same message.

use revchain_core::Graph;
use revchain_core::applied::{
    self, Embedded, EmbeddedRevision, Finding, HeadRow, LogRow, Refusal, TableNames,
};

pub(crate) use revchain_core::applied::StateCheck;

use crate::bookkeeping::Tables;
use crate::embedded::Migrations;
use crate::error::{DriftKind, Error};

impl Embedded for Migrations {
    fn graph(&self) -> &Graph {
        Migrations::graph(self)
    }

    fn revision(&self, index: usize) -> Option<EmbeddedRevision<'_>> {
        self.at(index).map(|r| EmbeddedRevision {
            path: r.path(),
            checksum: r.checksum(),
            chain_digest: r.chain_digest(),
        })
    }

    fn replaces(&self, index: usize) -> Vec<String> {
        self.at(index)
            .map(|r| r.replaces().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn can_catch_up(&self, index: usize) -> bool {
        self.catch_up(index).is_some()
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
    let names = TableNames {
        version: tables.version.to_string(),
        log: tables.log.to_string(),
    };
    applied::check_state(migrations, &names, rows, log)
}

/// The error for a refusal of the state check, naming every finding: one edited revision
/// alone is [`Error::Edited`], other findings [`Error::Drift`], a dirty mark
/// [`Error::Dirty`].
pub(crate) fn refusal_error(refusal: Refusal<'_>) -> Error {
    match refusal {
        Refusal::Findings(
            [
                Finding::Edited {
                    id,
                    path,
                    applied,
                    embedded,
                },
            ],
        ) => Error::Edited {
            id: id.clone(),
            path: path.clone(),
            applied: applied.to_string(),
            embedded: embedded.to_string(),
        },
        Refusal::Findings(findings) => Error::Drift {
            kind: DriftKind::State {
                problems: findings.iter().map(ToString::to_string).collect(),
            },
        },
        Refusal::Dirty(mark) => Error::Dirty {
            if_applied: mark.id.clone(),
            id: mark.id.clone(),
            path: mark.path.clone(),
            direction: mark.direction,
            if_reverted: mark.if_reverted.clone(),
        },
    }
}
