//! 32 application processes booting at once against one database, against one booting
//! alone (issue 8), on PostgreSQL, MariaDB and SQLite. The application is the `boot` binary
//! (`tests/src/bin/boot.rs`: connect, then `MIGRATIONS.run(&pool)` over the six revisions
//! of `tests/fixtures/reliability/<db>`).
//!
//! ```text
//! cargo bench -p revchain-tests --bench boots
//! cargo bench -p revchain-tests --bench boots -- n=32 rounds=9 only=postgres
//! ```
//!
//! Needs the test servers (PostgreSQL on 127.0.0.1:5432, MariaDB on 127.0.0.1:3306, as for
//! the tests); creates and drops its own databases. Per database, interleaved, `rounds`
//! times (medians shown):
//!
//! - **up to date**: the database is at head, so every boot is the one-query check and takes
//!   no lock. Wall time of 1 process, and of `n` started together (from the first spawn to
//!   the last exit). The same for `boot --noop` (connect and `SELECT 1`, nothing of
//!   revchain): the floor that process start and connection set on this machine.
//! - **released together**: `n` processes start, connect, and wait; all are released at
//!   the same instant, and the time to the last `run` finished is measured, against one
//!   process released alone, and against `n` (and 1) `--noop` processes released the same
//!   way. This isolates the migration check from process start-up.
//! - **fresh**: the database is empty; 1 process, and `n` together, migrate it (one applies
//!   the six revisions, the others wait for the lock, then find them applied).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use revchain_tests::{Kind, TestDb, tests_dir};
use sqlx::Connection;

const BOOT: &str = env!("CARGO_BIN_EXE_boot");

fn spawn(url: &str, extra: &[&str]) -> Child {
    Command::new(BOOT)
        .args(extra)
        .arg(url)
        .current_dir(tests_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .stdin(if extra.contains(&"--wait") {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting boot")
}

fn wait_ok(child: Child) -> String {
    let out = child.wait_with_output().expect("waiting for boot");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "boot failed: {stdout}");
    stdout
}

/// Wall time of `n` processes started together, to the last exit.
fn together(url: &str, n: usize, extra: &[&str]) -> Duration {
    let started = Instant::now();
    let children: Vec<Child> = (0..n).map(|_| spawn(url, extra)).collect();
    for c in children {
        wait_ok(c);
    }
    started.elapsed()
}

/// `n` processes connect and wait, then are released at once: the time from the release to
/// the last `ok` line, and each process's own `run` time (µs).
fn released(url: &str, n: usize, noop: bool) -> (Duration, Vec<u64>) {
    let extra: &[&str] = if noop {
        &["--wait", "--noop"]
    } else {
        &["--wait"]
    };
    let mut children: Vec<Child> = (0..n).map(|_| spawn(url, extra)).collect();
    let mut readers = Vec::new();
    for c in &mut children {
        let mut r = BufReader::new(c.stdout.take().expect("stdout"));
        let mut line = String::new();
        r.read_line(&mut line).expect("reading boot");
        assert_eq!(line.trim(), "connected");
        readers.push(r);
    }
    let go = Instant::now();
    for c in &mut children {
        let mut stdin = c.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("releasing boot");
    }
    let mut runs = Vec::new();
    for r in &mut readers {
        let mut line = String::new();
        r.read_line(&mut line).expect("reading boot");
        let us = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("run_us="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no run_us in {line:?}"));
        runs.push(us);
    }
    let took = go.elapsed();
    for c in children {
        let _ = c.wait_with_output();
    }
    (took, runs)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Drops the fixture's tables and revchain's.
async fn reset(kind: Kind, url: &str) {
    let sql = "DROP TABLE IF EXISTS effects; DROP TABLE IF EXISTS items; \
               DROP TABLE IF EXISTS ballast; DROP TABLE IF EXISTS revchain_version; \
               DROP TABLE IF EXISTS revchain_log";
    let q = || sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()));
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            q().execute(&mut c).await.unwrap();
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
            q().execute(&mut c).await.unwrap();
        }
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            q().execute(&mut c).await.unwrap();
        }
    }
}

struct Figures {
    kind: Kind,
    one: Duration,
    many: Duration,
    floor_one: Duration,
    floor_many: Duration,
    released_one: Duration,
    released_many: Duration,
    released_floor_one: Duration,
    released_floor_many: Duration,
    run_alone_us: u64,
    run_many_us: (u64, u64),
    fresh_one: Duration,
    fresh_many: Duration,
}

fn bench(rt: &tokio::runtime::Runtime, kind: Kind, n: usize, rounds: usize) -> Figures {
    let db = rt.block_on(TestDb::new(kind));
    let url = db.url.clone();
    wait_ok(spawn(&url, &[]));
    // Warm up: the binary's pages, the server's caches.
    together(&url, n, &[]);
    together(&url, n, &["--noop"]);
    let (mut one, mut many, mut f1, mut fm) = (vec![], vec![], vec![], vec![]);
    let (mut r1, mut rm, mut alone, mut under, mut worst) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut rf1, mut rfm) = (vec![], vec![]);
    for _ in 0..rounds {
        one.push(together(&url, 1, &[]));
        many.push(together(&url, n, &[]));
        f1.push(together(&url, 1, &["--noop"]));
        fm.push(together(&url, n, &["--noop"]));
        let (t, runs) = released(&url, 1, false);
        r1.push(t);
        alone.push(runs[0]);
        let (t, runs) = released(&url, n, false);
        rm.push(t);
        rf1.push(released(&url, 1, true).0);
        rfm.push(released(&url, n, true).0);
        under.push(median_u64(runs.clone()));
        worst.push(runs.iter().copied().max().unwrap_or(0));
    }
    let (mut fresh1, mut freshm) = (vec![], vec![]);
    for _ in 0..rounds.min(5) {
        rt.block_on(reset(kind, &url));
        fresh1.push(together(&url, 1, &[]));
        rt.block_on(reset(kind, &url));
        freshm.push(together(&url, n, &[]));
    }
    Figures {
        kind,
        one: median(one),
        many: median(many),
        floor_one: median(f1),
        floor_many: median(fm),
        released_one: median(r1),
        released_many: median(rm),
        released_floor_one: median(rf1),
        released_floor_many: median(rfm),
        run_alone_us: median_u64(alone),
        run_many_us: (median_u64(under), median_u64(worst)),
        fresh_one: median(fresh1),
        fresh_many: median(freshm),
    }
}

fn main() {
    let mut n = 32;
    let mut rounds = 7;
    let mut only: Option<String> = None;
    for arg in std::env::args().skip(1) {
        if let Some(v) = arg.strip_prefix("n=") {
            n = v.parse().unwrap_or(n);
        } else if let Some(v) = arg.strip_prefix("rounds=") {
            rounds = v.parse().unwrap_or(rounds);
        } else if let Some(v) = arg.strip_prefix("only=") {
            only = Some(v.to_owned());
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("{n} boots against 1, {rounds} rounds (medians), {cores} cores\n");
    let mut all = Vec::new();
    for (name, kind) in [
        ("postgres", Kind::Postgres),
        ("mariadb", Kind::MySql),
        ("sqlite", Kind::Sqlite),
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        all.push(bench(&rt, kind, n, rounds.max(1)));
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("up to date (no lock), processes started together, to the last exit:");
    println!(
        "| database | 1 boot | {n} boots | ratio | 1 `--noop` | {n} `--noop` | ratio | {n} boots / {n} `--noop` |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for f in &all {
        println!(
            "| {:?} | {} | {} | {:.2}x | {} | {} | {:.2}x | **{:.2}x** |",
            f.kind,
            ms(f.one),
            ms(f.many),
            ratio(f.many, f.one),
            ms(f.floor_one),
            ms(f.floor_many),
            ratio(f.floor_many, f.floor_one),
            ratio(f.many, f.floor_many)
        );
    }
    println!("\nup to date, released together after connecting, to the last `run` done:");
    println!(
        "| database | 1 released | {n} released | ratio | 1 `--noop` | {n} `--noop` | ratio | {n} / {n} `--noop` | `run` alone | `run` among {n} (median / slowest) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for f in &all {
        println!(
            "| {:?} | {} | {} | {:.2}x | {} | {} | {:.2}x | **{:.2}x** | {} µs | {} / {} µs |",
            f.kind,
            ms(f.released_one),
            ms(f.released_many),
            ratio(f.released_many, f.released_one),
            ms(f.released_floor_one),
            ms(f.released_floor_many),
            ratio(f.released_floor_many, f.released_floor_one),
            ratio(f.released_many, f.released_floor_many),
            f.run_alone_us,
            f.run_many_us.0,
            f.run_many_us.1
        );
    }
    println!("\nfresh database (six revisions to apply), started together, to the last exit:");
    println!("| database | 1 boot | {n} boots | ratio |");
    println!("| --- | --- | --- | --- |");
    for f in &all {
        println!(
            "| {:?} | {} | {} | {:.2}x |",
            f.kind,
            ms(f.fresh_one),
            ms(f.fresh_many),
            ratio(f.fresh_many, f.fresh_one)
        );
    }
}
