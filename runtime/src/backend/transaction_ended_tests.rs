//! A transactional revision that ends its own transaction is not recorded (issue 13, item
//! 4): the engines check that the revision's transaction is still open before they write
//! its bookkeeping. The parser and the pre-flight refuse such statements first, so these
//! tests hand the SQL to the engines directly, as a statement the splitter missed would.

use std::time::Duration;

use revchain_core::Direction;
use revchain_core::history::{History, Mode};
use revchain_core::parse::parse_with;
use sqlx::{Connection, Row};

use super::{Backend, Failure};
use crate::bookkeeping::{Tables, Work};
use crate::embedded::Migrations;
use crate::error::Error;

const ENDINGS: [&str; 4] = [
    "INSERT INTO t VALUES (1);\nCOMMIT;\nINSERT INTO t VALUES (2);",
    "INSERT INTO t VALUES (1);\nROLLBACK;",
    "COMMIT;\nBEGIN;\nINSERT INTO t VALUES (2);",
    "END;",
];

/// a1 creates `t`; b2's upgrade is `b2_sql`, put in after parsing.
fn history(b2_sql: &str) -> Migrations {
    let file = |name: &str, text: &str| parse_with(name, text, Mode::Strict).unwrap();
    let a1 = file(
        "a1_rev.sql",
        "-- a1\n-- Revision ID: a1\n-- Revises:\n-- migrate:upgrade\nCREATE TABLE t (id INT);\n",
    );
    let mut b2 = file(
        "b2_rev.sql",
        "-- b2\n-- Revision ID: b2\n-- Revises: a1\n-- migrate:upgrade\nSELECT 1;\n",
    );
    b2.upgrade.sql = b2_sql.to_owned();
    Migrations::from_history(History::from_files(vec![a1, b2]).unwrap(), "hidden")
}

fn works(m: &Migrations) -> Vec<Work<'_>> {
    let (a1, b2) = (m.at(0).unwrap(), m.at(1).unwrap());
    vec![
        Work {
            revision: a1,
            direction: Direction::Upgrade,
            remove_heads: vec![],
            add_heads: vec![(a1.id(), a1.chain_digest())],
            traits: Default::default(),
        },
        Work {
            revision: b2,
            direction: Direction::Upgrade,
            remove_heads: vec![a1.id()],
            add_heads: vec![(b2.id(), b2.chain_digest())],
            traits: Default::default(),
        },
    ]
}

/// Applies a1 and b2 (whose SQL is `sql`) on `conn`: b2 must be refused as having ended
/// its transaction, marked dirty, the version table left at a1, and the connection left
/// outside any transaction.
async fn refused<DB: Backend>(conn: &mut DB::Connection, sql: &str)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let m = history(sql);
    let tables = Tables::default();
    let timeout = Duration::from_secs(5);
    DB::ensure_tables(conn, &tables, timeout).await.unwrap();
    let works = works(&m);
    let result = DB::apply(conn, &tables, &works, &|_, _| {}, timeout, None).await;
    assert!(
        matches!(
            &result,
            Err(Failure::Other(Error::TransactionEnded { id, dirty_marked: true, .. })) if id == "b2"
        ),
        "{sql}: {result:?}"
    );
    let heads: Vec<String> = sqlx::raw_sql(sqlx::AssertSqlSafe(
        "SELECT revision FROM revchain_version".to_owned(),
    ))
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(heads, ["a1"], "{sql}");
    assert!(!conn.is_in_transaction(), "{sql}");
}

#[tokio::test]
async fn a_revision_that_ends_its_transaction_is_not_recorded_on_sqlite() {
    for sql in ENDINGS {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        refused::<sqlx::Sqlite>(&mut conn, sql).await;
    }
}

#[tokio::test]
async fn a_revision_that_ends_its_transaction_is_not_recorded_on_postgres() {
    let server = "postgres://postgres@127.0.0.1:5432";
    for (k, sql) in ENDINGS.iter().enumerate() {
        let name = format!("revchain_ended_{}_{k}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let mut conn = sqlx::PgConnection::connect(&format!("{server}/{name}"))
            .await
            .unwrap();
        refused::<sqlx::Postgres>(&mut conn, sql).await;
        conn.close().await.unwrap();
        let drop = format!("DROP DATABASE {name}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}
