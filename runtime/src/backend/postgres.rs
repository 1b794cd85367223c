//! PostgreSQL: transactional DDL, so each revision and its bookkeeping commit together.
//!
//! Consecutive transactional revisions travel in one simple-query batch (one round trip,
//! one transaction each). Nothing is ever run twice to find out what failed:
//!
//! - The server answers each statement of a simple query with one result, so the count of
//!   results says which statement was running when an error came (the revision's own
//!   statements are counted with the same splitter; the error's position, when it has one,
//!   confirms the statement). revchain's own result row of each revision is recognised by a
//!   token made for the batch, which no revision can produce, never by the shape of the row;
//!   it also re-synchronises the count. A revision counts as applied (and is logged) only
//!   once its `COMMIT` completed, so a deferred constraint that fails there is reported as
//!   such.
//! - Before its bookkeeping, each revision checks that the transaction its `BEGIN` opened is
//!   still the one running (a transaction-local setting holds the token): a revision that
//!   ended it (a `COMMIT` in a procedure, …) is refused and marked dirty, not recorded.
//! - The server parses a whole simple query before running any of it, so a syntax error in
//!   any revision rejects the batch before anything ran. Then the revisions before the
//!   faulty one (found by the error's position; failing that, by applying one by one) are
//!   applied, and the faulty one is reported as never run.
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
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition, PgRow, Postgres};
use sqlx::{AssertSqlSafe, Either, Row};

use super::{
    Done, Failure, Held, Lock, Progress, SessionLocked, apply_marked, lease, lock_session, pooler,
    sealed::Driver, timeouts, token, unlock_lease,
};
use crate::bookkeeping::{Tables, Work, literal};
use crate::error::{Aftermath, DriftKind, Error, Stage, is_cancelled, is_connection_lost};

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

/// The transaction-local setting that holds a batch's token from the revision's `BEGIN`:
/// when it no longer does before the bookkeeping, the revision ended its transaction.
const TX: &str = "revchain.tx";

/// The transaction-local setting that holds the revision's duration for its log row.
const MS: &str = "revchain.ms";

/// What one statement of a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The revision's `BEGIN`.
    Begin,
    /// The settings of its transaction (the token, asynchronous commit).
    Setup,
    /// Under a lease, the check that the run still holds it (which extends it).
    Guard,
    /// A statement of the revision's SQL, at this file line.
    User(usize),
    /// The check that its transaction is still open, which also returns its marker row.
    Check,
    /// The revision's `COMMIT`.
    Commit,
}

/// Where a revision's text lies in a batch (byte ranges).
#[derive(Debug)]
struct Span {
    /// From its `BEGIN` to the next revision's.
    whole: std::ops::Range<usize>,
    /// Its own SQL.
    user: std::ops::Range<usize>,
}

/// The text of a batch of transactional revisions, and what each of its statements is:
/// the server answers each statement with one result (`CommandComplete`), so the count of
/// results tells which statement is running.
#[derive(Debug)]
struct Batch {
    sql: String,
    token: String,
    /// Each statement: the revision it belongs to (index in the batch) and what it is.
    parts: Vec<(usize, Part)>,
    /// Per revision, the index in `parts` of its check.
    checks: Vec<usize>,
    spans: Vec<Span>,
    /// Whether the batch's last revision is the run's last (which commits synchronously).
    ends_run: bool,
}

impl Batch {
    /// The batch of transactional steps. Each revision but the run's last commits
    /// asynchronously (see the module documentation); `ends_run` says whether the
    /// batch's last revision is the run's last.
    fn new(tables: &Tables, works: &[Work<'_>], ends_run: bool) -> Batch {
        let bytes: usize = works.iter().map(|w| w.sql().len() + 1024).sum();
        let mut b = Batch {
            sql: String::with_capacity(bytes),
            token: token(),
            parts: Vec::new(),
            checks: Vec::with_capacity(works.len()),
            spans: Vec::with_capacity(works.len()),
            ends_run,
        };
        let next = ms_next();
        for (k, work) in works.iter().enumerate() {
            let ms = if k == 0 { MS_FIRST } else { next.as_str() };
            let start = b.sql.len();
            b.push(k, Part::Begin, "BEGIN");
            let asynchronous = if ends_run && k + 1 == works.len() {
                ""
            } else {
                ", set_config('synchronous_commit', 'off', true)"
            };
            // The transaction id (assigned now; the bookkeeping would anyway) tells, should
            // the setting be gone at the check, whether the transaction is still the same.
            let setup = format!(
                "SELECT set_config('{TX}', '{}', true), pg_current_xact_id()::text{asynchronous}{}",
                b.token,
                timeout_settings(tables, work),
            );
            b.push(k, Part::Setup, &setup);
            if let Some(lease) = &tables.lease {
                let guard = lease::guard(tables, lease, &b.token);
                b.push(k, Part::Guard, &guard);
            }
            let user_start = b.sql.len();
            b.sql.push_str(work.sql());
            let user = user_start..b.sql.len();
            b.sql.push_str("\n;\n");
            let first = work.sql_line();
            for statement in revchain_core::split_statements(work.sql(), D) {
                b.parts.push((k, Part::User(first + statement.line - 1)));
            }
            b.checks.push(b.parts.len());
            let check = b.check(k, ms);
            let book = tables.step_bookkeeping(
                D,
                work,
                &format!("(SELECT {CHECKED}.revchain_ms::BIGINT FROM {CHECKED})"),
            );
            b.push(k, Part::Check, &checked_bookkeeping(&check, &book));
            b.push(k, Part::Commit, "COMMIT");
            b.spans.push(Span {
                whole: start..b.sql.len(),
                user,
            });
        }
        b
    }

    fn push(&mut self, k: usize, part: Part, statement: &str) {
        self.sql.push_str(statement);
        self.sql.push_str(";\n");
        self.parts.push((k, part));
    }

    /// The check of revision `k`, run after its SQL, before its bookkeeping: it fails (an
    /// invalid integer whose text holds the token) when the transaction that set the token
    /// has ended, and otherwise returns the marker row (`<token>:<k>`), the revision's
    /// duration in ms, and sets the mark the next revision's duration starts from. (The
    /// failing branch is not a constant, so the planner cannot evaluate it in advance.)
    fn check(&self, k: usize, ms: &str) -> String {
        let token = &self.token;
        format!(
            "SELECT CASE WHEN current_setting('{TX}', true) = '{token}' THEN '{token}:{k}' \
             ELSE ('revchain: the transaction ended {token} ' || \
             coalesce(pg_current_xact_id_if_assigned()::text, 'none'))::int::text END AS revchain_step, \
             set_config('{MS}', ({ms})::text, true) AS revchain_ms, \
             set_config('{MARK}', EXTRACT(EPOCH FROM clock_timestamp())::float8::text, false) \
             AS revchain_mark"
        )
    }

    /// Which revision a result row marks, and its duration: `None` for a row of the
    /// revisions' own statements, whatever its shape (they cannot hold the token).
    fn marker(&self, row: &PgRow) -> Option<(usize, Duration)> {
        let step: String = row.try_get(0).ok()?;
        let k: usize = step
            .strip_prefix(&self.token)?
            .strip_prefix(':')?
            .parse()
            .ok()?;
        let ms: String = row.try_get(1).ok()?;
        let ms: i64 = ms.parse().ok()?;
        (k < self.spans.len()).then(|| (k, Duration::from_millis(ms.max(0).unsigned_abs())))
    }

    /// The transaction id that a revision's setup row reports, when `row` is one.
    fn setup_xid(&self, row: &PgRow) -> Option<String> {
        let token: String = row.try_get(0).ok()?;
        (token == self.token).then(|| row.try_get(1).ok())?
    }

    /// When `error` is the check's (the setting it looks for is gone), the transaction id
    /// at the check (`none` when the transaction has none).
    fn check_failure_xid(&self, error: &sqlx::Error) -> Option<String> {
        let sqlx::Error::Database(db) = error else {
            return None;
        };
        let message = db.message();
        let after = &message[message.find(&self.token)? + self.token.len()..];
        Some(
            after
                .trim_start()
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect(),
        )
    }

    /// Whether `error`, raised by revision `k`'s check-and-record statement, is its
    /// bookkeeping's (not the check's): it names one of revchain's tables, or points into
    /// revchain's text of that revision rather than into the revision's SQL.
    fn records(&self, tables: &Tables, k: usize, error: &sqlx::Error) -> bool {
        let sqlx::Error::Database(db) = error else {
            return false;
        };
        if let Some(table) = db.table()
            && (table == tables.log.name() || table == tables.version.name())
        {
            return true;
        }
        let span = &self.spans[k];
        self.error_offset(error)
            .is_some_and(|at| span.whole.contains(&at) && !span.user.contains(&at))
    }

    /// The byte offset in the batch that `error` points at, when it gives one.
    fn error_offset(&self, error: &sqlx::Error) -> Option<usize> {
        let sqlx::Error::Database(db) = error else {
            return None;
        };
        let pg = db.try_downcast_ref::<PgDatabaseError>()?;
        let Some(PgErrorPosition::Original(chars)) = pg.position() else {
            return None;
        };
        // A 1-based position in characters.
        self.sql
            .char_indices()
            .nth(chars.checked_sub(1)?)
            .map(|(byte, _)| byte)
    }

    /// The file line of byte `at` in revision `k`'s SQL (its last line when `at` lies in
    /// revchain's text after it, its first before).
    fn line_at(&self, works: &[Work<'_>], k: usize, at: usize) -> usize {
        let user = &self.spans[k].user;
        let text = &self.sql[user.clone()];
        let end = user.start + text.trim_end().len();
        let upto = at.clamp(user.start, end.max(user.start));
        works[k].sql_line() + self.sql[user.start..upto].matches('\n').count()
    }

    /// The file line of the statement of revision `k` that holds byte `at`, when `at`
    /// lies in the revision's SQL.
    fn statement_line_at(&self, works: &[Work<'_>], k: usize, at: usize) -> Option<usize> {
        let user = &self.spans[k].user;
        if !user.contains(&at) {
            return None;
        }
        let work = &works[k];
        revchain_core::split_statements(work.sql(), D)
            .iter()
            .take_while(|s| user.start + s.offset <= at)
            .last()
            .map(|s| work.sql_line() + s.line - 1)
    }
}

/// The name of the check's row inside the statement that also records the revision.
const CHECKED: &str = "revchain_checked";

/// The check and the revision's bookkeeping as one statement (one parse, plan and result
/// instead of four): the check is a CTE that every part reads or that the statement
/// returns, so it runs once and, when it fails, nothing of the statement happens; the
/// bookkeeping statements are data-modifying CTEs, which always run to completion, and the
/// log row takes its duration from the check's row.
fn checked_bookkeeping(check: &str, book: &[String]) -> String {
    let mut sql = format!("WITH {CHECKED} AS MATERIALIZED ({check})");
    for (i, statement) in book.iter().enumerate() {
        sql.push_str(&format!(", revchain_book{i} AS ({statement})"));
    }
    sql.push_str(&format!(
        " SELECT revchain_step, revchain_ms, revchain_mark FROM {CHECKED}"
    ));
    sql
}

/// How far a batch got before it stopped.
#[derive(Debug, Default)]
struct Reached {
    /// How many results (one per statement) arrived: the index of the running statement.
    results: usize,
    /// Whether anything at all arrived.
    anything: bool,
    /// How many revisions committed.
    committed: usize,
    /// The duration of each revision whose check row arrived.
    durations: Vec<Option<Duration>>,
    /// The transaction id of each revision whose setup row arrived.
    xids: Vec<Option<String>>,
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
    let batch = Batch::new(tables, works, ends_run);
    let mut reached = Reached {
        durations: vec![None; works.len()],
        xids: vec![None; works.len()],
        ..Reached::default()
    };
    let mut failed = None;
    {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(batch.sql.as_str())).fetch_many(&mut *conn);
        while let Some(item) = stream.next().await {
            match item {
                Ok(Either::Left(_)) => {
                    reached.anything = true;
                    // A COMMIT counts only once its revision's check passed: before that
                    // the count rests on the splitter, afterwards on revchain's own text.
                    if let Some(&(k, Part::Commit)) = batch.parts.get(reached.results)
                        && let Some(took) = reached.durations[k]
                    {
                        reached.committed = k + 1;
                        progress(offset + k, took);
                    }
                    reached.results += 1;
                }
                Ok(Either::Right(row)) => {
                    reached.anything = true;
                    if let Some(xid) = batch.setup_xid(&row)
                        && let Some(slot) = reached.xids.get_mut(reached.committed)
                    {
                        *slot = Some(xid);
                    } else if let Some((k, took)) = batch.marker(&row) {
                        if reached.results != batch.checks[k] {
                            tracing::debug!(
                                target: "revchain",
                                "revision {}: the server counted its statements differently",
                                works[k].revision.id()
                            );
                        }
                        reached.results = batch.checks[k];
                        reached.durations[k] = Some(took);
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    let Some(error) = failed else {
        return Ok(());
    };
    if !reached.anything
        && matches!(error, sqlx::Error::Database(_))
        && !is_connection_lost(&error)
        && !is_cancelled(&error)
    {
        return Box::pin(rejected(
            conn, tables, works, offset, progress, &batch, error,
        ))
        .await;
    }
    // The failed transaction is still open (aborted); end it.
    let _ = run(conn, "ROLLBACK".to_owned()).await;
    Err(locate(conn, tables, works, offset, &batch, &reached, error).await)
}

/// The server rejected the whole batch before running any of it (it parses a simple query
/// whole first): a syntax error. Applies the revisions before the faulty one, then reports
/// that one as never run; without a position to find it by, applies them one by one.
async fn rejected(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    progress: Progress<'_>,
    batch: &Batch,
    error: sqlx::Error,
) -> Result<(), Failure> {
    let at = batch.error_offset(&error);
    let faulty = at.and_then(|at| batch.spans.iter().position(|s| s.whole.contains(&at)));
    match (faulty, at) {
        (Some(k), Some(at)) => {
            if k > 0 {
                apply_batch(conn, tables, &works[..k], offset, false, progress).await?;
            }
            Err(Failure::Step {
                index: offset + k,
                line: batch.line_at(works, k, at),
                error,
                aftermath: Aftermath::NeverRan,
                stage: Stage::Statement,
            })
        }
        _ if works.len() > 1 => {
            for (k, work) in works.iter().enumerate() {
                let last = batch.ends_run && k + 1 == works.len();
                apply_batch(
                    conn,
                    tables,
                    std::slice::from_ref(work),
                    offset + k,
                    last,
                    progress,
                )
                .await?;
            }
            Ok(())
        }
        _ => Err(Failure::Step {
            index: offset,
            line: works.first().map_or(0, Work::sql_line),
            error,
            aftermath: Aftermath::NeverRan,
            stage: Stage::Statement,
        }),
    }
}

/// After a batch failed while it ran (and was rolled back): which revision failed, where,
/// and why. The revision in flight is the first whose COMMIT did not complete; the count
/// of results says which of its statements was running.
async fn locate(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    batch: &Batch,
    reached: &Reached,
    error: sqlx::Error,
) -> Failure {
    let k = reached.committed;
    let Some(work) = works.get(k) else {
        // Everything committed, so the error came after the last COMMIT.
        return Failure::db("finishing a batch of revisions", &error);
    };
    let part = match batch.parts.get(reached.results) {
        Some(&(owner, part)) if owner == k => Some(part),
        _ => None,
    };
    let checked = reached.durations[k].is_some();
    if let Some(lease) = &tables.lease
        && lease::is_lost(&error, &batch.token)
    {
        return Failure::Other(lease::lost(tables, lease));
    }
    if !checked && let Some(xid) = batch.check_failure_xid(&error) {
        if reached.xids[k].as_deref() == Some(xid.as_str()) {
            // Still the revision's transaction, which the check's error rolled back: the
            // revision reset the setting (`RESET ALL`).
            return Failure::Other(Error::Database {
                context: format!("{}: revision {}", work.revision.path(), work.revision.id()),
                message: format!(
                    "it reset the setting `{TX}` (`RESET ALL`?), by which revchain checks \
                     that the revision's transaction is still open; the revision was rolled \
                     back: reset only the settings it changes"
                ),
            });
        }
        return transaction_ended(conn, tables, work).await;
    }
    let (line, stage) = match part {
        Some(Part::Check) if !checked && batch.records(tables, k, &error) => {
            let id = work.revision.id();
            if is_cancelled(&error) || is_connection_lost(&error) {
                (work.sql_line(), Stage::Statement)
            } else if crate::error::driver_code(&error).as_deref() == Some("23505") {
                // The log already has the revision's row that the version table says is
                // to do: one of the two was edited by hand.
                return Failure::Other(Error::Drift {
                    kind: DriftKind::LogDisagrees {
                        id: id.to_owned(),
                        in_log: work.direction == Direction::Upgrade,
                    },
                });
            } else {
                return Failure::db(&format!("recording revision {id}"), &error);
            }
        }
        Some(Part::Commit) if checked => (work.sql_line(), Stage::Commit),
        _ => {
            let by_position = batch
                .error_offset(&error)
                .and_then(|at| batch.statement_line_at(works, k, at));
            let by_count = match part {
                Some(Part::User(line)) => line,
                _ => work.sql_line(),
            };
            (by_position.unwrap_or(by_count), Stage::Statement)
        }
    };
    Failure::Step {
        index: offset + k,
        line,
        error,
        aftermath: Aftermath::RolledBack,
        stage,
    }
}

/// A revision ended its own transaction: what it ran before may have committed, so it is
/// marked dirty (when that still works) and reported.
async fn transaction_ended(conn: &mut PgConnection, tables: &Tables, work: &Work<'_>) -> Failure {
    let dirty_marked = in_transaction(conn, &tables.mark_running(D, work))
        .await
        .inspect_err(|e| {
            tracing::debug!(target: "revchain", "marking revision {} dirty: {e}", work.revision.id())
        })
        .is_ok();
    Failure::transaction_ended(work, dirty_marked)
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
}

/// The columns of a revision's setup that set its lock and statement timeouts for its
/// transaction (`SET LOCAL`; docs/design.md §4.12): none when it runs with the session's.
fn timeout_settings(tables: &Tables, work: &Work<'_>) -> String {
    let t = &tables.timeouts;
    let mut sql = String::new();
    for (name, value) in [
        ("lock_timeout", t.lock_for(work.revision)),
        ("statement_timeout", t.statement_for(work.revision)),
    ] {
        if let Some(d) = value {
            sql.push_str(&format!(
                ", set_config('{name}', '{}', true)",
                timeouts::pg_setting(d)
            ));
        }
    }
    sql
}

/// Whether an error is a lock timeout: SQLSTATE 55P03 `lock_not_available`.
fn is_lock_timeout(error: &sqlx::Error) -> bool {
    crate::error::driver_code(error).as_deref() == Some("55P03")
}

/// The sessions that may block this one: the others of this database in a transaction
/// that hold a granted lock on a table, oldest transaction first (the blocked statement
/// was cancelled, so `pg_blocking_pids` no longer names them): pid, application name,
/// state, query start and the first line of the query.
async fn blockers(conn: &mut PgConnection) -> Vec<String> {
    const SQL: &str = "SELECT a.pid::text, coalesce(a.application_name, ''), \
        coalesce(a.state, ''), coalesce(a.query_start::text, ''), coalesce(a.query, '') \
        FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() \
        AND a.datname = current_database() AND a.xact_start IS NOT NULL \
        AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted \
        AND l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database \
        WHERE datname = current_database())) ORDER BY a.xact_start LIMIT 3";
    timeouts::blockers::<Postgres>(conn, SQL, 5, |c| {
        format!(
            "pid {} (application {:?}, {}, query started {}: {:?})",
            c[0],
            c[1],
            c[2],
            c[3],
            timeouts::query_excerpt(&c[4])
        )
    })
    .await
}

/// Applies `works[start..end]` in one batch; a revision of it that timed out waiting for a
/// lock is tried again alone after a backoff (the revisions before it committed), up to
/// the run's lock retries, then the rest of the batch. Returns where the batch ended.
async fn apply_retrying(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    (start, end): (usize, usize),
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let retries = tables.timeouts.lock_retries;
    let (mut from, mut attempt) = (start, 0);
    loop {
        let ends_run = end == works.len();
        let result = apply_batch(conn, tables, &works[from..end], from, ends_run, progress).await;
        let Err(failure) = result else {
            return Ok(());
        };
        let Some(index) = timeouts::lock_timed_out(&failure, is_lock_timeout) else {
            return Err(failure);
        };
        let tried = if index == from { attempt } else { 0 };
        attempt = timeouts::next_try(failure, tried, retries)?;
        let blockers = blockers(conn).await;
        timeouts::before_retry(works[index].revision, attempt, retries, &blockers).await;
        from = index;
    }
}

/// Applies a step that is not batched (a Rust code revision, or a non-transactional
/// revision) with its session timeouts set around it, trying a transactional one again
/// after a lock timeout.
async fn apply_alone(
    conn: &mut PgConnection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let retries = tables.timeouts.lock_retries;
    let mut attempt = 0;
    loop {
        let restore = set_timeouts(conn, tables, work).await?;
        let result = if work.revision.is_transactional() {
            super::code::apply_atomic::<Postgres>(conn, tables, work, index, progress).await
        } else {
            apply_marked::<Postgres>(conn, tables, work, index, progress).await
        };
        if let Some(restore) = restore
            && let Err(e) = run(conn, restore).await
            && result.is_ok()
        {
            return Err(Failure::db("restoring the session's timeouts", &e));
        }
        let Err(failure) = result else {
            return Ok(());
        };
        if !work.revision.is_transactional()
            || timeouts::lock_timed_out(&failure, is_lock_timeout).is_none()
        {
            return Err(failure);
        }
        attempt = timeouts::next_try(failure, attempt, retries)?;
        let blockers = blockers(conn).await;
        timeouts::before_retry(work.revision, attempt, retries, &blockers).await;
    }
}

/// Sets the session's lock and statement timeouts for `work` (`SET`), returning the
/// statements that put back the values they had; `None` when it runs with the session's.
async fn set_timeouts(
    conn: &mut PgConnection,
    tables: &Tables,
    work: &Work<'_>,
) -> Result<Option<String>, Failure> {
    let t = &tables.timeouts;
    let settings: Vec<(&str, Duration)> = [
        ("lock_timeout", t.lock_for(work.revision)),
        ("statement_timeout", t.statement_for(work.revision)),
    ]
    .into_iter()
    .filter_map(|(name, d)| Some((name, d?)))
    .collect();
    if settings.is_empty() {
        return Ok(None);
    }
    let failed = |e: sqlx::Error| Failure::db("setting the revision's timeouts", &e);
    let row = sqlx::raw_sql(
        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(failed)?;
    let (lock, statement): (String, String) = (
        row.try_get(0).map_err(failed)?,
        row.try_get(1).map_err(failed)?,
    );
    let restore = format!(
        "SET lock_timeout = {};\nSET statement_timeout = {}",
        literal(D, &lock),
        literal(D, &statement)
    );
    let set: Vec<String> = settings
        .iter()
        .map(|(name, d)| format!("SET {name} = '{}'", timeouts::pg_setting(*d)))
        .collect();
    run(conn, set.join(";\n")).await.map_err(failed)?;
    Ok(Some(restore))
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
        if !works[i].revision.is_transactional() || works[i].revision.is_rust() {
            apply_alone(conn, tables, &works[i], i, progress).await?;
            i += 1;
            continue;
        }
        let start = i;
        let mut bytes = 0;
        while i < works.len()
            && works[i].revision.is_transactional()
            && !works[i].revision.is_rust()
            && (i == start || (bytes < BATCH_BYTES && i - start < BATCH_REVISIONS))
        {
            bytes += works[i].sql().len();
            i += 1;
        }
        apply_retrying(conn, tables, works, (start, i), progress).await?;
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

    async fn try_lock_in_transaction(
        conn: &mut PgConnection,
        tables: &Tables,
    ) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "SELECT pg_try_advisory_xact_lock({})",
            key_value(lock_key(tables))
        );
        sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_one(conn)
            .await?
            .try_get(0)
    }

    fn is_missing_table(error: &sqlx::Error) -> bool {
        is_missing_table(error)
    }

    async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
        run(conn, sql).await
    }

    async fn fetch_all(
        conn: &mut PgConnection,
        sql: String,
    ) -> Result<Vec<Self::Row>, sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(conn).await
    }

    async fn lock(
        conn: &mut PgConnection,
        tables: &Tables,
        timeout: Duration,
        done: Done<'_>,
        lock: &Lock,
    ) -> Result<Option<Held>, Error> {
        lock_session::<Postgres>(conn, tables, timeout, done, lock).await
    }

    async fn lease_reason(conn: &mut PgConnection, pool: Option<&sqlx::PgPool>) -> Option<String> {
        pooler::lease_reason(conn, pool).await
    }

    async fn unlock(
        conn: &mut PgConnection,
        tables: &Tables,
        held: Held,
    ) -> Result<(), sqlx::Error> {
        if let Some(released) = unlock_lease::<Postgres>(conn, tables, &held).await {
            return released;
        }
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
