//! An application that migrates through the library (`MIGRATIONS.run(&pool)`), with no CLI
//! and no logging set up: `tests/tests/operator.rs` checks that each applied revision
//! still gets its line on stderr. The SQLite URL is the first argument.

static MIGRATIONS: revchain::Migrations = revchain::migrations!("fixtures/portable");

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: library-run sqlite://FILE?mode=rwc");
        return std::process::ExitCode::from(2);
    };
    let pool = match sqlx::SqlitePool::connect(&url).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("cannot open {url}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match MIGRATIONS.run(&pool).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(1)
        }
    }
}
