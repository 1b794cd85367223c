//! The offline script (`upgrade … --sql`, `downgrade … --sql`) runs unchanged in each
//! database's own client (issue 13, item 15): `psql -v ON_ERROR_STOP=1`, `mariadb`/`mysql`
//! and `sqlite3 -bail`. For every fixture, the upgrade script run in the client gives the
//! schema, the version rows and the log rows that the online upgrade gives, and the
//! downgrade script gives what the online downgrade gives.
//!
//! A missing client fails the test when the environment variable `CI` is set (CI installs
//! them, see `.ci/run`); elsewhere the test says so and passes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use revchain_tests::{Kind, TestDb, fixture, server_url};
use sqlx::Connection;

/// One history, the databases it is written for, and where its downgrade stops (an
/// irreversible revision, or `base`).
struct Case {
    dir: PathBuf,
    kinds: &'static [Kind],
    down_to: &'static str,
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            dir: fixture("shop"),
            kinds: &[Kind::Postgres],
            down_to: "5e6f708192a3",
        },
        Case {
            dir: fixture("portable"),
            kinds: &Kind::ALL,
            down_to: "f6a7b8c9d0e1",
        },
    ];
    for (name, kinds) in [
        ("postgres", &[Kind::Postgres]),
        ("mysql", &[Kind::MySql]),
        ("sqlite", &[Kind::Sqlite]),
    ] {
        for group in ["offline", "reliability"] {
            cases.push(Case {
                dir: fixture(group).join(name),
                kinds,
                down_to: "base",
            });
        }
    }
    cases
}

fn dialect(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "postgres",
        Kind::MySql => "mysql",
        Kind::Sqlite => "sqlite",
    }
}

fn revchain(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("running revchain");
    assert!(
        out.status.success(),
        "revchain {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The client command for `db`, or `None` when it is not installed (a failure under CI).
fn client(db: &TestDb) -> Option<Command> {
    let found = |names: &[&str]| -> Option<String> {
        names.iter().find_map(|n| {
            let ok = Command::new(n)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            ok.then(|| n.to_string())
        })
    };
    let names: &[&str] = match db.kind {
        Kind::Postgres => &["psql"],
        Kind::MySql => &["mariadb", "mysql"],
        Kind::Sqlite => &["sqlite3"],
    };
    let Some(program) = found(names) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but none of {names:?} is installed: the offline script cannot be \
             checked in the database's client (see .ci/run)"
        );
        eprintln!("skipped: none of {names:?} is installed");
        return None;
    };
    let mut command = Command::new(program);
    match db.kind {
        Kind::Postgres => {
            command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url]);
        }
        Kind::MySql => {
            // mysql://user[:password]@host[:port]
            let server = server_url(Kind::MySql);
            let rest = server.trim_start_matches("mysql://");
            let (auth, host) = rest.rsplit_once('@').unwrap_or(("root", rest));
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
            command.args(["-h", host, "-P", port, "-u", user, "--batch"]);
            if !password.is_empty() {
                command.env("MYSQL_PWD", password);
            }
            command.arg(&db.name);
        }
        Kind::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            let path = path.split('?').next().unwrap_or(path);
            command.args(["-bail", path]);
        }
    }
    Some(command)
}

/// Runs `script` in the client, through its standard input, as a user would pipe it.
fn run_in_client(mut command: Command, script: &str, what: &str) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the client");
    child
        .stdin
        .take()
        .expect("the client's stdin")
        .write_all(script.as_bytes())
        .expect("writing the script");
    let out: Output = child.wait_with_output().expect("the client's output");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{what}: the client failed ({:?}):\n{}\n--- script ---\n{script}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The database as a sorted list of lines: columns, indexes, routines, triggers, views,
/// and revchain's version and log rows (without times).
async fn snapshot(db: &TestDb) -> Vec<String> {
    let queries: &[&str] = match db.kind {
        Kind::Postgres => &[
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type \
             FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'",
            "SELECT 'routine ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'public'",
            "SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal",
            "SELECT 'head ' || revision || ' ' || chain_digest FROM revchain_version",
            "SELECT 'log ' || revision || ' ' || checksum || ' ' || chain_digest || ' ' || dirty || ' ' || stamped \
             FROM revchain_log",
        ],
        Kind::MySql => &[
            "SELECT CONCAT('column ', table_name, '.', column_name, ' ', column_type) \
             FROM information_schema.columns WHERE table_schema = DATABASE()",
            "SELECT CONCAT('index ', table_name, '.', index_name, ' ', column_name, ' ', seq_in_index) \
             FROM information_schema.statistics WHERE table_schema = DATABASE()",
            "SELECT CONCAT('routine ', routine_name) FROM information_schema.routines \
             WHERE routine_schema = DATABASE()",
            "SELECT CONCAT('trigger ', trigger_name) FROM information_schema.triggers \
             WHERE trigger_schema = DATABASE()",
            "SELECT CONCAT('head ', revision, ' ', chain_digest) FROM revchain_version",
            "SELECT CONCAT('log ', revision, ' ', checksum, ' ', chain_digest, ' ', dirty, ' ', stamped) \
             FROM revchain_log",
        ],
        Kind::Sqlite => &[
            "SELECT type || ' ' || name || ' ' || tbl_name FROM sqlite_master",
            "SELECT 'column ' || m.name || '.' || p.name || ' ' || p.type FROM sqlite_master m, \
             pragma_table_info(m.name) p WHERE m.type = 'table'",
            "SELECT 'head ' || revision || ' ' || chain_digest FROM revchain_version",
            "SELECT 'log ' || revision || ' ' || checksum || ' ' || chain_digest || ' ' || dirty || ' ' || stamped \
             FROM revchain_log",
        ],
    };
    let mut lines = Vec::new();
    for sql in queries {
        let rows: Result<Vec<String>, sqlx::Error> = match db.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query_scalar(sqlx::AssertSqlSafe(*sql))
                    .fetch_all(&mut c)
                    .await
            }
            Kind::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
                sqlx::query_scalar(sqlx::AssertSqlSafe(*sql))
                    .fetch_all(&mut c)
                    .await
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query_scalar(sqlx::AssertSqlSafe(*sql))
                    .fetch_all(&mut c)
                    .await
            }
        };
        let rows = rows.unwrap_or_else(|e| panic!("{sql}: {e}"));
        lines.extend(rows);
    }
    lines.sort();
    lines
}

/// Online on one database, offline through the client on another: the same result after
/// the upgrade and after the downgrade.
async fn same_online_and_offline(case: &Case, kind: Kind) {
    let what = format!("{} on {kind:?}", case.dir.display());
    let online = TestDb::new(kind).await;
    let offline = TestDb::new(kind).await;
    // The SQLite client needs the file to be there; the online side creates its own.
    if kind == Kind::Sqlite {
        let _ = sqlx::SqliteConnection::connect(&offline.url).await.unwrap();
    }
    let Some(_) = client(&offline) else { return };

    revchain(
        &case.dir,
        &["upgrade", "head", "--database-url", &online.url],
    );
    let script = revchain(
        &case.dir,
        &["upgrade", "base:head", "--sql", "--dialect", dialect(kind)],
    );
    run_in_client(
        client(&offline).unwrap(),
        &script,
        &format!("{what}: upgrade"),
    );
    let upgraded = snapshot(&online).await;
    assert!(
        upgraded.iter().any(|l| l.starts_with("head ")),
        "{what}: {upgraded:?}"
    );
    assert_eq!(
        snapshot(&offline).await,
        upgraded,
        "{what}: after the upgrade"
    );

    revchain(
        &case.dir,
        &["downgrade", case.down_to, "--database-url", &online.url],
    );
    let range = format!("head:{}", case.down_to);
    let script = revchain(
        &case.dir,
        &["downgrade", &range, "--sql", "--dialect", dialect(kind)],
    );
    run_in_client(
        client(&offline).unwrap(),
        &script,
        &format!("{what}: downgrade"),
    );
    assert_eq!(
        snapshot(&offline).await,
        snapshot(&online).await,
        "{what}: after the downgrade"
    );
}

async fn every_fixture_on(kind: Kind) {
    for case in cases().iter().filter(|c| c.kinds.contains(&kind)) {
        same_online_and_offline(case, kind).await;
    }
}

#[tokio::test]
async fn offline_scripts_run_in_psql() {
    every_fixture_on(Kind::Postgres).await;
}

#[tokio::test]
async fn offline_scripts_run_in_the_mysql_client() {
    every_fixture_on(Kind::MySql).await;
}

#[tokio::test]
async fn offline_scripts_run_in_sqlite3() {
    every_fixture_on(Kind::Sqlite).await;
}
