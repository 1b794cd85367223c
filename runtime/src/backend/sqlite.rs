//! SQLite: transactional DDL, but no session lock.
//!
//! The lock is taken per transaction instead: `BEGIN IMMEDIATE` takes the database's write
//! lock (retried while another connection holds it, up to the lock timeout), then the
//! revisions are checked to be still pending — another process may have applied them since
//! this one planned — and run statement by statement with their bookkeeping before
//! `COMMIT`. When one is no longer pending the engine plans again (`Failure::Raced`), so
//! any number of processes booting at once apply each revision exactly once.
//!
//! Consecutive revisions share one transaction (the rule of [`super::group`]: SQL revisions
//! whose statements the splitter cuts without doubt, same direction and timeouts, at most
//! 64): one `COMMIT`, so one `fsync`, per group rather than per revision. Under the write
//! lock nothing else can write, so one read of the log and the heads checks the whole
//! group; the revisions after the first one no longer pending are left out of it (they
//! are `Failure::Raced` once the ones before them have committed). Each revision runs in a
//! savepoint of its own, named by a fresh token; the group's bookkeeping
//! ([`Tables::group_bookkeeping`]: the version table's net change and one multi-row log
//! insert) is written once, before the `COMMIT`. (Checking and recording each revision in
//! turn measured the same on 1,000 one-`INSERT` revisions: the commits dominate.)
//! - A statement fails: `ROLLBACK TO` and `RELEASE` its revision's savepoint, then the
//!   revisions before it commit with their bookkeeping, and the failure is reported: what
//!   one transaction per revision would have left. When the `ROLLBACK TO` fails, SQLite
//!   rolled the whole transaction back itself (`SQLITE_FULL`, `IOERR`, `BUSY`,
//!   `NOMEM`): nothing of the group is applied, and the failure is reported.
//! - The `COMMIT` fails (a deferred foreign key; busy): the whole group was rolled back,
//!   and its revisions are applied again one transaction each, which reports the failing
//!   one at its own `COMMIT`.
//! - A savepoint is gone at its `RELEASE`: the revision ended the transaction itself
//!   (`COMMIT`, `ROLLBACK`, `END`), which only a statement the splitter cut wrongly could
//!   do. It is marked dirty instead of recorded, and so are the revisions before it in
//!   the group: what they did may have committed with it, their bookkeeping not.
//!
//! A revision that may not share a transaction (Rust code; transaction control the
//! splitter cannot rule out) runs alone, the same way: `BEGIN IMMEDIATE`, the check, a
//! savepoint released before its bookkeeping, `COMMIT`. Every revision counts as applied
//! (logged, reported) only once its `COMMIT` succeeded: a deferred foreign key fails there.
//!
//! `Transactional: false` revisions (`VACUUM`, `PRAGMA foreign_keys`, …) run outside a
//! transaction: they are marked dirty first (under the write lock, after the same check),
//! their statements run one by one, then the mark is cleared with the bookkeeping. Other
//! processes that see the mark meanwhile wait for it to go (up to the lock timeout) before
//! calling it dirty, since SQLite cannot tell a running process from a crashed one.

use std::time::{Duration, Instant};

use revchain_core::{Dialect, Direction};
use sqlx::sqlite::{Sqlite, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection, Row, Transaction};

use super::group::{GROUP_REVISIONS, group_end};
use super::{
    Done, Failure, Held, Lock, Progress, WaitLog, backoff, sealed::Driver, statements, token,
};
use crate::bookkeeping::{Durations, Tables, Work, literal};
use crate::error::{Aftermath, Error, Stage, driver_code, driver_message};

const D: Dialect = Dialect::Sqlite;

/// Who holds SQLite's lock, as far as anyone can tell.
const HOLDER: &str = "a write transaction of another connection to the SQLite database";

/// The longest a single attempt may wait inside SQLite's busy handler during a run: a
/// quarter of the lock timeout (at least 10 ms). The connection's own busy timeout (5 s by
/// default in sqlx) would otherwise make each attempt to take the write lock block that
/// long, silently: a run with a 1 s lock timeout gave up after 5 s, without having logged
/// that it was waiting. Reads keep a busy handler too, long enough for another process's
/// commit. So a run gives up at most a quarter of its lock timeout late.
fn busy_cap(timeout: Duration) -> Duration {
    (timeout / 4).max(Duration::from_millis(10))
}

/// Whether an error means the table (or the attached database) does not exist.
fn is_missing_table(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.message().starts_with("no such table")
                || db.message().starts_with("unknown database")
        }
        _ => false,
    }
}

/// Whether an error is `SQLITE_BUSY` (any extended code) or `SQLITE_LOCKED_SHAREDCACHE`:
/// another connection holds the lock, and trying again later may succeed.
fn is_busy(e: &sqlx::Error) -> bool {
    driver_code(e)
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5 || c == 262)
}

async fn run(conn: &mut SqliteConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Waiting for the write lock: logs, backs off and gives up after the timeout.
struct LockWait {
    log: WaitLog,
    attempt: u32,
    timeout: Duration,
}

impl LockWait {
    fn new(timeout: Duration) -> LockWait {
        LockWait {
            log: WaitLog::new(),
            attempt: 0,
            timeout,
        }
    }

    /// Waits before the next attempt; `false` once the timeout has passed. The wait is
    /// logged at the first busy answer (and every few seconds), even one that comes after
    /// the whole timeout was spent inside SQLite's busy handler.
    async fn pause(&mut self) -> bool {
        if self.log.due() {
            self.log.log(Some(HOLDER));
        }
        let waited = self.log.elapsed();
        if waited >= self.timeout {
            return false;
        }
        tokio::time::sleep(backoff(self.attempt).min(self.timeout.saturating_sub(waited))).await;
        self.attempt += 1;
        true
    }

    /// The error once the timeout has passed.
    fn timed_out(&self) -> Error {
        Error::LockTimeout {
            waited: self.log.elapsed(),
            holder: Some(HOLDER.to_owned()),
        }
    }

    /// After `error` met while `doing`: waits before the next attempt when it is a busy
    /// error and time remains, or fails.
    async fn retry(&mut self, error: sqlx::Error, doing: &str) -> Result<(), Failure> {
        if !is_busy(&error) {
            return Err(Failure::db(doing, &error));
        }
        if !self.pause().await {
            return Err(Failure::Other(self.timed_out()));
        }
        Ok(())
    }
}

/// `BEGIN IMMEDIATE` on `$conn`, retried while the database is busy; evaluates to the
/// transaction or returns the failure. (A macro: a function returning the transaction
/// from inside its retry loop does not pass the borrow checker.)
macro_rules! begin_immediate {
    ($conn:expr, $timeout:expr, $doing:expr) => {{
        let mut wait = LockWait::new($timeout);
        loop {
            match $conn.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => break tx,
                Err(e) => wait.retry(e, $doing).await?,
            }
        }
    }};
}

/// Runs `statements` in one write transaction, waiting for the lock up to `timeout`.
async fn in_transaction(
    conn: &mut SqliteConnection,
    statements: &[String],
    timeout: Duration,
    doing: &str,
) -> Result<(), Failure> {
    let mut tx = begin_immediate!(conn, timeout, doing);
    if !statements.is_empty()
        && let Err(e) = run(&mut tx, statements.join(";\n")).await
    {
        let _ = tx.rollback().await;
        return Err(Failure::db(doing, &e));
    }
    tx.commit().await.map_err(|e| Failure::db(doing, &e))
}

/// Inside the write transaction: whether `work` is still to be done, as planned (the
/// revision not yet applied, or still applied, and the heads it replaces still there).
async fn still_pending(
    conn: &mut SqliteConnection,
    tables: &Tables,
    work: &Work<'_>,
) -> Result<bool, Failure> {
    Ok(pending_prefix(conn, tables, std::slice::from_ref(work)).await? == 1)
}

/// The first column of the rows `sql` reads.
async fn fetch_column(
    conn: &mut SqliteConnection,
    sql: String,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect())
}

/// Inside the write transaction: how many of `works`, from the first, are still to be
/// done as planned: each not yet applied (or, reverted, still applied), and the heads it
/// replaces there once the ones before it are done. Two queries, however many revisions:
/// under the write lock nothing else writes meanwhile.
async fn pending_prefix(
    conn: &mut SqliteConnection,
    tables: &Tables,
    works: &[Work<'_>],
) -> Result<usize, Failure> {
    let doing = format!(
        "checking that revision {} is still pending",
        works[0].revision.id()
    );
    let ids: Vec<String> = works.iter().map(|w| literal(D, w.revision.id())).collect();
    let sql = format!(
        "SELECT revision FROM {} WHERE revision IN ({})",
        tables.log.quoted(D),
        ids.join(", ")
    );
    let logged = fetch_column(conn, sql)
        .await
        .map_err(|e| Failure::db(&doing, &e))?;
    let mut heads = fetch_column(conn, tables.select_heads(D))
        .await
        .map_err(|e| Failure::db(&doing, &e))?;
    for (k, work) in works.iter().enumerate() {
        let is_logged = logged.iter().any(|id| id == work.revision.id());
        let logged_ok = match work.direction {
            Direction::Upgrade => !is_logged,
            Direction::Downgrade => is_logged,
        };
        let heads_there = work
            .remove_heads
            .iter()
            .all(|h| heads.iter().any(|r| r == h));
        if !logged_ok || !heads_there {
            return Ok(k);
        }
        heads.retain(|h| !work.remove_heads.contains(&h.as_str()));
        heads.extend(work.add_heads.iter().map(|(id, _)| (*id).to_owned()));
    }
    Ok(works.len())
}

/// Runs the SQL statements of `work` (none for a Rust code revision) in order; the file
/// line and error of the first that fails.
async fn run_statements(
    conn: &mut SqliteConnection,
    work: &Work<'_>,
) -> Result<(), (usize, sqlx::Error)> {
    let sql = if work.revision.is_rust() {
        ""
    } else {
        work.sql()
    };
    for (stmt, line) in statements(sql, D, work.sql_line()) {
        run(conn, stmt).await.map_err(|error| (line, error))?;
    }
    Ok(())
}

/// Statement `line` of step `index` failed with `error`, and was rolled back.
fn statement_failed(index: usize, line: usize, error: sqlx::Error) -> Failure {
    Failure::Step {
        index,
        line,
        error,
        aftermath: Aftermath::RolledBack,
        stage: Stage::Statement,
    }
}

/// Ends `tx` when SQLite may have ended it already (a revision's `COMMIT`, or an error
/// that rolled it back): sqlx still counts it open, so one is opened for its `ROLLBACK`
/// to end (this fails harmlessly when a transaction is still open).
async fn abandon(mut tx: Transaction<'_, Sqlite>) {
    let _ = run(&mut tx, "BEGIN".to_owned()).await;
    let _ = tx.rollback().await;
}

/// Runs a transactional revision under the write lock, atomically with its bookkeeping.
async fn apply_atomic(
    conn: &mut SqliteConnection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
    timeout: Duration,
) -> Result<(), Failure> {
    let id = work.revision.id();
    let mut tx = begin_immediate!(
        conn,
        timeout,
        &format!("starting the transaction of revision {id}")
    );
    if !still_pending(&mut tx, tables, work).await? {
        let _ = tx.rollback().await;
        return Err(Failure::Raced(id.to_owned()));
    }
    // A savepoint under the transaction: gone by the bookkeeping if the revision ended
    // the transaction (`COMMIT`, `ROLLBACK`, `END`), even should it have begun another.
    let savepoint = format!("\"{}\"", token());
    let doing = format!("starting revision {id}");
    run(&mut tx, format!("SAVEPOINT {savepoint}"))
        .await
        .map_err(|e| Failure::db(&doing, &e))?;
    let started = Instant::now();
    if work.revision.is_rust()
        && let Err(f) =
            super::code::run_code::<Sqlite>(&mut tx, work, index, Aftermath::RolledBack).await
    {
        let _ = tx.rollback().await;
        return Err(f);
    }
    if let Err((line, error)) = run_statements(&mut tx, work).await {
        let _ = tx.rollback().await;
        return Err(statement_failed(index, line, error));
    }
    let elapsed = started.elapsed();
    let mut bookkeeping = vec![format!("RELEASE {savepoint}")];
    bookkeeping.extend(tables.step_bookkeeping(D, work, &elapsed.as_millis().to_string()));
    if let Err(e) = run(&mut tx, bookkeeping.join(";\n")).await {
        if driver_message(&e).contains(&savepoint[1..savepoint.len() - 1]) {
            abandon(tx).await;
            return Err(transaction_ended(conn, tables, work, timeout).await);
        }
        let _ = tx.rollback().await;
        return Err(Failure::db(&format!("recording revision {id}"), &e));
    }
    if let Err(error) = tx.commit().await {
        // SQLite keeps the transaction open after a failed COMMIT; dropping `tx` rolls
        // it back.
        if is_busy(&error) {
            return Err(Failure::db(
                &format!("committing revision {id} (it was rolled back)"),
                &error,
            ));
        }
        // A deferred constraint, checked at COMMIT.
        return Err(Failure::Step {
            index,
            line: work.sql_line(),
            error,
            aftermath: Aftermath::RolledBack,
            stage: Stage::Commit,
        });
    }
    progress(index..index + 1, elapsed);
    Ok(())
}

/// How the transaction of a group of revisions ended (see [`apply_group`]).
enum GroupEnd {
    /// The first `durations.len()` revisions of the group committed, each after running
    /// for its duration; `then` is what stopped the group before the next one, if anything.
    Committed {
        durations: Vec<Duration>,
        then: Option<Failure>,
    },
    /// The `COMMIT` of the first `upto` revisions failed, and SQLite rolled them back; `then`
    /// is what stopped the group before the next one, if anything.
    CommitFailed { upto: usize, then: Option<Failure> },
    /// Revision `ran` ended the transaction itself; what the ones before it did may or may
    /// not have committed with it.
    Ended { ran: usize },
}

/// Commits the first `durations.len()` revisions of a group, each done in `durations`,
/// and says so, with `then` (what stopped the group after them).
async fn commit_group(
    tx: Transaction<'_, Sqlite>,
    durations: Vec<Duration>,
    then: Option<Failure>,
) -> GroupEnd {
    match tx.commit().await {
        Ok(()) => GroupEnd::Committed { durations, then },
        // SQLite keeps the transaction open after a failed COMMIT; dropping `tx` rolls it
        // back.
        Err(_) => GroupEnd::CommitFailed {
            upto: durations.len(),
            then,
        },
    }
}

/// Runs the revisions of `group` (steps `start..`) in one write transaction, each in a
/// savepoint of its own, then their bookkeeping (module documentation). An error returned
/// means nothing of the group was applied.
async fn run_group(
    conn: &mut SqliteConnection,
    tables: &Tables,
    group: &[Work<'_>],
    start: usize,
    timeout: Duration,
) -> Result<GroupEnd, Failure> {
    let first = group[0].revision.id();
    let mut tx = begin_immediate!(
        conn,
        timeout,
        &format!("starting the transaction of revision {first} and the next ones")
    );
    let pending = pending_prefix(&mut tx, tables, group).await?;
    if pending == 0 {
        let _ = tx.rollback().await;
        return Err(Failure::Raced(first.to_owned()));
    }
    // Another process applied revision `pending` since the plan: the ones before it are
    // done, then the engine plans again.
    let raced = group
        .get(pending)
        .map(|w| Failure::Raced(w.revision.id().to_owned()));
    let token = token();
    let mut durations = Vec::with_capacity(pending);
    for (k, work) in group[..pending].iter().enumerate() {
        let id = work.revision.id();
        let name = super::group::savepoint(&token, k);
        let savepoint = format!("\"{name}\"");
        run(&mut tx, format!("SAVEPOINT {savepoint}"))
            .await
            .map_err(|e| Failure::db(&format!("starting revision {id}"), &e))?;
        let started = Instant::now();
        if let Err((line, error)) = run_statements(&mut tx, work).await {
            let failed = statement_failed(start + k, line, error);
            let undo = format!("ROLLBACK TO {savepoint};\nRELEASE {savepoint}");
            if run(&mut tx, undo).await.is_err() {
                // SQLite rolled the whole transaction back itself (SQLITE_FULL, IOERR,
                // BUSY, NOMEM): nothing of the group remains.
                abandon(tx).await;
                return Err(failed);
            }
            return finish_group(tx, tables, group, durations, Some(failed)).await;
        }
        let elapsed = started.elapsed();
        if let Err(e) = run(&mut tx, format!("RELEASE {savepoint}")).await {
            if driver_message(&e).contains(&name) {
                abandon(tx).await;
                return Ok(GroupEnd::Ended {
                    ran: durations.len(),
                });
            }
            let _ = tx.rollback().await;
            return Err(Failure::db(&format!("ending revision {id}"), &e));
        }
        durations.push(elapsed);
    }
    finish_group(tx, tables, group, durations, raced).await
}

/// Writes the bookkeeping of the first `durations.len()` revisions of `group`, each done in
/// its duration, at once ([`Tables::group_bookkeeping`]), and commits them; `then` is what
/// stopped the group after them.
async fn finish_group(
    mut tx: Transaction<'_, Sqlite>,
    tables: &Tables,
    group: &[Work<'_>],
    durations: Vec<Duration>,
    then: Option<Failure>,
) -> Result<GroupEnd, Failure> {
    let done = &group[..durations.len()];
    let ms = |k: usize| durations[k].as_millis().to_string();
    let bookkeeping = tables.group_bookkeeping(D, done, Durations::Each(&ms));
    if !bookkeeping.is_empty()
        && let Err(e) = run(&mut tx, bookkeeping.join(";\n")).await
    {
        let _ = tx.rollback().await;
        let first = group[0].revision.id();
        return Err(Failure::db(
            &format!("recording revision {first} and the next ones"),
            &e,
        ));
    }
    Ok(commit_group(tx, durations, then).await)
}

/// Applies `group`, steps `start..` of the run, several shareable revisions, in one
/// transaction ([`run_group`]), then reports each revision that committed to `progress`,
/// in order. When the `COMMIT` fails, the revisions it would have committed are applied
/// again one transaction each ([`apply_atomic`]), which tells which one fails.
async fn apply_group(
    conn: &mut SqliteConnection,
    tables: &Tables,
    group: &[Work<'_>],
    start: usize,
    progress: Progress<'_>,
    timeout: Duration,
) -> Result<(), Failure> {
    let then = match run_group(conn, tables, group, start, timeout).await? {
        GroupEnd::Committed { durations, then } => {
            for (k, took) in durations.into_iter().enumerate() {
                progress(start + k..start + k + 1, took);
            }
            then
        }
        GroupEnd::CommitFailed { upto, then } => {
            for (k, work) in group[..upto].iter().enumerate() {
                apply_atomic(conn, tables, work, start + k, progress, timeout).await?;
            }
            then
        }
        GroupEnd::Ended { ran } => {
            // What the revisions before it did may have committed with it, without their
            // bookkeeping (written before the group's `COMMIT`): they are marked dirty too.
            let marks: Vec<String> = group[..ran]
                .iter()
                .flat_map(|work| tables.mark_running(D, work))
                .collect();
            let doing = "marking the revisions dirty";
            let _ = in_transaction(conn, &marks, timeout, doing).await;
            return Err(transaction_ended(conn, tables, &group[ran], timeout).await);
        }
    };
    then.map_or(Ok(()), Err)
}

/// A revision ended its own transaction: what it ran before may have committed, so it is
/// marked dirty (when that still works) and reported.
async fn transaction_ended(
    conn: &mut SqliteConnection,
    tables: &Tables,
    work: &Work<'_>,
    timeout: Duration,
) -> Failure {
    let dirty_marked = in_transaction(
        conn,
        &tables.mark_running(D, work),
        timeout,
        "marking the revision dirty",
    )
    .await
    .is_ok();
    Failure::transaction_ended(work, dirty_marked)
}

/// Runs a `Transactional: false` revision: mark it dirty (under the write lock, if it is
/// still pending), run each statement on its own, then record it and clear the mark.
async fn apply_alone(
    conn: &mut SqliteConnection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
    timeout: Duration,
) -> Result<(), Failure> {
    let rev = work.revision;
    let id = rev.id();
    let mark = tables.mark_running(D, work);
    let unmark = tables.unmark_running(D, work);
    {
        let doing = format!("marking revision {id} as running");
        let mut tx = begin_immediate!(conn, timeout, &doing);
        if !still_pending(&mut tx, tables, work).await? {
            let _ = tx.rollback().await;
            return Err(Failure::Raced(id.to_owned()));
        }
        if let Err(e) = run(&mut tx, mark.join(";\n")).await {
            let _ = tx.rollback().await;
            return Err(Failure::db(&doing, &e));
        }
        tx.commit().await.map_err(|e| Failure::db(&doing, &e))?;
    }
    let started = Instant::now();
    if work.revision.is_rust() {
        // It may have committed batches of its own: a failure leaves the mark.
        super::code::run_code::<Sqlite>(conn, work, index, Aftermath::Dirty).await?;
    }
    let sql = if work.revision.is_rust() {
        ""
    } else {
        work.sql()
    };
    for (k, (stmt, line)) in statements(sql, D, work.sql_line()).into_iter().enumerate() {
        // A statement that found the database busy did nothing: try it again while time
        // remains.
        let mut wait = LockWait::new(timeout);
        let error = loop {
            match run(conn, stmt.clone()).await {
                Ok(()) => break None,
                Err(e) if is_busy(&e) && wait.pause().await => {}
                Err(e) => break Some(e),
            }
        };
        if let Some(error) = error {
            // Nothing ran before the first statement: the mark can go.
            let clean = k == 0
                && in_transaction(conn, &unmark, timeout, &format!("unmarking revision {id}"))
                    .await
                    .is_ok();
            return Err(Failure::Step {
                index,
                line,
                error,
                aftermath: if clean {
                    Aftermath::RolledBack
                } else {
                    Aftermath::Dirty
                },
                stage: Stage::Statement,
            });
        }
    }
    let elapsed = started.elapsed();
    let ms = elapsed.as_millis().to_string();
    let finish = tables.finish_running(D, work, &ms);
    in_transaction(conn, &finish, timeout, &format!("recording revision {id}")).await?;
    progress(index..index + 1, elapsed);
    Ok(())
}

impl Driver for Sqlite {
    type Prepared = ();

    const DIALECT: Dialect = D;
    const SESSION_LOCK: bool = false;

    fn is_missing_table(error: &sqlx::Error) -> bool {
        is_missing_table(error)
    }

    async fn execute(conn: &mut SqliteConnection, sql: String) -> Result<(), sqlx::Error> {
        run(conn, sql).await
    }

    async fn fetch_all(
        conn: &mut SqliteConnection,
        sql: String,
    ) -> Result<Vec<Self::Row>, sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(conn).await
    }

    async fn ensure_tables(
        conn: &mut SqliteConnection,
        tables: &Tables,
        timeout: Duration,
    ) -> Result<(), Error> {
        let fail = |e: sqlx::Error| Error::db("creating revchain's tables", &e);
        // Usually both exist: find out without taking the write lock.
        let probe = format!(
            "SELECT (SELECT count(*) FROM {} WHERE 0) + (SELECT count(*) FROM {} WHERE 0)",
            tables.version.quoted(D),
            tables.log.quoted(D)
        );
        match sqlx::raw_sql(AssertSqlSafe(probe))
            .execute(&mut *conn)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_missing_table(&e) => {}
            Err(e) => return Err(fail(e)),
        }
        let create = tables.create(D).join(";\n");
        let mut wait = LockWait::new(timeout);
        loop {
            let attempt = async {
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                run(&mut tx, create.clone()).await?;
                tx.commit().await
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) if is_busy(&e) => {
                    if !wait.pause().await {
                        return Err(wait.timed_out());
                    }
                }
                Err(e) => return Err(fail(e)),
            }
        }
    }

    /// SQLite has no session lock: each revision takes the write lock in `apply`. What
    /// this does is cap the connection's busy timeout (see [`busy_cap`]) for the run, so
    /// that the waits for the write lock are revchain's: logged, and bounded by the lock
    /// timeout.
    async fn lock(
        conn: &mut SqliteConnection,
        _tables: &Tables,
        timeout: Duration,
        _done: Done<'_>,
        _lock: &Lock,
    ) -> Result<Option<Held>, Error> {
        let fail = |e: sqlx::Error| Error::db("setting the busy timeout", &e);
        let current: i64 = sqlx::raw_sql("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(fail)?;
        let cap = i64::try_from(busy_cap(timeout).as_millis()).unwrap_or(i64::MAX);
        if current <= cap {
            return Ok(Some(Held::default()));
        }
        run(conn, format!("PRAGMA busy_timeout = {cap}"))
            .await
            .map_err(fail)?;
        Ok(Some(Held {
            busy_timeout_ms: Some(current),
            ..Held::default()
        }))
    }

    async fn unlock(
        conn: &mut SqliteConnection,
        _tables: &Tables,
        held: Held,
    ) -> Result<(), sqlx::Error> {
        match held.busy_timeout_ms {
            Some(ms) => run(conn, format!("PRAGMA busy_timeout = {ms}")).await,
            None => Ok(()),
        }
    }

    async fn apply(
        conn: &mut SqliteConnection,
        tables: &Tables,
        works: &[Work<'_>],
        progress: Progress<'_>,
        timeout: Duration,
        _prepared: Option<()>,
    ) -> Result<(), Failure> {
        let mut start = 0;
        while start < works.len() {
            let end = group_end(works, start, D, &tables.timeouts, GROUP_REVISIONS, |_| true);
            let work = &works[start];
            if end - start > 1 {
                apply_group(conn, tables, &works[start..end], start, progress, timeout).await?;
            } else if work.revision.is_transactional() {
                apply_atomic(conn, tables, work, start, progress, timeout).await?;
            } else {
                apply_alone(conn, tables, work, start, progress, timeout).await?;
            }
            start = end;
        }
        Ok(())
    }

    async fn exec_in_transaction(
        conn: &mut SqliteConnection,
        statements: &[String],
    ) -> Result<(), sqlx::Error> {
        // Only the driver's busy timeout bounds the wait here (`stamp`, run by hand).
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        if !statements.is_empty()
            && let Err(e) = run(&mut tx, statements.join(";\n")).await
        {
            let _ = tx.rollback().await;
            return Err(e);
        }
        tx.commit().await
    }
}
