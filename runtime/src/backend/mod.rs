//! The databases revchain applies migrations to. [`Backend`] is implemented for
//! `sqlx::Postgres`, `sqlx::MySql` and `sqlx::Sqlite` (each behind its cargo feature); it is
//! sealed, and its methods are internal.

// `Backend` is public so that users can name it in bounds, but its supertrait `Driver` is
// sealed in a private module: its methods, and the crate-private types they take, cannot
// be reached from outside the crate even though the compiler considers them public.
#![allow(private_interfaces, private_bounds)]

use std::future::Future;
use std::time::Duration;

use revchain_core::Dialect;
use sqlx::Row;

use crate::bookkeeping::{Tables, Work};
use crate::error::{Aftermath, Error, Stage};

pub(crate) mod code;
pub(crate) mod group;

pub(crate) use lease::{Heartbeat, Lease, Lock, LockMode};

pub mod lease;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "mysql")]
mod nontransactional;
#[cfg(feature = "postgres")]
mod own_socket;
#[cfg(feature = "postgres")]
mod pooler;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
pub(crate) mod timeouts;

/// A database revchain can migrate: `sqlx::Postgres`, `sqlx::MySql` or `sqlx::Sqlite`.
///
/// Every operation of [`Migrations`](crate::Migrations) and [`Migrator`](crate::Migrator)
/// takes a `&sqlx::Pool<DB>` for any `DB: Backend` (`&PgPool`, `&MySqlPool`,
/// `&SqlitePool`), or a connection of one (`&mut PgConnection`, …): see
/// [`PoolOrConnection`](crate::PoolOrConnection).
pub trait Backend: sealed::Driver {}

impl<T: sealed::Driver> Backend for T {}

pub(crate) use revchain_core::applied::{HeadRow, LogRow, shorten};

/// How applying a list of steps failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Statement `line` (a file line) of step `index` failed, at `stage`.
    Step {
        index: usize,
        line: usize,
        error: sqlx::Error,
        aftermath: Aftermath,
        stage: Stage,
    },
    /// Another process changed the database's state before this step (revision `.0`)
    /// could start; plan again.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Raced(String),
    /// The function of Rust code revision step `index` (declared at file line `line`)
    /// returned `error` (docs/design.md §4.11).
    Code {
        index: usize,
        line: usize,
        error: crate::code::BoxError,
        aftermath: Aftermath,
    },
    /// Anything else (bookkeeping, connection, lock).
    Other(Error),
    /// `failure` (a lock timeout) ended the last of `tries` tries of a revision
    /// (docs/design.md §4.12).
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    Retried { tries: u32, failure: Box<Failure> },
}

impl Failure {
    pub fn db(context: &str, e: &sqlx::Error) -> Failure {
        Failure::Other(Error::db(context, e))
    }

    /// `work` ended its own transaction; `dirty_marked` says whether the mark was written.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    pub fn transaction_ended(work: &Work<'_>, dirty_marked: bool) -> Failure {
        Failure::Other(Error::TransactionEnded {
            id: work.revision.id().to_owned(),
            path: work.revision.path().to_owned(),
            line: work.sql_line(),
            direction: work.direction,
            dirty_marked,
            applied_before: Box::default(),
        })
    }
}

/// What [`lock`](sealed::Driver::lock) changed on the connection, for
/// [`unlock`](sealed::Driver::unlock) to put back.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// SQLite: the connection's busy timeout in milliseconds before the run, when the run
    /// shortened it.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub busy_timeout_ms: Option<i64>,
    /// The lease the run holds, when the lock is a lease row (PostgreSQL, MySQL/MariaDB).
    pub lease: Option<Lease>,
}

/// For a boot run, whether version rows read while waiting for the lock show the work
/// done (another process migrated meanwhile): then the lock is not needed.
pub(crate) type Done<'a> = Option<&'a (dyn Fn(&[HeadRow]) -> bool + Sync)>;

/// The refusal when the log and the version table disagree about a revision (one of them
/// was edited by hand): the log records it as applied and the version table does not
/// include it (`in_log`), or the other way round. Nothing of it ran.
pub(crate) fn log_disagrees(id: &str, in_log: bool) -> String {
    revchain_core::applied::log_disagrees(&[id], in_log)
}

/// A token no revision can know in advance (`rc` and 24 hex digits), made afresh for each
/// call: it marks revchain's own result rows, settings and savepoints among a revision's.
pub(crate) fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Seeded from the operating system's randomness.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    let seed = format!("{}:{:?}", hasher.finish(), std::thread::current().id());
    format!(
        "rc{}",
        &revchain_core::Digest::of(seed.as_bytes()).to_hex()[..24]
    )
}

/// Called as steps end: the indices of steps that ended together (one commit's), and how
/// long each took.
pub(crate) type Progress<'a> = &'a (dyn Fn(std::ops::Range<usize>, Duration) + Sync);

/// What a run starts from, read with the creation of the tables where the database allows
/// ([`Driver::open_tables`](sealed::Driver::open_tables)).
pub(crate) struct Opened {
    /// The version rows and the log rows.
    pub state: (Vec<HeadRow>, Vec<LogRow>),
    /// Whether the log table has every one of the
    /// [`STORED_COLUMNS`](crate::bookkeeping::STORED_COLUMNS).
    pub stored_columns: bool,
}

/// A row of revchain's own queries, read by column index: the bounds that sqlx's rows
/// meet only for each concrete database, stated once.
pub(crate) trait BookkeepingRow: Send {
    /// Column `index` as (nullable) text.
    fn text(&self, index: usize) -> Result<Option<String>, sqlx::Error>;

    /// Column `index` as a (nullable) boolean.
    fn flag(&self, index: usize) -> Result<Option<bool>, sqlx::Error>;
}

impl<R: Row> BookkeepingRow for R
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(index)
    }

    fn flag(&self, index: usize) -> Result<Option<bool>, sqlx::Error> {
        self.try_get(index)
    }
}

/// The version rows of a [`Tables::select_heads`] query's result, or `None` when `missing`
/// says the query failed because the table does not exist.
fn head_rows<R: BookkeepingRow>(
    fetched: Result<Vec<R>, sqlx::Error>,
    missing: fn(&sqlx::Error) -> bool,
) -> Result<Option<Vec<HeadRow>>, sqlx::Error> {
    decode_rows(fetched, missing, |row| {
        let mut defects = Vec::new();
        let revision = text_cell(row, 0, "revision", &mut defects);
        let chain_digest = text_cell(row, 1, "chain_digest", &mut defects);
        // `dirty` is the mark of a head being downgraded (`Tables::poison_head`).
        let chain_digest = if chain_digest == "dirty" {
            None
        } else {
            digest_cell(&chain_digest, "chain_digest", &mut defects)
        };
        HeadRow {
            revision,
            chain_digest,
            defect: join_defects(defects),
        }
    })
}

/// The log rows of a [`Tables::select_log`] query's result; none when `missing` says the
/// query failed because the table does not exist.
fn log_rows<R: BookkeepingRow>(
    fetched: Result<Vec<R>, sqlx::Error>,
    missing: fn(&sqlx::Error) -> bool,
) -> Result<Vec<LogRow>, sqlx::Error> {
    let rows = decode_rows(fetched, missing, |row| {
        let mut defects = Vec::new();
        let revision = text_cell(row, 0, "revision", &mut defects);
        let checksum = text_cell(row, 1, "checksum", &mut defects);
        let checksum = digest_cell(&checksum, "checksum", &mut defects);
        let chain_digest = text_cell(row, 2, "chain_digest", &mut defects);
        let chain_digest = digest_cell(&chain_digest, "chain_digest", &mut defects);
        let dirty = match row.flag(3) {
            Ok(Some(dirty)) => dirty,
            Ok(None) => {
                defects.push("dirty is NULL".to_owned());
                false
            }
            Err(_) => {
                defects.push("dirty is not a boolean".to_owned());
                false
            }
        };
        LogRow {
            revision,
            checksum,
            chain_digest,
            dirty,
            defect: join_defects(defects),
        }
    })?;
    Ok(rows.unwrap_or_default())
}

/// Fetched rows, each decoded with `decode` (which never fails: a damaged row carries
/// its defect), or `None` when `missing` says the query failed because its table does not
/// exist.
fn decode_rows<R, T>(
    fetched: Result<Vec<R>, sqlx::Error>,
    missing: fn(&sqlx::Error) -> bool,
    decode: fn(&R) -> T,
) -> Result<Option<Vec<T>>, sqlx::Error> {
    match fetched {
        Ok(rows) => Ok(Some(rows.iter().map(decode).collect())),
        Err(e) if missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Column `index` (named `name`) of a bookkeeping row as text: a NULL, an empty string or
/// a value that is not text is recorded in `defects` (and read as an empty string).
fn text_cell<R: BookkeepingRow>(
    row: &R,
    index: usize,
    name: &str,
    defects: &mut Vec<String>,
) -> String {
    match row.text(index) {
        Ok(Some(text)) if !text.is_empty() => text,
        Ok(Some(_)) => {
            defects.push(format!("{name} is empty"));
            String::new()
        }
        Ok(None) => {
            defects.push(format!("{name} is NULL"));
            String::new()
        }
        Err(_) => {
            defects.push(format!("{name} is not text"));
            String::new()
        }
    }
}

/// `text` (column `name`, already read) parsed as a digest, the one time it is parsed; when
/// it is not one, `None`, and the defect recorded in `defects` unless `text` is empty (a
/// defect recorded already).
fn digest_cell(text: &str, name: &str, defects: &mut Vec<String>) -> Option<revchain_core::Digest> {
    let digest = text.parse::<revchain_core::Digest>().ok();
    if !text.is_empty() && digest.is_none() {
        defects.push(format!("{name} `{}` is not a digest", shorten(text)));
    }
    digest
}

fn join_defects(defects: Vec<String>) -> Option<String> {
    (!defects.is_empty()).then(|| defects.join(", "))
}

pub(crate) mod sealed {
    use super::*;

    /// The operations each database implements: what really differs from one to the
    /// next is required (the SQL dialect, how it says a table is missing, running and
    /// fetching raw SQL, the lock, applying steps, a bookkeeping transaction); the rest
    /// has a default written once over those (refinery's model). Internal: the trait is
    /// sealed.
    pub trait Driver: sqlx::Database<Row: BookkeepingRow> + super::code::RunsCode {
        /// The SQL dialect.
        const DIALECT: Dialect;

        /// Whether [`lock`](Driver::lock) holds a lock for the whole run. Without one
        /// (SQLite, locked per revision), a dirty mark may belong to a revision another
        /// process is running at this moment, so the engine waits before refusing it.
        const SESSION_LOCK: bool = true;

        /// Whether DDL takes part in transactions. Not on MySQL/MariaDB, whose DDL commits
        /// implicitly: there revchain refuses to run inside a caller's transaction.
        const TRANSACTIONAL_DDL: bool = true;

        /// Tries once, without waiting, to take the migration lock for the rest of the
        /// caller's transaction that the connection is in (released when it ends): whether
        /// it was taken. SQLite has nothing to take: the transaction's first write takes the
        /// database's write lock.
        fn try_lock_in_transaction<'a>(
            _conn: &'a mut Self::Connection,
            _tables: &'a Tables,
        ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'a {
            std::future::ready(Ok(true))
        }

        /// Whether a driver error says that the queried table (or database) does not
        /// exist.
        fn is_missing_table(error: &sqlx::Error) -> bool;

        /// Runs `sql` (one or more statements) as it is, outside any transaction revchain
        /// opens.
        fn execute<'a>(
            conn: &'a mut Self::Connection,
            sql: String,
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

        /// The rows `sql` (one query) selects.
        fn fetch_all<'a>(
            conn: &'a mut Self::Connection,
            sql: String,
        ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'a;

        /// The version rows, or `None` when the table does not exist. One round trip.
        fn read_heads<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
        ) -> impl Future<Output = Result<Option<Vec<HeadRow>>, sqlx::Error>> + Send + 'a {
            let fetched = Self::fetch_all(conn, tables.select_heads(Self::DIALECT));
            async move { head_rows(fetched.await, Self::is_missing_table) }
        }

        /// The log rows (none when the table does not exist).
        fn read_log<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
        ) -> impl Future<Output = Result<Vec<LogRow>, sqlx::Error>> + Send + 'a {
            let fetched = Self::fetch_all(conn, tables.select_log(Self::DIALECT));
            async move { log_rows(fetched.await, Self::is_missing_table) }
        }

        /// Creates both tables if needed. `timeout` bounds the wait for a database whose
        /// lock is taken per transaction (SQLite, which overrides this:
        /// [`Error::LockTimeout`] once it passes); the others hold the session lock
        /// already.
        fn ensure_tables<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
            _timeout: Duration,
        ) -> impl Future<Output = Result<(), Error>> + Send + 'a {
            let create = Self::execute(conn, tables.create(Self::DIALECT).join(";\n"));
            async move {
                create
                    .await
                    .map_err(|e| Error::db("creating revchain's tables", &e))
            }
        }

        /// Creates both tables if needed, like [`ensure_tables`](Driver::ensure_tables),
        /// and may read in the same round trip what the run starts from ([`Opened`]).
        /// `None` (the default): nothing was read, and the run reads it query by query.
        fn open_tables<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
            timeout: Duration,
        ) -> impl Future<Output = Result<Option<Opened>, Error>> + Send + 'a {
            let created = Self::ensure_tables(conn, tables, timeout);
            async move { created.await.map(|()| None) }
        }

        /// The statement that takes the migration lock up front, in the text that opens a
        /// first run's tables ([`lock_and_open`](Driver::lock_and_open)), where the backend
        /// can take it without a probe first; `None` (the default) where it cannot. It
        /// fails when it does not take the lock, so that nothing after it runs: a run that
        /// does not get the lock leaves the database as it was.
        fn lock_up_front(
            pool: Option<&sqlx::Pool<Self>>,
            tables: &Tables,
            mode: LockMode,
        ) -> Option<String> {
            let _ = (pool, tables, mode);
            None
        }

        /// A first run's migration lock and tables in one round trip: `lock`, a statement
        /// of [`lock_up_front`](Driver::lock_up_front)'s, then the creation and the reads of
        /// [`open_tables`](Driver::open_tables), as one text. `Some` when the lock was
        /// taken (the advisory lock, which [`unlock`](Driver::unlock) releases like
        /// [`lock`](Driver::lock)'s), with the tables' outcome as `open_tables` gives it.
        /// `None` when it was not: nothing is held or changed, and the run takes the usual
        /// way, `lock` then `open_tables`.
        fn lock_and_open<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
            lock: String,
            timeout: Duration,
        ) -> impl Future<Output = Option<Result<Option<Opened>, Error>>> + Send + 'a {
            let _ = (conn, tables, lock, timeout);
            std::future::ready(None)
        }

        /// Takes the migration lock (`lock`: the advisory lock or a lease; SQLite ignores
        /// it), waiting at most `timeout`, logging who holds it. While it waits, the version
        /// rows are read again at each attempt: when `done` says they show the work done,
        /// it returns `None` without the lock.
        fn lock<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
            timeout: Duration,
            done: Done<'a>,
            lock: &'a Lock,
        ) -> impl Future<Output = Result<Option<Held>, Error>> + Send + 'a;

        /// Why the run must take the lease rather than the advisory lock
        /// ([`LockMode::Auto`]), when it must: the database has no advisory locks, or a
        /// pooler in transaction mode stands between the run and the database. `pool`,
        /// when the run has one, lets the probe open a second connection.
        fn lease_reason<'a>(
            _conn: &'a mut Self::Connection,
            _pool: Option<&'a sqlx::Pool<Self>>,
        ) -> impl Future<Output = Option<String>> + Send + 'a {
            std::future::ready(None)
        }

        /// Releases the migration lock and restores what [`lock`](Driver::lock) changed.
        fn unlock<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
            held: Held,
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

        /// What [`apply`](Driver::apply) can work out of the steps before it runs,
        /// without the connection (PostgreSQL: the first group's text). The engine works it
        /// out while the server is busy with something else (creating the tables of a
        /// fresh database).
        type Prepared: Send;

        /// [`Prepared`](Driver::Prepared) for `works`, which [`apply`](Driver::apply)
        /// then takes with the same `tables` and `works`; `None` when nothing is worth it.
        fn prepare(_tables: &Tables, _works: &[Work<'_>]) -> Option<Self::Prepared> {
            None
        }

        /// Applies the steps in order, each atomically with its bookkeeping where the
        /// database allows. Stops at the first failure. `timeout` bounds the wait for a
        /// database whose lock is taken per revision (SQLite's `BEGIN IMMEDIATE`).
        /// `prepared`, when given, is [`prepare`](Driver::prepare)'s of these `works`.
        fn apply<'a>(
            conn: &'a mut Self::Connection,
            tables: &'a Tables,
            works: &'a [Work<'a>],
            progress: Progress<'a>,
            timeout: Duration,
            prepared: Option<Self::Prepared>,
        ) -> impl Future<Output = Result<(), Failure>> + Send + 'a;

        /// Runs bookkeeping statements (no user SQL) in one transaction.
        fn exec_in_transaction<'a>(
            conn: &'a mut Self::Connection,
            statements: &'a [String],
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
    }
}

/// A database whose migration lock is held by the session for the whole run (PostgreSQL,
/// MySQL/MariaDB): it is taken by [`lock_session`], and a revision that cannot be atomic is
/// run by [`apply_marked`].
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) trait SessionLocked: sealed::Driver {
    /// Tries once, without waiting, to take the migration lock of `tables`: whether it
    /// was taken.
    fn try_lock<'a>(
        conn: &'a mut Self::Connection,
        tables: &'a Tables,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'a;

    /// Who holds the migration lock of `tables`, as far as the database tells.
    fn lock_holder<'a>(
        conn: &'a mut Self::Connection,
        tables: &'a Tables,
    ) -> impl Future<Output = Option<String>> + Send + 'a;

    /// The refusal when marking the revision as running fails because the log already has
    /// its row (`None` when that is not why).
    fn mark_conflict(_error: &sqlx::Error, _work: &Work<'_>) -> Option<Failure> {
        None
    }
}

/// [`Driver::lock`](sealed::Driver::lock) for a [`SessionLocked`] database: the session's
/// advisory lock, or the lease row, by [`poll_lock`].
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn lock_session<DB: SessionLocked>(
    conn: &mut DB::Connection,
    tables: &Tables,
    timeout: Duration,
    done: Done<'_>,
    lock: &Lock,
) -> Result<Option<Held>, Error> {
    match lock {
        Lock::Advisory => Ok(poll_lock::<DB, _>(conn, tables, timeout, done, &Advisory)
            .await?
            .map(|()| Held::default())),
        Lock::Lease(lease) => lease::lock_lease::<DB>(conn, tables, timeout, done, lease).await,
    }
}

/// [`Driver::unlock`](sealed::Driver::unlock) of a lease (`Ok(None)`: the lock was not
/// one, and the backend releases its own).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn unlock_lease<DB: SessionLocked>(
    conn: &mut DB::Connection,
    tables: &Tables,
    held: &Held,
) -> Option<Result<(), sqlx::Error>> {
    match &held.lease {
        Some(lease) => Some(lease::unlock_lease::<DB>(conn, tables, lease).await),
        None => None,
    }
}

/// One way of taking the migration lock, for [`poll_lock`].
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) trait TryLock<DB: sealed::Driver>: Sync {
    /// Tries once, without waiting, to take the lock of `tables`: whether it was taken.
    fn try_lock<'a>(
        &'a self,
        conn: &'a mut DB::Connection,
        tables: &'a Tables,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'a;

    /// Who holds the lock of `tables`, as far as the database tells.
    fn holder<'a>(
        &'a self,
        conn: &'a mut DB::Connection,
        tables: &'a Tables,
    ) -> impl Future<Output = Option<String>> + Send + 'a;
}

/// The session's advisory lock of a [`SessionLocked`] database.
#[cfg(any(feature = "postgres", feature = "mysql"))]
struct Advisory;

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<DB: SessionLocked> TryLock<DB> for Advisory {
    fn try_lock<'a>(
        &'a self,
        conn: &'a mut DB::Connection,
        tables: &'a Tables,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'a {
        DB::try_lock(conn, tables)
    }

    fn holder<'a>(
        &'a self,
        conn: &'a mut DB::Connection,
        tables: &'a Tables,
    ) -> impl Future<Output = Option<String>> + Send + 'a {
        DB::lock_holder(conn, tables)
    }
}

/// Tries the lock `how` with a growing delay until `timeout`, logging who holds it, and
/// gives up early (`None`) when `done` says that the version rows show the work done.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) async fn poll_lock<DB: sealed::Driver, L: TryLock<DB>>(
    conn: &mut DB::Connection,
    tables: &Tables,
    timeout: Duration,
    done: Done<'_>,
    how: &L,
) -> Result<Option<()>, Error> {
    let mut wait = WaitLog::new();
    let mut attempt = 0;
    loop {
        if how
            .try_lock(conn, tables)
            .await
            .map_err(|e| Error::db("taking the migration lock", &e))?
        {
            return Ok(Some(()));
        }
        // Another process may have finished the work meanwhile: then there is no need
        // to queue for the lock only to find nothing to do.
        if attempt > 0
            && let Some(done) = done
            && let Ok(Some(rows)) = DB::read_heads(conn, tables).await
            && done(&rows)
        {
            return Ok(None);
        }
        if wait.elapsed() >= timeout {
            return Err(Error::LockTimeout {
                waited: wait.elapsed(),
                holder: how.holder(conn, tables).await,
            });
        }
        if wait.due() {
            wait.log(how.holder(conn, tables).await.as_deref());
        }
        tokio::time::sleep(backoff(attempt).min(timeout.saturating_sub(wait.elapsed()))).await;
        attempt += 1;
    }
}

/// Runs a revision that cannot be atomic (DDL that commits, or `Transactional: false`) under
/// the session lock: mark it dirty, run each statement on its own, then record it and clear
/// the mark. When the first statement fails nothing ran, and the mark goes again.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn apply_marked<DB: SessionLocked>(
    conn: &mut DB::Connection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    apply_marked_with::<DB>(
        conn,
        tables,
        work,
        index,
        progress,
        FirstFailure::ChangedNothing,
    )
    .await
}

/// What a failed first statement of a marked revision left behind.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstFailure {
    /// Nothing: a failed statement changes nothing on its own, so the mark can go.
    ChangedNothing,
    /// Maybe part of it: on a table whose engine ignores transactions (MyISAM), a
    /// multi-row `INSERT` that fails at its third row keeps the first two. The mark stays.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    MayHaveWritten,
}

/// [`apply_marked`], saying what a failed first statement leaves behind.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn apply_marked_with<DB: SessionLocked>(
    conn: &mut DB::Connection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
    first_failure: FirstFailure,
) -> Result<(), Failure> {
    let d = DB::DIALECT;
    let id = work.revision.id();
    let mark = tables.mark_running(d, work);
    let unmark = tables.unmark_running(d, work);
    DB::exec_in_transaction(conn, &mark).await.map_err(|e| {
        if let Some(lease) = &tables.lease
            && lease::is_lost(&e, crate::bookkeeping::MARK_TAG)
        {
            return Failure::Other(lease::lost(tables, lease));
        }
        DB::mark_conflict(&e, work)
            .unwrap_or_else(|| Failure::db(&format!("marking revision {id} as running"), &e))
    })?;
    let started = std::time::Instant::now();
    if work.revision.is_rust() {
        // It may have committed batches of its own: a failure leaves the mark.
        code::run_code::<DB>(conn, work, index, Aftermath::Dirty).await?;
    }
    let sql = if work.revision.is_rust() {
        ""
    } else {
        work.sql()
    };
    for (k, (stmt, line)) in statements(sql, d, work.sql_line()).into_iter().enumerate() {
        if let Err(error) = DB::execute(conn, stmt).await {
            // Nothing ran before the first statement (a failed statement changes nothing on
            // its own): the mark can go.
            let aftermath = if k == 0
                && first_failure == FirstFailure::ChangedNothing
                && DB::exec_in_transaction(conn, &unmark).await.is_ok()
            {
                Aftermath::RolledBack
            } else {
                Aftermath::Dirty
            };
            return Err(Failure::Step {
                index,
                line,
                error,
                aftermath,
                stage: Stage::Statement,
            });
        }
    }
    let elapsed = started.elapsed();
    let finish = tables.finish_running(d, work, &elapsed.as_millis().to_string());
    DB::exec_in_transaction(conn, &finish)
        .await
        .map_err(|e| Failure::db(&format!("recording revision {id}"), &e))?;
    progress(index..index + 1, elapsed);
    Ok(())
}

/// The statements of `sql` for `dialect`, with their file lines (`first_line` is the file
/// line where `sql` starts).
pub(crate) fn statements(sql: &str, dialect: Dialect, first_line: usize) -> Vec<(String, usize)> {
    revchain_core::split_statements(sql, dialect)
        .into_iter()
        .map(|s| (s.sql.to_owned(), first_line + s.line - 1))
        .collect()
}

/// A delay that grows from 10 ms to 500 ms, for polling a lock.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((10u64 << attempt.min(6)).min(500))
}

/// Logs, at most every few seconds, that the lock is still held by someone else.
pub(crate) struct WaitLog {
    started: std::time::Instant,
    last: Option<std::time::Instant>,
}

impl WaitLog {
    pub fn new() -> WaitLog {
        WaitLog {
            started: std::time::Instant::now(),
            last: None,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether it is time to log again (immediately the first time).
    pub fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        let due = self
            .last
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(5));
        if due {
            self.last = Some(now);
        }
        due
    }

    pub fn log(&self, holder: Option<&str>) {
        match holder {
            Some(h) => tracing::info!(
                target: "revchain",
                "waiting for the migration lock, held by {h} ({} so far)",
                crate::report::human_duration(self.elapsed())
            ),
            None => tracing::info!(
                target: "revchain",
                "waiting for the migration lock ({} so far)",
                crate::report::human_duration(self.elapsed())
            ),
        }
    }
}

/// The run-time check behind the parser's and the pre-flight's refusal of transaction
/// control: driven through the backends directly, since every public path refuses such a
/// revision before it runs.
#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod transaction_ended_tests;

/// `options` with sqlx's statement logging moved down to `trace`, both for every statement
/// and for slow ones: sqlx logs a statement that takes longer than a second at `warn`, with
/// its whole text, so that every slow revision (`CREATE ROLE … PASSWORD '…'` included) would
/// appear in an application's default logs. revchain sets this on every pool it builds; set
/// it on the pool you give revchain too. Statement text then shows only when `sqlx::query`
/// is enabled at `trace` (`RUST_LOG=sqlx::query=trace`).
///
/// ```
/// use std::str::FromStr;
/// let options = sqlx::postgres::PgConnectOptions::from_str("postgres://app@db/shop").unwrap();
/// let options = revchain::quiet_statements(options);
/// # let _ = options;
/// ```
pub fn quiet_statements<O: sqlx::ConnectOptions>(options: O) -> O {
    options
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Trace, Duration::from_secs(1))
}
