//! The README's nesting example, as written there (README.md, "Nesting the CLI"): an
//! application that sets up no logging and nests `revchain::cli::Args` under `migrate`.
//! `tests/tests/operator.rs` checks that this file holds the README's block verbatim and
//! that it prints what it applies.

// The README's enum holds `revchain::cli::Args` inline, as an application would write it.
#![allow(clippy::large_enum_variant)]

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct App {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP.
    Serve,
    /// Database migrations compiled into this binary.
    Migrate(revchain::cli::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match App::parse().command {
        Command::Serve => serve().await, // your server
        Command::Migrate(args) => revchain::cli::run(&MIGRATIONS, args).await,
    }
}

// The README's block ends here; what it leaves to the application follows.

static MIGRATIONS: revchain::Migrations = revchain::migrations!("fixtures/portable");

async fn serve() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
