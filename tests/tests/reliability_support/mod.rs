//! Shared by the `reliability*` tests: the `boot` binary, one plain connection to look at a
//! database whatever its kind, and the consistency check of the `reliability` fixture
//! (`tests/fixtures/reliability/<database>`: the chain `rel01` … `rel06`).

#![allow(dead_code)]

pub mod damage;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use revchain_tests::{Kind, tests_dir};
use sqlx::{AssertSqlSafe, Connection, Row};

/// The revisions of the fixture, in order.
pub const CHAIN: [&str; 6] = ["rel01", "rel02", "rel03", "rel04", "rel05", "rel06"];

/// The `boot` binary (an application whose `main` connects and calls `MIGRATIONS.run`).
pub const BOOT: &str = env!("CARGO_BIN_EXE_boot");
/// The `revchain` tool.
pub const REVCHAIN: &str = env!("CARGO_BIN_EXE_revchain-cli");
/// An application with the embedded CLI (`revchain::cli::main`).
pub const EMBEDDED: &str = env!("CARGO_BIN_EXE_embedded-cli");

/// The fixture directory of `kind`, relative to `tests/` (the macro's base).
pub fn fixture_dir(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "fixtures/reliability/postgres",
        Kind::MySql => "fixtures/reliability/mysql",
        Kind::Sqlite => "fixtures/reliability/sqlite",
    }
}

/// A `boot` command on `url` (stdout piped, stderr captured, `RUST_LOG` at revchain's
/// default).
pub fn boot(url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BOOT);
    cmd.args(extra)
        .arg(url)
        .current_dir(tests_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,revchain=info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A finished process: exit status and output.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The revisions the `ok … applied=a,b …` line lists.
    pub fn applied(&self) -> Vec<String> {
        self.field("applied")
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A `key=value` field of the `ok` line.
    pub fn field(&self, key: &str) -> Option<String> {
        let line = self.stdout.lines().find(|l| l.starts_with("ok "))?;
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
    }
}

/// Waits for `child` and collects what it printed (including what [`wait_connected`]
/// already read from its stdout).
pub fn finish(mut child: Child) -> Finished {
    let reader = READERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&child.id());
    let stdout_taken = child.stdout.is_none();
    let out = if stdout_taken {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let status = child.wait().expect("waiting for a process");
        (status, Vec::new(), err.into_bytes())
    } else {
        let o = child.wait_with_output().expect("waiting for a process");
        (o.status, o.stdout, o.stderr)
    };
    let mut stdout = String::new();
    if let Some(reader) = reader {
        stdout.push_str(&reader.join().unwrap_or_default());
    }
    stdout.push_str(&String::from_utf8_lossy(&out.1));
    Finished {
        status: out.0,
        stdout,
        stderr: String::from_utf8_lossy(&out.2).into_owned(),
    }
}

/// The threads reading the stdout of children that [`wait_connected`] looked at, by pid.
static READERS: std::sync::Mutex<std::collections::BTreeMap<u32, std::thread::JoinHandle<String>>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Reads `child`'s stdout up to the `connected` line; `false` if it ended first. The rest
/// of its stdout is read in the background (so that it never blocks) and [`finish`]
/// returns all of it.
pub fn wait_connected(child: &mut Child) -> (bool, String) {
    let Some(stdout) = child.stdout.take() else {
        return (false, String::new());
    };
    let mut reader = BufReader::new(stdout);
    let mut seen = String::new();
    let mut line = String::new();
    let connected = loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break false,
            Ok(_) => {
                seen.push_str(&line);
                if line.trim_end() == "connected" {
                    break true;
                }
            }
        }
    };
    let start = seen.clone();
    let handle = std::thread::spawn(move || {
        let mut all = start;
        let _ = std::io::Read::read_to_string(&mut reader, &mut all);
        all
    });
    READERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(child.id(), handle);
    (connected, seen)
}

/// A small deterministic random generator (SplitMix64), seeded from `REVCHAIN_SEED` or the
/// clock; the seed is printed so that a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(label: &str) -> Rng {
        let seed = std::env::var("REVCHAIN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
            });
        println!("{label}: seed {seed} (replay with REVCHAIN_SEED={seed})");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One connection to a database of any kind, for looking at it.
pub enum Probe {
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl Probe {
    pub async fn connect(kind: Kind, url: &str) -> Probe {
        match kind {
            Kind::Postgres => Probe::Postgres(sqlx::PgConnection::connect(url).await.unwrap()),
            Kind::MySql => Probe::MySql(sqlx::MySqlConnection::connect(url).await.unwrap()),
            Kind::Sqlite => Probe::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap()),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Probe::Postgres(_) => Kind::Postgres,
            Probe::MySql(_) => Kind::MySql,
            Probe::Sqlite(_) => Kind::Sqlite,
        }
    }

    pub async fn exec(&mut self, sql: &str) {
        let q = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        let r = match self {
            Probe::Postgres(c) => q().execute(c).await.map(|_| ()),
            Probe::MySql(c) => q().execute(c).await.map(|_| ()),
            Probe::Sqlite(c) => q().execute(c).await.map(|_| ()),
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs `sql`; whether it succeeded.
    pub async fn try_exec(&mut self, sql: &str) -> bool {
        let q = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        match self {
            Probe::Postgres(c) => q().execute(c).await.is_ok(),
            Probe::MySql(c) => q().execute(c).await.is_ok(),
            Probe::Sqlite(c) => q().execute(c).await.is_ok(),
        }
    }

    /// The first column of every row, as text (NULL as `None`).
    pub async fn column(&mut self, sql: &str) -> Vec<Option<String>> {
        let q = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        let r: Result<Vec<Option<String>>, sqlx::Error> = match self {
            Probe::Postgres(c) => q()
                .fetch_all(c)
                .await
                .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect()),
            Probe::MySql(c) => q()
                .fetch_all(c)
                .await
                .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect()),
            Probe::Sqlite(c) => q()
                .fetch_all(c)
                .await
                .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect()),
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn strings(&mut self, sql: &str) -> Vec<String> {
        self.column(sql).await.into_iter().flatten().collect()
    }

    /// `SELECT count(*) …`.
    pub async fn count(&mut self, sql: &str) -> i64 {
        let q = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        let r: Result<i64, sqlx::Error> = match self {
            Probe::Postgres(c) => q().fetch_one(c).await.and_then(|r| r.try_get(0)),
            Probe::MySql(c) => q().fetch_one(c).await.and_then(|r| r.try_get(0)),
            Probe::Sqlite(c) => q().fetch_one(c).await.and_then(|r| r.try_get(0)),
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The tables of the database (revchain's included).
    pub async fn tables(&mut self) -> Vec<String> {
        let sql = match self.kind() {
            Kind::Postgres => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
            }
            Kind::MySql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"
            }
            Kind::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            }
        };
        self.strings(sql).await
    }

    pub async fn has_table(&mut self, name: &str) -> bool {
        self.tables().await.iter().any(|t| t == name)
    }

    /// Other sessions on the same database (not this one); SQLite has none to see.
    pub async fn other_sessions(&mut self) -> i64 {
        match self.kind() {
            Kind::Postgres => {
                self.count(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid()",
                )
                .await
            }
            Kind::MySql => {
                self.count(
                    "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() \
                     AND ID <> CONNECTION_ID()",
                )
                .await
            }
            Kind::Sqlite => 0,
        }
    }

    /// Waits until no other session uses the database (a killed client's server session
    /// can outlive it while it finishes its statement).
    pub async fn wait_alone(&mut self, limit: Duration) {
        let start = Instant::now();
        while self.other_sessions().await > 0 {
            assert!(
                start.elapsed() < limit,
                "other sessions still use the database after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Drops every table of the fixture and revchain's.
    pub async fn reset(&mut self) {
        let sql = match self.kind() {
            Kind::Postgres | Kind::MySql => {
                "DROP TABLE IF EXISTS effects, items, ballast, revchain_version, revchain_log"
            }
            Kind::Sqlite => {
                "DROP TABLE IF EXISTS effects; DROP TABLE IF EXISTS items; DROP TABLE IF EXISTS ballast; \
                 DROP TABLE IF EXISTS revchain_version; DROP TABLE IF EXISTS revchain_log"
            }
        };
        self.exec(sql).await;
    }
}

/// What the fixture's tables say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Log rows in chain order: id and dirty mark.
    pub log: Vec<(String, bool)>,
    /// Version rows.
    pub version: Vec<String>,
    /// `effects` rows, sorted (duplicates kept).
    pub effects: Vec<String>,
    pub tables: Vec<String>,
}

impl State {
    pub async fn read(p: &mut Probe) -> State {
        let tables = p.tables().await;
        let has = |t: &str| tables.iter().any(|x| x == t);
        let log = if has("revchain_log") {
            let rows = p
                .column("SELECT revision FROM revchain_log ORDER BY revision")
                .await;
            let dirty = p
                .column(
                    "SELECT CASE WHEN dirty THEN 'y' ELSE 'n' END FROM revchain_log ORDER BY revision",
                )
                .await;
            rows.into_iter()
                .zip(dirty)
                .map(|(r, d)| (r.unwrap_or_default(), d.as_deref() == Some("y")))
                .collect()
        } else {
            Vec::new()
        };
        let version = if has("revchain_version") {
            p.strings("SELECT revision FROM revchain_version ORDER BY revision")
                .await
        } else {
            Vec::new()
        };
        let effects = if has("effects") {
            p.strings("SELECT rev FROM effects ORDER BY rev").await
        } else {
            Vec::new()
        };
        State {
            log,
            version,
            effects,
            tables,
        }
    }

    /// The dirty revision, if any.
    pub fn dirty(&self) -> Option<&str> {
        self.log.iter().find(|(_, d)| *d).map(|(r, _)| r.as_str())
    }
}

/// Checks that the database is exactly as after the first `k` revisions of the chain, plus,
/// when `dirty_ok` (MariaDB), possibly revision `k + 1` marked dirty with its effects absent
/// or present; returns `k`. Every applied revision's effects are there exactly once (the
/// counter `items.n` counts `rel03` and `rel05`), no effect of an unapplied one is.
pub async fn check_consistent(p: &mut Probe, dirty_ok: bool) -> Result<usize, String> {
    let s = State::read(p).await;
    let clean: Vec<&str> = s
        .log
        .iter()
        .filter(|(_, d)| !d)
        .map(|(r, _)| r.as_str())
        .collect();
    let k = clean.len();
    if clean != CHAIN[..k] {
        return Err(format!("the log is not a prefix of the chain: {s:?}"));
    }
    let dirty: Vec<&str> = s
        .log
        .iter()
        .filter(|(_, d)| *d)
        .map(|(r, _)| r.as_str())
        .collect();
    match dirty.as_slice() {
        [] => {}
        [d] if dirty_ok && k < CHAIN.len() && *d == CHAIN[k] => {}
        _ => return Err(format!("unexpected dirty rows: {s:?}")),
    }
    let expected_version: Vec<String> = if k == 0 {
        Vec::new()
    } else {
        vec![CHAIN[k - 1].to_owned()]
    };
    if s.version != expected_version {
        return Err(format!(
            "the version table says {:?}, the log {k} revision(s): {s:?}",
            s.version
        ));
    }
    let mut applied_effects: Vec<String> = s.effects.clone();
    if let Some(d) = dirty.first() {
        // A half-applied revision may or may not have reached its effect row.
        if let Some(pos) = applied_effects.iter().position(|e| e == d) {
            applied_effects.remove(pos);
        }
    }
    let want: Vec<String> = CHAIN[..k].iter().map(|s| (*s).to_owned()).collect();
    if applied_effects != want {
        return Err(format!(
            "effects {:?} differ from the log's {want:?} (each applied revision exactly once)",
            s.effects
        ));
    }
    let has = |t: &str| s.tables.iter().any(|x| x == t);
    if dirty.is_empty() {
        if has("items") != (k >= 2) {
            return Err(format!("table items exists: {}, k = {k}", has("items")));
        }
        if has("effects") != (k >= 1) {
            return Err(format!("table effects exists: {}, k = {k}", has("effects")));
        }
    }
    if k >= 2 {
        // The dirty revision may be rel03 or rel05, half done: only check when clean.
        if dirty.is_empty() {
            let n = i64::from(k >= 3) + i64::from(k >= 5);
            let wrong = p
                .count(&format!("SELECT count(*) FROM items WHERE n <> {n}"))
                .await;
            let all = p.count("SELECT count(*) FROM items").await;
            if wrong != 0 || all != 2000 {
                return Err(format!(
                    "items: {all} rows, {wrong} with n <> {n} after {k} revision(s)"
                ));
            }
        }
    }
    if p.kind() == Kind::Sqlite && has("ballast") {
        let rows = p.count("SELECT count(*) FROM ballast").await;
        if rows != 20_000 * k as i64 {
            return Err(format!("ballast has {rows} rows after {k} revision(s)"));
        }
    }
    Ok(k)
}
