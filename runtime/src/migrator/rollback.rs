//! Rolling back with an older binary (docs/design.md §4.13): the log's columns that store
//! each revision's downgrade, added to a log table created before them, and the revert of
//! the revisions this binary does not know from that stored SQL, before a downgrade.

use std::time::Duration;

use revchain_core::applied::unknown::{RevertError, RevertStep, StoredRevision, plan_revert};
use revchain_core::{Digest, Direction, Target};

use super::{Migrator, Request};
use crate::backend::{Backend, BookkeepingRow, Failure, HeadRow};
use crate::bookkeeping::{STORED_COLUMNS, Tables, Work};
use crate::embedded::{Revision, RevisionParts};
use crate::error::Error;
use crate::report::Report;

/// What the log stored of a revision this binary does not know, with what its row records
/// besides (to rebuild the revision for the engine).
struct StoredRow {
    stored: StoredRevision,
    message: String,
    checksum: String,
    chain_digest: String,
}

impl<'m> Migrator<'m> {
    /// Adds the stored-downgrade columns to a log table created before them: on PostgreSQL
    /// one `ADD COLUMN IF NOT EXISTS` statement when the catalog lacks one; elsewhere a probe, then each column
    /// added (one that a concurrent run added meanwhile fails, which is fine), then the
    /// probe again. Idempotent; runs under the migration lock.
    pub(super) async fn ensure_stored_columns<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
    ) -> Result<(), Error> {
        let d = DB::DIALECT;
        let fail = |e: sqlx::Error| Error::db("adding the log table's downgrade columns", &e);
        if let Some(sql) = self.tables.add_stored_columns_if_missing(d) {
            // Only when missing: the statement takes an exclusive lock on the log table.
            let present = DB::fetch_all(conn, self.tables.stored_columns_present())
                .await
                .map_err(fail)?;
            if Tables::all_stored_columns(present.len()) {
                return Ok(());
            }
            return DB::execute(conn, sql).await.map_err(fail);
        }
        let probe = self.tables.probe_stored_columns(d);
        if DB::fetch_all(conn, probe.clone()).await.is_ok() {
            return Ok(());
        }
        for name in STORED_COLUMNS {
            // Fails when the column exists already: the probe below says whether all do.
            let _ = DB::execute(conn, self.tables.add_stored_column(d, name)).await;
        }
        DB::fetch_all(conn, probe).await.map(drop).map_err(fail)
    }

    /// A downgrade on a database ahead of this binary (version rows `rows`): every revision
    /// it does not know is reverted from the SQL the log stored, newest first, each named,
    /// once the plan to `target` from the known heads left is checked. Refuses, naming every
    /// revision that cannot be reverted, before anything runs.
    pub(super) async fn revert_unknown<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        rows: &[HeadRow],
        target: &Target,
    ) -> Result<Report, Error> {
        let stored = self.read_stored::<DB>(conn).await?;
        let heads: Vec<String> = rows.iter().map(|r| r.revision.clone()).collect();
        let list: Vec<StoredRevision> = stored.iter().map(|s| s.stored.clone()).collect();
        let steps = plan_revert(self.migrations.graph(), &heads, &list)?;
        if steps.is_empty() {
            return Err(Error::DatabaseAhead { unknown: heads });
        }
        // The plan after the reverts must be possible too, before anything runs.
        let known = self.known_after(&heads, &steps);
        self.plan::<DB>(&Request::Downgrade(target.clone()), target, &known)?;
        let revisions = steps
            .iter()
            .map(|step| self.stored_revision(step, &stored))
            .collect::<Result<Vec<Revision>, Error>>()?;
        let works = self.revert_works(&steps, &revisions, &stored)?;
        let mut report = self.run_reverts::<DB>(conn, &works).await?;
        report.heads_before = heads;
        Ok(report)
    }

    /// The log rows of the revisions this binary does not know.
    async fn read_stored<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
    ) -> Result<Vec<StoredRow>, Error> {
        let fetched = DB::fetch_all(conn, self.tables.select_stored(DB::DIALECT))
            .await
            .map_err(|e| Error::db("reading the downgrades stored in the log table", &e))?;
        let graph = self.migrations.graph();
        Ok(fetched
            .iter()
            .map(stored_row)
            .filter(|s| graph.find(&s.stored.id).is_none())
            .collect())
    }

    /// The known heads once `steps` are done, as graph indices (sorted).
    fn known_after(&self, heads: &[String], steps: &[RevertStep]) -> Vec<usize> {
        let mut current: Vec<&str> = heads.iter().map(String::as_str).collect();
        for step in steps {
            current.retain(|h| !step.remove_heads.iter().any(|r| r == h));
            current.extend(step.add_heads.iter().map(String::as_str));
        }
        let graph = self.migrations.graph();
        let mut known: Vec<usize> = current.iter().filter_map(|h| graph.find(h)).collect();
        known.sort_unstable();
        known.dedup();
        known
    }

    /// The revision the engine runs for `step`: its stored downgrade and row.
    fn stored_revision(&self, step: &RevertStep, stored: &[StoredRow]) -> Result<Revision, Error> {
        let row = find(stored, &step.id)?;
        let digest = |text: &str, what: &str| {
            text.parse::<Digest>().map_err(|_| {
                RevertError::Unrevertable(vec![(
                    step.id.clone(),
                    format!("its {what} is not a digest"),
                )])
            })
        };
        let parents = row.stored.parents.clone().unwrap_or_default();
        Ok(Revision {
            __parts: RevisionParts {
                id: step.id.clone().into(),
                message: row.message.clone().into(),
                parent_ids: parents.join(", ").into(),
                parents: Vec::new().into(),
                depends_on_names: "".into(),
                depends_on: Vec::new().into(),
                branch_labels: "".into(),
                create_date: None,
                transactional: row.stored.transactional.unwrap_or(true),
                upgrade_sql: "".into(),
                upgrade_line: 0,
                downgrade_sql: row.stored.downgrade_sql.clone().map(Into::into),
                downgrade_line: 1,
                path: format!("{} (downgrade_sql of {})", self.tables.log, step.id).into(),
                id_line: 0,
                checksum: digest(&row.checksum, "checksum")?,
                chain_digest: digest(&row.chain_digest, "chain_digest")?,
                code: None,
                replaces: "".into(),
                lock_timeout_ms: 0,
                statement_timeout_ms: 0,
                contract: false,
            },
        })
    }

    /// The engine's steps: each stored revision reverted with its version-table changes.
    fn revert_works<'a>(
        &'a self,
        steps: &'a [RevertStep],
        revisions: &'a [Revision],
        stored: &[StoredRow],
    ) -> Result<Vec<Work<'a>>, Error> {
        let digest_of = |id: &str| -> Result<Digest, Error> {
            if let Ok(rev) = self.migrations.get(id) {
                return Ok(rev.chain_digest());
            }
            let row = find(stored, id)?;
            row.chain_digest.parse::<Digest>().map_err(|_| {
                Error::from(RevertError::Unrevertable(vec![(
                    id.to_owned(),
                    "its chain_digest is not a digest".to_owned(),
                )]))
            })
        };
        steps
            .iter()
            .zip(revisions)
            .map(|(step, revision)| {
                let add_heads = step
                    .add_heads
                    .iter()
                    .map(|h| Ok((h.as_str(), digest_of(h)?)))
                    .collect::<Result<_, Error>>()?;
                Ok(Work {
                    revision,
                    direction: Direction::Downgrade,
                    remove_heads: step.remove_heads.iter().map(String::as_str).collect(),
                    add_heads,
                    traits: Default::default(),
                })
            })
            .collect()
    }

    /// Runs the reverts like downgrade steps (each with its bookkeeping, in its
    /// transaction when `transactional`): the report of those done, or the error of the one
    /// that failed (with those before it).
    async fn run_reverts<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        works: &[Work<'_>],
    ) -> Result<Report, Error> {
        for w in works {
            tracing::info!(
                target: "revchain",
                revision = w.revision.id(),
                "reverting {} (not in this binary) from the SQL it stored when it was applied",
                w.revision.id()
            );
        }
        let times = super::StepTimes::new(works, "reverted");
        let progress = |ended: std::ops::Range<usize>, took: Duration| times.record(ended, took);
        let result = DB::apply(
            conn,
            &self.tables,
            works,
            &progress,
            self.lock_timeout,
            None,
        )
        .await;
        let report = Report {
            direction: Some(Direction::Downgrade),
            steps: times.reports(result.is_ok()),
            ..Report::default()
        };
        match result {
            Ok(()) => Ok(report),
            Err(failure) => {
                let mut error = revert_failure(failure, works);
                error.set_applied_before(report);
                Err(error)
            }
        }
    }
}

/// The row of `id` among `stored`.
fn find<'s>(stored: &'s [StoredRow], id: &str) -> Result<&'s StoredRow, Error> {
    stored.iter().find(|s| s.stored.id == id).ok_or_else(|| {
        Error::from(RevertError::Unrevertable(vec![(
            id.to_owned(),
            "the log has no row for it".to_owned(),
        )]))
    })
}

/// One row of [`Tables::select_stored`](crate::bookkeeping::Tables::select_stored); a cell
/// that cannot be read is taken as NULL (the revision is then refused, named).
fn stored_row<R: BookkeepingRow>(row: &R) -> StoredRow {
    let text = |i: usize| row.text(i).ok().flatten();
    StoredRow {
        stored: StoredRevision {
            id: text(0).unwrap_or_default(),
            parents: text(1).map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            downgrade_sql: text(2),
            downgrade_checksum: text(3),
            transactional: row.flag(4).ok().flatten(),
        },
        message: text(5).unwrap_or_default(),
        checksum: text(6).unwrap_or_default(),
        chain_digest: text(7).unwrap_or_default(),
    }
}

/// The error of a failed revert.
fn revert_failure(failure: Failure, works: &[Work<'_>]) -> Error {
    let revision_at = |i: usize| works.get(i).map(|w| w.revision);
    super::failure_error(failure, Direction::Downgrade, &revision_at)
}
