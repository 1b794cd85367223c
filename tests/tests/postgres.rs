//! The runtime against a real PostgreSQL: the shop fixture (`CREATE INDEX CONCURRENTLY`
//! outside a transaction), and the shared scenarios of `revchain_tests::scenarios`.

use revchain::Error;
use revchain_tests::{
    Captured, Kind, TestDb, fixture, heads, load, pg_lock_holders, scalar, scenarios, table_exists,
};
use sqlx::{PgPool, Postgres};

/// How many indexes `ix_users_email` (the shop's concurrent index) there are.
const EMAIL_INDEXES: &str = "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_users_email'";

#[tokio::test]
async fn shop_fixture_up_down_stamp_and_back() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let m = load(&fixture("shop"));

    let report = m.run(&pool).await.unwrap();
    assert_eq!(report.steps.len(), 6);
    assert_eq!(report.heads_after, ["6f708192a3b4"]);
    assert!(table_exists(&pool, "orders").await);
    assert_eq!(scalar(&pool, EMAIL_INDEXES).await, 1);
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
    assert_eq!(scalar(&pool, EMAIL_INDEXES).await, 1);

    // One step down drops the index (a non-transactional revision).
    let r = m.downgrade(&pool, "-1").await.unwrap();
    assert_eq!(r.steps.len(), 1);
    assert_eq!(scalar(&pool, EMAIL_INDEXES).await, 0);
    assert_eq!(heads(&m, &pool).await, ["5e6f708192a3"]);

    // Step over the irreversible data migration knowingly, then go to base.
    let s = m.stamp(&pool, &["4d5e6f708192"], false).await.unwrap();
    assert_eq!(s.unstamped, ["5e6f708192a3"]);
    // `-1` from the merge is ambiguous (as in Alembic): name a parent to keep both.
    assert!(m.downgrade(&pool, "-1").await.is_err());
    m.downgrade(&pool, "2b3c4d5e6f70").await.unwrap();
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
async fn portable_fixture_up_down_stamp_and_back() {
    scenarios::portable_fixture_up_down_stamp_and_back::<Postgres>().await;
}

#[tokio::test]
async fn failing_statement_leaves_previous_revision_state() {
    scenarios::failing_statement_leaves_previous_revision_state::<Postgres>().await;
}

#[tokio::test]
async fn edited_upgrade_is_refused_edited_downgrade_accepted() {
    scenarios::edited_upgrade_is_refused_edited_downgrade_accepted::<Postgres>().await;
}

#[tokio::test]
async fn database_ahead_is_refused_unless_tolerated() {
    scenarios::database_ahead_is_refused_unless_tolerated::<Postgres>().await;
}

#[tokio::test]
async fn sixteen_tasks_apply_each_revision_once() {
    scenarios::sixteen_tasks_apply_each_revision_once::<Postgres>().await;
}

/// A version table that is not revchain's (no `chain_digest`): the read that fails with
/// the tables' creation is read again on its own, which names it, and the log table the
/// creation made is there; nothing else ran.
#[tokio::test]
async fn a_version_table_of_another_shape_is_named_and_nothing_runs() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    revchain_tests::exec(&pool, "CREATE TABLE revchain_version (revision TEXT)").await;
    let m = load(&fixture("shop"));
    let err = m.run(&pool).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("reading the version table"), "{text}");
    assert!(table_exists(&pool, "revchain_log").await);
    assert!(!table_exists(&pool, "users").await);
}

/// A group that committed is reported even when the next group of the same run fails: its
/// lines and durations are recorded while the server runs the next group, before that
/// group's failure is handled. The error lists them as applied before, and the log and
/// the version table say the same.
#[tokio::test]
async fn a_committed_group_is_reported_when_the_next_group_fails() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = revchain_tests::Dir::new();
    dir.creates_table("a1", "", "t")
        .rev(
            "a2",
            "a1",
            "",
            "INSERT INTO t VALUES (1);",
            Some("DELETE FROM t;"),
        )
        // Not quick (it changes existing rows): a group of its own, after a1 and a2's.
        .rev("b3", "a2", "", "UPDATE t SET id = id / 0;", None);
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    let Error::Statement { step, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(step.id, "b3", "{err}");
    let applied: Vec<&str> = (step.applied_before.steps.iter())
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(applied, ["a1", "a2"], "{err}");
    assert_eq!(heads(&m, &pool).await, ["a2"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 2);
}

/// A session of its own that holds revchain's advisory lock on `db`.
async fn lock_holder(db: &TestDb) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let lock = format!("SELECT pg_advisory_lock({})", revchain_tests::pg_lock_key());
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock))
        .execute(&mut holder)
        .await
        .unwrap();
    holder
}

/// Lets go of every advisory lock `holder` holds.
async fn let_go(holder: &mut sqlx::PgConnection) {
    sqlx::raw_sql("SELECT pg_advisory_unlock_all()")
        .execute(holder)
        .await
        .unwrap();
}

/// A run of `m` on `pool`, started and still waiting (for the lock) half a second later.
async fn waiting_run(
    m: &'static revchain::Migrations,
    pool: &PgPool,
) -> tokio::task::JoinHandle<Result<revchain::Report, Error>> {
    let run = tokio::spawn({
        let pool = pool.clone();
        async move { m.run(&pool).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!run.is_finished());
    run
}

/// A first run whose connection the server's own view proves direct (a socket this process
/// holds) takes the advisory lock in the round trip that creates the tables, with no probe
/// first, and lets go of it at the end; the next run of a new revision (tables there) takes
/// the lock the usual way.
#[tokio::test]
async fn a_first_run_takes_the_lock_with_the_tables_creation() {
    let (captured, _guard) = Captured::start(tracing::Level::DEBUG);
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = revchain_tests::Dir::new();
    dir.creates_table("a1", "", "t");
    let report = dir.load().run(&pool).await.unwrap();
    assert_eq!(report.steps.len(), 1);
    let up_front = "took the advisory lock with the tables' creation";
    assert_eq!(captured.lines_with(up_front).len(), 1);
    assert!(captured.lines_with("not taken up front").is_empty());
    assert!(!table_exists(&pool, "revchain_lock").await, "no lease");
    assert_eq!(pg_lock_holders(&pool).await, 0, "let go");
    dir.creates_table("b2", "a1", "u");
    assert_eq!(dir.load().run(&pool).await.unwrap().steps.len(), 1);
    assert_eq!(
        captured.lines_with(up_front).len(),
        1,
        "only on a first run"
    );
    assert_eq!(pg_lock_holders(&pool).await, 0);
}

/// A pool of one connection to `db` through the server's Unix-domain socket.
async fn unix_socket_pool(db: &TestDb) -> PgPool {
    let url = format!(
        "postgres://postgres@localhost/{}?host=/var/run/postgresql",
        db.name
    );
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap()
}

/// `LockMode::Advisory` asks for no proof: a first run sends its lock statement with the
/// creation, over any connection.
#[tokio::test]
async fn a_first_run_in_advisory_mode_takes_the_lock_with_the_creation() {
    let (captured, _guard) = Captured::start(tracing::Level::DEBUG);
    let db = TestDb::new(Kind::Postgres).await;
    let pool = unix_socket_pool(&db).await;
    let dir = revchain_tests::Dir::new();
    dir.creates_table("a1", "", "t");
    let m = dir.load();
    let report = revchain::Migrator::new(&m)
        .lock_mode(revchain::LockMode::Advisory)
        .run(&pool)
        .await
        .unwrap();
    assert_eq!(report.steps.len(), 1);
    let up_front = captured.lines_with("took the advisory lock with the tables' creation");
    assert_eq!(up_front.len(), 1, "over a Unix-domain socket too");
    assert_eq!(pg_lock_holders(&pool).await, 0);
}

/// A first run that takes the lock up front but whose reads fail (a log table revchain
/// did not make, without the version table): the tables are opened again under the lock,
/// the run says which table it could not read, and lets go of the lock.
#[tokio::test]
async fn a_first_run_whose_reads_fail_after_the_lock_says_so_and_lets_go() {
    let (captured, _guard) = Captured::start(tracing::Level::DEBUG);
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    revchain_tests::exec(&pool, "CREATE TABLE revchain_log (x INT)").await;
    let dir = revchain_tests::Dir::new();
    dir.creates_table("a1", "", "t");
    let err = dir.load().run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::Database { .. }) && err.to_string().contains("log table"),
        "{err}"
    );
    let up_front = captured.lines_with("took the advisory lock with the tables' creation");
    assert_eq!(up_front.len(), 1);
    assert_eq!(pg_lock_holders(&pool).await, 0, "let go");
    assert!(!table_exists(&pool, "t").await, "nothing applied");
}

/// A first run whose lock is held elsewhere: the text that would have created the tables
/// fails at its lock statement, before anything else, and the run waits for the lock the
/// usual way; once the holder lets go, it applies.
#[tokio::test]
async fn a_first_run_whose_lock_is_held_creates_nothing_until_it_gets_it() {
    let (captured, _guard) = Captured::start(tracing::Level::DEBUG);
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = revchain_tests::Dir::new();
    dir.creates_table("a1", "", "t");
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));
    let mut holder = lock_holder(&db).await;
    let run = waiting_run(m, &pool).await;
    assert!(!table_exists(&pool, "revchain_version").await);
    let_go(&mut holder).await;
    assert_eq!(run.await.unwrap().unwrap().steps.len(), 1);
    let refused = captured.lines_with("not taken up front");
    assert!(
        refused.len() == 1 && refused[0].contains("the migration lock is taken"),
        "{refused:?}"
    );
    assert_eq!(pg_lock_holders(&pool).await, 0);
}

/// Through a Unix-domain socket the server sees no address to prove the connection by: a
/// first run takes the lock the usual way (the probe first) and applies.
#[tokio::test]
async fn a_first_run_over_a_unix_socket_probes_first() {
    let (captured, _guard) = Captured::start(tracing::Level::DEBUG);
    let db = TestDb::new(Kind::Postgres).await;
    let pool = unix_socket_pool(&db).await;
    let dir = revchain_tests::Dir::new();
    dir.creates_table("a1", "", "t");
    assert_eq!(dir.load().run(&pool).await.unwrap().steps.len(), 1);
    assert!(
        captured
            .lines_with("took the advisory lock with")
            .is_empty()
    );
    assert!(!table_exists(&pool, "revchain_lock").await, "no lease");
    assert_eq!(pg_lock_holders(&pool).await, 0);
}

/// A first run plans from no heads while it creates the tables, and uses that plan only if
/// the state it reads under the lock has no heads indeed: here another process (a session
/// that held the lock) applied a1 while this run waited, and this run applies b2 alone.
#[tokio::test]
async fn a_first_run_plans_again_when_another_process_applied_while_it_waited() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: PgPool = db.pool().await;
    let dir = revchain_tests::Dir::new();
    dir.creates_table("a1", "", "t").rev(
        "b2",
        "a1",
        "",
        "INSERT INTO t VALUES (2);",
        Some("DELETE FROM t;"),
    );
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));
    let mut holder = lock_holder(&db).await;
    // The run finds no tables, then waits for the lock.
    let run = waiting_run(m, &pool).await;
    // Meanwhile the holder (its advisory lock is its own session's, so it may take it again)
    // applies a1, then lets go.
    let first = m.upgrade(&mut holder, "a1").await.unwrap();
    assert_eq!(first.steps.len(), 1);
    let_go(&mut holder).await;
    let report = run.await.unwrap().unwrap();
    let applied: Vec<&str> = report.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(applied, ["b2"], "{report:?}");
    assert_eq!(heads(m, &pool).await, ["b2"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 1);
}
