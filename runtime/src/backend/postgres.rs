//! PostgreSQL: transactional DDL, so each revision and its bookkeeping commit together.
//!
//! Consecutive transactional revisions travel in one simple-query batch (one round trip,
//! one transaction each); a failure is located afterwards by replaying the failed revision
//! statement by statement inside a transaction that is rolled back.
//!
//! **Asynchronous commit.** Every revision of a run but the last commits with
//! `SET LOCAL synchronous_commit = off`: its COMMIT does not wait for the WAL to reach the
//! disk. The last revision commits synchronously (with the session's own setting), and
//! flushing its commit record flushes the WAL of every earlier one, so when a run returns
//! `Ok` everything it applied is as durable as with a synchronous commit per revision; a
//! failed run flushes what it committed before reporting the failure. What a crash of the
//! server (or of its machine) in the middle of a run can do: the WAL is one sequence, and
//! recovery replays it up to the last record that reached the disk, so it can lose only
//! the latest async-committed transactions, always a suffix of the run's revisions, each
//! together with its bookkeeping (each revision stays one atomic transaction with its
//! version and log rows). The database comes back exactly as after some earlier revision,
//! its version table saying which, and the next run applies the rest. What it saves: one
//! WAL flush per revision (with a synchronous standby, one wait for the standby too).
//!
//! **Compaction.** Each revision replaces the head row of the version table, and the
//! dead rows stay in the table's pages until a vacuum, and their line pointers even after
//! it (a run of 10,000 revisions leaves 35 pages that every boot check scans; more while a
//! long transaction holds back pruning). After a run of at least [`COMPACT_AFTER`] steps the
//! table is rewritten with its live rows: `TRUNCATE` and insert in one short transaction
//! that gives up, leaving the table as it is, if it cannot lock the table within 100 ms
//! (a reader that holds it, e.g. `pg_dump`) or lacks the privilege. Boot checks that
//! arrive meanwhile wait for that transaction (microseconds), then read the new rows;
//! `TRUNCATE` is not MVCC-safe only for a repeatable-read transaction that took its
//! snapshot before and reads the table after, which revchain never does.

use std::time::Duration;

use futures_util::StreamExt;
use revchain_core::{Dialect, Direction};
use sqlx::postgres::{PgConnection, Postgres};
use sqlx::{AssertSqlSafe, Either, Row};

use super::{
    Done, Failure, HeadRow, Held, LogRow, Progress, SessionLocked, apply_marked, lock_session,
    log_disagrees, read_head_rows, read_log_rows, sealed::Driver, statements,
};
use crate::error::{Aftermath, Error};
use crate::tables::{Tables, Work, literal};

const D: Dialect = Dialect::Postgres;

/// Largest batch of revisions sent in one round trip.
const BATCH_BYTES: usize = 512 * 1024;
const BATCH_REVISIONS: usize = 500;

/// After a run of at least this many steps, the version table is compacted.
const COMPACT_AFTER: usize = 64;

/// The session setting that holds when the previous revision of a batch ended (seconds
/// since the epoch), so that each revision's own duration can be measured.
const MARK: &str = "revchain.mark";

/// How long the first revision of a batch took: its transaction began when the batch
/// arrived (`now()` is the arrival of the simple query for every statement in it).
const MS_FIRST: &str = "(EXTRACT(EPOCH FROM clock_timestamp() - now()) * 1000)::BIGINT";

/// Whether an error means the table (or its schema) does not exist.
fn is_missing_table(e: &sqlx::Error) -> bool {
    matches!(
        crate::error::driver_code(e).as_deref(),
        Some("42P01" | "3F000")
    )
}

async fn run(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The advisory lock key of a version table: two 32-bit halves, so that `pg_locks` can be
/// searched for the holder.
fn lock_key(tables: &Tables) -> (u32, u32) {
    let digest = revchain_core::Digest::of(format!("revchain:{}", tables.version).as_bytes());
    let b = digest.as_bytes();
    (
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff,
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    )
}

fn key_value((hi, lo): (u32, u32)) -> i64 {
    (i64::from(hi) << 32) | i64::from(lo)
}

async fn holder(conn: &mut PgConnection, key: (u32, u32)) -> Option<String> {
    let sql = format!(
        "SELECT a.pid::text, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), \
         coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {} AND l.objid = {} AND l.objsubid = 1",
        key.0, key.1
    );
    let row = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_optional(conn)
        .await
        .ok()??;
    let pid: String = row.try_get(0).ok()?;
    let app: String = row.try_get(1).ok()?;
    let addr: String = row.try_get(2).ok()?;
    let since: String = row.try_get(3).ok()?;
    let app = if app.is_empty() {
        String::new()
    } else {
        format!(" ({app})")
    };
    Some(format!(
        "PostgreSQL backend pid {pid}{app} from {addr}, connected since {since}"
    ))
}

/// How long a later revision of a batch took: since the mark the previous one set (or
/// since the batch arrived, should a revision have reset the setting).
fn ms_next() -> String {
    format!(
        "((EXTRACT(EPOCH FROM clock_timestamp())::float8 - coalesce(nullif(current_setting('{MARK}', \
         true), '')::float8, EXTRACT(EPOCH FROM now())::float8)) * 1000)::BIGINT"
    )
}

/// The batch text of transactional steps. Each revision but the run's last commits
/// asynchronously (see the module documentation); `ends_run` says whether the batch's last
/// revision is the run's last.
fn batch_sql(tables: &Tables, works: &[Work<'_>], ends_run: bool) -> String {
    let bytes: usize = works.iter().map(|w| w.sql().len() + 1024).sum();
    let mut sql = String::with_capacity(bytes);
    let next = ms_next();
    for (k, work) in works.iter().enumerate() {
        let ms = if k == 0 { MS_FIRST } else { next.as_str() };
        sql.push_str("BEGIN;\n");
        if !(ends_run && k + 1 == works.len()) {
            sql.push_str("SET LOCAL synchronous_commit = off;\n");
        }
        sql.push_str(work.sql());
        sql.push_str("\n;\n");
        for s in tables.step_bookkeeping(D, work, ms) {
            sql.push_str(&s);
            sql.push_str(";\n");
        }
        sql.push_str(&format!(
            "SELECT {} AS revchain_step, {ms} AS revchain_ms, set_config('{MARK}', \
             EXTRACT(EPOCH FROM clock_timestamp())::float8::text, false) AS revchain_mark;\nCOMMIT;\n",
            literal(D, work.revision.id())
        ));
    }
    sql
}

/// After a failed batch: which of `works` committed, and where the first failed one broke.
async fn diagnose(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    error: sqlx::Error,
    reported: usize,
) -> Failure {
    // The failed transaction is still open (aborted); end it.
    let _ = run(conn, "ROLLBACK".to_owned()).await;
    let ids: Vec<String> = works.iter().map(|w| literal(D, w.revision.id())).collect();
    let sql = format!(
        "SELECT revision FROM {} WHERE revision IN ({})",
        tables.log.quoted(D),
        ids.join(", ")
    );
    let logged: Vec<String> = match sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect(),
        Err(e) => {
            // Most likely the connection is gone (the server ended the session): the
            // revision in flight is the first whose result row did not arrive. Report the
            // error that stopped it, not this one.
            tracing::debug!(target: "revchain", "reading the log table after a failed batch: {e}");
            let k = reported.min(works.len().saturating_sub(1));
            return Failure::Step {
                index: offset + k,
                line: works.get(k).map_or(0, Work::sql_line),
                error,
                aftermath: Aftermath::RolledBack,
            };
        }
    };
    let committed = |w: &Work<'_>| {
        let present = logged.iter().any(|id| id == w.revision.id());
        match w.direction {
            Direction::Upgrade => present,
            Direction::Downgrade => !present,
        }
    };
    // The revision whose transaction failed: the one in flight when the error came. Each
    // revision's result row is its last statement before COMMIT, so when the last one that
    // arrived did not commit, its COMMIT is what failed.
    let k = match reported.checked_sub(1).map(|p| (p, committed(&works[p]))) {
        Some((p, false)) => p,
        _ if reported < works.len() => reported,
        // Everything committed, so the error came after the last COMMIT: report it plainly.
        _ => return Failure::db("finishing a batch of revisions", &error),
    };
    let failed = &works[k];
    if committed(failed) {
        // Its transaction failed, yet the log shows it done: the log said so before this
        // run, and the version table disagrees with it.
        return Failure::Other(Error::Drift {
            detail: log_disagrees(failed.revision.id(), failed.direction == Direction::Upgrade),
        });
    }
    let mut line = failed.sql_line();
    // Replay the revision statement by statement to find the one that fails.
    if run(conn, "BEGIN".to_owned()).await.is_ok() {
        for (stmt, stmt_line) in statements(failed.sql(), D, failed.sql_line()) {
            if run(conn, stmt).await.is_err() {
                line = stmt_line;
                break;
            }
        }
        let _ = run(conn, "ROLLBACK".to_owned()).await;
    }
    Failure::Step {
        index: offset + k,
        line,
        error,
        aftermath: Aftermath::RolledBack,
    }
}

/// Runs one batch of transactional steps in one round trip.
async fn apply_batch(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    ends_run: bool,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let sql = batch_sql(tables, works, ends_run);
    let mut failed = None;
    let mut k = 0;
    {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(&mut *conn);
        while let Some(item) = stream.next().await {
            match item {
                Ok(Either::Right(row)) => {
                    if let (Ok(_), Ok(ms)) = (
                        row.try_get::<String, _>("revchain_step"),
                        row.try_get::<i64, _>("revchain_ms"),
                    ) {
                        progress(offset + k, Duration::from_millis(ms.max(0).unsigned_abs()));
                        k += 1;
                    }
                }
                Ok(Either::Left(_)) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    match failed {
        None => Ok(()),
        Some(e) => Err(diagnose(conn, tables, works, offset, e, k).await),
    }
}

impl SessionLocked for Postgres {
    async fn try_lock(conn: &mut PgConnection, tables: &Tables) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "SELECT pg_try_advisory_lock({})",
            key_value(lock_key(tables))
        );
        sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_one(conn)
            .await?
            .try_get(0)
    }

    async fn lock_holder(conn: &mut PgConnection, tables: &Tables) -> Option<String> {
        holder(conn, lock_key(tables)).await
    }

    async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
        run(conn, sql).await
    }
}

/// Applies the steps, batching consecutive transactional ones.
async fn apply_all(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let mut i = 0;
    while i < works.len() {
        if !works[i].revision.is_transactional() {
            apply_marked::<Postgres>(conn, tables, &works[i], i, progress).await?;
            i += 1;
            continue;
        }
        let start = i;
        let mut bytes = 0;
        while i < works.len()
            && works[i].revision.is_transactional()
            && (i == start || (bytes < BATCH_BYTES && i - start < BATCH_REVISIONS))
        {
            bytes += works[i].sql().len();
            i += 1;
        }
        apply_batch(
            conn,
            tables,
            &works[start..i],
            start,
            i == works.len(),
            progress,
        )
        .await?;
    }
    Ok(())
}

/// Makes what a failed run committed asynchronously durable before the failure is
/// reported: a transaction that has a transaction id commits with a WAL flush (with the
/// session's setting), which covers every earlier commit record.
async fn flush(conn: &mut PgConnection) {
    if let Err(e) = run(conn, "BEGIN;\nSELECT txid_current();\nCOMMIT;".to_owned()).await {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        tracing::debug!(target: "revchain", "flushing the WAL after a failed run: {e}");
    }
}

/// Rewrites the version table with its live rows, dropping the dead rows that a long run
/// left behind (see the module documentation). Best effort: a table that cannot be locked
/// within 100 ms, or truncated with the run's privileges, is left as it is.
async fn compact(conn: &mut PgConnection, tables: &Tables) {
    let version = tables.version.quoted(D);
    let result = async {
        let sql = format!(
            "BEGIN;\nSET LOCAL lock_timeout = '100ms';\nLOCK TABLE {version} IN ACCESS EXCLUSIVE MODE;\n{}",
            tables.select_heads(D)
        );
        let rows = sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let revision: String = row.try_get(0)?;
            let digest: String = row.try_get(1)?;
            values.push(format!("({}, {})", literal(D, &revision), literal(D, &digest)));
        }
        let mut sql = format!("TRUNCATE {version};\n");
        if !values.is_empty() {
            sql.push_str(&format!(
                "INSERT INTO {version} (revision, chain_digest) VALUES {};\n",
                values.join(", ")
            ));
        }
        sql.push_str("COMMIT;");
        run(conn, sql).await
    }
    .await;
    if let Err(e) = result {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        tracing::debug!(target: "revchain", "the version table was not compacted: {e}");
    }
}

async fn in_transaction(conn: &mut PgConnection, statements: &[String]) -> Result<(), sqlx::Error> {
    let mut sql = String::from("BEGIN;\n");
    for s in statements {
        sql.push_str(s);
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT;");
    let result = run(conn, sql).await;
    if result.is_err() {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
    }
    result
}

impl Driver for Postgres {
    const DIALECT: Dialect = D;

    async fn read_heads(
        conn: &mut PgConnection,
        tables: &Tables,
    ) -> Result<Option<Vec<HeadRow>>, sqlx::Error> {
        read_head_rows(conn, tables.select_heads(D), is_missing_table).await
    }

    async fn read_log(
        conn: &mut PgConnection,
        tables: &Tables,
    ) -> Result<Vec<LogRow>, sqlx::Error> {
        read_log_rows(conn, tables.select_log(D), is_missing_table).await
    }

    async fn ensure_tables(
        conn: &mut PgConnection,
        tables: &Tables,
        _timeout: Duration,
    ) -> Result<(), Error> {
        run(conn, tables.create(D).join(";\n"))
            .await
            .map_err(|e| Error::db("creating revchain's tables", &e))
    }

    async fn lock(
        conn: &mut PgConnection,
        tables: &Tables,
        timeout: Duration,
        done: Done<'_>,
    ) -> Result<Option<Held>, Error> {
        lock_session::<Postgres>(conn, tables, timeout, done).await
    }

    async fn unlock(
        conn: &mut PgConnection,
        tables: &Tables,
        _held: Held,
    ) -> Result<(), sqlx::Error> {
        run(
            conn,
            format!("SELECT pg_advisory_unlock({})", key_value(lock_key(tables))),
        )
        .await
    }

    async fn apply(
        conn: &mut PgConnection,
        tables: &Tables,
        works: &[Work<'_>],
        progress: Progress<'_>,
        _timeout: Duration,
    ) -> Result<(), Failure> {
        match apply_all(conn, tables, works, progress).await {
            Ok(()) => {
                if works.len() >= COMPACT_AFTER {
                    compact(conn, tables).await;
                }
                Ok(())
            }
            Err(failure) => {
                flush(conn).await;
                Err(failure)
            }
        }
    }

    async fn exec_in_transaction(
        conn: &mut PgConnection,
        statements: &[String],
    ) -> Result<(), sqlx::Error> {
        in_transaction(conn, statements).await
    }
}
