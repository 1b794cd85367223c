//! The lease lock (docs/design.md §4.2): a row in the lock table (`revchain_lock` by
//! default) with an owner, an expiry and a heartbeat, for PostgreSQL behind a pooler in
//! transaction mode (PgBouncer), where a session advisory lock is stranded on a server
//! connection that other clients then use, and for PostgreSQL-compatible databases without
//! `pg_try_advisory_lock`. It needs no session state: each of its statements is one short
//! transaction, and every time is the server's clock (`now()`), never the client's.
//!
//! - Acquire: one atomic upsert that inserts the row, or takes it over when it has expired
//!   (or is already this run's), and returns the owner when it did.
//! - Heartbeat: a task on its own connection extends the expiry every third of the
//!   time-to-live; each PostgreSQL revision also extends it, and checks that the run still
//!   owns it, inside its own transaction ([`guard`]): a run that lost its lease stops before
//!   its next revision with [`Error::LeaseLost`].
//! - Release: the row is deleted where the owner is this run.

// SQLite alone takes no lease: only the public mode remains in use.
#![cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]

use std::str::FromStr;
use std::time::Duration;

use revchain_core::Dialect;

use super::sealed::Driver;
use super::{BookkeepingRow, Done, Held, TryLock, poll_lock};
use crate::bookkeeping::{Tables, literal};
use crate::error::Error;

/// How [`Migrator`](crate::Migrator) takes the migration lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LockMode {
    /// The lease when the database has no advisory locks or a pooler in transaction mode
    /// is detected between the run and the database (PostgreSQL; see docs/design.md §4.2),
    /// otherwise the advisory lock.
    #[default]
    Auto,
    /// The session's advisory lock (`pg_try_advisory_lock`, MySQL's `GET_LOCK`).
    Advisory,
    /// The lease row in the lock table (PostgreSQL, MySQL/MariaDB; SQLite takes its lock
    /// per transaction, and ignores the mode).
    Lease,
}

/// A lock mode that is not `auto`, `advisory` or `lease`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a lock mode: use `auto`, `advisory` or `lease`")]
pub struct InvalidLockMode(pub String);

impl FromStr for LockMode {
    type Err = InvalidLockMode;

    fn from_str(text: &str) -> Result<LockMode, InvalidLockMode> {
        match text {
            "auto" => Ok(LockMode::Auto),
            "advisory" => Ok(LockMode::Advisory),
            "lease" => Ok(LockMode::Lease),
            _ => Err(InvalidLockMode(text.to_owned())),
        }
    }
}

/// The lock a run takes, its mode resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lock {
    /// The session's advisory lock.
    Advisory,
    /// The lease row.
    Lease(Lease),
}

/// A run's lease: who it is, and how long the lease lasts without a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    /// The owner written in the row: unique to the run.
    pub owner: String,
    /// The time-to-live of the lease.
    pub ttl: Duration,
}

/// The longest owner the lock table's column holds.
const OWNER_MAX: usize = 128;

impl Lease {
    /// A new lease for this process with `ttl` (at least 1 s): its owner names the
    /// host, the process and a token unique to the run.
    pub fn new(ttl: Duration) -> Lease {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown host".to_owned());
        let mut owner = format!("pid {} on {host} ({})", std::process::id(), token());
        if owner.len() > OWNER_MAX {
            let mut end = OWNER_MAX;
            while !owner.is_char_boundary(end) {
                end -= 1;
            }
            owner.truncate(end);
        }
        Lease {
            owner,
            ttl: ttl.max(Duration::from_secs(1)),
        }
    }

    /// How often the heartbeat extends the lease: a third of its time-to-live.
    pub fn heartbeat_every(&self) -> Duration {
        self.ttl / 3
    }

    /// The time-to-live in whole milliseconds, for SQL.
    fn ttl_ms(&self) -> u128 {
        self.ttl.as_millis()
    }
}

fn token() -> String {
    super::token()
}

/// The key of the lease row: the version table's name (one lock per version table, as the
/// advisory lock).
fn row_name(tables: &Tables) -> String {
    tables.version.to_string()
}

/// `now()`, the server's clock, plus the lease's time-to-live.
fn expiry(d: Dialect, lease: &Lease) -> String {
    match d {
        Dialect::MySql => format!("NOW(6) + INTERVAL {} MICROSECOND", lease.ttl_ms() * 1000),
        _ => format!("now() + interval '{} milliseconds'", lease.ttl_ms()),
    }
}

fn now(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => "NOW(6)",
        _ => "now()",
    }
}

/// `CREATE TABLE IF NOT EXISTS` for the lock table.
pub(crate) fn create_sql(d: Dialect, tables: &Tables) -> String {
    let ts = match d {
        Dialect::MySql => "TIMESTAMP(6) NULL",
        _ => "TIMESTAMP WITH TIME ZONE",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    name VARCHAR(128) NOT NULL PRIMARY KEY,\n    \
         owner VARCHAR({OWNER_MAX}) NOT NULL,\n    acquired_at {ts} NOT NULL,\n    \
         expires_at {ts} NOT NULL,\n    heartbeat_at {ts} NOT NULL\n)",
        tables.lock.quoted(d)
    )
}

/// The statements that take the lease when it is free, expired or already the run's; the
/// last one returns the owner's row when the run holds it. PostgreSQL: one atomic upsert.
/// MySQL/MariaDB: an upsert whose assignments keep the row unless it may be taken (they
/// run left to right, so `owner` is decided first and the rest follow it), then a read.
pub(crate) fn acquire_sql(d: Dialect, tables: &Tables, lease: &Lease) -> Vec<String> {
    let table = tables.lock.quoted(d);
    let name = literal(d, &row_name(tables));
    let me = literal(d, &lease.owner);
    let (now, expires) = (now(d), expiry(d, lease));
    match d {
        Dialect::MySql => vec![
            format!(
                "INSERT INTO {table} (name, owner, acquired_at, expires_at, heartbeat_at) \
                 VALUES ({name}, {me}, {now}, {expires}, {now}) ON DUPLICATE KEY UPDATE \
                 owner = IF(expires_at < {now} OR owner = {me}, {me}, owner), \
                 acquired_at = IF(owner = {me}, {now}, acquired_at), \
                 expires_at = IF(owner = {me}, {expires}, expires_at), \
                 heartbeat_at = IF(owner = {me}, {now}, heartbeat_at)"
            ),
            format!("SELECT owner FROM {table} WHERE name = {name} AND owner = {me}"),
        ],
        _ => vec![format!(
            "INSERT INTO {table} AS l (name, owner, acquired_at, expires_at, heartbeat_at) \
             VALUES ({name}, {me}, {now}, {expires}, {now}) ON CONFLICT (name) DO UPDATE SET \
             owner = EXCLUDED.owner, acquired_at = EXCLUDED.acquired_at, \
             expires_at = EXCLUDED.expires_at, heartbeat_at = EXCLUDED.heartbeat_at \
             WHERE l.expires_at < {now} OR l.owner = EXCLUDED.owner RETURNING l.owner"
        )],
    }
}

/// The statements that extend the lease; the last returns the row when the run still
/// holds it.
pub(crate) fn renew_sql(d: Dialect, tables: &Tables, lease: &Lease) -> Vec<String> {
    let table = tables.lock.quoted(d);
    let name = literal(d, &row_name(tables));
    let me = literal(d, &lease.owner);
    let update = format!(
        "UPDATE {table} SET expires_at = {}, heartbeat_at = {} WHERE name = {name} AND owner = {me}",
        expiry(d, lease),
        now(d)
    );
    match d {
        Dialect::MySql => vec![
            update,
            format!("SELECT owner FROM {table} WHERE name = {name} AND owner = {me}"),
        ],
        _ => vec![format!("{update} RETURNING owner")],
    }
}

/// Deletes the row where the owner is the run.
pub(crate) fn release_sql(d: Dialect, tables: &Tables, lease: &Lease) -> String {
    format!(
        "DELETE FROM {} WHERE name = {} AND owner = {}",
        tables.lock.quoted(d),
        literal(d, &row_name(tables)),
        literal(d, &lease.owner)
    )
}

/// Who holds the lease, and when it expires (by the server's clock).
pub(crate) fn holder_sql(d: Dialect, tables: &Tables) -> String {
    let seconds = match d {
        Dialect::MySql => {
            "CAST(ROUND(TIMESTAMPDIFF(MICROSECOND, NOW(6), expires_at) / 1e6, 1) AS CHAR)"
        }
        _ => "round(EXTRACT(EPOCH FROM expires_at - now())::numeric, 1)::text",
    };
    format!(
        "SELECT CONCAT(owner, ', lease expires in ', {seconds}, ' s') FROM {} WHERE name = {}",
        tables.lock.quoted(d),
        literal(d, &row_name(tables))
    )
}

/// The words of [`guard`]'s error, by which [`is_lost`] recognises it.
const LOST: &str = "revchain: the migration lease was lost";

/// PostgreSQL: the statement that starts each revision's transaction under a lease. It
/// extends the lease and fails (an invalid integer whose text holds `tag`) when the run no
/// longer owns it; the row stays locked until the revision commits, so that no other run
/// can take the lease over meanwhile. (The failing branch is not a constant, so the planner
/// cannot evaluate it in advance.)
pub(crate) fn guard(tables: &Tables, lease: &Lease, tag: &str) -> String {
    let d = Dialect::Postgres;
    let renew = renew_sql(d, tables, lease).join(";");
    format!(
        "WITH renewed AS ({renew}) SELECT CASE WHEN count(*) = 1 THEN 'lease' \
         ELSE ('{LOST} {tag} ' || count(*))::int::text END AS revchain_lease FROM renewed"
    )
}

/// Whether `error` is [`guard`]'s, given the same `tag`.
pub(crate) fn is_lost(error: &sqlx::Error, tag: &str) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    db.message().contains(&format!("{LOST} {tag} "))
}

/// The error of a run that lost its lease.
pub(crate) fn lost(tables: &Tables, lease: &Lease) -> Error {
    Error::LeaseLost {
        table: tables.lock.to_string(),
        owner: lease.owner.clone(),
    }
}

#[cfg(feature = "mysql")]
/// MySQL/MariaDB, inside a group's transaction before each of its revisions but the first
/// (the first follows [`check`]): a statement that fails (`ER_SUBQUERY_NO_1_ROW`, "Subquery
/// returns more than 1 row") when the run no longer holds the lease. Its locking read sees
/// the latest committed row, not the transaction's snapshot, and keeps it locked until the
/// group ends, so that no one takes the lease over meanwhile (the heartbeat waits too).
pub(crate) fn mysql_guard(tables: &Tables, lease: &Lease) -> String {
    let d = Dialect::MySql;
    format!(
        "SELECT (SELECT 1 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM {} WHERE name = {} AND \
         owner = {} FOR UPDATE) UNION ALL SELECT 2 FROM DUAL) AS revchain_lease",
        tables.lock.quoted(d),
        literal(d, &row_name(tables)),
        literal(d, &lease.owner)
    )
}

#[cfg(feature = "mysql")]
/// MySQL/MariaDB, before each revision that runs alone, and before each group of data
/// revisions (whose later revisions [`mysql_guard`] checks inside the group's transaction):
/// a revision's DDL commits on its own, so the check cannot share its transaction. Extends
/// the lease, and stops the run with
/// [`Error::LeaseLost`] when it no longer holds it.
pub(crate) async fn check<DB: Driver>(
    conn: &mut DB::Connection,
    tables: &Tables,
    lease: &Lease,
) -> Result<(), super::Failure> {
    match held_by::<DB>(conn, renew_sql(DB::DIALECT, tables, lease), lease).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(super::Failure::Other(lost(tables, lease))),
        Err(e) => Err(super::Failure::db("extending the migration lease", &e)),
    }
}

/// The lease as a [`TryLock`] for [`poll_lock`].
struct Attempt<'l>(&'l Lease);

impl<DB: Driver> TryLock<DB> for Attempt<'_> {
    async fn try_lock(
        &self,
        conn: &mut DB::Connection,
        tables: &Tables,
    ) -> Result<bool, sqlx::Error> {
        held_by::<DB>(conn, acquire_sql(DB::DIALECT, tables, self.0), self.0).await
    }

    async fn holder(&self, conn: &mut DB::Connection, tables: &Tables) -> Option<String> {
        let rows = DB::fetch_all(conn, holder_sql(DB::DIALECT, tables))
            .await
            .ok()?;
        rows.first()?.text(0).ok()?
    }
}

/// Runs `statements` (each its own transaction); whether the last one returned `lease`'s
/// owner.
async fn held_by<DB: Driver>(
    conn: &mut DB::Connection,
    mut statements: Vec<String>,
    lease: &Lease,
) -> Result<bool, sqlx::Error> {
    let Some(last) = statements.pop() else {
        return Ok(false);
    };
    for s in statements {
        DB::execute(conn, s).await?;
    }
    let rows = DB::fetch_all(conn, last).await?;
    Ok(rows
        .first()
        .and_then(|r| r.text(0).ok().flatten())
        .is_some_and(|owner| owner == lease.owner))
}

/// [`Driver::lock`] with the lease: creates the lock table if needed, then polls as the
/// advisory lock does.
pub(crate) async fn lock_lease<DB: Driver>(
    conn: &mut DB::Connection,
    tables: &Tables,
    timeout: Duration,
    done: Done<'_>,
    lease: &Lease,
) -> Result<Option<Held>, Error> {
    create_table::<DB>(conn, tables).await?;
    let taken = poll_lock::<DB, _>(conn, tables, timeout, done, &Attempt(lease)).await?;
    Ok(taken.map(|()| Held {
        lease: Some(lease.clone()),
        ..Held::default()
    }))
}

/// Creates the lock table when it does not exist. Two runs creating it at the same moment
/// may collide on PostgreSQL's catalog (a unique violation, a type or table that "already
/// exists"): then it exists, and the run goes on.
async fn create_table<DB: Driver>(conn: &mut DB::Connection, tables: &Tables) -> Result<(), Error> {
    match DB::execute(conn, create_sql(DB::DIALECT, tables)).await {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                crate::error::driver_code(&e).as_deref(),
                Some("23505" | "42P07" | "42710" | "42S01")
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::db(
            format!("creating the lock table {}", tables.lock),
            &e,
        )),
    }
}

/// Releases the lease: deletes its row if the run still owns it.
pub(crate) async fn unlock_lease<DB: Driver>(
    conn: &mut DB::Connection,
    tables: &Tables,
    lease: &Lease,
) -> Result<(), sqlx::Error> {
    DB::execute(conn, release_sql(DB::DIALECT, tables, lease)).await
}

/// The task that extends a lease every third of its time-to-live, on a connection of its
/// own, until dropped.
#[derive(Debug)]
pub(crate) struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    /// Starts the heartbeat of `lease` on a connection made with `pool`'s options.
    pub fn start<DB: Driver>(pool: &sqlx::Pool<DB>, tables: &Tables, lease: &Lease) -> Heartbeat {
        let options = super::quiet_statements((*pool.connect_options()).clone());
        let (tables, lease) = (tables.clone(), lease.clone());
        Heartbeat(tokio::spawn(async move {
            let mut conn: Option<DB::Connection> = None;
            loop {
                tokio::time::sleep(lease.heartbeat_every()).await;
                if conn.is_none() {
                    conn = sqlx::ConnectOptions::connect(&options)
                        .await
                        .inspect_err(|e| tracing::warn!(target: "revchain", "the lease heartbeat cannot connect: {e}"))
                        .ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                match held_by::<DB>(c, renew_sql(DB::DIALECT, &tables, &lease), &lease).await {
                    Ok(true) => {
                        tracing::trace!(target: "revchain", "the migration lease was extended")
                    }
                    Ok(false) => {
                        tracing::error!(
                            target: "revchain",
                            "the migration lease in {} was lost (it expired and another process took it over): this run stops before its next revision",
                            tables.lock
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(target: "revchain", "the lease heartbeat failed: {e}");
                        conn = None;
                    }
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease {
            owner: "pid 1 on h (rc1)".into(),
            ttl: Duration::from_millis(2500),
        }
    }

    #[test]
    fn modes_parse() {
        assert_eq!("auto".parse(), Ok(LockMode::Auto));
        assert_eq!("advisory".parse(), Ok(LockMode::Advisory));
        assert_eq!("lease".parse(), Ok(LockMode::Lease));
        let e = "Lease".parse::<LockMode>().unwrap_err();
        assert!(
            e.to_string().contains("`auto`, `advisory` or `lease`"),
            "{e}"
        );
    }

    #[test]
    fn expiry_is_the_servers_clock_plus_the_ttl() {
        assert_eq!(
            expiry(Dialect::Postgres, &lease()),
            "now() + interval '2500 milliseconds'"
        );
        assert_eq!(
            expiry(Dialect::MySql, &lease()),
            "NOW(6) + INTERVAL 2500000 MICROSECOND"
        );
        assert_eq!(lease().heartbeat_every().as_millis(), 833);
        assert_eq!(Lease::new(Duration::ZERO).ttl, Duration::from_secs(1));
    }

    #[test]
    fn owners_are_unique_and_fit() {
        let (a, b) = (
            Lease::new(Duration::from_secs(30)),
            Lease::new(Duration::from_secs(30)),
        );
        assert_ne!(a.owner, b.owner);
        assert!(a.owner.len() <= OWNER_MAX);
        assert!(a.owner.contains(&format!("pid {}", std::process::id())));
    }

    #[test]
    fn takeover_only_when_expired_or_own() {
        let t = Tables::default();
        let pg = acquire_sql(Dialect::Postgres, &t, &lease()).join(";");
        assert!(
            pg.contains("WHERE l.expires_at < now() OR l.owner = EXCLUDED.owner RETURNING"),
            "{pg}"
        );
        assert!(
            pg.contains("'revchain_version'") && pg.contains("\"revchain_lock\""),
            "{pg}"
        );
        let my = acquire_sql(Dialect::MySql, &t, &lease());
        // `owner` is decided first; the other columns follow it.
        assert!(
            my[0].contains("owner = IF(expires_at < NOW(6) OR owner = 'pid 1 on h (rc1)'"),
            "{}",
            my[0]
        );
        assert!(my[0].find("owner = IF").unwrap() < my[0].find("expires_at = IF").unwrap());
    }

    #[test]
    fn the_guard_fails_only_at_run_time() {
        let g = guard(&Tables::default(), &lease(), "rcTAG");
        assert!(
            g.contains("('revchain: the migration lease was lost rcTAG ' || count(*))::int"),
            "{g}"
        );
        assert!(
            g.contains("AND owner = 'pid 1 on h (rc1)' RETURNING owner"),
            "{g}"
        );
    }
}
