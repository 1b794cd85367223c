//! example-app: a small HTTP service that embeds its migrations with revchain.
//!
//! - `example-app` (or `example-app serve`) migrates the database to head, then serves HTTP;
//!   with `--no-migrate` (or `MIGRATE_ON_START=false`) it only checks that the database is
//!   within its compatibility window (its head, or its expand head with contract revisions
//!   pending, or its head with a newer release's expand revisions) and refuses otherwise.
//! - `example-app migrate …` is revchain's CLI on the migrations compiled into the binary
//!   (`upgrade head`, `downgrade -1`, `current`, `history`, `heads`, `stamp`, `check`, …).
//!
//! The database is `DATABASE_URL` (PostgreSQL, MySQL/MariaDB or SQLite), by default a SQLite
//! file `example-app.db` in the working directory.

mod clock;
mod db;
mod handle;
mod http;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};
use revchain::Compatible;
use revchain::url::{Redactor, redact};

use crate::db::Db;

/// The migrations, validated at build time and compiled into the binary: no file is read at
/// run time.
pub static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");

/// Exit code when the migration lock could not be taken in time (as revchain's CLI).
const EXIT_LOCK_TIMEOUT: u8 = 75;

/// A small HTTP service whose binary is also its own migration tool (revchain).
#[derive(Debug, Parser)]
#[command(name = "example-app", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate to head (unless --no-migrate), then serve HTTP (the default command).
    Serve(ServeArgs),
    /// Database migrations compiled into this binary: `migrate upgrade head`,
    /// `migrate downgrade -1`, `migrate current`, `migrate history`, …
    Migrate(revchain::cli::Args),
}

#[derive(Debug, Clone, clap::Args)]
struct ServeArgs {
    /// The address to listen on [default: 127.0.0.1:3000, or 127.0.0.1:$PORT when PORT is
    /// set].
    #[arg(long, env = "BIND_ADDR", value_name = "ADDR")]
    bind: Option<SocketAddr>,

    /// The port of the default address (ignored with --bind).
    #[arg(long, env = "PORT", value_name = "PORT")]
    port: Option<u16>,

    /// The database: postgres://…, mysql://… (or mariadb://…), sqlite://… (a missing SQLite
    /// file is created). The password is never printed.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL",
        default_value = db::DEFAULT_URL
    )]
    database_url: String,

    /// Do not migrate at start (migrations run elsewhere, e.g. in an init container); refuse
    /// to start if the database is behind this binary's migrations.
    #[arg(long)]
    no_migrate: bool,

    /// Whether to migrate at start; `MIGRATE_ON_START=false` is the same as --no-migrate.
    #[arg(
        long,
        env = "MIGRATE_ON_START",
        value_name = "BOOL",
        value_parser = BoolishValueParser::new(),
        action = clap::ArgAction::Set,
        default_value = "true"
    )]
    migrate_on_start: bool,
}

impl ServeArgs {
    fn address(&self) -> SocketAddr {
        self.bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], self.port.unwrap_or(3000))))
    }

    fn migrate(&self) -> bool {
        self.migrate_on_start && !self.no_migrate
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Migrate(mut args)) => {
            revchain::cli::init_logging();
            if args.options.database_url.is_none() {
                args.options.database_url = Some(db::DEFAULT_URL.to_owned());
            }
            runtime.block_on(revchain::cli::run(&MIGRATIONS, args))
        }
        Some(Command::Serve(serve)) => runtime.block_on(run_server(serve, started)),
        None => runtime.block_on(run_server(cli.serve, started)),
    }
}

/// Logs to stderr: the app and revchain (with the progress of Rust code revisions) at
/// `info`, the rest at `warn`, unless `RUST_LOG` says otherwise; every line without the database URL's secrets ([`revchain::cli::LogWriter`]).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},example_app=info",
            revchain::cli::DEFAULT_FILTER
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(revchain::cli::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

async fn run_server(args: ServeArgs, started: Instant) -> ExitCode {
    init_logging();
    revchain::cli::redact_in_logs(&args.database_url);
    let redactor = Redactor::for_url(&args.database_url);
    match serve(&args, &redactor, started).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            tracing::error!("{}", redactor.scrub_message(&failure.message));
            ExitCode::from(failure.code)
        }
    }
}

/// Why the server stopped.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<revchain::Error> for Failure {
    fn from(e: revchain::Error) -> Failure {
        let code = if matches!(e, revchain::Error::LockTimeout { .. }) {
            EXIT_LOCK_TIMEOUT
        } else {
            1
        };
        Failure {
            message: e.to_string(),
            code,
        }
    }
}

async fn serve(args: &ServeArgs, redactor: &Redactor, started: Instant) -> Result<(), Failure> {
    let db = db::connect(&args.database_url)
        .await
        .map_err(Failure::new)?;
    tracing::info!("database: {} ({})", redact(&args.database_url), db.kind());
    let result = prepare(&db, args.migrate()).await;
    if let Err(e) = result {
        db.close().await;
        return Err(e);
    }
    let address = args.address();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Failure::new(format!("cannot listen on {address}: {e}")))?;
    let local = listener.local_addr().unwrap_or(address);
    let app = http::router(http::AppState {
        db: db.clone(),
        redactor: Arc::new(redactor.clone()),
    });
    tracing::info!(
        "listening on http://{local} (ready {:.1?} after start)",
        started.elapsed()
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    db.close().await;
    served.map_err(|e| Failure::new(format!("the server failed: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// Migrates to head, or (with `migrate == false`) checks that the database is not behind.
async fn prepare(db: &Db, migrate: bool) -> Result<(), Failure> {
    if migrate {
        let report = db.migrate(&MIGRATIONS).await?;
        if report.up_to_date || !report.changed() {
            tracing::info!(
                "the database is up to date (revision {})",
                describe(&report.heads_after)
            );
        } else {
            tracing::info!(
                "migrated the database from {} to {} ({} revision(s))",
                describe(&report.heads_before),
                describe(&report.heads_after),
                report.steps.len()
            );
        }
        return Ok(());
    }
    match db.check_compatible(&MIGRATIONS).await {
        Ok(Compatible::ContractPending(ids)) => tracing::info!(
            "the database is at this binary's expand head; its contract-phase revision(s) {} \
             are pending (run `example-app migrate upgrade head --phase contract` once no older \
             release runs); not migrating (--no-migrate)",
            ids.join(", ")
        ),
        Ok(Compatible::NewerExpand(ids)) => tracing::warn!(
            "the database has expand-phase revision(s) {} of a newer release: serving anyway, \
             as during a rolling deploy; not migrating (--no-migrate)",
            ids.join(", ")
        ),
        Ok(_) => tracing::info!(
            "the database is at this binary's head (revision {}); not migrating (--no-migrate)",
            describe(
                &MIGRATIONS
                    .heads()
                    .map(|h| h.id().to_owned())
                    .collect::<Vec<_>>()
            )
        ),
        Err(revchain::Error::Incompatible {
            pending_expand,
            newer_contract,
        }) if newer_contract.is_empty() => {
            return Err(Failure::new(format!(
                "the database is behind this binary: {} revision(s) not applied ({}); the app \
                 was started with --no-migrate (or MIGRATE_ON_START=false), so run \
                 `example-app migrate upgrade head --phase expand` first (in Kubernetes the \
                 init container does), or start without --no-migrate",
                pending_expand.len(),
                pending_expand.join(", ")
            )));
        }
        Err(e) => {
            return Err(Failure::new(format!(
                "the database cannot be served by this binary: {e} (see `example-app migrate \
                 check`)"
            )));
        }
    }
    Ok(())
}

fn describe(heads: &[String]) -> String {
    if heads.is_empty() {
        "base".to_owned()
    } else {
        heads.join(", ")
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends before stopping a pod).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default_and_flags_parse() {
        let cli =
            Cli::try_parse_from(["example-app", "--no-migrate", "--port", "8080"]).expect("parses");
        assert!(cli.command.is_none());
        assert!(!cli.serve.migrate());
        assert_eq!(cli.serve.address().to_string(), "127.0.0.1:8080");
        let cli = Cli::try_parse_from([
            "example-app",
            "serve",
            "--bind",
            "0.0.0.0:9000",
            "--migrate-on-start",
            "false",
        ])
        .expect("parses");
        let Some(Command::Serve(serve)) = cli.command else {
            panic!("serve expected");
        };
        assert!(!serve.migrate());
        assert_eq!(serve.address().to_string(), "0.0.0.0:9000");
        let cli =
            Cli::try_parse_from(["example-app", "migrate", "downgrade", "-1"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Migrate(_))));
    }

    #[test]
    fn migrations_are_embedded() {
        assert_eq!(MIGRATIONS.len(), 7);
        let heads: Vec<&str> = MIGRATIONS.heads().map(|r| r.id()).collect();
        assert_eq!(heads, ["a8b0c2d4e6f8"]);
        let backfill = MIGRATIONS.get("a8b0c2d4e6f8").expect("the handle backfill");
        assert_eq!(backfill.code_database(), Some(revchain::CodeDatabase::Any));
        assert!(MIGRATIONS.iter().any(|r| r.is_merge()));
        assert!(MIGRATIONS.iter().all(|r| r.is_reversible()));
    }
}
