//! Applying repeatable revisions (`Repeatable: true`, docs/design.md §4.10) after the
//! versioned part of a run, and their bookkeeping table.
//!
//! The table (`revchain_repeatable` unless configured) holds one row per repeatable and
//! *versioned state*: the sorted ids of the version heads at the time, joined by `,`
//! ([`heads_key`]). The rows at the database's current heads are what the database holds
//! now; rows at other heads are what it held when it stood there, kept so that a downgrade
//! to those heads re-applies the text recorded there. What to do is core's
//! ([`revchain_core::repeatable::Repeatables::plan`]); this module reads the rows, runs
//! each repeatable in its own transaction with its row, and reports.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use revchain_core::{Dialect, Digest, Direction};

use crate::backend::{Backend, BookkeepingRow as _, statements};
use crate::bookkeeping::{Tables, literal};
use crate::embedded::{Migrations, Revision};
use crate::error::{Aftermath, Error, FailedStep, Stage};
use crate::report::{Report, StepReport};

/// The key of a versioned state: its head ids sorted and joined by `,`; past 255
/// characters, `sha256:` and the digest of that text (ids hold no `:`).
pub(crate) fn heads_key<'a>(heads: impl IntoIterator<Item = &'a str>) -> String {
    let mut ids: Vec<&str> = heads.into_iter().collect();
    ids.sort_unstable();
    let joined = ids.join(",");
    if joined.len() <= 255 {
        joined
    } else {
        format!("sha256:{}", Digest::of(joined.as_bytes()))
    }
}

impl Tables {
    /// `CREATE TABLE IF NOT EXISTS` for the repeatable table.
    pub fn create_repeatable(&self, d: Dialect) -> String {
        let (ts, text) = match d {
            Dialect::Postgres | Dialect::Generic => (
                "TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP",
                "TEXT",
            ),
            Dialect::MySql => (
                "TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
                "LONGTEXT",
            ),
            Dialect::Sqlite => (
                "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                "TEXT",
            ),
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    revision VARCHAR(64) NOT NULL,\n    heads VARCHAR(255) NOT NULL,\n    checksum VARCHAR(64) NOT NULL,\n    applied_sql {text} NOT NULL,\n    applied_at {ts},\n    execution_ms BIGINT NOT NULL DEFAULT 0,\n    PRIMARY KEY (revision, heads)\n)",
            self.repeatable.quoted(d)
        )
    }

    /// Every row of the repeatable table.
    fn select_repeatable(&self, d: Dialect) -> String {
        format!(
            "SELECT revision, heads, checksum, applied_sql FROM {}",
            self.repeatable.quoted(d)
        )
    }

    /// The boot check's one query: the version rows (`v`), and the checksums recorded at
    /// the heads `key` (`r`).
    pub fn select_heads_and_repeatables(&self, d: Dialect, key: &str) -> String {
        format!(
            "SELECT 'v', revision, chain_digest FROM {} UNION ALL SELECT 'r', revision, checksum FROM {} WHERE heads = {}",
            self.version.quoted(d),
            self.repeatable.quoted(d),
            literal(d, key)
        )
    }

    /// Deletes the row of `revision` at `key`.
    fn delete_repeatable(&self, d: Dialect, revision: &str, key: &str) -> String {
        format!(
            "DELETE FROM {} WHERE revision = {} AND heads = {}",
            self.repeatable.quoted(d),
            literal(d, revision),
            literal(d, key)
        )
    }

    /// Records `row` at `key` (replacing the row there).
    fn record_repeatable(&self, d: Dialect, row: &Recorded, key: &str, ms: u128) -> [String; 2] {
        [
            self.delete_repeatable(d, &row.revision, key),
            format!(
                "INSERT INTO {} (revision, heads, checksum, applied_sql, execution_ms) VALUES ({}, {}, '{}', {}, {ms})",
                self.repeatable.quoted(d),
                literal(d, &row.revision),
                literal(d, key),
                row.checksum,
                literal(d, &row.sql)
            ),
        ]
    }
}

/// A row of the repeatable table: what was applied.
#[derive(Debug, Clone)]
struct Recorded {
    revision: String,
    checksum: Digest,
    sql: String,
}

/// The rows of the repeatable table, by heads key, then by revision.
type Rows = HashMap<String, HashMap<String, Recorded>>;

/// Reads every row; a row that is not as revchain writes it is skipped with a warning (its
/// repeatable is then applied again).
async fn read_rows<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &Tables,
) -> Result<Rows, sqlx::Error> {
    let rows = DB::fetch_all(conn, tables.select_repeatable(DB::DIALECT)).await?;
    let mut out: Rows = HashMap::new();
    for row in &rows {
        let cell = |i| row.text(i).ok().flatten();
        let (Some(revision), Some(key), Some(checksum), Some(sql)) =
            (cell(0), cell(1), cell(2), cell(3))
        else {
            tracing::warn!(target: "revchain", "a row of {} holds NULLs; ignored", tables.repeatable);
            continue;
        };
        let Ok(checksum) = checksum.parse::<Digest>() else {
            tracing::warn!(target: "revchain", "the row of repeatable {revision} in {} has no valid checksum; ignored", tables.repeatable);
            continue;
        };
        out.entry(key).or_default().insert(
            revision.clone(),
            Recorded {
                revision,
                checksum,
                sql,
            },
        );
    }
    Ok(out)
}

/// The versioned part of a run, as the repeatable phase needs it.
pub(crate) struct Versioned<'a> {
    /// Upgrade or downgrade.
    pub direction: Direction,
    /// The head ids before the run.
    pub heads_before: Vec<&'a str>,
    /// The head ids after it.
    pub heads_after: Vec<&'a str>,
    /// The versioned revisions applied after it (graph indices).
    pub applied_after: Vec<bool>,
    /// Whether the run is inside the caller's transaction (then no transaction of its own).
    pub in_callers_transaction: bool,
    /// How long SQLite's `BEGIN IMMEDIATE` is retried while another connection writes.
    pub lock_timeout: Duration,
}

/// One thing to run: a repeatable's text, with where it comes from.
struct Action<'a> {
    revision: &'a str,
    path: &'a str,
    sql: &'a str,
    line: usize,
    transactional: bool,
    /// The row recorded with it; `None` for a removal (its rows are deleted).
    record: Option<Recorded>,
}

/// Creates the table if needed and reads it.
async fn prepare<DB: Backend>(conn: &mut DB::Connection, tables: &Tables) -> Result<Rows, Error> {
    DB::execute(conn, tables.create_repeatable(DB::DIALECT))
        .await
        .map_err(|e| Error::db("creating the repeatable table", &e))?;
    read_rows::<DB>(conn, tables)
        .await
        .map_err(|e| Error::db("reading the repeatable table", &e))
}

/// Before the versioned steps of a downgrade `v`: removes (runs the downgrade section of,
/// and forgets) every recorded repeatable that depends on a revision the downgrade reverts,
/// dependents first, so that the versioned downgrade does not find them in its way (a
/// view on a column it drops).
pub(crate) async fn before_downgrade<DB: Backend>(
    m: &Migrations,
    tables: &Tables,
    conn: &mut DB::Connection,
    v: &Versioned<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    if m.repeatables().is_empty() || v.direction != Direction::Downgrade {
        return Ok(());
    }
    let rows = prepare::<DB>(conn, tables).await?;
    let before_key = heads_key(v.heads_before.iter().copied());
    let recorded: HashMap<String, Digest> = rows
        .get(&before_key)
        .map(|b| b.iter().map(|(id, r)| (id.clone(), r.checksum)).collect())
        .unwrap_or_default();
    let resolved = m.resolved_repeatables();
    let plan = resolved.plan(&v.applied_after, &recorded);
    let actions: Vec<Action<'_>> = (plan.remove.iter())
        .map(|&p| removal(&m.repeatables()[resolved.order()[p].input]))
        .collect();
    execute::<DB>(conn, tables, &actions, &before_key, v, report).await
}

/// The action that removes `rev`: its downgrade section (none: nothing runs), and its row
/// deleted.
fn removal(rev: &Revision) -> Action<'_> {
    Action {
        revision: rev.id(),
        path: rev.path(),
        sql: rev.downgrade_sql().unwrap_or(""),
        line: rev.downgrade_line(),
        transactional: rev.is_transactional(),
        record: None,
    }
}

/// The repeatable phase after the versioned part `v` of a run: (re)applies what is due,
/// removes what is recorded but no longer available, restores on a downgrade the text
/// recorded at the target heads, and keeps the rows at the current heads true. Adds what
/// ran to `report`; on a failure, the error carries `report` as what ran before it.
pub(crate) async fn run<DB: Backend>(
    m: &Migrations,
    tables: &Tables,
    conn: &mut DB::Connection,
    v: &Versioned<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    if m.repeatables().is_empty() {
        return Ok(());
    }
    let d = DB::DIALECT;
    let rows = prepare::<DB>(conn, tables).await?;
    let before_key = heads_key(v.heads_before.iter().copied());
    let after_key = heads_key(v.heads_after.iter().copied());
    let empty = HashMap::new();
    let before = rows.get(&before_key).unwrap_or(&empty);
    let at_target = rows.get(&after_key).unwrap_or(&empty);
    for id in m
        .resolved_repeatables()
        .unshipped(before.keys().map(String::as_str))
    {
        tracing::warn!(target: "revchain", "repeatable revision {id} is recorded in {} but this binary does not ship it; it is left as it is", tables.repeatable);
    }
    let recorded: HashMap<String, Digest> = before
        .iter()
        .map(|(id, r)| (id.clone(), r.checksum))
        .collect();
    let plan = m.resolved_repeatables().plan(&v.applied_after, &recorded);
    let order = m.resolved_repeatables().order();
    let shipped = |p: usize| &m.repeatables()[order[p].input];
    let removed: Vec<&str> = plan.remove.iter().map(|&p| order[p].id.as_str()).collect();

    // The rows at the new heads first say what the database holds (the rows before the
    // run, less what is removed), so that a failure below leaves them true.
    if before_key != after_key {
        let mut copy = Vec::new();
        for r in before
            .values()
            .filter(|r| !removed.contains(&r.revision.as_str()))
        {
            copy.extend(tables.record_repeatable(d, r, &after_key, 0));
        }
        if !copy.is_empty() {
            DB::exec_in_transaction(conn, &copy)
                .await
                .map_err(|e| Error::db("recording the repeatable revisions", &e))?;
        }
    }

    let mut actions: Vec<Action<'_>> = plan.remove.iter().map(|&p| removal(shipped(p))).collect();
    match v.direction {
        Direction::Upgrade => {
            for &p in &plan.apply {
                actions.push(apply_shipped(shipped(p)));
            }
        }
        Direction::Downgrade => {
            for (p, item) in order.iter().enumerate() {
                let Some(target) = at_target.get(&item.id) else {
                    continue;
                };
                let now = before.get(&item.id).map(|r| r.checksum);
                if removed.contains(&item.id.as_str()) || now == Some(target.checksum) {
                    continue;
                }
                let rev = shipped(p);
                actions.push(Action {
                    revision: rev.id(),
                    path: rev.path(),
                    sql: &target.sql,
                    line: rev.upgrade_line(),
                    transactional: rev.is_transactional(),
                    record: Some(target.clone()),
                });
            }
        }
    }
    execute::<DB>(conn, tables, &actions, &after_key, v, report).await
}

/// Runs `actions` in order, each with its row at `key`, adding them to `report`.
async fn execute<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &Tables,
    actions: &[Action<'_>],
    key: &str,
    v: &Versioned<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    for action in actions {
        let took =
            run_one::<DB>(conn, tables, action, key, v)
                .await
                .map_err(|(line, error, stage)| {
                    let mut e = failed(action, line, v, error, stage);
                    e.set_applied_before(report.clone());
                    e
                })?;
        crate::report::announce(
            Some(action.revision),
            &format!(
                "{} repeatable {} in {}",
                if action.record.is_some() {
                    "applied"
                } else {
                    "removed"
                },
                action.revision,
                crate::report::human_duration(took)
            ),
        );
        let step = StepReport {
            id: action.revision.to_owned(),
            message: String::new(),
            duration: took,
        };
        match action.record {
            Some(_) => report.repeatables_applied.push(step),
            None => report.repeatables_removed.push(step.id),
        }
    }
    Ok(())
}

/// The action that applies the text `rev` ships.
fn apply_shipped(rev: &Revision) -> Action<'_> {
    Action {
        revision: rev.id(),
        path: rev.path(),
        sql: rev.upgrade_sql(),
        line: rev.upgrade_line(),
        transactional: rev.is_transactional(),
        record: Some(Recorded {
            revision: rev.id().to_owned(),
            checksum: rev.checksum(),
            sql: rev.upgrade_sql().to_owned(),
        }),
    }
}

/// The error of a failed action: like a failed revision's, with the file line of the
/// statement.
fn failed(
    action: &Action<'_>,
    line: usize,
    v: &Versioned<'_>,
    error: sqlx::Error,
    stage: Stage,
) -> Error {
    let step = FailedStep {
        id: action.revision.to_owned(),
        path: action.path.to_owned(),
        line,
        direction: v.direction,
        message: String::new(),
        code: None,
        aftermath: if v.in_callers_transaction {
            Aftermath::InCallersTransaction
        } else {
            Aftermath::RepeatableNotRecorded
        },
        applied_before: Report::default(),
    };
    Error::of_step(step, error, stage)
}

/// Runs one action and its bookkeeping, in one transaction when it is transactional and
/// the run is not inside the caller's: how long its SQL took, or the file line, the error
/// and when it failed.
async fn run_one<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &Tables,
    action: &Action<'_>,
    key: &str,
    v: &Versioned<'_>,
) -> Result<Duration, (usize, sqlx::Error, Stage)> {
    let d = DB::DIALECT;
    let own = action.transactional && !v.in_callers_transaction;
    if own {
        begin::<DB>(conn, v.lock_timeout)
            .await
            .map_err(|e| (action.line, e, Stage::Statement))?;
    }
    let started = Instant::now();
    let result = async {
        for (sql, line) in statements(action.sql, d, action.line) {
            DB::execute(conn, sql)
                .await
                .map_err(|e| (line, e, Stage::Statement))?;
        }
        let took = started.elapsed();
        let bookkeeping = match &action.record {
            Some(r) => tables
                .record_repeatable(d, r, key, took.as_millis())
                .to_vec(),
            None => vec![tables.delete_repeatable(d, action.revision, key)],
        };
        for sql in bookkeeping {
            DB::execute(conn, sql)
                .await
                .map_err(|e| (action.line, e, Stage::Statement))?;
        }
        Ok(took)
    }
    .await;
    match result {
        Ok(took) if own => match DB::execute(conn, "COMMIT".to_owned()).await {
            Ok(()) => Ok(took),
            Err(e) => Err((action.line, e, Stage::Commit)),
        },
        Err(e) if own => {
            if let Err(rollback) = DB::execute(conn, "ROLLBACK".to_owned()).await {
                tracing::warn!(target: "revchain", "rolling back repeatable {} failed: {rollback}", action.revision);
            }
            Err(e)
        }
        other => other,
    }
}

/// Opens a transaction: `BEGIN`, or on SQLite `BEGIN IMMEDIATE`, which takes the write lock
/// and is retried with a growing delay while another connection holds it, up to `timeout`.
async fn begin<DB: Backend>(
    conn: &mut DB::Connection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    if DB::DIALECT != Dialect::Sqlite {
        return DB::execute(conn, "BEGIN".to_owned()).await;
    }
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        match DB::execute(conn, "BEGIN IMMEDIATE".to_owned()).await {
            Err(e) if is_busy(&e) && started.elapsed() < timeout => {
                tracing::debug!(target: "revchain", "waiting for the SQLite write lock: {e}");
                tokio::time::sleep(crate::backend::backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether a SQLite error is `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code).
fn is_busy(e: &sqlx::Error) -> bool {
    let code = e.as_database_error().and_then(|d| d.code());
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|n| matches!(n & 0xff, 5 | 6))
}

/// The boot check with repeatables: one query reads the version rows and the checksums
/// recorded at the embedded heads. `Some` rows when the version rows are complete and
/// every repeatable's recorded checksum is the embedded one; `None` otherwise (a missing
/// table included): then the run takes the lock.
pub(crate) async fn boot_rows<DB: Backend>(
    m: &Migrations,
    tables: &Tables,
    conn: &mut DB::Connection,
) -> Option<Vec<crate::backend::HeadRow>> {
    let key = heads_key(m.heads().map(Revision::id));
    let rows = DB::fetch_all(conn, tables.select_heads_and_repeatables(DB::DIALECT, &key))
        .await
        .ok()?;
    let mut heads = Vec::new();
    let mut recorded: HashMap<String, Digest> = HashMap::new();
    for row in &rows {
        let cell = |i| row.text(i).ok().flatten();
        let (kind, revision, digest) = (cell(0)?, cell(1)?, cell(2)?.parse::<Digest>().ok());
        if kind == "v" {
            heads.push(crate::backend::HeadRow {
                revision,
                chain_digest: digest,
                defect: None,
            });
        } else {
            recorded.insert(revision, digest?);
        }
    }
    let all = vec![true; m.graph().len()];
    m.resolved_repeatables()
        .plan(&all, &recorded)
        .apply
        .is_empty()
        .then_some(heads)
}

/// What [`Status`](crate::Status) shows of the repeatables.
#[derive(Debug, Default)]
pub(crate) struct RepeatableStatus {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    pub unknown: Vec<String>,
}

/// The repeatables at the database's current `heads` with the versioned revisions
/// `applied`: applied with the shipped text, due (what `run` would apply), and recorded but
/// not shipped. Reads nothing when the binary ships no repeatable; a missing table records
/// nothing.
pub(crate) async fn status<DB: Backend>(
    m: &Migrations,
    tables: &Tables,
    conn: &mut DB::Connection,
    heads: &[&str],
    applied: &[bool],
) -> Result<RepeatableStatus, Error> {
    if m.repeatables().is_empty() {
        return Ok(RepeatableStatus::default());
    }
    let mut rows = match read_rows::<DB>(conn, tables).await {
        Ok(rows) => rows,
        Err(e) if DB::is_missing_table(&e) => Rows::new(),
        Err(e) => return Err(Error::db("reading the repeatable table", &e)),
    };
    let recorded = rows
        .remove(&heads_key(heads.iter().copied()))
        .unwrap_or_default();
    let resolved = m.resolved_repeatables();
    let checksums = recorded
        .iter()
        .map(|(id, r)| (id.clone(), r.checksum))
        .collect();
    let plan = resolved.plan(applied, &checksums);
    let order = resolved.order();
    let pending: Vec<String> = plan.apply.iter().map(|&p| order[p].id.clone()).collect();
    Ok(RepeatableStatus {
        applied: order
            .iter()
            .filter(|i| recorded.contains_key(&i.id) && !pending.contains(&i.id))
            .map(|i| i.id.clone())
            .collect(),
        unknown: resolved.unshipped(recorded.keys().map(String::as_str)),
        pending,
    })
}

#[cfg(all(
    feature = "cli",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
/// One repeatable's block of an offline script: its `-- Running …` comment, whether it is
/// wrapped in a transaction, its statements and bookkeeping.
pub(crate) struct OfflineBlock {
    pub comment: String,
    pub transactional: bool,
    pub statements: Vec<String>,
}

#[cfg(all(
    feature = "cli",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
/// The repeatable part of an offline script of `plan` (docs/design.md §4.10): the blocks
/// before its steps (a downgrade's removals) and after them (an upgrade applies every
/// repeatable available at its end: a script cannot read which are applied already, and
/// re-applying one is what a repeatable allows). A downgrade script cannot re-apply the
/// text recorded at the target, which only the database holds: a comment says so.
pub(crate) fn offline(
    m: &Migrations,
    tables: &Tables,
    d: Dialect,
    plan: &revchain_core::Plan,
) -> (Vec<OfflineBlock>, Vec<OfflineBlock>) {
    if m.repeatables().is_empty() {
        return (Vec::new(), Vec::new());
    }
    let graph = m.graph();
    let key = |heads: &[usize]| heads_key(heads.iter().map(|&i| graph.id(i)));
    let resolved = m.resolved_repeatables();
    let available = |heads: &[usize]| {
        resolved.available(&graph.ancestors_with_dependencies(heads.iter().copied()))
    };
    let create = OfflineBlock {
        comment: format!("-- The repeatable revisions' table ({})", tables.repeatable),
        transactional: false,
        statements: vec![tables.create_repeatable(d)],
    };
    let mut blocks = vec![create];
    let (now, then) = (available(&plan.heads_before), available(&plan.heads_after));
    let rev = |p: usize| &m.repeatables()[resolved.order()[p].input];
    match plan.direction {
        Direction::Upgrade => {
            let after = key(&plan.heads_after);
            for p in (0..then.len()).filter(|&p| then[p]) {
                let action = apply_shipped(rev(p));
                let Some(record) = &action.record else {
                    continue;
                };
                blocks.push(offline_block(
                    &action,
                    d,
                    "apply",
                    tables.record_repeatable(d, record, &after, 0).to_vec(),
                ));
            }
            (Vec::new(), blocks)
        }
        Direction::Downgrade => {
            let before = key(&plan.heads_before);
            for p in (0..now.len()).rev().filter(|&p| now[p] && !then[p]) {
                let action = removal(rev(p));
                let delete = vec![tables.delete_repeatable(d, action.revision, &before)];
                blocks.push(offline_block(&action, d, "remove", delete));
            }
            let note = OfflineBlock {
                comment: "-- Repeatable revisions changed since the target was applied are not re-applied by this script: `revchain downgrade` without --sql re-applies the text the database recorded there".to_owned(),
                transactional: false,
                statements: Vec::new(),
            };
            (blocks, vec![note])
        }
    }
}

#[cfg(all(
    feature = "cli",
    any(feature = "postgres", feature = "mysql", feature = "sqlite")
))]
fn offline_block(
    action: &Action<'_>,
    d: Dialect,
    verb: &str,
    bookkeeping: Vec<String>,
) -> OfflineBlock {
    let mut statements: Vec<String> = statements(action.sql, d, action.line)
        .into_iter()
        .map(|(sql, _)| sql)
        .collect();
    statements.extend(bookkeeping);
    OfflineBlock {
        comment: format!("-- Running {verb} repeatable {}", action.revision),
        transactional: action.transactional,
        statements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_keys_are_sorted_ids_or_a_digest_past_255_characters() {
        assert_eq!(heads_key(["b2", "a1"]), "a1,b2");
        assert_eq!(heads_key([]), "");
        let long: Vec<String> = (0..40).map(|i| format!("revision_{i:02}")).collect();
        let key = heads_key(long.iter().map(String::as_str));
        assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
        let mut reversed = long.clone();
        reversed.reverse();
        assert_eq!(heads_key(reversed.iter().map(String::as_str)), key);
    }

    #[test]
    fn the_boot_query_reads_the_rows_at_the_embedded_heads_only() {
        let sql = Tables::default().select_heads_and_repeatables(Dialect::MySql, "a1,b'2");
        assert_eq!(
            sql,
            "SELECT 'v', revision, chain_digest FROM `revchain_version` UNION ALL SELECT 'r', revision, checksum FROM `revchain_repeatable` WHERE heads = 'a1,b''2'"
        );
    }
}
