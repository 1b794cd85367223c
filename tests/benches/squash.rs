//! Squash (issue 17): the boot check and a fresh apply of a 500-revision history, before
//! and after `revchain squash` into one baseline, on PostgreSQL and SQLite.
//!
//! ```text
//! cargo bench -p revchain-tests --bench squash
//! cargo bench -p revchain-tests --bench squash -- short        (100 revisions, 3 rounds)
//! ```
//!
//! Per database: the history is written, squashed with the real `revchain squash` (the
//! replaced files are then left out: the baseline alone), and loaded as the `revchain` tool
//! loads a directory. Medians of `rounds` runs of each:
//!
//! - **fresh**: `run` on an empty database (every revision, or the baseline alone);
//! - **boot check**: `run` on a database at head (the one-query fast path);
//! - **first boot after the squash**: `run` with the squashed table on a database migrated
//!   with the full history (the re-record of the baseline, no SQL of the revisions).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use revchain::Migrations;
use revchain_tests::{Dir, Kind, TestDb, load, server_url};

const CLI: &str = env!("CARGO_BIN_EXE_revchain-cli");

fn write_history(dir: &Path, n: usize) {
    for i in 1..=n {
        let parents = if i == 1 {
            String::new()
        } else {
            format!("r{:04}", i - 1)
        };
        let (up, down) = if i % 2 == 1 {
            (
                format!("CREATE TABLE t{i:04} (id INT PRIMARY KEY, name VARCHAR(40));"),
                format!("DROP TABLE t{i:04};"),
            )
        } else {
            let t = i - 1;
            (
                format!(
                    "ALTER TABLE t{t:04} ADD COLUMN c{i:04} INT;\nCREATE INDEX ix{i:04} ON t{t:04} (name);"
                ),
                format!("DROP INDEX ix{i:04};"),
            )
        };
        let text = format!(
            "-- r{i:04}\n--\n-- Revision ID: r{i:04}\n-- Revises: {parents}\n\n-- migrate:upgrade\n{up}\n\n-- migrate:downgrade\n{down}\n"
        );
        std::fs::write(dir.join(format!("r{i:04}_rev.sql")), text).expect("writing");
    }
}

fn squash(dir: &Path, kind: Kind, end: &str) -> String {
    let scratch = match kind {
        Kind::Sqlite => "sqlite://scratch".to_owned(),
        other => server_url(other),
    };
    let out = Command::new(CLI)
        .args(["--dir"])
        .arg(dir)
        .args([
            "squash",
            end,
            "-m",
            "baseline",
            "--rev-id",
            "b0000",
            "--database-url",
            &scratch,
        ])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .expect("running revchain squash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("b0000"))
        .expect("the baseline");
    std::fs::read_to_string(dir.join(name)).expect("the baseline")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The time of one `run` of `m` on `db` (the pool is opened before the clock starts).
async fn run(m: &Migrations, db: &TestDb) -> Duration {
    macro_rules! timed {
        ($db:ty) => {{
            let pool = db.pool::<$db>().await;
            let t = Instant::now();
            m.run(&pool).await.expect("run");
            let took = t.elapsed();
            pool.close().await;
            took
        }};
    }
    match db.kind {
        Kind::Postgres => timed!(sqlx::Postgres),
        Kind::MySql => timed!(sqlx::MySql),
        Kind::Sqlite => timed!(sqlx::Sqlite),
    }
}

async fn bench(kind: Kind, n: usize, rounds: usize) {
    let full = Dir::new();
    write_history(full.path(), n);
    let squashed = Dir::new();
    write_history(squashed.path(), n);
    let started = Instant::now();
    let baseline = squash(squashed.path(), kind, &format!("r{n:04}"));
    let squash_time = started.elapsed();
    let only = Dir::new();
    only.write("b0000_baseline.sql", &baseline);
    let before = load(full.path());
    let after = load(only.path());
    let (mut fresh, mut check, mut first) = (
        [Vec::new(), Vec::new()],
        [Vec::new(), Vec::new()],
        Vec::new(),
    );
    for _ in 0..rounds {
        for (k, m) in [&before, &after].into_iter().enumerate() {
            let db = TestDb::new(kind).await;
            fresh[k].push(run(m, &db).await);
            check[k].push(run(m, &db).await);
        }
        let db = TestDb::new(kind).await;
        run(&before, &db).await;
        first.push(run(&after, &db).await);
    }
    let name = match kind {
        Kind::Postgres => "postgres",
        Kind::MySql => "mariadb",
        Kind::Sqlite => "sqlite",
    };
    println!("{name}: {n} revisions, squash took {squash_time:.2?}");
    println!(
        "  fresh apply:   before {:>10.2?}   after {:>10.2?}",
        median(fresh[0].clone()),
        median(fresh[1].clone())
    );
    println!(
        "  boot check:    before {:>10.2?}   after {:>10.2?}",
        median(check[0].clone()),
        median(check[1].clone())
    );
    println!(
        "  first boot after the squash (re-record): {:.2?}",
        median(first)
    );
}

#[tokio::main]
async fn main() {
    let short = std::env::args().any(|a| a == "short");
    let (n, rounds) = if short { (100, 3) } else { (500, 5) };
    for kind in [Kind::Postgres, Kind::Sqlite] {
        bench(kind, n, rounds).await;
    }
}
