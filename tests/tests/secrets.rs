//! Passwords and statement text never reach the output: database URLs whose password
//! holds any printable ASCII (unencoded `/`, `?`, `#`, `@`, spaces, quotes…), URLs without
//! `//`, through the `revchain` tool and the library, against an unreachable port and real
//! servers; sqlx's slow-statement warning, which would print a revision's SQL
//! (`CREATE ROLE … PASSWORD '…'`); and SQLite URLs that name no file.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use revchain_tests::{Dir, Kind, TestDb, admin, leaked_part, scalar, unique_name};

/// Runs the `revchain` tool with `url` as `DATABASE_URL`; `rust_log` `None` leaves the
/// tool's default filter.
fn revchain(dir: &Path, url: &str, rust_log: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_revchain-cli"));
    command
        .current_dir(dir)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG");
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    command.output().expect("running revchain")
}

/// Everything a run printed.
fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The URLs a password is tried in: (prefix, suffix) around it.
const SHAPES: [(&str, &str); 4] = [
    // Nothing listens on port 1.
    ("postgres://rc_user:", "@127.0.0.1:1/rc_db"),
    // MariaDB's root has no password here: any password is wrong.
    ("mysql://root:", "@127.0.0.1:3306/mysql"),
    // PostgreSQL trusts local connections: the password is ignored, the database is missing.
    ("postgres://postgres:", "@127.0.0.1:5432/rc_missing_db"),
    // No `//`: not a URL revchain (or sqlx) can read.
    ("postgres:postgres:", "@127.0.0.1:5432/postgres"),
];

/// What the tool and the library print for `url`: the tool's `current -v` and `upgrade
/// head` (default filter and `debug`), the library's errors and every event it logs at
/// `debug`.
fn everything_printed(dir: &Dir, url: &str) -> String {
    let mut all = String::new();
    for (filter, args) in [
        (None, &["current", "-v"][..]),
        (Some("debug"), &["upgrade", "head"][..]),
    ] {
        all.push_str(&printed(&revchain(dir.path(), url, filter, args)));
    }
    all.push_str(&library_output(dir, url));
    all
}

/// The library's errors for `url` (a snapshot, the roundtrip test) and the events it logged
/// meanwhile at `debug`, sqlx's included.
fn library_output(dir: &Dir, url: &str) -> String {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let buffer = Arc::clone(&buffer);
        move || Capture(Arc::clone(&buffer))
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(writer)
        .with_ansi(false)
        .finish();
    let migrations = dir.load();
    let errors = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let snapshot = revchain::autogen::snapshot(url).await;
            let roundtrip = revchain::testing::roundtrip(url, &migrations).await;
            format!(
                "{}\n{}\n",
                snapshot.err().map(|e| e.to_string()).unwrap_or_default(),
                roundtrip.err().map(|e| e.to_string()).unwrap_or_default()
            )
        })
    });
    let logged = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    errors + &logged
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn one_revision() -> Dir {
    let dir = Dir::new();
    dir.creates_table("a1", "", "rc_secret_t");
    dir
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// No password made of printable ASCII shows, nor any 4-character part of it, in what
    /// the tool or the library print, whatever the URL's shape and however connecting fails.
    #[test]
    fn no_part_of_a_password_is_printed(password in "[ -~]{4,16}") {
        let dir = one_revision();
        for (prefix, suffix) in SHAPES {
            let baselines = [
                everything_printed(&dir, &format!("{prefix}Zq9vXk{suffix}")),
                everything_printed(&dir, &format!("{prefix}Zq/v?k#{suffix}")),
            ];
            let url = format!("{prefix}{password}{suffix}");
            let output = everything_printed(&dir, &url);
            prop_assert!(
                leaked_part(&password, &[prefix, suffix], &output, &baselines).is_none(),
                "{url}: {:?} printed in:\n{output}",
                leaked_part(&password, &[prefix, suffix], &output, &baselines)
            );
        }
    }
}

/// The quoted cases of the issue, each checked whole.
#[test]
fn quoted_urls_are_never_echoed() {
    let dir = one_revision();
    for (url, secret) in [
        ("postgres:user:pa55w0rd@127.0.0.1/db", "pa55w0rd"),
        ("postgresql://u:p/a#s?s@w@127.0.0.1/db", "p/a#s?s@w"),
        ("postgresql://u:pw/seg@127.0.0.1:5432/db", "seg"),
        ("mysql://root:se@cret@127.0.0.1/x", "se@cret"),
        ("sqlite:user:pa55w0rd@host", "pa55w0rd"),
        ("pa55w0rd", "pa55w0rd"),
    ] {
        let output = everything_printed(&dir, url);
        assert!(!output.contains(secret), "{url}:\n{output}");
        assert!(output.contains("error"), "{url}:\n{output}");
    }
    // The refusal says what to write instead.
    let out = revchain(
        dir.path(),
        "postgresql://u:p/a#s@127.0.0.1/db",
        None,
        &["current"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = printed(&out);
    assert!(
        err.contains("postgresql://u:***@127.0.0.1/db") && err.contains("`/` as %2F"),
        "{err}"
    );
}

/// A URL quoted where a command expects something else is redacted in clap's error too.
#[test]
fn a_url_in_the_wrong_place_is_redacted() {
    let dir = one_revision();
    let out = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .args(["--dir"])
        .arg(dir.path())
        .arg("postgres://u:hunter2hunter@127.0.0.1/db")
        .env_remove("DATABASE_URL")
        .output()
        .expect("running revchain");
    assert_eq!(out.status.code(), Some(2));
    let err = printed(&out);
    assert!(
        !err.contains("hunter2") && err.contains("postgres://u:***@127.0.0.1/db"),
        "{err}"
    );
}

/// A revision slower than sqlx's one-second threshold: sqlx would log its whole SQL at
/// `warn`, which the default filter shows. It must not show at the default level, nor at
/// `info` or `debug`.
fn slow_revision_prints_no_sql(db: &TestDb, up: &str, down: &str) {
    let dir = Dir::new();
    dir.rev("a1", "", "", up, Some(down));
    let mut all = String::new();
    for filter in [None, Some("warn,revchain=info"), Some("debug")] {
        let out = revchain(dir.path(), &db.url, filter, &["upgrade", "head"]);
        let text = printed(&out);
        assert!(out.status.success(), "{text}");
        all.push_str(&text);
        let out = revchain(dir.path(), &db.url, filter, &["downgrade", "base"]);
        assert!(out.status.success(), "{}", printed(&out));
    }
    for word in ["sekrit", "SLEEP", "sleep"] {
        assert!(!all.contains(word), "{word} printed:\n{all}");
    }
    assert!(all.contains("applied a1"), "{all}");
}

#[tokio::test]
async fn slow_revision_sql_is_not_logged_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let role = unique_name("rc_role");
    slow_revision_prints_no_sql(
        &db,
        &format!("CREATE ROLE {role} PASSWORD 'sekrit';\nSELECT pg_sleep(1.2);"),
        &format!("DROP ROLE {role};"),
    );
    let pool = db.pool::<sqlx::Postgres>().await;
    let left = scalar(
        &pool,
        &format!("SELECT COUNT(*) FROM pg_roles WHERE rolname = '{role}'"),
    )
    .await;
    assert_eq!(left, 0);
    admin(Kind::Postgres, &format!("DROP ROLE IF EXISTS {role}")).await;
}

#[tokio::test]
async fn slow_revision_sql_is_not_logged_mariadb() {
    let db = TestDb::new(Kind::MySql).await;
    let user = unique_name("rc_user");
    // MariaDB runs a revision's statements one by one: the slow one holds the secret too.
    slow_revision_prints_no_sql(
        &db,
        &format!(
            "CREATE USER '{user}'@'localhost' IDENTIFIED BY 'sekrit';\nDO SLEEP(1.2), 'sekrit';"
        ),
        &format!("DROP USER '{user}'@'localhost';"),
    );
    admin(
        Kind::MySql,
        &format!("DROP USER IF EXISTS '{user}'@'localhost'"),
    )
    .await;
}

/// `sqlite://`, `sqlite:` and the like name no file: sqlx would open a throwaway
/// in-memory database and every command would "succeed". The CLI also refuses SQLite's
/// in-memory database, which is gone when the command ends.
#[test]
fn sqlite_urls_without_a_file_are_refused() {
    let dir = one_revision();
    let work = tempfile::tempdir().unwrap();
    for url in [
        "sqlite://",
        "sqlite:",
        "sqlite://?mode=rwc",
        "sqlite:?mode=rwc",
        "SQLite://",
    ] {
        for args in [
            &["upgrade", "head"][..],
            &["current"],
            &["stamp", "head"],
            &["downgrade", "base"],
            &["check"],
        ] {
            let out = revchain_in(work.path(), dir.path(), url, args);
            let err = printed(&out);
            assert_eq!(out.status.code(), Some(1), "{url} {args:?}: {err}");
            assert!(
                err.contains("names no SQLite file")
                    && err.contains("sqlite://path/to/file.db")
                    && err.contains("sqlite://file.db?mode=rwc"),
                "{url} {args:?}: {err}"
            );
        }
    }
    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://x.db?mode=memory",
    ] {
        for args in [&["upgrade", "head"][..], &["current"], &["stamp", "head"]] {
            let out = revchain_in(work.path(), dir.path(), url, args);
            let err = printed(&out);
            assert_eq!(out.status.code(), Some(1), "{url} {args:?}: {err}");
            assert!(
                err.contains("in-memory database, which is gone when this command ends"),
                "{url} {args:?}: {err}"
            );
        }
    }
    // Nothing was created where the tool ran.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
}

/// The library still migrates an in-memory SQLite database (an application's tests do).
#[tokio::test]
async fn the_library_migrates_sqlite_in_memory() {
    let dir = one_revision();
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    let migrations = dir.load();
    migrations.run(&pool).await.expect("migrating in memory");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rc_secret_t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

fn revchain_in(cwd: &Path, dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .current_dir(cwd)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .output()
        .expect("running revchain")
}
