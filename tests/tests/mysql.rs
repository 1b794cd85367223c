//! The runtime against a real MariaDB/MySQL: DDL that commits implicitly (dirty marks),
//! atomic data-only revisions, the lock's holder, and the shared scenarios of
//! `revchain_tests::scenarios`.

use std::time::Duration;

use revchain::{Aftermath, Direction, Error, Migrator};
use revchain_tests::scenarios::{
    self, assert_duplicate_key, assert_statement_failed, duplicate_key_history,
};
use revchain_tests::{Dir, Kind, TestDb, exec, heads, scalar, table_exists};
use sqlx::{Connection, MySql, MySqlConnection, MySqlPool};

#[tokio::test]
async fn portable_fixture_up_down_stamp_and_back() {
    scenarios::portable_fixture_up_down_stamp_and_back::<MySql>().await;
}

#[tokio::test]
async fn ddl_failure_leaves_a_dirty_mark_until_stamped() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    duplicate_key_history(&dir);
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_duplicate_key(&err, Kind::MySql, Aftermath::Dirty);
    let text = err.to_string();
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
    m.stamp(&pool, &["b2"], false).await.unwrap();
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
    assert_statement_failed(&err, "c3", 11, Aftermath::Dirty);
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
    m.stamp(&pool, &["b2"], false).await.unwrap();
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
    assert_statement_failed(&err, "b2", 7, Aftermath::RolledBack);
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
    assert_statement_failed(&err, "b2", 10, Aftermath::RolledBack);
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
    scenarios::edited_upgrade_is_refused_edited_downgrade_accepted::<MySql>().await;
}

#[tokio::test]
async fn database_ahead_is_refused_unless_tolerated() {
    scenarios::database_ahead_is_refused_unless_tolerated::<MySql>().await;
}

#[tokio::test]
async fn lock_timeout_names_the_holder() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    dir.creates_table("a1", "", "t");
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
    scenarios::sixteen_tasks_apply_each_revision_once::<MySql>().await;
}

/// Issue 13, item 2: identifiers named like block keywords (`event`, `begin`) are not a
/// `CREATE EVENT … BEGIN` block. Each statement runs on its own, the DDL takes the
/// dirty-mark path, and the failing INSERT is named with its line, while the two tables
/// that committed are there and the mark says so.
#[tokio::test]
async fn keyword_named_identifiers_split_and_leave_a_dirty_mark() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE event (id INT, begin INT);\nCREATE TABLE other (a INT);\nINSERT INTO missing VALUES (1);",
        Some("DROP TABLE other;\nDROP TABLE event;"),
    );
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_statement_failed(&err, "a1", 9, Aftermath::Dirty);
    assert!(table_exists(&pool, "event").await);
    assert!(table_exists(&pool, "other").await);
    assert_eq!(m.status(&pool).await.unwrap().dirty, ["a1"]);
}

/// Issue 13, item 2: a revision whose cuts the splitter is not sure of (here a quote that is
/// never closed) never runs as an atomic data-only revision: it takes the dirty-mark path,
/// so what ran before the failure is recorded by the mark.
#[tokio::test]
async fn doubtful_split_is_never_atomic() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT PRIMARY KEY) ENGINE = InnoDB;",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES ('x);",
        Some("DELETE FROM t;"),
    );
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_statement_failed(&err, "b2", 8, Aftermath::Dirty);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 1);
    assert_eq!(m.status(&pool).await.unwrap().dirty, ["b2"]);
}

/// `a1` creates table `t` (DDL, alone); then the data revisions `ids` (parents in order),
/// revision `k` inserting `k + 1`, or running `up[k]` when given.
fn data_chain(dir: &Dir, ids: &[&str], up: &[Option<&str>]) {
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT PRIMARY KEY) ENGINE = InnoDB;",
        Some("DROP TABLE t;"),
    );
    let mut parent = "a1";
    for (k, id) in ids.iter().enumerate() {
        let insert = format!("INSERT INTO t VALUES ({});", k + 1);
        let sql = up.get(k).copied().flatten().unwrap_or(&insert);
        let down = format!("DELETE FROM t WHERE id = {};", k + 1);
        dir.rev(id, parent, "", sql, Some(&down));
        parent = id;
    }
}

/// How many distinct `applied_at` the log rows of `ids` have: revisions that shared a
/// transaction were logged by one statement, at one time.
async fn applied_times(pool: &MySqlPool, ids: &[&str]) -> i64 {
    let list = ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ");
    scalar(
        pool,
        &format!("SELECT COUNT(DISTINCT applied_at) FROM revchain_log WHERE revision IN ({list})"),
    )
    .await
}

/// Consecutive data revisions share one transaction: when the 3rd of 5 fails, the first
/// two are applied and logged, the 3rd is reported with its file line and rolled back, the
/// last two never run. Fixed, the rest applies as one group; the version table holds only
/// the final head, the durations are measured, and the group reverts as one too.
#[tokio::test]
async fn a_group_stops_at_its_failing_revision() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    let ids = ["b2", "c3", "d4", "e5", "f6"];
    let failing = "INSERT INTO t VALUES (3);\nINSERT INTO t VALUES (1);";
    data_chain(&dir, &ids, &[None, None, Some(failing)]);
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_statement_failed(&err, "d4", 8, Aftermath::RolledBack);
    assert!(
        err.to_string()
            .contains("the database is as it was before d4"),
        "{err}"
    );
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM t").await, 2);
    assert_eq!(
        scalar(&pool, "SELECT CAST(COALESCE(SUM(id), 0) AS SIGNED) FROM t").await,
        3
    );
    assert_eq!(heads(&m, &pool).await, ["c3"]);
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM revchain_version").await,
        1
    );
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM revchain_log").await, 3);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());

    // Fixed (a revision that sleeps, to see its duration), the rest is one group.
    let slow = "INSERT INTO t VALUES (3);\nSELECT SLEEP(0.05);";
    data_chain(&dir, &ids, &[None, None, Some(slow)]);
    let m = dir.load();
    assert_eq!(m.run(&pool).await.unwrap().steps.len(), 3);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM t").await, 5);
    assert_eq!(heads(&m, &pool).await, ["f6"]);
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM revchain_version").await,
        1
    );
    assert_eq!(applied_times(&pool, &["d4", "e5", "f6"]).await, 1);
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM revchain_log WHERE execution_ms < 0"
        )
        .await,
        0
    );
    let slept = scalar(
        &pool,
        "SELECT execution_ms FROM revchain_log WHERE revision = 'd4'",
    )
    .await;
    assert!((40..5000).contains(&slept), "{slept}");

    // Reverted as one group: the table and the log as after a1.
    m.downgrade(&pool, "a1").await.unwrap();
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM t").await, 0);
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM revchain_log").await, 1);
}

/// A DDL revision commits implicitly, so it never shares a transaction: the data revisions
/// before it are one group, it runs alone, the ones after it are another group.
#[tokio::test]
async fn ddl_splits_the_groups() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    let ids = ["b2", "c3", "d4", "e5", "f6"];
    data_chain(
        &dir,
        &ids,
        &[None, None, Some("CREATE TABLE u (id INT) ENGINE = InnoDB;")],
    );
    let m = dir.load();
    assert_eq!(m.run(&pool).await.unwrap().steps.len(), 6);
    assert!(table_exists(&pool, "u").await);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM t").await, 4);
    assert_eq!(applied_times(&pool, &["b2", "c3"]).await, 1);
    assert_eq!(applied_times(&pool, &["e5", "f6"]).await, 1);
    assert_eq!(
        applied_times(&pool, &["b2", "c3", "d4", "e5", "f6"]).await,
        3
    );
    assert_eq!(heads(&m, &pool).await, ["f6"]);
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM revchain_version").await,
        1
    );
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM revchain_log").await, 6);
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM revchain_log WHERE execution_ms < 0"
        )
        .await,
        0
    );
}

/// A deadlock makes InnoDB roll the group's whole transaction back, savepoints included:
/// the revisions before the one that deadlocked are applied again, and that one is
/// reported, rolled back.
#[tokio::test]
async fn a_deadlock_in_a_group_keeps_the_revisions_before_it() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT PRIMARY KEY, n INT) ENGINE = InnoDB;\n\
         CREATE TABLE heavy (id INT) ENGINE = InnoDB;\n\
         INSERT INTO t VALUES (1, 0), (2, 0);",
        None,
    );
    dir.rev("b2", "a1", "", "INSERT INTO t VALUES (3, 0);", None);
    dir.rev(
        "c3",
        "b2",
        "",
        "UPDATE t SET n = 1 WHERE id = 1;\nUPDATE t SET n = 1 WHERE id = 2;",
        None,
    );
    dir.rev("d4", "c3", "", "INSERT INTO t VALUES (4, 0);", None);
    let m = std::sync::Arc::new(dir.load());
    m.upgrade(&pool, "a1").await.unwrap();

    // Another session, heavier (so that InnoDB picks revchain's transaction as the
    // victim), holds row 2 and will ask for row 1.
    let mut other = MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "START TRANSACTION;\n\
         INSERT INTO heavy WITH RECURSIVE s (k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 900) SELECT k FROM s;\n\
         UPDATE t SET n = 2 WHERE id = 2;",
    )
    .execute(&mut other)
    .await
    .unwrap();
    let run = tokio::spawn({
        let (m, pool) = (m.clone(), pool.clone());
        async move { m.run(&pool).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::raw_sql("UPDATE t SET n = 2 WHERE id = 1")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    let err = run.await.unwrap().unwrap_err();
    assert_statement_failed(&err, "c3", 8, Aftermath::RolledBack);
    assert!(err.to_string().contains("Deadlock"), "{err}");
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM t").await, 3);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM revchain_log").await, 2);
    assert_eq!(
        scalar(&pool, "SELECT CAST(n AS SIGNED) FROM t WHERE id = 1").await,
        2
    );
}

/// A revision of a group that times out waiting for a row lock: the revisions before it
/// commit, and the group is tried again from it once the blocker is gone.
#[tokio::test]
async fn a_lock_timeout_in_a_group_is_retried_from_its_revision() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: MySqlPool = db.pool().await;
    let dir = Dir::new();
    let header = "-- Lock Timeout: 1s";
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT PRIMARY KEY, n INT) ENGINE = InnoDB;\nINSERT INTO t VALUES (1, 0), (2, 0);",
        None,
    );
    dir.rev("b2", "a1", header, "INSERT INTO t VALUES (3, 0);", None);
    dir.rev("c3", "b2", header, "UPDATE t SET n = 3 WHERE id = 2;", None);
    dir.rev("d4", "c3", header, "INSERT INTO t VALUES (4, 0);", None);
    let m = dir.load();
    m.upgrade(&pool, "a1").await.unwrap();
    let mut blocker = MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("START TRANSACTION;\nSELECT * FROM t WHERE id = 2 FOR UPDATE;")
        .execute(&mut blocker)
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut blocker)
            .await
            .unwrap();
    });
    let report = Migrator::new(&m).lock_retries(10).run(&pool).await.unwrap();
    release.await.unwrap();
    assert_eq!(report.steps.len(), 3, "{report:?}");
    assert_eq!(heads(&m, &pool).await, ["d4"]);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM t").await, 4);
    assert_eq!(
        scalar(&pool, "SELECT CAST(n AS SIGNED) FROM t WHERE id = 2").await,
        3
    );
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM revchain_log").await, 4);
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM revchain_version").await,
        1
    );
    // b2 committed alone before the retry; c3, which changes existing rows, ends its group
    // (backend/group.rs: its row locks are not held while d4 runs), so d4 commits apart.
    assert_eq!(applied_times(&pool, &["b2", "c3"]).await, 2);
    assert_eq!(applied_times(&pool, &["c3", "d4"]).await, 2);
}
