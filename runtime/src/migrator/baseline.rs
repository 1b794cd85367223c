//! A database whose bookkeeping names revisions squashed into a baseline (docs/design.md
//! §2.3): before a write plans, one at the baseline is re-recorded as the baseline, and one
//! in the middle of the range is caught up through the replaced revisions (when their files
//! were loaded). The rule that tells the two apart is core's
//! ([`revchain_core::baseline::fold_rows`], run by the state check).

use revchain_core::Target;
use revchain_core::baseline::Fold;

use super::Migrator;
use crate::backend::{Backend, HeadRow, LogRow};
use crate::bookkeeping::literal;
use crate::error::{DriftKind, Error};
use crate::report::Report;
use crate::state::StateCheck;

impl Migrator<'_> {
    /// Brings the bookkeeping of squashed ranges up to date: `Ok(Some(report))` when it
    /// wrote something (the caller reads the state again), with the revisions a catch-up
    /// applied. Inside the caller's transaction (`in_callers_transaction`) the re-record
    /// joins it, and a catch-up is refused: its revisions run in their own transactions.
    pub(super) async fn settle_baselines<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        check: &StateCheck,
        (rows, log): (&[HeadRow], &[LogRow]),
        in_callers_transaction: bool,
    ) -> Result<Option<Report>, Error> {
        for fold in &check.baselines {
            match fold {
                Fold::Partial { baseline, .. } => {
                    let Some(sub) = self.migrations.catch_up(*baseline) else {
                        continue;
                    };
                    if in_callers_transaction {
                        return Err(Error::Drift {
                            kind: DriftKind::State {
                                problems: vec![format!(
                                    "the database is in the middle of the revisions squashed \
                                     into baseline `{}`; catch it up outside a transaction \
                                     (on a pool or a connection) first",
                                    self.migrations.at(*baseline).map_or("", |r| r.id())
                                )],
                            },
                        });
                    }
                    return self.catch_up::<DB>(conn, sub, rows).await.map(Some);
                }
                Fold::Stands {
                    baseline,
                    replaced_rows,
                    version_rows,
                } => {
                    let statements = self.rerecord_statements(
                        DB::DIALECT,
                        *baseline,
                        replaced_rows,
                        version_rows,
                        log,
                    );
                    let written = if in_callers_transaction {
                        DB::execute(conn, statements.join(";\n")).await
                    } else {
                        DB::exec_in_transaction(conn, &statements).await
                    };
                    written.map_err(|e| Error::db("recording the baseline", &e))?;
                    tracing::info!(
                        target: "revchain",
                        "recorded baseline {} as standing for {} squashed revisions (no SQL ran)",
                        self.migrations.at(*baseline).map_or("", |r| r.id()),
                        replaced_rows.len()
                    );
                    return Ok(Some(Report::default()));
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Upgrades a database in the middle of a squashed range to its END with the replaced
    /// revisions `sub`, in their own order and with their own bookkeeping.
    async fn catch_up<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        sub: &crate::Migrations,
        rows: &[HeadRow],
    ) -> Result<Report, Error> {
        let catch_up = Migrator {
            migrations: sub,
            ..self.clone()
        };
        let current = revchain_core::applied::known_heads(sub.graph(), rows);
        let plan = sub
            .graph()
            .plan_upgrade(&Target::Heads, &current)
            .map_err(|e| catch_up.target_error(e))?;
        crate::preflight::refuse_statements(sub, &plan, DB::DIALECT, None)?;
        tracing::info!(
            target: "revchain",
            "the database is in the middle of a squashed range; catching it up through the \
             replaced revisions first"
        );
        let works = catch_up.works::<DB>(&plan);
        let (report, result) = catch_up.apply::<DB>(conn, &plan, &works, None).await;
        match result {
            Ok(()) => Ok(report),
            Err(failure) => {
                let mut error = catch_up.failure_error(failure, &plan);
                error.set_applied_before(report);
                Err(error)
            }
        }
    }

    /// The statements that record baseline `b` as standing for the replaced revisions the
    /// database has: their log rows become one stamped log row of `b` whose message names
    /// them, and a version row of END becomes one of `b` (the same chain digest).
    fn rerecord_statements(
        &self,
        d: revchain_core::Dialect,
        b: usize,
        replaced_rows: &[String],
        version_rows: &[String],
        log: &[LogRow],
    ) -> Vec<String> {
        let Some(rev) = self.migrations.at(b) else {
            return Vec::new();
        };
        let t = &self.tables;
        let mut statements = Vec::new();
        let ids: Vec<&str> = replaced_rows.iter().map(String::as_str).collect();
        for chunk in ids.chunks(500) {
            statements.extend(t.delete_log(d, chunk));
        }
        if !log.iter().any(|l| l.revision == rev.id()) {
            statements.push(t.insert_log(d, rev, "0", false, true));
            let first = ids.first().copied().unwrap_or("");
            let last = ids.last().copied().unwrap_or("");
            let note = format!(
                "baseline standing for {} squashed revisions {first}…{last}",
                ids.len()
            );
            let note: String = note.chars().take(255).collect();
            statements.push(format!(
                "UPDATE {} SET message = {} WHERE revision = {}",
                t.log.quoted(d),
                literal(d, &note),
                literal(d, rev.id())
            ));
        }
        if !version_rows.is_empty() {
            let heads: Vec<&str> = version_rows.iter().map(String::as_str).collect();
            statements.extend(t.delete_heads(d, &heads));
            statements.extend(t.insert_heads(d, &[(rev.id(), rev.chain_digest())]));
        }
        statements
    }
}
