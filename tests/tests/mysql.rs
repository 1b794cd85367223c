//! The runtime against a real MariaDB/MySQL: the portable fixture, DDL that commits
//! implicitly (dirty marks), atomic data-only revisions, tampering, the lock, concurrency.

use std::time::Duration;

use revchain::{Aftermath, Direction, Error, Migrator};
use revchain_tests::{Dir, Kind, TestDb, fixture, load};
use sqlx::{Connection, MySqlConnection, MySqlPool};

async fn scalar(pool: &MySqlPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(pool: &MySqlPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn table_exists(pool: &MySqlPool, name: &str) -> bool {
    scalar(
        pool,
        &format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{name}'"
        ),
    )
    .await
        == 1
}

async fn index_exists(pool: &MySqlPool, name: &str) -> bool {
    scalar(
        pool,
        &format!(
            "SELECT count(DISTINCT index_name) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = '{name}'"
        ),
    )
    .await
        == 1
}

async fn heads(m: &revchain::Migrations, pool: &MySqlPool) -> Vec<String> {
    m.current(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[tokio::test]
async fn portable_fixture_up_down_stamp_and_back() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
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
    assert!(index_exists(&pool, "ix_audit_events_user").await);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_log WHERE NOT dirty AND NOT stamped"
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
    assert!(!index_exists(&pool, "ix_audit_events_user").await);
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
        scalar(&pool, "SELECT count(*) FROM revchain_log WHERE stamped").await,
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
    assert!(index_exists(&pool, "ix_audit_events_user").await);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_log WHERE NOT dirty AND NOT stamped"
        )
        .await,
        8
    );
}

#[tokio::test]
async fn ddl_failure_leaves_a_dirty_mark_until_stamped() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
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
            code,
            ..
        } => {
            assert_eq!(id, "b2");
            assert_eq!(*line, 9, "{err}");
            assert_eq!(*aftermath, Aftermath::Dirty);
            assert_eq!(code.as_deref(), Some("23000"));
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("b2_rev.sql:9: upgrade of revision b2 failed: Duplicate entry"),
        "{text}"
    );
    assert!(text.contains("b2 is marked dirty"), "{text}");
    // The DDL before the failure committed; the bookkeeping says where it stopped.
    assert!(table_exists(&pool, "u").await);
    assert!(!table_exists(&pool, "v").await);
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    assert_eq!(m.status(&pool).await.unwrap().dirty, ["b2"]);

    // The next run is refused, naming the revision, its file and the repair.
    let err = m.run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::Dirty { id, direction: Direction::Upgrade, .. } if id == "b2"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("revision b2 (") && text.contains("b2_rev.sql"),
        "{text}"
    );
    assert!(
        text.contains("`revchain stamp b2`") && text.contains("`revchain stamp a1`"),
        "{text}"
    );
    assert!(
        !table_exists(&pool, "w").await,
        "nothing may run over a dirty revision"
    );

    // Finish the revision by hand, record it, and the run goes on.
    exec(&pool, "CREATE TABLE v (id INT)").await;
    m.stamp(&pool, "b2", false).await.unwrap();
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
    let r = m.run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 1);
    assert!(table_exists(&pool, "w").await);

    // A downgrade that fails part-way leaves its own mark, repaired the other way.
    dir.rev(
        "c3",
        "b2",
        "",
        "CREATE TABLE w (id INT);",
        Some("DROP TABLE w;\nDROP TABLE missing;"),
    );
    let m = dir.load();
    let err = m.downgrade(&pool, "-1").await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Statement {
                line: 11,
                aftermath: Aftermath::Dirty,
                ..
            }
        ),
        "{err}"
    );
    let err = m.run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::Dirty { id, direction: Direction::Downgrade, .. } if id == "c3"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("`revchain stamp c3` if all of its changes are in place, or `revchain stamp b2` if none of them are"),
        "{err}"
    );
    m.stamp(&pool, "b2", false).await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
}

#[tokio::test]
async fn failing_first_ddl_statement_removes_the_mark() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
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
        "",
        "CREATE TABLE t (id INT);\nCREATE TABLE z (id INT);",
        Some("DROP TABLE z;"),
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
    assert!(
        err.to_string()
            .contains("the database is as it was before b2"),
        "{err}"
    );
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 1);
    // Not refused as dirty: the same error again.
    let err = m.run(&pool).await.unwrap_err();
    assert!(matches!(&err, Error::Statement { .. }), "{err}");
}

#[tokio::test]
async fn data_only_revision_is_atomic() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    dir.rev("a1", "", "", "CREATE TABLE t (id INT PRIMARY KEY) ENGINE = InnoDB;", Some("DROP TABLE t;"))
        .rev("b2", "a1", "", "INSERT INTO t VALUES (1);\n-- a comment\nUPDATE t SET id = 2 WHERE id = 1;\nINSERT INTO t VALUES (2);", Some("DELETE FROM t;"));
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
            assert_eq!(*line, 10, "{err}");
            assert_eq!(*aftermath, Aftermath::RolledBack);
        }
        other => panic!("{other}"),
    }
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 0);
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 1);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());

    // Fixed, it runs; reverted, it runs atomically too.
    dir.rev(
        "b2",
        "a1",
        "",
        "INSERT INTO t VALUES (1);\nUPDATE t SET id = 2 WHERE id = 1;\nINSERT INTO t VALUES (3);",
        Some("DELETE FROM t;"),
    );
    let m = dir.load();
    m.run(&pool).await.unwrap();
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 2);
    m.downgrade(&pool, "a1").await.unwrap();
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 0);
}

#[tokio::test]
async fn edited_upgrade_is_refused_edited_downgrade_accepted() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
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
        Some("ALTER TABLE t DROP COLUMN IF EXISTS x;"),
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
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
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
async fn lock_timeout_names_the_holder() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);",
        Some("DROP TABLE t;"),
    );
    let m = dir.load();
    let mut other = MySqlConnection::connect(&db.url).await.unwrap();
    let name = format!("revchain:{}.revchain_version", db.name);
    let got: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT GET_LOCK('{name}', 5)")))
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(got, 1);
    let err = Migrator::new(&m)
        .lock_timeout(Duration::from_millis(300))
        .run(&pool)
        .await
        .unwrap_err();
    match &err {
        Error::LockTimeout {
            holder: Some(holder),
            ..
        } => {
            assert!(
                holder.starts_with("connection ") && holder.contains("root@"),
                "{holder}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("waiting for the migration lock (held by connection"),
        "{err}"
    );
    assert!(!table_exists(&pool, "t").await);

    // Released, the run goes through.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DO RELEASE_LOCK('{name}')")))
        .execute(&mut other)
        .await
        .unwrap();
    assert_eq!(m.run(&pool).await.unwrap().steps.len(), 1);
}

#[tokio::test]
async fn sixteen_tasks_apply_each_revision_once() {
    let db = TestDb::new(Kind::MySql).await;
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
            let pool = MySqlPool::connect(&url).await.unwrap();
            let r = m.run(&pool).await.map(|r| r.steps.len());
            pool.close().await;
            r
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap().unwrap();
    }
    assert_eq!(applied, 20);
    let pool: MySqlPool = db.pool().await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM counter").await, 19);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 20);
}
