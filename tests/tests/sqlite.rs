//! The runtime against SQLite files: non-transactional revisions, the per-revision write
//! lock, concurrency across pools (also in WAL mode), and the shared scenarios of
//! `revchain_tests::scenarios`.

use std::str::FromStr;
use std::time::Duration;

use revchain::{Aftermath, Direction, Error, Migrator};
use revchain_tests::scenarios::{self, assert_statement_failed};
use revchain_tests::{Dir, Kind, TestDb, fixture, heads, load, scalar, table_exists};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, Sqlite, SqliteConnection, SqlitePool};

#[tokio::test]
async fn portable_fixture_up_down_stamp_and_back() {
    scenarios::portable_fixture_up_down_stamp_and_back::<Sqlite>().await;
}

#[tokio::test]
async fn failing_statement_leaves_previous_revision_state() {
    scenarios::failing_statement_leaves_previous_revision_state::<Sqlite>().await;
}

#[tokio::test]
async fn non_transactional_revisions_use_the_dirty_protocol() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT PRIMARY KEY);",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "-- Transactional: false",
        "VACUUM;\nPRAGMA user_version = 7;",
        Some("PRAGMA user_version = 0;"),
    )
    .rev(
        "c3",
        "b2",
        "-- Transactional: false",
        "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1);",
        Some("DELETE FROM t;"),
    )
    .creates_table("d4", "c3", "w");
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_statement_failed(&err, "c3", 8, Aftermath::Dirty);
    // VACUUM ran outside a transaction; the first INSERT of c3 stays.
    assert_eq!(scalar(&pool, "PRAGMA user_version").await, 7);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 1);
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert_eq!(m.status(&pool).await.unwrap().dirty, ["c3"]);

    // Without a session lock the mark might be a run in progress elsewhere: it is waited
    // for, up to the lock timeout, then refused.
    let started = std::time::Instant::now();
    let err = Migrator::new(&m)
        .lock_timeout(Duration::from_millis(300))
        .run(&pool)
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        matches!(&err, Error::Dirty { id, direction: Direction::Upgrade, .. } if id == "c3"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("c3_rev.sql") && text.contains("`revchain stamp c3`"),
        "{text}"
    );
    assert!(!table_exists(&pool, "w").await);

    // The first INSERT is all c3 needed: record it, and the run goes on.
    m.stamp(&pool, &["c3"], false).await.unwrap();
    let r = m.run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 1);
    assert!(table_exists(&pool, "w").await);

    // A first statement that fails leaves nothing behind, not even the mark.
    m.downgrade(&pool, "b2").await.unwrap();
    dir.rev(
        "c3",
        "b2",
        "-- Transactional: false",
        "INSERT INTO missing VALUES (1);\nINSERT INTO t VALUES (1);",
        Some("DELETE FROM t;"),
    );
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_statement_failed(&err, "c3", 7, Aftermath::RolledBack);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
    assert_eq!(heads(&m, &pool).await, ["b2"]);
}

#[tokio::test]
async fn edited_upgrade_is_refused_edited_downgrade_accepted() {
    scenarios::edited_upgrade_is_refused_edited_downgrade_accepted::<Sqlite>().await;
}

#[tokio::test]
async fn database_ahead_is_refused_unless_tolerated() {
    scenarios::database_ahead_is_refused_unless_tolerated::<Sqlite>().await;
}

#[tokio::test]
async fn a_held_write_lock_times_out_then_the_run_goes_through() {
    let db = TestDb::new(Kind::Sqlite).await;
    // A short busy timeout, so that revchain's own polling is what waits.
    let options = SqliteConnectOptions::from_str(&db.url)
        .unwrap()
        .busy_timeout(Duration::from_millis(20));
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    let dir = Dir::new();
    dir.creates_table("a1", "", "t");
    dir.load().run(&pool).await.unwrap();
    dir.creates_table("b2", "a1", "u");
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));

    let mut other = SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let err = Migrator::new(m)
        .lock_timeout(Duration::from_millis(300))
        .run(&pool)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::LockTimeout { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("held by a write transaction of another connection"),
        "{err}"
    );
    assert!(!table_exists(&pool, "u").await);

    // A run that starts waiting is served once the other transaction ends.
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move {
            Migrator::new(m)
                .lock_timeout(Duration::from_secs(30))
                .run(&pool)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap().steps.len(), 1);
    assert!(table_exists(&pool, "u").await);
}

async fn sixteen_pools(journal: Option<SqliteJournalMode>) {
    let db = TestDb::new(Kind::Sqlite).await;
    if let Some(mode) = journal {
        // Switch the file once; every later connection sees it.
        let options = SqliteConnectOptions::from_str(&db.url)
            .unwrap()
            .journal_mode(mode);
        SqliteConnection::connect_with(&options)
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
    }
    scenarios::sixteen_tasks_apply_each_revision_once_on::<Sqlite>(&db).await;
}

#[tokio::test]
async fn sixteen_pools_boot_on_the_portable_fixture() {
    // Its `Transactional: false` revision is marked dirty while it runs: the others wait.
    let db = TestDb::new(Kind::Sqlite).await;
    let m: &'static revchain::Migrations = Box::leak(Box::new(load(&fixture("portable"))));
    let applied = scenarios::concurrent_runs::<Sqlite>(&db.url, m, 16).await;
    assert_eq!(applied, 8);
    let pool: SqlitePool = db.pool().await;
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM revchain_log WHERE dirty = 0").await,
        8
    );
}

#[tokio::test]
async fn sixteen_pools_apply_each_revision_once() {
    sixteen_pools(None).await;
}

#[tokio::test]
async fn sixteen_pools_apply_each_revision_once_in_wal_mode() {
    sixteen_pools(Some(SqliteJournalMode::Wal)).await;
}
