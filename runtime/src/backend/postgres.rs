//! PostgreSQL: transactional DDL, so each revision and its bookkeeping commit together.
//!
//! Consecutive transactional revisions travel in one simple-query batch (one round trip,
//! one transaction each); a failure is located afterwards by replaying the failed revision
//! statement by statement inside a transaction that is rolled back.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use revchain_core::{Dialect, Direction};
use sqlx::postgres::{PgConnection, Postgres};
use sqlx::{AssertSqlSafe, Either, Row};

use super::{Failure, HeadRow, LogRow, Progress, WaitLog, backoff, sealed::Driver, statements};
use crate::error::{Aftermath, Error};
use crate::tables::{Tables, Work, literal};

const D: Dialect = Dialect::Postgres;

/// Largest batch of revisions sent in one round trip.
const BATCH_BYTES: usize = 512 * 1024;
const BATCH_REVISIONS: usize = 500;

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
        "SELECT a.pid::text, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'), \
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

/// The batch text of transactional steps `works[range]`.
fn batch_sql(tables: &Tables, works: &[Work<'_>]) -> String {
    let mut sql = String::new();
    let ms = "(EXTRACT(EPOCH FROM clock_timestamp() - now()) * 1000)::BIGINT";
    for work in works {
        sql.push_str("BEGIN;\n");
        sql.push_str(work.sql());
        sql.push_str("\n;\n");
        for s in tables.step_bookkeeping(D, work, ms) {
            sql.push_str(&s);
            sql.push_str(";\n");
        }
        sql.push_str(&format!(
            "SELECT {} AS revchain_step, {ms} AS revchain_ms;\nCOMMIT;\n",
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
        Err(e) => return Failure::db("reading the log table after a failed revision", &e),
    };
    let committed = |w: &Work<'_>| {
        let present = logged.iter().any(|id| id == w.revision.id());
        match w.direction {
            Direction::Upgrade => present,
            Direction::Downgrade => !present,
        }
    };
    let Some(k) = works.iter().position(|w| !committed(w)) else {
        // Everything committed, so the error came after the last COMMIT: report it plainly.
        return Failure::db("finishing a batch of revisions", &error);
    };
    let failed = &works[k];
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
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let sql = batch_sql(tables, works);
    let mut failed = None;
    {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(&mut *conn);
        let mut k = 0;
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
        Some(e) => Err(diagnose(conn, tables, works, offset, e).await),
    }
}

/// Runs a non-transactional step: mark dirty, run each statement on its own, then record
/// it and clear the mark.
async fn apply_alone(
    conn: &mut PgConnection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let rev = work.revision;
    let id = rev.id();
    let mark = match work.direction {
        Direction::Upgrade => vec![tables.insert_log(D, rev, "0", true, false)],
        Direction::Downgrade => vec![tables.mark_dirty(D, id), tables.poison_head(D, id)],
    };
    let unmark = match work.direction {
        Direction::Upgrade => tables.delete_log(D, &[id]).into_iter().collect(),
        Direction::Downgrade => vec![
            tables.clear_dirty(D, id, "execution_ms"),
            format!(
                "UPDATE {} SET chain_digest = '{}' WHERE revision = {}",
                tables.version.quoted(D),
                rev.chain_digest(),
                literal(D, id)
            ),
        ],
    };
    in_transaction(conn, &mark)
        .await
        .map_err(|e| Failure::db(&format!("marking revision {id} as running"), &e))?;
    let started = Instant::now();
    for (k, (stmt, line)) in statements(work.sql(), D, work.sql_line())
        .into_iter()
        .enumerate()
    {
        if let Err(error) = run(conn, stmt).await {
            // Nothing ran before the first statement: the mark can go.
            let aftermath = if k == 0 && in_transaction(conn, &unmark).await.is_ok() {
                Aftermath::RolledBack
            } else {
                Aftermath::Dirty
            };
            return Err(Failure::Step {
                index,
                line,
                error,
                aftermath,
            });
        }
    }
    let elapsed = started.elapsed();
    let ms = elapsed.as_millis().to_string();
    let mut finish = tables.step_bookkeeping(D, work, &ms);
    if work.direction == Direction::Upgrade {
        // The log row exists (dirty); update it instead of inserting it.
        finish.pop();
        finish.push(tables.clear_dirty(D, id, &ms));
    }
    in_transaction(conn, &finish)
        .await
        .map_err(|e| Failure::db(&format!("recording revision {id}"), &e))?;
    progress(index, elapsed);
    Ok(())
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
        match sqlx::raw_sql(AssertSqlSafe(tables.select_heads(D)))
            .fetch_all(conn)
            .await
        {
            Ok(rows) => rows
                .iter()
                .map(|r| {
                    Ok(HeadRow {
                        revision: r.try_get(0)?,
                        chain_digest: r.try_get(1)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map(Some),
            Err(e) if is_missing_table(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read_log(
        conn: &mut PgConnection,
        tables: &Tables,
    ) -> Result<Vec<LogRow>, sqlx::Error> {
        match sqlx::raw_sql(AssertSqlSafe(tables.select_log(D)))
            .fetch_all(conn)
            .await
        {
            Ok(rows) => rows
                .iter()
                .map(|r| {
                    Ok(LogRow {
                        revision: r.try_get(0)?,
                        checksum: r.try_get(1)?,
                        chain_digest: r.try_get(2)?,
                        dirty: r.try_get(3)?,
                    })
                })
                .collect(),
            Err(e) if is_missing_table(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn ensure_tables(
        conn: &mut PgConnection,
        tables: &Tables,
        _timeout: Duration,
    ) -> Result<(), sqlx::Error> {
        run(conn, tables.create(D).join(";\n")).await
    }

    async fn lock(
        conn: &mut PgConnection,
        tables: &Tables,
        timeout: Duration,
    ) -> Result<(), Error> {
        let key = lock_key(tables);
        let sql = format!("SELECT pg_try_advisory_lock({})", key_value(key));
        let mut wait = WaitLog::new();
        let mut attempt = 0;
        loop {
            let row = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| Error::db("taking the migration lock", &e))?;
            let got: bool = row
                .try_get(0)
                .map_err(|e| Error::db("taking the migration lock", &e))?;
            if got {
                return Ok(());
            }
            if wait.elapsed() >= timeout {
                return Err(Error::LockTimeout {
                    waited: wait.elapsed(),
                    holder: holder(conn, key).await,
                });
            }
            if wait.due() {
                wait.log(holder(conn, key).await.as_deref());
            }
            tokio::time::sleep(backoff(attempt).min(timeout.saturating_sub(wait.elapsed()))).await;
            attempt += 1;
        }
    }

    async fn unlock(conn: &mut PgConnection, tables: &Tables) -> Result<(), sqlx::Error> {
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
        let mut i = 0;
        while i < works.len() {
            if !works[i].revision.is_transactional() {
                apply_alone(conn, tables, &works[i], i, progress).await?;
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
            apply_batch(conn, tables, &works[start..i], start, progress).await?;
        }
        Ok(())
    }

    async fn exec_in_transaction(
        conn: &mut PgConnection,
        statements: &[String],
    ) -> Result<(), sqlx::Error> {
        in_transaction(conn, statements).await
    }
}
