//! Random damage to revchain's own tables (the version and log rows), then one command that
//! writes (`run`, `upgrade`, `downgrade`, `stamp`): the property of issue 13. Either the
//! command refuses with the state check's message (the one `status` reports) and the
//! database (schema, both tables) is unchanged, or the damage was harmless and the command
//! succeeds with a consistent state. Never a raw driver error, never a panic, never a
//! partial downgrade over a damaged state.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use revchain::{DatabaseState, Error, Migrations, Migrator, Report, Status};
use revchain_tests::{Dir, Kind};

use super::Probe;

/// The fixture: a1 creates `t`, b2 inserts a row into it, c3 creates `u`.
pub const IDS: [&str; 3] = ["a1", "b2", "c3"];

pub fn fixture() -> Dir {
    let dir = Dir::new();
    dir.creates_table("a1", "", "t")
        .rev(
            "b2",
            "a1",
            "",
            "INSERT INTO t VALUES (1);",
            Some("DELETE FROM t;"),
        )
        .creates_table("c3", "b2", "u");
    dir
}

/// A value written into a bookkeeping column.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Null,
    Empty,
    /// One of [`IDS`].
    Id(usize),
    Unknown,
    /// The chain digest of one of [`IDS`].
    ChainOf(usize),
    /// The checksum of one of [`IDS`].
    ChecksumOf(usize),
    Zeros,
    Garbage,
    /// The mark of a head being downgraded.
    DirtyMark,
    True,
    False,
}

/// One change to the tables (a change the schema refuses is skipped: no damage).
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    SetVersion {
        of: Value,
        column: &'static str,
        to: Value,
    },
    InsertVersion(Value, Value),
    DeleteVersion(Value),
    SetLog {
        of: Value,
        column: &'static str,
        to: Value,
    },
    InsertLog {
        revision: Value,
        checksum: Value,
        chain: Value,
        dirty: Value,
    },
    DeleteLog(Value),
    /// Recreates both tables without constraints (NULLs and duplicates become possible).
    Loosen,
}

/// A command that writes.
#[derive(Debug, Clone, Copy)]
pub enum Command {
    Run,
    Upgrade(&'static str),
    Downgrade(&'static str),
    Stamp(&'static str),
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::Empty),
        (0..3usize).prop_map(Value::Id),
        Just(Value::Unknown),
        (0..3usize).prop_map(Value::ChainOf),
        (0..3usize).prop_map(Value::ChecksumOf),
        Just(Value::Zeros),
        Just(Value::Garbage),
        Just(Value::DirtyMark),
        Just(Value::True),
        Just(Value::False),
    ]
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![4 => (0..3usize).prop_map(Value::Id), 1 => Just(Value::Unknown)]
}

pub fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (id(), prop::sample::select(vec!["revision", "chain_digest"]), value())
            .prop_map(|(of, column, to)| Damage::SetVersion { of, column, to }),
        2 => (id(), value()).prop_map(|(a, b)| Damage::InsertVersion(a, b)),
        2 => id().prop_map(Damage::DeleteVersion),
        3 => (
            id(),
            prop::sample::select(vec!["revision", "checksum", "chain_digest", "dirty"]),
            value()
        )
            .prop_map(|(of, column, to)| Damage::SetLog { of, column, to }),
        2 => (id(), value(), value(), value()).prop_map(|(revision, checksum, chain, dirty)| {
            Damage::InsertLog { revision, checksum, chain, dirty }
        }),
        2 => id().prop_map(Damage::DeleteLog),
        1 => Just(Damage::Loosen),
    ]
}

pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Run),
        Just(Command::Upgrade("head")),
        Just(Command::Upgrade("+1")),
        Just(Command::Downgrade("base")),
        Just(Command::Downgrade("-1")),
        Just(Command::Stamp("head")),
        Just(Command::Stamp("a1")),
        Just(Command::Stamp("base")),
    ]
}

fn literal(kind: Kind, m: &Migrations, v: Value) -> String {
    let digest = |i: usize, chain: bool| {
        let r = m.get(IDS[i]).expect("fixture revision");
        format!(
            "'{}'",
            if chain {
                r.chain_digest()
            } else {
                r.checksum()
            }
        )
    };
    match v {
        Value::Null => "NULL".into(),
        Value::Empty => "''".into(),
        Value::Id(i) => format!("'{}'", IDS[i]),
        Value::Unknown => "'zz9'".into(),
        Value::ChainOf(i) => digest(i, true),
        Value::ChecksumOf(i) => digest(i, false),
        Value::Zeros => format!("'{}'", "0".repeat(64)),
        Value::Garbage => "'not a digest'".into(),
        Value::DirtyMark => "'dirty'".into(),
        Value::True if kind == Kind::Postgres => "TRUE".into(),
        Value::False if kind == Kind::Postgres => "FALSE".into(),
        Value::True => "1".into(),
        Value::False => "0".into(),
    }
}

fn damage_sql(kind: Kind, m: &Migrations, d: Damage) -> Vec<String> {
    let lit = |v| literal(kind, m, v);
    match d {
        Damage::SetVersion { of, column, to } => vec![format!(
            "UPDATE revchain_version SET {column} = {} WHERE revision = {}",
            lit(to),
            lit(of)
        )],
        Damage::InsertVersion(a, b) => vec![format!(
            "INSERT INTO revchain_version (revision, chain_digest) VALUES ({}, {})",
            lit(a),
            lit(b)
        )],
        Damage::DeleteVersion(of) => vec![format!(
            "DELETE FROM revchain_version WHERE revision = {}",
            lit(of)
        )],
        Damage::SetLog { of, column, to } => vec![format!(
            "UPDATE revchain_log SET {column} = {} WHERE revision = {}",
            lit(to),
            lit(of)
        )],
        Damage::InsertLog {
            revision,
            checksum,
            chain,
            dirty,
        } => vec![format!(
            "INSERT INTO revchain_log (revision, message, checksum, chain_digest, execution_ms, \
             dirty, stamped) VALUES ({}, 'm', {}, {}, 0, {}, {})",
            lit(revision),
            lit(checksum),
            lit(chain),
            lit(dirty),
            lit(Value::False)
        )],
        Damage::DeleteLog(of) => vec![format!(
            "DELETE FROM revchain_log WHERE revision = {}",
            lit(of)
        )],
        Damage::Loosen => ["revchain_version", "revchain_log"]
            .iter()
            .flat_map(|t| {
                [
                    format!("CREATE TABLE loose AS SELECT * FROM {t}"),
                    format!("DROP TABLE {t}"),
                    format!("ALTER TABLE loose RENAME TO {t}"),
                ]
            })
            .collect(),
    }
}

/// Everything a command may change: the tables, the fixture's rows, both of revchain's
/// tables (every column, as text, sorted).
pub async fn snapshot(p: &mut Probe) -> Vec<String> {
    let mut shot = p.tables().await;
    if shot.iter().any(|t| t == "t") {
        shot.push(format!(
            "t rows: {}",
            p.count("SELECT count(*) FROM t").await
        ));
    }
    let text = |c: &str| format!("COALESCE(CAST({c} AS TEXT), '<NULL>')");
    let version = format!(
        "SELECT {} || '|' || {} FROM revchain_version",
        text("revision"),
        text("chain_digest")
    );
    let log = format!(
        "SELECT {} FROM revchain_log",
        [
            "revision",
            "message",
            "checksum",
            "chain_digest",
            "applied_at",
            "execution_ms",
            "dirty",
            "stamped"
        ]
        .map(text)
        .join(" || '|' || ")
    );
    for (name, sql) in [("version", version), ("log", log)] {
        let mut rows: Vec<String> = p
            .column(&sql)
            .await
            .into_iter()
            .map(|r| format!("{name}: {}", r.unwrap_or_default()))
            .collect();
        rows.sort();
        shot.extend(rows);
    }
    shot
}

async fn execute<DB: revchain::Backend>(
    pool: &sqlx::Pool<DB>,
    mg: &Migrator<'_>,
    cmd: Command,
) -> Result<Report, Error> {
    match cmd {
        Command::Run => mg.run(pool).await,
        Command::Upgrade(t) => mg.upgrade(pool, t).await,
        Command::Downgrade(t) => mg.downgrade(pool, t).await,
        Command::Stamp(t) => mg.stamp(pool, &[t], false).await,
    }
}

/// Whether the schema is what the applied revisions make it (`t` with a1, its row with b2,
/// `u` with c3).
async fn schema_matches(p: &mut Probe, status: &Status) -> bool {
    let applied = |id: &str| status.applied.iter().any(|a| a == id);
    let tables = p.tables().await;
    let has = |t: &str| tables.iter().any(|x| x == t);
    if has("t") != applied("a1") || has("u") != applied("c3") {
        return false;
    }
    !has("t") || (p.count("SELECT count(*) FROM t").await == 1) == applied("b2")
}

/// One case: the fixture upgraded `start` revisions, `damages` applied, then `cmd`.
pub async fn check_damage<DB: revchain::Backend>(
    kind: Kind,
    url: &str,
    m: &'static Migrations,
    start: usize,
    damages: &[Damage],
    cmd: Command,
) -> Result<(), TestCaseError> {
    let mut p = Probe::connect(kind, url).await;
    for t in ["t", "u", "loose", "revchain_version", "revchain_log"] {
        p.exec(&format!("DROP TABLE IF EXISTS {t}")).await;
    }
    let pool: sqlx::Pool<DB> = sqlx::pool::PoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .map_err(|e| TestCaseError::fail(format!("connecting: {e}")))?;
    // Short: on SQLite a dirty mark that may be running is waited for that long.
    let mg = Migrator::new(m).lock_timeout(std::time::Duration::from_millis(200));
    let set_up = if start == 0 {
        mg.stamp(&pool, &["base"], false).await
    } else {
        mg.upgrade(&pool, IDS[start - 1]).await
    };
    set_up.map_err(|e| TestCaseError::fail(format!("setting up: {e}")))?;
    for d in damages {
        for sql in damage_sql(kind, m, *d) {
            // A change the schema refuses (NOT NULL, a primary key, a type) is no damage.
            let _ = p.try_exec(&sql).await;
        }
    }
    let before = snapshot(&mut p).await;
    let status = mg
        .status(&pool)
        .await
        .map_err(|e| TestCaseError::fail(format!("status failed: {e}\n{before:#?}")))?;
    let consistent_before = schema_matches(&mut p, &status).await;
    let outcome = execute(&pool, &mg, cmd).await;
    let after = snapshot(&mut p).await;
    let status_after = mg
        .status(&pool)
        .await
        .map_err(|e| TestCaseError::fail(format!("status after failed: {e}")))?;
    pool.close().await;
    let context = format!(
        "{cmd:?} after {damages:?} from {start}:\nstatus {status:?}\nbefore {before:#?}\nafter \
         {after:#?}\noutcome {outcome:?}"
    );
    let state_refusal = |e: &Error| {
        matches!(
            e,
            Error::Drift { .. }
                | Error::Edited { .. }
                | Error::Dirty { .. }
                | Error::DatabaseAhead { .. }
        )
    };
    match &outcome {
        Err(Error::Database { .. }) => {
            return Err(TestCaseError::fail(format!(
                "a raw driver error: {context}"
            )));
        }
        Err(e) if state_refusal(e) => {
            prop_assert_eq!(
                &before,
                &after,
                "a refusal changed the database: {}",
                context
            );
            match (&status.refusal, status.state()) {
                (Some(refusal), _) => prop_assert_eq!(
                    refusal,
                    &e.to_string(),
                    "status and the command disagree: {}",
                    context
                ),
                (None, DatabaseState::Ahead | DatabaseState::Diverged) => {
                    prop_assert!(matches!(e, Error::DatabaseAhead { .. }), "{}", context)
                }
                (None, _) => {
                    return Err(TestCaseError::fail(format!(
                        "refused a state that status accepts: {context}"
                    )));
                }
            }
        }
        // A statement that fails on a schema that the damage made disagree with the
        // bookkeeping (or a target beyond the graph): the state check had passed, and the
        // bookkeeping is still consistent.
        Err(_) => {
            prop_assert!(status.refusal.is_none(), "{}", context);
            prop_assert!(status_after.refusal.is_none(), "{}", context);
        }
        Ok(report) if report.up_to_date => {
            // The boot's one-query check: the version rows prove the applied SQL.
            prop_assert_eq!(&before, &after, "{}", context);
        }
        Ok(_) => {
            let stamp = matches!(cmd, Command::Stamp(_));
            prop_assert!(
                status.refusal.is_none() || (stamp && status.state() == DatabaseState::Dirty),
                "went on over a refused state: {}",
                context
            );
            prop_assert!(
                status_after.refusal.is_none(),
                "left an inconsistent state: {}\nstatus after {:?}",
                context,
                status_after
            );
            if !stamp && consistent_before {
                let mut p = Probe::connect(kind, url).await;
                prop_assert!(
                    schema_matches(&mut p, &status_after).await,
                    "the schema no longer matches the log: {}",
                    context
                );
            }
        }
    }
    Ok(())
}
