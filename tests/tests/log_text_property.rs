//! The log rows keep arbitrary text exactly: generated messages and downgrade SQL, with
//! quotes, double quotes, backslashes, braces, commas, the word NULL, whitespace and
//! non-ASCII letters, written by a PostgreSQL group (one array literal per column) and
//! read back equal to the embedded revisions' own.
//!
//! `REVCHAIN_LOG_TEXT_CASES` sets the number of generated pairs (default 64, about a second).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use revchain_tests::{Dir, Kind, TestDb, exec, scalar};
use sqlx::PgPool;

/// Text made of the characters an array or string literal treats specially, and others.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(",".to_owned()),
        Just("NULL".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("é☃🦀".to_owned()),
        "[a-z0-9]{1,6}",
    ];
    proptest::collection::vec(piece, 1..24).prop_map(|p| p.concat())
}

/// A revision file whose message is `message` and whose downgrade selects `literal`.
fn file(id: &str, parent: &str, message: &str, up: &str, literal: &str) -> String {
    format!(
        "-- m {message}\n--\n-- Revision ID: {id}\n-- Revises: {parent}\n\n-- migrate:upgrade\n{up}\n\n-- migrate:downgrade\nSELECT '{}';\n",
        literal.replace('\'', "''")
    )
}

#[test]
fn log_rows_keep_generated_text_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let db = rt.block_on(TestDb::new(Kind::Postgres));
    let pool: PgPool = rt.block_on(db.pool());
    let cases = std::env::var("REVCHAIN_LOG_TEXT_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(text(), text(), text(), text()), |(m1, d1, m2, d2)| {
        rt.block_on(async {
            exec(
                &pool,
                "DROP TABLE IF EXISTS revchain_version, revchain_log, q",
            )
            .await;
            let dir = Dir::new();
            dir.write(
                "q1.sql",
                &file("q1", "", &m1, "CREATE TABLE q (v TEXT);", &d1),
            )
            .write(
                "q2.sql",
                &file("q2", "q1", &m2, "INSERT INTO q VALUES ('x');", &d2),
            );
            let m = dir.load();
            m.run(&pool)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let shared = "SELECT count(DISTINCT applied_at) FROM revchain_log";
            prop_assert_eq!(
                scalar(&pool, shared).await,
                1,
                "one transaction, one insert"
            );
            for id in ["q1", "q2"] {
                let rev = m.get(id).expect("the revision");
                let (message, down): (String, Option<String>) = sqlx::query_as(
                    "SELECT message, downgrade_sql FROM revchain_log WHERE revision = $1",
                )
                .bind(id)
                .fetch_one(&pool)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(message.as_str(), rev.message());
                prop_assert_eq!(down.as_deref(), rev.downgrade_sql());
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
