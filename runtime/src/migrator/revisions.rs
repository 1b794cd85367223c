//! [`Migrator::revisions_status`]: the per-revision view of [`Migrator::status`] (the
//! `status` command), built on the same state check.

use std::collections::HashMap;
use std::time::Duration;

use super::{Migrator, outside_or_in_savepoint, read_log};
use crate::backend::{Backend, BookkeepingRow};
use crate::bookkeeping::Tables;
use crate::connection::PoolOrConnection;
use crate::error::Error;
use crate::report::{RevisionState, RevisionStatus, RevisionsStatus, Status};

/// What the log records of one revision: when it was applied, how long it took.
type Times = HashMap<String, (Option<String>, Option<Duration>)>;

impl Migrator<'_> {
    /// One line per revision: its [`RevisionState`] by the same state check as
    /// [`status`](Self::status) (which it also returns), and when the log records it applied
    /// and how long it took. The versioned revisions come in table order, then the ones the
    /// database records that this binary lacks, then the repeatable revisions.
    ///
    /// ```no_run
    /// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    /// # async fn f(pool: sqlx::PgPool) -> Result<(), revchain::Error> {
    /// let view = revchain::Migrator::new(&MIGRATIONS).revisions_status(&pool).await?;
    /// for r in &view.revisions {
    ///     println!("{} {}", r.id, r.state.as_str());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn revisions_status<D: PoolOrConnection>(
        &self,
        mut db: D,
    ) -> Result<RevisionsStatus, Error> {
        let mut conn = db.lease().await?;
        let status = self.status_on::<D::Database>(&mut conn).await?;
        let damaged: Vec<String> = read_log::<D::Database>(&mut conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the log table", &e))?
            .into_iter()
            .filter(|row| row.defect.is_some())
            .map(|row| row.revision)
            .collect();
        let times = read_times::<D::Database>(&mut conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the log table", &e))?;
        let revisions = self.lines(&status, &damaged, &times);
        Ok(RevisionsStatus { status, revisions })
    }

    /// The lines of [`revisions_status`](Self::revisions_status).
    fn lines(&self, status: &Status, damaged: &[String], times: &Times) -> Vec<RevisionStatus> {
        let has = |ids: &[String], id: &str| ids.iter().any(|i| i == id);
        let line = |id: &str, message: Option<&str>, state, repeatable| {
            let (applied_at, duration) = match (repeatable, times.get(id)) {
                (false, Some((at, took))) if state != RevisionState::Pending => (at.clone(), *took),
                _ => (None, None),
            };
            RevisionStatus {
                id: id.to_owned(),
                message: message.map(str::to_owned),
                state,
                repeatable,
                applied_at,
                duration,
            }
        };
        let mut out: Vec<RevisionStatus> = (self.migrations.iter())
            .map(|rev| {
                let id = rev.id();
                let state = if has(damaged, id) {
                    RevisionState::Unknown
                } else if has(&status.dirty, id) {
                    RevisionState::Dirty
                } else if has(&status.edited, id) {
                    RevisionState::Edited
                } else if has(&status.applied, id) {
                    RevisionState::Applied
                } else {
                    RevisionState::Pending
                };
                line(id, Some(rev.message()), state, false)
            })
            .collect();
        out.extend(status.unknown.iter().map(|id| {
            let state = if has(damaged, id) {
                RevisionState::Unknown
            } else {
                RevisionState::Missing
            };
            line(id, None, state, false)
        }));
        for rev in self.migrations.repeatables() {
            let id = rev.id();
            let state = if has(&status.repeatables_pending, id) {
                RevisionState::Pending
            } else if has(&status.repeatables_applied, id) {
                RevisionState::Applied
            } else {
                RevisionState::Unknown
            };
            out.push(line(id, Some(rev.message()), state, true));
        }
        out.extend(
            (status.repeatables_unknown.iter())
                .map(|id| line(id, None, RevisionState::Missing, true)),
        );
        out
    }
}

/// When the log records each revision applied and how long it took (none when the table
/// does not exist).
async fn read_times<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &Tables,
) -> Result<Times, sqlx::Error> {
    let rows = outside_or_in_savepoint::<DB, _>(conn, async |c| {
        DB::fetch_all(c, tables.select_log_times(DB::DIALECT)).await
    })
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) if DB::is_missing_table(&e) => return Ok(Times::new()),
        Err(e) => return Err(e),
    };
    Ok(rows
        .iter()
        .filter_map(|row| {
            let id = row.text(0).ok().flatten()?;
            let at = row.text(1).ok().flatten();
            let took = (row.text(2).ok().flatten())
                .and_then(|ms| ms.trim().parse::<u64>().ok())
                .map(Duration::from_millis);
            Some((id, (at, took)))
        })
        .collect())
}
