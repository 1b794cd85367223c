//! PostgreSQL: transactional DDL, so each revision and its bookkeeping commit together.
//!
//! Consecutive transactional revisions share one transaction, each in a savepoint of its
//! own, up to 64 to a transaction ([`super::group`] gives the rule and why it keeps every
//! revision atomic and applied once), and several such groups travel in one simple-query
//! batch (one round trip). Nothing is run twice to find out what failed, with one
//! exception (a deferred constraint that fails at a group's `COMMIT`, below):
//!
//! - The server answers each statement of a simple query with one result, so the count of
//!   results says which statement was running when an error came (the revision's own
//!   statements are counted with the same splitter; the error's position, when it has one,
//!   confirms the statement). revchain's own rows (a group's start, each revision's end) are
//!   recognised by a token made for the batch, which no revision can produce, never by the
//!   shape of the row; they re-synchronise the count and time each revision. A revision
//!   counts as applied (and is logged) only once its group's `COMMIT` completed.
//! - A statement of a revision fails: the revision is rolled back to its savepoint, and the
//!   revisions of its group before it commit with their bookkeeping, as they would have with
//!   one transaction each.
//! - A deferred constraint fails at a group's `COMMIT`: the group was rolled back whole, and
//!   its revisions are applied again one transaction each, which reports the one at fault
//!   (what they did the first time was rolled back).
//! - The release of a revision's savepoint fails when the revision ended the transaction it
//!   ran in (`COMMIT`, `ROLLBACK`): it and the revisions of its group before it are marked
//!   dirty, not recorded. Only a revision whose statements the splitter cuts with doubt
//!   could (the parser refuses transaction control), and such a revision is a group of its
//!   own.
//! - The server parses a whole simple query before running any of it, so a syntax error in
//!   any revision rejects the batch before anything ran. Then the revisions before the
//!   faulty one (found by the error's position; failing that, by applying one by one) are
//!   applied, and the faulty one is reported as never run.
//! - Each group writes its bookkeeping once: the version table's net change and one
//!   multi-row insert into the log, each revision's duration taken from the marks.
//!
//! **Asynchronous commit.** Every group of a run but the last commits with
//! `SET LOCAL synchronous_commit = off`: its COMMIT does not wait for the WAL to reach the
//! disk. The last group commits synchronously (with the session's own setting), and
//! flushing its commit record flushes the WAL of every earlier one, so when a run returns
//! `Ok` everything it applied is as durable as with a synchronous commit per revision; a
//! failed run flushes what it committed before reporting the failure. What a crash of the
//! server (or of its machine) in the middle of a run can do: the WAL is one sequence, and
//! recovery replays it up to the last record that reached the disk, so it can lose only
//! the latest async-committed transactions, always a suffix of the run's revisions, each
//! together with its bookkeeping (each revision stays atomic with its version and log
//! rows). The database comes back exactly as after some earlier revision,
//! its version table saying which, and the next run applies the rest. What it saves: one
//! WAL flush per revision (with a synchronous standby, one wait for the standby too).
//!
//! **Compaction.** Each transaction replaces the head row of the version table, and the
//! dead rows stay in the table's pages until a vacuum, and their line pointers even after
//! it (10,000 transactions leave 35 pages that every boot check scans; more while a long
//! transaction holds back pruning). After a run of at least [`COMPACT_AFTER`] transactions
//! the table is rewritten with its live rows: `TRUNCATE` and insert in one short transaction
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
    Done, Failure, Held, Lock, Progress, SessionLocked, apply_marked, group, lease, lock_session,
    pooler, sealed::Driver, timeouts, token, unlock_lease,
};
use crate::bookkeeping::{Tables, Work, literal};
use crate::error::{Aftermath, DriftKind, Error, Stage, is_cancelled, is_connection_lost};

const D: Dialect = Dialect::Postgres;

/// Largest batch of revisions sent in one round trip.
const BATCH_BYTES: usize = 512 * 1024;
const BATCH_REVISIONS: usize = 500;

/// After a run of at least this many transactions (each rewrites the version table's head
/// row once), the version table is compacted.
const COMPACT_AFTER: usize = 64;

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

/// The server's clock in microseconds since the epoch, as SQL.
const NOW_MICROS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT";

/// The transaction-local setting that holds when a group's transaction began.
const START: &str = "revchain.s";

/// The transaction-local setting that holds when revision `j` of a group (its position in
/// the group) ended.
fn mark_setting(j: usize) -> String {
    format!("revchain.m{j}")
}

/// The time (µs) a mark setting holds, as SQL: NULL when the setting is missing or empty
/// (a revision that ran `RESET ALL` reset it).
fn mark_micros(setting: &str) -> String {
    format!("nullif(split_part(current_setting('{setting}', true), ':', 3), '')::BIGINT")
}

/// What one statement of a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The `BEGIN` of group `.0`.
    Begin(usize),
    /// The settings of group `.0`'s transaction (its start mark, asynchronous commit,
    /// timeouts).
    Setup(usize),
    /// Under a lease, the check that the run still holds it (which extends it).
    Guard(usize),
    /// The savepoint before revision `.0`.
    Savepoint(usize),
    /// A statement of revision `.0`'s SQL, at file line `.1`.
    User(usize, usize),
    /// The release of revision `.0`'s savepoint: it fails when the revision ended its
    /// transaction.
    Release(usize),
    /// The mark of revision `.0`'s end, a row revchain reads back.
    Mark(usize),
    /// A bookkeeping statement of group `.0`.
    Book(usize),
    /// The `COMMIT` of group `.0`.
    Commit(usize),
}

/// Where a revision's text lies in a batch (byte ranges).
#[derive(Debug)]
struct Span {
    /// From its savepoint to the next revision's (or its group's bookkeeping).
    whole: std::ops::Range<usize>,
    /// Its own SQL.
    user: std::ops::Range<usize>,
}

/// The text of a batch of transactional revisions in groups (see [`super::group`]), and
/// what each of its statements is: the server answers each statement with one result
/// (`CommandComplete`), so the count of results tells which statement is running.
#[derive(Debug)]
struct Batch {
    sql: String,
    token: String,
    /// Each statement, in order.
    parts: Vec<Part>,
    /// Each group: the revisions (indices in the batch) it holds.
    groups: Vec<std::ops::Range<usize>>,
    spans: Vec<Span>,
    /// Whether the batch's last group is the run's last (which commits synchronously).
    ends_run: bool,
}

/// The groups of `works`, in order: each one revision when `alone`.
fn groups_of(tables: &Tables, works: &[Work<'_>], alone: bool) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < works.len() {
        let end = if alone {
            start + 1
        } else {
            group::group_end(works, start, D, &tables.timeouts, |_| true)
        };
        groups.push(start..end);
        start = end;
    }
    groups
}

impl Batch {
    /// The batch of transactional steps, in groups (each revision alone when `alone`).
    /// Each group but the run's last commits asynchronously (see the module
    /// documentation); `ends_run` says whether the batch's last group is the run's last.
    fn new(tables: &Tables, works: &[Work<'_>], ends_run: bool, alone: bool) -> Batch {
        let bytes: usize = works.iter().map(|w| w.sql().len() + 1024).sum();
        let groups = groups_of(tables, works, alone);
        let mut b = Batch {
            sql: String::with_capacity(bytes),
            token: token(),
            parts: Vec::new(),
            groups: Vec::new(),
            spans: Vec::with_capacity(works.len()),
            ends_run,
        };
        let last = groups.len().saturating_sub(1);
        for (g, range) in groups.into_iter().enumerate() {
            b.push_group(tables, works, g, range, ends_run && g == last);
        }
        b
    }

    /// Appends group `g` (the revisions `range` of `works`).
    fn push_group(
        &mut self,
        tables: &Tables,
        works: &[Work<'_>],
        g: usize,
        range: std::ops::Range<usize>,
        synchronous: bool,
    ) {
        self.push(Part::Begin(g), "BEGIN");
        let asynchronous = if synchronous {
            ""
        } else {
            ", set_config('synchronous_commit', 'off', true)"
        };
        let setup = format!(
            "SELECT {}{asynchronous}{}",
            self.mark(START),
            timeout_settings(tables, &works[range.start])
        );
        self.push(Part::Setup(g), &setup);
        if let Some(lease) = &tables.lease {
            let guard = lease::guard(tables, lease, &self.token);
            self.push(Part::Guard(g), &guard);
        }
        for k in range.clone() {
            self.push_revision(&works[k], k, k - range.start);
        }
        let first = range.start;
        let ms = |k: usize| self.execution_ms(first, first + k);
        let book = tables.group_bookkeeping(D, &works[range.clone()], &ms);
        for statement in &book {
            self.push(Part::Book(g), statement);
        }
        self.push(Part::Commit(g), "COMMIT");
        self.groups.push(range);
    }

    /// Appends revision `k` of the batch, `j`th of its group, in its savepoint.
    fn push_revision(&mut self, work: &Work<'_>, k: usize, j: usize) {
        let start = self.sql.len();
        let savepoint = group::savepoint(&self.token, k);
        self.push(Part::Savepoint(k), &format!("SAVEPOINT {savepoint}"));
        let user_start = self.sql.len();
        self.sql.push_str(work.sql());
        let user = user_start..self.sql.len();
        self.sql.push_str("\n;\n");
        let first = work.sql_line();
        for statement in revchain_core::split_statements(work.sql(), D) {
            self.parts.push(Part::User(k, first + statement.line - 1));
        }
        self.push(Part::Release(k), &format!("RELEASE SAVEPOINT {savepoint}"));
        let mark = format!("SELECT {}", self.mark(&mark_setting(j)));
        self.push(Part::Mark(k), &mark);
        self.spans.push(Span {
            whole: start..self.sql.len(),
            user,
        });
    }

    fn push(&mut self, part: Part, statement: &str) {
        self.sql.push_str(statement);
        self.sql.push_str(";\n");
        self.parts.push(part);
    }

    /// The expression that sets `setting` to `<token>:<index of this statement>:<now in µs>`
    /// and returns that text: revchain's own row, which no revision can produce, and which
    /// re-synchronises the count of results.
    fn mark(&self, setting: &str) -> String {
        format!(
            "set_config('{setting}', '{}:{}:' || {NOW_MICROS}, true)",
            self.token,
            self.parts.len()
        )
    }

    /// The duration (ms, as SQL) of revision `k`, the first of its group being `first`:
    /// from the previous mark to its own, from the settings (0 when one is missing).
    fn execution_ms(&self, first: usize, k: usize) -> String {
        let before = if k == first {
            START.to_owned()
        } else {
            mark_setting(k - first - 1)
        };
        format!(
            "coalesce(greatest(({} - {}) / 1000, 0), 0)",
            mark_micros(&mark_setting(k - first)),
            mark_micros(&before)
        )
    }

    /// The statement index and time (µs) of one of revchain's mark rows; `None` for a row
    /// of the revisions' own statements, whatever its shape (they cannot hold the token).
    fn marker(&self, row: &PgRow) -> Option<(usize, i64)> {
        let text: String = row.try_get(0).ok()?;
        let mut fields = text
            .strip_prefix(&self.token)?
            .strip_prefix(':')?
            .split(':');
        let part: usize = fields.next()?.parse().ok()?;
        let micros: i64 = fields.next()?.parse().ok()?;
        (part < self.parts.len()).then_some((part, micros))
    }

    /// The group that holds revision `k`.
    fn group_of(&self, k: usize) -> usize {
        self.groups.partition_point(|r| r.end <= k)
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

/// How far a batch got before it stopped.
#[derive(Debug, Default)]
struct Reached {
    /// How many results (one per statement) arrived: the index of the running statement.
    results: usize,
    /// Whether anything at all arrived.
    anything: bool,
    /// How many revisions committed (whole groups).
    committed: usize,
    /// The time (µs) of each group's start mark that arrived.
    starts: Vec<Option<i64>>,
    /// The time (µs) of each revision's end mark that arrived.
    ends: Vec<Option<i64>>,
}

impl Reached {
    fn new(batch: &Batch) -> Reached {
        Reached {
            starts: vec![None; batch.groups.len()],
            ends: vec![None; batch.spans.len()],
            ..Reached::default()
        }
    }

    /// Reads one of revchain's mark rows (`part`, at `micros`).
    fn marked(&mut self, batch: &Batch, part: usize, micros: i64) {
        self.results = part;
        match batch.parts[part] {
            Part::Setup(g) => self.starts[g] = Some(micros),
            Part::Mark(k) => self.ends[k] = Some(micros),
            _ => {}
        }
    }

    /// How long revision `k` took, by the server's clock.
    fn took(&self, batch: &Batch, k: usize) -> Duration {
        let g = batch.group_of(k);
        let before = if k == batch.groups[g].start {
            self.starts[g]
        } else {
            self.ends[k - 1]
        };
        let micros = match (before, self.ends[k]) {
            (Some(a), Some(b)) => (b - a).max(0).unsigned_abs(),
            _ => 0,
        };
        Duration::from_micros(micros)
    }

    /// Group `g` committed: its revisions count as applied, in order.
    fn commit(&mut self, batch: &Batch, g: usize, offset: usize, progress: Progress<'_>) {
        for k in batch.groups[g].clone() {
            progress(offset + k, self.took(batch, k));
        }
        self.committed = batch.groups[g].end;
    }
}

/// Runs one batch of transactional steps in one round trip (each revision in a
/// transaction of its own when `alone`).
async fn apply_batch(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    ends_run: bool,
    alone: bool,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let batch = Batch::new(tables, works, ends_run, alone);
    let mut reached = Reached::new(&batch);
    let mut failed = None;
    {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(batch.sql.as_str())).fetch_many(&mut *conn);
        while let Some(item) = stream.next().await {
            match item {
                Ok(Either::Left(_)) => {
                    reached.anything = true;
                    // A COMMIT counts only once its group's last mark arrived: before that
                    // the count rests on the splitter, afterwards on revchain's own text.
                    if let Some(&Part::Commit(g)) = batch.parts.get(reached.results)
                        && reached.ends[batch.groups[g].end - 1].is_some()
                    {
                        reached.commit(&batch, g, offset, progress);
                    }
                    reached.results += 1;
                }
                Ok(Either::Right(row)) => {
                    reached.anything = true;
                    if let Some((part, micros)) = batch.marker(&row) {
                        reached.marked(&batch, part, micros);
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
    Box::pin(locate(
        conn,
        tables,
        works,
        offset,
        progress,
        &batch,
        &mut reached,
        error,
    ))
    .await
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
                apply_batch(conn, tables, &works[..k], offset, false, false, progress).await?;
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
                let one = std::slice::from_ref(work);
                apply_batch(conn, tables, one, offset + k, last, true, progress).await?;
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

/// After a batch failed while it ran: which revision failed, where, and why; and what of
/// its group still commits. The groups before committed; the count of results says which
/// statement of the group in flight was running.
#[allow(clippy::too_many_arguments)]
async fn locate(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    progress: Progress<'_>,
    batch: &Batch,
    reached: &mut Reached,
    error: sqlx::Error,
) -> Result<(), Failure> {
    let Some(&part) = batch.parts.get(reached.results) else {
        // Everything committed, so the error came after the last COMMIT.
        return Err(Failure::db("finishing a batch of revisions", &error));
    };
    if let Some(lease) = &tables.lease
        && lease::is_lost(&error, &batch.token)
    {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        return Err(Failure::Other(lease::lost(tables, lease)));
    }
    let lost = is_connection_lost(&error) || is_cancelled(&error);
    match part {
        Part::Begin(g) | Part::Setup(g) | Part::Guard(g) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            let k = batch.groups[g].start;
            Err(statement_failed(offset, k, works[k].sql_line(), error))
        }
        Part::Savepoint(k) | Part::User(k, _) | Part::Mark(k) => {
            let line = failed_line(batch, works, k, part, &error);
            keep_before(conn, tables, works, offset, progress, batch, reached, k).await;
            Err(statement_failed(offset, k, line, error))
        }
        Part::Release(k) if lost => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(statement_failed(offset, k, works[k].sql_line(), error))
        }
        Part::Release(k) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            let before = batch.groups[batch.group_of(k)].start..k;
            Err(transaction_ended(conn, tables, &works[before], &works[k]).await)
        }
        Part::Book(g) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(bookkeeping_failed(works, &batch.groups[g], &error))
        }
        Part::Commit(g) if !lost && batch.groups[g].len() > 1 => {
            // A deferred constraint: the group was rolled back whole, and the error does
            // not say which revision broke it. One transaction each finds it.
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            let range = batch.groups[g].clone();
            let last = batch.ends_run && range.end == works.len();
            let group = &works[range.clone()];
            apply_batch(
                conn,
                tables,
                group,
                offset + range.start,
                last,
                true,
                progress,
            )
            .await
        }
        Part::Commit(g) => {
            let k = batch.groups[g].start;
            Err(Failure::Step {
                index: offset + k,
                line: works[k].sql_line(),
                error,
                aftermath: Aftermath::RolledBack,
                stage: Stage::Commit,
            })
        }
    }
}

/// Revision `k` failed at file line `line`: it was rolled back.
fn statement_failed(offset: usize, k: usize, line: usize, error: sqlx::Error) -> Failure {
    Failure::Step {
        index: offset + k,
        line,
        error,
        aftermath: Aftermath::RolledBack,
        stage: Stage::Statement,
    }
}

/// The file line of the statement of revision `k` that `error` came from: by the error's
/// position when it has one, else by the count of results.
fn failed_line(
    batch: &Batch,
    works: &[Work<'_>],
    k: usize,
    part: Part,
    error: &sqlx::Error,
) -> usize {
    let by_position = batch
        .error_offset(error)
        .and_then(|at| batch.statement_line_at(works, k, at));
    let by_count = match part {
        Part::User(_, line) => line,
        _ => works[k].sql_line(),
    };
    by_position.unwrap_or(by_count)
}

/// Revision `k` failed inside its group's transaction: rolls back to its savepoint and
/// commits the revisions of the group before it with their bookkeeping, as one
/// transaction per revision would have left them; when that cannot be done (the
/// connection is gone, the savepoint with it), the whole group is rolled back.
#[allow(clippy::too_many_arguments)]
async fn keep_before(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    progress: Progress<'_>,
    batch: &Batch,
    reached: &mut Reached,
    k: usize,
) {
    let g = batch.group_of(k);
    let first = batch.groups[g].start;
    if k == first {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        return;
    }
    let mut sql = format!(
        "ROLLBACK TO SAVEPOINT {};\n",
        group::savepoint(&batch.token, k)
    );
    let ms = |j: usize| batch.execution_ms(first, first + j);
    for statement in tables.group_bookkeeping(D, &works[first..k], &ms) {
        sql.push_str(&statement);
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT;");
    match run(conn, sql).await {
        Ok(()) => {
            for j in first..k {
                progress(offset + j, reached.took(batch, j));
            }
            reached.committed = k;
        }
        Err(e) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            tracing::debug!(
                target: "revchain",
                "keeping the revisions before {}: {e}",
                works[k].revision.id()
            );
        }
    }
}

/// The bookkeeping of a group failed (its transaction was rolled back whole): a
/// duplicate log row means the log and the version table disagree (one was edited by
/// hand), for the revision the error names.
fn bookkeeping_failed(
    works: &[Work<'_>],
    range: &std::ops::Range<usize>,
    error: &sqlx::Error,
) -> Failure {
    let group = &works[range.clone()];
    if crate::error::driver_code(error).as_deref() == Some("23505") {
        let detail = match error {
            sqlx::Error::Database(db) => db
                .try_downcast_ref::<PgDatabaseError>()
                .and_then(PgDatabaseError::detail)
                .unwrap_or_default()
                .to_owned(),
            _ => String::new(),
        };
        let work = group
            .iter()
            .find(|w| detail.contains(&format!("=({})", w.revision.id())))
            .or(group.first());
        if let Some(work) = work {
            return Failure::Other(Error::Drift {
                kind: DriftKind::LogDisagrees {
                    id: work.revision.id().to_owned(),
                    in_log: work.direction == Direction::Upgrade,
                },
            });
        }
    }
    let ids: Vec<&str> = group.iter().map(|w| w.revision.id()).collect();
    Failure::db(&format!("recording revisions {}", ids.join(", ")), error)
}

/// `work` ended its own transaction: what it and the revisions of its group before it
/// (`before`) ran may have committed, or not, without their bookkeeping. Each is marked
/// dirty (when that still works), and `work` is reported.
async fn transaction_ended(
    conn: &mut PgConnection,
    tables: &Tables,
    before: &[Work<'_>],
    work: &Work<'_>,
) -> Failure {
    let mut dirty_marked = true;
    for w in before.iter().chain(std::iter::once(work)) {
        let marked = in_transaction(conn, &tables.mark_running(D, w))
            .await
            .inspect_err(|e| {
                tracing::debug!(target: "revchain", "marking revision {} dirty: {e}", w.revision.id())
            })
            .is_ok();
        dirty_marked &= marked;
    }
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
        let result = apply_batch(
            conn,
            tables,
            &works[from..end],
            from,
            ends_run,
            false,
            progress,
        )
        .await;
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
                if groups_of(tables, works, false).len() >= COMPACT_AFTER {
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
