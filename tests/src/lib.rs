//! Shared helpers for revchain's workspace-level integration tests: throwaway databases on
//! the real servers, and revision directories written on the fly.
//!
//! Servers (override with environment variables):
//! - PostgreSQL: `REVCHAIN_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432`;
//! - MariaDB/MySQL: `REVCHAIN_TEST_MYSQL`, default `mysql://root@127.0.0.1:3306`;
//! - SQLite: a file in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use revchain::Migrations;
use revchain_core::{History, Mode};

pub mod deploy;
mod queries;
pub mod scenarios;

pub use queries::{Db, exec, heads, index_exists, pg_lock_holders, scalar, table_exists};

/// The database servers tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    MySql,
    /// SQLite.
    Sqlite,
}

impl Kind {
    /// All three.
    pub const ALL: [Kind; 3] = [Kind::Postgres, Kind::MySql, Kind::Sqlite];

    /// The SQL dialect of this kind of server.
    pub fn dialect(self) -> revchain_core::Dialect {
        match self {
            Kind::Postgres => revchain_core::Dialect::Postgres,
            Kind::MySql => revchain_core::Dialect::MySql,
            Kind::Sqlite => revchain_core::Dialect::Sqlite,
        }
    }
}

/// The PostgreSQL advisory lock key revchain uses for the default version table.
pub fn pg_lock_key() -> i64 {
    let d = revchain::Digest::of(b"revchain:revchain_version");
    let b = d.as_bytes();
    let hi = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
    let lo = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    (i64::from(hi) << 32) | i64::from(lo)
}

/// A writer the test reads back: what a `tracing` subscriber printed.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// The current thread's capture and its level ([`Captured::start`]).
    static CAPTURING: std::cell::RefCell<Option<(Captured, tracing::Level)>> =
        const { std::cell::RefCell::new(None) };
}

/// The writer of the one global subscriber: the current thread's capture, for events at
/// its level and above; nothing otherwise.
struct ThreadCapture;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ThreadCapture {
    type Writer = Box<dyn std::io::Write>;

    fn make_writer(&'a self) -> Self::Writer {
        Box::new(std::io::sink())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        CAPTURING.with_borrow(|capturing| match capturing {
            Some((captured, level)) if meta.level() <= level => {
                Box::new(captured.clone()) as Box<dyn std::io::Write>
            }
            _ => Box::new(std::io::sink()),
        })
    }
}

/// Stops the current thread's capture when dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURING.set(None);
    }
}

impl Captured {
    /// Captures the events at `level` and above of the current thread until the guard
    /// drops. One global subscriber serves every thread: `tracing`'s scoped subscribers
    /// (`set_default`) share a global level hint and callsite cache, and with several on
    /// parallel test threads, events below another thread's level were lost at times.
    pub fn start(level: tracing::Level) -> (Captured, CaptureGuard) {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(ThreadCapture)
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global tracing subscriber in a test that captures");
        });
        let captured = Captured::default();
        CAPTURING.set(Some((captured.clone(), level)));
        (captured, CaptureGuard(()))
    }

    /// The lines captured that contain `text`.
    pub fn lines_with(&self, text: &str) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains(text))
            .map(str::to_owned)
            .collect()
    }
}

/// The server URL (without a database) for `kind`.
pub fn server_url(kind: Kind) -> String {
    match kind {
        Kind::Postgres => std::env::var("REVCHAIN_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
        Kind::MySql => std::env::var("REVCHAIN_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
        Kind::Sqlite => String::new(),
    }
}

/// A unique name for a throwaway database.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A database that exists for one test and is dropped afterwards.
pub struct TestDb {
    /// Which server.
    pub kind: Kind,
    /// The database name (the file name for SQLite).
    pub name: String,
    /// The URL to connect to it.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Creates a fresh, empty database.
    pub async fn new(kind: Kind) -> TestDb {
        let name = unique_name("rc");
        match kind {
            Kind::Postgres | Kind::MySql => {
                let server = server_url(kind);
                admin(kind, &format!("CREATE DATABASE {name}")).await;
                TestDb {
                    kind,
                    url: format!("{server}/{name}"),
                    name,
                    _dir: None,
                }
            }
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let path = dir.path().join(format!("{name}.db"));
                TestDb {
                    kind,
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    name,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A pool on this database.
    pub async fn pool<DB: sqlx::Database>(&self) -> sqlx::Pool<DB> {
        sqlx::pool::PoolOptions::<DB>::new()
            .max_connections(4)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.kind == Kind::Sqlite {
            return;
        }
        let kind = self.kind;
        let sql = match kind {
            Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(admin(kind, &sql));
            }
        })
        .join();
    }
}

/// Runs one statement on the server's administrative database.
pub async fn admin(kind: Kind, sql: &str) {
    use sqlx::Connection;
    let server = server_url(kind);
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .expect("PostgreSQL must run on 127.0.0.1:5432 (see .ci/run)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&server)
                .await
                .expect("MariaDB must run on 127.0.0.1:3306 (see .ci/run)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Kind::Sqlite => {}
    }
}

/// The workspace's `tests/` directory.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's root (the parent of the `tests` package).
pub fn workspace_root() -> PathBuf {
    tests_dir()
        .parent()
        .expect("the tests package sits inside the workspace")
        .to_path_buf()
}

/// `<target>/<name>`, beside the profile directory that the running test or benchmark was
/// built into (`<target>/<profile>/deps/<executable>`): a target directory for a cargo run of
/// its own, which the outer cargo's build lock does not hold, and which stays there for the
/// next run to be incremental.
pub fn target_subdir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the executable's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests and benchmarks run from <target>/<profile>/deps");
    profile_dir.parent().unwrap_or(profile_dir).join(name)
}

/// Runs `cargo <args>` in `dir` (with `CARGO_TARGET_DIR=target` when given, and without
/// the outer cargo's `CARGO_MANIFEST_DIR`); its output when it succeeds, else what went
/// wrong, with cargo's stderr.
pub fn try_cargo(dir: &Path, target: Option<&Path>, args: &[&str]) -> Result<Output, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("CARGO_MANIFEST_DIR");
    if let Some(target) = target {
        command.env("CARGO_TARGET_DIR", target);
    }
    let output = command
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "cargo {} failed in {}:\n{}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// [`try_cargo`], panicking when cargo fails.
pub fn cargo(dir: &Path, target: Option<&Path>, args: &[&str]) -> Output {
    try_cargo(dir, target, args).unwrap_or_else(|e| panic!("{e}"))
}

/// A fixture directory under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    tests_dir().join("fixtures").join(name)
}

/// Loads a directory at run time, as the `revchain` binary does.
pub fn load(dir: &Path) -> Migrations {
    let history = History::load_as(dir, &dir.display().to_string(), Mode::Strict)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    Migrations::from_history(history, &dir.display().to_string())
}

/// A directory of revision files written by a test.
pub struct Dir {
    dir: tempfile::TempDir,
}

impl Default for Dir {
    fn default() -> Self {
        Dir::new()
    }
}

impl Dir {
    /// An empty directory.
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a revision: `parents` comma-separated (empty for a base), `extra` more header
    /// lines, `down` `None` for an irreversible revision.
    pub fn rev(&self, id: &str, parents: &str, extra: &str, up: &str, down: Option<&str>) -> &Self {
        let mut text = format!(
            "-- revision {id}\n--\n-- Revision ID: {id}\n-- Revises: {parents}\n{extra}\n-- migrate:upgrade\n{up}\n"
        );
        if let Some(down) = down {
            text.push_str(&format!("\n-- migrate:downgrade\n{down}\n"));
        }
        self.write(&format!("{id}_rev.sql"), &text)
    }

    /// Writes a revision that creates `table` (one `id INT` column) and whose downgrade
    /// drops it.
    pub fn creates_table(&self, id: &str, parents: &str, table: &str) -> &Self {
        self.rev(
            id,
            parents,
            "",
            &format!("CREATE TABLE {table} (id INT);"),
            Some(&format!("DROP TABLE {table};")),
        )
    }

    /// Writes a file as is.
    pub fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.dir.path().join(name), text).expect("writing a revision file");
        self
    }

    /// Loads it.
    pub fn load(&self) -> Migrations {
        load(self.path())
    }
}

/// The longest part of `password`, 4 characters or more, that `output` shows and that
/// nothing else explains: it is not in the rest of the URL (`around`) nor in what the same
/// command printed with another password (`baselines`). `None` when no such part shows.
pub fn leaked_part<'p>(
    password: &'p str,
    around: &[&str],
    output: &str,
    baselines: &[String],
) -> Option<&'p str> {
    let n = password.len();
    for len in (4..=n).rev() {
        for start in 0..=n - len {
            let Some(part) = password.get(start..start + len) else {
                continue;
            };
            let explained = around.iter().any(|a| a.contains(part))
                || baselines.iter().any(|b| b.contains(part));
            if !explained && output.contains(part) {
                return Some(part);
            }
        }
    }
    None
}

/// A revchain CLI binary of this package, run on a migrations directory: the tests name it
/// with `env!("CARGO_BIN_EXE_…")`, which only test targets see.
///
/// ```no_run
/// # use revchain_tests::Cli;
/// # let dir = std::path::Path::new("migrations");
/// const CLI: Cli = Cli("target/debug/revchain-cli");
/// let heads = CLI.ok(dir, &["heads"]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Cli(pub &'static str);

impl Cli {
    /// Runs `--dir DIR ARGS…` with no `DATABASE_URL` from the environment and warnings only
    /// on stderr.
    pub fn run(self, dir: &Path, args: &[&str]) -> Output {
        Command::new(self.0)
            .arg("--dir")
            .arg(dir)
            .args(args)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .output()
            .expect("running the revchain CLI")
    }

    /// [`run`](Self::run), which must succeed: its stdout.
    pub fn ok(self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "revchain {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }
}
