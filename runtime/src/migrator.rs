//! Applying a [`Migrations`] table to a database (docs/design.md §4).
//!
//! The boot path ([`Migrator::run`]) reads the version table once: when its heads and chain
//! digests equal the embedded heads, the database is up to date and nothing else happens.
//! Otherwise the migration lock is taken, both tables are read again and checked by the
//! one state check that every writing command runs first (`check_state`: damaged rows,
//! edited, renamed or removed revisions, a log that disagrees with the version rows, dirty
//! marks, revisions unknown to this binary), and what is missing is applied, each revision
//! in its own transaction together with its bookkeeping.

use std::borrow::Cow;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use revchain_core::import::Tool;
use revchain_core::{Direction, Plan, Target, TargetError};
use tracing::Instrument;

use crate::backend::{
    Backend, Failure, HeadRow, Held, LogRow, Opened, WaitLog, backoff, statements,
};
use crate::bookkeeping::{TableName, Tables, Work};
use crate::connection::PoolOrConnection;
use crate::embedded::{Migrations, Revision};
use crate::error::{Aftermath, DriftKind, Error, FailedStep, Stage, driver_message};
use crate::preflight::Cleared;
use crate::report::{CurrentHead, Report, Status, StepReport};
use crate::state::{StateCheck, check_state, refusal_error};

mod locking;
mod phase;
mod rollback;
pub use phase::Compatible;

use crate::backend::LockMode;
mod baseline;
mod revisions;

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
///     .migration_lock_timeout(Duration::from_secs(120))
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
    adopt: Option<Tool>,
    span: Option<tracing::Span>,
    lock_mode: LockMode,
    lease_ttl: Duration,
    /// The phase that upgrades and [`run`](Self::run) apply; `None`: every revision.
    phase: Option<revchain_core::Phase>,
    /// On a run that found no revchain tables: the revisions checked for refused
    /// statements ahead of the plan, once worked out ([`Cleared`]).
    cleared: Option<std::sync::Arc<std::sync::OnceLock<Cleared>>>,
}

/// What the boot check found.
enum Boot {
    /// The database is at the embedded heads: the report of the run.
    UpToDate(Report),
    /// revchain's version table does not exist: every revision is pending.
    NoTables,
    /// Anything else: the run takes the lock and reads the state.
    Behind,
}

/// What a run under the lock is asked to do.
enum Request {
    Upgrade(Target),
    Downgrade(Target),
    Stamp { targets: Vec<Target>, purge: bool },
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
            adopt: None,
            span: None,
            lock_mode: LockMode::default(),
            lease_ttl: Duration::from_secs(30),
            phase: None,
            cleared: None,
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

    /// The repeatable revisions' table (docs/design.md §4.10; default
    /// `revchain_repeatable`), created by the first run that has repeatables to apply.
    pub fn repeatable_table(mut self, name: TableName) -> Self {
        self.tables.repeatable = name;
        self
    }

    /// How long to wait for the migration lock before giving up with
    /// [`Error::LockTimeout`] (default 60 s). Not the revisions' own lock timeout
    /// ([`default_lock_timeout`](Self::default_lock_timeout)).
    pub fn migration_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The former name of [`migration_lock_timeout`](Self::migration_lock_timeout), kept
    /// as an alias: the wait for revchain's migration lock, not a revision's lock timeout.
    pub fn lock_timeout(self, timeout: Duration) -> Self {
        self.migration_lock_timeout(timeout)
    }

    /// The lock timeout of revisions without a `Lock Timeout` header (docs/design.md
    /// §4.12): `SET LOCAL lock_timeout` on PostgreSQL, `lock_wait_timeout` (whole seconds)
    /// on MariaDB; no effect on SQLite. By default the session's own.
    pub fn default_lock_timeout(mut self, timeout: Duration) -> Self {
        self.tables.timeouts.lock = Some(timeout);
        self
    }

    /// The statement timeout of revisions without a `Statement Timeout` header
    /// (docs/design.md §4.12): `SET LOCAL statement_timeout` on PostgreSQL,
    /// `max_statement_time` on MariaDB; no effect on SQLite. By default the session's own.
    pub fn default_statement_timeout(mut self, timeout: Duration) -> Self {
        self.tables.timeouts.statement = Some(timeout);
        self
    }

    /// The timeouts and lock retries all at once (the CLI's flags).
    #[cfg(feature = "cli")]
    pub(crate) fn timeouts(mut self, timeouts: crate::backend::timeouts::Timeouts) -> Self {
        self.tables.timeouts = timeouts;
        self
    }

    /// How many more times a transactional revision that timed out waiting for a lock is
    /// tried, after a jittered exponential backoff (default 3; docs/design.md §4.12).
    pub fn lock_retries(mut self, retries: u32) -> Self {
        self.tables.timeouts.lock_retries = retries;
        self
    }

    /// How the migration lock is taken (default [`LockMode::Auto`]): the session's advisory
    /// lock, or a lease row in the lock table that needs no session state, for PgBouncer in
    /// transaction mode and databases without advisory locks (docs/design.md §4.2).
    pub fn lock_mode(mut self, mode: LockMode) -> Self {
        self.lock_mode = mode;
        self
    }

    /// The lease lock's table (default `revchain_lock`).
    pub fn lock_table(mut self, name: TableName) -> Self {
        self.tables.lock = name;
        self
    }

    /// How long a lease lasts without a heartbeat (default 30 s, at least 1 s): a run that
    /// dies holding it blocks the others this long; the heartbeat extends it every third
    /// of it.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Whether [`run`](Self::run) tolerates a database whose heads this binary does not know
    /// (an old replica during a rolling deploy): it logs a warning and applies nothing.
    pub fn allow_database_ahead(mut self, allow: bool) -> Self {
        self.allow_ahead = allow;
        self
    }

    /// Takes over a database that `tool` migrated, at its first [`run`](Self::run): when
    /// the database has no revchain version table and has `tool`'s history table, the run
    /// checks the tool's rows against the embedded revisions (imported with `revchain
    /// import --from TOOL`) and records them as applied, under the migration lock and in
    /// one transaction with the creation of revchain's tables, then applies the rest.
    /// Replicas booting at once adopt exactly once. The tool's table is left as it is.
    /// See [`take_over`](Self::take_over) for the checks.
    ///
    /// ```no_run
    /// use revchain::{Migrator, Tool};
    ///
    /// static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    ///
    /// # async fn boot(pool: sqlx::PgPool) -> Result<(), revchain::Error> {
    /// // Was `sqlx::migrate!().run(&pool)`; `migrations/` is `revchain import --from sqlx`'s.
    /// Migrator::new(&MIGRATIONS).adopt(Tool::Sqlx).run(&pool).await?;
    /// # Ok(()) }
    /// ```
    pub fn adopt(mut self, tool: Tool) -> Self {
        self.adopt = Some(tool);
        self
    }

    /// The `tracing` span that revchain's events are recorded in (default: a span named
    /// `revchain` with target `revchain`). Give your own to route or label the events.
    pub fn span(mut self, span: tracing::Span) -> Self {
        self.span = Some(span);
        self
    }

    /// This migrator with its bookkeeping tables moved into `schema` (a fleet's schema
    /// target): each schema keeps its own tables, and so takes its own migration lock (the
    /// advisory lock key derives from the version table's qualified name).
    #[cfg(feature = "cli")]
    pub(crate) fn in_schema(&self, schema: &str) -> Result<Migrator<'m>, Error> {
        let mut m = self.clone();
        let tables = &mut m.tables;
        for table in [
            &mut tables.version,
            &mut tables.log,
            &mut tables.repeatable,
            &mut tables.lock,
        ] {
            *table = TableName::parse(&format!("{schema}.{}", table.name()))?;
        }
        Ok(m)
    }

    /// The revisions this migrator applies.
    #[cfg(feature = "cli")]
    pub(crate) fn migrations(&self) -> &'m Migrations {
        self.migrations
    }

    fn span_or_default(&self) -> tracing::Span {
        self.span
            .clone()
            .unwrap_or_else(|| tracing::info_span!(target: "revchain", "revchain"))
    }

    /// Upgrades to every head: the call an application makes at boot. When the database is
    /// already up to date this is one query and no lock. `db` is a pool or a connection
    /// ([`PoolOrConnection`]).
    pub async fn run<D: PoolOrConnection>(&self, db: D) -> Result<Report, Error> {
        self.migrate(db, Request::Upgrade(Target::Heads), true)
            .instrument(self.span_or_default())
            .await
    }

    /// Upgrades to `target` (`head`, `heads`, an id or prefix, `label@head`, `+N`, …).
    pub async fn upgrade<D: PoolOrConnection>(&self, db: D, target: &str) -> Result<Report, Error> {
        let target: Target = target.parse()?;
        self.migrate(db, Request::Upgrade(target), false)
            .instrument(self.span_or_default())
            .await
    }

    /// Downgrades to `target` (`base`, an id or prefix, `-N`, `<id>-N`, `label@base`, …).
    pub async fn downgrade<D: PoolOrConnection>(
        &self,
        db: D,
        target: &str,
    ) -> Result<Report, Error> {
        let target: Target = target.parse()?;
        self.migrate(db, Request::Downgrade(target), false)
            .instrument(self.span_or_default())
            .await
    }

    /// Records `targets` as the database's state without running any SQL. With `purge`,
    /// the version and log tables are emptied first (repairing unknown or dirty states).
    pub async fn stamp<D: PoolOrConnection>(
        &self,
        db: D,
        targets: &[&str],
        purge: bool,
    ) -> Result<Report, Error> {
        let targets = targets
            .iter()
            .map(|t| t.parse::<Target>())
            .collect::<Result<Vec<_>, _>>()?;
        self.migrate(db, Request::Stamp { targets, purge }, false)
            .instrument(self.span_or_default())
            .await
    }

    /// Takes over a database that `tool` migrated (`revchain adopt --from TOOL`): reads the
    /// tool's history table and records its applied migrations as applied revisions,
    /// without running SQL, in one transaction; the tool's table is left as it is. Every
    /// applied entry must be an embedded revision (its id is
    /// [`revision_id`](revchain_core::import::revision_id) of the version), with the
    /// checksum the tool stored where it stores one (sqlx's SHA-384, refinery's SipHash,
    /// Flyway's CRC-32) computed again from the revision's upgrade SQL; a failed, dirty or
    /// out-of-order entry is refused by name ([`Error::AdoptRefused`]), and so is a
    /// database whose revchain tables already record revisions. With `dry_run`, nothing is
    /// written: the report says what would be recorded.
    ///
    /// ```no_run
    /// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    /// # async fn switch(pool: sqlx::PgPool) -> Result<(), revchain::Error> {
    /// let report = revchain::Migrator::new(&MIGRATIONS)
    ///     .take_over(&pool, revchain::Tool::Flyway, true)
    ///     .await?;
    /// println!("would record {:?}", report.stamped);
    /// # Ok(()) }
    /// ```
    pub async fn take_over<D: PoolOrConnection>(
        &self,
        mut db: D,
        tool: Tool,
        dry_run: bool,
    ) -> Result<Report, Error> {
        let run = async {
            let pool = db.pool();
            let mut conn = db.lease().await?;
            if sqlx::Connection::is_in_transaction(&*conn) {
                return Err(Error::AdoptRefused {
                    tool,
                    problems: vec![
                        "the connection is inside a transaction, which the adoption's own \
                         transaction would end: adopt on a connection outside any transaction"
                            .to_owned(),
                    ],
                });
            }
            if dry_run {
                return self
                    .take_over_locked::<D::Database>(&mut conn, tool, false)
                    .await;
            }
            let lock = self.take_lock::<D::Database>(&mut conn, pool.as_ref(), None);
            let Some(locked) = lock.await? else {
                return Err(Error::Drift {
                    kind: DriftKind::Raced,
                });
            };
            let result = self
                .under(&locked.held)
                .take_over_locked::<D::Database>(&mut conn, tool, true)
                .await;
            if !release::<D::Database>(&mut conn, &self.tables, locked.into_held()).await {
                conn.discard();
            }
            result
        };
        run.instrument(self.span_or_default()).await
    }

    /// [`take_over`](Self::take_over) once the lock is held (or without writing).
    async fn take_over_locked<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        tool: Tool,
        write: bool,
    ) -> Result<Report, Error> {
        let heads = DB::read_heads(conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the version table", &e))?;
        let log = match heads {
            Some(_) => DB::read_log(conn, &self.tables)
                .await
                .map_err(|e| Error::db("reading the log table", &e))?,
            None => Vec::new(),
        };
        let exists = heads.is_some();
        if heads.is_some_and(|h| !h.is_empty()) || !log.is_empty() {
            return Err(Error::AdoptRefused {
                tool,
                problems: vec![format!(
                    "revchain's tables ({}, {}) already record revisions: the database was \
                     adopted already, or revchain migrated it",
                    self.tables.version, self.tables.log
                )],
            });
        }
        let create = write.then(|| self.tables.create(DB::DIALECT));
        if write && exists {
            self.ensure_stored_columns::<DB>(conn).await?;
        }
        let Some(report) = self.adopt_tool::<DB>(conn, tool, create).await? else {
            return Err(Error::AdoptRefused {
                tool,
                problems: vec![format!(
                    "the database has no table {}",
                    tool.history_table()
                )],
            });
        };
        Ok(report)
    }

    /// Reads and checks `tool`'s table and, unless `create` is `None` (a dry run), records
    /// what it applied in one transaction that starts with the `create` statements: the
    /// stamp's report (`None` when the table does not exist).
    async fn adopt_tool<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        tool: Tool,
        create: Option<Vec<String>>,
    ) -> Result<Option<Report>, Error> {
        let Some(rows) = crate::adopt::read_rows::<DB>(conn, tool).await? else {
            return Ok(None);
        };
        let revs: Vec<&Revision> = self.migrations.iter().collect();
        let sql = |i: usize| {
            revs.get(i)
                .map_or_else(String::new, |r| r.upgrade_sql().to_owned())
        };
        let adoption =
            revchain_core::import::adopt::check(tool, &rows, self.migrations.graph(), &sql)
                .map_err(|findings| Error::AdoptRefused {
                    tool,
                    problems: findings.iter().map(ToString::to_string).collect(),
                })?;
        let targets: Vec<Target> = adoption
            .heads
            .iter()
            .map(|&h| Target::Revision(revs[h].id().to_owned()))
            .collect();
        let (stamp, report) = self.stamp_statements(DB::DIALECT, &targets, false, &[], &[])?;
        let Some(mut statements) = create.filter(|_| !adoption.applied.is_empty()) else {
            return Ok(Some(report));
        };
        statements.extend(stamp);
        DB::exec_in_transaction(conn, &statements)
            .await
            .map_err(|e| Error::db(format!("recording what {tool} applied"), &e))?;
        tracing::info!(
            target: "revchain",
            "adopted the database from {tool}: {} revision(s) recorded as applied, at {} (no SQL ran)",
            report.stamped.len(),
            describe(&report.heads_after)
        );
        Ok(Some(report))
    }

    /// The database's current heads (the version table), ordered as the table is.
    pub async fn current<D: PoolOrConnection>(&self, mut db: D) -> Result<Vec<CurrentHead>, Error> {
        let mut conn = db.lease().await?;
        let rows = read_heads::<D::Database>(&mut conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the version table", &e))?
            .unwrap_or_default();
        Ok(self.current_heads(&rows))
    }

    /// Where the database stands: applied, pending, unknown, ahead, edited and dirty
    /// revisions, and the refusal that every command that changes the database would give
    /// (the same state check: see [`Status::state`]).
    pub async fn status<D: PoolOrConnection>(&self, mut db: D) -> Result<Status, Error> {
        let mut conn = db.lease().await?;
        self.status_on::<D::Database>(&mut conn).await
    }

    /// [`status`](Self::status) on a connection.
    pub(crate) async fn status_on<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
    ) -> Result<Status, Error> {
        let rows = read_heads::<DB>(conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the version table", &e))?
            .unwrap_or_default();
        let log = read_log::<DB>(conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the log table", &e))?;
        let check = check_state(self.migrations, &self.tables, &rows, &log);
        let refusal = check.refusal(false).map(|r| refusal_error(r).to_string());
        let heads: Vec<&str> = rows.iter().map(|r| r.revision.as_str()).collect();
        let repeatables = crate::repeatable::status::<DB>(
            self.migrations,
            &self.tables,
            conn,
            &heads,
            &check.applied,
        )
        .await?;
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
            repeatables_applied: repeatables.applied,
            repeatables_pending: repeatables.pending,
            repeatables_unknown: repeatables.unknown,
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
        let heads = self.boot_heads().into_iter();
        revchain_core::applied::at_embedded_heads(heads.map(|h| (h.id(), h.chain_digest())), rows)
    }

    /// A run of `request`: the boot check (`boot`: one read, no lock, when up to date),
    /// then the work under the lock.
    async fn migrate<D: PoolOrConnection>(
        &self,
        mut db: D,
        request: Request,
        boot: bool,
    ) -> Result<Report, Error> {
        self.migrations.warn_if_stale();
        let pool = db.pool();
        let mut conn = db.lease().await?;
        let mut fresh = false;
        if boot {
            match self.boot_check::<D::Database>(&mut conn).await {
                Boot::UpToDate(report) => return Ok(report),
                Boot::NoTables => fresh = true,
                Boot::Behind => {}
            }
        }
        if sqlx::Connection::is_in_transaction(&*conn) {
            return self
                .migrate_in_transaction::<D::Database>(&mut conn, &request, boot)
                .await;
        }
        let mut base = Cow::Borrowed(self);
        let first_run = fresh && matches!(request, Request::Upgrade(_));
        if first_run {
            // Every revision is pending: their upgrades are checked for refused statements
            // while the server creates revchain's tables (`run_locked`).
            base.to_mut().cleared = Some(std::sync::Arc::default());
        }
        let early = if first_run && self.adopt.is_none() {
            base.lock_and_open::<D::Database>(&mut conn, pool.as_ref(), &request)
                .await
        } else {
            None
        };
        let (locked, opening) = match early {
            Some((locked, opening)) => (locked, Some(opening)),
            None => match self
                .take_lock_to_run::<D::Database>(&mut conn, pool.as_ref(), boot)
                .await?
            {
                Some(locked) => (locked, None),
                None => {
                    tracing::debug!(
                        target: "revchain",
                        "another process brought the database up to date while this one waited for the lock"
                    );
                    let heads = self.boot_heads();
                    return Ok(up_to_date(
                        heads.iter().map(|h| h.id().to_owned()).collect(),
                    ));
                }
            },
        };
        let migrator = base.under(&locked.held);
        let result = migrator
            .migrate_locked::<D::Database>(&mut conn, &request, boot, opening)
            .await;
        if !release::<D::Database>(&mut conn, &self.tables, locked.into_held()).await {
            conn.discard();
        }
        result
    }

    /// The boot path's one read: the report when the version rows are the embedded heads.
    /// With repeatable revisions, the same query also reads their checksums recorded at the
    /// embedded heads, which must all be the embedded ones.
    async fn boot_check<DB: Backend>(&self, conn: &mut DB::Connection) -> Boot {
        let rows = if self.migrations.repeatables().is_empty() {
            match read_heads::<DB>(conn, &self.tables).await {
                Ok(Some(rows)) => rows,
                Ok(None) => return Boot::NoTables,
                Err(_) => return Boot::Behind,
            }
        } else if sqlx::Connection::is_in_transaction(&*conn) {
            return Boot::Behind;
        } else {
            match crate::repeatable::boot_rows::<DB>(self.migrations, &self.tables, conn).await {
                Some(rows) => rows,
                None => return Boot::Behind,
            }
        };
        if !self.at_embedded_heads(&rows) {
            return Boot::Behind;
        }
        tracing::debug!(target: "revchain", "the database is up to date");
        Boot::UpToDate(up_to_date(rows.into_iter().map(|r| r.revision).collect()))
    }

    /// The work under the lock: a boot run first adopts the database of the tool given to
    /// [`adopt`](Self::adopt), then the run proper; its report lists what was adopted as
    /// stamped.
    async fn migrate_locked<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        request: &Request,
        boot: bool,
        opening: Option<Opening<'m, DB>>,
    ) -> Result<Report, Error> {
        let adopted = match self.adopt {
            Some(tool) if boot => self.adopt_at_boot::<DB>(conn, tool).await?,
            _ => None,
        };
        let mut report = self.run_locked::<DB>(conn, request, boot, opening).await?;
        if let Some(adopted) = adopted {
            report.stamped = adopted.stamped;
            report.heads_before = adopted.heads_before;
        }
        Ok(report)
    }

    /// [`adopt`](Self::adopt)'s work at boot: when the version table does not exist, the
    /// adoption of `tool`'s table, if there is one, in a transaction that creates revchain's
    /// tables first and fails if they exist. Without a session lock (SQLite), another
    /// process may adopt or migrate at the same moment: then this transaction rolls back,
    /// and the version table exists.
    async fn adopt_at_boot<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        tool: Tool,
    ) -> Result<Option<Report>, Error> {
        let exists = |heads: Result<Option<Vec<HeadRow>>, sqlx::Error>| {
            heads
                .map(|h| h.is_some())
                .map_err(|e| Error::db("reading the version table", &e))
        };
        if exists(DB::read_heads(conn, &self.tables).await)? {
            return Ok(None);
        }
        let create = self.tables.create_new(DB::DIALECT);
        match self.adopt_tool::<DB>(conn, tool, Some(create)).await {
            Err(Error::Database { .. }) if exists(DB::read_heads(conn, &self.tables).await)? => {
                tracing::debug!(target: "revchain", "another process adopted the database meanwhile");
                Ok(None)
            }
            adopted => adopted,
        }
    }

    /// The run under the lock: read and check the state, plan, apply; plan again when
    /// another process raced this one (SQLite, locked per revision). `opening`: the tables
    /// opened already, with the lock ([`lock_and_open`](Self::lock_and_open)).
    async fn run_locked<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        request: &Request,
        boot: bool,
        opening: Option<Opening<'m, DB>>,
    ) -> Result<Report, Error> {
        let (opened, mut presumed) = match opening {
            Some(opening) => opening,
            // The first poll sends the tables' creation; the rest runs while the server
            // works.
            None => tokio::join!(
                DB::open_tables(conn, &self.tables, self.lock_timeout),
                async { self.presume_first_run::<DB>(request) }
            ),
        };
        // The state read with the creation, for the first pass (the columns the ALTER may
        // add change none of the rows read).
        let mut opened_state = match opened? {
            Some(opened) => {
                if !opened.stored_columns {
                    self.ensure_stored_columns::<DB>(conn).await?;
                }
                Some(opened.state)
            }
            None => {
                self.ensure_stored_columns::<DB>(conn).await?;
                None
            }
        };
        if let Request::Stamp {
            targets,
            purge: true,
        } = request
        {
            // The repair: it must work whatever the tables hold, so it reads nothing.
            return self
                .stamp_locked::<DB>(conn, targets, true, &[], &[], false)
                .await;
        }
        let mut attempts = Attempts::default();
        while attempts.races < RACE_RETRIES {
            let (rows, log) = match opened_state.take() {
                Some(state) => state,
                None => self.read_state::<DB>(conn).await?,
            };
            let check = check_state(self.migrations, &self.tables, &rows, &log);
            if let Request::Downgrade(target) = request
                && !check.ahead.is_empty()
                && check.refusal(false).is_none()
            {
                // Ahead: first revert what this binary does not know, from the SQL the log
                // stored (docs/design.md §4.13); then plan again on the known heads.
                let reverted = self.revert_unknown::<DB>(conn, &rows, target).await?;
                attempts.applied.add(reverted);
                continue;
            }
            match self.refuse_state(&check, &rows, request, boot) {
                Ok(None) => {}
                Ok(Some(tolerated)) => return Ok(tolerated),
                Err(refusal) => {
                    self.wait_for_dirty::<DB>(refusal, &mut attempts.dirty_wait)
                        .await?;
                    continue;
                }
            }
            attempts.refuse_repeated_race(&rows)?;
            if let Some(caught_up) = self
                .settle_baselines::<DB>(conn, &check, (&rows, &log), false)
                .await?
            {
                attempts.applied.add(caught_up);
                continue;
            }
            let (plan, ahead) = match request {
                Request::Stamp { targets, .. } => {
                    return self
                        .stamp_locked::<DB>(conn, targets, false, &check.current, &log, false)
                        .await;
                }
                // The state read is the one presumed: no heads.
                Request::Upgrade(target) | Request::Downgrade(target) => {
                    match presumed.take().filter(|_| check.current.is_empty()) {
                        Some(p) => (p.plan, Some((p.works, p.prepared))),
                        None => (self.plan::<DB>(request, target, &check.current)?, None),
                    }
                }
            };
            if plan.is_empty() {
                let report = attempts.applied.into_report(self.nothing_to_do(&plan));
                return self.repeatables::<DB>(conn, &plan, report, false).await;
            }
            let before = self.repeatables_before::<DB>(conn, &plan, false).await?;
            let (works, prepared) = ahead.unwrap_or_else(|| (self.works::<DB>(&plan), None));
            let (report, result) = self.apply::<DB>(conn, &plan, &works, prepared).await;
            match result {
                Ok(()) => {
                    let mut report = attempts.applied.into_report(report);
                    report.repeatables_removed = before.repeatables_removed;
                    return self.repeatables::<DB>(conn, &plan, report, false).await;
                }
                Err(Failure::Raced(id)) => attempts.raced(rows, id, report),
                Err(failure) => {
                    let mut error = self.failure_error(failure, &plan);
                    error.set_applied_before(attempts.applied.into_report(report));
                    return Err(error);
                }
            }
        }
        Err(Error::Drift {
            kind: DriftKind::KeptRacing,
        })
    }

    /// A run inside the caller's transaction (see [`PoolOrConnection`]): the lock is the
    /// transaction's, every revision and its bookkeeping run in it with no transaction of
    /// their own, and nothing is committed. Refused on MySQL/MariaDB, whose DDL commits.
    async fn migrate_in_transaction<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        request: &Request,
        boot: bool,
    ) -> Result<Report, Error> {
        if !DB::TRANSACTIONAL_DDL {
            return Err(Error::InTransaction);
        }
        self.lock_in_transaction::<DB>(conn).await?;
        DB::execute(conn, self.tables.create(DB::DIALECT).join(";\n"))
            .await
            .map_err(|e| Error::db("creating revchain's tables", &e))?;
        self.ensure_stored_columns::<DB>(conn).await?;
        if let Request::Stamp {
            targets,
            purge: true,
        } = request
        {
            return self
                .stamp_locked::<DB>(conn, targets, true, &[], &[], true)
                .await;
        }
        let (mut rows, mut log) = self.read_state::<DB>(conn).await?;
        let mut check = check_state(self.migrations, &self.tables, &rows, &log);
        if let Some(tolerated) = self.refuse_state(&check, &rows, request, boot)? {
            return Ok(tolerated);
        }
        // A squashed range (docs/design.md §2.3): at most a catch-up, then a re-record.
        for _ in 0..2 {
            if self
                .settle_baselines::<DB>(conn, &check, (&rows, &log), true)
                .await?
                .is_none()
            {
                break;
            }
            (rows, log) = self.read_state::<DB>(conn).await?;
            check = check_state(self.migrations, &self.tables, &rows, &log);
            if let Some(refusal) = check.refusal(false) {
                return Err(refusal_error(refusal));
            }
        }
        let plan = match request {
            Request::Stamp { targets, .. } => {
                return self
                    .stamp_locked::<DB>(conn, targets, false, &check.current, &log, true)
                    .await;
            }
            Request::Upgrade(target) | Request::Downgrade(target) => {
                self.plan::<DB>(request, target, &check.current)?
            }
        };
        if plan.is_empty() {
            let report = self.nothing_to_do(&plan);
            return self.repeatables::<DB>(conn, &plan, report, true).await;
        }
        self.refuse_non_transactional::<DB>(&plan)?;
        let before = self.repeatables_before::<DB>(conn, &plan, true).await?;
        let (mut report, result) = self.apply_in_transaction::<DB>(conn, &plan).await;
        report.repeatables_removed = before.repeatables_removed;
        match result {
            Ok(()) => self.repeatables::<DB>(conn, &plan, report, true).await,
            Err(failure) => {
                let mut error = self.failure_error(failure, &plan);
                error.set_applied_before(report);
                Err(error)
            }
        }
    }

    /// Takes the migration lock for the rest of the caller's transaction, waiting at most
    /// the lock timeout.
    async fn lock_in_transaction<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
    ) -> Result<(), Error> {
        let mut wait = WaitLog::new();
        let mut attempt = 0;
        while !DB::try_lock_in_transaction(conn, &self.tables)
            .await
            .map_err(|e| Error::db("taking the migration lock", &e))?
        {
            if wait.elapsed() >= self.lock_timeout {
                return Err(Error::LockTimeout {
                    waited: wait.elapsed(),
                    holder: None,
                });
            }
            if wait.due() {
                wait.log(None);
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
        Ok(())
    }

    /// Refuses a plan with a `Transactional: false` revision: it cannot run inside the
    /// caller's transaction.
    fn refuse_non_transactional<DB: Backend>(&self, plan: &Plan) -> Result<(), Error> {
        let works = self.works::<DB>(plan);
        let Some(work) = works.iter().find(|w| !w.revision.is_transactional()) else {
            return Ok(());
        };
        Err(Error::Refused {
            id: work.revision.id().to_owned(),
            path: work.revision.path().to_owned(),
            line: work.sql_line(),
            direction: work.direction,
            reason: "it is `Transactional: false`, so it cannot run inside the caller's \
                     transaction; run it on a connection outside any transaction"
                .to_owned(),
        })
    }

    /// Applies a plan inside the caller's transaction: each revision's statements, then its
    /// bookkeeping, with no transaction of their own. The report of the steps done, and how
    /// it ended.
    async fn apply_in_transaction<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        plan: &Plan,
    ) -> (Report, Result<(), Failure>) {
        let mut report = Report {
            direction: Some(plan.direction),
            heads_before: self.ids(&plan.heads_before),
            ..Report::default()
        };
        for (index, work) in self.works::<DB>(plan).iter().enumerate() {
            let started = Instant::now();
            if let Err(failure) = run_in_transaction::<DB>(conn, &self.tables, work, index).await {
                return (report, Err(failure));
            }
            let took = started.elapsed();
            crate::report::announce(
                Some(work.revision.id()),
                &format!(
                    "{} {} ({}) in {}, in the caller's transaction",
                    match plan.direction {
                        Direction::Upgrade => "applied",
                        Direction::Downgrade => "reverted",
                    },
                    work.revision.id(),
                    work.revision.message(),
                    crate::report::human_duration(took)
                ),
            );
            report.steps.push(StepReport {
                id: work.revision.id().to_owned(),
                message: work.revision.message().to_owned(),
                duration: took,
            });
        }
        report.heads_after = self.ids(&plan.heads_after);
        (report, Ok(()))
    }

    /// Waits for a dirty mark that another process may be running right now (see
    /// [`may_be_running`](Self::may_be_running)), or returns `refusal` when it cannot be
    /// one or the lock timeout has passed.
    async fn wait_for_dirty<DB: Backend>(
        &self,
        refusal: Error,
        dirty_wait: &mut Option<(WaitLog, u32)>,
    ) -> Result<(), Error> {
        let (wait, attempt) = dirty_wait.get_or_insert_with(|| (WaitLog::new(), 0));
        if !self.may_be_running::<DB>(&refusal) || wait.elapsed() >= self.lock_timeout {
            return Err(refusal);
        }
        if wait.due()
            && let Error::Dirty { id, .. } = &refusal
        {
            wait.log(Some(&format!(
                "the process running revision {id} (if none is, a crashed run left it dirty)"
            )));
        }
        tokio::time::sleep(backoff(*attempt)).await;
        *attempt += 1;
        Ok(())
    }

    /// The plan of an upgrade or a downgrade to `target` from `current`, with its
    /// statements checked against the database's refusals before anything runs.
    fn plan<DB: Backend>(
        &self,
        request: &Request,
        target: &Target,
        current: &[usize],
    ) -> Result<Plan, Error> {
        let graph = self.migrations.graph();
        let plan = match (request, self.phase) {
            (Request::Downgrade(_), _) => graph.plan_downgrade(target, current),
            (_, Some(phase)) => {
                graph.plan_upgrade_phase(target, current, &self.migrations.contract_marks(), phase)
            }
            _ => graph.plan_upgrade(target, current),
        }
        .map_err(|e| self.target_error(e))?;
        crate::preflight::refuse_statements(
            self.migrations,
            &plan,
            DB::DIALECT,
            self.cleared.as_deref().and_then(std::sync::OnceLock::get),
        )?;
        crate::preflight::refuse_code(self.migrations, &plan, DB::DIALECT)?;
        Ok(plan)
    }

    /// A first run's upgrades checked for refused statements, and [`presume`](Self::presume)'s
    /// plan: worked out while the server creates the tables. `None` on any other run.
    fn presume_first_run<DB: Backend>(&self, request: &Request) -> Option<Presumed<'m, DB>> {
        let cleared = self.cleared.as_ref()?;
        cleared.get_or_init(|| Cleared::upgrades(self.migrations, DB::DIALECT));
        self.presume::<DB>(request)
    }

    /// For a database without revchain's tables (a first run), the plan of `request` from
    /// no heads, its steps, and what the backend prepares of them: worked out while the
    /// server creates the tables, and used when the state then read has no heads indeed
    /// (the plan depends on nothing else). `None` for anything but an upgrade, or a plan
    /// refused (the run plans again, and says why).
    fn presume<DB: Backend>(&self, request: &Request) -> Option<Presumed<'m, DB>> {
        let Request::Upgrade(target) = request else {
            return None;
        };
        let plan = self.plan::<DB>(request, target, &[]).ok()?;
        let works = self.works::<DB>(&plan);
        let prepared = DB::prepare(&self.tables, &works);
        Some(Presumed {
            plan,
            works,
            prepared,
        })
    }

    /// The report of an empty plan.
    fn nothing_to_do(&self, plan: &Plan) -> Report {
        let heads = self.ids(&plan.heads_after);
        crate::report::announce(
            None,
            &format!("nothing to do: the database is at {}", describe(&heads)),
        );
        Report {
            heads_before: heads.clone(),
            heads_after: heads,
            ..Report::default()
        }
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

    /// The state check's verdict for `request`, the same for every command that writes: a
    /// damaged, edited or inconsistent state is refused; then a dirty mark (except by a
    /// stamp, which is its repair); then a database ahead of this binary, which a boot run
    /// with [`allow_database_ahead`](Self::allow_database_ahead) tolerates (`Ok(Some(_))`).
    fn refuse_state(
        &self,
        check: &StateCheck,
        rows: &[HeadRow],
        request: &Request,
        boot: bool,
    ) -> Result<Option<Report>, Error> {
        if let Some(refusal) = check.refusal(matches!(request, Request::Stamp { .. })) {
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

    /// The heads after stamping `targets`, one after the other, from `start`.
    fn stamped_heads(&self, targets: &[Target], start: &[usize]) -> Result<Vec<usize>, Error> {
        let mut heads = start.to_vec();
        for target in targets {
            heads = self
                .migrations
                .graph()
                .plan_stamp(target, &heads)
                .map_err(|e| self.target_error(e))?
                .heads_after;
        }
        Ok(heads)
    }

    /// The statements that empty the version table and delete the log rows of `gone`.
    fn unrecord(&self, d: revchain_core::Dialect, gone: Vec<&str>) -> Vec<String> {
        let t = &self.tables;
        let mut statements = vec![format!("DELETE FROM {}", t.version.quoted(d))];
        for chunk in gone.chunks(500) {
            statements.extend(t.delete_log(d, chunk));
        }
        statements
    }

    async fn stamp_locked<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        targets: &[Target],
        purge: bool,
        current: &[usize],
        // The dirty log rows (a stamp re-records them).
        dirty_rows: &[LogRow],
        in_callers_transaction: bool,
    ) -> Result<Report, Error> {
        let (statements, report) =
            self.stamp_statements(DB::DIALECT, targets, purge, current, dirty_rows)?;
        let written = if in_callers_transaction {
            DB::execute(conn, statements.join(";\n")).await
        } else {
            DB::exec_in_transaction(conn, &statements).await
        };
        written.map_err(|e| Error::db("writing the stamp", &e))?;
        crate::report::announce(
            None,
            &format!(
                "stamped the database at {} (no SQL ran)",
                describe(&report.heads_after)
            ),
        );
        Ok(report)
    }

    /// The bookkeeping statements of a stamp of `targets` from `current` (from nothing
    /// with `purge`, which empties both tables first), and its report.
    fn stamp_statements(
        &self,
        d: revchain_core::Dialect,
        targets: &[Target],
        purge: bool,
        current: &[usize],
        dirty_rows: &[LogRow],
    ) -> Result<(Vec<String>, Report), Error> {
        let graph = self.migrations.graph();
        let start: Vec<usize> = if purge { Vec::new() } else { current.to_vec() };
        let heads = self.stamped_heads(targets, &start)?;
        let before = graph.applied(&start);
        let after = graph.applied(&heads);
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
        let mut statements = if purge {
            t.purge(d)
        } else {
            let gone = added.iter().chain(&removed).map(|&i| revs[i].id());
            let dirty_gone = dirty
                .iter()
                .copied()
                .filter(|id| graph.find(id).is_none_or(|i| !after[i]));
            self.unrecord(d, gone.chain(dirty_gone).collect())
        };
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
        let report = Report {
            stamped: to_log.iter().map(|&i| revs[i].id().to_owned()).collect(),
            unstamped: removed.iter().map(|&i| revs[i].id().to_owned()).collect(),
            heads_before: self.ids(&graph.heads_of(&before)),
            heads_after: self.ids(&heads),
            ..Report::default()
        };
        Ok((statements, report))
    }

    /// Applies a plan, logging each revision and a progress line every few seconds: the
    /// report of the steps that were done (all of them, or those before a failure or a
    /// race), and how it ended.
    ///
    /// `works` are `plan`'s steps ([`works`](Self::works)); `prepared`, what the backend
    /// worked out of them ahead, when it did ([`Presumed`]).
    async fn apply<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        plan: &Plan,
        works: &[Work<'_>],
        prepared: Option<DB::Prepared>,
    ) -> (Report, Result<(), Failure>) {
        let total = works.len();
        let verb = match plan.direction {
            Direction::Upgrade => "applied",
            Direction::Downgrade => "reverted",
        };
        crate::report::announce(
            None,
            &format!(
                "{} {total} revision(s) from {} to {}",
                match plan.direction {
                    Direction::Upgrade => "upgrading",
                    Direction::Downgrade => "downgrading",
                },
                describe(&self.ids(&plan.heads_before)),
                describe(&self.ids(&plan.heads_after))
            ),
        );
        let times = StepTimes::new(works, verb);
        let done = AtomicUsize::new(0);
        let progress = |ended: std::ops::Range<usize>, took: Duration| {
            done.fetch_add(ended.len(), Ordering::Relaxed);
            times.record(ended, took);
        };
        let fut = DB::apply(
            conn,
            &self.tables,
            works,
            &progress,
            self.lock_timeout,
            prepared,
        );
        let result = with_progress_lines(fut, &done, total, verb).await;
        let steps = times.reports(result.is_ok());
        let report = Report {
            direction: Some(plan.direction),
            steps,
            heads_before: self.ids(&plan.heads_before),
            // Where a failed or raced plan stopped is not known here.
            heads_after: if result.is_ok() {
                self.ids(&plan.heads_after)
            } else {
                Vec::new()
            },
            ..Report::default()
        };
        (report, result)
    }

    /// The repeatable phase after `plan` ran (docs/design.md §4.10): adds what it did to
    /// `report`.
    async fn repeatables<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        plan: &Plan,
        mut report: Report,
        in_callers_transaction: bool,
    ) -> Result<Report, Error> {
        if self.migrations.repeatables().is_empty() {
            // Nothing to do, and nothing to work out (`versioned` walks the graph).
            return Ok(report);
        }
        let versioned = self.versioned(plan, in_callers_transaction);
        crate::repeatable::run::<DB>(self.migrations, &self.tables, conn, &versioned, &mut report)
            .await?;
        Ok(report)
    }

    /// Before the steps of a downgrade `plan`: the repeatables that depend on a revision it
    /// reverts are removed; the report lists them.
    async fn repeatables_before<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        plan: &Plan,
        in_callers_transaction: bool,
    ) -> Result<Report, Error> {
        let mut report = Report::default();
        if self.migrations.repeatables().is_empty() {
            return Ok(report);
        }
        let versioned = self.versioned(plan, in_callers_transaction);
        crate::repeatable::before_downgrade::<DB>(
            self.migrations,
            &self.tables,
            conn,
            &versioned,
            &mut report,
        )
        .await?;
        Ok(report)
    }

    /// What the repeatable phase needs of `plan`.
    fn versioned(
        &self,
        plan: &Plan,
        in_callers_transaction: bool,
    ) -> crate::repeatable::Versioned<'_> {
        let graph = self.migrations.graph();
        let ids = |v: &[usize]| -> Vec<&str> { v.iter().map(|&i| graph.id(i)).collect() };
        crate::repeatable::Versioned {
            direction: plan.direction,
            heads_before: ids(&plan.heads_before),
            heads_after: ids(&plan.heads_after),
            applied_after: graph.ancestors_with_dependencies(plan.heads_after.iter().copied()),
            in_callers_transaction,
            lock_timeout: self.lock_timeout,
        }
    }

    /// The steps of `plan` as the backends take them.
    fn works<DB: Backend>(&self, plan: &Plan) -> Vec<Work<'m>> {
        let revs: Vec<&Revision> = self.migrations.iter().collect();
        // The upgrades' traits, when worked out while the tables were created.
        let known = |index: usize| {
            let cleared = self.cleared.as_ref()?.get()?;
            let upgrade = plan.direction == Direction::Upgrade;
            upgrade
                .then(|| cleared.traits(index, DB::DIALECT))
                .flatten()
                .cloned()
        };
        plan.steps
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
                traits: known(s.revision).map_or_else(Default::default, Into::into),
            })
            .collect()
    }

    fn failure_error(&self, f: Failure, plan: &Plan) -> Error {
        let revision_at =
            |i: usize| (plan.steps.get(i)).and_then(|s| self.migrations.at(s.revision));
        failure_error(f, plan.direction, &revision_at)
    }
}

/// The tables of a first run opened with its lock, and the plan presumed meanwhile
/// ([`Migrator::lock_and_open`]).
type Opening<'m, DB> = (Result<Option<Opened>, Error>, Option<Presumed<'m, DB>>);

/// A plan worked out before the state it starts from was read ([`Migrator::presume`]).
struct Presumed<'a, DB: Backend> {
    plan: Plan,
    /// Its steps.
    works: Vec<Work<'a>>,
    /// What the backend worked out of them ([`Driver::prepare`](crate::backend::sealed::Driver::prepare)).
    prepared: Option<DB::Prepared>,
}

/// What the engine's progress callback records: each step's duration, logged as it ends.
struct StepTimes<'w, 'a> {
    works: &'w [Work<'a>],
    /// `applied` or `reverted`.
    verb: &'static str,
    durations: Mutex<Vec<Option<Duration>>>,
}

impl<'w, 'a> StepTimes<'w, 'a> {
    fn new(works: &'w [Work<'a>], verb: &'static str) -> Self {
        let durations = Mutex::new(vec![None; works.len()]);
        StepTimes {
            works,
            verb,
            durations,
        }
    }

    /// Steps `ended` ended (together), each after `took`: their lines go out at once.
    fn record(&self, ended: std::ops::Range<usize>, took: Duration) {
        let works = self.works.get(ended.clone()).unwrap_or_default();
        let lines = works.iter().map(|w| {
            let line = format!(
                "{} {} ({}) in {}",
                self.verb,
                w.revision.id(),
                w.revision.message(),
                crate::report::human_duration(took)
            );
            (Some(w.revision.id()), line)
        });
        crate::report::announce_each(lines);
        let mut durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        for slot in durations.get_mut(ended).unwrap_or_default() {
            *slot = Some(took);
        }
    }

    /// The steps that ended (every step when the run `finished`, those without a recorded
    /// duration with none).
    fn reports(self, finished: bool) -> Vec<StepReport> {
        let durations = self
            .durations
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        (self.works.iter().zip(durations))
            .filter_map(|(w, d)| {
                d.or(finished.then_some(Duration::ZERO))
                    .map(|duration| StepReport {
                        id: w.revision.id().to_owned(),
                        message: w.revision.message().to_owned(),
                        duration,
                    })
            })
            .collect()
    }
}

/// The error of a failed step: `revision_at(i)` is the revision of the step at index `i`.
fn failure_error<'m>(
    f: Failure,
    direction: Direction,
    revision_at: &dyn Fn(usize) -> Option<&'m Revision>,
) -> Error {
    let step = |index: usize, line: usize, aftermath| {
        let rev = revision_at(index);
        FailedStep {
            id: rev.map_or_else(|| "?".into(), |r| r.id().to_owned()),
            path: rev.map_or_else(|| "?".into(), |r| r.path().to_owned()),
            line,
            direction,
            message: String::new(),
            code: None,
            aftermath,
            applied_before: Report::default(),
        }
    };
    match f {
        Failure::Step {
            index,
            line,
            error,
            aftermath,
            stage,
        } => Error::of_step(step(index, line, aftermath), error, stage),
        Failure::Code {
            index,
            line,
            error,
            aftermath,
        } => Error::of_code(step(index, line, aftermath), error),
        Failure::Raced(_) => Error::Drift {
            kind: DriftKind::Raced,
        },
        Failure::Other(e) => e,
        Failure::Retried { tries, failure } => {
            let mut error = failure_error(*failure, direction, revision_at);
            if let Error::Statement { step, .. } = &mut error {
                step.message = format!(
                    "{} ({})",
                    step.message,
                    crate::backend::timeouts::tries_note(tries)
                );
            }
            error
        }
    }
}

/// Releases the migration lock: whether it was released (when not, the failure is logged,
/// and closing the connection releases it).
async fn release<DB: Backend>(conn: &mut DB::Connection, tables: &Tables, held: Held) -> bool {
    match DB::unlock(conn, tables, held).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                target: "revchain",
                "could not release the migration lock ({}); closing the connection releases it",
                driver_message(&e)
            );
            false
        }
    }
}

/// The version rows, as [`Driver::read_heads`](crate::backend::sealed::Driver::read_heads);
/// inside the caller's transaction, in a savepoint rolled back afterwards, so that a table
/// not created yet does not abort that transaction (PostgreSQL).
async fn read_heads<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &Tables,
) -> Result<Option<Vec<HeadRow>>, sqlx::Error> {
    outside_or_in_savepoint::<DB, _>(conn, async |c| DB::read_heads(c, tables).await).await
}

/// The log rows, as [`read_heads`] reads the version rows.
async fn read_log<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &Tables,
) -> Result<Vec<LogRow>, sqlx::Error> {
    outside_or_in_savepoint::<DB, _>(conn, async |c| DB::read_log(c, tables).await).await
}

/// Runs `read` on `conn`, or, inside the caller's transaction, in a savepoint rolled back
/// afterwards (a failed read must not abort the caller's PostgreSQL transaction).
async fn outside_or_in_savepoint<DB: Backend, T>(
    conn: &mut DB::Connection,
    read: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    use sqlx::Connection as _;
    if !conn.is_in_transaction() {
        return read(conn).await;
    }
    let mut savepoint = conn.begin().await?;
    let result = read(&mut savepoint).await;
    savepoint.rollback().await?;
    result
}

/// Runs `work` (step `index`) and its bookkeeping in the caller's transaction.
async fn run_in_transaction<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
) -> Result<(), Failure> {
    let started = Instant::now();
    if work.revision.is_rust() {
        crate::backend::code::run_code::<DB>(conn, work, index, Aftermath::InCallersTransaction)
            .await?;
    }
    let sql = if work.revision.is_rust() {
        ""
    } else {
        work.sql()
    };
    for (sql, line) in statements(sql, DB::DIALECT, work.sql_line()) {
        DB::execute(conn, sql)
            .await
            .map_err(|error| Failure::Step {
                index,
                line,
                error,
                aftermath: Aftermath::InCallersTransaction,
                stage: Stage::Statement,
            })?;
    }
    let millis = started.elapsed().as_millis().to_string();
    let bookkeeping = tables.step_bookkeeping(DB::DIALECT, work, &millis);
    DB::execute(conn, bookkeeping.join(";\n"))
        .await
        .map_err(|e| Failure::db(&format!("recording revision {}", work.revision.id()), &e))
}

/// Awaits `fut` (a backend applying `total` steps), logging every five seconds how many
/// are `done`.
async fn with_progress_lines<T>(
    fut: impl Future<Output = T>,
    done: &AtomicUsize,
    total: usize,
    verb: &str,
) -> T {
    let started = Instant::now();
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
}

/// The state of a run's attempts under the lock: another process may race it (SQLite,
/// whose lock is per revision), and it plans again.
#[derive(Default)]
struct Attempts {
    /// What the run applied in the plans that were raced: still its work.
    applied: Applied,
    /// How many plans were raced.
    races: usize,
    /// The version rows a plan was made on when it met a step no longer pending, that
    /// step's revision and direction.
    raced: Option<(Vec<HeadRow>, String, Direction)>,
    /// Without a session lock (SQLite) a dirty mark may be a `Transactional: false`
    /// revision that another process is running right now: the wait for it, up to the
    /// lock timeout, before refusing.
    dirty_wait: Option<(WaitLog, u32)>,
}

impl Attempts {
    /// A plan was raced at revision `id`: it was made on `rows`, and did `report`.
    fn raced(&mut self, rows: Vec<HeadRow>, id: String, report: Report) {
        self.races += 1;
        let direction = report.direction.unwrap_or(Direction::Upgrade);
        self.applied.add(report);
        self.raced = Some((rows, id, direction));
    }

    /// A race changes the version table (a step and its head rows commit together, and a
    /// running `Transactional: false` step is a dirty mark, waited for): when `rows` are
    /// as they were when the last plan was raced, the log and the version table disagree.
    fn refuse_repeated_race(&mut self, rows: &[HeadRow]) -> Result<(), Error> {
        match self.raced.take() {
            Some((before, id, direction)) if before == rows => Err(Error::Drift {
                kind: DriftKind::LogDisagrees {
                    id,
                    in_log: direction == Direction::Upgrade,
                },
            }),
            _ => Ok(()),
        }
    }
}

/// The steps a run applied in plans that another process raced: the final report (or the
/// error of a failed step) still lists them, from the first plan's heads.
#[derive(Default)]
struct Applied {
    direction: Option<Direction>,
    heads_before: Option<Vec<String>>,
    steps: Vec<StepReport>,
}

impl Applied {
    /// Adds the steps of a plan that was raced.
    fn add(&mut self, report: Report) {
        if report.steps.is_empty() {
            return;
        }
        if let Some(direction) = report.direction {
            self.direction.get_or_insert(direction);
        }
        self.heads_before.get_or_insert(report.heads_before);
        self.steps.extend(report.steps);
    }

    /// `report` (of the last plan), preceded by the steps of the earlier ones.
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

/// The report of a run that found the database at `heads`, the embedded heads.
fn up_to_date(heads: Vec<String>) -> Report {
    Report {
        heads_before: heads.clone(),
        heads_after: heads,
        up_to_date: true,
        ..Report::default()
    }
}

fn describe(heads: &[String]) -> String {
    if heads.is_empty() {
        "base".to_owned()
    } else {
        heads.join(", ")
    }
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
    /// `db` is a pool or a connection ([`PoolOrConnection`]).
    ///
    /// Each applied revision is logged (`applied <id> (<message>) in 8 ms`) through
    /// `tracing` at `info`, target `revchain`. In a process with no `tracing` subscriber at
    /// all, the same lines go to stderr as `revchain: applied …`, so that a migration is
    /// never silent; once the application installs a subscriber, its filter decides.
    ///
    /// ```no_run
    /// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    /// # async fn boot(pool: sqlx::SqlitePool) -> Result<(), revchain::Error> {
    /// MIGRATIONS.run(&pool).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<D: PoolOrConnection>(&self, db: D) -> Result<Report, Error> {
        Migrator::new(self).run(db).await
    }

    /// Upgrades to `target`; see [`Migrator::upgrade`].
    pub async fn upgrade<D: PoolOrConnection>(&self, db: D, target: &str) -> Result<Report, Error> {
        Migrator::new(self).upgrade(db, target).await
    }

    /// Downgrades to `target`; see [`Migrator::downgrade`].
    pub async fn downgrade<D: PoolOrConnection>(
        &self,
        db: D,
        target: &str,
    ) -> Result<Report, Error> {
        Migrator::new(self).downgrade(db, target).await
    }

    /// Records `targets` without running SQL; see [`Migrator::stamp`].
    ///
    /// ```no_run
    /// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    /// # async fn repair(pool: sqlx::SqlitePool) -> Result<(), revchain::Error> {
    /// MIGRATIONS.stamp(&pool, &["heads"], false).await?;
    /// # Ok(()) }
    /// ```
    pub async fn stamp<D: PoolOrConnection>(
        &self,
        db: D,
        targets: &[&str],
        purge: bool,
    ) -> Result<Report, Error> {
        Migrator::new(self).stamp(db, targets, purge).await
    }

    /// The current heads; see [`Migrator::current`].
    pub async fn current<D: PoolOrConnection>(&self, db: D) -> Result<Vec<CurrentHead>, Error> {
        Migrator::new(self).current(db).await
    }

    /// Applied, pending, unknown and dirty revisions; see [`Migrator::status`].
    pub async fn status<D: PoolOrConnection>(&self, db: D) -> Result<Status, Error> {
        Migrator::new(self).status(db).await
    }
}
