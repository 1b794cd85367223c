//! The apply engines against real databases (issue 13): a failed revision is never run a
//! second time to find its failing statement; a cancelled or terminated revision is
//! reported as such; a syntax error in a later revision of a PostgreSQL batch lets the
//! revisions before it apply; revchain's bookkeeping never reads the revisions' own result
//! rows; a deferred constraint that fails at COMMIT is reported as that, and nothing is
//! logged as applied before its COMMIT; a revision that ends its own transaction is not
//! recorded.

use std::time::{Duration, Instant};

use revchain::{Aftermath, Error, Migrations};
use revchain_core::parse::parse_with;
use revchain_core::{History, Mode};
use revchain_tests::{Db, Dir, Kind, TestDb, exec, heads, scalar, table_exists};
use sqlx::{PgPool, Pool, SqlitePool};

/// The revisions the log records, among r1…r5, a1, b2 and c3.
async fn logged<DB: Db>(pool: &Pool<DB>) -> Vec<String> {
    let mut ids = Vec::new();
    for id in ["r1", "r2", "r3", "r4", "r5", "a1", "b2", "c3"] {
        let sql = format!("SELECT count(*) FROM revchain_log WHERE revision = '{id}'");
        if scalar(pool, &sql).await > 0 {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// Asserts that `err` is a failed statement of revision `id` at `line`, leaving
/// `aftermath`, and that its text holds `says`.
fn assert_failed(err: &Error, id: &str, line: usize, aftermath: Aftermath, says: &str) {
    let text = err.to_string();
    assert!(
        matches!(err, Error::Statement { step, .. }
            if step.id == id && step.line == line && step.aftermath == aftermath),
        "{err:?}\n{text}"
    );
    assert!(text.contains(says), "{text}");
}

// ---------------------------------------------------------------------------------------
// Item 3: nothing runs twice.

#[tokio::test]
async fn a_failed_revision_is_not_run_again_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = Dir::new();
    dir.rev("a1", "", "", "CREATE SEQUENCE s;", Some("DROP SEQUENCE s;"))
        .rev(
            "b2",
            "a1",
            "",
            "SELECT nextval('s');\nINSERT INTO missing\n  VALUES (1);",
            Some("SELECT 1;"),
        )
        .creates_table("c3", "b2", "w");
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_failed(
        &err,
        "b2",
        8,
        Aftermath::RolledBack,
        "b2_rev.sql:8: upgrade of revision b2 failed: relation \"missing\" does not exist",
    );
    // The sequence advanced once: b2 ran once (a sequence ignores the rollback).
    assert_eq!(scalar(&pool, "SELECT nextval('s')").await, 2);
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    assert!(!table_exists(&pool, "w").await);
}

/// Waits for a session that sleeps in `pg_sleep`.
async fn busy_backend(pool: &PgPool) -> i32 {
    let started = Instant::now();
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state = 'active' AND wait_event = 'PgSleep'",
        )
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no session ran the slow revision"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// a1 makes a sequence, a knob and a table; b2 takes a number, sleeps as long as the
/// knob says, and inserts; c3 creates `w`. Runs them from a task, and once b2 sleeps, runs
/// `end` (`{pid}` for its backend) from another session.
async fn interrupted_on_postgres(db: &TestDb, end: &str) -> (&'static Migrations, PgPool, Error) {
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE SEQUENCE s;\nCREATE TABLE knob (s FLOAT8);\nINSERT INTO knob VALUES (30);\nCREATE TABLE t (id INT);",
        Some("DROP TABLE t; DROP TABLE knob; DROP SEQUENCE s;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "SELECT nextval('s');\nSELECT pg_sleep((SELECT s FROM knob));\nINSERT INTO t VALUES (2);",
        Some("DELETE FROM t;"),
    )
    .creates_table("c3", "b2", "w");
    let m: &'static Migrations = Box::leak(Box::new(dir.load()));
    let pool: PgPool = db.pool().await;
    let run = tokio::spawn({
        let pool = pool.clone();
        async move { m.run(&pool).await }
    });
    let probe: PgPool = db.pool().await;
    let pid = busy_backend(&probe).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(end.replace("{pid}", &pid.to_string())))
        .execute(&probe)
        .await
        .unwrap();
    let started = Instant::now();
    let err = run.await.unwrap().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run slept again after it was ended"
    );
    (m, probe, err)
}

#[tokio::test]
async fn a_cancelled_revision_is_reported_as_cancelled_and_not_run_again_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let (m, probe, err) = interrupted_on_postgres(&db, "SELECT pg_cancel_backend({pid})").await;
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Cancelled { step, .. }
            if step.id == "b2" && step.line == 8 && step.aftermath == Aftermath::RolledBack
                && step.code.as_deref() == Some("57014")),
        "{err:?}"
    );
    assert!(
        text.contains("b2_rev.sql:8: the upgrade of revision b2 was cancelled")
            && text.contains("not an error in the SQL")
            && !text.contains("fix the SQL"),
        "{text}"
    );
    // One execution of b2: one number taken, its insert rolled back, c3 never started.
    assert_eq!(scalar(&probe, "SELECT nextval('s')").await, 2);
    assert_eq!(scalar(&probe, "SELECT count(*) FROM t").await, 0);
    assert_eq!(heads(m, &probe).await, ["a1"]);
    assert!(!table_exists(&probe, "w").await);
    // Run again (no sleep this time): it completes.
    sqlx::raw_sql("UPDATE knob SET s = 0")
        .execute(&probe)
        .await
        .unwrap();
    let r = m.run(&probe).await.unwrap();
    assert_eq!(r.steps.len(), 2);
}

#[tokio::test]
async fn a_terminated_session_is_reported_as_such_and_not_run_again_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let (m, probe, err) = interrupted_on_postgres(&db, "SELECT pg_terminate_backend({pid})").await;
    let text = err.to_string();
    assert!(
        matches!(&err, Error::ConnectionLost { step, .. }
            if step.id == "b2" && step.line == 8 && step.aftermath == Aftermath::RolledBack),
        "{err:?}"
    );
    assert!(
        text.contains("terminating connection due to administrator command")
            && !text.contains("fix the SQL"),
        "{text}"
    );
    // b2 reads a table, so it may take long and runs in a transaction of its own
    // (`group::quick`): a1 committed before it, b2 was rolled back whole (one number taken),
    // and nothing is marked dirty.
    assert_eq!(scalar(&probe, "SELECT nextval('s')").await, 2);
    assert_eq!(heads(m, &probe).await, ["a1"]);
    assert!(m.status(&probe).await.unwrap().dirty.is_empty());
}

// ---------------------------------------------------------------------------------------
// Item 3: a syntax error in a later revision of a batch.

/// r1…r5, each creating `t<k>` and dropping it on the way down; `up4` and `down2` replace
/// r4's upgrade and r2's downgrade.
fn five(up4: &str, down2: &str) -> Dir {
    let dir = Dir::new();
    for k in 1..=5 {
        let parent = if k == 1 {
            String::new()
        } else {
            format!("r{}", k - 1)
        };
        let up = if k == 4 {
            up4.to_owned()
        } else {
            format!("CREATE TABLE t{k} (id INT);")
        };
        let down = if k == 2 {
            down2.to_owned()
        } else {
            format!("DROP TABLE t{k};")
        };
        dir.rev(&format!("r{k}"), &parent, "", &up, Some(&down));
    }
    dir
}

#[tokio::test]
async fn a_syntax_error_in_a_later_revision_applies_the_ones_before_it_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = five(
        "CREATE TABLE t4 (id INT);\n\nCREATE TABLEX t4b (id INT);",
        "DROP TABLE t2;",
    );
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_failed(
        &err,
        "r4",
        9,
        Aftermath::NeverRan,
        "r4_rev.sql:9: upgrade of revision r4 failed: syntax error at or near \"TABLEX\"",
    );
    let text = err.to_string();
    assert!(text.contains("r4 never ran"), "{text}");
    assert!(!text.contains("no transaction in progress"), "{text}");
    assert_eq!(heads(&m, &pool).await, ["r3"]);
    assert_eq!(logged(&pool).await, ["r1", "r2", "r3"]);
    assert!(table_exists(&pool, "t3").await);
    assert!(!table_exists(&pool, "t4").await);
}

/// A statement of a revision in the middle of a group fails as it runs (a duplicate key,
/// an error with no position): the group, which takes no savepoints, is rolled back whole;
/// the revisions before the failed one are applied again, and it is not. Only the
/// sequences show the first attempt: r2's `nextval` ran twice (once rolled back), r4's
/// once.
#[tokio::test]
async fn a_statement_failing_in_a_group_keeps_the_revisions_before_it_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = five(
        "INSERT INTO t1 VALUES (nextval('s4'));\nINSERT INTO t1 VALUES (1);\nINSERT INTO t1 VALUES (1);",
        "DROP TABLE t2;",
    );
    dir.rev("r1", "", "", "CREATE TABLE t1 (id INT PRIMARY KEY);", None)
        .rev(
            "r2",
            "r1",
            "",
            "INSERT INTO t1 VALUES (nextval('s2') + 100);",
            None,
        );
    let m = dir.load();
    // Sequences made before the run: a rollback does not take back their numbers.
    exec(&pool, "CREATE SEQUENCE s2; CREATE SEQUENCE s4").await;
    let err = m.run(&pool).await.unwrap_err();
    assert_failed(
        &err,
        "r4",
        8,
        Aftermath::RolledBack,
        "r4_rev.sql:8: upgrade of revision r4 failed: duplicate key value violates unique constraint",
    );
    assert_eq!(heads(&m, &pool).await, ["r3"]);
    assert_eq!(logged(&pool).await, ["r1", "r2", "r3"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t1").await, 1);
    assert!(table_exists(&pool, "t3").await && !table_exists(&pool, "t5").await);
    assert_eq!(scalar(&pool, "SELECT nextval('s2')").await, 3);
    assert_eq!(scalar(&pool, "SELECT nextval('s4')").await, 2);
}

#[tokio::test]
async fn a_syntax_error_in_a_later_downgrade_reverts_the_ones_before_it_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = five(
        "CREATE TABLE t4 (id INT);",
        "DROP TABLE t2;\nDROP TABLEZ t2;",
    );
    let m = dir.load();
    m.run(&pool).await.unwrap();
    let err = m.downgrade(&pool, "base").await.unwrap_err();
    // r2's downgrade section starts on line 10 (upgrade on 7, blank, marker on 9).
    assert_failed(
        &err,
        "r2",
        11,
        Aftermath::NeverRan,
        "r2_rev.sql:11: downgrade of revision r2 failed: syntax error at or near \"TABLEZ\"",
    );
    assert_eq!(heads(&m, &pool).await, ["r2"]);
    assert_eq!(logged(&pool).await, ["r1", "r2"]);
    assert!(table_exists(&pool, "t2").await);
    assert!(!table_exists(&pool, "t3").await);
}

#[tokio::test]
async fn an_unterminated_string_blames_its_own_revision_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = five("CREATE TABLE t4 (id INT);\nSELECT 'open;", "DROP TABLE t2;");
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::Statement { step, .. }
            if step.id == "r4" && step.aftermath == Aftermath::NeverRan && step.line == 8),
        "{err:?}"
    );
    assert_eq!(heads(&m, &pool).await, ["r3"]);
}

// ---------------------------------------------------------------------------------------
// Item 11: the revisions' own result rows are never read as bookkeeping.

/// Revisions whose results look like revchain's own rows, by name, with the right and the
/// wrong types, and with many columns; `last` is appended to the third.
fn lookalikes(dir: &Dir, last: &str) {
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);\nSELECT 1 AS revchain_step, 'x' AS revchain_ms;",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "SELECT 'b2' AS revchain_step, 5::BIGINT AS revchain_ms, 'x' AS revchain_mark;\nSELECT 'zz:0', '1';\nINSERT INTO t VALUES (2);",
        Some("SELECT 1;"),
    )
    .rev(
        "c3",
        "b2",
        "",
        &format!(
            "SELECT g AS revchain_step, g::text AS revchain_ms, 1,2,3,4,5,6,7,8,9,10,11,12 FROM generate_series(1, 50) g;\nSELECT 'c3' AS revchain_step, g::BIGINT AS revchain_ms, 'x' AS revchain_mark, 4, 5 FROM generate_series(1, 50) g;\n{last}"
        ),
        Some("SELECT 1;"),
    );
}

#[tokio::test]
async fn result_rows_shaped_like_revchains_own_do_not_count_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = Dir::new();
    lookalikes(&dir, "INSERT INTO t VALUES (3);");
    let m = dir.load();
    let r = m.run(&pool).await.unwrap();
    assert_eq!(
        r.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["a1", "b2", "c3"]
    );
    assert_eq!(logged(&pool).await, ["a1", "b2", "c3"]);
    assert_eq!(heads(&m, &pool).await, ["c3"]);
}

#[tokio::test]
async fn lookalike_rows_before_a_failure_are_not_progress_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = Dir::new();
    lookalikes(&dir, "INSERT INTO missing VALUES (3);");
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_failed(&err, "c3", 9, Aftermath::RolledBack, "relation \"missing\"");
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert_eq!(logged(&pool).await, ["a1", "b2"]);
}

#[tokio::test]
async fn result_rows_shaped_like_revchains_own_do_not_count_on_sqlite() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);\nSELECT 1 AS revchain_step, 'x' AS revchain_ms, 3, 4, 5;",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "SELECT 'b2' AS revchain_step, 5 AS revchain_ms;\nINSERT INTO t VALUES (2);",
        Some("SELECT 1;"),
    );
    let m = dir.load();
    let r = m.run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 2);
    assert_eq!(heads(&m, &pool).await, ["b2"]);
}

// ---------------------------------------------------------------------------------------
// Item 14: a deferred constraint fails at COMMIT.

/// Asserts that `err` is revision b2's failure at COMMIT (its section starts at line 7).
fn assert_failed_at_commit(err: &Error, says: &str) {
    let text = err.to_string();
    assert!(
        matches!(err, Error::CommitFailed { step, .. } if step.id == "b2" && step.line == 7),
        "{err:?}\n{text}"
    );
    assert!(
        text.contains("b2_rev.sql:7: the upgrade of revision b2 failed at COMMIT")
            && text.contains(says)
            && text.contains("as it was before b2"),
        "{text}"
    );
}

/// a1 makes a deferred foreign key (`references` is the clause's target), b2 breaks it and
/// creates `v`, c3 creates `w`: the run fails at b2's COMMIT with `message`, and nothing of
/// b2 or c3 is there or logged.
async fn deferred_constraint_fails_at_commit<DB: Db>(
    pool: &Pool<DB>,
    references: &str,
    message: &str,
) {
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        &format!(
            "CREATE TABLE p (id INT PRIMARY KEY);\nCREATE TABLE c (pid INT REFERENCES {references} DEFERRABLE INITIALLY DEFERRED);"
        ),
        Some("DROP TABLE c; DROP TABLE p;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "INSERT INTO c VALUES (42);\nCREATE TABLE v (id INT);",
        Some("DROP TABLE v;"),
    )
    .creates_table("c3", "b2", "w");
    let m = dir.load();
    let err = m.run(pool).await.unwrap_err();
    assert_failed_at_commit(&err, message);
    assert_eq!(heads(&m, pool).await, ["a1"]);
    assert_eq!(logged(pool).await, ["a1"]);
    assert!(!table_exists(pool, "v").await);
    assert!(!table_exists(pool, "w").await);
}

/// A revision that changes an existing table ends its group (runtime/src/backend/group.rs):
/// its lock goes with its commit, and is not held while a slow revision after it runs.
#[tokio::test]
async fn a_revision_that_alters_a_table_does_not_keep_it_locked_while_the_next_runs_on_postgres() {
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
        "ALTER TABLE t ADD COLUMN note TEXT;",
        Some("ALTER TABLE t DROP COLUMN note;"),
    )
    .rev(
        "c3",
        "b2",
        "",
        "CREATE TABLE slow (id INT);\nSELECT pg_sleep(2);",
        Some("DROP TABLE slow;"),
    );
    let m: &'static Migrations = Box::leak(Box::new(dir.load()));
    let run = tokio::spawn({
        let pool = pool.clone();
        async move { m.run(&pool).await }
    });
    let probe: PgPool = db.pool().await;
    busy_backend(&probe).await;
    // While c3 sleeps, `t` is free (the ALTER's lock would make this wait, then time out),
    // and b2 is recorded.
    sqlx::raw_sql("BEGIN; SET LOCAL lock_timeout = '500ms'; SELECT count(*) FROM t; COMMIT;")
        .execute(&probe)
        .await
        .expect("t is not locked while c3 runs");
    assert_eq!(logged(&probe).await, ["a1", "b2"]);
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.steps.len(), 3);
    assert_eq!(logged(&probe).await, ["a1", "b2", "c3"]);
}

/// PostgreSQL times the revisions of a group together, so only quick revisions (work
/// bounded by their text) form groups (runtime/src/backend/group.rs, `quick`): a revision
/// that can take long, between quick ones, runs and is timed alone, and the quick ones
/// around it share their groups' time.
#[tokio::test]
async fn a_revision_that_can_take_long_is_timed_alone_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = Dir::new();
    dir.creates_table("a1", "", "t")
        .rev(
            "b2",
            "a1",
            "",
            "INSERT INTO t VALUES (1);",
            Some("DELETE FROM t;"),
        )
        .rev("c3", "b2", "", "SELECT pg_sleep(0.4);", Some("SELECT 1;"))
        .rev(
            "d4",
            "c3",
            "",
            "INSERT INTO t VALUES (4);",
            Some("DELETE FROM t WHERE id = 4;"),
        )
        .rev(
            "e5",
            "d4",
            "",
            "CREATE SEQUENCE s;",
            Some("DROP SEQUENCE s;"),
        );
    let m = dir.load();
    let report = m.run(&pool).await.unwrap();
    let took: Vec<(&str, Duration)> = report
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.duration))
        .collect();
    assert_eq!(took.len(), 5);
    assert!(took[2].1 >= Duration::from_millis(400), "{took:?}");
    for (id, d) in [took[0], took[1], took[3], took[4]] {
        assert!(d < Duration::from_millis(400), "{id}: {took:?}");
    }
    let ms = |id: &str| format!("SELECT execution_ms FROM revchain_log WHERE revision = '{id}'");
    assert!(scalar(&pool, &ms("c3")).await >= 400);
    for id in ["a1", "b2", "d4", "e5"] {
        assert!(scalar(&pool, &ms(id)).await < 400, "{id}");
    }
    // a1 and b2 shared a transaction, and so did d4 and e5 (`applied_at` is the time the
    // transaction started); c3 had one of its own.
    let started: Vec<String> =
        sqlx::query_scalar("SELECT applied_at::text FROM revchain_log ORDER BY revision")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(started[0], started[1], "{started:?}");
    assert_eq!(started[3], started[4], "{started:?}");
    assert_ne!(started[1], started[2], "{started:?}");
    assert_ne!(started[2], started[3], "{started:?}");
}

#[tokio::test]
async fn a_deferred_constraint_failing_at_commit_is_reported_so_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    deferred_constraint_fails_at_commit(&pool, "p", "violates foreign key constraint").await;
}

#[tokio::test]
async fn a_deferred_constraint_failing_at_commit_is_reported_so_on_sqlite() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: SqlitePool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            db.url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .foreign_keys(true),
        )
        .await
        .unwrap();
    deferred_constraint_fails_at_commit(&pool, "p (id)", "FOREIGN KEY constraint failed").await;
    // The connection is usable, outside any transaction.
    sqlx::raw_sql("BEGIN; SELECT 1; COMMIT;")
        .execute(&pool)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Item 4 (run time): a revision that ends its own transaction is not recorded.

/// A history whose b2 upgrade is `b2_sql`, put in after parsing (the parser refuses
/// transaction control in a transactional revision; this checks the run-time check
/// behind it).
fn with_hidden_sql(b2_sql: &str) -> Migrations {
    let a1 = parse_with(
        "a1_rev.sql",
        "-- a1\n-- Revision ID: a1\n-- Revises:\n-- migrate:upgrade\nCREATE TABLE t (id INT);\n-- migrate:downgrade\nDROP TABLE t;\n",
        Mode::Strict,
    )
    .unwrap();
    let mut b2 = parse_with(
        "b2_rev.sql",
        "-- b2\n-- Revision ID: b2\n-- Revises: a1\n-- migrate:upgrade\nSELECT 1;\n-- migrate:downgrade\nSELECT 1;\n",
        Mode::Strict,
    )
    .unwrap();
    b2.upgrade.sql = b2_sql.to_owned();
    Migrations::from_history(History::from_files(vec![a1, b2]).unwrap(), "hidden")
}

async fn ending_the_transaction_is_refused<DB: Db>(pool: &Pool<DB>, sql: &str) {
    let m = with_hidden_sql(sql);
    let err = m.run(pool).await.unwrap_err();
    let text = err.to_string();
    // The pre-flight, with the database's own rules, refuses the plan before any of it
    // runs; the engines' own check behind it is tested in the runtime crate
    // (`backend::transaction_ended_tests`), which can hand them such SQL directly.
    assert!(
        matches!(&err, Error::Refused { id, .. } if id == "b2"),
        "{sql}: {err:?}\n{text}"
    );
    assert!(
        text.contains("b2_rev.sql:") && text.contains("Transactional: false"),
        "{text}"
    );
    assert!(heads(&m, pool).await.is_empty(), "{sql}: nothing ran");
    let conn = pool.acquire().await.unwrap();
    assert!(!sqlx::Connection::is_in_transaction(&*conn), "{sql}");
}

/// Each on a fresh database of `kind`, through a one-connection pool (so that the
/// connection checked afterwards is the one that ran the revision).
async fn endings_are_refused<DB: Db>(kind: Kind) {
    for sql in [
        "INSERT INTO t VALUES (1);\nCOMMIT;\nINSERT INTO t VALUES (2);",
        "INSERT INTO t VALUES (1);\nROLLBACK;",
        "COMMIT;\nBEGIN;\nINSERT INTO t VALUES (2);",
        "END;",
    ] {
        let db = TestDb::new(kind).await;
        let pool = sqlx::pool::PoolOptions::<DB>::new()
            .max_connections(1)
            .connect(&db.url)
            .await
            .unwrap();
        ending_the_transaction_is_refused(&pool, sql).await;
    }
}

#[tokio::test]
async fn a_revision_that_ends_its_transaction_is_refused_before_it_runs_on_postgres() {
    endings_are_refused::<sqlx::Postgres>(Kind::Postgres).await;
}

#[tokio::test]
async fn a_revision_that_ends_its_transaction_is_refused_before_it_runs_on_sqlite() {
    endings_are_refused::<sqlx::Sqlite>(Kind::Sqlite).await;
}

#[tokio::test]
async fn a_revision_that_resets_all_settings_is_not_taken_for_one_that_ended_its_transaction() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = Dir::new();
    dir.creates_table("a1", "", "t").rev(
        "b2",
        "a1",
        "",
        "INSERT INTO t VALUES (1);\nRESET ALL;\nINSERT INTO t VALUES (2);",
        Some("DELETE FROM t;"),
    );
    let m = dir.load();
    // Its savepoint outlives `RESET ALL`, which shows that its transaction is still open:
    // it is applied and recorded, once, with a duration.
    let report = m.run(&pool).await.unwrap();
    assert_eq!(report.steps.len(), 2);
    assert_eq!(heads(&m, &pool).await, ["b2"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 2);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_log WHERE execution_ms >= 0"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_syntax_error_deep_in_a_long_run_applies_everything_before_it_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = Dir::new();
    dir.creates_table("r000", "", "t000");
    for k in 1..120 {
        let (id, parent) = (format!("r{k:03}"), format!("r{:03}", k - 1));
        if k == 97 {
            // A multi-byte character before the error: the position counts characters.
            dir.rev(
                &id,
                &parent,
                "",
                "INSERT INTO t000 VALUES (1); -- é ü\nSELEC 1;",
                Some("SELECT 1;"),
            );
        } else {
            dir.creates_table(&id, &parent, &format!("t{k:03}"));
        }
    }
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_failed(
        &err,
        "r097",
        8,
        Aftermath::NeverRan,
        "r097_rev.sql:8: upgrade of revision r097 failed: syntax error at or near \"SELEC\"",
    );
    assert_eq!(heads(&m, &pool).await, ["r096"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 97);
    assert!(table_exists(&pool, "t096").await);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t000").await, 0);
}
