//! The runtime against SQLite files: the portable fixture, failures, non-transactional
//! revisions, tampering, the per-revision write lock, concurrency across pools.

use std::str::FromStr;
use std::time::Duration;

use revchain::{Aftermath, Direction, Error, Migrator};
use revchain_tests::{Dir, Kind, TestDb, fixture, load};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, SqliteConnection, SqlitePool};

async fn scalar(pool: &SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(pool: &SqlitePool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn exists(pool: &SqlitePool, kind: &str, name: &str) -> bool {
    scalar(
        pool,
        &format!("SELECT count(*) FROM sqlite_master WHERE type = '{kind}' AND name = '{name}'"),
    )
    .await
        == 1
}

async fn table_exists(pool: &SqlitePool, name: &str) -> bool {
    exists(pool, "table", name).await
}

async fn heads(m: &revchain::Migrations, pool: &SqlitePool) -> Vec<String> {
    m.current(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[tokio::test]
async fn portable_fixture_up_down_stamp_and_back() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = db.pool().await;
    let m = load(&fixture("portable"));

    // Up to the merge, then some data for the data migrations to work on.
    let r = m.upgrade(&pool, "d4e5f6a7b8c9").await.unwrap();
    assert_eq!(r.steps.len(), 4);
    assert_eq!(heads(&m, &pool).await, ["d4e5f6a7b8c9"]);
    exec(&pool, "INSERT INTO users (id, email, name, phone) VALUES (1, 'Ann@Example.COM', 'Ann', NULL), (2, 'bob@example.com', NULL, '555')").await;
    exec(&pool, "INSERT INTO orders (id, user_id, status, total_cents) VALUES (10, 1, 'pending', 500), (11, 2, 'shipped', 700)").await;

    let r = m.run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 4);
    assert_eq!(r.heads_after, ["b8c9d0e1f2a3"]);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM users WHERE email = 'ann@example.com'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM orders WHERE status = 'active'").await,
        1
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM order_statuses").await,
        3
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM audit_events").await, 4);
    assert!(exists(&pool, "index", "ix_audit_events_user").await);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_log WHERE dirty = 0 AND stamped = 0"
        )
        .await,
        8
    );

    // Up to date: the boot check answers from the version table alone.
    let again = m.run(&pool).await.unwrap();
    assert!(again.up_to_date);

    // Base is behind an irreversible revision: refused before anything runs.
    let err = m.downgrade(&pool, "base").await.unwrap_err();
    assert!(
        matches!(&err, Error::Irreversible { id, .. } if id == "f6a7b8c9d0e1"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("f6a7b8c9d0e1_normalise_emails_activate_orders.sql"),
        "{err}"
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM audit_events").await, 4);

    // Step by step: the non-transactional backfill, then the indexed table.
    m.downgrade(&pool, "-1").await.unwrap();
    assert_eq!(scalar(&pool, "SELECT count(*) FROM audit_events").await, 0);
    assert_eq!(heads(&m, &pool).await, ["a7b8c9d0e1f2"]);
    m.downgrade(&pool, "-1").await.unwrap();
    assert!(!table_exists(&pool, "audit_events").await);
    assert!(!exists(&pool, "index", "ix_audit_events_user").await);
    let err = m.downgrade(&pool, "-1").await.unwrap_err();
    assert!(matches!(&err, Error::Irreversible { .. }), "{err}");

    // Step over the irreversible data migration knowingly, then on to base.
    let s = m.stamp(&pool, "e5f6a7b8c9d0", false).await.unwrap();
    assert_eq!(s.unstamped, ["f6a7b8c9d0e1"]);
    m.downgrade(&pool, "-1").await.unwrap();
    assert!(!table_exists(&pool, "order_statuses").await);
    m.downgrade(&pool, "-1").await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["b2c3d4e5f6a7", "c3d4e5f6a7b8"]);
    m.downgrade(&pool, "base").await.unwrap();
    assert!(heads(&m, &pool).await.is_empty());
    assert!(!table_exists(&pool, "users").await);
    assert!(!table_exists(&pool, "orders").await);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 0);

    // Stamping records without running SQL; --purge starts from an empty record.
    let s = m.stamp(&pool, "heads", false).await.unwrap();
    assert_eq!(s.stamped.len(), 8);
    assert!(!table_exists(&pool, "users").await);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM revchain_log WHERE stamped = 1").await,
        8
    );
    let s = m.stamp(&pool, "c3d4e5f6a7b8", true).await.unwrap();
    assert_eq!(s.stamped, ["a1b2c3d4e5f6", "c3d4e5f6a7b8"]);
    assert_eq!(heads(&m, &pool).await, ["c3d4e5f6a7b8"]);
    m.stamp(&pool, "base", true).await.unwrap();
    assert!(heads(&m, &pool).await.is_empty());

    // And up again to head, for real.
    let r = m.upgrade(&pool, "head").await.unwrap();
    assert_eq!(r.steps.len(), 8);
    assert!(exists(&pool, "index", "ix_audit_events_user").await);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_log WHERE dirty = 0 AND stamped = 0"
        )
        .await,
        8
    );
}

#[tokio::test]
async fn failing_statement_leaves_previous_revision_state() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = db.pool().await;
    let dir = Dir::new();
    dir.rev("a1", "", "", "CREATE TABLE t (id INT PRIMARY KEY);", Some("DROP TABLE t;"))
        .rev("b2", "a1", "", "INSERT INTO t VALUES (1);\nCREATE TABLE u (id INT);\nINSERT INTO t VALUES (1);\nCREATE TABLE v (id INT);", Some("DROP TABLE v; DROP TABLE u; DELETE FROM t;"))
        .rev("c3", "b2", "", "CREATE TABLE w (id INT);", Some("DROP TABLE w;"));
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    match &err {
        Error::Statement {
            id,
            line,
            aftermath,
            ..
        } => {
            assert_eq!(id, "b2");
            // The header is 5 lines, the marker line 6, the failing INSERT the 3rd statement.
            assert_eq!(*line, 9, "{err}");
            assert_eq!(*aftermath, Aftermath::RolledBack);
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(
            "b2_rev.sql:9: upgrade of revision b2 failed: UNIQUE constraint failed: t.id"
        ),
        "{text}"
    );
    assert!(
        text.contains("the database is as it was before b2"),
        "{text}"
    );
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    assert!(table_exists(&pool, "t").await);
    assert!(
        !table_exists(&pool, "u").await,
        "DDL is rolled back with the revision"
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 0);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 1);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
    // The pool's connections are usable afterwards (no transaction left open).
    exec(&pool, "INSERT INTO t VALUES (7)").await;
    exec(&pool, "DELETE FROM t").await;

    // Fixed, the run completes.
    dir.rev("b2", "a1", "", "INSERT INTO t VALUES (1);\nCREATE TABLE u (id INT);\nINSERT INTO t VALUES (2);\nCREATE TABLE v (id INT);", Some("DROP TABLE v; DROP TABLE u; DELETE FROM t;"));
    let r = dir.load().run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 2);
    assert!(table_exists(&pool, "w").await);
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
    .rev(
        "d4",
        "c3",
        "",
        "CREATE TABLE w (id INT);",
        Some("DROP TABLE w;"),
    );
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    match &err {
        Error::Statement {
            id,
            line,
            aftermath,
            ..
        } => {
            assert_eq!(id, "c3");
            assert_eq!(*line, 8, "{err}");
            assert_eq!(*aftermath, Aftermath::Dirty);
        }
        other => panic!("{other}"),
    }
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
    m.stamp(&pool, "c3", false).await.unwrap();
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
    assert!(
        matches!(
            &err,
            Error::Statement {
                line: 7,
                aftermath: Aftermath::RolledBack,
                ..
            }
        ),
        "{err}"
    );
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
    assert_eq!(heads(&m, &pool).await, ["b2"]);
}

#[tokio::test]
async fn edited_upgrade_is_refused_edited_downgrade_accepted() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "ALTER TABLE t ADD COLUMN x INT;",
        Some("ALTER TABLE t DROP COLUMN x;"),
    );
    dir.load().run(&pool).await.unwrap();

    // The downgrade section and header comments may change.
    dir.rev(
        "b2",
        "a1",
        "-- Create Date: later",
        "ALTER TABLE t ADD COLUMN x INT;",
        Some("-- x goes again\nALTER TABLE t DROP COLUMN x;"),
    );
    dir.rev("c3", "b2", "", "CREATE TABLE c (id INT);", None);
    let r = dir.load().run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 1);

    // The upgrade section may not.
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id BIGINT);",
        Some("DROP TABLE t;"),
    );
    dir.rev("d4", "c3", "", "CREATE TABLE d (id INT);", None);
    let err = dir.load().run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::Edited { id, .. } if id == "a1"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("a1_rev.sql: revision a1 was applied with checksum"),
        "{text}"
    );
    assert!(
        !table_exists(&pool, "d").await,
        "nothing may run over edited history"
    );
}

#[tokio::test]
async fn database_ahead_is_refused_unless_tolerated() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "CREATE TABLE u (id INT);",
        Some("DROP TABLE u;"),
    );
    dir.load().run(&pool).await.unwrap();
    let old = Dir::new();
    old.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);",
        Some("DROP TABLE t;"),
    );
    let old = old.load();
    let err = old.run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::DatabaseAhead { unknown } if unknown == &["b2"]),
        "{err}"
    );
    let tolerated = Migrator::new(&old)
        .allow_database_ahead(true)
        .run(&pool)
        .await
        .unwrap();
    assert!(tolerated.database_ahead);
    assert_eq!(heads(&old, &pool).await, ["b2"]);
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
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);",
        Some("DROP TABLE t;"),
    );
    dir.load().run(&pool).await.unwrap();
    dir.rev(
        "b2",
        "a1",
        "",
        "CREATE TABLE u (id INT);",
        Some("DROP TABLE u;"),
    );
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
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE counter (n INT);",
        Some("DROP TABLE counter;"),
    );
    for i in 2..=20 {
        let parent = if i == 2 {
            "a1".to_owned()
        } else {
            format!("r{:02}", i - 1)
        };
        dir.rev(
            &format!("r{i:02}"),
            &parent,
            "",
            "INSERT INTO counter VALUES (1);",
            Some("DELETE FROM counter;"),
        );
    }
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let pool = SqlitePool::connect(&url).await.unwrap();
            let r = m.run(&pool).await.map(|r| r.steps.len());
            pool.close().await;
            r
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap().unwrap();
    }
    assert_eq!(
        applied, 20,
        "each revision is reported by the task that applied it"
    );
    let pool: SqlitePool = db.pool().await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM counter").await, 19);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 20);
}

#[tokio::test]
async fn sixteen_pools_boot_on_the_portable_fixture() {
    // Its `Transactional: false` revision is marked dirty while it runs: the others wait.
    let db = TestDb::new(Kind::Sqlite).await;
    let m: &'static revchain::Migrations = Box::leak(Box::new(load(&fixture("portable"))));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let pool = SqlitePool::connect(&url).await.unwrap();
            let r = m.run(&pool).await.map(|r| r.steps.len());
            pool.close().await;
            r
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap().unwrap();
    }
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
