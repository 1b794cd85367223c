//! One test process of tests/tests/testkit.rs's parallel test: waits until a given moment,
//! then creates a `TestDatabase` of the migrations in a directory on a server, checks that
//! it is at the heads and drops it.
//!
//! ```text
//! testkit_worker URL DIR START_UNIX_MILLIS
//! ```
//!
//! stdout: `built NAME TEMPLATE` when this process built the template, `reused NAME
//! TEMPLATE` otherwise;
//! stderr: the error; exit code 0 on success, 1 on an error, 2 on bad usage.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use revchain::Migrator;
use revchain::testing::TestDatabase;

async fn run(url: &str, dir: &str, start: u128) -> Result<String, String> {
    let m = revchain_tests::load(std::path::Path::new(dir));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    if start > now {
        tokio::time::sleep(Duration::from_millis((start - now) as u64)).await;
    }
    let db = TestDatabase::on(url, &m).await.map_err(|e| e.to_string())?;
    let heads = match (db.pg_pool(), db.mysql_pool(), db.sqlite_pool()) {
        (Some(p), _, _) => Migrator::new(&m).current(p).await,
        (_, Some(p), _) => Migrator::new(&m).current(p).await,
        (_, _, Some(p)) => Migrator::new(&m).current(p).await,
        _ => return Err("no pool".into()),
    }
    .map_err(|e| e.to_string())?;
    let expected: Vec<&str> = m.heads().map(|h| h.id()).collect();
    let got: Vec<&str> = heads.iter().map(|h| h.id.as_str()).collect();
    if got != expected {
        return Err(format!("the test database is at {got:?}, not {expected:?}"));
    }
    let what = if db.cost().template_built.is_some() {
        "built"
    } else {
        "reused"
    };
    let line = format!("{what} {} {}", db.name(), db.template());
    db.close().await;
    Ok(line)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, dir, start] = args.as_slice() else {
        eprintln!("usage: testkit_worker URL DIR START_UNIX_MILLIS");
        return ExitCode::from(2);
    };
    let Ok(start) = start.parse::<u128>() else {
        eprintln!("START_UNIX_MILLIS: not a number: {start}");
        return ExitCode::from(2);
    };
    match run(url, dir, start).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
