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
//! is both ahead and behind; 130 interrupted by Ctrl-C or SIGTERM (`revision --autogenerate`, `check
//! --schema`, `test-roundtrip`, after dropping their scratch databases).

#[cfg(feature = "autogen")]
mod autogen;
mod db;
mod files;
mod logging;
mod output;

pub use logging::{LogLine, LogWriter, init_logging, redact_in_logs};

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use revchain_core::{Dialect, History, Mode, Target};

use crate::error::Error;
use crate::migrator::Migrator;
use crate::report::{DatabaseState, Status};
use crate::table::Migrations;
use crate::tables::{TableName, Tables};
use crate::url::{DatabaseKind, Redactor};

/// The options and command of the migration CLI; nest it in your application's CLI as
/// `Migrate(revchain::cli::Args)`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The migrations directory (used by the `revchain` tool; an application's embedded CLI
    /// uses the migrations compiled into it).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "migrations",
        env = "REVCHAIN_DIR"
    )]
    pub dir: PathBuf,

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

    /// Seconds to wait for the migration lock before giving up (exit code 75).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The SQL dialect of an offline script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
}

/// The commands, as in Alembic.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Create an empty migrations directory.
    Init,
    /// Create a new revision file on top of the head.
    Revision {
        /// The message: the first line of the file and part of its name.
        #[arg(short, long)]
        message: String,
        /// Use this id instead of a generated one (letters, digits and `_`).
        #[arg(long, value_name = "ID")]
        rev_id: Option<String>,
        /// The parent: `head` (default), an id or prefix, `label@head`, `heads` (merge
        /// all), or `base` (a new root).
        #[arg(long, value_name = "REV", default_value = "head")]
        head: String,
        /// Allow a parent that is not a head (starts a new branch).
        #[arg(long)]
        splice: bool,
        /// A branch label for the new revision.
        #[arg(long, value_name = "LABEL")]
        branch_label: Option<String>,
        /// A revision (id, prefix or label) the new one depends on; repeatable.
        #[arg(long, value_name = "REV")]
        depends_on: Vec<String>,
        /// Write the SQL too: compare the migrations with the schema file on scratch
        /// databases of the --database-url server (created and dropped again).
        #[cfg(feature = "autogen")]
        #[arg(long)]
        autogenerate: bool,
        /// The declarative schema for --autogenerate (default: schema.sql next to the
        /// migrations directory).
        #[cfg(feature = "autogen")]
        #[arg(long, value_name = "FILE", requires = "autogenerate")]
        schema: Option<PathBuf>,
    },
    /// Create a revision that merges several heads (`heads` merges them all).
    Merge {
        /// The message.
        #[arg(short, long)]
        message: String,
        /// The revisions to merge, or `heads`.
        #[arg(required = true)]
        revisions: Vec<String>,
        /// Use this id instead of a generated one.
        #[arg(long, value_name = "ID")]
        rev_id: Option<String>,
        /// A branch label for the merge revision.
        #[arg(long, value_name = "LABEL")]
        branch_label: Option<String>,
    },
    /// Show the heads: `<id> (head)`.
    Heads {
        /// Show each head in full.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Show the branch points and their branches.
    Branches {
        /// Show each revision in full.
        #[arg(short, long)]
        verbose: bool,
    },
    /// List the revisions, newest first.
    History {
        /// A range `START:END` (ids, prefixes, labels, `base`, `heads`, `current`).
        #[arg(
            short = 'r',
            long = "rev-range",
            value_name = "START:END",
            allow_hyphen_values = true
        )]
        rev_range: Option<String>,
        /// Show each revision in full.
        #[arg(short, long)]
        verbose: bool,
        /// Mark the database's current revisions (needs --database-url).
        #[arg(short = 'i', long)]
        indicate_current: bool,
    },
    /// Show one revision, with its SQL (`head`, `heads`, an id, a prefix or a label).
    Show {
        /// The revision.
        revision: String,
    },
    /// Check the revision graph (one head, every rule); with --database-url, also the
    /// database's state, as every command that changes it checks it. Exit codes: 0 up to
    /// date, 3 revisions pending, 4 refused (edited, deleted or renamed applied revisions, a
    /// dirty mark, damaged tables: the message names every one), 5 the database is ahead of
    /// this binary, 6 ahead and behind, 1 any other error.
    Check {
        /// Instead of checking the database: fail when the migrations at head do not
        /// produce this schema file (default: schema.sql next to the migrations directory),
        /// compared on scratch databases of the --database-url server.
        #[cfg(feature = "autogen")]
        #[arg(long, value_name = "FILE", num_args = 0..=1)]
        schema: Option<Option<PathBuf>>,
    },
    /// Check on a scratch database of the --database-url server that every downgrade undoes
    /// its upgrade (irreversible revisions are stepped over).
    #[cfg(feature = "autogen")]
    TestRoundtrip,
    /// Upgrade the database to a target (default `head`).
    Upgrade {
        /// `head`, `heads`, an id or prefix, `label@head`, `+N`, `<id>+N`, `label@+N`; with --sql,
        /// `START:END`.
        #[arg(default_value = "head", allow_negative_numbers = true)]
        target: String,
        /// Print the SQL script instead of running it (offline mode).
        #[arg(long)]
        sql: bool,
        /// The dialect of --sql (default: from --database-url, else postgres).
        #[arg(long, value_enum)]
        dialect: Option<DialectArg>,
    },
    /// Downgrade the database to a target.
    Downgrade {
        /// `base`, an id or prefix, `-N`, `<id>-N`, `label@-N`, `label@base`; with --sql, `START:END`.
        #[arg(allow_negative_numbers = true)]
        target: String,
        /// Print the SQL script instead of running it (offline mode).
        #[arg(long)]
        sql: bool,
        /// The dialect of --sql (default: from --database-url, else postgres).
        #[arg(long, value_enum)]
        dialect: Option<DialectArg>,
    },
    /// Show the database's current revisions.
    Current {
        /// Also name the database (password hidden).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Record targets as applied without running SQL (repairs, adopting a database).
    Stamp {
        /// The revisions to record (`head`, `heads`, ids, `base`, …).
        #[arg(required = true, allow_negative_numbers = true)]
        targets: Vec<String>,
        /// Empty the version and log tables first (unknown or dirty states).
        #[arg(long)]
        purge: bool,
    },
}

/// An error of the CLI: a message for stderr and an exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    pub fn user(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: 1,
        }
    }

    pub fn from_display(e: impl std::fmt::Display) -> CliError {
        CliError::user(e.to_string())
    }

    fn runtime(e: Error) -> CliError {
        let code = if matches!(e, Error::LockTimeout { .. }) {
            75
        } else {
            1
        };
        CliError {
            message: e.to_string(),
            code,
        }
    }
}

/// Where the revisions come from.
enum Source<'a> {
    /// The table compiled into the binary.
    Embedded(&'a Migrations),
    /// A directory read at run time.
    Dir(&'a Path),
}

/// A loaded table, borrowed or owned.
enum Loaded<'a> {
    Borrowed(&'a Migrations),
    Owned(Box<Migrations>),
}

impl std::ops::Deref for Loaded<'_> {
    type Target = Migrations;
    fn deref(&self) -> &Migrations {
        match self {
            Loaded::Borrowed(m) => m,
            Loaded::Owned(m) => m,
        }
    }
}

impl<'a> Source<'a> {
    fn load(&self, mode: Mode) -> Result<Loaded<'a>, CliError> {
        match self {
            Source::Embedded(m) => Ok(Loaded::Borrowed(m)),
            Source::Dir(dir) => {
                let display = dir.display().to_string();
                let history =
                    History::load_as(dir, &display, mode).map_err(CliError::from_display)?;
                Ok(Loaded::Owned(Box::new(Migrations::from_history(
                    history, &display,
                ))))
            }
        }
    }

    /// The directory, for commands that write files.
    fn dir_for(&self, command: &str) -> Result<&'a Path, CliError> {
        match self {
            Source::Dir(dir) => Ok(dir),
            Source::Embedded(_) => Err(CliError::user(format!(
                "`{command}` writes revision files, so it needs the source tree: run it in your \
                 repository with the `revchain` tool (`cargo install revchain`, then `revchain \
                 {command} …`); this binary only carries the compiled migrations"
            ))),
        }
    }
}

/// Runs the CLI on the migrations compiled into the binary (`my-app migrate …`).
/// Errors go to stderr (passwords removed); the exit code says how it ended.
pub async fn run(migrations: &Migrations, args: Args) -> ExitCode {
    if let Some(url) = &args.database_url {
        redact_in_logs(url);
    }
    finish(execute(&Source::Embedded(migrations), &args).await, &args)
}

/// Runs the CLI on a migrations directory (the `revchain` tool).
pub async fn run_on_dir(args: Args) -> ExitCode {
    if let Some(url) = &args.database_url {
        redact_in_logs(url);
    }
    let dir = args.dir.clone();
    finish(execute(&Source::Dir(&dir), &args).await, &args)
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
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// The `revchain` tool: the CLI on a migrations directory (`--dir`, default
/// `migrations`). This is the whole `main` of the `revchain` binary.
pub fn tool_main() -> ExitCode {
    /// Database migrations as a revision graph of SQL files (Alembic-style).
    #[derive(Parser)]
    #[command(name = "revchain", version, about, long_about = None)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    let cli = match parse_command_line::<Cli>() {
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
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
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

fn finish(result: Result<String, CliError>, args: &Args) -> ExitCode {
    let redactor = args
        .database_url
        .as_deref()
        .map(Redactor::for_url)
        .unwrap_or_default();
    match result {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`revchain history | head`) is not an error worth a message.
            let _ = stdout.write_all(redactor.scrub(&out).as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            // A URL given where something else belongs (`revchain show postgres://…`) is
            // quoted back by the error about it: its password goes too.
            let _ = writeln!(stderr, "error: {}", redactor.scrub_message(&e.message));
            ExitCode::from(e.code)
        }
    }
}

fn migrator<'m>(m: &'m Migrations, args: &Args) -> Result<Migrator<'m>, CliError> {
    Ok(Migrator::new(m)
        .version_table(TableName::parse(&args.version_table).map_err(CliError::from_display)?)
        .log_table(TableName::parse(&args.log_table).map_err(CliError::from_display)?)
        .lock_timeout(Duration::from_secs(args.lock_timeout)))
}

fn url(args: &Args, command: &str) -> Result<String, CliError> {
    args.database_url.clone().ok_or_else(|| {
        CliError::user(format!(
            "`{command}` needs a database: pass --database-url or set DATABASE_URL \
             (postgres://…, mysql://…, sqlite://…)"
        ))
    })
}

async fn execute(source: &Source<'_>, args: &Args) -> Result<String, CliError> {
    match &args.command {
        Command::Init => files::init(source.dir_for("init")?),
        Command::Revision {
            message,
            rev_id,
            head,
            splice,
            branch_label,
            depends_on,
            #[cfg(feature = "autogen")]
            autogenerate,
            #[cfg(feature = "autogen")]
            schema,
        } => {
            let options = files::RevisionOptions {
                message,
                rev_id: rev_id.as_deref(),
                head,
                splice: *splice,
                branch_label: branch_label.as_deref(),
                depends_on,
                upgrade: String::new(),
                downgrade: String::new(),
                transactional: true,
            };
            #[cfg(feature = "autogen")]
            if *autogenerate {
                return autogen::revision(source, args, &options, schema.as_deref()).await;
            }
            let dir = source.dir_for("revision")?;
            let m = source.load(Mode::Drafts)?;
            files::revision(dir, m.graph(), &options)
        }
        Command::Merge {
            message,
            revisions,
            rev_id,
            branch_label,
        } => {
            let dir = source.dir_for("merge")?;
            let m = source.load(Mode::Drafts)?;
            files::merge(
                dir,
                m.graph(),
                message,
                revisions,
                rev_id.as_deref(),
                branch_label.as_deref(),
            )
        }
        Command::Heads { verbose } => {
            let m = source.load(Mode::Drafts)?;
            let none = HashSet::new();
            Ok(m.graph()
                .heads()
                .iter()
                .map(|&h| {
                    if *verbose {
                        output::log_entry(&m, h, &none)
                    } else {
                        output::head_line(&m, h) + "\n"
                    }
                })
                .collect())
        }
        Command::Branches { verbose } => {
            let m = source.load(Mode::Drafts)?;
            Ok(output::branches(&m, *verbose))
        }
        Command::History {
            rev_range,
            verbose,
            indicate_current,
        } => {
            let m = source.load(Mode::Drafts)?;
            let wants_db = *indicate_current
                || rev_range
                    .as_deref()
                    .is_some_and(|r| r.split(':').any(|p| p == "current"));
            let current: Vec<String> = if wants_db {
                let db = db::connect(&url(args, "history --indicate-current")?, false).await?;
                let heads = db
                    .current(&migrator(&m, args)?)
                    .await
                    .map_err(CliError::runtime)?;
                db.close().await;
                heads.into_iter().map(|h| h.id).collect()
            } else {
                Vec::new()
            };
            let selected = history_range(&m, rev_range.as_deref(), &current)?;
            let marks: HashSet<String> = if *indicate_current {
                current.into_iter().collect()
            } else {
                HashSet::new()
            };
            Ok(selected
                .into_iter()
                .rev()
                .map(|i| {
                    if *verbose {
                        output::log_entry(&m, i, &marks)
                    } else {
                        output::history_line(&m, i, &marks) + "\n"
                    }
                })
                .collect())
        }
        Command::Show { revision } => {
            let m = source.load(Mode::Drafts)?;
            let g = m.graph();
            let found: Vec<usize> = match revision.as_str() {
                "heads" => g.heads().to_vec(),
                "head" => match g.heads() {
                    [one] => vec![*one],
                    _ => {
                        return Err(CliError::from_display(
                            revchain_core::TargetError::MultipleHeads(
                                g.heads().iter().map(|&h| g.id(h).to_owned()).collect(),
                            ),
                        ));
                    }
                },
                "base" => Vec::new(),
                r => vec![g.lookup(r).map_err(CliError::from_display)?],
            };
            Ok(found
                .into_iter()
                .map(|i| output::show(&m, i))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        Command::Check {
            #[cfg(feature = "autogen")]
                schema: None,
        } => check(source, args, true).await,
        #[cfg(feature = "autogen")]
        Command::Check {
            schema: Some(schema),
        } => {
            let mut out = check(source, args, false).await?;
            out.push_str(&autogen::check_schema(source, args, schema.as_deref()).await?);
            Ok(out)
        }
        #[cfg(feature = "autogen")]
        Command::TestRoundtrip => autogen::test_roundtrip(source, args).await,
        Command::Upgrade {
            target,
            sql,
            dialect,
        }
        | Command::Downgrade {
            target,
            sql,
            dialect,
        } => {
            let direction = if matches!(args.command, Command::Upgrade { .. }) {
                revchain_core::Direction::Upgrade
            } else {
                revchain_core::Direction::Downgrade
            };
            if *sql {
                let m = source.load(Mode::Strict)?;
                return offline(&m, args, direction, target, *dialect);
            }
            let url = url(args, &direction.to_string())?;
            let m = source.load(Mode::Strict)?;
            let db = db::connect(&url, direction == revchain_core::Direction::Upgrade).await?;
            let mig = migrator(&m, args)?;
            let result = match direction {
                revchain_core::Direction::Upgrade => db.upgrade(&mig, target).await,
                revchain_core::Direction::Downgrade => db.downgrade(&mig, target).await,
            };
            db.close().await;
            result.map_err(CliError::runtime)?;
            Ok(String::new())
        }
        Command::Current { verbose } => {
            let url = url(args, "current")?;
            let m = source.load(Mode::Drafts)?;
            let db = db::connect(&url, false).await?;
            let heads = db
                .current(&migrator(&m, args)?)
                .await
                .map_err(CliError::runtime);
            db.close().await;
            let mut out = String::new();
            if *verbose {
                out.push_str(&format!(
                    "Current revision(s) for {}:\n",
                    crate::url::redact(&url)
                ));
            }
            for h in heads? {
                out.push_str(&output::current_line(&h));
                out.push('\n');
            }
            Ok(out)
        }
        Command::Stamp { targets, purge } => {
            let url = url(args, "stamp")?;
            let m = source.load(Mode::Strict)?;
            let db = db::connect(&url, true).await?;
            let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
            let result = db.stamp(&migrator(&m, args)?, &refs, *purge).await;
            db.close().await;
            result.map_err(CliError::runtime)?;
            Ok(String::new())
        }
    }
}

/// `check`: the graph, and with a database, its state.
async fn check(source: &Source<'_>, args: &Args, database: bool) -> Result<String, CliError> {
    if let Source::Dir(dir) = source {
        // Every problem at once: the strict reading's, and the one-head rule on the graph
        // (which a draft revision with an empty upgrade does not hide).
        let display = dir.display().to_string();
        let mut problems: Vec<String> = Vec::new();
        if let Err(e) = History::load_as(dir, &display, Mode::Strict) {
            problems.extend(e.0.iter().map(ToString::to_string));
        }
        if let Ok(history) = History::load_as(dir, &display, Mode::Drafts)
            && let Err(e) = history.check_single_head()
        {
            problems.push(e.to_string());
        }
        if !problems.is_empty() {
            return Err(CliError::user(problems.join("\n")));
        }
    }
    let m = source.load(Mode::Strict)?;
    let heads: Vec<&str> = m.heads().map(|h| h.id()).collect();
    let mut out = format!(
        "{}: {} revision(s), head {}: the revision graph is valid.\n",
        m.dir(),
        m.len(),
        if heads.is_empty() {
            "<base>".to_owned()
        } else {
            heads.join(", ")
        }
    );
    if let Some(url) = args.database_url.as_ref().filter(|_| database) {
        let db = db::connect(url, false).await?;
        let status = db
            .status(&migrator(&m, args)?)
            .await
            .map_err(CliError::runtime);
        db.close().await;
        out.push_str(&database_verdict(&m, &status?)?);
    }
    Ok(out)
}

/// What `check` says about the database's state (the state check that every command that
/// changes the database runs): the line to print when it is up to date, otherwise an error
/// whose exit code tells why (see [`CHECK_BEHIND`] and the following).
fn database_verdict(m: &Migrations, status: &Status) -> Result<String, CliError> {
    let not_up_to_date = |code: u8, why: String| CliError {
        message: format!("the database is not up to date with {}: {why}", m.dir()),
        code,
    };
    let pending = || {
        format!(
            "{} revision(s) not applied: {} (run `upgrade heads`)",
            status.pending.len(),
            status.pending.join(", ")
        )
    };
    let ahead = || {
        format!(
            "the database has revision(s) this binary does not know, recorded as applied by a \
             newer release: {} (deploy the newer release; a rolling deploy may serve with \
             `allow_database_ahead`)",
            status.ahead.join(", ")
        )
    };
    match status.state() {
        DatabaseState::UpToDate => Ok(format!(
            "The database is up to date ({} revision(s) applied).\n",
            status.applied.len()
        )),
        DatabaseState::Behind => Err(not_up_to_date(CHECK_BEHIND, pending())),
        DatabaseState::Ahead => Err(CliError {
            message: format!("the database is ahead of {}: {}", m.dir(), ahead()),
            code: CHECK_AHEAD,
        }),
        DatabaseState::Diverged => Err(CliError {
            message: format!(
                "the database has diverged from {}: {}; and {}",
                m.dir(),
                ahead(),
                pending()
            ),
            code: CHECK_DIVERGED,
        }),
        _ => Err(CliError {
            message: format!(
                "every command that changes the database refuses it: {}",
                status
                    .refusal
                    .as_deref()
                    .unwrap_or("its state is not consistent")
            ),
            code: CHECK_REFUSED,
        }),
    }
}

/// `check`'s exit code when revisions are pending (`upgrade` would apply them).
pub const CHECK_BEHIND: u8 = 3;
/// `check`'s exit code when every command that changes the database would refuse it
/// (an edited, deleted or renamed applied revision, a dirty mark, damaged tables).
pub const CHECK_REFUSED: u8 = 4;
/// `check`'s exit code when the database is ahead of the binary (a newer release
/// migrated it; nothing is pending).
pub const CHECK_AHEAD: u8 = 5;
/// `check`'s exit code when the database is both ahead and behind.
pub const CHECK_DIVERGED: u8 = 6;

/// The revisions of `history -r START:END`, in table order: descendants of START (through
/// `Revises`) that are ancestors of END, both ends included.
fn history_range(
    m: &Migrations,
    range: Option<&str>,
    current: &[String],
) -> Result<Vec<usize>, CliError> {
    let g = m.graph();
    let Some(range) = range else {
        return Ok((0..g.len()).collect());
    };
    let Some((start, end)) = range.split_once(':') else {
        return Err(CliError::user(format!(
            "`{range}` is not a range; use START:END, START: or :END"
        )));
    };
    let endpoint = |text: &str, default_all: bool| -> Result<Option<Vec<usize>>, CliError> {
        match text {
            "" if default_all => Ok(None),
            "" | "base" => Ok(if default_all { None } else { Some(Vec::new()) }),
            "heads" | "head" if !default_all => Ok(None),
            "current" => current
                .iter()
                .map(|id| {
                    g.find(id).ok_or_else(|| {
                        CliError::user(format!("the current revision {id} is not in {}", m.dir()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            other => {
                let t: Target = other.parse().map_err(CliError::from_display)?;
                let plan = g.plan_upgrade(&t, &[]).map_err(CliError::from_display)?;
                Ok(Some(plan.heads_after))
            }
        }
    };
    let lower = match start {
        "" | "base" => None,
        s => endpoint(s, false)?,
    };
    let upper = match end {
        "" | "heads" => None,
        e => endpoint(e, false)?,
    };
    let below = upper.map(|u| g.ancestors(u));
    let above = lower.map(|l| g.progeny(l));
    Ok((0..g.len())
        .filter(|&i| below.as_ref().is_none_or(|b| b[i]) && above.as_ref().is_none_or(|a| a[i]))
        .collect())
}

/// `upgrade START:END --sql` / `downgrade START:END --sql`.
fn offline(
    m: &Migrations,
    args: &Args,
    direction: revchain_core::Direction,
    target: &str,
    dialect: Option<DialectArg>,
) -> Result<String, CliError> {
    let dialect = match dialect {
        Some(DialectArg::Postgres) => Dialect::Postgres,
        Some(DialectArg::Mysql) => Dialect::MySql,
        Some(DialectArg::Sqlite) => Dialect::Sqlite,
        None => match args.database_url.as_deref().and_then(DatabaseKind::of) {
            Some(DatabaseKind::MySql) => Dialect::MySql,
            Some(DatabaseKind::Sqlite) => Dialect::Sqlite,
            _ => Dialect::Postgres,
        },
    };
    let (start, end) = match target.split_once(':') {
        Some((s, e)) => (s, e),
        None if direction == revchain_core::Direction::Upgrade => ("base", target),
        None => {
            return Err(CliError::user(
                "downgrade --sql needs a range START:END (the state to start from, then the target)",
            ));
        }
    };
    let g = m.graph();
    let current: Vec<usize> = match start {
        "" | "base" => Vec::new(),
        s => {
            let t: Target = s.parse().map_err(CliError::from_display)?;
            g.plan_upgrade(&t, &[])
                .map_err(CliError::from_display)?
                .heads_after
        }
    };
    let end: Target = end.parse().map_err(CliError::from_display)?;
    let plan = match direction {
        revchain_core::Direction::Upgrade => g.plan_upgrade(&end, &current),
        revchain_core::Direction::Downgrade => g.plan_downgrade(&end, &current),
    }
    .map_err(CliError::from_display)?;
    let tables = Tables {
        version: TableName::parse(&args.version_table).map_err(CliError::from_display)?,
        log: TableName::parse(&args.log_table).map_err(CliError::from_display)?,
    };
    Ok(crate::offline::script(
        m,
        &tables,
        dialect,
        &plan,
        current.is_empty(),
    ))
}
