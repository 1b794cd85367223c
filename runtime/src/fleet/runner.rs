//! The fleet runner: every target worked on with bounded concurrency, in waves (the canary
//! first), each with its own small pool, its outcome one [`TargetReport`].

#[cfg(feature = "postgres")]
use std::str::FromStr as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::StreamExt as _;

use super::target::{Target, TargetsError, check_url};
use super::{FleetReport, TargetError, TargetReport, TargetState};
use crate::error::Error;
use crate::migrator::Migrator;
use crate::pool::{AnyPool, ConnectError, on_any};
use crate::report::{DatabaseState, Report, Status};
use crate::url::Redactor;

/// What a fleet command does on each target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Upgrade to a target (`head`, `heads`, an id…). To `head` or `heads`, a target
    /// already there costs one query and takes no lock (the boot check of
    /// [`Migrator::run`]).
    Upgrade(String),
    /// Downgrade to a target (`base`, an id, `-1`…).
    Downgrade(String),
    /// Read each target's state (nothing changes).
    Status,
    /// Like `Status`: the report is the same; the CLI shows only the targets not at the
    /// goal.
    Check,
}

impl Action {
    /// The command's name in the report: `upgrade`, `downgrade`, `status`, `check`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Upgrade(_) => "upgrade",
            Action::Downgrade(_) => "downgrade",
            Action::Status => "status",
            Action::Check => "check",
        }
    }

    fn changes(&self) -> bool {
        matches!(self, Action::Upgrade(_) | Action::Downgrade(_))
    }
}

/// A fleet run: one [`Migrator`]'s configuration applied to many targets.
///
/// `jobs` targets are worked on at once, each on its own pool of at most two connections
/// (so at most `2 × jobs` connections are open). The first `canary` targets form a wave of
/// their own; when more than `max_failures` targets have failed, no new target is started
/// (the canary wave's failures count: with the default `max_failures` of 0, one failed
/// canary stops the fleet). Targets not started are reported [`TargetState::Behind`] with
/// the error kind `skipped`. `status` and `check` read every target and never stop.
///
/// ```no_run
/// use revchain::fleet::{Action, Fleet, Target};
///
/// static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
///
/// # async fn f() {
/// let targets = vec![
///     Target::Database("postgres://app@db1/tenant_1".into()),
///     Target::Schema { url: "postgres://app@db2/main".into(), schema: "tenant_2".into() },
/// ];
/// let report = Fleet::new(revchain::Migrator::new(&MIGRATIONS))
///     .jobs(8)
///     .canary(1)
///     .run(&Action::Upgrade("heads".into()), &targets, &|t| println!("{} {}", t.target, t.state.as_str()))
///     .await;
/// assert!(report.all_at_goal());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Fleet<'m> {
    migrator: Migrator<'m>,
    jobs: usize,
    canary: usize,
    max_failures: usize,
}

/// The default number of targets worked on at once.
pub const DEFAULT_JOBS: usize = 8;

impl<'m> Fleet<'m> {
    /// A fleet run with `migrator`'s revisions, tables and lock settings, `DEFAULT_JOBS`
    /// targets at once, no canary wave, stopping at the first failure.
    pub fn new(migrator: Migrator<'m>) -> Fleet<'m> {
        Fleet {
            migrator,
            jobs: DEFAULT_JOBS,
            canary: 0,
            max_failures: 0,
        }
    }

    /// How many targets are worked on at once (at least 1).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// How many targets form the first wave, finished before any other starts.
    pub fn canary(mut self, canary: usize) -> Self {
        self.canary = canary;
        self
    }

    /// How many failed targets are tolerated before no new target is started.
    pub fn max_failures(mut self, max_failures: usize) -> Self {
        self.max_failures = max_failures;
        self
    }

    /// Runs `action` on every target; `on_done` is called as each target ends (for a
    /// progress line or a per-target log). The report lists the targets in the order
    /// given.
    pub async fn run(
        &self,
        action: &Action,
        targets: &[Target],
        on_done: &(dyn Fn(&TargetReport) + Sync),
    ) -> FleetReport {
        let start = Instant::now();
        let mut report = FleetReport::new(action.name(), self.goal(action));
        let failures = AtomicUsize::new(0);
        let canary = self.canary.min(targets.len());
        let (first, rest) = targets.split_at(canary);
        for wave in [first, rest] {
            report
                .targets
                .extend(self.wave(action, wave, &failures, on_done).await);
        }
        report.elapsed_ms = millis(start);
        report
    }

    /// The revisions the targets should end at: the heads for `upgrade head(s)`,
    /// `status` and `check`; the target as given otherwise.
    fn goal(&self, action: &Action) -> Vec<String> {
        match action {
            Action::Upgrade(t) | Action::Downgrade(t) if !is_heads(action, t) => vec![t.clone()],
            _ => self
                .migrator
                .migrations()
                .heads()
                .map(|h| h.id().to_owned())
                .collect(),
        }
    }

    /// One wave: its targets with `jobs` at once, none started once failures pass
    /// `max_failures` (for the commands that change the databases).
    async fn wave(
        &self,
        action: &Action,
        targets: &[Target],
        failures: &AtomicUsize,
        on_done: &(dyn Fn(&TargetReport) + Sync),
    ) -> Vec<TargetReport> {
        let stop = |f: usize| action.changes() && f > self.max_failures;
        let mut reports: Vec<(usize, TargetReport)> =
            futures_util::stream::iter(targets.iter().enumerate())
                .map(|(i, target)| async move {
                    let report = if stop(failures.load(Ordering::SeqCst)) {
                        skipped(target, self.max_failures)
                    } else {
                        let r = self.one(action, target).await;
                        if !r.state.is_at_goal() {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                        r
                    };
                    on_done(&report);
                    (i, report)
                })
                .buffer_unordered(self.jobs)
                .collect()
                .await;
        reports.sort_by_key(|(i, _)| *i);
        reports.into_iter().map(|(_, r)| r).collect()
    }

    /// `action` on one target, from connecting to closing its pool.
    async fn one(&self, action: &Action, target: &Target) -> TargetReport {
        let start = Instant::now();
        let redactor = Redactor::for_url(target.url());
        let mut report = match self.migrator_for(target) {
            Ok(migrator) => match connect(target, action).await {
                Ok(pool) => {
                    let r = act(&migrator, &pool, action, target, &redactor).await;
                    pool.close().await;
                    r
                }
                Err(message) => failed(target, TargetState::Unreachable, "connect", message),
            },
            Err(e) => failed(
                target,
                TargetState::Failed,
                e.kind(),
                redactor.scrub_message(&e.to_string()),
            ),
        };
        report.duration_ms = millis(start);
        report
    }

    /// The migrator of `target`: for a schema, with its tables in the schema.
    /// Its log lines carry the target (redacted).
    fn migrator_for(&self, target: &Target) -> Result<Migrator<'m>, Error> {
        let m = match target {
            Target::Database(_) => self.migrator.clone(),
            Target::Schema { schema, .. } => self.migrator.in_schema(schema)?,
        };
        let shown = target.shown();
        Ok(m.span(tracing::info_span!(target: "revchain", "revchain", target = %shown)))
    }
}

/// `upgrade head` / `upgrade heads`: the boot path, one query when already there.
fn is_heads(action: &Action, target: &str) -> bool {
    matches!(action, Action::Upgrade(_)) && matches!(target, "head" | "heads")
}

/// `action` on `pool`, as one target's report.
async fn act(
    m: &Migrator<'_>,
    pool: &AnyPool,
    action: &Action,
    target: &Target,
    redactor: &Redactor,
) -> TargetReport {
    let done = match action {
        Action::Upgrade(t) if is_heads(action, t) => on_any!(pool, p => m.run(p).await),
        Action::Upgrade(t) => on_any!(pool, p => m.upgrade(p, t).await),
        Action::Downgrade(t) => on_any!(pool, p => m.downgrade(p, t).await),
        Action::Status | Action::Check => {
            return match on_any!(pool, p => m.status(p).await) {
                Ok(status) => of_status(target, &status),
                Err(e) => of_error(target, &e, redactor, None),
            };
        }
    };
    match done {
        Ok(r) => of_run(target, &r),
        Err(e) => {
            // What the failure left: best effort, for the summary's current column.
            let status = on_any!(pool, p => m.status(p).await).ok();
            of_error(target, &e, redactor, status.as_ref())
        }
    }
}

fn of_run(target: &Target, r: &Report) -> TargetReport {
    let mut t = TargetReport::new(target.shown(), TargetState::AtGoal);
    t.current = r.heads_after.clone();
    t.applied = r.steps.iter().map(|s| s.id.clone()).collect();
    t
}

fn of_status(target: &Target, s: &Status) -> TargetReport {
    let state = match s.state() {
        DatabaseState::UpToDate => TargetState::AtGoal,
        DatabaseState::Behind => TargetState::Behind,
        DatabaseState::Ahead => TargetState::Ahead,
        DatabaseState::Diverged => TargetState::Diverged,
        _ => TargetState::Refused,
    };
    let mut t = TargetReport::new(target.shown(), state);
    t.current = s.heads.clone();
    t.pending = s.pending.len() + s.repeatables_pending.len();
    if let Some(refusal) = &s.refusal {
        t.error = Some(TargetError {
            kind: "refused".into(),
            message: crate::url::redact_urls_in(refusal),
        });
    }
    t
}

fn of_error(target: &Target, e: &Error, redactor: &Redactor, s: Option<&Status>) -> TargetReport {
    let state = match e {
        Error::DatabaseAhead { .. } => TargetState::Ahead,
        Error::Dirty { .. }
        | Error::Edited { .. }
        | Error::Drift { .. }
        | Error::Incompatible { .. } => TargetState::Refused,
        _ => TargetState::Failed,
    };
    let mut t = failed(
        target,
        state,
        e.kind(),
        redactor.scrub_message(&e.to_string()),
    );
    if let Some(s) = s {
        t.current = s.heads.clone();
        t.pending = s.pending.len();
    }
    t
}

fn failed(target: &Target, state: TargetState, kind: &str, message: String) -> TargetReport {
    let mut t = TargetReport::new(target.shown(), state);
    t.error = Some(TargetError {
        kind: kind.to_owned(),
        message,
    });
    t
}

fn skipped(target: &Target, max_failures: usize) -> TargetReport {
    failed(
        target,
        TargetState::Behind,
        "skipped",
        format!(
            "not attempted: more than {max_failures} target(s) failed (--max-failures {max_failures})"
        ),
    )
}

fn millis(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A pool on `target` (a schema target's connections with `search_path` set to its
/// schema); the error message has the password removed. `upgrade` may create a SQLite
/// file.
async fn connect(target: &Target, action: &Action) -> Result<AnyPool, String> {
    let create = matches!(action, Action::Upgrade(_));
    let result = match target {
        Target::Database(url) => AnyPool::connect(url, create).await,
        Target::Schema { url, schema } => connect_schema(url, schema).await,
    };
    result.map_err(connect_message)
}

/// Why connecting failed, in words (the URL redacted).
fn connect_message(e: ConnectError) -> String {
    match e {
        ConnectError::Unsupported(url, supported) => {
            Error::UnsupportedUrl(url, supported).to_string()
        }
        ConnectError::Failed(url, message) => format!("cannot connect to {url}: {message}"),
        ConnectError::Url(e) => crate::url::redact_urls_in(&e.to_string()),
    }
}

#[cfg(feature = "postgres")]
async fn connect_schema(url: &str, schema: &str) -> Result<AnyPool, ConnectError> {
    crate::url::check(url).map_err(ConnectError::Url)?;
    let redactor = Redactor::for_url(url);
    let fail = |e: sqlx::Error| {
        ConnectError::Failed(
            crate::url::redact(url),
            redactor.scrub_message(&crate::error::driver_message(&e)),
        )
    };
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(fail)?
        .options([("search_path", schema)]);
    Ok(AnyPool::Postgres(
        crate::pool::open(opts).await.map_err(fail)?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn connect_schema(url: &str, _schema: &str) -> Result<AnyPool, ConnectError> {
    Err(ConnectError::Unsupported(
        crate::url::redact(url),
        crate::pool::supported(),
    ))
}

/// The targets a catalog query returns: `query` runs on `catalog` (any database), and
/// each row's first column is a target's URL.
pub async fn targets_from_query(catalog: &str, query: &str) -> Result<Vec<Target>, TargetsError> {
    let pool = catalog_pool(catalog).await?;
    let rows = on_any!(&pool, p => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(query.to_owned())).fetch_all(p).await);
    pool.close().await;
    let redactor = Redactor::for_url(catalog);
    let rows = rows.map_err(|e| {
        TargetsError::Catalog(format!(
            "the targets query failed on {}: {}",
            crate::url::redact(catalog),
            redactor.scrub_message(&crate::error::driver_message(&e))
        ))
    })?;
    rows.into_iter()
        .enumerate()
        .map(|(i, url)| {
            check_url(&url)
                .map(|()| Target::Database(url))
                .map_err(|m| {
                    TargetsError::Catalog(format!("the targets query's row {}: {m}", i + 1))
                })
        })
        .collect()
}

/// The schemas of the PostgreSQL database `url` whose names match the `LIKE` pattern
/// (`tenant_%`), by name, as targets; PostgreSQL's own (`pg_*`, `information_schema`)
/// never are.
pub async fn schema_targets(url: &str, pattern: &str) -> Result<Vec<Target>, TargetsError> {
    let pool = catalog_pool(url).await?;
    #[allow(unreachable_patterns)]
    let rows: Result<Vec<String>, String> = match &pool {
        #[cfg(feature = "postgres")]
        AnyPool::Postgres(p) => sqlx::query_scalar::<_, String>(
            "SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname LIKE $1 \
             AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
        )
        .bind(pattern)
        .fetch_all(p)
        .await
        .map_err(|e| crate::error::driver_message(&e)),
        _ => {
            let _ = pattern;
            Err("--schemas needs a PostgreSQL database".to_owned())
        }
    };
    pool.close().await;
    let schemas = rows.map_err(|m| {
        TargetsError::Catalog(format!(
            "cannot list the schemas of {}: {}",
            crate::url::redact(url),
            Redactor::for_url(url).scrub_message(&m)
        ))
    })?;
    Ok(schemas
        .into_iter()
        .map(|schema| Target::Schema {
            url: url.to_owned(),
            schema,
        })
        .collect())
}

async fn catalog_pool(url: &str) -> Result<AnyPool, TargetsError> {
    AnyPool::connect(url, false)
        .await
        .map_err(|e| TargetsError::Catalog(connect_message(e)))
}
