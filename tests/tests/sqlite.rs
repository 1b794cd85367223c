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

// ---------------------------------------------------------------------------------------
// Consecutive revisions share one transaction, each in a savepoint of its own.

/// The ids of the revisions the report `err` carries as applied before it failed.
fn applied_before(err: &Error) -> Vec<String> {
    err.applied_before()
        .map(|r| r.steps.iter().map(|s| s.id.clone()).collect())
        .unwrap_or_default()
}

/// Writes `r1`, which creates `t` (and whatever `more` adds), then `r2`…`r5`, each the
/// statements `bodies` gives it.
fn five_revisions(dir: &Dir, more: &str, bodies: [&str; 4]) {
    dir.rev(
        "r1",
        "",
        "",
        &format!("CREATE TABLE t (id INT PRIMARY KEY);{more}"),
        Some("DROP TABLE t;"),
    );
    for (k, body) in bodies.iter().enumerate() {
        let id = format!("r{}", k + 2);
        let parent = format!("r{}", k + 1);
        dir.rev(&id, &parent, "", body, Some("SELECT 1;"));
    }
}

#[tokio::test]
async fn a_revision_failing_in_a_group_keeps_the_ones_before_it() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = db.pool().await;
    let dir = Dir::new();
    five_revisions(
        &dir,
        "",
        [
            "INSERT INTO t VALUES (2);",
            "INSERT INTO t VALUES (3);\nCREATE TABLE u (id INT);",
            "INSERT INTO t VALUES (4);\nINSERT INTO t VALUES (2);",
            "INSERT INTO t VALUES (5);",
        ],
    );
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    // r4's second statement (line 8) breaks the key.
    assert_statement_failed(&err, "r4", 8, Aftermath::RolledBack);
    assert!(
        err.to_string()
            .contains("r4_rev.sql:8: upgrade of revision r4 failed: UNIQUE constraint failed"),
        "{err}"
    );
    assert_eq!(applied_before(&err), ["r1", "r2", "r3"]);
    assert_eq!(heads(&m, &pool).await, ["r3"]);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM revchain_log").await,
        3,
        "r1…r3 are logged"
    );
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_log WHERE revision IN ('r1', 'r2', 'r3')"
        )
        .await,
        3
    );
    // As after r3: its rows and its table, nothing of r4 or r5.
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 2);
    assert_eq!(scalar(&pool, "SELECT sum(id) FROM t").await, 5);
    assert!(table_exists(&pool, "u").await);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());

    // Fixed, the run applies r4 and r5.
    dir.rev(
        "r4",
        "r3",
        "",
        "INSERT INTO t VALUES (4);",
        Some("SELECT 1;"),
    );
    let r = dir.load().run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 2);
    assert_eq!(scalar(&pool, "SELECT sum(id) FROM t").await, 14);
}

#[tokio::test]
async fn a_deferred_foreign_key_failing_at_a_groups_commit_names_its_revision() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .foreign_keys(true),
        )
        .await
        .unwrap();
    let dir = Dir::new();
    five_revisions(
        &dir,
        "\nCREATE TABLE c (tid INT REFERENCES t (id) DEFERRABLE INITIALLY DEFERRED);",
        [
            "INSERT INTO t VALUES (2);\nINSERT INTO c VALUES (2);",
            "INSERT INTO c VALUES (42);\nCREATE TABLE v (id INT);",
            "CREATE TABLE w (id INT);",
            "INSERT INTO t VALUES (5);",
        ],
    );
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::CommitFailed { step, .. } if step.id == "r3" && step.line == 7),
        "{err:?}\n{text}"
    );
    assert!(
        text.contains("r3_rev.sql:7: the upgrade of revision r3 failed at COMMIT")
            && text.contains("FOREIGN KEY constraint failed"),
        "{text}"
    );
    assert_eq!(applied_before(&err), ["r1", "r2"]);
    assert_eq!(heads(&m, &pool).await, ["r2"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 2);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM c").await, 1);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 1);
    for table in ["v", "w"] {
        assert!(!table_exists(&pool, table).await, "{table}");
    }
    // The connection is usable, outside any transaction.
    sqlx::raw_sql("BEGIN; SELECT 1; COMMIT;")
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn two_pools_racing_through_two_hundred_revisions_apply_each_once() {
    let db = TestDb::new(Kind::Sqlite).await;
    let dir = Dir::new();
    dir.rev(
        "r000",
        "",
        "",
        "CREATE TABLE rows (n INT);",
        Some("DROP TABLE rows;"),
    );
    for i in 1..200 {
        dir.rev(
            &format!("r{i:03}"),
            &format!("r{:03}", i - 1),
            "",
            &format!("INSERT INTO rows VALUES ({i});"),
            Some(&format!("DELETE FROM rows WHERE n = {i};")),
        );
    }
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));
    let applied = scenarios::concurrent_runs::<Sqlite>(&db.url, m, 2).await;
    assert_eq!(
        applied, 200,
        "each revision is reported by the run that applied it"
    );
    let pool: SqlitePool = db.pool().await;
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM revchain_log").await,
        200
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM rows").await, 199);
    assert_eq!(
        scalar(&pool, "SELECT count(DISTINCT n) FROM rows").await,
        199
    );
    assert_eq!(heads(m, &pool).await, ["r199"]);
}
