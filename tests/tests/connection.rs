//! Migrating through a connection the caller holds (`&mut PgConnection`, …), as sqlx's
//! `Migrator::run_direct` does, on each database: the same runs as on a pool, the lock
//! released and no transaction left open afterwards. Inside the caller's transaction on
//! PostgreSQL and SQLite, where the caller's commit or rollback decides; refused on
//! MariaDB, whose DDL commits. And what a failed step's error carries: the driver's
//! error as its `source()` (with its SQLSTATE) and the report of what ran before it.

use std::error::Error as _;
use std::time::Duration;

use revchain::{Aftermath, Error, Migrator, PoolOrConnection};
use revchain_tests::scenarios::duplicate_key_history;
use revchain_tests::{Db, Dir, Kind, TestDb, exec, heads, table_exists};
use sqlx::{Connection, MySql, Pool, Postgres, Sqlite};

/// The database's code for b2's duplicate key (see [`duplicate_key_history`]).
fn duplicate_code(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "23505",
        Kind::MySql => "23000",
        Kind::Sqlite => "1555",
    }
}

/// Upgrade, failure, fix, downgrade, stamp, status and current, all on one connection of
/// the caller's; a pool's run afterwards finds the lock free.
async fn runs_on_a_connection<DB: Db>()
where
    for<'c> &'c mut DB::Connection: PoolOrConnection,
{
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    let mut conn = DB::Connection::connect(&db.url).await.unwrap();
    let dir = Dir::new();
    duplicate_key_history(&dir);
    let m = dir.load();

    let err = m.run(&mut conn).await.unwrap_err();
    let Error::Statement { step, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((step.id.as_str(), step.line), ("b2", 9), "{err}");
    let steps: Vec<&str> = step
        .applied_before
        .steps
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(steps, ["a1"], "{err}");
    assert_eq!(step.applied_before.heads_before, Vec::<String>::new());
    assert_eq!(err.applied_before(), Some(&step.applied_before));
    // The driver's error is the source, with its SQLSTATE.
    let source = err.source().expect("a statement failure has a source");
    let driver = source
        .downcast_ref::<sqlx::Error>()
        .expect("the source is the sqlx error");
    let code = driver.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some(duplicate_code(DB::KIND)), "{driver}");

    // The connection is the caller's again: usable, and outside any transaction.
    assert!(!conn.is_in_transaction());
    conn.ping().await.unwrap();

    dir.rev(
        "b2",
        "a1",
        "",
        "INSERT INTO t VALUES (1);\nCREATE TABLE u (id INT);\nINSERT INTO t VALUES (2);\nCREATE TABLE v (id INT);",
        Some("DROP TABLE v; DROP TABLE u; DELETE FROM t;"),
    );
    let m = dir.load();
    if DB::KIND == Kind::MySql {
        // MariaDB's DDL committed part of b2: record the truth as the error says.
        m.stamp(&mut conn, &["a1"], true).await.unwrap();
        exec(&pool, "DROP TABLE IF EXISTS u; DELETE FROM t").await;
    }
    let report = m.run(&mut conn).await.unwrap();
    assert!(report.changed());
    assert_eq!(report.heads_after, ["c3"]);
    assert_eq!(
        m.current(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect::<Vec<_>>(),
        ["c3"]
    );
    assert!(m.status(&mut conn).await.unwrap().is_up_to_date());

    let down = m.downgrade(&mut conn, "a1").await.unwrap();
    assert_eq!(down.heads_after, ["a1"]);
    let stamped = m.stamp(&mut conn, &["c3"], false).await.unwrap();
    assert_eq!(stamped.heads_after, ["c3"]);
    m.stamp(&mut conn, &["a1"], false).await.unwrap();
    m.upgrade(&mut conn, "heads").await.unwrap();

    // The lock was released: a pool's run does not wait for it.
    Migrator::new(&m)
        .lock_timeout(Duration::from_secs(2))
        .downgrade(&pool, "base")
        .await
        .unwrap();
    assert!(heads(&m, &pool).await.is_empty());
    conn.close().await.unwrap();
}

/// Inside the caller's transaction (PostgreSQL, SQLite): everything runs in it, and its
/// rollback or commit decides for all of it; a failed revision leaves the transaction to
/// roll back; a `Transactional: false` revision is refused.
async fn runs_inside_a_transaction<DB: Db>()
where
    for<'c> &'c mut DB::Connection: PoolOrConnection,
{
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    let mut conn = DB::Connection::connect(&db.url).await.unwrap();
    let dir = Dir::new();
    dir.creates_table("a1", "", "w")
        .creates_table("b2", "a1", "x");
    let m = dir.load();

    // Rolled back: nothing stays, revchain's tables included.
    let mut tx = conn.begin().await.unwrap();
    let report = m.run(&mut *tx).await.unwrap();
    let steps: Vec<&str> = report.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(steps, ["a1", "b2"]);
    assert_eq!(report.heads_after, ["b2"]);
    assert_eq!(m.status(&mut *tx).await.unwrap().heads, ["b2"]);
    if DB::KIND == Kind::Postgres {
        // The transaction holds the migration lock until it ends.
        let err = Migrator::new(&m)
            .lock_timeout(Duration::from_millis(300))
            .run(&pool)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");
    }
    tx.rollback().await.unwrap();
    assert!(!table_exists(&pool, "revchain_version").await);
    assert!(!table_exists(&pool, "w").await);

    // Committed: all of it stays.
    let mut tx = conn.begin().await.unwrap();
    m.upgrade(&mut *tx, "heads").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert!(table_exists(&pool, "x").await);

    // A stamp and a downgrade, rolled back: the committed state stays.
    let mut tx = conn.begin().await.unwrap();
    let stamped = m.stamp(&mut *tx, &["a1"], false).await.unwrap();
    assert_eq!(stamped.unstamped, ["b2"]);
    m.stamp(&mut *tx, &["heads"], false).await.unwrap();
    m.downgrade(&mut *tx, "base").await.unwrap();
    assert!(m.current(&mut *tx).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert!(table_exists(&pool, "x").await);

    // A failed revision: the caller rolls back, and the database is as it was.
    dir.rev(
        "c3",
        "b2",
        "",
        "CREATE TABLE y (id INT);\nINSERT INTO nope VALUES (1);",
        None,
    );
    let m = dir.load();
    let mut tx = conn.begin().await.unwrap();
    let err = m.run(&mut *tx).await.unwrap_err();
    let Error::Statement { step, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(step.id, "c3");
    assert_eq!(step.aftermath, Aftermath::InCallersTransaction);
    assert!(step.applied_before.steps.is_empty(), "{err}");
    assert!(
        err.to_string().contains("roll the transaction back"),
        "{err}"
    );
    tx.rollback().await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert!(!table_exists(&pool, "y").await);

    // A revision that must run outside a transaction is refused inside one.
    dir.rev(
        "c3",
        "b2",
        "-- Transactional: false",
        "CREATE TABLE y (id INT);",
        None,
    );
    let m = dir.load();
    let mut tx = conn.begin().await.unwrap();
    let err = m.run(&mut *tx).await.unwrap_err();
    assert!(
        matches!(&err, Error::Refused { id, .. } if id == "c3"),
        "{err:?}"
    );
    tx.rollback().await.unwrap();
    assert!(!table_exists(&pool, "y").await);
}

/// MySQL/MariaDB refuse a connection inside a transaction (their DDL commits implicitly),
/// and nothing is written.
#[tokio::test]
async fn mysql_refuses_a_transaction() {
    let db = TestDb::new(Kind::MySql).await;
    let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    let dir = Dir::new();
    dir.creates_table("a1", "", "w");
    let m = dir.load();
    let mut tx = conn.begin().await.unwrap();
    let err = m.run(&mut *tx).await.unwrap_err();
    assert!(matches!(err, Error::InTransaction), "{err:?}");
    assert!(
        err.to_string().contains("inside a transaction") && err.applied_before().is_none(),
        "{err}"
    );
    tx.rollback().await.unwrap();
    let pool: Pool<MySql> = db.pool().await;
    assert!(!table_exists(&pool, "revchain_version").await);
    assert!(!table_exists(&pool, "w").await);
}

#[tokio::test]
async fn postgres_runs_on_a_connection() {
    runs_on_a_connection::<Postgres>().await;
}

#[tokio::test]
async fn sqlite_runs_on_a_connection() {
    runs_on_a_connection::<Sqlite>().await;
}

#[tokio::test]
async fn mysql_runs_on_a_connection() {
    runs_on_a_connection::<MySql>().await;
}

#[tokio::test]
async fn postgres_runs_inside_a_transaction() {
    runs_inside_a_transaction::<Postgres>().await;
}

#[tokio::test]
async fn sqlite_runs_inside_a_transaction() {
    runs_inside_a_transaction::<Sqlite>().await;
}
