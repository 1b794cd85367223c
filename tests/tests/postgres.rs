//! The runtime against a real PostgreSQL: the shop fixture, failures, tampering, concurrency.

use revchain::{Aftermath, Error, Migrator};
use revchain_tests::{Dir, Kind, TestDb, fixture, load};
use sqlx::PgPool;

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn table_exists(pool: &PgPool, name: &str) -> bool {
    scalar(
        pool,
        &format!("SELECT count(*) FROM information_schema.tables WHERE table_name = '{name}'"),
    )
    .await
        == 1
}

async fn heads(m: &revchain::Migrations, pool: &PgPool) -> Vec<String> {
    m.current(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[tokio::test]
async fn shop_fixture_up_down_stamp_and_back() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let m = load(&fixture("shop"));

    let report = m.run(&pool).await.unwrap();
    assert_eq!(report.steps.len(), 6);
    assert_eq!(report.heads_after, ["6f708192a3b4"]);
    assert!(table_exists(&pool, "orders").await);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_users_email'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM revchain_log WHERE NOT dirty").await,
        6
    );
    assert_eq!(heads(&m, &pool).await, ["6f708192a3b4"]);

    // Up to date: the boot check answers from the version table alone.
    let again = m.run(&pool).await.unwrap();
    assert!(again.up_to_date);
    assert!(again.steps.is_empty());

    // Base is behind an irreversible revision: refused before anything runs.
    let err = m.downgrade(&pool, "base").await.unwrap_err();
    assert!(
        matches!(&err, Error::Irreversible { id, .. } if id == "5e6f708192a3"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("5e6f708192a3_activate_pending_orders.sql"),
        "{err}"
    );
    assert_eq!(heads(&m, &pool).await, ["6f708192a3b4"]);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_users_email'"
        )
        .await,
        1
    );

    // One step down drops the index (a non-transactional revision).
    let r = m.downgrade(&pool, "-1").await.unwrap();
    assert_eq!(r.steps.len(), 1);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_users_email'"
        )
        .await,
        0
    );
    assert_eq!(heads(&m, &pool).await, ["5e6f708192a3"]);

    // Step over the irreversible data migration knowingly, then go to base.
    let s = m.stamp(&pool, "4d5e6f708192", false).await.unwrap();
    assert_eq!(s.unstamped, ["5e6f708192a3"]);
    m.downgrade(&pool, "-1").await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["2b3c4d5e6f70", "3c4d5e6f7081"]);
    m.downgrade(&pool, "base").await.unwrap();
    assert!(heads(&m, &pool).await.is_empty());
    assert!(!table_exists(&pool, "users").await);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 0);

    // And up again to head.
    let r = m.upgrade(&pool, "head").await.unwrap();
    assert_eq!(r.steps.len(), 6);
}

#[tokio::test]
async fn failing_statement_leaves_previous_revision_state() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
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
            // The header is 5 lines, the marker line 6, the failing INSERT the 3rd statement.
            assert_eq!(*line, 9, "{err}");
            assert_eq!(*aftermath, Aftermath::RolledBack);
            assert_eq!(code.as_deref(), Some("23505"));
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("b2_rev.sql:9: upgrade of revision b2 failed: duplicate key"),
        "{text}"
    );
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    assert!(table_exists(&pool, "t").await);
    assert!(!table_exists(&pool, "u").await);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 0);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 1);
}

#[tokio::test]
async fn edited_upgrade_is_refused_edited_downgrade_accepted() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
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
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
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
async fn sixteen_tasks_apply_each_revision_once() {
    let db = TestDb::new(Kind::Postgres).await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE counter (n INT);",
        Some("DROP TABLE counter;"),
    );
    for i in 2..=20 {
        dir.rev(
            &format!("r{i:02}"),
            &if i == 2 {
                "a1".to_owned()
            } else {
                format!("r{:02}", i - 1)
            },
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
            let pool = PgPool::connect(&url).await.unwrap();
            m.run(&pool).await.map(|r| r.steps.len())
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap().unwrap();
    }
    assert_eq!(applied, 20);
    let pool: PgPool = db.pool().await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM counter").await, 19);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 20);
}
