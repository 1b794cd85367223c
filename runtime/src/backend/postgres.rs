//! PostgreSQL: transactional DDL, so each revision and its bookkeeping commit together.
//!
//! Consecutive quick transactional revisions share one transaction, up to
//! [`GROUP_REVISIONS`] to a transaction ([`super::group`] gives the rule and why it keeps
//! every revision atomic and applied once). A group is one round trip: one simple query
//! holding `BEGIN`, its settings, its revisions, the group's bookkeeping and `COMMIT`. The
//! revisions of a group take no savepoints (a savepoint and its release cost as much as a
//! small revision); a revision alone runs between its `SAVEPOINT` and `RELEASE`. Nothing
//! is run twice to find out what failed, with two exceptions (a deferred constraint that
//! fails at a group's `COMMIT`, and a count of results that a savepoint contradicts, below),
//! and the revisions before a failed one in its group run again:
//!
//! - The server answers each statement of a simple query with one result, so the count of
//!   results says which statement was running when an error came (the revision's own
//!   statements are counted with the same splitter, which cuts a shared revision without
//!   doubt; the error's position, when it has one, confirms the statement). A revision
//!   counts as applied (and is logged) only once its group's `COMMIT` completed.
//! - A statement of a revision in a group fails: the group is rolled back whole, the
//!   revisions before the failed one are applied again as a group of their own, and the
//!   failed one is reported, as one transaction per revision would have left them. Their
//!   first attempt was rolled back: only effects outside transactions (a sequence's
//!   `nextval`) show it.
//! - A statement of a revision alone fails: it is rolled back to its savepoint, which
//!   exists only while it runs, so this also confirms the count; were the savepoint
//!   missing, it is applied again in a transaction of its own.
//! - A deferred constraint fails at a group's `COMMIT`: the group was rolled back whole, and
//!   its revisions are applied again one transaction each, which reports the one at fault
//!   (what they did the first time was rolled back).
//! - The release of a revision's savepoint fails when the revision ended the transaction it
//!   ran in (`COMMIT`, `ROLLBACK`): it is marked dirty, not recorded. Only a revision whose
//!   statements the splitter cuts with doubt could (the parser refuses transaction
//!   control), and such a revision is a group of its own; a quick revision cannot.
//! - The server parses a whole simple query before running any of it, so a syntax error in
//!   any revision rejects its group's text before anything ran. Then the revisions before the
//!   faulty one (found by the error's position; failing that, by applying one by one) are
//!   applied, and the faulty one is reported as never run.
//! - Each group writes its bookkeeping once: the version table's net change and one
//!   insert into the log that `unnest`s an array literal per column
//!   ([`Durations::Shared`]).
//!
//! **Time.** A revision's `execution_ms` is its share of its group's time, measured by the
//! server in the bookkeeping (from the receipt of the group's text); a revision alone in
//! its transaction is timed exactly. Only quick revisions, whose work is bounded by their
//! text ([`group::quick`]), share a transaction, so every revision that can take long
//! (anything that reads a table, changes existing rows or objects, or calls code) is timed
//! alone. Timing each revision of a group apart would take a statement per revision
//! (a row of the server's clock) that costs as much as a small revision.
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
    Done, Failure, Held, Lock, LockMode, Opened, Progress, SessionLocked, apply_marked, group,
    lease, lock_session, pooler, sealed::Driver, timeouts, token, unlock_lease,
};
use crate::bookkeeping::{Durations, Tables, Work, literal};
use crate::error::{Aftermath, DriftKind, Error, Stage, is_cancelled, is_connection_lost};

const D: Dialect = Dialect::Postgres;

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

/// A revision's share of its group's time, as SQL evaluated in the group's bookkeeping: the
/// time since the server received the group's text (`statement_timestamp()`), in
/// milliseconds, divided among its `n` revisions.
fn server_share_ms(n: usize) -> String {
    format!("(date_part('epoch', clock_timestamp() - statement_timestamp()) * 1000 / {n})::bigint")
}

/// What one statement of a group's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The `BEGIN`.
    Begin,
    /// The settings of the transaction (asynchronous commit, timeouts).
    Setup,
    /// Under a lease, the check that the run still holds it (which extends it).
    Guard,
    /// The savepoint before revision `.0`.
    Savepoint(usize),
    /// A statement of revision `.0`'s SQL, at file line `.1`.
    User(usize, usize),
    /// The release of revision `.0`'s savepoint: it fails when the revision ended its
    /// transaction.
    Release(usize),
    /// A statement of the group's bookkeeping.
    Book,
    /// The `COMMIT`.
    Commit,
}

/// Where a revision's text lies in a group's text (byte ranges).
#[derive(Debug)]
struct Span {
    /// From its savepoint to the next revision's.
    whole: std::ops::Range<usize>,
    /// Its own SQL.
    user: std::ops::Range<usize>,
}

/// The text of a group of transactional revisions (see [`super::group`]), from `BEGIN` to
/// `COMMIT`, and what each of its statements is: the server answers each statement with
/// one result (`CommandComplete`), so the count of results tells which statement was
/// running when an error came.
#[derive(Debug)]
struct Batch {
    sql: String,
    token: String,
    /// Each statement, in order.
    parts: Vec<Part>,
    spans: Vec<Span>,
    /// Whether it commits synchronously (the run's last group).
    synchronous: bool,
    /// Whether each revision runs in a savepoint: a revision alone does (its release fails
    /// if it ended its transaction); the revisions of a group, all quick, do not.
    savepoints: bool,
}

/// The end (exclusive) of the group of `works` that starts at `start`: one revision when
/// `alone`. Only quick revisions share a transaction here ([`group::quick`]): the
/// revisions of a group are timed together.
fn group_end(tables: &Tables, works: &[Work<'_>], start: usize, alone: bool) -> usize {
    if alone {
        start + 1
    } else {
        let quick = |w: &Work<'_>| group::quick(w, D);
        group::group_end(works, start, D, &tables.timeouts, GROUP_REVISIONS, quick)
    }
}

/// The most quick revisions that share one transaction. They take no savepoints, so no
/// subtransaction counts against [`group::GROUP_REVISIONS`]. The pipelined floor's size
/// (500 to a round trip): 1,000 revisions are two groups, two bookkeeping inserts and one
/// wait between groups (four of 256 cost 1–2 ms more); past that, a failure would apply
/// again more revisions for nothing measurable.
const GROUP_REVISIONS: usize = 500;

/// The groups of `works`, in order (see [`group_end`]).
fn groups_of(tables: &Tables, works: &[Work<'_>], alone: bool) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < works.len() {
        let end = group_end(tables, works, start, alone);
        groups.push(start..end);
        start = end;
    }
    groups
}

impl Batch {
    /// The text of the group `works`, with its bookkeeping and `COMMIT`. It commits
    /// asynchronously unless `synchronous` (the run's last group; see the module
    /// documentation).
    fn new(tables: &Tables, works: &[Work<'_>], synchronous: bool) -> Batch {
        let bytes: usize = works.iter().map(|w| w.sql().len() + 1024).sum();
        let mut b = Batch {
            sql: String::with_capacity(bytes + 512),
            token: token(),
            parts: Vec::new(),
            spans: Vec::with_capacity(works.len()),
            synchronous,
            savepoints: works.len() == 1,
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
        for (k, work) in works.iter().enumerate() {
            b.push_revision(work, k);
        }
        let ms = server_share_ms(works.len());
        for statement in tables.group_bookkeeping(D, works, Durations::Shared(&ms)) {
            b.push(Part::Book, &statement);
        }
        b.push(Part::Commit, "COMMIT");
        b
    }

    /// Appends revision `k`, in its savepoint when the batch takes them.
    fn push_revision(&mut self, work: &Work<'_>, k: usize) {
        let start = self.sql.len();
        let savepoint = group::savepoint(&self.token, k);
        if self.savepoints {
            self.push(Part::Savepoint(k), &format!("SAVEPOINT {savepoint}"));
        }
        let user_start = self.sql.len();
        self.sql.push_str(work.sql());
        let user = user_start..self.sql.len();
        self.sql.push_str("\n;\n");
        let first = work.sql_line();
        for line in &group::traits(work, D).lines {
            self.parts.push(Part::User(k, first + line - 1));
        }
        if self.savepoints {
            self.push(Part::Release(k), &format!("RELEASE SAVEPOINT {savepoint}"));
        }
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
    /// How long the text took, by the client's clock, up to its end or its error.
    took: Duration,
}

impl Reached {
    /// The share of each of `n` revisions in the time the text took.
    fn share(&self, n: usize) -> Duration {
        self.took / u32::try_from(n.max(1)).unwrap_or(u32::MAX)
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

    /// Reports the first `n` of these steps applied, each after `took`.
    fn applied(&self, n: usize, took: Duration) {
        if n > 0 {
            (self.progress)(self.offset..self.offset + n, took);
        }
    }
}

/// A group of transactional steps and its text, from `works[start]` on: `works` is a
/// stretch that [`apply_batch`] applies, whose last step is the run's when `ends_run`; one
/// revision when `alone`.
fn group_at(
    tables: &Tables,
    works: &[Work<'_>],
    start: usize,
    ends_run: bool,
    alone: bool,
) -> Option<FirstGroup> {
    (start < works.len()).then(|| {
        let end = group_end(tables, works, start, alone);
        let last = end == works.len();
        FirstGroup(
            start..end,
            Batch::new(tables, &works[start..end], ends_run && last),
        )
    })
}

/// A group of a stretch of steps, and its text: [`Driver::prepare`]'s, for the first group
/// of a run (see [`group_at`]).
pub struct FirstGroup(std::ops::Range<usize>, Batch);

/// Applies the transactional steps `works` group by group (each revision in a transaction
/// of its own when `alone`). `ends_run` says whether the last of them is the run's last.
/// Where the next group ends, and its text, are worked out while the server runs the group
/// before it; the first group's, when `first` gives it, earlier.
async fn apply_batch(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    ends_run: bool,
    alone: bool,
    first: Option<FirstGroup>,
) -> Result<(), Failure> {
    let group_from = |start: usize| group_at(steps.tables, steps.works, start, ends_run, alone);
    let mut upcoming = first.or_else(|| group_from(0));
    let mut unreported = Applied::none(steps);
    while let Some(FirstGroup(range, batch)) = upcoming {
        let next = range.end;
        let before = unreported;
        // The lines of the group before go out while the server runs this one.
        let prepare = || {
            before.report();
            group_from(next)
        };
        (upcoming, unreported) = apply_group(conn, steps.part(range), batch, prepare).await?;
    }
    unreported.report();
    Ok(())
}

/// Revisions of a group that committed, not reported yet: [`apply_batch`] reports them
/// while the server runs the next group.
#[derive(Clone, Copy)]
struct Applied<'a> {
    steps: Steps<'a>,
    /// How many of `steps`, from the first.
    n: usize,
    /// Each one's share of the group's time.
    took: Duration,
}

impl<'a> Applied<'a> {
    /// Nothing to report.
    fn none(steps: Steps<'a>) -> Applied<'a> {
        Applied {
            steps,
            n: 0,
            took: Duration::ZERO,
        }
    }

    fn report(self) {
        self.steps.applied(self.n, self.took);
    }
}

/// Applies the steps `steps` as one group (see [`apply_group`]).
async fn apply_as_group(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    synchronous: bool,
) -> Result<(), Failure> {
    let batch = Batch::new(steps.tables, steps.works, synchronous);
    let ((), applied) = apply_group(conn, steps, batch, || ()).await?;
    applied.report();
    Ok(())
}

/// Applies one group, its `batch`: the whole text, bookkeeping and `COMMIT` included, in
/// one round trip. Its revisions share its time evenly (they are quick: [`group::quick`]).
/// While the server runs it, `prepare` builds what comes next, which this returns with the
/// revisions that committed, for the caller to report (a failed group reports its own).
async fn apply_group<'s, T>(
    conn: &mut PgConnection,
    steps: Steps<'s>,
    batch: Batch,
    prepare: impl FnOnce() -> T,
) -> Result<(T, Applied<'s>), Failure> {
    let mut reached = Reached::default();
    let started = std::time::Instant::now();
    let mut failed = None;
    let run = async {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(batch.sql.as_str())).fetch_many(&mut *conn);
        while let Some(item) = stream.next().await {
            match item {
                Ok(Either::Left(_)) => {
                    reached.anything = true;
                    reached.results += 1;
                }
                Ok(Either::Right(_)) => reached.anything = true,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    };
    // The first poll of `run` sends the text; then `prepare` runs.
    let ((), prepared) = tokio::join!(run, async { prepare() });
    reached.took = started.elapsed();
    if let Some(error) = failed {
        let group = Group {
            batch: &batch,
            reached: &reached,
        };
        return Box::pin(failed_in_group(conn, steps, group, error))
            .await
            .map(|()| (prepared, Applied::none(steps)));
    }
    let n = steps.works.len();
    Ok((
        prepared,
        Applied {
            steps,
            n,
            took: reached.share(n),
        },
    ))
}

/// The bookkeeping of the revisions `works` (the part of a group before a failed
/// revision), as one text, each recorded with `took`.
fn bookkeeping(tables: &Tables, works: &[Work<'_>], took: Duration) -> String {
    let ms = took.as_millis().to_string();
    let mut sql = String::new();
    for statement in tables.group_bookkeeping(D, works, Durations::Each(&|_| ms.clone())) {
        sql.push_str(&statement);
        sql.push_str(";\n");
    }
    sql
}

/// A group whose text failed: the text, and how far it got.
#[derive(Clone, Copy)]
struct Group<'a> {
    batch: &'a Batch,
    reached: &'a Reached,
}

/// A group's text failed: which revision failed, where, and why; and what of the group
/// still commits. The count of results says which statement was running; the savepoint
/// of the revision it names confirms it.
async fn failed_in_group(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    group: Group<'_>,
    error: sqlx::Error,
) -> Result<(), Failure> {
    let Group { batch, reached, .. } = group;
    let lost = is_connection_lost(&error) || is_cancelled(&error);
    if !reached.anything && matches!(error, sqlx::Error::Database(_)) && !lost {
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
    match part {
        Some(Part::User(k, _)) if !batch.savepoints => {
            let line = failed_line(batch, works, k, part, &error);
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            if k > 0 && !lost {
                // No savepoint to roll back to: the group was rolled back whole, and the
                // revisions before the failed one are applied again as a group.
                Box::pin(apply_as_group(conn, steps.part(0..k), false)).await?;
            }
            Err(statement_failed(offset, k, line, error))
        }
        Some(Part::Savepoint(k) | Part::User(k, _)) => {
            let line = failed_line(batch, works, k, part, &error);
            match keep_before(conn, steps, group, k).await {
                Kept::Miscounted if !lost => {
                    // The count of results named a revision that was not running: one
                    // transaction each finds the one at fault.
                    Box::pin(apply_batch(conn, steps, batch.synchronous, true, None)).await
                }
                _ => Err(statement_failed(offset, k, line, error)),
            }
        }
        Some(Part::Release(k)) if !lost => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(transaction_ended(conn, tables, &works[..k], &works[k]).await)
        }
        Some(Part::Release(k)) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(statement_failed(offset, k, works[k].sql_line(), error))
        }
        Some(Part::Book) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(bookkeeping_failed(works, &error))
        }
        Some(Part::Commit) => commit_failed(conn, steps, batch.synchronous, error).await,
        _ => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            Err(statement_failed(offset, 0, works[0].sql_line(), error))
        }
    }
}

/// A group's `COMMIT` failed, so its transaction was rolled back whole. A deferred
/// constraint names no revision: one transaction each finds the one at fault.
async fn commit_failed(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    synchronous: bool,
    error: sqlx::Error,
) -> Result<(), Failure> {
    let _ = run(conn, "ROLLBACK".to_owned()).await;
    let works = steps.works;
    if works.len() > 1 && !is_connection_lost(&error) && !is_cancelled(&error) {
        return Box::pin(apply_batch(conn, steps, synchronous, true, None)).await;
    }
    Err(Failure::Step {
        index: steps.offset,
        line: works.first().map_or(0, Work::sql_line),
        error,
        aftermath: Aftermath::RolledBack,
        stage: Stage::Commit,
    })
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
    // The revision the position lies in, or the last one before it: revchain's own text
    // (the bookkeeping after the revisions) is well-formed, so an error there comes from a
    // quote or a comment that the revision before it left open.
    let faulty = at.and_then(|at| batch.spans.iter().rposition(|s| s.whole.start <= at));
    match (faulty, at) {
        (Some(k), Some(at)) => {
            if k > 0 {
                apply_as_group(conn, steps.part(0..k), false).await?;
            }
            Err(Failure::Step {
                index: steps.offset + k,
                line: batch.line_at(steps.works, k, at),
                error,
                aftermath: Aftermath::NeverRan,
                stage: Stage::Statement,
            })
        }
        _ if steps.works.len() > 1 => apply_batch(conn, steps, false, true, None).await,
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

/// What became of the revisions of a group before the failed one.
#[derive(Debug, PartialEq, Eq)]
enum Kept {
    /// They committed with their bookkeeping (or there were none).
    Committed,
    /// The failed revision's savepoint does not exist: the count of results was wrong.
    /// The group was rolled back whole.
    Miscounted,
    /// They could not be kept (the connection is gone, the savepoint with it): the group
    /// was rolled back whole.
    RolledBack,
}

/// Revision `k` failed inside its group's transaction: rolls back to its savepoint (which
/// exists only while revision `k` runs, so this also confirms that it was `k` that
/// failed) and commits the revisions before it with their bookkeeping, as one transaction
/// per revision would have left them.
async fn keep_before(
    conn: &mut PgConnection,
    steps: Steps<'_>,
    group: Group<'_>,
    k: usize,
) -> Kept {
    let mut sql = format!(
        "ROLLBACK TO SAVEPOINT {};\n",
        group::savepoint(&group.batch.token, k)
    );
    let took = group.reached.share(k + 1);
    if k == 0 {
        sql.push_str("ROLLBACK;");
    } else {
        sql.push_str(&bookkeeping(steps.tables, &steps.works[..k], took));
        sql.push_str("COMMIT;");
    }
    match run(conn, sql).await {
        Ok(()) => {
            steps.applied(k, took);
            Kept::Committed
        }
        Err(e) => {
            let _ = run(conn, "ROLLBACK".to_owned()).await;
            tracing::debug!(
                target: "revchain",
                "keeping the revisions before {}: {e}",
                steps.works[k].revision.id()
            );
            // 3B001: invalid_savepoint_specification.
            if crate::error::driver_code(&e).as_deref() == Some("3B001") {
                Kept::Miscounted
            } else {
                Kept::RolledBack
            }
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

/// Applies the stretch `works[start..end]` (see [`stretch_end`]); a revision of it that
/// timed out waiting for a lock is tried again alone after a backoff (the revisions before
/// it committed), up to the run's lock retries, then the rest of the stretch. `first` is
/// its first group, when worked out already.
async fn apply_retrying(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    (start, end): (usize, usize),
    progress: Progress<'_>,
    mut first: Option<FirstGroup>,
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
        let result = apply_batch(conn, steps.part(from..end), ends_run, false, first.take()).await;
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

/// Whether `work` is applied in groups (a transactional SQL revision), not alone.
fn batched(work: &Work<'_>) -> bool {
    work.revision.is_transactional() && !work.revision.is_rust()
}

/// The end (exclusive) of the stretch of [`batched`] steps that starts at `start`:
/// [`apply_batch`] cuts it into groups, each worked out while the server runs the one
/// before.
fn stretch_end(works: &[Work<'_>], start: usize) -> usize {
    let rest = works.get(start..).unwrap_or_default();
    rest.iter()
        .position(|w| !batched(w))
        .map_or(works.len(), |n| start + n)
}

/// The first group of `works` and its text, as [`apply_all`] will cut it (`None` when the
/// first step is applied alone).
fn first_group(tables: &Tables, works: &[Work<'_>]) -> Option<FirstGroup> {
    let end = stretch_end(works, 0);
    group_at(tables, &works[..end], 0, end == works.len(), false)
}

/// Applies the steps, batching each stretch of transactional ones; `first` is
/// [`first_group`]'s of these steps, when worked out already.
async fn apply_all(
    conn: &mut PgConnection,
    tables: &Tables,
    works: &[Work<'_>],
    progress: Progress<'_>,
    mut first: Option<FirstGroup>,
) -> Result<(), Failure> {
    let mut i = 0;
    while i < works.len() {
        if !batched(&works[i]) {
            apply_alone(conn, tables, &works[i], i, progress).await?;
            i += 1;
            continue;
        }
        let end = stretch_end(works, i);
        let first = first.take().filter(|_| i == 0);
        apply_retrying(conn, tables, works, (i, end), progress, first).await?;
        i = end;
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

/// The creation of revchain's tables (`IF NOT EXISTS`), after a `set_config` that makes
/// their implicit transaction commit without waiting for its WAL to reach the disk (see
/// [`Driver::ensure_tables`]).
fn create_tables(tables: &Tables) -> String {
    format!(
        "SELECT set_config('synchronous_commit', 'off', true);\n{}",
        tables.create(D).join(";\n")
    )
}

/// [`Driver::open_tables`]'s text: the creation (its setting first), then the reads: the
/// stored columns present, the version rows, the log rows.
fn open_sql(tables: &Tables) -> String {
    format!(
        "{};\n{};\n{};\n{}",
        create_tables(tables),
        tables.stored_columns_present(),
        tables.select_heads(D),
        tables.select_log(D)
    )
}

/// The index of [`open_sql`]'s first read: after the setting and the creations.
fn first_read(tables: &Tables) -> usize {
    1 + tables.create(D).len()
}

/// What [`open_sql`]'s reads gave, its statements starting at statement `at` of `results`
/// (each statement's rows, as [`rows_of_each`] gives them); `None` when a statement failed.
fn opened(
    tables: &Tables,
    (results, failed): (Vec<Vec<PgRow>>, Option<(usize, sqlx::Error)>),
    at: usize,
) -> Option<Result<Opened, Error>> {
    if failed.is_some() {
        return None;
    }
    let mut reads = results.into_iter().skip(at + first_read(tables));
    let (columns, heads, log) = (reads.next()?, reads.next()?, reads.next()?);
    let read = || {
        let heads = super::head_rows(Ok(heads), is_missing_table)
            .map_err(|e| Error::db("reading the version table", &e))?
            .unwrap_or_default();
        let log = super::log_rows(Ok(log), is_missing_table)
            .map_err(|e| Error::db("reading the log table", &e))?;
        Ok(Opened {
            state: (heads, log),
            stored_columns: Tables::all_stored_columns(columns.len()),
        })
    };
    Some(read())
}

/// Each statement's rows of `sql`, a text of several statements, and where it failed: the
/// index of the statement that failed and its error (those after it did not run).
async fn rows_of_each(
    conn: &mut PgConnection,
    sql: &str,
) -> (Vec<Vec<PgRow>>, Option<(usize, sqlx::Error)>) {
    let mut results: Vec<Vec<PgRow>> = vec![Vec::new()];
    let mut stream = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(&mut *conn);
    while let Some(item) = stream.next().await {
        match item {
            Ok(Either::Left(_)) => results.push(Vec::new()),
            Ok(Either::Right(row)) => {
                if let Some(rows) = results.last_mut() {
                    rows.push(row);
                }
            }
            Err(e) => {
                let at = results.len() - 1;
                return (results, Some((at, e)));
            }
        }
    }
    (results, None)
}

/// The statement that takes the advisory lock up front, in the text that opens the
/// tables ([`Driver::lock_and_open`]): in [`LockMode::Advisory`], always; in
/// [`LockMode::Auto`], where the pooler probe's proof can run on the server first
/// ([`pooler::reaches_directly`]). It fails, and the rest of the text with it, when the
/// proof does not hold (before it tries the lock) or the lock is taken: its error says
/// which, in the server's log.
fn lock_up_front(pool: Option<&sqlx::PgPool>, tables: &Tables, mode: LockMode) -> Option<String> {
    let not_proven = match mode {
        LockMode::Advisory => String::new(),
        LockMode::Auto => format!(
            "WHEN NOT coalesce({}, false) THEN format('{}')::boolean ",
            pooler::reaches_directly(pool?)?,
            "revchain: no proof that this connection reaches the server directly; probing first"
        ),
        LockMode::Lease => return None,
    };
    Some(format!(
        "SELECT CASE {not_proven}WHEN NOT pg_try_advisory_lock({}) THEN format('{}')::boolean \
         ELSE true END",
        key_value(lock_key(tables)),
        "revchain: the migration lock is taken; waiting for it"
    ))
}

impl Driver for Postgres {
    type Prepared = FirstGroup;

    const DIALECT: Dialect = D;

    /// The first group's text (the longest work before the first round trip of a run).
    fn prepare(tables: &Tables, works: &[Work<'_>]) -> Option<FirstGroup> {
        first_group(tables, works)
    }

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

    /// Creates both tables if needed, in one implicit transaction that commits without
    /// waiting for its WAL to reach the disk (`synchronous_commit = off` for it alone): a
    /// run that applies anything ends with a synchronous commit, which flushes this one
    /// too, and a failed run flushes before it reports ([`flush`]). Only a crash before
    /// either can lose the empty tables, which the next run creates again. Never inside
    /// the caller's transaction: that run creates them with its own statements.
    async fn ensure_tables(
        conn: &mut PgConnection,
        tables: &Tables,
        _timeout: Duration,
    ) -> Result<(), Error> {
        run(conn, create_tables(tables))
            .await
            .map_err(|e| Error::db("creating revchain's tables", &e))
    }

    /// [`ensure_tables`](Self::ensure_tables)'s statements and, in the same round trip,
    /// the reads a run starts from: which stored columns the log table has, the version
    /// rows and the log rows (one implicit transaction, as the creation alone was).
    async fn open_tables(
        conn: &mut PgConnection,
        tables: &Tables,
        timeout: Duration,
    ) -> Result<Option<Opened>, Error> {
        let each = rows_of_each(conn, &open_sql(tables)).await;
        if let Some((at, e)) = &each.1
            && *at < first_read(tables)
        {
            return Err(Error::db("creating revchain's tables", e));
        }
        match opened(tables, each, 0) {
            Some(opened) => opened.map(Some),
            None => {
                // A read failed (tables that are not what revchain made), and took the
                // creation with it: create again, and leave the reads to the run, which
                // reads nothing for a repair, and otherwise says what failed.
                Self::ensure_tables(conn, tables, timeout).await?;
                Ok(None)
            }
        }
    }

    fn lock_up_front(
        pool: Option<&sqlx::PgPool>,
        tables: &Tables,
        mode: LockMode,
    ) -> Option<String> {
        lock_up_front(pool, tables, mode)
    }

    /// The lock statement fails, and the rest with it, when the lock was not taken. When
    /// it was, but anything after it failed, the tables are opened again, under the lock,
    /// which says what failed.
    async fn lock_and_open(
        conn: &mut PgConnection,
        tables: &Tables,
        lock: String,
        timeout: Duration,
    ) -> Option<Result<Option<Opened>, Error>> {
        let sql = format!("{lock};\n{}", open_sql(tables));
        let each = rows_of_each(conn, &sql).await;
        if let Some((0, e)) = &each.1 {
            tracing::debug!(target: "revchain", "the lock was not taken up front: {e}");
            return None;
        }
        Some(match opened(tables, each, 1) {
            Some(opened) => opened.map(Some),
            None => Self::open_tables(conn, tables, timeout).await,
        })
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
        prepared: Option<FirstGroup>,
    ) -> Result<(), Failure> {
        match apply_all(conn, tables, works, progress, prepared).await {
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
