//! MySQL and MariaDB: DDL commits implicitly, so a revision that changes the schema cannot
//! be rolled back with its bookkeeping.
//!
//! - A revision whose statements are all data statements (`INSERT`, `UPDATE`, `DELETE`,
//!   `SELECT`, …) and that is transactional runs in a real transaction together with its
//!   bookkeeping: all or nothing; unless it writes to a table whose engine ignores
//!   transactions (MyISAM, MEMORY, Aria…: see `nontransactional`), which runs marked as below.
//! - Consecutive such revisions share one transaction, each in a savepoint of its own (the
//!   rule of [`group`]), sent as one multi-statement text in one round trip:
//!
//!   ```sql
//!   START TRANSACTION; SET @revchain_mark_start = <now, µs>;
//!   SAVEPOINT `<token>_0`; <revision 0>; RELEASE SAVEPOINT `<token>_0`; SET @revchain_mark_0 = <now, µs>;
//!   …
//!   <the group's bookkeeping, durations from the variables>; COMMIT;
//!   SELECT <each revision's duration>;
//!   ```
//!
//!   Before it, once per group: one `information_schema` query for the engines of every
//!   table the group writes to (when one ignores transactions, the group's revisions run one
//!   by one, each its own way), the lease check, and the timeouts (the group's revisions
//!   share them). Under a lease, each revision after the first is preceded, inside the
//!   transaction, by a locking read of the lease row that fails when the run lost it
//!   (`lease::mysql_guard`): the run stops before that revision, as it would have before
//!   its own transaction. MariaDB answers each statement with one result and stops at the first that
//!   fails, leaving the transaction open: the count of results says which statement of
//!   which revision failed. Then `ROLLBACK TO SAVEPOINT`, the bookkeeping of the revisions
//!   before it and `COMMIT` go in one more round trip, which leaves exactly what one
//!   transaction per revision would have. When InnoDB rolled the whole transaction back
//!   (a deadlock; a lock wait timeout under `innodb_rollback_on_timeout`), the savepoint is
//!   gone: the revisions before the failing one are applied again. A lock wait timeout is
//!   tried again from the revision that hit it. When the `COMMIT` fails, the group's
//!   revisions are applied again one transaction each.
//! - Any other revision is marked dirty in the log first (committed), its statements run one
//!   by one, then its bookkeeping and the removal of the mark commit together. When its first
//!   statement fails nothing ran, so the mark is removed again; otherwise it stays, and the
//!   engine refuses the next run until someone repairs the database and `stamp`s it.
//!
//! The migration lock is a named lock (`GET_LOCK`), polled so that the wait can be logged.

use std::time::{Duration, Instant};

use revchain_core::lex::quote_identifier;
use revchain_core::split::split_statements_checked;
use revchain_core::{Dialect, Direction};
use sqlx::mysql::{MySql, MySqlConnection, MySqlDatabaseError};
use sqlx::{AssertSqlSafe, Connection, Row};

use super::nontransactional::{group_non_transactional_targets, non_transactional_targets};
use super::{
    Done, Failure, FirstFailure, Held, Lock, Progress, SessionLocked, apply_marked,
    apply_marked_with, group, lock_session, sealed::Driver, statements, token, unlock_lease,
};
use crate::bookkeeping::{Durations, Tables, Work, literal};
use crate::error::{Aftermath, DriftKind, Error, Stage};

const D: Dialect = Dialect::MySql;

/// MySQL's error number (`1146`, …), which is finer than its SQLSTATE.
fn error_number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(|e| e.number()),
        _ => None,
    }
}

/// Whether an error means the table (or its database) does not exist.
fn is_missing_table(e: &sqlx::Error) -> bool {
    // ER_NO_SUCH_TABLE, ER_BAD_DB_ERROR.
    matches!(error_number(e), Some(1146 | 1049))
}

async fn run(conn: &mut MySqlConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The SQL expression naming the lock of a version table: `revchain:<database>.<table>`,
/// or a digest of it when that is longer than the 64 characters MySQL allows.
fn lock_name(tables: &Tables) -> String {
    let database = match tables.version.schema() {
        Some(schema) => literal(D, schema),
        None => "COALESCE(DATABASE(), '')".to_owned(),
    };
    let full = format!(
        "CONCAT('revchain:', {database}, '.', {})",
        literal(D, tables.version.name())
    );
    format!(
        "IF(CHAR_LENGTH({full}) <= 64, {full}, CONCAT('revchain:', LEFT(SHA2({full}, 256), 55)))"
    )
}

/// Who holds the lock: its connection id and, when `PROCESSLIST` shows it, user, host,
/// command and for how long.
async fn holder(conn: &mut MySqlConnection, name: &str) -> Option<String> {
    let sql = format!(
        "SELECT CAST(l.id AS CHAR), COALESCE(p.USER, ''), COALESCE(p.HOST, ''), \
         COALESCE(p.COMMAND, ''), CAST(COALESCE(p.TIME, 0) AS CHAR) \
         FROM (SELECT IS_USED_LOCK({name}) AS id) l \
         LEFT JOIN information_schema.PROCESSLIST p ON p.ID = l.id \
         WHERE l.id IS NOT NULL"
    );
    let row = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_optional(conn)
        .await
        .ok()??;
    let id: String = row.try_get(0).ok()?;
    let user: String = row.try_get(1).ok()?;
    let host: String = row.try_get(2).ok()?;
    let command: String = row.try_get(3).ok()?;
    let time: String = row.try_get(4).ok()?;
    if user.is_empty() {
        // PROCESSLIST shows other users' connections only with the PROCESS privilege.
        return Some(format!("connection {id}"));
    }
    Some(format!(
        "connection {id} ({user}@{host}, {command} for {time}s)"
    ))
}

/// The first keyword of a statement, upper-cased, after leading comments; `None` when it
/// starts with anything else, such as a parenthesis or an executable comment `/*! … */`.
fn first_keyword(sql: &str) -> Option<String> {
    use revchain_core::lex::{Lexer, TokenKind};
    let executable = |text: &str| text.starts_with("/*!") || text.starts_with("/*M!");
    let first = Lexer::new(sql, D).find(|t| !t.is_trivia() || executable(t.text))?;
    let is_keyword = first.kind == TokenKind::Word && !executable(first.text);
    is_keyword.then(|| first.text.to_ascii_uppercase())
}

/// Whether a statement only reads or writes data, so that it runs inside a transaction
/// without committing it. Conservative: anything not known to be safe counts as DDL.
fn is_data_statement(sql: &str) -> bool {
    match first_keyword(sql).as_deref() {
        Some("INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "SELECT" | "WITH") => true,
        // `SET autocommit = 1` and `SET PASSWORD` commit; `SET TRANSACTION` fails inside a
        // transaction; `SET STATEMENT … FOR` (MariaDB) wraps any statement.
        Some("SET") => {
            let upper = sql.to_ascii_uppercase();
            ![
                "AUTOCOMMIT",
                "PASSWORD",
                "ROLE",
                "TRANSACTION",
                "STATEMENT",
                "FOR ",
            ]
            .iter()
            .any(|w| upper.contains(w))
        }
        _ => false,
    }
}

/// Whether a revision runs in one transaction with its bookkeeping: it is transactional,
/// the splitter is sure of every cut, and each statement only reads or writes data. A
/// doubtful cut may hide DDL inside what looks like one statement, so it takes the
/// dirty-mark path.
fn runs_atomically(work: &Work<'_>) -> bool {
    if !work.revision.is_transactional() {
        return false;
    }
    let split = split_statements_checked(work.sql(), D);
    if let Some(doubt) = &split.doubt {
        tracing::debug!(
            target: "revchain",
            "revision {}: {} at line {}, so it runs with a dirty mark",
            work.revision.id(),
            doubt.reason,
            work.sql_line() + doubt.line - 1
        );
        return false;
    }
    split.statements.iter().all(|s| is_data_statement(s.sql))
}

/// Whether a data-only revision writes to a table whose engine ignores transactions
/// (MyISAM, MEMORY, Aria…): then a transaction would not hold it, and it runs marked
/// dirty like DDL (see [`non_transactional_targets`]).
async fn writes_non_transactional(
    conn: &mut MySqlConnection,
    work: &Work<'_>,
    stmts: &[(String, usize)],
) -> Result<bool, Failure> {
    let found = non_transactional_targets(conn, work, stmts)
        .await
        .map_err(|e| {
            Failure::db(
                &format!(
                    "reading the engines of the tables revision {} writes to",
                    work.revision.id()
                ),
                &e,
            )
        })?;
    Ok(!found.is_empty())
}

/// A duplicate key (ER_DUP_ENTRY) while recording a step that the version table says is
/// to do: the log already has its row, so the two tables disagree. (The version rows cannot
/// collide: the plan was made from them, under the lock.)
fn log_conflict(e: &sqlx::Error, work: &Work<'_>) -> Option<Failure> {
    (error_number(e) == Some(1062)).then(|| {
        Failure::Other(Error::Drift {
            kind: DriftKind::LogDisagrees {
                id: work.revision.id().to_owned(),
                in_log: work.direction == Direction::Upgrade,
            },
        })
    })
}

/// Runs `statements` in one transaction, in one round trip.
async fn in_transaction(
    conn: &mut MySqlConnection,
    statements: &[String],
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    if !statements.is_empty()
        && let Err(e) = run(&mut tx, statements.join(";\n")).await
    {
        let _ = tx.rollback().await;
        return Err(e);
    }
    tx.commit().await
}

/// Runs a transactional revision of data statements atomically with its bookkeeping.
async fn apply_atomic(
    conn: &mut MySqlConnection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let id = work.revision.id();
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| Failure::db(&format!("starting the transaction of revision {id}"), &e))?;
    let started = Instant::now();
    for (stmt, line) in statements(work.sql(), D, work.sql_line()) {
        if let Err(error) = run(&mut tx, stmt).await {
            let _ = tx.rollback().await;
            return Err(Failure::Step {
                index,
                line,
                error,
                aftermath: Aftermath::RolledBack,
                stage: Stage::Statement,
            });
        }
    }
    let elapsed = started.elapsed();
    let bookkeeping = tables.step_bookkeeping(D, work, &elapsed.as_millis().to_string());
    if let Err(e) = run(&mut tx, bookkeeping.join(";\n")).await {
        let _ = tx.rollback().await;
        return Err(log_conflict(&e, work)
            .unwrap_or_else(|| Failure::db(&format!("recording revision {id}"), &e)));
    }
    tx.commit()
        .await
        .map_err(|e| Failure::db(&format!("committing revision {id}"), &e))?;
    progress(index..index + 1, elapsed);
    Ok(())
}

impl SessionLocked for MySql {
    async fn try_lock(conn: &mut MySqlConnection, tables: &Tables) -> Result<bool, sqlx::Error> {
        // GET_LOCK answers 1 (taken), 0 (held elsewhere) or NULL (an error).
        let sql = format!(
            "SELECT CAST(COALESCE(GET_LOCK({}, 0), 0) AS SIGNED)",
            lock_name(tables)
        );
        let got: i64 = sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_one(conn)
            .await?
            .try_get(0)?;
        Ok(got == 1)
    }

    async fn lock_holder(conn: &mut MySqlConnection, tables: &Tables) -> Option<String> {
        holder(conn, &lock_name(tables)).await
    }

    fn mark_conflict(e: &sqlx::Error, work: &Work<'_>) -> Option<Failure> {
        log_conflict(e, work)
    }
}

impl Driver for MySql {
    type Prepared = ();

    const DIALECT: Dialect = D;
    const TRANSACTIONAL_DDL: bool = false;

    fn is_missing_table(error: &sqlx::Error) -> bool {
        is_missing_table(error)
    }

    async fn execute(conn: &mut MySqlConnection, sql: String) -> Result<(), sqlx::Error> {
        run(conn, sql).await
    }

    async fn fetch_all(
        conn: &mut MySqlConnection,
        sql: String,
    ) -> Result<Vec<Self::Row>, sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(conn).await
    }

    async fn lock(
        conn: &mut MySqlConnection,
        tables: &Tables,
        timeout: Duration,
        done: Done<'_>,
        lock: &Lock,
    ) -> Result<Option<Held>, Error> {
        lock_session::<MySql>(conn, tables, timeout, done, lock).await
    }

    async fn unlock(
        conn: &mut MySqlConnection,
        tables: &Tables,
        held: Held,
    ) -> Result<(), sqlx::Error> {
        if let Some(released) = unlock_lease::<MySql>(conn, tables, &held).await {
            return released;
        }
        run(conn, format!("DO RELEASE_LOCK({})", lock_name(tables))).await
    }

    async fn apply(
        conn: &mut MySqlConnection,
        tables: &Tables,
        works: &[Work<'_>],
        progress: Progress<'_>,
        _timeout: Duration,
        _prepared: Option<()>,
    ) -> Result<(), Failure> {
        apply_all(conn, tables, works, progress).await
    }

    async fn exec_in_transaction(
        conn: &mut MySqlConnection,
        statements: &[String],
    ) -> Result<(), sqlx::Error> {
        in_transaction(conn, statements).await
    }
}

/// Whether an error is a lock wait timeout: `ER_LOCK_WAIT_TIMEOUT` (1205), for row locks
/// (`innodb_lock_wait_timeout`) and metadata locks (`lock_wait_timeout`) alike.
fn is_lock_timeout(error: &sqlx::Error) -> bool {
    error_number(error) == Some(1205)
}

/// Applies one step with its session timeouts set around it (docs/design.md §4.12), trying
/// a transactional revision again after a lock timeout that left nothing behind.
async fn apply_retrying(
    conn: &mut MySqlConnection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let retries = tables.timeouts.lock_retries;
    let mut attempt = 0;
    loop {
        let restore = set_timeouts(conn, tables, work).await?;
        let result = apply_one(conn, tables, work, index, progress).await;
        let result = super::timeouts::restored::<MySql>(conn, restore, result).await;
        let Err(failure) = result else {
            return Ok(());
        };
        if !work.revision.is_transactional()
            || super::timeouts::lock_timed_out(&failure, is_lock_timeout).is_none()
        {
            return Err(failure);
        }
        attempt = super::timeouts::next_try(failure, attempt, retries)?;
        let blockers = blockers(conn).await;
        super::timeouts::before_retry(work.revision, attempt, retries, &blockers).await;
    }
}

/// The session variables of the timeouts: MariaDB's `max_statement_time` (seconds, any
/// statement) or MySQL's `max_execution_time` (milliseconds, `SELECT` only).
fn statement_variable(version: &str) -> &'static str {
    if version.contains("MariaDB") {
        "max_statement_time"
    } else {
        "max_execution_time"
    }
}

/// Sets the session's lock and statement timeouts for `work` (`SET SESSION`), returning
/// the statement that puts back the values they had; `None` when it runs with the
/// session's. The lock timeout sets both `lock_wait_timeout` (metadata locks) and
/// `innodb_lock_wait_timeout` (row locks), in whole seconds (at least 1).
async fn set_timeouts(
    conn: &mut MySqlConnection,
    tables: &Tables,
    work: &Work<'_>,
) -> Result<Option<String>, Failure> {
    use super::timeouts::mariadb_seconds;
    let t = &tables.timeouts;
    let (lock, statement) = (t.lock_for(work.revision), t.statement_for(work.revision));
    if lock.is_none() && statement.is_none() {
        return Ok(None);
    }
    let failed = |e: sqlx::Error| Failure::db("setting the revision's timeouts", &e);
    let version: String = sqlx::raw_sql("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    let variable = statement_variable(&version);
    let names = ["lock_wait_timeout", "innodb_lock_wait_timeout", variable];
    let select = names
        .iter()
        .map(|n| format!("CAST(@@SESSION.{n} AS CHAR)"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = sqlx::raw_sql(AssertSqlSafe(format!("SELECT {select}")))
        .fetch_one(&mut *conn)
        .await
        .map_err(failed)?;
    let mut restore = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let old: String = row.try_get(k).map_err(failed)?;
        // A number, as the server reports it: anything else is not put back as text.
        if old.parse::<f64>().is_ok() {
            restore.push(format!("{name} = {old}"));
        }
    }
    let mut set = Vec::new();
    if let Some(d) = lock {
        let seconds = mariadb_seconds(d, true);
        set.push(format!("lock_wait_timeout = {seconds}"));
        set.push(format!("innodb_lock_wait_timeout = {seconds}"));
    }
    if let Some(d) = statement {
        set.push(match variable {
            "max_statement_time" => format!("{variable} = {}", mariadb_seconds(d, false)),
            _ => format!("{variable} = {}", d.as_millis().max(1)),
        });
    }
    run(conn, format!("SET SESSION {}", set.join(", ")))
        .await
        .map_err(failed)?;
    Ok(Some(format!("SET SESSION {}", restore.join(", "))))
}

/// The sessions that may block this one: the others with an open InnoDB transaction
/// (which holds its metadata locks until it ends), oldest first: id, user, command, time,
/// state and the first line of the running statement.
async fn blockers(conn: &mut MySqlConnection) -> Vec<String> {
    const SQL: &str = "SELECT CAST(p.ID AS CHAR), COALESCE(p.USER, ''), COALESCE(p.COMMAND, ''), \
        CAST(p.TIME AS CHAR), COALESCE(p.STATE, ''), COALESCE(p.INFO, '') \
        FROM information_schema.PROCESSLIST p JOIN information_schema.INNODB_TRX x \
        ON x.trx_mysql_thread_id = p.ID WHERE p.ID <> CONNECTION_ID() \
        ORDER BY x.trx_started LIMIT 3";
    super::timeouts::blockers::<MySql>(conn, SQL, 6, |c| {
        format!(
            "connection {} (user {:?}, {}, {} s, state {:?}: {:?})",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            super::timeouts::query_excerpt(&c[5])
        )
    })
    .await
}

/// Applies one step the way its statements allow (see the module documentation).
async fn apply_one(
    conn: &mut MySqlConnection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    if let Some(lease) = &tables.lease {
        super::lease::check::<MySql>(conn, tables, lease).await?;
    }
    if work.revision.is_rust() {
        // A transactional code revision runs in a transaction (InnoDB rolls its
        // data statements back); DDL in it commits implicitly, as on MySQL always.
        if work.revision.is_transactional() {
            super::code::apply_atomic::<MySql>(conn, tables, work, index, progress).await?;
        } else {
            apply_marked::<MySql>(conn, tables, work, index, progress).await?;
        }
        return Ok(());
    }
    let atomic = runs_atomically(work);
    if atomic
        && writes_non_transactional(conn, work, &statements(work.sql(), D, work.sql_line())).await?
    {
        apply_marked_with::<MySql>(
            conn,
            tables,
            work,
            index,
            progress,
            FirstFailure::MayHaveWritten,
        )
        .await?;
    } else if atomic {
        apply_atomic(conn, tables, work, index, progress).await?;
    } else {
        apply_marked::<MySql>(conn, tables, work, index, progress).await?;
    }
    Ok(())
}

/// Applies `works`, each run of consecutive revisions that may share a transaction (see
/// [`group`]) as one group, any other revision alone.
async fn apply_all(
    conn: &mut MySqlConnection,
    tables: &Tables,
    works: &[Work<'_>],
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let mut start = 0;
    while start < works.len() {
        let end = group::group_end(
            works,
            start,
            D,
            &tables.timeouts,
            group::GROUP_REVISIONS,
            runs_atomically,
        );
        if end - start == 1 {
            apply_each(conn, tables, &works[start..end], start, progress).await?;
        } else {
            apply_shared(conn, tables, works, (start, end), progress).await?;
        }
        start = end;
    }
    Ok(())
}

/// Applies the revisions `works` (steps `offset..`) one by one, each its own way.
async fn apply_each(
    conn: &mut MySqlConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    for (k, work) in works.iter().enumerate() {
        apply_retrying(conn, tables, work, offset + k, progress).await?;
    }
    Ok(())
}

/// Applies the group `works[start..end]` in one transaction: after one engine check for
/// all the tables it writes to (a group that writes to a non-transactional one is applied
/// one by one instead), one lease check and its timeouts set once (its revisions share
/// them).
async fn apply_shared(
    conn: &mut MySqlConnection,
    tables: &Tables,
    works: &[Work<'_>],
    (start, end): (usize, usize),
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let group = &works[start..end];
    let engines = group_non_transactional_targets(conn, group)
        .await
        .map_err(|e| {
            let context = format!(
                "reading the engines of the tables revisions {} to {} write to",
                group[0].revision.id(),
                group[group.len() - 1].revision.id()
            );
            Failure::db(&context, &e)
        })?;
    if !engines.is_empty() {
        return apply_each(conn, tables, group, start, progress).await;
    }
    if let Some(lease) = &tables.lease {
        super::lease::check::<MySql>(conn, tables, lease).await?;
    }
    let restore = set_timeouts(conn, tables, &works[start]).await?;
    let result = apply_group_retrying(conn, tables, works, (start, end), progress).await;
    super::timeouts::restored::<MySql>(conn, restore, result).await
}

/// Applies `works[start..end]` as one group; when a revision of it timed out waiting for
/// a lock (the ones before it committed), tries again from that revision after a backoff,
/// up to the run's lock retries.
async fn apply_group_retrying(
    conn: &mut MySqlConnection,
    tables: &Tables,
    works: &[Work<'_>],
    (start, end): (usize, usize),
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let retries = tables.timeouts.lock_retries;
    let (mut from, mut attempt) = (start, 0);
    loop {
        let result = apply_group(conn, tables, &works[from..end], from, progress).await;
        let Err(failure) = result else {
            return Ok(());
        };
        let (index, next) =
            super::timeouts::retry_from(failure, from, attempt, retries, is_lock_timeout)?;
        let blockers = blockers(conn).await;
        super::timeouts::before_retry(works[index].revision, next, retries, &blockers).await;
        (from, attempt) = (index, next);
    }
}

/// What one statement of a group's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `START TRANSACTION`, or the mark the first revision's duration starts from.
    Start,
    /// Under a lease, the check before revision `k` (not the first) that the run still
    /// holds it ([`lease::mysql_guard`](super::lease::mysql_guard)).
    Guard(usize),
    /// Revision `k`'s `SAVEPOINT`.
    Savepoint(usize),
    /// A statement of revision `k` (`.0`), at file line `.1`.
    User(usize, usize),
    /// Revision `k`'s `RELEASE SAVEPOINT`.
    Release(usize),
    /// The mark of revision `k`'s end (the time, in a session variable).
    Mark(usize),
    /// After revision `k` failed, the `ROLLBACK TO SAVEPOINT` of its savepoint.
    RollbackTo,
    /// A statement of the group's bookkeeping.
    Bookkeeping,
    /// The `COMMIT`.
    Commit,
    /// The `SELECT` of the revisions' durations, after the commit.
    Durations,
}

/// The text of a group (or of its recovery after a revision failed), and what each of its
/// statements is: the server answers each statement of a multi-statement text with one
/// result and stops at the first that fails, so the count of results says which failed.
#[derive(Debug)]
struct Group {
    /// The session variables' and savepoints' prefix, which no revision can know.
    token: String,
    sql: String,
    parts: Vec<Part>,
}

/// The current time in microseconds since the epoch, as a MariaDB/MySQL expression (each
/// statement of a multi-statement text has its own `NOW`).
const NOW_MICROS: &str = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)";

impl Group {
    fn empty(token: String) -> Group {
        Group {
            token,
            sql: String::new(),
            parts: Vec::new(),
        }
    }

    /// The group that applies `works` in one transaction, each revision in a savepoint,
    /// then records them all and commits (see [`group`]).
    fn new(tables: &Tables, works: &[Work<'_>]) -> Group {
        let mut g = Group::empty(token());
        g.sql
            .reserve(works.iter().map(|w| w.sql().len() + 512).sum());
        g.push(Part::Start, "START TRANSACTION");
        g.push(Part::Start, &format!("SET {} = {NOW_MICROS}", g.mark(None)));
        let guard = tables
            .lease
            .as_ref()
            .map(|lease| super::lease::mysql_guard(tables, lease));
        for (k, work) in works.iter().enumerate() {
            if let Some(guard) = guard.as_deref().filter(|_| k > 0) {
                g.push(Part::Guard(k), guard);
            }
            let savepoint = g.savepoint(k);
            g.push(Part::Savepoint(k), &format!("SAVEPOINT {savepoint}"));
            for (stmt, line) in statements(work.sql(), D, work.sql_line()) {
                g.push(Part::User(k, line), &stmt);
            }
            g.push(Part::Release(k), &format!("RELEASE SAVEPOINT {savepoint}"));
            g.push(
                Part::Mark(k),
                &format!("SET {} = {NOW_MICROS}", g.mark(Some(k))),
            );
        }
        g.finish(tables, works);
        g
    }

    /// After revision `k` of group `failed` failed: back to its savepoint, then the
    /// bookkeeping of the revisions before it, the commit and their durations.
    fn recovery(failed: &Group, tables: &Tables, works: &[Work<'_>], k: usize) -> Group {
        let mut g = Group::empty(failed.token.clone());
        let savepoint = g.savepoint(k);
        g.push(
            Part::RollbackTo,
            &format!("ROLLBACK TO SAVEPOINT {savepoint}"),
        );
        g.finish(tables, &works[..k]);
        g
    }

    /// The bookkeeping of `works`, the commit, and the `SELECT` of their durations.
    fn finish(&mut self, tables: &Tables, works: &[Work<'_>]) {
        let ms = |k: usize| format!("GREATEST(0, ({}) DIV 1000)", self.micros(k));
        for statement in tables.group_bookkeeping(D, works, Durations::Each(&ms)) {
            self.push(Part::Bookkeeping, &statement);
        }
        self.push(Part::Commit, "COMMIT");
        let durations: Vec<String> = (0..works.len()).map(|k| self.micros(k)).collect();
        self.push(Part::Durations, &format!("SELECT {}", durations.join(", ")));
    }

    /// Appends one statement. The `;` goes on a line of its own, so that a statement
    /// ending in a `--` or `#` comment does not swallow it.
    fn push(&mut self, part: Part, statement: &str) {
        self.sql.push_str(statement);
        self.sql.push_str("\n;\n");
        self.parts.push(part);
    }

    /// Revision `k`'s savepoint, quoted.
    fn savepoint(&self, k: usize) -> String {
        quote_identifier(D, &group::savepoint(&self.token, k))
    }

    /// The session variable that holds the time revision `k` ended (`None`: the group
    /// started). The same names serve every group (at most [`group::GROUP_REVISIONS`] + 1
    /// of them), so that a pooled connection does not collect a new set per group: MariaDB
    /// cannot drop a user variable.
    fn mark(&self, k: Option<usize>) -> String {
        match k {
            Some(k) => format!("@revchain_mark_{k}"),
            None => "@revchain_mark_start".to_owned(),
        }
    }

    /// The expression of revision `k`'s duration in microseconds.
    fn micros(&self, k: usize) -> String {
        let before = self.mark(k.checked_sub(1));
        format!("CAST({} - {before} AS SIGNED)", self.mark(Some(k)))
    }
}

/// How far a group's text ran.
#[derive(Debug, Default)]
struct Ran {
    /// How many statements completed: the index in [`Group::parts`] of the one that failed.
    results: usize,
    /// The revisions' durations, when their `SELECT` answered.
    durations: Option<Vec<Duration>>,
    /// The error that stopped it.
    error: Option<sqlx::Error>,
}

/// Sends `group`'s text in one round trip and counts its results.
async fn run_group(conn: &mut MySqlConnection, group: &Group) -> Ran {
    use futures_util::StreamExt;
    use sqlx::Either;
    let mut ran = Ran::default();
    let mut stream = sqlx::raw_sql(AssertSqlSafe(group.sql.as_str())).fetch_many(&mut *conn);
    while let Some(item) = stream.next().await {
        match item {
            Ok(Either::Left(_)) => ran.results += 1,
            Ok(Either::Right(row)) => {
                if group.parts.get(ran.results) == Some(&Part::Durations) {
                    ran.durations = Some(durations(&row));
                }
            }
            Err(e) => {
                ran.error = Some(e);
                break;
            }
        }
    }
    ran
}

/// The durations a group's last `SELECT` returns (microseconds; a negative one, from a
/// clock set back, counts as zero).
fn durations(row: &sqlx::mysql::MySqlRow) -> Vec<Duration> {
    (0..row.len())
        .map(|k| {
            let micros: i64 = row.try_get(k).unwrap_or(0);
            Duration::from_micros(micros.max(0).unsigned_abs())
        })
        .collect()
}

/// Reports `count` revisions from `offset` as applied, with `durations` when they were
/// read (else zero: the commit succeeded, only the reading failed).
fn report(progress: Progress<'_>, offset: usize, count: usize, durations: Option<&[Duration]>) {
    for k in 0..count {
        let took = durations.and_then(|d| d.get(k)).copied();
        progress(offset + k..offset + k + 1, took.unwrap_or_default());
    }
}

/// Ends the transaction a failed group left open (which fails harmlessly when there is
/// none).
async fn roll_back(conn: &mut MySqlConnection) {
    if let Err(e) = run(conn, "ROLLBACK".to_owned()).await {
        tracing::debug!(target: "revchain", "rolling back a group of revisions: {e}");
    }
}

/// What the revisions `works` are called in an error: `a` or `a to z`.
fn names(works: &[Work<'_>]) -> String {
    match works {
        [] => String::new(),
        [one] => format!("revision {}", one.revision.id()),
        [first, .., last] => format!(
            "revisions {} to {}",
            first.revision.id(),
            last.revision.id()
        ),
    }
}

/// Applies `works` (steps `offset..`) as one group: one transaction, one round trip.
async fn apply_group(
    conn: &mut MySqlConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    progress: Progress<'_>,
) -> Result<(), Failure> {
    let group = Group::new(tables, works);
    let ran = run_group(conn, &group).await;
    let Some(error) = ran.error else {
        report(progress, offset, works.len(), ran.durations.as_deref());
        return Ok(());
    };
    match group.parts.get(ran.results).copied() {
        Some(Part::Durations) => {
            tracing::debug!(target: "revchain", "reading the durations of {}: {error}", names(works));
            report(progress, offset, works.len(), None);
            Ok(())
        }
        Some(Part::Commit) => {
            // Rolled back whole: the revisions one by one find which one broke what.
            tracing::debug!(target: "revchain", "committing {}: {error}", names(works));
            roll_back(conn).await;
            apply_each(conn, tables, works, offset, progress).await
        }
        Some(Part::Bookkeeping) => {
            roll_back(conn).await;
            Err(bookkeeping_failure(works, &error))
        }
        Some(Part::Guard(k)) if matches!(error, sqlx::Error::Database(_)) => {
            tracing::debug!(target: "revchain", "the lease check before revision {}: {error}", works[k].revision.id());
            keep_before(conn, tables, works, offset, progress, &group, k).await?;
            // ER_SUBQUERY_NO_1_ROW: the guard's way of saying that the lease is gone.
            let lost = tables
                .lease
                .as_ref()
                .filter(|_| error_number(&error) == Some(1242))
                .map(|lease| super::lease::lost(tables, lease));
            Err(lost.map_or_else(
                || {
                    let context = format!(
                        "checking the migration lease before revision {}",
                        works[k].revision.id()
                    );
                    Failure::db(&context, &error)
                },
                Failure::Other,
            ))
        }
        Some(Part::Savepoint(k) | Part::Release(k) | Part::Mark(k) | Part::User(k, _))
            if matches!(error, sqlx::Error::Database(_)) =>
        {
            let line = match group.parts[ran.results] {
                Part::User(_, line) => line,
                _ => works[k].sql_line(),
            };
            let failure = Failure::Step {
                index: offset + k,
                line,
                error,
                aftermath: Aftermath::RolledBack,
                stage: Stage::Statement,
            };
            keep_before(conn, tables, works, offset, progress, &group, k).await?;
            Err(failure)
        }
        Some(
            Part::Guard(k)
            | Part::Savepoint(k)
            | Part::Release(k)
            | Part::Mark(k)
            | Part::User(k, _),
        ) => {
            // The connection is gone, and the whole group with it.
            let line = match group.parts[ran.results] {
                Part::User(_, line) => line,
                _ => works[k].sql_line(),
            };
            Err(Failure::Step {
                index: offset + k,
                line,
                error,
                aftermath: Aftermath::RolledBack,
                stage: Stage::Statement,
            })
        }
        Some(Part::Start | Part::RollbackTo) | None => {
            roll_back(conn).await;
            Err(Failure::db(
                &format!("starting the transaction of {}", names(works)),
                &error,
            ))
        }
    }
}

/// After revision `k` of `group` failed (its transaction still open): rolls back to its
/// savepoint and commits the revisions before it with their bookkeeping, in one round
/// trip. When the savepoint is gone (InnoDB rolled the whole transaction back: a deadlock,
/// or a lock wait timeout under `innodb_rollback_on_timeout`), applies them again; when
/// the commit fails, applies them one by one.
async fn keep_before(
    conn: &mut MySqlConnection,
    tables: &Tables,
    works: &[Work<'_>],
    offset: usize,
    progress: Progress<'_>,
    group: &Group,
    k: usize,
) -> Result<(), Failure> {
    if k == 0 {
        roll_back(conn).await;
        return Ok(());
    }
    let recovery = Group::recovery(group, tables, works, k);
    let ran = run_group(conn, &recovery).await;
    let before = &works[..k];
    let Some(error) = ran.error else {
        report(progress, offset, k, ran.durations.as_deref());
        return Ok(());
    };
    match recovery.parts.get(ran.results).copied() {
        Some(Part::Durations) => {
            report(progress, offset, k, None);
            Ok(())
        }
        Some(Part::RollbackTo) => {
            tracing::debug!(target: "revchain", "rolling back to the savepoint of revision {}: {error}", works[k].revision.id());
            roll_back(conn).await;
            Box::pin(apply_group(conn, tables, before, offset, progress)).await
        }
        Some(Part::Commit) => {
            roll_back(conn).await;
            apply_each(conn, tables, before, offset, progress).await
        }
        Some(Part::Bookkeeping) => {
            roll_back(conn).await;
            Err(bookkeeping_failure(before, &error))
        }
        _ => {
            roll_back(conn).await;
            Err(Failure::db(&format!("recording {}", names(before)), &error))
        }
    }
}

/// A group's bookkeeping failed: a duplicate key in the log (ER_DUP_ENTRY, whose message
/// names the revision) is drift; anything else a database error naming the group.
fn bookkeeping_failure(works: &[Work<'_>], error: &sqlx::Error) -> Failure {
    let duplicate = match error {
        sqlx::Error::Database(db) if error_number(error) == Some(1062) => {
            duplicate_entry(db.message())
        }
        _ => None,
    };
    duplicate
        .and_then(|id| works.iter().find(|w| w.revision.id() == id))
        .and_then(|work| log_conflict(error, work))
        .unwrap_or_else(|| Failure::db(&format!("recording {}", names(works)), error))
}

/// The value ER_DUP_ENTRY's message names: `Duplicate entry '<value>' for key '<key>'`.
fn duplicate_entry(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("Duplicate entry '")?;
    let (value, _) = rest.rsplit_once("' for key")?;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_statements() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "  -- a comment\nupdate t SET a = 1",
            "/* why */ DELETE FROM t",
            "# mysql comment\nREPLACE INTO t VALUES (1)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SET @a = 1",
            "SET foreign_key_checks = 0",
        ] {
            assert!(is_data_statement(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (id INT)",
            "ALTER TABLE t ADD COLUMN x INT",
            "TRUNCATE t",
            "SET autocommit = 1",
            "SET PASSWORD = 'x'",
            "SET STATEMENT max_statement_time = 1 FOR CREATE TABLE t (a INT)",
            "/*!40101 CREATE TABLE t (a INT) */",
            "(SELECT 1)",
            "CALL p()",
            "LOCK TABLES t WRITE",
            "/* unterminated",
            "",
        ] {
            assert!(!is_data_statement(sql), "{sql}");
        }
    }

    #[test]
    fn lock_names_fit() {
        let short = Tables::default();
        assert!(lock_name(&short).contains("'revchain_version'"));
        let long = Tables {
            version: crate::TableName::parse(&format!("{}.{}", "s".repeat(63), "v".repeat(63)))
                .expect("a valid name"),
            ..Tables::default()
        };
        assert!(lock_name(&long).contains("SHA2("));
    }
}
