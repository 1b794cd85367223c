//! Issue 13, items 4, 14 and 16: statements a revision may not hold are refused with
//! file:line before anything runs, by `check`, `upgrade` and the runtime, on every database:
//! transaction control in a transactional revision, statements that cannot run inside a
//! transaction block, and the mysql client's `DELIMITER`.

use std::path::Path;
use std::process::{Command, Output};

use revchain::{Direction, Error};
use revchain_tests::{Dir, Kind, TestDb, heads, scalar, table_exists};
use sqlx::{MySql, Postgres, Sqlite};

fn revchain(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,revchain=info")
        .output()
        .expect("running revchain")
}

/// Runs a command that must fail with exit code 1; its stderr.
fn fails(dir: &Path, url: &str, args: &[&str]) -> String {
    let out = revchain(dir, url, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "revchain {args:?}: {stderr}");
    stderr
}

/// A base revision creating `t`, then `b2` whose upgrade holds `statement` at file line 8.
fn history(statement: &str, header: &str) -> Dir {
    let d = Dir::new();
    d.creates_table("a1", "", "t").rev(
        "b2",
        "a1",
        header,
        &format!("INSERT INTO t VALUES (1);\n{statement};\nINSERT INTO t VALUES (2);"),
        Some("DELETE FROM t;"),
    );
    d
}

/// `check` and `upgrade` refuse each statement with `b2_rev.sql:8` and what to do, and the
/// database stays empty: no table, no bookkeeping.
async fn refused_by_check_and_upgrade(kind: Kind, cases: &[(&str, &str)]) {
    let db = TestDb::new(kind).await;
    for (statement, expected) in cases {
        let d = history(statement, "");
        for command in [&["check"][..], &["upgrade", "head"]] {
            let err = fails(d.path(), &db.url, command);
            assert!(
                err.contains(&format!("b2_rev.sql:8: {expected}")),
                "{statement}: {err}"
            );
            assert!(
                err.contains("-- Transactional: false"),
                "{statement}: {err}"
            );
        }
    }
    for table in ["t", "revchain_version"] {
        let exists = match kind {
            Kind::Postgres => table_exists(&db.pool::<Postgres>().await, table).await,
            Kind::MySql => table_exists(&db.pool::<MySql>().await, table).await,
            Kind::Sqlite => table_exists(&db.pool::<Sqlite>().await, table).await,
        };
        assert!(!exists, "{table} was created");
    }
}

const TRANSACTION_CONTROL: [(&str, &str); 8] = [
    ("COMMIT", "`COMMIT` in a transactional revision"),
    ("BEGIN", "`BEGIN` in a transactional revision"),
    ("ROLLBACK", "`ROLLBACK` in a transactional revision"),
    (
        "START TRANSACTION",
        "`START TRANSACTION` in a transactional revision",
    ),
    ("END", "`END` in a transactional revision"),
    ("COMMIT AND CHAIN", "`COMMIT` in a transactional revision"),
    (
        "SET autocommit = 1",
        "`SET autocommit` in a transactional revision",
    ),
    (
        "RELEASE SAVEPOINT s",
        "`RELEASE of a savepoint this revision did not declare` in a transactional revision",
    ),
];

#[tokio::test]
async fn transaction_control_is_refused_on_postgres() {
    refused_by_check_and_upgrade(Kind::Postgres, &TRANSACTION_CONTROL).await;
}

#[tokio::test]
async fn transaction_control_is_refused_on_sqlite() {
    refused_by_check_and_upgrade(Kind::Sqlite, &TRANSACTION_CONTROL).await;
}

#[tokio::test]
async fn transaction_control_is_refused_on_mariadb() {
    refused_by_check_and_upgrade(Kind::MySql, &TRANSACTION_CONTROL).await;
}

#[tokio::test]
async fn statements_outside_transaction_blocks_are_refused_on_postgres() {
    refused_by_check_and_upgrade(
        Kind::Postgres,
        &[
            (
                "CREATE INDEX CONCURRENTLY i ON t (id)",
                "`CREATE INDEX CONCURRENTLY` cannot run inside a transaction block",
            ),
            ("VACUUM t", "`VACUUM` cannot run inside a transaction block"),
        ],
    )
    .await;
}

/// With `Transactional: false`, the same statements run (here on PostgreSQL, where the
/// index is built concurrently and the revision is recorded).
#[tokio::test]
async fn non_transactional_revisions_may_hold_them() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool = db.pool::<Postgres>().await;
    let d = history(
        "CREATE INDEX CONCURRENTLY i ON t (id)",
        "-- Transactional: false",
    );
    let m = d.load();
    m.run(&pool).await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'i'"
        )
        .await,
        1
    );
}

/// A statement that only the database's own lexical rules expose (the parser's generic
/// rules read it as part of a string) is refused by the runtime before anything runs.
async fn refused_at_run_time<DB: revchain::Backend + revchain_tests::Db>(
    db: &TestDb,
    hidden: &str,
) {
    let pool = db.pool::<DB>().await;
    let d = Dir::new();
    d.creates_table("a1", "", "t").rev(
        "b2",
        "a1",
        "",
        &format!("INSERT INTO t VALUES (1);\n{hidden}"),
        Some("DELETE FROM t;"),
    );
    let m = d.load();
    let err = m.run(&pool).await.unwrap_err();
    match &err {
        Error::Refused {
            id,
            line,
            direction: Direction::Upgrade,
            ..
        } => assert_eq!((id.as_str(), *line), ("b2", 9), "{err}"),
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("b2_rev.sql:9: upgrade of revision b2 refused: `COMMIT`"),
        "{text}"
    );
    assert!(!table_exists(&pool, "t").await, "nothing may run: {text}");
    assert!(heads(&m, &pool).await.is_empty());
}

#[tokio::test]
async fn dialect_only_transaction_control_is_refused_at_run_time_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    refused_at_run_time::<Postgres>(&db, "SELECT E'x\\'';\nCOMMIT;\nSELECT '';").await;
}

#[tokio::test]
async fn dialect_only_transaction_control_is_refused_at_run_time_on_mariadb() {
    let db = TestDb::new(Kind::MySql).await;
    refused_at_run_time::<MySql>(&db, "SELECT 'x\\'';\nCOMMIT;\nSELECT '';").await;
}

#[tokio::test]
async fn dialect_only_transaction_control_is_refused_at_run_time_on_sqlite() {
    let db = TestDb::new(Kind::Sqlite).await;
    refused_at_run_time::<Sqlite>(&db, "SELECT [x'];\nCOMMIT;\nSELECT '[';").await;
}

/// Item 16: `DELIMITER` is refused by `check` with file:line and the rewrite, and the
/// rewrite it asks for (plain `;`, the body kept whole by the splitter) runs on MariaDB.
#[tokio::test]
async fn delimiter_is_refused_and_its_rewrite_runs_on_mariadb() {
    let db = TestDb::new(Kind::MySql).await;
    let d = Dir::new();
    let routine = |end: &str| {
        format!(
            "CREATE PROCEDURE p(OUT n INT)\nBEGIN\n  DECLARE end INT DEFAULT 1;\n  IF end = 1 THEN SET n = 41 + end; END IF;\nEND{end}"
        )
    };
    d.rev(
        "a1",
        "",
        "-- Transactional: false",
        &format!("DELIMITER //\n{}\nDELIMITER ;", routine(" //")),
        Some("DROP PROCEDURE p;"),
    );
    for command in [&["check"][..], &["upgrade", "head"]] {
        let err = fails(d.path(), &db.url, command);
        assert!(
            err.contains("a1_rev.sql:7: `DELIMITER` is a command of the mysql client"),
            "{err}"
        );
        assert!(err.contains("end every statement with `;`"), "{err}");
    }
    let pool = db.pool::<MySql>().await;
    assert!(!table_exists(&pool, "revchain_version").await);

    d.rev(
        "a1",
        "",
        "",
        &format!("{};\nSELECT 1;", routine("")),
        Some("DROP PROCEDURE p;"),
    );
    let m = d.load();
    m.run(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql("CALL p(@n)")
        .execute(&mut *conn)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT CAST(@n AS SIGNED)")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(n, 42);
}
