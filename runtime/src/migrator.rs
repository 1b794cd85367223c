//! Applying a [`Migrations`] table to a database (DESIGN.md §4).
//!
//! The boot path ([`Migrator::run`]) reads the version table once: when its heads and chain
//! digests equal the embedded heads, the database is up to date and nothing else happens.
//! Otherwise the migration lock is taken, both tables are read again and checked by the
//! one state check that every writing command runs first (`check_state`: damaged rows,
//! edited, renamed or removed revisions, a log that disagrees with the version rows, dirty
//! marks, revisions unknown to this binary), and what is missing is applied, each revision
//! in its own transaction together with its bookkeeping.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use revchain_core::{Direction, Plan, Target, TargetError};
use sqlx::Pool;
use tracing::Instrument;

use crate::backend::{Backend, Failure, HeadRow, LogRow, WaitLog, backoff};
use crate::error::{Aftermath, Error, driver_message};
use crate::report::{CurrentHead, Report, Status, StepReport};
use crate::state::{StateCheck, check_state, refusal_error};
use crate::table::{Migrations, Revision};
use crate::tables::{TableName, Tables, Work};

/// How many times a plan is made again when another process changed the database between
/// planning and applying (SQLite, whose lock is per transaction).
const RACE_RETRIES: usize = 1000;

/// Options for applying a [`Migrations`] table; [`Migrations::run`] and friends use the
/// defaults.
///
/// ```no_run
/// use std::time::Duration;
/// use revchain::{Migrator, TableName};
///
/// static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
///
/// # async fn boot(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let report = Migrator::new(&MIGRATIONS)
///     .version_table(TableName::parse("app_version")?)
///     .log_table(TableName::parse("app_migrations")?)
///     .lock_timeout(Duration::from_secs(120))
///     .allow_database_ahead(true) // an old replica during a rolling deploy
///     .run(&pool)
///     .await?;
/// # let _ = report;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Migrator<'m> {
    migrations: &'m Migrations,
    tables: Tables,
    lock_timeout: Duration,
    allow_ahead: bool,
    span: Option<tracing::Span>,
}

/// What a locked run does.
enum Op {
    Upgrade(Target),
    Downgrade(Target),
    Stamp(Vec<Target>, bool),
}

impl<'m> Migrator<'m> {
    /// A migrator for `migrations` with the defaults: tables `revchain_version` and
    /// `revchain_log`, a 60-second lock timeout, a database ahead of the binary refused.
    pub fn new(migrations: &'m Migrations) -> Migrator<'m> {
        Migrator {
            migrations,
            tables: Tables::default(),
            lock_timeout: Duration::from_secs(60),
            allow_ahead: false,
            span: None,
        }
    }

    /// The version table (one row per current head).
    pub fn version_table(mut self, name: TableName) -> Self {
        self.tables.version = name;
        self
    }

    /// The log table (one row per applied revision).
    pub fn log_table(mut self, name: TableName) -> Self {
        self.tables.log = name;
        self
    }

    /// How long to wait for the migration lock before giving up with
    /// [`Error::LockTimeout`].
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Whether [`run`](Self::run) tolerates a database whose heads this binary does not know
    /// (an old replica during a rolling deploy): it logs a warning and applies nothing.
    pub fn allow_database_ahead(mut self, allow: bool) -> Self {
        self.allow_ahead = allow;
        self
    }

    /// The `tracing` span that revchain's events are recorded in (default: a span named
    /// `revchain` with target `revchain`). Give your own to route or label the events.
    pub fn span(mut self, span: tracing::Span) -> Self {
        self.span = Some(span);
        self
    }

    fn span_or_default(&self) -> tracing::Span {
        self.span
            .clone()
            .unwrap_or_else(|| tracing::info_span!(target: "revchain", "revchain"))
    }

    /// Upgrades to every head: the call an application makes at boot. When the database is
    /// already up to date this is one query and no lock.
    pub async fn run<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Report, Error> {
        self.migrate(pool, Op::Upgrade(Target::Heads), true)
            .instrument(self.span_or_default())
            .await
    }

    /// Upgrades to `target` (`head`, `heads`, an id or prefix, `label@head`, `+N`, …).
    pub async fn upgrade<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        target: &str,
    ) -> Result<Report, Error> {
        let target: Target = target.parse()?;
        self.migrate(pool, Op::Upgrade(target), false)
            .instrument(self.span_or_default())
            .await
    }

    /// Downgrades to `target` (`base`, an id or prefix, `-N`, `<id>-N`, `label@base`, …).
    pub async fn downgrade<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        target: &str,
    ) -> Result<Report, Error> {
        let target: Target = target.parse()?;
        self.migrate(pool, Op::Downgrade(target), false)
            .instrument(self.span_or_default())
            .await
    }

    /// Records `targets` as the database's state without running any SQL. With `purge`,
    /// the version and log tables are emptied first (repairing unknown or dirty states).
    pub async fn stamp<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        targets: &[&str],
        purge: bool,
    ) -> Result<Report, Error> {
        let targets = targets
            .iter()
            .map(|t| t.parse::<Target>())
            .collect::<Result<Vec<_>, _>>()?;
        self.migrate(pool, Op::Stamp(targets, purge), false)
            .instrument(self.span_or_default())
            .await
    }

    /// The database's current heads (the version table), ordered as the table is.
    pub async fn current<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Vec<CurrentHead>, Error> {
        let mut conn = acquire(pool).await?;
        let rows = DB::read_heads(&mut conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the version table", &e))?
            .unwrap_or_default();
        Ok(self.current_heads(&rows))
    }

    /// Where the database stands: applied, pending, unknown, ahead, edited and dirty
    /// revisions, and the refusal that every command that changes the database would give
    /// (the same state check: see [`Status::state`]).
    pub async fn status<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Status, Error> {
        let mut conn = acquire(pool).await?;
        let rows = DB::read_heads(&mut conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the version table", &e))?
            .unwrap_or_default();
        let log = DB::read_log(&mut conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the log table", &e))?;
        let check = check_state(self.migrations, &self.tables, &rows, &log);
        let refusal = check.refusal(false).map(|r| refusal_error(r).to_string());
        let graph = self.migrations.graph();
        let ids = |applied: bool| -> Vec<String> {
            (0..graph.len())
                .filter(|&i| check.applied.get(i).copied().unwrap_or(false) == applied)
                .map(|i| graph.id(i).to_owned())
                .collect()
        };
        Ok(Status {
            applied: ids(true),
            pending: ids(false),
            heads: self
                .current_heads(&rows)
                .into_iter()
                .map(|h| h.id)
                .collect(),
            unknown: check.unknown,
            ahead: check.ahead,
            edited: check.edited,
            dirty: check.dirty,
            refusal,
        })
    }

    fn current_heads(&self, rows: &[HeadRow]) -> Vec<CurrentHead> {
        let graph = self.migrations.graph();
        revchain_core::applied::ordered_heads(graph, rows)
            .into_iter()
            .map(|(index, r)| CurrentHead {
                id: r.revision.clone(),
                known: index.is_some(),
                is_head: index.is_some_and(|i| graph.is_head(i)),
                is_merge_point: index.is_some_and(|i| graph.is_merge_point(i)),
                is_branch_point: index.is_some_and(|i| graph.is_branch_point(i)),
            })
            .collect()
    }

    /// Whether the version rows are exactly the embedded heads with their digests.
    fn at_embedded_heads(&self, rows: &[HeadRow]) -> bool {
        let heads = self.migrations.heads().map(|h| (h.id(), h.chain_digest()));
        revchain_core::applied::at_embedded_heads(heads, rows)
    }

    async fn migrate<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        op: Op,
        boot: bool,
    ) -> Result<Report, Error> {
        self.migrations.warn_if_stale();
        let mut conn = acquire(pool).await?;
        if boot
            && let Ok(Some(rows)) = DB::read_heads(&mut conn, &self.tables).await
            && self.at_embedded_heads(&rows)
        {
            let heads: Vec<String> = rows.into_iter().map(|r| r.revision).collect();
            tracing::debug!(target: "revchain", "the database is up to date");
            return Ok(Report {
                heads_before: heads.clone(),
                heads_after: heads,
                up_to_date: true,
                ..Report::default()
            });
        }
        let done = |rows: &[HeadRow]| self.at_embedded_heads(rows);
        let Some(held) = DB::lock(
            &mut conn,
            &self.tables,
            self.lock_timeout,
            if boot { Some(&done) } else { None },
        )
        .await?
        else {
            // Another process brought the database up to date while this one waited.
            let heads: Vec<String> = self.migrations.heads().map(|h| h.id().to_owned()).collect();
            tracing::debug!(
                target: "revchain",
                "another process brought the database up to date while this one waited for the lock"
            );
            return Ok(Report {
                heads_before: heads.clone(),
                heads_after: heads,
                up_to_date: true,
                ..Report::default()
            });
        };
        let result = self.migrate_locked::<DB>(&mut conn, &op, boot).await;
        if let Err(e) = DB::unlock(&mut conn, &self.tables, held).await {
            tracing::warn!(
                target: "revchain",
                "could not release the migration lock ({}); closing the connection releases it",
                driver_message(&e)
            );
            conn.close_on_drop();
        }
        result
    }

    async fn migrate_locked<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        op: &Op,
        boot: bool,
    ) -> Result<Report, Error> {
        DB::ensure_tables(conn, &self.tables, self.lock_timeout).await?;
        // What this process applied before another one raced it (SQLite): still its work.
        let mut earlier = Earlier::default();
        // Without a session lock (SQLite) a dirty mark may be a `Transactional: false`
        // revision that another process is running right now: wait for it, up to the lock
        // timeout, before refusing.
        let mut dirty_wait: Option<(WaitLog, u32)> = None;
        let mut races = 0;
        // The version rows a plan was made on when it met a step no longer pending, that
        // step's revision and direction.
        let mut raced: Option<(Vec<HeadRow>, String, Direction)> = None;
        while races < RACE_RETRIES {
            let (targets, purge) = match op {
                Op::Stamp(targets, purge) => (targets.as_slice(), *purge),
                Op::Upgrade(_) | Op::Downgrade(_) => (&[][..], false),
            };
            if purge {
                // The repair: it must work whatever the tables hold, so it reads nothing.
                return self.stamp_locked::<DB>(conn, targets, true, &[], &[]).await;
            }
            let (rows, log) = self.read_state::<DB>(conn).await?;
            let check = check_state(self.migrations, &self.tables, &rows, &log);
            match self.refuse_state(&check, &rows, op, boot) {
                Ok(None) => {}
                Ok(Some(tolerated)) => return Ok(tolerated),
                Err(e) => {
                    let (wait, attempt) = dirty_wait.get_or_insert_with(|| (WaitLog::new(), 0));
                    if !self.may_be_running::<DB>(&e) || wait.elapsed() >= self.lock_timeout {
                        return Err(e);
                    }
                    if wait.due()
                        && let Error::Dirty { id, .. } = &e
                    {
                        wait.log(Some(&format!(
                            "the process running revision {id} (if none is, a crashed run \
                             left it dirty)"
                        )));
                    }
                    tokio::time::sleep(backoff(*attempt)).await;
                    *attempt += 1;
                    continue;
                }
            }
            let current = check.current.clone();
            // A race changes the version table (a step and its head rows commit together,
            // and a running `Transactional: false` step is a dirty mark, waited for above):
            // when it is as it was, the log and the version table disagree.
            if let Some((before, id, direction)) = raced.take()
                && before == rows
            {
                return Err(Error::Drift {
                    detail: crate::backend::log_disagrees(&id, direction == Direction::Upgrade),
                });
            }
            let plan = match op {
                Op::Stamp(..) => {
                    return self
                        .stamp_locked::<DB>(conn, targets, false, &current, &log)
                        .await;
                }
                Op::Upgrade(target) => self.migrations.graph().plan_upgrade(target, &current),
                Op::Downgrade(target) => self.migrations.graph().plan_downgrade(target, &current),
            }
            .map_err(|e| self.target_error(e))?;
            crate::preflight::refuse_statements(self.migrations, &plan, DB::DIALECT)?;
            if plan.is_empty() {
                let heads = self.ids(&plan.heads_after);
                tracing::info!(target: "revchain", "nothing to do: the database is at {}", describe(&heads));
                return Ok(earlier.into_report(Report {
                    heads_before: heads.clone(),
                    heads_after: heads,
                    ..Report::default()
                }));
            }
            match self.apply::<DB>(conn, &plan, &mut earlier).await {
                Err(Failure::Raced(id)) => {
                    races += 1;
                    raced = Some((rows, id, plan.direction));
                }
                Ok(report) => return Ok(earlier.into_report(report)),
                Err(f) => return Err(self.failure_error(f, &plan)),
            }
        }
        Err(Error::Drift {
            detail: "other processes kept changing the database while this one planned".into(),
        })
    }

    fn ids(&self, indices: &[usize]) -> Vec<String> {
        let graph = self.migrations.graph();
        indices.iter().map(|&i| graph.id(i).to_owned()).collect()
    }

    fn target_error(&self, e: TargetError) -> Error {
        match e {
            TargetError::Irreversible(id) => Error::Irreversible {
                path: self
                    .migrations
                    .position(&id)
                    .and_then(|i| self.migrations.at(i))
                    .map_or_else(|| "?".to_owned(), |r| r.path().to_owned()),
                id,
            },
            other => Error::Target(other),
        }
    }

    /// Reads the version and the log rows in one read transaction, so that a process
    /// committing a revision meanwhile (SQLite, locked per revision) cannot make them
    /// disagree. Decoding never fails: damaged rows carry their defect.
    async fn read_state<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
    ) -> Result<(Vec<HeadRow>, Vec<LogRow>), Error> {
        use sqlx::Connection as _;
        let mut tx = conn
            .begin()
            .await
            .map_err(|e| Error::db("reading revchain's tables", &e))?;
        let rows = DB::read_heads(&mut tx, &self.tables)
            .await
            .map_err(|e| Error::db("reading the version table", &e))?
            .unwrap_or_default();
        let log = DB::read_log(&mut tx, &self.tables)
            .await
            .map_err(|e| Error::db("reading the log table", &e))?;
        tx.commit()
            .await
            .map_err(|e| Error::db("reading revchain's tables", &e))?;
        Ok((rows, log))
    }

    /// The state check's verdict for `op`, the same for every command that writes: a
    /// damaged, edited or inconsistent state is refused; then a dirty mark (except by a
    /// stamp, which is its repair); then a database ahead of this binary, which a boot run
    /// with [`allow_database_ahead`](Self::allow_database_ahead) tolerates (`Ok(Some(_))`).
    fn refuse_state(
        &self,
        check: &StateCheck,
        rows: &[HeadRow],
        op: &Op,
        boot: bool,
    ) -> Result<Option<Report>, Error> {
        if let Some(refusal) = check.refusal(matches!(op, Op::Stamp(..))) {
            return Err(refusal_error(refusal));
        }
        if check.ahead.is_empty() {
            return Ok(None);
        }
        if boot && self.allow_ahead {
            tracing::warn!(
                target: "revchain",
                "the database is ahead of this binary (it has {}); applying nothing",
                check.ahead.join(", ")
            );
            let heads: Vec<String> = rows.iter().map(|r| r.revision.clone()).collect();
            return Ok(Some(Report {
                heads_before: heads.clone(),
                heads_after: heads,
                database_ahead: true,
                ..Report::default()
            }));
        }
        Err(Error::DatabaseAhead {
            unknown: check.ahead.clone(),
        })
    }

    /// Whether refusal `e` is a dirty mark that another process may be running right now,
    /// so that the run waits for it (up to the lock timeout) before refusing. Only without
    /// a session lock (SQLite), and only for a `Transactional: false` revision (or one this
    /// binary does not know, which a newer one may be running): a transactional one's mark
    /// is a crashed run's.
    fn may_be_running<DB: Backend>(&self, e: &Error) -> bool {
        !DB::SESSION_LOCK
            && match e {
                Error::Dirty { id, .. } => self
                    .migrations
                    .position(id)
                    .and_then(|i| self.migrations.at(i))
                    .is_none_or(|r| !r.is_transactional()),
                _ => false,
            }
    }

    async fn stamp_locked<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        targets: &[Target],
        purge: bool,
        current: &[usize],
        // The dirty log rows (a stamp re-records them).
        dirty_rows: &[LogRow],
    ) -> Result<Report, Error> {
        let graph = self.migrations.graph();
        let start: Vec<usize> = if purge { Vec::new() } else { current.to_vec() };
        let mut heads = start.clone();
        for target in targets {
            heads = graph
                .plan_stamp(target, &heads)
                .map_err(|e| self.target_error(e))?
                .heads_after;
        }
        let before = graph.applied(&start);
        let after = graph.applied(&heads);
        let d = DB::DIALECT;
        let t = &self.tables;
        let dirty: HashSet<&str> = dirty_rows
            .iter()
            .filter(|l| l.dirty)
            .map(|l| l.revision.as_str())
            .collect();
        let revs: Vec<&Revision> = self.migrations.iter().collect();
        let added: Vec<usize> = (0..graph.len())
            .filter(|&i| after[i] && (!before[i] || dirty.contains(revs[i].id())))
            .collect();
        let removed: Vec<usize> = (0..graph.len())
            .rev()
            .filter(|&i| before[i] && !after[i])
            .collect();
        let mut statements = Vec::new();
        if purge {
            statements.extend(t.purge(d));
        } else {
            statements.push(format!("DELETE FROM {}", t.version.quoted(d)));
            let mut gone: Vec<&str> = added
                .iter()
                .chain(&removed)
                .map(|&i| revs[i].id())
                .collect();
            gone.extend(
                dirty
                    .iter()
                    .copied()
                    .filter(|id| graph.find(id).is_none_or(|i| !after[i])),
            );
            for chunk in gone.chunks(500) {
                statements.extend(t.delete_log(d, chunk));
            }
        }
        let head_rows: Vec<(&str, revchain_core::Digest)> = heads
            .iter()
            .map(|&h| (revs[h].id(), revs[h].chain_digest()))
            .collect();
        statements.extend(t.insert_heads(d, &head_rows));
        let to_log: Vec<usize> = if purge {
            (0..graph.len()).filter(|&i| after[i]).collect()
        } else {
            added.clone()
        };
        for &i in &to_log {
            statements.push(t.insert_log(d, revs[i], "0", false, true));
        }
        DB::exec_in_transaction(conn, &statements)
            .await
            .map_err(|e| Error::db("writing the stamp", &e))?;
        let report = Report {
            stamped: to_log.iter().map(|&i| revs[i].id().to_owned()).collect(),
            unstamped: removed.iter().map(|&i| revs[i].id().to_owned()).collect(),
            heads_before: self.ids(&graph.heads_of(&before)),
            heads_after: self.ids(&heads),
            ..Report::default()
        };
        tracing::info!(
            target: "revchain",
            "stamped the database at {} (no SQL ran)",
            describe(&report.heads_after)
        );
        Ok(report)
    }

    /// Applies a plan, logging each revision and a progress line every few seconds.
    /// When another process races it (`Failure::Raced`), the steps done so far go to
    /// `earlier`.
    async fn apply<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        plan: &Plan,
        earlier: &mut Earlier,
    ) -> Result<Report, Failure> {
        let revs: Vec<&Revision> = self.migrations.iter().collect();
        let works: Vec<Work<'_>> = plan
            .steps
            .iter()
            .map(|s| Work {
                revision: revs[s.revision],
                direction: plan.direction,
                remove_heads: s.remove_heads.iter().map(|&h| revs[h].id()).collect(),
                add_heads: s
                    .add_heads
                    .iter()
                    .map(|&h| (revs[h].id(), revs[h].chain_digest()))
                    .collect(),
            })
            .collect();
        let total = works.len();
        let verb = match plan.direction {
            Direction::Upgrade => "applied",
            Direction::Downgrade => "reverted",
        };
        tracing::info!(
            target: "revchain",
            "{} {total} revision(s) from {} to {}",
            match plan.direction { Direction::Upgrade => "upgrading", Direction::Downgrade => "downgrading" },
            describe(&self.ids(&plan.heads_before)),
            describe(&self.ids(&plan.heads_after))
        );
        let durations: Mutex<Vec<Option<Duration>>> = Mutex::new(vec![None; total]);
        let done = AtomicUsize::new(0);
        let progress = |i: usize, took: Duration| {
            if let Some(w) = works.get(i) {
                tracing::info!(
                    target: "revchain",
                    revision = w.revision.id(),
                    "{verb} {} ({}) in {took:.1?}",
                    w.revision.id(),
                    w.revision.message()
                );
            }
            if let Some(slot) = durations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(i)
            {
                *slot = Some(took);
            }
            done.fetch_add(1, Ordering::Relaxed);
        };
        let started = Instant::now();
        let result = {
            let fut = DB::apply(conn, &self.tables, &works, &progress, self.lock_timeout);
            tokio::pin!(fut);
            let mut ticker = tokio::time::interval_at(
                tokio::time::Instant::now() + Duration::from_secs(5),
                Duration::from_secs(5),
            );
            loop {
                tokio::select! {
                    r = &mut fut => break r,
                    _ = ticker.tick() => tracing::info!(
                        target: "revchain",
                        "still migrating: {} of {total} revision(s) {verb} after {:.0?}",
                        done.load(Ordering::Relaxed),
                        started.elapsed()
                    ),
                }
            }
        };
        let durations = durations.into_inner().unwrap_or_else(|p| p.into_inner());
        if matches!(result, Err(Failure::Raced(_))) && durations.iter().any(Option::is_some) {
            earlier.direction.get_or_insert(plan.direction);
            earlier
                .heads_before
                .get_or_insert_with(|| self.ids(&plan.heads_before));
            earlier
                .steps
                .extend(works.iter().zip(&durations).filter_map(|(w, d)| {
                    d.map(|d| StepReport {
                        id: w.revision.id().to_owned(),
                        message: w.revision.message().to_owned(),
                        duration: d,
                    })
                }));
        }
        result?;
        Ok(Report {
            direction: Some(plan.direction),
            steps: works
                .iter()
                .zip(durations)
                .map(|(w, d)| StepReport {
                    id: w.revision.id().to_owned(),
                    message: w.revision.message().to_owned(),
                    duration: d.unwrap_or_default(),
                })
                .collect(),
            heads_before: self.ids(&plan.heads_before),
            heads_after: self.ids(&plan.heads_after),
            ..Report::default()
        })
    }

    fn failure_error(&self, f: Failure, plan: &Plan) -> Error {
        match f {
            Failure::Step {
                index,
                line,
                error,
                aftermath,
                stage,
            } => {
                let rev = plan
                    .steps
                    .get(index)
                    .and_then(|s| self.migrations.at(s.revision));
                let id = rev.map_or_else(|| "?".into(), |r| r.id().to_owned());
                let path = rev.map_or_else(|| "?".into(), |r| r.path().to_owned());
                Error::of_step((id, path), line, plan.direction, &error, aftermath, stage)
            }
            Failure::Raced(_) => Error::Drift {
                detail: "another process changed the database while this one applied revisions"
                    .into(),
            },
            Failure::Other(e) => e,
        }
    }
}

/// The steps a process applied before another process raced it (SQLite, whose lock is per
/// revision): the engine plans again, and the final report still lists them.
#[derive(Default)]
struct Earlier {
    direction: Option<Direction>,
    heads_before: Option<Vec<String>>,
    steps: Vec<StepReport>,
}

impl Earlier {
    fn into_report(self, mut report: Report) -> Report {
        if self.steps.is_empty() {
            return report;
        }
        report.direction = report.direction.or(self.direction);
        if let Some(heads) = self.heads_before {
            report.heads_before = heads;
        }
        let mut steps = self.steps;
        steps.append(&mut report.steps);
        report.steps = steps;
        report
    }
}

fn describe(heads: &[String]) -> String {
    if heads.is_empty() {
        "base".to_owned()
    } else {
        heads.join(", ")
    }
}

async fn acquire<DB: Backend>(pool: &Pool<DB>) -> Result<sqlx::pool::PoolConnection<DB>, Error> {
    pool.acquire()
        .await
        .map_err(|e| Error::db("cannot connect to the database", &e))
}

impl Aftermath {
    /// Whether the database is exactly as before the failed revision.
    pub fn is_clean(self) -> bool {
        matches!(self, Aftermath::RolledBack | Aftermath::NeverRan)
    }
}

impl Migrations {
    /// Upgrades the database to every head: the call to make at boot. When the database is
    /// up to date it costs one query and takes no lock, whatever the number of revisions.
    ///
    /// ```no_run
    /// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    /// # async fn boot(pool: sqlx::SqlitePool) -> Result<(), revchain::Error> {
    /// MIGRATIONS.run(&pool).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Report, Error> {
        Migrator::new(self).run(pool).await
    }

    /// Upgrades to `target`; see [`Migrator::upgrade`].
    pub async fn upgrade<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        target: &str,
    ) -> Result<Report, Error> {
        Migrator::new(self).upgrade(pool, target).await
    }

    /// Downgrades to `target`; see [`Migrator::downgrade`].
    pub async fn downgrade<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        target: &str,
    ) -> Result<Report, Error> {
        Migrator::new(self).downgrade(pool, target).await
    }

    /// Records `target` without running SQL; see [`Migrator::stamp`].
    pub async fn stamp<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        target: &str,
        purge: bool,
    ) -> Result<Report, Error> {
        Migrator::new(self).stamp(pool, &[target], purge).await
    }

    /// The current heads; see [`Migrator::current`].
    pub async fn current<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Vec<CurrentHead>, Error> {
        Migrator::new(self).current(pool).await
    }

    /// Applied, pending, unknown and dirty revisions; see [`Migrator::status`].
    pub async fn status<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Status, Error> {
        Migrator::new(self).status(pool).await
    }
}
