//! The migration CLI, for the `revchain` tool (on a migrations directory) and for any
//! application binary (on the table `migrations!` embedded).
//!
//! Nest it under your own CLI:
//!
//! ```no_run
//! use clap::{Parser, Subcommand};
//!
//! static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
//!
//! #[derive(Parser)]
//! struct App {
//!     #[command(subcommand)]
//!     command: AppCommand,
//! }
//!
//! #[derive(Subcommand)]
//! enum AppCommand {
//!     /// Serve HTTP.
//!     Serve,
//!     /// Database migrations (`my-app migrate upgrade head`).
//!     Migrate(revchain::cli::Args),
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     match App::parse().command {
//!         AppCommand::Serve => todo!(),
//!         AppCommand::Migrate(args) => revchain::cli::run(&MIGRATIONS, args).await,
//!     }
//! }
//! ```
//!
//! or make a binary that is nothing but the migration tool:
//!
//! ```no_run
//! static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
//!
//! fn main() -> std::process::ExitCode {
//!     revchain::cli::main(&MIGRATIONS)
//! }
//! ```
//!
//! Exit codes: 0 success, 1 an error (bad file, bad target, database error, refused
//! migration), 2 a usage error, 75 the migration lock could not be taken in time (try
//! again later); `check` with a database: 3 revisions pending, 4 refused (every command
//! that changes the database refuses its state: edited, deleted or renamed applied
//! revisions, a dirty mark, damaged tables), 5 the database is ahead of the binary, 6 it
//! is both ahead and behind; `lint` and `check --lint`: 7 a finding is an error; `fleet`:
//! 8 a target is not at the goal (failed, refused, unreachable, behind, ahead, or not
//! attempted after failures passed `--max-failures`; the summary names each), 1 the targets
//! could not be listed (a bad line of the targets file, a failed catalog query); 130 interrupted by Ctrl-C or SIGTERM (`revision --autogenerate`, `check
//! --schema`, `test-roundtrip`, after dropping their scratch databases).

mod alembic_import;
#[cfg(feature = "autogen")]
mod autogen;
mod commands;
mod complete;
mod context;
mod database;
mod db;
mod files;
mod invocation;
mod json;
mod logging;
mod output;

#[cfg(feature = "autogen")]
pub use commands::TestRoundtripArgs;
pub use commands::{
    AppCommand, BranchesArgs, CHECK_AHEAD, CHECK_BEHIND, CHECK_DIVERGED, CHECK_REFUSED, CheckArgs,
    Command, Confirm, CurrentArgs, DatabaseAction, DatabaseArgs, DialectArg, DowngradeArgs,
    FLEET_INCOMPLETE, FleetArgs, FleetCommand, FleetOptions, GraphArgs, HeadsArgs, HistoryArgs,
    ImportArgs, JOB_COMPLETION_INDEX, LINT_FAILED, LintArgs, LintFormat, MergeArgs, RevisionArgs,
    ShowArgs, StampArgs, StatusArgs, TargetSource, ToolCommand, ToolOnly, UpgradeArgs,
};
pub use complete::{CompletionsArgs, ShellArg};
pub use json::Format;
pub use logging::{DEFAULT_FILTER, LogLine, LogWriter, init_logging, redact_in_logs};

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::LockMode;
use crate::bookkeeping::TableName;
use crate::embedded::Migrations;
use crate::error::Error;
use crate::url::Redactor;
use context::{Context, Source};
use invocation::Invocation;
use logging::error_label;

/// The global options of every migration CLI, before the command. The `revchain` tool's
/// `--dir` is in [`ToolArgs`]: the CLI embedded in an application runs the migrations
/// compiled into it and has no directory to read.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The database: postgres://…, mysql://… (or mariadb://…), sqlite://… The password is
    /// never printed.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// The version table (one row per current head).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = TableName::DEFAULT_VERSION
    )]
    pub version_table: String,

    /// The log table (one row per applied revision).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = TableName::DEFAULT_LOG
    )]
    pub log_table: String,

    /// Seconds to wait for revchain's migration lock before giving up (exit code 75); also
    /// spelled `--lock-timeout`, its former name. Not a revision's own lock timeout
    /// (`--default-lock-timeout`).
    #[arg(
        long,
        alias = "lock-timeout",
        global = true,
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub migration_lock_timeout: u64,

    /// The repeatable revisions' table (one row per repeatable revision and versioned
    /// state).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = TableName::DEFAULT_REPEATABLE
    )]
    pub repeatable_table: String,

    /// How the migration lock is taken: `advisory` (the session's advisory lock), `lease`
    /// (a row in the lock table, for PgBouncer in transaction mode and databases without
    /// advisory locks), or `auto` (the lease when a pooler or no advisory lock is detected).
    #[arg(long, global = true, value_name = "MODE", default_value = "auto")]
    pub lock: LockMode,

    /// The lease lock's table.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = TableName::DEFAULT_LOCK
    )]
    pub lock_table: String,

    /// Seconds a lease lasts without a heartbeat (the heartbeat extends it every third).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30)]
    pub lease_ttl: u64,

    /// The lock timeout of revisions without a `Lock Timeout` header (`5s`, `250ms`,
    /// `1m`): PostgreSQL's `lock_timeout`, MariaDB's `lock_wait_timeout`.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub default_lock_timeout: Option<std::time::Duration>,

    /// The statement timeout of revisions without a `Statement Timeout` header (`10m`):
    /// PostgreSQL's `statement_timeout`, MariaDB's `max_statement_time`.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub default_statement_timeout: Option<std::time::Duration>,

    /// How many more times a transactional revision that timed out waiting for a lock is
    /// tried, after a growing, jittered pause.
    #[arg(long, global = true, value_name = "N", default_value_t = crate::backend::timeouts::DEFAULT_LOCK_RETRIES)]
    pub lock_retries: u32,

    /// How to print: `text`, or `json`, one document on stdout, errors included (schema in
    /// docs/cli.md), for the commands that read or report (`current`, `heads`,
    /// `branches`, `history`, `show`, `check`, `status`, `upgrade`, `downgrade`, `stamp`,
    /// `lint`); `github` (workflow annotations) is `lint`'s.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub format: Format,
}

/// A duration flag, as revision headers write durations (`5s`, `250ms`, `10m`, `1h`).
fn duration(value: &str) -> Result<std::time::Duration, String> {
    revchain_core::parse::parse_duration(value).ok_or_else(|| {
        format!("`{value}` is not a duration: write a number and a unit (ms, s, m, h), as in `5s`")
    })
}

/// The options and command of the migration CLI embedded in an application; nest it in
/// your application's CLI as `Migrate(revchain::cli::Args)`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The global options.
    #[command(flatten)]
    pub options: Options,

    /// The command.
    #[command(subcommand)]
    pub command: AppCommand,
}

/// The options and command of the `revchain` tool, which also has the commands that
/// write revision files.
#[derive(Debug, Clone, clap::Args)]
pub struct ToolArgs {
    /// The migrations directory.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "migrations",
        env = "REVCHAIN_DIR"
    )]
    pub dir: PathBuf,

    /// The global options.
    #[command(flatten)]
    pub options: Options,

    /// The command.
    #[command(subcommand)]
    pub command: ToolCommand,
}

/// The exit code of a usage error (as clap's).
pub(crate) const USAGE: u8 = 2;

/// An error of the CLI: a message for stderr, an exit code, and for `--format json` a
/// stable kind and where it is (docs/cli.md).
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    code: u8,
    /// The stable kind: the runtime's [`Error::kind`], or the CLI's own (`cli`, `usage`,
    /// `revisions`, `target`, `connect`, `no_database`, `lint`, and `check`'s states).
    kind: &'static str,
    /// The rest, rarely there (boxed: a `Result`'s error stays small).
    detail: Option<Box<Detail>>,
}

/// The parts of a [`CliError`] that only some errors have.
#[derive(Debug, Default)]
struct Detail {
    /// The revision, its file and line, when the error has them.
    revision: Option<String>,
    file: Option<String>,
    line: Option<usize>,
    /// What the run applied before the revision that failed.
    applied_before: Option<crate::report::Report>,
    /// What the command printed before it failed (stdout; in JSON mode the whole
    /// document, which then stands in for the error document).
    document: Option<String>,
}

impl CliError {
    /// An error of `kind` that exits with `code`.
    pub fn new(code: u8, kind: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code,
            kind,
            detail: None,
        }
    }

    pub fn user(message: impl Into<String>) -> CliError {
        CliError::new(1, "cli", message)
    }

    pub fn from_display(e: impl std::fmt::Display) -> CliError {
        CliError::user(e.to_string())
    }

    /// The same error, of `kind`.
    pub fn kind(mut self, kind: &'static str) -> CliError {
        self.kind = kind;
        self
    }

    /// The same error, printed after `document` (what the command printed before it).
    pub fn after(mut self, document: String) -> CliError {
        self.detail.get_or_insert_default().document = Some(document);
        self
    }

    /// What the command printed before it failed.
    fn document(&self) -> Option<&str> {
        self.detail.as_ref().and_then(|d| d.document.as_deref())
    }

    fn runtime(e: Error) -> CliError {
        let code = if matches!(e, Error::LockTimeout { .. }) {
            75
        } else {
            1
        };
        let (revision, file, line) = json::location(&e);
        let detail = Detail {
            revision,
            file,
            line,
            applied_before: e.applied_before().cloned(),
            document: None,
        };
        CliError {
            detail: Some(Box::new(detail)),
            ..CliError::new(code, e.kind(), e.to_string())
        }
    }
}

/// Runs the CLI on the migrations compiled into the binary (`my-app migrate …`).
/// Errors go to stderr (passwords removed); the exit code says how it ended.
///
/// When the application has set up no `tracing` subscriber, this installs revchain's log
/// output ([`init_logging`]), so that what the command applies is printed; an application
/// that logs keeps its own. Every command a message suggests names this binary as it was
/// invoked (`my-app migrate stamp …`).
pub async fn run(migrations: &Migrations, args: Args) -> ExitCode {
    init_logging();
    let source = Source::Embedded(migrations);
    let invocation = Invocation::embedded();
    let dir = std::path::Path::new(EMBEDDED_DIR);
    // Boxed: a command's future nests deep (engine, backend, driver), and an application's
    // own futures around `run` must stay far from the compiler's recursion limit when it
    // works out their layout.
    run_command(source, dir, &args.options, &invocation, async |ctx| {
        Box::pin(args.command.exec(ctx)).await
    })
    .await
}

/// The directory an embedded run takes as its migrations directory where one is needed
/// only to place a file next to it (`check --schema`'s default `schema.sql`).
const EMBEDDED_DIR: &str = "migrations";

/// Runs the CLI on a migrations directory (the `revchain` tool).
pub async fn run_on_dir(args: ToolArgs) -> ExitCode {
    init_logging();
    let dir = args.dir.as_path();
    run_command(
        Source::Dir(dir),
        dir,
        &args.options,
        &Invocation::tool(),
        async |ctx| Box::pin(args.command.exec(ctx, dir)).await,
    )
    .await
}

/// Resolves the context of one run, runs the command on it, prints what it says.
async fn run_command<'a>(
    source: Source<'a>,
    dir: &'a std::path::Path,
    options: &'a Options,
    invocation: &Invocation,
    command: impl AsyncFnOnce(&Context<'a>) -> Result<String, CliError>,
) -> ExitCode {
    if let Some(url) = &options.database_url {
        redact_in_logs(url);
    }
    let redactor = options
        .database_url
        .as_deref()
        .map(Redactor::for_url)
        .unwrap_or_default();
    let result = match Context::new(source, dir, options) {
        Ok(ctx) => command(&ctx).await,
        Err(e) => Err(e),
    };
    finish(result, &redactor, options.format, invocation)
}

/// A complete migration tool over the embedded table: parses the command line, sets up
/// logging to stderr (`RUST_LOG` overrides the level), builds a Tokio runtime, runs.
///
/// ```no_run
/// static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
///
/// fn main() -> std::process::ExitCode {
///     revchain::cli::main(&MIGRATIONS)
/// }
/// ```
pub fn main(migrations: &Migrations) -> ExitCode {
    #[derive(Parser)]
    #[command(
        about = "Database migrations compiled into this binary (revchain)",
        version
    )]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    let cli = match parse_command_line::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run(migrations, cli.args)),
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", error_label());
            ExitCode::from(1)
        }
    }
}

/// The `revchain` tool: the CLI on a migrations directory (`--dir`, default
/// `migrations`). This is the whole `main` of the `revchain` binary.
pub fn tool_main() -> ExitCode {
    // A shell asking for completions (`COMPLETE=bash revchain -- …`) is answered, then exits.
    clap_complete::CompleteEnv::with_factory(tool_command).complete();
    let cli = match parse_command_line::<ToolCli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run_on_dir(cli.args)),
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", error_label());
            ExitCode::from(1)
        }
    }
}

/// Database migrations as a revision graph of SQL files (Alembic-style).
#[derive(Parser)]
#[command(name = "revchain", version, about, long_about = None)]
struct ToolCli {
    #[command(flatten)]
    args: ToolArgs,
}

/// The `revchain` tool's command line, its revision arguments completing from the
/// migrations directory.
fn tool_command() -> clap::Command {
    complete::with_dynamic_revisions(<ToolCli as clap::CommandFactory>::command())
}

/// The command line, or the exit code after clap's message (help, version, a usage error)
/// was printed, with every URL in it redacted: clap quotes back the argument it rejects,
/// which may be a database URL given in the wrong place.
fn parse_command_line<C: Parser>() -> Result<C, ExitCode> {
    C::try_parse().map_err(|e| {
        let text = crate::url::redact_urls_in(&e.render().to_string());
        if e.use_stderr() {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
        ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
    })
}

fn finish(
    result: Result<String, CliError>,
    redactor: &Redactor,
    format: Format,
    how: &Invocation,
) -> ExitCode {
    let print = |text: &str| {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`revchain history | head`) is not an error worth a message.
        let _ = stdout.write_all(how.name_commands(&redactor.scrub(text)).as_bytes());
        let _ = stdout.flush();
    };
    match result {
        Ok(out) => {
            print(&out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            match (e.document(), format) {
                (Some(document), _) => print(document),
                (None, Format::Json) => print(&json::error_document(&e, redactor)),
                (None, _) => {}
            }
            let mut stderr = std::io::stderr().lock();
            // A URL given where something else belongs (`revchain show postgres://…`) is
            // quoted back by the error about it: its password goes too.
            let message = how.name_commands(&redactor.scrub_message(&e.message));
            let _ = writeln!(stderr, "{}: {message}", error_label());
            ExitCode::from(e.code)
        }
    }
}
