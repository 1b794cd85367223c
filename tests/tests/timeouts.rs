//! Lock and statement timeouts of revisions (`Lock Timeout`, `Statement Timeout` headers and
//! the migrator's defaults), and the retry of a transactional revision that timed out
//! waiting for a lock (docs/design.md §4.12), against the real servers.

use std::time::{Duration, Instant};

use revchain::{Error, Migrator};
use revchain_tests::{Captured, Dir, Kind, TestDb, heads, scalar, table_exists};
use sqlx::{Connection, Executor, MySql, MySqlConnection, PgConnection, Pool, Postgres};

/// The lines logged about lock-timeout retries.
fn retries(captured: &Captured) -> Vec<String> {
    captured.lines_with("timed out waiting for a lock")
}

/// A session that holds an `ACCESS EXCLUSIVE` lock on table `t` in an open transaction;
/// its pid.
async fn pg_blocker(url: &str) -> (PgConnection, i32) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    (conn, pid)
}

/// a0 creates table `u`; a1 adds a column to `t` (which exists before the run), with
/// `extra` headers.
fn alter_history(extra: &str) -> Dir {
    let dir = Dir::new();
    dir.creates_table("a0", "", "u");
    dir.rev(
        "a1",
        "a0",
        extra,
        "ALTER TABLE t ADD COLUMN b INT;",
        Some("ALTER TABLE t DROP COLUMN b;"),
    );
    dir
}

async fn pg_with_t() -> (TestDb, Pool<Postgres>) {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: Pool<Postgres> = db.pool().await;
    sqlx::raw_sql("CREATE TABLE t (id INT)")
        .execute(&pool)
        .await
        .unwrap();
    (db, pool)
}

/// Blocked by another session's lock, the revision times out after its `Lock Timeout`, is
/// rolled back and tried again until the blocker ends; it is applied once, and each retry
/// is logged at `warn` naming the blocker's pid.
#[tokio::test]
async fn postgres_lock_timeout_is_retried_until_the_blocker_ends() {
    let (db, pool) = pg_with_t().await;
    let dir = alter_history("-- Lock Timeout: 200ms");
    let m = dir.load();
    let (mut blocker, pid) = pg_blocker(&db.url).await;
    let (captured, _guard) = Captured::start(tracing::Level::WARN);
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        blocker.execute("ROLLBACK").await.unwrap();
        blocker
    });
    let report = Migrator::new(&m).lock_retries(20).run(&pool).await.unwrap();
    drop(release.await.unwrap());
    assert_eq!(report.steps.len(), 2, "{report:?}");
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    let logged = scalar(
        &pool,
        "SELECT count(*) FROM revchain_log WHERE revision = 'a1'",
    )
    .await;
    assert_eq!(logged, 1);
    let column = "SELECT count(*) FROM information_schema.columns \
                  WHERE table_name = 't' AND column_name = 'b'";
    assert_eq!(scalar(&pool, column).await, 1);
    let retries = retries(&captured);
    assert!(!retries.is_empty(), "no retry was logged");
    assert!(retries.iter().all(|l| l.contains("WARN")), "{retries:?}");
    assert!(
        retries[0].contains(&format!("pid {pid} ")) && retries[0].contains("revision a1"),
        "{retries:?}"
    );
    assert!(retries[0].contains("LOCK TABLE t"), "{retries:?}");
}

/// When every try times out, the error is the statement's, saying how many tries were
/// made; the revision before it committed, the timed-out one left nothing.
#[tokio::test]
async fn postgres_lock_retries_exhausted_report_the_tries() {
    let (db, pool) = pg_with_t().await;
    let dir = alter_history("-- Lock Timeout: 100ms");
    let m = dir.load();
    let (mut blocker, _) = pg_blocker(&db.url).await;
    let (captured, _guard) = Captured::start(tracing::Level::WARN);
    let err = Migrator::new(&m)
        .lock_retries(2)
        .run(&pool)
        .await
        .unwrap_err();
    blocker.execute("ROLLBACK").await.unwrap();
    let Error::Statement { step, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(step.id, "a1", "{err}");
    assert_eq!(step.code.as_deref(), Some("55P03"), "{err}");
    assert!(err.to_string().contains("on each of 3 tries"), "{err}");
    assert_eq!(retries(&captured).len(), 2, "{:?}", retries(&captured));
    assert_eq!(heads(&m, &pool).await, ["a0"]);
    assert!(table_exists(&pool, "u").await);
    let column = "SELECT count(*) FROM information_schema.columns \
                  WHERE table_name = 't' AND column_name = 'b'";
    assert_eq!(scalar(&pool, column).await, 0);
    let logged = scalar(
        &pool,
        "SELECT count(*) FROM revchain_log WHERE revision = 'a1'",
    )
    .await;
    assert_eq!(logged, 0);
}

/// A statement timeout cancels the revision and is not retried.
#[tokio::test]
async fn postgres_statement_timeout_is_not_retried() {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: Pool<Postgres> = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "s1",
        "",
        "-- Statement Timeout: 100ms",
        "SELECT pg_sleep(1);",
        None,
    );
    let m = dir.load();
    let (captured, _guard) = Captured::start(tracing::Level::WARN);
    let started = Instant::now();
    let err = Migrator::new(&m).run(&pool).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let Error::Cancelled { step, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(step.code.as_deref(), Some("57014"), "{err}");
    assert!(retries(&captured).is_empty(), "{:?}", retries(&captured));
    assert!(heads(&m, &pool).await.is_empty());
}

/// The migrator's defaults apply to revisions without headers; a header wins over them.
#[tokio::test]
async fn postgres_migrator_defaults_apply_without_headers() {
    let (db, pool) = pg_with_t().await;
    let dir = alter_history("");
    let m = dir.load();
    let (mut blocker, _) = pg_blocker(&db.url).await;
    let started = Instant::now();
    let err = Migrator::new(&m)
        .default_lock_timeout(Duration::from_millis(100))
        .lock_retries(0)
        .run(&pool)
        .await
        .unwrap_err();
    blocker.execute("ROLLBACK").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let Error::Statement { step, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        (step.id.as_str(), step.code.as_deref()),
        ("a1", Some("55P03"))
    );
    assert!(!err.to_string().contains("tries"), "{err}");

    let dir = Dir::new();
    dir.rev("s1", "", "", "SELECT pg_sleep(1);", None);
    dir.rev(
        "s2",
        "s1",
        "-- Statement Timeout: 5s",
        "SELECT pg_sleep(0.3);",
        None,
    );
    let m = dir.load();
    let db = TestDb::new(Kind::Postgres).await;
    let pool: Pool<Postgres> = db.pool().await;
    let slow = Migrator::new(&m).default_statement_timeout(Duration::from_millis(100));
    let err = slow.clone().run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::Cancelled { step, .. } if step.id == "s1"),
        "{err:?}"
    );
    // s1 passes without the default; s2's own header outlasts its 0.3 s.
    let report = Migrator::new(&m)
        .default_statement_timeout(Duration::from_millis(2000))
        .run(&pool)
        .await
        .unwrap();
    assert_eq!(report.steps.len(), 2);
    let dir2 = Dir::new();
    dir2.rev("s1", "", "", "SELECT 1;", None);
    dir2.rev(
        "s2",
        "s1",
        "-- Statement Timeout: 5s",
        "SELECT pg_sleep(0.3);",
        None,
    );
    let m2 = dir2.load();
    let db2 = TestDb::new(Kind::Postgres).await;
    let pool2: Pool<Postgres> = db2.pool().await;
    let report = Migrator::new(&m2)
        .default_statement_timeout(Duration::from_millis(100))
        .run(&pool2)
        .await
        .unwrap();
    assert_eq!(
        report.steps.len(),
        2,
        "the header's 5 s beat the default's 100 ms"
    );
}

/// Inside a revision its timeouts are in force (transactional: `SET LOCAL`; not
/// transactional: `SET`); afterwards the caller's connection has its own settings back.
#[tokio::test]
async fn postgres_session_settings_are_restored() {
    let db = TestDb::new(Kind::Postgres).await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute("SET lock_timeout = '7s'; SET statement_timeout = '9min'")
        .await
        .unwrap();
    let record = "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')";
    let dir = Dir::new();
    dir.rev(
        "r1",
        "",
        "-- Lock Timeout: 200ms\n-- Statement Timeout: 5s",
        &format!("CREATE TABLE seen (rev TEXT, l TEXT, s TEXT);\nINSERT INTO seen SELECT 'r1', * FROM ({record}) x;"),
        None,
    );
    dir.rev(
        "r2",
        "r1",
        "-- Transactional: false\n-- Lock Timeout: 300ms",
        &format!("INSERT INTO seen SELECT 'r2', * FROM ({record}) x;"),
        None,
    );
    dir.rev(
        "r3",
        "r2",
        "",
        &format!("INSERT INTO seen SELECT 'r3', * FROM ({record}) x;"),
        None,
    );
    let m = dir.load();
    Migrator::new(&m)
        .default_statement_timeout(Duration::from_secs(60))
        .run(&mut conn)
        .await
        .unwrap();
    let seen: Vec<(String, String, String)> =
        sqlx::query_as("SELECT rev, l, s FROM seen ORDER BY rev")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let expected = [
        ("r1", "200ms", "5s"),
        ("r2", "300ms", "1min"),
        ("r3", "7s", "1min"),
    ];
    let seen: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|(r, l, s)| (r.as_str(), l.as_str(), s.as_str()))
        .collect();
    assert_eq!(seen, expected);
    let now: (String, String) = sqlx::query_as(record).fetch_one(&mut conn).await.unwrap();
    assert_eq!(now, ("7s".to_owned(), "9min".to_owned()));
}

/// A MariaDB session whose open transaction read table `t`: it holds a metadata lock on
/// it until the transaction ends, which `ALTER TABLE t` waits for. Its connection id.
async fn mysql_blocker(url: &str) -> (MySqlConnection, u64) {
    let mut conn = MySqlConnection::connect(url).await.unwrap();
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.execute("BEGIN").await.unwrap();
    conn.execute("SELECT * FROM t").await.unwrap();
    (conn, id)
}

/// MariaDB: an `ALTER TABLE` blocked by another session's metadata lock times out after
/// `lock_wait_timeout`, is tried again, and succeeds once the blocker ends; the retries
/// name the blocker's connection, and the session's setting is back afterwards.
#[tokio::test]
async fn mariadb_lock_timeout_is_retried_until_the_blocker_ends() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: Pool<MySql> = db.pool().await;
    sqlx::raw_sql("CREATE TABLE t (id INT) ENGINE = InnoDB")
        .execute(&pool)
        .await
        .unwrap();
    let dir = alter_history("-- Lock Timeout: 1s");
    let m = dir.load();
    let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
    conn.execute("SET SESSION lock_wait_timeout = 77")
        .await
        .unwrap();
    let (mut blocker, id) = mysql_blocker(&db.url).await;
    let (captured, _guard) = Captured::start(tracing::Level::WARN);
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        blocker.execute("ROLLBACK").await.unwrap();
        blocker
    });
    let report = Migrator::new(&m)
        .lock_retries(10)
        .run(&mut conn)
        .await
        .unwrap();
    drop(release.await.unwrap());
    assert_eq!(report.steps.len(), 2, "{report:?}");
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    let logged = scalar(
        &pool,
        "SELECT count(*) FROM revchain_log WHERE revision = 'a1'",
    )
    .await;
    assert_eq!(logged, 1);
    let retries = retries(&captured);
    assert!(!retries.is_empty(), "no retry was logged");
    assert!(
        retries[0].contains(&format!("connection {id} ")),
        "{retries:?}"
    );
    let now: i64 = sqlx::query_scalar("SELECT CAST(@@SESSION.lock_wait_timeout AS SIGNED)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(now, 77);
}

/// MariaDB: `max_statement_time` cancels a revision's long statement; no retry.
#[tokio::test]
async fn mariadb_statement_timeout_is_not_retried() {
    let db = TestDb::new(Kind::MySql).await;
    let pool: Pool<MySql> = db.pool().await;
    let dir = Dir::new();
    dir.rev(
        "s1",
        "",
        "-- Statement Timeout: 100ms",
        "SELECT SLEEP(2);",
        None,
    );
    let m = dir.load();
    let (captured, _guard) = Captured::start(tracing::Level::WARN);
    let started = Instant::now();
    let err = Migrator::new(&m).run(&pool).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, Error::Cancelled { step, .. } if step.id == "s1"),
        "{err:?}"
    );
    assert!(retries(&captured).is_empty(), "{:?}", retries(&captured));
    assert!(heads(&m, &pool).await.is_empty());
}

/// The `revchain` tool on `dir` with a database: its exit code and stderr.
fn cli(dir: &std::path::Path, url: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running revchain");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

/// revchain's PostgreSQL migration lock key for the default version table.
fn pg_migration_lock_key() -> i64 {
    let d = revchain::Digest::of(b"revchain:revchain_version");
    let b = d.as_bytes();
    let hi = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
    let lo = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    (i64::from(hi) << 32) | i64::from(lo)
}

/// The CLI's `--default-lock-timeout`, `--lock-retries` and `--default-statement-timeout`
/// reach the revisions; `--lock-timeout`, the former name of `--migration-lock-timeout`,
/// still bounds the wait for the migration lock.
#[tokio::test]
async fn postgres_cli_flags() {
    let (db, pool) = pg_with_t().await;
    let dir = alter_history("");
    let (mut blocker, pid) = pg_blocker(&db.url).await;
    let args = [
        "--default-lock-timeout",
        "100ms",
        "--lock-retries",
        "1",
        "upgrade",
        "head",
    ];
    let (path, url) = (dir.path().to_owned(), db.url.clone());
    let (code, stderr) = tokio::task::spawn_blocking(move || cli(&path, &url, &args))
        .await
        .unwrap();
    blocker.execute("ROLLBACK").await.unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("55P03") && stderr.contains("on each of 2 tries"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {pid} ")), "{stderr}");
    assert_eq!(heads(&dir.load(), &pool).await, ["a0"]);

    let (code, stderr) = cli(
        dir.path(),
        &db.url,
        &["--default-lock-timeout", "soon", "upgrade"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`soon` is not a duration"), "{stderr}");

    let slow = Dir::new();
    slow.rev("s1", "", "", "SELECT pg_sleep(1);", None);
    let db2 = TestDb::new(Kind::Postgres).await;
    let (code, stderr) = cli(
        slow.path(),
        &db2.url,
        &["--default-statement-timeout", "100ms", "upgrade", "head"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cancelled") && stderr.contains("57014"),
        "{stderr}"
    );

    // The migration lock held elsewhere: the old flag gives up after its 1 s.
    let mut holder = PgConnection::connect(&db2.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(pg_migration_lock_key())
        .execute(&mut holder)
        .await
        .unwrap();
    for flag in ["--lock-timeout", "--migration-lock-timeout"] {
        let started = Instant::now();
        let (code, stderr) = cli(slow.path(), &db2.url, &[flag, "1", "upgrade", "head"]);
        assert_eq!(code, Some(75), "{flag}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(5), "{flag}");
    }
}

static EMBEDDED: revchain::Migrations = revchain::migrations!("fixtures/timeouts");

/// The `migrations!` table carries the headers, and a run of it applies them.
#[tokio::test]
async fn postgres_embedded_table_carries_the_headers() {
    let t1 = EMBEDDED.get("t1").unwrap();
    assert_eq!(t1.lock_timeout(), Some(Duration::from_millis(250)));
    assert_eq!(t1.statement_timeout(), Some(Duration::from_secs(120)));
    let t2 = EMBEDDED.get("t2").unwrap();
    assert_eq!((t2.lock_timeout(), t2.statement_timeout()), (None, None));
    let db = TestDb::new(Kind::Postgres).await;
    let pool: Pool<Postgres> = db.pool().await;
    EMBEDDED.run(&pool).await.unwrap();
    let seen: Vec<(String, String)> = sqlx::query_as("SELECT l, s FROM seen")
        .fetch_all(&pool)
        .await
        .unwrap();
    let defaults: (String, String) = sqlx::query_as(
        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(seen, [("250ms".to_owned(), "2min".to_owned()), defaults]);
}

/// MariaDB: the migrator's default statement timeout applies to a revision without a
/// header, and the caller's connection has its own `max_statement_time` back afterwards.
#[tokio::test]
async fn mariadb_migrator_default_and_session_restored() {
    let db = TestDb::new(Kind::MySql).await;
    let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
    conn.execute("SET SESSION max_statement_time = 30")
        .await
        .unwrap();
    let dir = Dir::new();
    dir.rev("s1", "", "", "SELECT SLEEP(2);", None);
    let m = dir.load();
    let started = Instant::now();
    let err = Migrator::new(&m)
        .default_statement_timeout(Duration::from_millis(200))
        .run(&mut conn)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, Error::Cancelled { step, .. } if step.id == "s1"),
        "{err:?}"
    );
    let now: f64 = sqlx::query_scalar("SELECT CAST(@@SESSION.max_statement_time AS DOUBLE)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(now, 30.0);
}
