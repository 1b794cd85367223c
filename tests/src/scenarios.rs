//! Scenarios that go the same way on every database, written once: each test file of a
//! database (`tests/tests/{postgres,mysql,sqlite}.rs`) runs them with a one-line test, e.g.
//! `scenarios::database_ahead_is_refused_unless_tolerated::<sqlx::Sqlite>().await`, and
//! keeps to itself only what is particular to its database.

use revchain::{Aftermath, Error, Migrations, Migrator};
use sqlx::Pool;

use crate::{
    Db, Dir, Kind, TestDb, exec, fixture, heads, index_exists, load, scalar, table_exists,
};

/// Counts the log rows of revisions that ran (not stamped) and completed (not dirty).
const RAN_CLEANLY: &str = "SELECT count(*) FROM revchain_log WHERE NOT dirty AND NOT stamped";

/// The portable fixture (its SQL runs unchanged everywhere): up to the merge, some data for
/// the data migrations, up to head; the irreversible revision refused, then stepped over;
/// down to base; stamping without SQL, `--purge`; and up again.
pub async fn portable_fixture_up_down_stamp_and_back<DB: Db>() {
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
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
    assert_eq!(scalar(&pool, RAN_CLEANLY).await, 8);

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
    let s = m.stamp(&pool, &["e5f6a7b8c9d0"], false).await.unwrap();
    assert_eq!(s.unstamped, ["f6a7b8c9d0e1"]);
    m.downgrade(&pool, "-1").await.unwrap();
    assert!(!table_exists(&pool, "order_statuses").await);
    // `-1` from the merge is ambiguous (as in Alembic): name a parent to keep both.
    assert!(m.downgrade(&pool, "-1").await.is_err());
    m.downgrade(&pool, "b2c3d4e5f6a7").await.unwrap();
    assert_eq!(heads(&m, &pool).await, ["b2c3d4e5f6a7", "c3d4e5f6a7b8"]);
    m.downgrade(&pool, "base").await.unwrap();
    assert!(heads(&m, &pool).await.is_empty());
    assert!(!table_exists(&pool, "users").await);
    assert!(!table_exists(&pool, "orders").await);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 0);

    // Stamping records without running SQL; --purge starts from an empty record.
    let s = m.stamp(&pool, &["heads"], false).await.unwrap();
    assert_eq!(s.stamped.len(), 8);
    assert!(!table_exists(&pool, "users").await);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM revchain_log WHERE stamped").await,
        8
    );
    let s = m.stamp(&pool, &["c3d4e5f6a7b8"], true).await.unwrap();
    assert_eq!(s.stamped, ["a1b2c3d4e5f6", "c3d4e5f6a7b8"]);
    assert_eq!(heads(&m, &pool).await, ["c3d4e5f6a7b8"]);
    m.stamp(&pool, &["base"], true).await.unwrap();
    assert!(heads(&m, &pool).await.is_empty());

    // And up again to head, for real.
    let r = m.upgrade(&pool, "head").await.unwrap();
    assert_eq!(r.steps.len(), 8);
    assert!(index_exists(&pool, "ix_audit_events_user").await);
    assert_eq!(scalar(&pool, RAN_CLEANLY).await, 8);
}

/// Writes a1 (creates `t` with a primary key), b2 (inserts 1, creates `u`, inserts 1 again:
/// a duplicate key at line 9, then creates `v`) and c3 (creates `w`).
pub fn duplicate_key_history(dir: &Dir) {
    dir.rev("a1", "", "", "CREATE TABLE t (id INT PRIMARY KEY);", Some("DROP TABLE t;"))
        .rev("b2", "a1", "", "INSERT INTO t VALUES (1);\nCREATE TABLE u (id INT);\nINSERT INTO t VALUES (1);\nCREATE TABLE v (id INT);", Some("DROP TABLE v; DROP TABLE u; DELETE FROM t;"))
        .creates_table("c3", "b2", "w");
}

/// Asserts that `err` is the failure of statement `line` of revision `id`, which left
/// `aftermath`.
pub fn assert_statement_failed(err: &Error, id: &str, line: usize, aftermath: Aftermath) {
    match err {
        Error::Statement { step, .. } => {
            assert_eq!(step.id, id, "{err}");
            assert_eq!(step.line, line, "{err}");
            assert_eq!(step.aftermath, aftermath, "{err}");
        }
        other => panic!("{other}"),
    }
}

/// Asserts that `err` is the duplicate key of [`duplicate_key_history`] (b2's second
/// INSERT), which left `aftermath`, with the error code and message of `kind`.
pub fn assert_duplicate_key(err: &Error, kind: Kind, aftermath: Aftermath) {
    // The header is 5 lines, the marker line 6, the failing INSERT the 3rd statement.
    assert_statement_failed(err, "b2", 9, aftermath);
    let (duplicate_code, duplicate_message) = match kind {
        Kind::Postgres => ("23505", "duplicate key"),
        Kind::MySql => ("23000", "Duplicate entry"),
        Kind::Sqlite => ("1555", "UNIQUE constraint failed: t.id"),
    };
    assert!(
        matches!(err, Error::Statement { step, .. } if step.code.as_deref() == Some(duplicate_code)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "b2_rev.sql:9: upgrade of revision b2 failed: {duplicate_message}"
        )),
        "{text}"
    );
}

/// On a database whose DDL is transactional (not MariaDB: its DDL commits, see `mysql.rs`),
/// a statement that fails leaves the database as it was before the revision, DDL included,
/// and the pool usable; fixed, the run completes.
pub async fn failing_statement_leaves_previous_revision_state<DB: Db>() {
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    let dir = Dir::new();
    duplicate_key_history(&dir);
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_duplicate_key(&err, DB::KIND, Aftermath::RolledBack);
    let text = err.to_string();
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

/// An applied revision's downgrade section and header comments may be edited; its upgrade
/// section may not, and nothing runs over such a history.
pub async fn edited_upgrade_is_refused_edited_downgrade_accepted<DB: Db>() {
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    let dir = Dir::new();
    dir.creates_table("a1", "", "t").rev(
        "b2",
        "a1",
        "",
        "ALTER TABLE t ADD COLUMN x INT;",
        Some("ALTER TABLE t DROP COLUMN x;"),
    );
    dir.load().run(&pool).await.unwrap();

    // The downgrade section and header comments may change (SQLite has no `DROP COLUMN IF
    // EXISTS`: there the downgrade gains a comment).
    let edited_downgrade = match DB::KIND {
        Kind::Sqlite => "-- x goes again\nALTER TABLE t DROP COLUMN x;",
        Kind::Postgres | Kind::MySql => "ALTER TABLE t DROP COLUMN IF EXISTS x;",
    };
    dir.rev(
        "b2",
        "a1",
        "-- Create Date: later",
        "ALTER TABLE t ADD COLUMN x INT;",
        Some(edited_downgrade),
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

/// A binary older than the database (which has a revision it does not know) is refused,
/// unless told to tolerate it; then it changes nothing.
pub async fn database_ahead_is_refused_unless_tolerated<DB: Db>() {
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    let dir = Dir::new();
    dir.creates_table("a1", "", "t")
        .creates_table("b2", "a1", "u");
    dir.load().run(&pool).await.unwrap();
    let old = Dir::new();
    old.creates_table("a1", "", "t");
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

/// Sixteen tasks, each with a pool of its own, run a chain of 20 revisions at once: each
/// revision is applied exactly once.
pub async fn sixteen_tasks_apply_each_revision_once<DB: Db>() {
    let db = TestDb::new(DB::KIND).await;
    sixteen_tasks_apply_each_revision_once_on::<DB>(&db).await;
}

/// [`sixteen_tasks_apply_each_revision_once`] on a database prepared by the caller.
pub async fn sixteen_tasks_apply_each_revision_once_on<DB: Db>(db: &TestDb) {
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
    let m: &'static Migrations = Box::leak(Box::new(dir.load()));
    let applied = concurrent_runs::<DB>(&db.url, m, 16).await;
    assert_eq!(
        applied, 20,
        "each revision is reported by the task that applied it"
    );
    let pool: Pool<DB> = db.pool().await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM counter").await, 19);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 20);
}

/// Runs `m` from `tasks` tasks at once, each on a pool of its own on `url` (closed after its
/// run); the number of steps they applied in all.
pub async fn concurrent_runs<DB: Db>(url: &str, m: &'static Migrations, tasks: usize) -> usize {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let url = url.to_owned();
        handles.push(tokio::spawn(async move {
            let pool = Pool::<DB>::connect(&url).await.unwrap();
            let r = m.run(&pool).await.map(|r| r.steps.len());
            pool.close().await;
            r
        }));
    }
    let mut applied = 0;
    for h in handles {
        applied += h.await.unwrap().unwrap();
    }
    applied
}
