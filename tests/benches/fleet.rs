//! A fleet of PostgreSQL databases migrated three ways (issue 21): `revchain fleet upgrade`
//! (one process, bounded concurrency), a shell loop of `revchain upgrade` processes, and a
//! shell loop of sqlx-cli's `sqlx migrate run` over the same SQL.
//!
//! ```text
//! cargo install sqlx-cli --no-default-features --features postgres,rustls --root target/sqlx-cli
//! cargo bench -p revchain-tests --bench fleet
//! REVCHAIN_FLEET_BENCH_N=100 cargo bench -p revchain-tests --bench fleet
//! ```
//!
//! Per arm: `N` fresh databases (default 1,000), then 20 revisions applied to each (the
//! **fresh** column), then 100 more revisions added at head and applied (the **+100 at head**
//! column); the arm's databases are dropped after it. The same 120 revisions are written in
//! revchain's layout and in sqlx's (`<version>_<name>.sql`). sqlx-cli is looked for in
//! `target/sqlx-cli/bin/sqlx` (or `REVCHAIN_SQLX_CLI`); without it that arm is skipped, and
//! said so. `REVCHAIN_FLEET_BENCH_JOBS` sets `--jobs` of the fleet arm (default 16);
//! `REVCHAIN_FLEET_BENCH_ARMS` (e.g. `fleet,sqlx`) runs only some of the arms `fleet`,
//! `loop` and `sqlx` (the ratios are to the first arm run).
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (as for the tests).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use revchain_tests::{Kind, admin, server_url, unique_name, workspace_root};

const REVCHAIN: &str = env!("CARGO_BIN_EXE_revchain-cli");
const FIRST: usize = 20;
const ADDED: usize = 100;

/// The SQL of revision `i` (the same in both layouts).
fn sql(i: usize) -> String {
    format!(
        "CREATE TABLE t{i} (id BIGINT PRIMARY KEY, name TEXT NOT NULL, created TIMESTAMPTZ DEFAULT now());\n\
         CREATE INDEX t{i}_name ON t{i} (name);\n\
         INSERT INTO t{i} (id, name) VALUES (1, 'one'), (2, 'two');\n"
    )
}

/// Writes revisions `0..count` in revchain's layout into `revchain` and sqlx's into `sqlx`.
fn write_revisions(revchain: &Path, sqlx: &Path, count: usize) {
    for dir in [revchain, sqlx] {
        std::fs::create_dir_all(dir).expect("creating a revisions directory");
    }
    for i in 0..count {
        let parent = if i == 0 {
            String::new()
        } else {
            format!("r{:04}", i - 1)
        };
        let text = format!(
            "-- revision {i}\n--\n-- Revision ID: r{i:04}\n-- Revises: {parent}\n\n\
             -- migrate:upgrade\n{}",
            sql(i)
        );
        std::fs::write(revchain.join(format!("r{i:04}_t{i}.sql")), text).expect("writing");
        std::fs::write(sqlx.join(format!("{}_t{i}.sql", 1000 + i)), sql(i)).expect("writing");
    }
}

/// One way of migrating every database in `targets` (a file of URLs).
#[derive(Clone, Copy)]
enum Arm {
    Fleet,
    RevchainLoop,
    SqlxLoop,
}

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Arm::Fleet => "revchain fleet upgrade",
            Arm::RevchainLoop => "loop of `revchain upgrade`",
            Arm::SqlxLoop => "loop of `sqlx migrate run`",
        }
    }

    /// Runs the arm over `targets` with the revisions of `dirs` (revchain's, sqlx's).
    fn run(self, targets: &Path, dirs: (&Path, &Path), sqlx: &Path) -> Duration {
        let jobs = std::env::var("REVCHAIN_FLEET_BENCH_JOBS").unwrap_or_else(|_| "16".into());
        let mut command = match self {
            Arm::Fleet => {
                let mut c = Command::new(REVCHAIN);
                c.arg("--dir")
                    .arg(dirs.0)
                    .args(["fleet", "upgrade", "head", "--targets-file"]);
                c.arg(targets).args(["--jobs", &jobs]);
                c
            }
            Arm::RevchainLoop => shell_loop(&format!(
                "{REVCHAIN} --dir {} upgrade head --database-url \"$u\"",
                dirs.0.display()
            )),
            Arm::SqlxLoop => shell_loop(&format!(
                "{} migrate run --source {} --database-url \"$u\"",
                sqlx.display(),
                dirs.1.display()
            )),
        };
        command
            .env("TARGETS", targets)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "error");
        let started = Instant::now();
        let out = command.output().expect("starting an arm");
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{} failed: {}\n{}",
            self.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        took
    }
}

/// `sh -c` running `each` once per line of `$TARGETS`, with the URL in `$u`, stopping at the
/// first failure.
fn shell_loop(each: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        "while IFS= read -r u; do {each} >/dev/null || exit 1; done < \"$TARGETS\""
    ));
    c
}

/// `n` fresh databases, their URLs written one a line to `file`; their names.
async fn create_fleet(n: usize, file: &Path) -> Vec<String> {
    let server = server_url(Kind::Postgres);
    let names: Vec<String> = (0..n).map(|_| unique_name("rcfleet")).collect();
    for name in &names {
        admin(Kind::Postgres, &format!("CREATE DATABASE {name}")).await;
    }
    let urls: Vec<String> = names.iter().map(|n| format!("{server}/{n}\n")).collect();
    std::fs::write(file, urls.concat()).expect("writing the targets file");
    names
}

async fn drop_fleet(names: &[String]) {
    for name in names {
        admin(
            Kind::Postgres,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
    }
}

fn sqlx_cli() -> Option<PathBuf> {
    let path = std::env::var_os("REVCHAIN_SQLX_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/sqlx-cli/bin/sqlx"));
    path.exists().then_some(path)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("REVCHAIN_FLEET_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let work = tempfile::tempdir().expect("a temporary directory");
    let (rc1, sx1) = (work.path().join("rc20"), work.path().join("sqlx20"));
    let (rc2, sx2) = (work.path().join("rc120"), work.path().join("sqlx120"));
    write_revisions(&rc1, &sx1, FIRST);
    write_revisions(&rc2, &sx2, FIRST + ADDED);
    let sqlx = sqlx_cli();
    let mut arms = vec![Arm::Fleet, Arm::RevchainLoop];
    match &sqlx {
        Some(_) => arms.push(Arm::SqlxLoop),
        None => eprintln!(
            "sqlx-cli not found (target/sqlx-cli/bin/sqlx, or REVCHAIN_SQLX_CLI): its arm is skipped"
        ),
    }
    let sqlx = sqlx.unwrap_or_default();
    if let Ok(only) = std::env::var("REVCHAIN_FLEET_BENCH_ARMS") {
        let names = [
            (Arm::Fleet, "fleet"),
            (Arm::RevchainLoop, "loop"),
            (Arm::SqlxLoop, "sqlx"),
        ];
        arms.retain(|a| {
            names
                .iter()
                .any(|(n, s)| n.name() == a.name() && only.contains(s))
        });
    }
    println!(
        "fleet bench: {n} PostgreSQL databases, {FIRST} revisions, then {ADDED} added at head"
    );
    let mut rows = Vec::new();
    for arm in arms {
        let targets = work.path().join("targets.txt");
        let names = create_fleet(n, &targets).await;
        let fresh = arm.run(&targets, (&rc1, &sx1), &sqlx);
        let added = arm.run(&targets, (&rc2, &sx2), &sqlx);
        let noop = arm.run(&targets, (&rc2, &sx2), &sqlx);
        drop_fleet(&names).await;
        println!(
            "  {:<28} fresh {:>10}  +{ADDED} {:>10}  re-run {:>10}",
            arm.name(),
            secs(fresh),
            secs(added),
            secs(noop)
        );
        rows.push((arm, fresh, added, noop));
    }
    table(n, &rows);
}

/// The table of times, and each arm's ratio to the fleet's.
fn table(n: usize, rows: &[(Arm, Duration, Duration, Duration)]) {
    let Some(&base) = rows.first() else { return };
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!();
    println!(
        "| {n} databases | {FIRST} revisions (fresh) | ×fleet | +{ADDED} at head | ×fleet | re-run, up to date | ×fleet |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for &(arm, fresh, added, noop) in rows {
        println!(
            "| {} | {} | {:.1}× | {} | {:.1}× | {} | {:.1}× |",
            arm.name(),
            secs(fresh),
            ratio(fresh, base.1),
            secs(added),
            ratio(added, base.2),
            secs(noop),
            ratio(noop, base.3),
        );
    }
}
