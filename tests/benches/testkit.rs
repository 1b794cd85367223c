//! The test kit's benchmark (issue 21): N "tests" (create a `TestDatabase`, run a trivial
//! query, drop it) on the example app's history and on a generated 200-revision history,
//! cloning a template (`TestDatabase::on`) against migrating each database from scratch
//! (`TestDatabase::migrated`), on PostgreSQL, MariaDB and SQLite.
//!
//! ```text
//! cargo bench -p revchain-tests --bench testkit
//! TESTKIT_N=200 TESTKIT_SCRATCH_N=50 TESTKIT_BACKENDS=postgres,mariadb,sqlite cargo bench …
//! ```
//!
//! `TESTKIT_N` (default 200) tests per clone run; `TESTKIT_SCRATCH_N` (default `TESTKIT_N`)
//! per from-scratch run. The clone runs' first test builds the template (the generated
//! history is new on every run; the example app's template is reused from an earlier run
//! when the server has it, shown as `-`): its time is shown apart and included in the
//! mean. Prints one line per run and the ratio.

use std::time::{Duration, Instant};

use revchain::Migrations;
use revchain::testing::TestDatabase;
use revchain_tests::{Dir, Kind, scalar, server_url, unique_name};

static EXAMPLE: Migrations = revchain::migrations!("../example-app/migrations");

/// A linear history of `n` revisions: tables, columns and indexes, tagged so that its digest
/// is new on every run (the template is built within the run).
fn generated(n: usize) -> Dir {
    let d = Dir::new();
    let tag = unique_name("bench");
    let mut parent = String::new();
    for i in 0..n {
        let id = format!("r{i:04}");
        let table = i / 4;
        let (up, down) = match i % 4 {
            0 => (
                format!("CREATE TABLE t{table} (id INT PRIMARY KEY, note VARCHAR(40));"),
                format!("DROP TABLE t{table};"),
            ),
            1 => (
                format!("ALTER TABLE t{table} ADD COLUMN qty INT;"),
                format!("ALTER TABLE t{table} DROP COLUMN qty;"),
            ),
            // Its downgrade differs per database; the benchmark never downgrades.
            2 => (
                format!("CREATE INDEX ix_t{table}_qty ON t{table} (qty);"),
                String::new(),
            ),
            _ => (
                format!("INSERT INTO t{table} (id, note) VALUES ({i}, '{tag}');"),
                format!("DELETE FROM t{table};"),
            ),
        };
        d.rev(
            &id,
            &parent,
            "",
            &up,
            (!down.is_empty()).then_some(down.as_str()),
        );
        parent = id;
    }
    d
}

fn server(kind: Kind) -> String {
    match kind {
        Kind::Sqlite => "sqlite://bench".to_owned(),
        other => server_url(other),
    }
}

async fn one_test(url: &str, m: &Migrations, clone: bool, probe: &str) -> TestDatabase {
    let db = if clone {
        TestDatabase::on(url, m).await
    } else {
        TestDatabase::migrated(url, m).await
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let n = match (db.pg_pool(), db.mysql_pool(), db.sqlite_pool()) {
        (Some(p), _, _) => scalar(p, probe).await,
        (_, Some(p), _) => scalar(p, probe).await,
        (_, _, Some(p)) => scalar(p, probe).await,
        _ => unreachable!(),
    };
    assert!(n >= 0);
    db
}

/// Runs `n` tests of each kind, interleaved (a clone, then one from scratch while
/// `scratch_n` lasts) so that both see the same load of a shared machine: the mean per
/// test of each, and the first clone's template build.
async fn run(
    url: &str,
    m: &Migrations,
    n: usize,
    scratch_n: usize,
    probe: &str,
) -> (Duration, Duration, Option<Duration>) {
    let (mut clone, mut scratch, mut built) = (Duration::ZERO, Duration::ZERO, None);
    for i in 0..n.max(scratch_n) {
        if i < n {
            let start = Instant::now();
            let db = one_test(url, m, true, probe).await;
            built = built.or(db.cost().template_built);
            db.close().await;
            clone += start.elapsed();
        }
        if i < scratch_n {
            let start = Instant::now();
            one_test(url, m, false, probe).await.close().await;
            scratch += start.elapsed();
        }
    }
    (
        clone / n.max(1) as u32,
        scratch / scratch_n.max(1) as u32,
        built,
    )
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let n = env_usize("TESTKIT_N", 200);
    let scratch_n = env_usize("TESTKIT_SCRATCH_N", n);
    let backends = std::env::var("TESTKIT_BACKENDS").unwrap_or("postgres,mariadb,sqlite".into());
    let big_dir = generated(200);
    let big = revchain_tests::load(big_dir.path());
    for kind in [Kind::Postgres, Kind::MySql, Kind::Sqlite] {
        let label = match kind {
            Kind::Postgres => "postgres",
            Kind::MySql => "mariadb",
            Kind::Sqlite => "sqlite",
        };
        if !backends.split(',').any(|b| b == label) {
            continue;
        }
        let url = server(kind);
        for (history, m, probe) in [
            ("example-app", &EXAMPLE, "SELECT COUNT(*) FROM users"),
            ("200 revisions", &big, "SELECT COUNT(*) FROM t49"),
        ] {
            let (clone, scratch, built) = run(&url, m, n, scratch_n, probe).await;
            println!(
                "{label:8} {history:13} clone: {:7.1} ms/test over {n} (template built in {} ms) \
                 | from scratch: {:7.1} ms/test over {scratch_n} | ratio {:.1}x",
                ms(clone),
                built.map_or("-".into(), |b| b.as_millis().to_string()),
                ms(scratch),
                ms(scratch) / ms(clone)
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
