//! `revchain status`: one line per revision with its state (applied, pending, edited,
//! missing, dirty), when it was applied and how long it took, and `check`'s exit codes, on
//! PostgreSQL, MariaDB and SQLite.

use std::path::Path;
use std::process::Command;

use revchain::cli::{CHECK_AHEAD, CHECK_BEHIND, CHECK_REFUSED};
use revchain_tests::{Kind, TestDb, tests_dir};
use serde_json::Value;

const DIR_CLI: &str = env!("CARGO_BIN_EXE_revchain-cli");

/// `status` on `dir` and `db`, as text or JSON: the exit code and stdout.
fn status(dir: &Path, db: &TestDb, json: bool) -> (i32, String) {
    let mut cmd = Command::new(DIR_CLI);
    cmd.arg("--dir")
        .arg(dir)
        .args(["status", "--database-url", &db.url]);
    if json {
        cmd.args(["--format", "json"]);
    }
    let out = cmd
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .expect("running revchain");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `(id, state)` of every line of `status --format json`, and the document.
fn states(dir: &Path, db: &TestDb, code: u8) -> (Vec<(String, String)>, Value) {
    let (got, out) = status(dir, db, true);
    assert_eq!(got, i32::from(code), "{:?}: {out}", db.kind);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let lines = doc["revisions"].as_array().expect("revisions").iter();
    let lines = lines.map(|r| {
        (
            r["id"].as_str().unwrap_or_default().to_owned(),
            r["state"].as_str().unwrap_or_default().to_owned(),
        )
    });
    (lines.collect(), doc)
}

fn upgrade(dir: &Path, db: &TestDb) {
    let out = Command::new(DIR_CLI)
        .arg("--dir")
        .arg(dir)
        .args(["upgrade", "head", "--database-url", &db.url])
        .env("RUST_LOG", "error")
        .output()
        .expect("running revchain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn execute(db: &TestDb, sql: &str) {
    let done = match db.kind {
        Kind::Postgres => (sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&db.pool::<sqlx::Postgres>().await))
        .await
        .map(|_| ()),
        Kind::MySql => (sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&db.pool::<sqlx::MySql>().await))
        .await
        .map(|_| ()),
        Kind::Sqlite => (sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&db.pool::<sqlx::Sqlite>().await))
        .await
        .map(|_| ()),
    };
    done.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A copy of tests/fixtures/portable, to edit and delete files in.
fn portable_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let source = tests_dir().join("fixtures/portable");
    for entry in std::fs::read_dir(&source).expect("the fixture") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "sql") {
            std::fs::copy(&path, dir.path().join(path.file_name().expect("a name")))
                .expect("copying");
        }
    }
    dir
}

const FIRST: &str = "a1b2c3d4e5f6";
const MERGED: &str = "c3d4e5f6a7b8";
const LAST: &str = "b8c9d0e1f2a3";

fn all(states: &[(String, String)], state: &str) -> bool {
    states.iter().all(|(_, s)| s == state)
}

fn state_of<'s>(states: &'s [(String, String)], id: &str) -> &'s str {
    (states.iter().find(|(i, _)| i == id)).map_or("", |(_, s)| s.as_str())
}

async fn every_state(kind: Kind) {
    let db = TestDb::new(kind).await;
    let copy = portable_copy();
    let dir = copy.path();

    let (lines, doc) = states(dir, &db, CHECK_BEHIND);
    assert_eq!(lines.len(), 8, "{doc}");
    assert!(all(&lines, "pending"), "{doc}");
    assert!(doc["revisions"][0]["applied_at"].is_null(), "{doc}");

    upgrade(dir, &db);
    let (lines, doc) = states(dir, &db, 0);
    assert!(all(&lines, "applied"), "{doc}");
    assert_eq!(lines[0].0, FIRST, "in table order: {doc}");
    for r in doc["revisions"].as_array().expect("revisions") {
        let at = r["applied_at"].as_str().unwrap_or_default();
        assert!(
            at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
            "{kind:?}: applied_at `{at}`"
        );
        assert!(r["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{r}");
    }
    let (code, text) = status(dir, &db, false);
    assert_eq!(code, 0, "{text}");
    let table: Vec<&str> = text.lines().take(9).collect();
    let column = |line: &str| line.find("applied").or_else(|| line.find("STATE"));
    let at = column(table[0]);
    assert!(
        table.iter().all(|l| column(l) == at),
        "columns not aligned:\n{text}"
    );
    assert!(text.contains("The database is up to date"), "{text}");

    // Edited: the first revision's upgrade section changed after it ran.
    let first = dir.join("a1b2c3d4e5f6_create_users.sql");
    let original = std::fs::read_to_string(&first).expect("the file");
    let edited = original.replace("-- migrate:upgrade\n", "-- migrate:upgrade\nSELECT 1;\n");
    assert_ne!(edited, original);
    std::fs::write(&first, &edited).expect("editing");
    let (lines, doc) = states(dir, &db, CHECK_REFUSED);
    assert_eq!(state_of(&lines, FIRST), "edited", "{doc}");
    assert_eq!(doc["database"]["state"], "edited", "{doc}");
    std::fs::write(&first, &original).expect("restoring");

    // Dirty: a run stopped part-way through a revision.
    let mark = |on: bool| {
        format!(
            "UPDATE revchain_log SET dirty = {} WHERE revision = '{MERGED}'",
            if on { "TRUE" } else { "FALSE" }
        )
    };
    execute(&db, &mark(true)).await;
    let (lines, doc) = states(dir, &db, CHECK_REFUSED);
    assert_eq!(state_of(&lines, MERGED), "dirty", "{doc}");
    assert_eq!(state_of(&lines, FIRST), "applied", "{doc}");
    execute(&db, &mark(false)).await;
    states(dir, &db, 0);

    // Missing: the head's file is gone; the database is ahead of the directory.
    let last = std::fs::read_dir(dir)
        .expect("the copy")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(LAST))
        .expect("the last revision's file");
    std::fs::remove_file(last.path()).expect("deleting");
    let (lines, doc) = states(dir, &db, CHECK_AHEAD);
    assert_eq!(lines.len(), 8, "{doc}");
    assert_eq!(lines.last().map(|l| l.0.as_str()), Some(LAST), "{doc}");
    assert_eq!(state_of(&lines, LAST), "missing", "{doc}");
    assert!(doc["revisions"][7]["message"].is_null(), "{doc}");
}

#[tokio::test]
async fn status_on_postgres() {
    every_state(Kind::Postgres).await;
}

#[tokio::test]
async fn status_on_mariadb() {
    every_state(Kind::MySql).await;
}

#[tokio::test]
async fn status_on_sqlite() {
    every_state(Kind::Sqlite).await;
}
