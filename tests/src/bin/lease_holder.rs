//! A run of `Migrator::run` under the lease lock, for tests/tests/lease_lock.rs (which kills
//! it with SIGKILL in the middle of its slow revision): the revisions of
//! `tests/fixtures/lease`, on the PostgreSQL database of the URL.
//!
//! ```text
//! lease_holder URL TTL_SECONDS
//! ```
//!
//! stdout: `connected` once the pool is open, then `ok applied=…`; stderr: the error; exit
//! code 0 on success, 1 on an error, 2 on bad usage.

use std::process::ExitCode;
use std::time::Duration;

use revchain::{LockMode, Migrations, Migrator};

static LEASE: Migrations = revchain::migrations!("fixtures/lease");

async fn run(url: &str, ttl: Duration) -> Result<String, String> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    println!("connected");
    let report = Migrator::new(&LEASE)
        .lock_mode(LockMode::Lease)
        .lease_ttl(ttl)
        .run(&pool)
        .await
        .map_err(|e| e.to_string())?;
    let applied: Vec<&str> = report.steps.iter().map(|s| s.id.as_str()).collect();
    Ok(format!("ok applied={}", applied.join(",")))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(ttl)) = (
        args.first(),
        args.get(1)
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0),
    ) else {
        eprintln!("usage: lease_holder URL TTL_SECONDS");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(url, Duration::from_secs_f64(ttl))) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
