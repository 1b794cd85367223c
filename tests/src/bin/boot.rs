//! An application's boot, and nothing else: connect to the database, then
//! `MIGRATIONS.run(&pool)` with the revisions `migrations!` embedded from
//! `tests/fixtures/reliability/<database>`. The reliability tests start many of these at once,
//! kill them at random moments, and time them (`tests/benches/boots.rs`).
//!
//! ```text
//! boot [--wait] [--noop] [--lock-timeout SECONDS] [URL]     (URL defaults to $DATABASE_URL)
//! ```
//!
//! - stdout: `connected` once the pool is open, then one line `ok up_to_date=… applied=…
//!   heads=… run_us=…` (the time of the `run` call alone, in microseconds);
//! - `--wait`: after `connected`, wait for a line on stdin before running (so that a harness
//!   can start many boots at the same instant);
//! - `--noop`: instead of migrating, one `SELECT 1` (the floor a boot check is compared with);
//! - stderr: revchain's log (`RUST_LOG` as for the CLI) and the error, if any;
//! - exit code: 0 success, 1 an error, 3 a dirty revision, 4 drift (edited, deleted or
//!   reordered history, a database ahead of the binary), 75 the lock timeout, 2 bad usage.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use revchain::url::{DatabaseKind, Redactor, redact};
use revchain::{Error, Migrations, Migrator, Report};

static POSTGRES: Migrations = revchain::migrations!("fixtures/reliability/postgres");
static MYSQL: Migrations = revchain::migrations!("fixtures/reliability/mysql");
static SQLITE: Migrations = revchain::migrations!("fixtures/reliability/sqlite");

struct Options {
    url: String,
    wait: bool,
    noop: bool,
    lock_timeout: Duration,
}

fn options() -> Result<Options, String> {
    let mut url = std::env::var("DATABASE_URL").ok();
    let mut wait = false;
    let mut noop = false;
    let mut lock_timeout = Duration::from_secs(60);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--wait" => wait = true,
            "--noop" => noop = true,
            "--lock-timeout" => {
                let secs: f64 = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or("--lock-timeout needs a number of seconds")?;
                lock_timeout = Duration::from_secs_f64(secs);
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => url = Some(other.to_owned()),
        }
    }
    Ok(Options {
        url: url.ok_or("give a database URL or set DATABASE_URL")?,
        wait,
        noop,
        lock_timeout,
    })
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::LockTimeout { .. } => 75,
        Error::Dirty { .. } => 3,
        Error::Edited { .. } | Error::Drift { .. } | Error::DatabaseAhead { .. } => 4,
        _ => 1,
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn boot<DB: revchain::Backend>(
    pool: sqlx::Pool<DB>,
    migrations: &Migrations,
    o: &Options,
) -> Result<String, (u8, String)>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    say("connected");
    if o.wait {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
    let started = Instant::now();
    let report = if o.noop {
        let select = async {
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql("SELECT 1").execute(&mut *conn).await
        };
        select.await.map_err(|e| (1, format!("SELECT 1: {e}")))?;
        let mut report = Report::default();
        report.up_to_date = true;
        report
    } else {
        Migrator::new(migrations)
            .lock_timeout(o.lock_timeout)
            .run(&pool)
            .await
            .map_err(|e| (exit_code(&e), e.to_string()))?
    };
    let took = started.elapsed();
    pool.close().await;
    let ids = |v: &[String]| v.join(",");
    Ok(format!(
        "ok up_to_date={} applied={} heads={} run_us={}",
        report.up_to_date,
        ids(&report
            .steps
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>()),
        ids(&report.heads_after),
        took.as_micros()
    ))
}

async fn main_async(o: Options) -> Result<String, (u8, String)> {
    let connect_error = |e: sqlx::Error| (1, format!("cannot connect to {}: {e}", redact(&o.url)));
    match DatabaseKind::of(&o.url) {
        Some(DatabaseKind::Postgres) => {
            let opts = sqlx::postgres::PgConnectOptions::from_str(&o.url).map_err(connect_error)?;
            let pool = sqlx::pool::PoolOptions::new()
                .max_connections(2)
                .connect_with(opts)
                .await
                .map_err(connect_error)?;
            boot::<sqlx::Postgres>(pool, &POSTGRES, &o).await
        }
        Some(DatabaseKind::MySql) => {
            let opts = sqlx::mysql::MySqlConnectOptions::from_str(&o.url).map_err(connect_error)?;
            let pool = sqlx::pool::PoolOptions::new()
                .max_connections(2)
                .connect_with(opts)
                .await
                .map_err(connect_error)?;
            boot::<sqlx::MySql>(pool, &MYSQL, &o).await
        }
        Some(DatabaseKind::Sqlite) => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&o.url)
                .map_err(connect_error)?
                .create_if_missing(true);
            let pool = sqlx::pool::PoolOptions::new()
                .max_connections(2)
                .connect_with(opts)
                .await
                .map_err(connect_error)?;
            boot::<sqlx::Sqlite>(pool, &SQLITE, &o).await
        }
        // None, or a database this program does not know.
        _ => Err((2, format!("not a database URL: {}", redact(&o.url)))),
    }
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    revchain::cli::init_logging();
    let redactor = Redactor::for_url(&o.url);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(main_async(o)) {
        Ok(line) => {
            say(&line);
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("error: {}", redactor.scrub(&message));
            ExitCode::from(code)
        }
    }
}
