//! Rolling back with an older binary (docs/design.md §4.13): a binary that knows a1 and a2
//! downgrades a database that a newer one brought to a4, reverting a4 and a3 from the
//! downgrade SQL the log stored when each was applied.

use std::path::Path;
use std::process::Command;

use revchain::Migrations;
use revchain_tests::{Db, Dir, Kind, TestDb, exec, heads, scalar, table_exists};
use sqlx::Pool;

/// a1 creates t1, a2 creates t2; the new revisions: a3 adds column c3 to t2 and creates t3
/// (two statements each way, a literal with a quote, a semicolon and a backslash), a4
/// creates t4. `a3_down` `None` makes a3 irreversible.
fn dirs(a3_down: Option<&str>) -> (Dir, Dir) {
    let new = Dir::new();
    let old = Dir::new();
    for d in [&new, &old] {
        d.creates_table("a1", "", "t1")
            .creates_table("a2", "a1", "t2");
    }
    new.rev(
        "a3",
        "a2",
        "",
        "ALTER TABLE t2 ADD COLUMN c3 INT;\nCREATE TABLE t3 (v VARCHAR(40));\nINSERT INTO t3 VALUES ('it''s; a \\ b');",
        a3_down,
    )
    .creates_table("a4", "a3", "t4");
    (new, old)
}

const A3_DOWN: &str =
    "DELETE FROM t3 WHERE v = 'it''s; a \\ b';\nDROP TABLE t3;\nALTER TABLE t2 DROP COLUMN c3;";

async fn column_exists<DB: Db>(pool: &Pool<DB>, table: &str, column: &str) -> bool {
    let sql = match DB::KIND {
        Kind::Sqlite => {
            format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'")
        }
        Kind::Postgres => format!(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
        ),
        Kind::MySql => format!(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}' AND column_name = '{column}'"
        ),
    };
    scalar(pool, &sql).await == 1
}

fn ids(report: &revchain::Report) -> Vec<&str> {
    report.steps.iter().map(|s| s.id.as_str()).collect()
}

async fn old_binary_reverts<DB: Db>(kind: Kind) {
    let db = TestDb::new(kind).await;
    let pool: Pool<DB> = db.pool().await;
    let (new, old) = dirs(Some(A3_DOWN));
    let (new, old): (Migrations, Migrations) = (new.load(), old.load());
    new.run(&pool).await.unwrap();
    assert!(column_exists(&pool, "t2", "c3").await && table_exists(&pool, "t4").await);
    // A target this binary does not know is refused before anything runs.
    let err = old.downgrade(&pool, "a3").await.unwrap_err();
    assert!(matches!(err, revchain::Error::Target(_)), "{err}");
    assert!(table_exists(&pool, "t4").await);
    assert_eq!(heads(&new, &pool).await, ["a4"]);
    // The binary that knows a1 and a2 refuses nothing it can revert.
    let report = old.downgrade(&pool, "a2").await.unwrap();
    assert_eq!(ids(&report), ["a4", "a3"]);
    assert_eq!(
        (
            report.heads_before.as_slice(),
            report.heads_after.as_slice()
        ),
        (&["a4".to_owned()][..], &["a2".to_owned()][..])
    );
    assert!(!table_exists(&pool, "t4").await);
    assert!(!table_exists(&pool, "t3").await);
    assert!(!column_exists(&pool, "t2", "c3").await);
    assert!(table_exists(&pool, "t2").await);
    assert_eq!(heads(&old, &pool).await, ["a2"]);
    let status = old.run(&pool).await.unwrap();
    assert!(!status.changed() && !status.database_ahead, "{status:?}");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 2);
    // Again, down to a1: a4 and a3 from storage, then a2 from the old binary's own file.
    new.run(&pool).await.unwrap();
    let report = old.downgrade(&pool, "a1").await.unwrap();
    assert_eq!(ids(&report), ["a4", "a3", "a2"]);
    assert_eq!(report.heads_before, ["a4"]);
    assert_eq!(report.heads_after, ["a1"]);
    assert!(!table_exists(&pool, "t2").await && table_exists(&pool, "t1").await);
    assert_eq!(heads(&old, &pool).await, ["a1"]);
    // The new binary applies them again from there.
    new.run(&pool).await.unwrap();
    assert_eq!(heads(&new, &pool).await, ["a4"]);
}

#[tokio::test]
async fn old_binary_reverts_newer_revisions_on_postgres() {
    old_binary_reverts::<sqlx::Postgres>(Kind::Postgres).await;
}

#[tokio::test]
async fn old_binary_reverts_newer_revisions_on_mariadb() {
    old_binary_reverts::<sqlx::MySql>(Kind::MySql).await;
}

#[tokio::test]
async fn old_binary_reverts_newer_revisions_on_sqlite() {
    old_binary_reverts::<sqlx::Sqlite>(Kind::Sqlite).await;
}

async fn refused<DB: Db>(kind: Kind, a3_down: Option<&str>, tamper: Option<&str>, expect: &[&str]) {
    let db = TestDb::new(kind).await;
    let pool: Pool<DB> = db.pool().await;
    let (new, old) = dirs(a3_down);
    let (new, old) = (new.load(), old.load());
    new.run(&pool).await.unwrap();
    if let Some(sql) = tamper {
        exec(&pool, sql).await;
    }
    let err = old.downgrade(&pool, "a2").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, revchain::Error::Unrevertable(_)), "{text}");
    for part in expect {
        assert!(text.contains(part), "{part} not in: {text}");
    }
    // Nothing changed.
    assert!(table_exists(&pool, "t4").await && table_exists(&pool, "t3").await);
    assert_eq!(heads(&new, &pool).await, ["a4"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 4);
}

const TAMPER: &str =
    "UPDATE revchain_log SET downgrade_sql = 'DROP TABLE t1' WHERE revision = 'a3'";

#[tokio::test]
async fn a_tampered_stored_downgrade_is_refused() {
    let expect = ["a3: the stored downgrade SQL does not match its stored checksum"];
    refused::<sqlx::Postgres>(Kind::Postgres, Some(A3_DOWN), Some(TAMPER), &expect).await;
    refused::<sqlx::MySql>(Kind::MySql, Some(A3_DOWN), Some(TAMPER), &expect).await;
    refused::<sqlx::Sqlite>(Kind::Sqlite, Some(A3_DOWN), Some(TAMPER), &expect).await;
}

#[tokio::test]
async fn an_irreversible_newer_revision_is_refused() {
    let expect = ["a3: no downgrade SQL stored"];
    refused::<sqlx::Postgres>(Kind::Postgres, None, None, &expect).await;
    refused::<sqlx::MySql>(Kind::MySql, None, None, &expect).await;
    refused::<sqlx::Sqlite>(Kind::Sqlite, None, None, &expect).await;
}

/// A log table from before the stored-downgrade columns: the columns dropped after a4 was
/// applied. A locked run of the new binary adds them back, empty for the rows before; the
/// old binary then refuses to revert those rows, naming each.
async fn log_table_from_before<DB: Db>(kind: Kind) {
    let db = TestDb::new(kind).await;
    let pool: Pool<DB> = db.pool().await;
    let (new, old) = dirs(Some(A3_DOWN));
    let (new, old) = (new.load(), old.load());
    new.run(&pool).await.unwrap();
    for column in [
        "downgrade_sql",
        "downgrade_checksum",
        "revises",
        "transactional",
    ] {
        exec(
            &pool,
            &format!("ALTER TABLE revchain_log DROP COLUMN {column}"),
        )
        .await;
        assert!(!column_exists(&pool, "revchain_log", column).await);
    }
    // A locked run (not the boot fast path) adds them; twice changes nothing.
    for _ in 0..2 {
        new.upgrade(&pool, "heads").await.unwrap();
    }
    for column in [
        "downgrade_sql",
        "downgrade_checksum",
        "revises",
        "transactional",
    ] {
        assert!(
            column_exists(&pool, "revchain_log", column).await,
            "{column}"
        );
    }
    let nulls = "SELECT count(*) FROM revchain_log WHERE downgrade_sql IS NULL AND revises IS NULL";
    assert_eq!(scalar(&pool, nulls).await, 4);
    let err = old.downgrade(&pool, "a2").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("a3: applied before revchain stored downgrades"),
        "{text}"
    );
    assert!(
        text.contains("a4: applied before revchain stored downgrades"),
        "{text}"
    );
    assert!(table_exists(&pool, "t4").await);
    // Rows written after the columns exist store their downgrade: the new binary downgrades
    // to a2 and applies again, and then the old binary can revert.
    new.downgrade(&pool, "a2").await.unwrap();
    new.run(&pool).await.unwrap();
    let report = old.downgrade(&pool, "a2").await.unwrap();
    assert_eq!(ids(&report), ["a4", "a3"]);
}

#[tokio::test]
async fn a_log_table_from_before_gets_the_columns_on_postgres() {
    log_table_from_before::<sqlx::Postgres>(Kind::Postgres).await;
}

#[tokio::test]
async fn a_log_table_from_before_gets_the_columns_on_mariadb() {
    log_table_from_before::<sqlx::MySql>(Kind::MySql).await;
}

#[tokio::test]
async fn a_log_table_from_before_gets_the_columns_on_sqlite() {
    log_table_from_before::<sqlx::Sqlite>(Kind::Sqlite).await;
}

fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,revchain=info")
        .output()
        .expect("running revchain")
}

#[tokio::test]
async fn the_cli_of_the_old_binary_reverts_and_names_each() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let db = TestDb::new(kind).await;
        let (new, old) = dirs(Some(A3_DOWN));
        let up = cli(new.path(), &["upgrade", "head", "--database-url", &db.url]);
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let out = cli(old.path(), &["downgrade", "a2", "--database-url", &db.url]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stderr}");
        let all = format!("{stdout}{stderr}");
        for id in ["a4", "a3"] {
            let line = format!(
                "reverting {id} (not in this binary) from the SQL it stored when it was applied"
            );
            assert!(all.contains(&line), "{line} not in:\n{all}");
        }
        let current = cli(old.path(), &["current", "--database-url", &db.url]);
        assert_eq!(String::from_utf8_lossy(&current.stdout), "a2 (head)\n");
        // The old binary's own refusal when a revert is impossible: by name, exit 1.
        let up = cli(new.path(), &["upgrade", "head", "--database-url", &db.url]);
        assert!(up.status.success());
        match kind {
            Kind::Postgres => exec(&db.pool::<sqlx::Postgres>().await, TAMPER).await,
            _ => exec(&db.pool::<sqlx::MySql>().await, TAMPER).await,
        }
        let out = cli(old.path(), &["downgrade", "a2", "--database-url", &db.url]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("a3: the stored downgrade SQL does not match"),
            "{stderr}"
        );
    }
}

/// A newer `Transactional: false` revision (PostgreSQL's `DROP INDEX CONCURRENTLY`, which
/// cannot run in a transaction) is reverted outside one, as its stored column says.
#[tokio::test]
async fn a_non_transactional_newer_revision_is_reverted_outside_a_transaction() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: Pool<sqlx::Postgres> = db.pool().await;
    let (new, old) = dirs(Some(A3_DOWN));
    new.rev(
        "a5",
        "a4",
        "-- Transactional: false",
        "CREATE INDEX CONCURRENTLY i5 ON t4 (id);",
        Some("DROP INDEX CONCURRENTLY i5;"),
    );
    let (new, old) = (new.load(), old.load());
    new.run(&pool).await.unwrap();
    let flag = "SELECT count(*) FROM revchain_log WHERE revision = 'a5' AND NOT transactional";
    assert_eq!(scalar(&pool, flag).await, 1);
    let report = old.downgrade(&pool, "a2").await.unwrap();
    assert_eq!(ids(&report), ["a5", "a4", "a3"]);
    assert!(!table_exists(&pool, "t4").await);
    assert_eq!(heads(&old, &pool).await, ["a2"]);
}

/// The CLI compiled into an application (`embedded-cli`, over `migrations!` on
/// fixtures/portable) reverts a revision a newer release added above its head.
#[tokio::test]
async fn the_embedded_cli_of_the_old_binary_reverts() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: Pool<sqlx::Postgres> = db.pool().await;
    let portable = revchain_tests::fixture("portable");
    let old = revchain_tests::load(&portable);
    let head = old.heads().next().unwrap().id().to_owned();
    let new = Dir::new();
    for entry in std::fs::read_dir(&portable).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sql") {
            std::fs::copy(&path, new.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    new.creates_table("ff00000000a9", &head, "newer_release");
    new.load().run(&pool).await.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_embedded-cli"))
        .args(["downgrade", &head, "--database-url", &db.url])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,revchain=info")
        .output()
        .expect("running the embedded CLI");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("reverting ff00000000a9 (not in this binary) from the SQL it stored"),
        "{stderr}"
    );
    assert!(!table_exists(&pool, "newer_release").await);
    assert_eq!(heads(&old, &pool).await, [head]);
}

/// The log rows keep every character of what they record, in whichever form the
/// bookkeeping writes them (on PostgreSQL, the revisions of a transaction write theirs as
/// one array literal per column): a message and a stored downgrade with quotes, double
/// quotes, braces, commas, backslashes, the word NULL and non-ASCII letters.
async fn log_rows_keep_every_character<DB: Db>(kind: Kind) {
    use revchain_core::lex::quote_literal;
    let db = TestDb::new(kind).await;
    let pool: Pool<DB> = db.pool().await;
    let message = r#"it's "quoted", {braced} back\slash \" NULL ünï"#;
    let down = r#"DELETE FROM q WHERE v = '{a,"b"} \ NULL';"#;
    let dir = Dir::new();
    dir.write(
        "q1_rev.sql",
        &format!(
            "-- {message}\n--\n-- Revision ID: q1\n-- Revises: \n\n-- migrate:upgrade\nCREATE TABLE q (v VARCHAR(40));\n\n-- migrate:downgrade\n{down}\n"
        ),
    )
    .rev("q2", "q1", "", "INSERT INTO q VALUES ('x');", None)
    .creates_table("q3", "q2", "q3t");
    let report = dir.load().run(&pool).await.unwrap();
    assert_eq!(ids(&report), ["q1", "q2", "q3"]);
    let d = kind.dialect();
    if kind == Kind::Postgres {
        // The three shared one transaction: their rows were written by one insert.
        let transactions = "SELECT count(DISTINCT applied_at) FROM revchain_log";
        assert_eq!(scalar(&pool, transactions).await, 1);
    }
    let kept = format!(
        "SELECT count(*) FROM revchain_log WHERE revision = 'q1' AND message = {} AND downgrade_sql = {} AND downgrade_checksum = '{}' AND revises = '' AND phase = 'expand' AND dirty = {f} AND stamped = {f}",
        quote_literal(d, message),
        quote_literal(d, down),
        revchain_core::applied::unknown::downgrade_checksum(down),
        f = if kind == Kind::Postgres { "FALSE" } else { "0" },
    );
    assert_eq!(scalar(&pool, &kept).await, 1, "{kept}");
    let irreversible = "SELECT count(*) FROM revchain_log WHERE revision = 'q2' AND downgrade_sql IS NULL AND downgrade_checksum IS NULL AND revises = 'q1'";
    assert_eq!(scalar(&pool, irreversible).await, 1);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log WHERE revision = 'q3' AND downgrade_sql = 'DROP TABLE q3t;'").await, 1);
}

#[tokio::test]
async fn log_rows_keep_every_character_on_postgres() {
    log_rows_keep_every_character::<sqlx::Postgres>(Kind::Postgres).await;
}

#[tokio::test]
async fn log_rows_keep_every_character_on_mariadb() {
    log_rows_keep_every_character::<sqlx::MySql>(Kind::MySql).await;
}

#[tokio::test]
async fn log_rows_keep_every_character_on_sqlite() {
    log_rows_keep_every_character::<sqlx::Sqlite>(Kind::Sqlite).await;
}
