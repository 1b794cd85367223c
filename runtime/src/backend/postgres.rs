//! PostgreSQL: transactional DDL, so each revision and its bookkeeping commit together.
//!
//! Consecutive transactional revisions share one transaction, each in a savepoint of its
//! own, up to 64 to a transaction ([`super::group`] gives the rule and why it keeps every
//! revision atomic and applied once). A group takes two round trips: its text (`BEGIN`, its
//! settings, then each revision in its savepoint followed by a mark of the server's clock)
//! as one simple query, then its bookkeeping and `COMMIT`, with each revision's duration
//! read from the marks. Nothing is run twice to find out what failed, with one exception (a
//! deferred constraint that fails at a group's `COMMIT`, below):
//!
//! - The server answers each statement of a simple query with one result, so the count of
//!   results says which statement was running when an error came (the revision's own
//!   statements are counted with the same splitter; the error's position, when it has one,
//!   confirms the statement). revchain's own rows (a group's start, each revision's end) are
//!   recognised by a token made for the group, which no revision can produce, never by the
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
//!   any revision rejects its group's text before anything ran. Then the revisions before the
//!   faulty one (found by the error's position; failing that, by applying one by one) are
//!   applied, and the faulty one is reported as never run.
//! - Each group writes its bookkeeping once: the version table's net change and one
//!   multi-row insert into the log.
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

/// The server's clock, as SQL: seconds since the epoch (`float8`, microsecond precision).
const NOW: &str = "date_part('epoch', clock_timestamp())";

/// What one statement of a group's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The `BEGIN`.
    Begin,
    /// The settings of the transaction (asynchronous commit, timeouts).
    Setup,
    /// Under a lease, the check that the run still holds it (which extends it).
    Guard,
    /// The mark of the group's start, a row revchain reads back.
    Start,
    /// The savepoint before revision `.0`.
    Savepoint(usize),
    /// A statement of revision `.0`'s SQL, at file line `.1`.
    User(usize, usize),
    /// The release of revision `.0`'s savepoint: it fails when the revision ended its
    /// transaction.
    Release(usize),
    /// The mark of revision `.0`'s end, a row revchain reads back.
    Mark(usize),
}

/// Where a revision's text lies in a group's text (byte ranges).
#[derive(Debug)]
struct Span {
    /// From its savepoint to the next revision's.
    whole: std::ops::Range<usize>,
    /// Its own SQL.
    user: std::ops::Range<usize>,
}

/// The text of a group of transactional revisions (see [`super::group`]) up to its
/// bookkeeping, and what each of its statements is: the server answers each statement with
/// one result (`CommandComplete`), so the count of results tells which statement is
/// running. The bookkeeping and the `COMMIT` follow in a second message, once the marks
/// gave each revision's duration.
#[derive(Debug)]
struct Batch {
    sql: String,
    token: String,
    /// Each statement, in order.
    parts: Vec<Part>,
    spans: Vec<Span>,
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
    /// The text of the group `works` up to its bookkeeping. It commits asynchronously
    /// unless `synchronous` (the run's last group; see the module documentation).
    fn new(tables: &Tables, works: &[Work<'_>], synchronous: bool) -> Batch {
        let bytes: usize = works.iter().map(|w| w.sql().len() + 256).sum();
        let mut b = Batch {
            sql: String::with_capacity(bytes + 512),
            token: token(),
            parts: Vec::new(),
            spans: Vec::with_capacity(works.len()),
        };
        b.push(Part::Begin, "BEGIN");
        let asynchronous = if synchronous {
            ""
        } else {
            ", set_config('synchronous_commit', 'off', true)"
        };
        if let Some(first) = works.first() {
            let timeouts = timeout_settings(tables, first);
            if !asynchronous.is_empty() || !timeouts.is_empty() {
                let settings = format!("SELECT 1{asynchronous}{timeouts}");
                b.push(Part::Setup, &settings);
            }
        }
        if let Some(lease) = &tables.lease {
            let guard = lease::guard(tables, lease, &b.token);
            b.push(Part::Guard, &guard);
        }
        b.push_mark(Part::Start);
        for (k, work) in works.iter().enumerate() {
            b.push_revision(work, k);
        }
        b
    }

    /// Appends revision `k` in its savepoint, and the mark of its end.
    fn push_revision(&mut self, work: &Work<'_>, k: usize) {
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
        self.push_mark(Part::Mark(k));
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

    /// A mark: a row of `<token>:<index of this statement>` and the server's clock, which
    /// no revision can produce, and which re-synchronises the count of results.
    fn push_mark(&mut self, part: Part) {
        let mark = format!("SELECT '{}:{}', {NOW}", self.token, self.parts.len());
        self.push(part, &mark);
    }

    /// The statement index and time (seconds) of one of revchain's marks; `None` for a row
    /// of the revisions' own statements, whatever its shape (they cannot hold the token).
    fn marker(&self, row: &PgRow) -> Option<(usize, f64)> {
        let text: String = row.try_get(0).ok()?;
        let part: usize = text
            .strip_prefix(&self.token)?
            .strip_prefix(':')?
            .parse()
            .ok()?;
        let seconds: f64 = row.try_get(1).ok()?;
        (part < self.parts.len()).then_some((part, seconds))
    }

    /// The byte offset in the text that `error` points at, when it gives one.
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

/// How far a group's text got.
#[derive(Debug, Default)]
struct Reached {
    /// How many results (one per statement) arrived: the index of the running statement.
    results: usize,
    /// Whether anything at all arrived.
    anything: bool,
    /// The time (seconds) of the group's start mark.
    start: Option<f64>,
    /// The time (seconds) of each revision's end mark that arrived.
    ends: Vec<Option<f64>>,
}

impl Reached {
    /// Reads one of revchain's marks (statement `part`, at `seconds`).
    fn marked(&mut self, batch: &Batch, part: usize, seconds: f64) {
        self.results = part;
        match batch.parts[part] {
            Part::Start => self.start = Some(seconds),
            Part::Mark(k) => self.ends[k] = Some(seconds),
            _ => {}
        }
    }

    /// How long revision `k` took, by the server's clock (zero when a mark is missing).
    fn took(&self, k: usize) -> Duration {
        let before = if k == 0 { self.start } else { self.ends[k - 1] };
        match (before, self.ends.get(k).copied().flatten()) {
            (Some(a), Some(b)) => Duration::try_from_secs_f64(b - a).unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }
}

/// The steps being applied, with what every part of applying them needs besides the
/// connection: the tables, the steps, the index of the first in the run (`offset`), and
/// the progress callback.
#[derive(Clone, Copy)]
struct Steps<'a> {
    tables: &'a Tables,
    works: &'a [Work<'a>],
    offset: usize,
    progress: Progress<'a>,
}

impl<'a> Steps<'a> {
    /// The steps `range` of these.
    fn part(self, range: std::ops::Range<usize>) -> Steps<'a> {
        Steps {
            offset: self.offset + range.start,
            works: &self.works[range],
            ..self
        }
    }

    /// Reports step `k` (of these) applied, after `took`.
    fn applied(&self, k: usize, took: Duration) {
        (self.progress)(self.offset + k, took);
    }
}

/// Applies the transactional steps `works` group by group (each revision in a transaction
/// of its own when `alone`). `ends_run` says whether the last of them is the run's last.
async fn apply_batch(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    ends_run: bool,
    alone: bool,
) -> Result<(), Failure> {
    let groups = groups_of(steps.tables, steps.works, alone);
    let last = groups.len().saturating_sub(1);
    for (g, range) in groups.into_iter().enumerate() {
        apply_group(conn, steps.part(range), ends_run && g == last).await?;
    }
    Ok(())
}

/// Applies one group: its text in one round trip, then its bookkeeping and `COMMIT` in a
/// second, with each revision's duration from the marks.
async fn apply_group(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    synchronous: bool,
) -> Result<(), Failure> {
    let batch = Batch::new(steps.tables, steps.works, synchronous);
    let mut reached = Reached {
        ends: vec![None; steps.works.len()],
        ..Reached::default()
    };
    let mut failed = None;
    {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(batch.sql.as_str())).fetch_many(&mut *conn);
        while let Some(item) = stream.next().await {
            match item {
                Ok(Either::Left(_)) => {
                    reached.anything = true;
                    reached.results += 1;
                }
                Ok(Either::Right(row)) => {
                    reached.anything = true;
                    if let Some((part, seconds)) = batch.marker(&row) {
                        reached.marked(&batch, part, seconds);
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    if let Some(error) = failed {
        return Box::pin(failed_in_group(conn, steps, &batch, &reached, error)).await;
    }
    if reached.ends.iter().any(Option::is_none) {
        // Every statement answered, yet a mark is missing: the count cannot be trusted.
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        return Err(Failure::db(
            "applying a group of revisions",
            &sqlx::Error::Protocol("a mark of revchain's is missing from the results".into()),
        ));
    }
    commit_group(conn, steps, synchronous, &reached).await
}

/// The bookkeeping and `COMMIT` of a group whose revisions all ran; then they count as
/// applied, in order.
async fn commit_group(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    synchronous: bool,
    reached: &Reached,
) -> Result<(), Failure> {
    let works = steps.works;
    let book = bookkeeping(steps.tables, works, reached);
    if let Err(error) = run(conn, book).await {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        return Err(bookkeeping_failed(works, &error));
    }
    if let Err(error) = run(conn, "COMMIT".to_owned()).await {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        if works.len() > 1 && !is_connection_lost(&error) && !is_cancelled(&error) {
            // A deferred constraint: the group was rolled back whole, and the error does
            // not say which revision broke it. One transaction each finds it.
            return Box::pin(apply_batch(conn, steps, synchronous, true)).await;
        }
        return Err(Failure::Step {
            index: steps.offset,
            line: works.first().map_or(0, Work::sql_line),
            error,
            aftermath: Aftermath::RolledBack,
            stage: Stage::Commit,
        });
    }
    for k in 0..works.len() {
        steps.applied(k, reached.took(k));
    }
    Ok(())
}

/// The bookkeeping of the revisions `works` (a group, or the part of it before a failed
/// revision), as one text, with the durations `reached` measured.
fn bookkeeping(tables: &Tables, works: &[Work<'_>], reached: &Reached) -> String {
    let ms = |k: usize| reached.took(k).as_millis().to_string();
    let mut sql = String::new();
    for statement in tables.group_bookkeeping(D, works, &ms) {
        sql.push_str(&statement);
        sql.push_str(";\n");
    }
    sql
}

/// A group's text failed: which revision failed, where, and why; and what of the group
/// still commits. The count of results says which statement was running.
async fn failed_in_group(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    batch: &Batch,
    reached: &Reached,
    error: sqlx::Error,
) -> Result<(), Failure> {
    if !reached.anything
        && matches!(error, sqlx::Error::Database(_))
        && !is_connection_lost(&error)
        && !is_cancelled(&error)
    {
        // Rejected before anything ran (the text parses whole first): nothing is open.
        return rejected(conn, steps, batch, error).await;
    }
    let Steps {
        tables,
        works,
        offset,
        ..
    } = steps;
    if let Some(lease) = &tables.lease
        && lease::is_lost(&error, &batch.token)
    {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        return Err(Failure::Other(lease::lost(tables, lease)));
    }
    let part = batch.parts.get(reached.results).copied();
    let lost = is_connection_lost(&error) || is_cancelled(&error);
    match part {
        Some(Part::Savepoint(k) | Part::User(k, _) | Part::Mark(k)) => {
            let line = failed_line(batch, works, k, part, &error);
            keep_before(conn, steps, batch, reached, k).await;
            Err(statement_failed(offset, k, line, error))
        }
        Some(Part::Release(k)) if !lost => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(transaction_ended(conn, tables, &works[..k], &works[k]).await)
        }
        Some(Part::Release(k)) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(statement_failed(offset, k, works[k].sql_line(), error))
        }
        _ => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(statement_failed(offset, 0, works[0].sql_line(), error))
        }
    }
}

/// The server rejected a group's text before running any of it: a syntax error. Applies
/// the revisions before the faulty one, then reports that one as never run; without a
/// position to find it by, applies them one by one.
async fn rejected(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    batch: &Batch,
    error: sqlx::Error,
) -> Result<(), Failure> {
    let at = batch.error_offset(&error);
    let faulty = at.and_then(|at| batch.spans.iter().position(|s| s.whole.contains(&at)));
    match (faulty, at) {
        (Some(k), Some(at)) => {
            if k > 0 {
                apply_group(conn, steps.part(0..k), false).await?;
            }
            Err(Failure::Step {
                index: steps.offset + k,
                line: batch.line_at(steps.works, k, at),
                error,
                aftermath: Aftermath::NeverRan,
                stage: Stage::Statement,
            })
        }
        _ if steps.works.len() > 1 => apply_batch(conn, steps, false, true).await,
        _ => Err(Failure::Step {
            index: steps.offset,
            line: steps.works.first().map_or(0, Work::sql_line),
            error,
            aftermath: Aftermath::NeverRan,
            stage: Stage::Statement,
        }),
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
    part: Option<Part>,
    error: &sqlx::Error,
) -> usize {
    let by_position = batch
        .error_offset(error)
        .and_then(|at| batch.statement_line_at(works, k, at));
    let by_count = match part {
        Some(Part::User(_, line)) => line,
        _ => works[k].sql_line(),
    };
    by_position.unwrap_or(by_count)
}

/// Revision `k` failed inside its group's transaction: rolls back to its savepoint and
/// commits the revisions before it with their bookkeeping, as one transaction per
/// revision would have left them; when that cannot be done (the connection is gone, the
/// savepoint with it), the whole group is rolled back.
async fn keep_before(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    batch: &Batch,
    reached: &Reached,
    k: usize,
) {
    if k == 0 {
        let _ = run(conn, "ROLLBACK".to_owned()).await;
        return;
    }
    let mut sql = format!(
        "ROLLBACK TO SAVEPOINT {};\n",
        group::savepoint(&batch.token, k)
    );
    sql.push_str(&bookkeeping(steps.tables, &steps.works[..k], reached));
    sql.push_str("COMMIT;");
    match run(conn, sql).await {
        Ok(()) => {
            for j in 0..k {
                steps.applied(j, reached.took(j));
            }
        }
        Err(e) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            tracing::debug!(
                target: "revchain",
                "keeping the revisions before {}: {e}",
                steps.works[k].revision.id()
            );
        }
    }
}

/// The bookkeeping of a group failed (its transaction was rolled back whole): a
/// duplicate log row means the log and the version table disagree (one was edited by
/// hand), for the revision the error names.
fn bookkeeping_failed(works: &[Work<'_>], error: &sqlx::Error) -> Failure {
    if crate::error::driver_code(error).as_deref() == Some("23505") {
        let detail = match error {
            sqlx::Error::Database(db) => db
                .try_downcast_ref::<PgDatabaseError>()
                .and_then(PgDatabaseError::detail)
                .unwrap_or_default()
                .to_owned(),
            _ => String::new(),
        };
        let work = works
            .iter()
            .find(|w| detail.contains(&format!("=({})", w.revision.id())))
            .or(works.first());
        if let Some(work) = work {
            return Failure::Other(Error::Drift {
                kind: DriftKind::LogDisagrees {
                    id: work.revision.id().to_owned(),
                    in_log: work.direction == Direction::Upgrade,
                },
            });
        }
    }
    let ids: Vec<&str> = works.iter().map(|w| w.revision.id()).collect();
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
        let steps = Steps {
            tables,
            works,
            offset: 0,
            progress,
        };
        let result = apply_batch(conn, steps.part(from..end), ends_run, false).await;
        let Err(failure) = result else {
            return Ok(());
        };
        let (index, next) = timeouts::retry_from(failure, from, attempt, retries, is_lock_timeout)?;
        let blockers = blockers(conn).await;
        timeouts::before_retry(works[index].revision, next, retries, &blockers).await;
        (from, attempt) = (index, next);
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
        let result = timeouts::restored::<Postgres>(conn, restore, result).await;
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
