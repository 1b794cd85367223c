//! The lease lock (docs/design.md §4.2, issue 18): a row in `revchain_lock` instead of the
//! session's advisory lock, for PgBouncer in transaction pooling mode (the real one, started
//! by `.ci/run` via `.ci/pgbouncer`, at `REVCHAIN_PGBOUNCER_URL`) and databases without
//! advisory locks. The revisions (`tests/fixtures/lease`: l02 sleeps 3 s, l03 is
//! `Transactional: false`) insert their id into `counter`, so that a revision applied twice
//! shows there.

use std::time::{Duration, Instant};

use revchain::{Error, LockMode, Migrations, Migrator};
use revchain_tests::{Kind, TestDb, exec, pg_lock_holders, scalar, table_exists};
use sqlx::{PgPool, Row};

static LEASE: Migrations = revchain::migrations!("fixtures/lease");

/// PgBouncer's server URL (no database), or `None` (with a notice) when it is not set
/// outside CI; in CI it must be.
fn pgbouncer() -> Option<String> {
    match std::env::var("REVCHAIN_PGBOUNCER_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("REVCHAIN_PGBOUNCER_URL is not set: .ci/run starts PgBouncer and sets it")
        }
        _ => {
            eprintln!(
                "skipped: REVCHAIN_PGBOUNCER_URL is not set (.ci/pgbouncer starts PgBouncer)"
            );
            None
        }
    }
}

async fn pool_on(url: &str, max: u32) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

/// Each revision of the fixture applied exactly once: one `counter` row and one log row each.
async fn assert_applied_once(direct: &PgPool) {
    let rows = sqlx::raw_sql("SELECT rev, count(*)::text FROM counter GROUP BY rev ORDER BY rev")
        .fetch_all(direct)
        .await
        .expect("reading counter");
    let seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect();
    let once = |id: &str| (id.to_owned(), "1".to_owned());
    assert_eq!(seen, vec![once("l01"), once("l02"), once("l03")]);
    assert_eq!(scalar(direct, "SELECT count(*) FROM revchain_log").await, 3);
    assert_eq!(
        scalar(direct, "SELECT count(*) FROM revchain_log WHERE dirty").await,
        0
    );
}

/// Through PgBouncer in transaction mode a session advisory lock means nothing: a second
/// client is handed the server session that holds it and "takes" it too. `auto` detects the
/// pooler and takes the lease; 32 concurrent boots, each with its own pool through PgBouncer,
/// all return Ok and apply each revision exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_pgbouncer_auto_takes_the_lease_and_32_boots_apply_once() {
    let Some(bouncer) = pgbouncer() else { return };
    let db = TestDb::new(Kind::Postgres).await;
    let via = format!("{bouncer}/{}", db.name);
    let direct = db.pool::<sqlx::Postgres>().await;

    // The advisory lock is unsafe here: two clients both get it.
    let a = pool_on(&via, 1).await;
    let b = pool_on(&via, 1).await;
    let take = "SELECT pg_try_advisory_lock(4242)";
    let got_a: bool = sqlx::raw_sql(take).fetch_one(&a).await.unwrap().get(0);
    let got_b: bool = sqlx::raw_sql(take).fetch_one(&b).await.unwrap().get(0);
    assert!(
        got_a && got_b,
        "both clients hold the `exclusive` lock: {got_a} {got_b}"
    );
    exec(&direct, "SELECT 1").await;
    a.close().await;
    b.close().await;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let via = via.clone();
        tasks.push(tokio::spawn(async move {
            let pool = pool_on(&via, 2).await;
            let result = Migrator::new(&LEASE)
                .lock_timeout(Duration::from_secs(120))
                .run(&pool)
                .await;
            pool.close().await;
            result.map(|r| r.steps.len())
        }));
    }
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("a boot task") {
            Ok(n) => applied += n,
            Err(e) => panic!("a boot failed: {e}"),
        }
    }
    let took = started.elapsed();
    eprintln!("32 concurrent boots through PgBouncer (transaction mode): {took:.2?}");
    assert_eq!(
        applied, 3,
        "the revisions were reported applied once in all"
    );
    assert_applied_once(&direct).await;
    // `auto` took the lease (the lock table exists), and every run released it.
    assert!(table_exists(&direct, "revchain_lock").await);
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM revchain_lock").await,
        0
    );
    // Nothing was locked up front on the pooled server sessions, which stay open.
    assert_eq!(pg_lock_holders(&direct).await, 0);
}

/// A pooler on the server's own port (`.ci/pgbouncer 127.0.0.2 5432`), where the port
/// probe cannot tell: the session probe sees the run's session setting on a new connection,
/// and `auto` takes the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_detects_a_pooler_on_the_server_s_own_port() {
    let Some(bouncer) = pgbouncer() else { return };
    let Some(same_port) = std::env::var("REVCHAIN_PGBOUNCER_SAME_PORT_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "REVCHAIN_PGBOUNCER_SAME_PORT_URL is not set"
        );
        eprintln!("skipped: REVCHAIN_PGBOUNCER_SAME_PORT_URL is not set ({bouncer} is)");
        return;
    };
    let db = TestDb::new(Kind::Postgres).await;
    let direct = db.pool::<sqlx::Postgres>().await;
    let pool = pool_on(&format!("{same_port}/{}", db.name), 2).await;
    let port: String = sqlx::raw_sql("SELECT current_setting('port')")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        format!(":{port}"),
        same_port[same_port.rfind(':').unwrap()..]
    );
    let report = Migrator::new(&LEASE).run(&pool).await.expect("a run");
    assert_eq!(report.steps.len(), 3);
    assert_applied_once(&direct).await;
    assert!(
        table_exists(&direct, "revchain_lock").await,
        "auto took the lease"
    );
    // Nothing was locked up front on the pooled server sessions, which stay open.
    assert_eq!(pg_lock_holders(&direct).await, 0);
}

/// The lease holder is killed with SIGKILL in the middle of its slow revision: its lease
/// stays in the table until it expires (2 s); a second run waits for the expiry, takes the
/// lease over and applies the rest exactly once. Through PgBouncer when it runs, otherwise
/// on PostgreSQL directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_s_lease_expires_and_is_taken_over() {
    let db = TestDb::new(Kind::Postgres).await;
    let via = match pgbouncer() {
        Some(bouncer) => format!("{bouncer}/{}", db.name),
        None => db.url.clone(),
    };
    let direct = db.pool::<sqlx::Postgres>().await;
    let mut holder = std::process::Command::new(env!("CARGO_BIN_EXE_lease_holder"))
        .args([via.as_str(), "2"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting lease_holder");
    // Wait until it is inside the slow revision (which holds the lease row).
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event = 'PgSleep'",
        db.name
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while scalar(&direct, &sleeping).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the holder never reached its slow revision"
        );
        assert!(
            holder.try_wait().unwrap().is_none(),
            "the holder ended early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM revchain_lock").await,
        1
    );
    let remaining_ms = scalar(
        &direct,
        "SELECT (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::bigint FROM revchain_lock",
    )
    .await;
    holder.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    let _ = holder.wait();

    let started = Instant::now();
    let pool = pool_on(&via, 2).await;
    let report = Migrator::new(&LEASE)
        .lock_mode(LockMode::Lease)
        .lease_ttl(Duration::from_secs(2))
        .lock_timeout(Duration::from_secs(30))
        .run(&pool)
        .await
        .expect("the second run takes the lease over");
    let waited = started.elapsed();
    eprintln!(
        "the takeover after SIGKILL took {waited:.2?}, and applied {:?}",
        report
            .steps
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
    );
    // The dead holder's lease blocked the run until it expired (by the server's clock).
    assert!(
        waited.as_millis() + 200 >= u128::try_from(remaining_ms.max(0)).unwrap(),
        "took the lease {waited:?} after the kill, {remaining_ms} ms before it expired"
    );
    // l01 committed before l02, which reads a table (`pg_sleep`), so it runs in a
    // transaction of its own (runtime/src/backend/group.rs, `quick`). l02's text holds its
    // bookkeeping and `COMMIT`: the server finishes it after the kill (it notices the dead
    // client only when it writes to it), holding the lease row locked until that commit, so
    // the takeover waits for it and does not apply l02 again. l03
    // (`Transactional: false`) was never sent.
    let ids: Vec<&str> = report.steps.iter().map(|s| s.id.as_str()).collect();
    assert!(ids == ["l03"] || ids == ["l02", "l03"], "{ids:?}");
    assert_applied_once(&direct).await;
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM revchain_lock").await,
        0
    );
}

/// The lease mode on PostgreSQL directly: 8 concurrent runs apply each revision once; `auto`
/// on PostgreSQL reached directly keeps the advisory lock (no lock table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_mode_on_postgres_directly() {
    let db = TestDb::new(Kind::Postgres).await;
    let direct = db.pool::<sqlx::Postgres>().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let pool = pool_on(&url, 2).await;
            let result = Migrator::new(&LEASE)
                .lock_mode(LockMode::Lease)
                .run(&pool)
                .await;
            pool.close().await;
            result.map(|r| r.steps.len())
        }));
    }
    let mut applied = 0;
    for task in tasks {
        applied += task.await.expect("a task").expect("a lease run");
    }
    assert_eq!(applied, 3);
    assert_applied_once(&direct).await;
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM revchain_lock").await,
        0
    );

    let other = TestDb::new(Kind::Postgres).await;
    let pool = other.pool::<sqlx::Postgres>().await;
    Migrator::new(&LEASE).run(&pool).await.expect("auto");
    assert!(
        !table_exists(&pool, "revchain_lock").await,
        "auto took the advisory lock"
    );
}

/// A run whose lease is taken from it while a `Transactional: false` revision runs (whose
/// statements hold no lock on the lease row) stops before its next revision with
/// `Error::LeaseLost`, whether that one is checked in a batch (transactional) or in its
/// running mark (`Transactional: false`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_the_run_before_its_next_revision() {
    for next_transactional in [true, false] {
        let dir = revchain_tests::Dir::new();
        let non_tx = "-- Transactional: false";
        dir.rev(
            "t01",
            "",
            "",
            "CREATE TABLE counter (rev VARCHAR(64) NOT NULL);",
            None,
        )
        .rev(
            "t02",
            "t01",
            non_tx,
            "INSERT INTO counter VALUES ('t02');\nSELECT pg_sleep(3);",
            None,
        )
        .rev(
            "t03",
            "t02",
            if next_transactional { "" } else { non_tx },
            "INSERT INTO counter VALUES ('t03');",
            None,
        );
        let migrations = dir.load();
        let db = TestDb::new(Kind::Postgres).await;
        let direct = db.pool::<sqlx::Postgres>().await;
        let pool = db.pool::<sqlx::Postgres>().await;
        let migrator = Migrator::new(&migrations)
            .lock_mode(LockMode::Lease)
            .lock_table(revchain::TableName::parse("app_lock").unwrap());
        let run = migrator.run(&pool);
        let steal = async {
            let sleeping = format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event = 'PgSleep'",
                db.name
            );
            let deadline = Instant::now() + Duration::from_secs(60);
            while scalar(&direct, &sleeping).await == 0 {
                assert!(
                    Instant::now() < deadline,
                    "the run never reached its slow revision"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            exec(&direct, "UPDATE app_lock SET owner = 'intruder'").await;
        };
        let (result, ()) = tokio::join!(run, steal);
        let error = result.expect_err("the lease was lost");
        assert!(matches!(error, Error::LeaseLost { .. }), "{error}");
        assert!(error.to_string().contains("app_lock"), "{error}");
        let logged = "SELECT count(*) FROM revchain_log WHERE NOT dirty";
        assert_eq!(
            scalar(&direct, logged).await,
            2,
            "t01, t02 applied: {error}"
        );
        assert_eq!(
            scalar(&direct, "SELECT count(*) FROM revchain_log").await,
            2
        );
        assert_eq!(scalar(&direct, "SELECT count(*) FROM counter").await, 1);
        assert_eq!(
            scalar(
                &direct,
                "SELECT count(*) FROM app_lock WHERE owner = 'intruder'"
            )
            .await,
            1,
            "the run did not release a lease it no longer holds"
        );
    }
}

/// A lease another process holds: waited for, named in `Error::LockTimeout`; once it has
/// expired (by the server's clock), taken over; released at the end of the run.
async fn a_foreign_lease<DB: revchain_tests::Db>(
    pool: &sqlx::Pool<DB>,
    migrations: &Migrations,
    insert_live: &str,
    expire: &str,
) {
    let migrator = Migrator::new(migrations)
        .lock_mode(LockMode::Lease)
        .lock_timeout(Duration::from_millis(600));
    exec(pool, insert_live).await;
    let error = migrator
        .upgrade(pool, "heads")
        .await
        .expect_err("the lease is taken");
    assert!(
        matches!(&error, Error::LockTimeout { holder: Some(h), .. } if h.contains("other-host") && h.contains("lease expires in")),
        "{error}"
    );
    exec(pool, expire).await;
    migrator
        .upgrade(pool, "heads")
        .await
        .expect("an expired lease is taken over");
    assert_eq!(scalar(pool, "SELECT count(*) FROM revchain_lock").await, 0);
}

/// The lease on MariaDB (`INSERT … ON DUPLICATE KEY UPDATE` with conditional assignments):
/// 8 concurrent runs apply each revision once; a foreign lease is waited for and, expired,
/// taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_mode_on_mariadb() {
    let dir = revchain_tests::Dir::new();
    dir.rev(
        "m01",
        "",
        "",
        "CREATE TABLE counter (rev VARCHAR(64) NOT NULL);",
        None,
    )
    .rev(
        "m02",
        "m01",
        "",
        "INSERT INTO counter VALUES ('m02');\nSELECT SLEEP(0.3);",
        None,
    )
    .rev(
        "m03",
        "m02",
        "",
        "INSERT INTO counter VALUES ('m03');",
        None,
    );
    // The runs are tasks of their own ('static).
    let migrations: &'static Migrations = Box::leak(Box::new(dir.load()));
    let db = TestDb::new(Kind::MySql).await;
    let pool = db.pool::<sqlx::MySql>().await;
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = db.url.clone();
        runs.spawn(async move {
            let pool = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .expect("connecting");
            let result = Migrator::new(migrations)
                .lock_mode(LockMode::Lease)
                .run(&pool)
                .await;
            pool.close().await;
            result.map(|r| r.steps.len())
        });
    }
    let mut applied = 0;
    while let Some(run) = runs.join_next().await {
        applied += run.expect("a task").expect("a lease run");
    }
    assert_eq!(applied, 3);
    let counted = "SELECT count(*) FROM counter GROUP BY rev HAVING count(*) > 1";
    assert!(
        sqlx::raw_sql(counted)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM counter").await, 2);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 3);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_lock").await, 0);
    a_foreign_lease(
        &pool,
        migrations,
        "INSERT INTO revchain_lock VALUES ('revchain_version', 'pid 1 on other-host (x)', \
         NOW(6), NOW(6) + INTERVAL 1 HOUR, NOW(6))",
        "UPDATE revchain_lock SET expires_at = NOW(6) - INTERVAL 1 SECOND",
    )
    .await;
}

/// The heartbeat keeps the lease of a run whose `Transactional: false` revision (which holds
/// no lock on the lease row) lasts three times the lease's time-to-live: a second run waits
/// for it rather than taking the lease over, and both return Ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_the_lease_of_a_long_revision() {
    let dir = revchain_tests::Dir::new();
    dir.rev(
        "h01",
        "",
        "",
        "CREATE TABLE counter (rev VARCHAR(64) NOT NULL);",
        None,
    )
    .rev(
        "h02",
        "h01",
        "-- Transactional: false",
        "INSERT INTO counter VALUES ('h02');\nSELECT pg_sleep(3);",
        None,
    );
    let migrations = dir.load();
    let db = TestDb::new(Kind::Postgres).await;
    let direct = db.pool::<sqlx::Postgres>().await;
    let first = db.pool::<sqlx::Postgres>().await;
    let second = db.pool::<sqlx::Postgres>().await;
    let migrator = Migrator::new(&migrations)
        .lock_mode(LockMode::Lease)
        .lease_ttl(Duration::from_secs(1))
        .lock_timeout(Duration::from_secs(30));
    let later = async {
        let sleeping = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event = 'PgSleep'",
            db.name
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while scalar(&direct, &sleeping).await == 0 {
            assert!(
                Instant::now() < deadline,
                "the run never reached its slow revision"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Two time-to-lives into the revision, the lease is still ahead of the server's clock.
        let live = "SELECT count(*) FROM revchain_lock WHERE expires_at > now()";
        assert_eq!(
            scalar(&direct, live).await,
            1,
            "the heartbeat extended the lease"
        );
        migrator.run(&second).await
    };
    let (a, b) = tokio::join!(migrator.run(&first), later);
    assert_eq!(a.expect("the long run kept its lease").steps.len(), 2);
    assert!(b.expect("the second run waited").steps.is_empty());
    assert_eq!(scalar(&direct, "SELECT count(*) FROM counter").await, 1);
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM revchain_log WHERE NOT dirty").await,
        2
    );
}

/// On MariaDB, whose DDL commits on its own, the lease is checked (and extended) before each
/// revision: a run whose lease was taken stops before its next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_a_mariadb_run() {
    let dir = revchain_tests::Dir::new();
    dir.rev(
        "m01",
        "",
        "",
        "CREATE TABLE counter (rev VARCHAR(64) NOT NULL);",
        None,
    )
    .rev(
        "m02",
        "m01",
        "",
        "INSERT INTO counter VALUES ('m02');\nSELECT SLEEP(2);",
        None,
    )
    .rev(
        "m03",
        "m02",
        "",
        "INSERT INTO counter VALUES ('m03');",
        None,
    );
    let migrations = dir.load();
    let db = TestDb::new(Kind::MySql).await;
    let direct = db.pool::<sqlx::MySql>().await;
    let pool = db.pool::<sqlx::MySql>().await;
    let migrator = Migrator::new(&migrations).lock_mode(LockMode::Lease);
    let steal = async {
        let sleeping = format!(
            "SELECT count(*) FROM information_schema.processlist WHERE db = '{}' AND info LIKE 'SELECT SLEEP(2)%'",
            db.name
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while scalar(&direct, &sleeping).await == 0 {
            assert!(
                Instant::now() < deadline,
                "the run never reached its slow revision"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        exec(&direct, "UPDATE revchain_lock SET owner = 'intruder'").await;
    };
    let (result, ()) = tokio::join!(migrator.run(&pool), steal);
    let error = result.expect_err("the lease was lost");
    assert!(matches!(error, Error::LeaseLost { .. }), "{error}");
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM revchain_log").await,
        2
    );
    assert_eq!(scalar(&direct, "SELECT count(*) FROM counter").await, 1);
}

/// The same foreign lease on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_lease_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool = db.pool::<sqlx::Postgres>().await;
    Migrator::new(&LEASE)
        .lock_mode(LockMode::Lease)
        .run(&pool)
        .await
        .expect("a first run");
    a_foreign_lease(
        &pool,
        &LEASE,
        "INSERT INTO revchain_lock VALUES ('revchain_version', 'pid 1 on other-host (x)', \
         now(), now() + interval '1 hour', now())",
        "UPDATE revchain_lock SET expires_at = now() - interval '1 second'",
    )
    .await;
}

const CLI: revchain_tests::Cli = revchain_tests::Cli(env!("CARGO_BIN_EXE_revchain-cli"));

/// The CLI's `--lock`, `--lock-table` and `--lease-ttl`; a mode that is not one is a usage
/// error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_the_lease_by_flag() {
    let db = TestDb::new(Kind::Postgres).await;
    let fixtures = revchain_tests::fixture("lease");
    let url = db.url.as_str();
    let args = [
        "--database-url",
        url,
        "--lock",
        "lease",
        "--lock-table",
        "cli_lock",
        "--lease-ttl",
        "5",
        "upgrade",
        "heads",
    ];
    CLI.ok(&fixtures, &args);
    let pool = db.pool::<sqlx::Postgres>().await;
    assert!(table_exists(&pool, "cli_lock").await);
    assert!(!table_exists(&pool, "revchain_lock").await);
    assert_applied_once(&pool).await;
    let out = CLI.run(
        &fixtures,
        &["--database-url", url, "--lock", "session", "current"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`session` is not a lock mode: use `auto`, `advisory` or `lease`"),
        "{stderr}"
    );
}

/// Reached directly, `auto` proves from the server's own view of the session's connection (a
/// socket this process holds) that no pooler stands between, and takes the advisory lock
/// without opening a second connection: the run's role may have only one, so a second
/// would be refused, the probe would fail, and the run would take the lease.
#[tokio::test]
async fn auto_proves_a_direct_connection_without_opening_another() {
    let db = TestDb::new(Kind::Postgres).await;
    let direct = db.pool::<sqlx::Postgres>().await;
    let role = format!("{}_one", db.name);
    exec(
        &direct,
        &format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 1"),
    )
    .await;
    exec(
        &direct,
        &format!("ALTER DATABASE {} OWNER TO {role}", db.name),
    )
    .await;
    let options: sqlx::postgres::PgConnectOptions = db.url.parse().expect("the test URL");
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.username(&role))
        .await
        .expect("the role connects");
    let run = Migrator::new(&PORTABLE).run(&one).await;
    one.close().await;
    exec(
        &direct,
        &format!("ALTER DATABASE {} OWNER TO postgres", db.name),
    )
    .await;
    exec(&direct, &format!("REASSIGN OWNED BY {role} TO postgres")).await;
    exec(&direct, &format!("DROP ROLE {role}")).await;
    assert_eq!(run.expect("a run").steps.len(), 8);
    assert!(
        !table_exists(&direct, "revchain_lock").await,
        "auto took the advisory lock, not the lease"
    );
}

static PORTABLE: Migrations = revchain::migrations!("fixtures/portable");
