//! The boot check, repeated, for an instruction counter (`valgrind --tool=callgrind`,
//! `perf stat -e instructions`): generates `--revisions N` one-`INSERT` revisions, brings
//! the database at `URL` up to date with them (a fresh SQLite file when no URL is given),
//! then runs `--checks K` boot checks (`Migrations::run` on an up-to-date database) on one
//! warm pool. The per-check count is the difference between a run with K checks and one
//! with none, divided by K (docs/benchmarks.md).
//!
//! ```text
//! boot-ir [--revisions N] [--checks K] [URL]
//! ```

use std::process::ExitCode;
use std::time::Instant;

use revchain_tests::load;

fn main() -> ExitCode {
    let mut revisions = 1000usize;
    let mut checks = 1000usize;
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let number = |v: Option<String>| v.and_then(|v| v.parse::<usize>().ok());
        match arg.as_str() {
            "--revisions" => match number(args.next()) {
                Some(n) => revisions = n,
                None => return usage("--revisions needs a number"),
            },
            "--checks" => match number(args.next()) {
                Some(n) => checks = n,
                None => return usage("--checks needs a number"),
            },
            other if other.starts_with("--") => return usage(&format!("unknown option {other}")),
            other => url = Some(other.to_owned()),
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("boot-ir: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(revisions, checks, url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boot-ir: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("boot-ir: {message}\nusage: boot-ir [--revisions N] [--checks K] [URL]");
    ExitCode::from(2)
}

async fn run(
    revisions: usize,
    checks: usize,
    url: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let migrations_dir = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations_dir)?;
    std::fs::write(
        migrations_dir.join("000000000000_table.sql"),
        "-- Revision ID: 000000000000\n-- Revises:\n\n-- migrate:upgrade\n\
         CREATE TABLE bench_rows (n INT PRIMARY KEY);\n-- migrate:downgrade\nDROP TABLE bench_rows;\n",
    )?;
    for i in 1..revisions {
        std::fs::write(
            migrations_dir.join(format!("{i:012x}_m.sql")),
            format!(
                "-- Revision ID: {i:012x}\n-- Revises: {:012x}\n\n-- migrate:upgrade\n\
                 INSERT INTO bench_rows (n) VALUES ({i});\n",
                i - 1
            ),
        )?;
    }
    let migrations = load(&migrations_dir);
    let url = url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("boot.db").display()));
    if url.starts_with("sqlite:") {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        checked(&migrations, &pool, checks).await?;
    } else if url.starts_with("postgres") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        checked(&migrations, &pool, checks).await?;
    } else {
        return Err(format!(
            "{}: a sqlite: or postgres: URL",
            revchain::url::redact(&url)
        )
        .into());
    }
    Ok(())
}

/// Brings the database up to date, then runs `checks` boot checks on it.
async fn checked<DB>(
    migrations: &revchain::Migrations,
    pool: &sqlx::Pool<DB>,
    checks: usize,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: revchain::Backend,
{
    migrations.run(pool).await?;
    let start = Instant::now();
    for _ in 0..checks {
        let report = migrations.run(pool).await?;
        if !report.steps.is_empty() {
            return Err("the boot check applied something".into());
        }
    }
    println!(
        "revisions={} checks={checks} took_us={}",
        migrations.len(),
        start.elapsed().as_micros()
    );
    Ok(())
}
