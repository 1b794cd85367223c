//! The two releases of a rolling deploy (`deploy-v1`, `deploy-v2`, docs/design.md §4.14):
//! each binary embeds its release's migrations and has two commands, `migrate …` (revchain's
//! CLI, nested as the README shows) and `check-serve`, which does what a `--no-migrate`
//! start-up does (the compatibility check), then runs the query its release serves with.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use revchain::{Compatible, Migrations};

#[derive(Parser)]
struct App {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Database migrations compiled into this binary.
    Migrate(Box<revchain::cli::Args>),
    /// Check the database as `serve --no-migrate` would, then read the user's name with
    /// this release's query.
    CheckServe {
        /// The database.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

/// The `main` of a release whose name query reads `column` of `users`.
pub fn main(migrations: &'static Migrations, column: &'static str) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match App::parse().command {
            Command::Migrate(args) => {
                revchain::cli::init_logging();
                revchain::cli::run(migrations, *args).await
            }
            Command::CheckServe { database_url } => {
                match check_serve(migrations, column, &database_url).await {
                    Ok(out) => {
                        println!("{out}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        }
    })
}

/// The compatibility verdict and the name this release reads, on one line each.
async fn check_serve(
    migrations: &Migrations,
    column: &str,
    url: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let query = format!("SELECT {column} FROM users WHERE id = 1");
    let (verdict, name) = if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        let verdict = migrations.check_compatible(&pool).await?;
        let name: String = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(&pool)
            .await?;
        (verdict, name)
    } else {
        let pool = sqlx::MySqlPool::connect(url).await?;
        let verdict = migrations.check_compatible(&pool).await?;
        let name: String = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(&pool)
            .await?;
        (verdict, name)
    };
    let verdict = match verdict {
        Compatible::AtHead => "at head".to_owned(),
        Compatible::ContractPending(ids) => format!("contract pending: {}", ids.join(", ")),
        Compatible::NewerExpand(ids) => format!("newer expand: {}", ids.join(", ")),
        other => format!("{other:?}"),
    };
    Ok(format!("{verdict}\nname: {name}"))
}
