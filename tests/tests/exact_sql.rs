//! The SQL that runs is the file's bytes (issue 13, item 1): string literals with trailing
//! spaces and tabs, whitespace-only lines and CRLF line breaks are stored exactly as the
//! file writes them, on every database, whether the table was embedded by the macro or
//! loaded from the directory (by `Migrations::from_history` or the `revchain` tool). Only
//! the checksum reads the normalised text.

use std::path::Path;
use std::process::Command;

use revchain::Migrations;
use revchain_tests::{Kind, TestDb, fixture, load};
use sqlx::Connection;

static EXACT: Migrations = revchain::migrations!("fixtures/exact_bytes");

const FILE: &str = "e1b7e5000001_keep_the_bytes_of_string_literals.sql";

/// The literals of the fixture's `INSERT`s, read from the file's bytes: `(k, v)` pairs.
fn literals_in_the_file() -> Vec<(i64, String)> {
    let text = std::fs::read_to_string(fixture("exact_bytes").join(FILE)).unwrap();
    let mut found = Vec::new();
    for (k, rest) in text.split("VALUES (").skip(1).enumerate() {
        let start = rest.find('\'').unwrap() + 1;
        let len = rest[start..].find("');").unwrap();
        found.push((k as i64 + 1, rest[start..start + len].to_owned()));
    }
    assert!(found[0].1.contains("spaces   \n") && found[0].1.contains("CRLF\r\n"));
    found
}

/// The stored value of row `k`.
async fn stored(db: &TestDb, k: i64) -> String {
    let sql = format!("SELECT v FROM exact_bytes WHERE k = {k}");
    let query = sqlx::AssertSqlSafe(sql);
    match db.kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap()
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap()
        }
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap()
        }
    }
}

async fn assert_stored_as_written(db: &TestDb, how: &str) {
    for (k, expected) in literals_in_the_file() {
        let value = stored(db, k).await;
        assert_eq!(
            value.as_bytes(),
            expected.as_bytes(),
            "{how} on {:?}: row {k} differs from the file",
            db.kind
        );
    }
}

/// Applies the table on a fresh database of `kind` through the runtime.
async fn run_table(kind: Kind, m: &Migrations, how: &str) {
    let db = TestDb::new(kind).await;
    match kind {
        Kind::Postgres => m.run(&db.pool::<sqlx::Postgres>().await).await,
        Kind::MySql => m.run(&db.pool::<sqlx::MySql>().await).await,
        Kind::Sqlite => m.run(&db.pool::<sqlx::Sqlite>().await).await,
    }
    .unwrap_or_else(|e| panic!("{how} on {kind:?}: {e}"));
    assert_stored_as_written(&db, how).await;
}

fn revchain(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("running revchain");
    assert!(
        out.status.success(),
        "revchain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[tokio::test]
async fn embedded_table_stores_literals_byte_for_byte() {
    for kind in Kind::ALL {
        run_table(kind, &EXACT, "the embedded table").await;
    }
}

#[tokio::test]
async fn directory_table_stores_literals_byte_for_byte() {
    let m = load(&fixture("exact_bytes"));
    for kind in Kind::ALL {
        run_table(kind, &m, "Migrations::from_history").await;
    }
}

#[tokio::test]
async fn cli_upgrade_stores_literals_byte_for_byte() {
    let dir = fixture("exact_bytes");
    for kind in Kind::ALL {
        let db = TestDb::new(kind).await;
        revchain(&dir, &["upgrade", "head", "--database-url", &db.url]);
        assert_stored_as_written(&db, "revchain upgrade").await;
    }
}

/// What is embedded, loaded and shown is the file's text; the checksum is still the one
/// of the normalised text, so databases migrated before keep verifying.
#[test]
fn embedded_loaded_and_shown_text_is_the_files() {
    let text = std::fs::read_to_string(fixture("exact_bytes").join(FILE)).unwrap();
    let loaded = load(&fixture("exact_bytes"));
    for m in [&EXACT, &loaded] {
        let rev = m.iter().next().unwrap();
        assert!(text.contains(rev.upgrade_sql()), "{:?}", rev.upgrade_sql());
        assert!(rev.upgrade_sql().contains("spaces   \n"));
        assert!(rev.upgrade_sql().contains("CRLF  \r\n"));
        assert_eq!(rev.upgrade_line(), 8);
        let normalised = revchain_core::parse::checksum_text(rev.upgrade_sql());
        assert!(!normalised.contains('\r') && normalised.contains("spaces\n"));
        assert_eq!(rev.checksum(), revchain::Digest::checksum(&normalised));
    }
    assert_eq!(
        EXACT.iter().next().unwrap().checksum(),
        loaded.iter().next().unwrap().checksum()
    );
    let dir = fixture("exact_bytes");
    let shown = revchain(&dir, &["show", "e1b7e5000001"]);
    assert!(
        shown.contains(EXACT.iter().next().unwrap().upgrade_sql()),
        "{shown:?}"
    );
    let script = revchain(&dir, &["upgrade", "head", "--sql"]);
    assert!(
        script.contains("a trailing tab\t\n   \na CRLF\r\n"),
        "{script:?}"
    );
}
