//! The commands, one file each, as cargo lays out its own: each file holds the command's
//! arguments and its `exec`, which runs on the [`Context`] resolved once from the global
//! options.
//!
//! [`Command`] is what every migration CLI has. The commands that write revision files,
//! `init`, `revision`, `merge` and `import`, form their own set, [`ToolCommand`]: only the `revchain`
//! tool, which works on the source tree, has them. The CLI embedded in an application
//! parses [`AppCommand`], which knows their names only to say where they are.

mod adopt;
mod branches;
mod check;
mod current;
mod database;
mod downgrade;
mod fleet;
mod graph;
mod heads;
mod history;
mod import;
mod init;
mod lint;
mod merge;
pub(crate) mod revision;
mod show;
#[cfg(feature = "autogen")]
mod squash;
mod stamp;
mod status;
#[cfg(feature = "autogen")]
mod test_roundtrip;
mod upgrade;

use std::path::Path;

use clap::Subcommand;

pub use adopt::AdoptArgs;
pub use branches::BranchesArgs;
pub use check::{CHECK_AHEAD, CHECK_BEHIND, CHECK_DIVERGED, CHECK_REFUSED, CheckArgs};
pub use current::CurrentArgs;
pub use database::{Confirm, DatabaseAction, DatabaseArgs};
pub use downgrade::DowngradeArgs;
pub use fleet::{
    FLEET_INCOMPLETE, FleetArgs, FleetCommand, FleetOptions, JOB_COMPLETION_INDEX, TargetSource,
};
pub use graph::GraphArgs;
pub use heads::HeadsArgs;
pub use history::HistoryArgs;
pub use import::ImportArgs;
pub use lint::{LINT_FAILED, LintArgs, LintFormat};
pub use merge::MergeArgs;
pub use revision::RevisionArgs;
pub use show::ShowArgs;
#[cfg(feature = "autogen")]
pub use squash::SquashArgs;
pub use stamp::StampArgs;
pub use status::StatusArgs;
#[cfg(feature = "autogen")]
pub use test_roundtrip::TestRoundtripArgs;
pub use upgrade::{DialectArg, UpgradeArgs};

use super::CliError;
use super::context::Context;

/// The commands of every migration CLI, as in Alembic.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Show the heads: `<id> (head)`.
    Heads(HeadsArgs),
    /// Show the branch points and their branches.
    Branches(BranchesArgs),
    /// List the revisions, newest first.
    History(HistoryArgs),
    /// Show one revision, with its SQL (`head`, `heads`, an id, a prefix or a label).
    Show(ShowArgs),
    /// Check the revision graph (one head, every rule); with --database-url, also the
    /// database's state, as every command that changes it checks it. Exit codes: 0 up to
    /// date, 3 revisions pending, 4 refused (edited, deleted or renamed applied revisions, a
    /// dirty mark, damaged tables: the message names every one), 5 the database is ahead of
    /// this binary, 6 ahead and behind, 1 any other error.
    Check(CheckArgs),
    #[cfg(feature = "autogen")]
    /// Check on a scratch database of the --database-url server that every downgrade undoes
    /// its upgrade (irreversible revisions are stepped over).
    TestRoundtrip(TestRoundtripArgs),
    /// Upgrade the database to a target (default `head`).
    Upgrade(UpgradeArgs),
    /// Downgrade the database to a target.
    Downgrade(DowngradeArgs),
    /// Show the database's current revisions.
    Current(CurrentArgs),
    /// Record targets as applied without running SQL (repairs, adopting a database).
    Stamp(StampArgs),
    /// One line per revision, in order: applied, pending, edited, missing, dirty or
    /// unknown, when it was applied and how long it took. Exit codes as `check`'s: 0 up to
    /// date, 3 pending, 4 refused, 5 ahead, 6 ahead and behind.
    Status(StatusArgs),
    /// Take over a database that another tool migrated (`--from sqlx`, `flyway`, …): record
    /// what its history table says it applied, after checking it against the revisions
    /// (imported with `revchain import`), without running SQL; its table is left as it was.
    Adopt(AdoptArgs),
    /// Create, drop or reset (drop, create, upgrade to head) the database --database-url
    /// names; `drop` and `reset` ask first on a terminal (`-y` does not ask).
    Database(DatabaseArgs),
    /// Run `upgrade`, `downgrade`, `status` or `check` on a fleet of databases or schemas
    /// (--targets-file, --targets-query, --schemas) with --jobs at once, a --canary wave,
    /// --max-failures and --shard I/N. Exit code 8 when a target is not at the goal.
    Fleet(Box<FleetArgs>),
    /// Print the revision graph as Graphviz DOT (default) or Mermaid: heads, branch and
    /// merge points, labels, `Depends On` edges (dashed); with --database-url, the current
    /// revisions highlighted.
    Graph(GraphArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish); revision ids
    /// and labels complete too.
    Completions(crate::cli::complete::CompletionsArgs),
    /// Print the man page (roff): `… man | man -l -`.
    Man,
}

impl Command {
    /// Runs the command; the text is what it prints.
    pub(crate) async fn exec(&self, ctx: &Context<'_>) -> Result<String, CliError> {
        match self {
            Command::Adopt(_) => ctx.text_only("`adopt`")?,
            Command::Database(_) => ctx.text_only("`database`")?,
            Command::Fleet(_) => ctx.fleet_formats()?,
            Command::Graph(_) => ctx.graph_formats()?,
            Command::Completions(_) => ctx.text_only("`completions`")?,
            Command::Man => ctx.text_only("`man`")?,
            #[cfg(feature = "autogen")]
            Command::TestRoundtrip(_) => ctx.text_only("`test-roundtrip`")?,
            _ => ctx.no_github()?,
        }
        match self {
            Command::Heads(args) => heads::exec(ctx, args),
            Command::Branches(args) => branches::exec(ctx, args),
            Command::History(args) => history::exec(ctx, args).await,
            Command::Show(args) => show::exec(ctx, args),
            Command::Check(args) => check::exec(ctx, args).await,
            #[cfg(feature = "autogen")]
            Command::TestRoundtrip(args) => test_roundtrip::exec(ctx, args).await,
            Command::Upgrade(args) => upgrade::exec(ctx, args).await,
            Command::Downgrade(args) => downgrade::exec(ctx, args).await,
            Command::Current(args) => current::exec(ctx, args).await,
            Command::Stamp(args) => stamp::exec(ctx, args).await,
            Command::Adopt(args) => adopt::exec(ctx, args).await,
            Command::Status(args) => status::exec(ctx, args).await,
            Command::Database(args) => database::exec(ctx, args).await,
            Command::Fleet(args) => fleet::exec(ctx, args).await,
            Command::Graph(args) => graph::exec(ctx, args).await,
            Command::Completions(args) => crate::cli::complete::completions(ctx, args),
            Command::Man => crate::cli::complete::man(ctx),
        }
    }
}

/// The commands of the `revchain` tool: the ones that write revision files in the
/// migrations directory, then every [`Command`].
#[derive(Debug, Clone, Subcommand)]
pub enum ToolCommand {
    /// Create an empty migrations directory.
    Init,
    /// Create a new revision file on top of the head.
    Revision(RevisionArgs),
    /// Create a revision that merges several heads (`heads` merges them all).
    Merge(MergeArgs),
    /// Convert another tool's migrations (sqlx, diesel, refinery, dbmate, golang-migrate,
    /// goose, flyway, alembic) into revision files in a new --dir; nothing is written
    /// unless every migration converts.
    Import(ImportArgs),
    /// Lint the revisions' SQL for statements that lock or rewrite busy tables or break the
    /// running release (rules and suppression in docs/lint.md). Exit code 7 when a finding
    /// is an error (or a warning, with --deny-warnings).
    Lint(LintArgs),
    /// Write one baseline revision for a range of revisions: the schema at its END, read
    /// from a scratch database of the --database-url server (`Replaces:` names the range).
    #[cfg(feature = "autogen")]
    Squash(SquashArgs),
    /// A command every CLI has.
    #[command(flatten)]
    Run(Command),
}

impl ToolCommand {
    /// Runs the command on the migrations directory `dir`.
    pub(crate) async fn exec(&self, ctx: &Context<'_>, dir: &Path) -> Result<String, CliError> {
        if !matches!(self, ToolCommand::Lint(_) | ToolCommand::Run(_)) {
            ctx.text_only("a command that writes revision files")?;
        }
        match self {
            ToolCommand::Init => init::exec(dir),
            ToolCommand::Revision(args) => revision::exec(ctx, dir, args).await,
            ToolCommand::Merge(args) => merge::exec(ctx, dir, args),
            ToolCommand::Import(args) => import::exec(dir, args),
            ToolCommand::Lint(args) => lint::exec(ctx, args).await,
            #[cfg(feature = "autogen")]
            ToolCommand::Squash(args) => squash::exec(ctx, dir, args).await,
            ToolCommand::Run(command) => command.exec(ctx).await,
        }
    }
}

/// The commands of the CLI embedded in an application: every [`Command`]. The names of the
/// tool's file commands are known (and hidden) only to say that they need the source tree.
#[derive(Debug, Clone, Subcommand)]
pub enum AppCommand {
    /// A command every CLI has.
    #[command(flatten)]
    Run(Command),
    /// `init`, which only the `revchain` tool has.
    #[command(hide = true, disable_help_flag = true)]
    Init(ToolOnly),
    /// `revision`, which only the `revchain` tool has.
    #[command(hide = true, disable_help_flag = true)]
    Revision(ToolOnly),
    /// `merge`, which only the `revchain` tool has.
    #[command(hide = true, disable_help_flag = true)]
    Merge(ToolOnly),
    /// `import`, which only the `revchain` tool has.
    #[command(hide = true, disable_help_flag = true)]
    Import(ToolOnly),
}

/// Whatever follows a command that only the `revchain` tool has.
#[derive(Debug, Clone, clap::Args)]
pub struct ToolOnly {
    #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

impl AppCommand {
    /// Runs the command on the embedded table.
    pub(crate) async fn exec(&self, ctx: &Context<'_>) -> Result<String, CliError> {
        let tool_only = match self {
            AppCommand::Run(command) => return command.exec(ctx).await,
            AppCommand::Init(_) => "init",
            AppCommand::Revision(_) => "revision",
            AppCommand::Merge(_) => "merge",
            AppCommand::Import(_) => "import",
        };
        Err(CliError::user(format!(
            "`{tool_only}` writes revision files, so it needs the source tree: run it in your \
             repository with the `revchain` tool (`cargo install revchain`, then `revchain \
             {tool_only} …`); this binary only carries the compiled migrations"
        )))
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::{Args, ToolArgs};

    #[derive(Parser)]
    struct App {
        #[command(flatten)]
        args: Args,
    }

    #[derive(Parser)]
    struct Tool {
        #[command(flatten)]
        args: ToolArgs,
    }

    #[test]
    fn the_embedded_cli_names_the_file_commands_only_to_refuse_them() {
        for (words, tool_only) in [
            (&["app", "revision", "-m", "x", "--autogenerate"][..], true),
            (&["app", "merge", "--help"], true),
            (&["app", "init"], true),
            (&["app", "import", "--from", "sqlx", "migrations"], true),
            (&["app", "upgrade", "+1"], false),
            (&["app", "adopt", "--from", "sqlx"], false),
        ] {
            let parsed = App::try_parse_from(words).unwrap().args.command;
            assert_eq!(
                !matches!(parsed, AppCommand::Run(_)),
                tool_only,
                "{words:?}"
            );
        }
        let help = App::command().render_help().to_string();
        assert!(help.contains("upgrade"), "{help}");
        for tool_only in ["init", "revision", "merge", "import"] {
            assert!(!help.contains(&format!("  {tool_only} ")), "{help}");
        }
    }

    #[test]
    fn the_tool_has_every_command() {
        let parsed = Tool::try_parse_from(["revchain", "revision", "-m", "x"]).unwrap();
        assert!(matches!(
            parsed.args.command,
            ToolCommand::Revision(RevisionArgs { ref message, .. }) if message == "x"
        ));
        let parsed = Tool::try_parse_from(["revchain", "history", "-r", "-1:"]).unwrap();
        assert!(matches!(
            parsed.args.command,
            ToolCommand::Run(Command::History(HistoryArgs { ref rev_range, .. }))
                if rev_range.as_deref() == Some("-1:")
        ));
        let parsed = Tool::try_parse_from(["revchain", "adopt", "--from", "flyway"]).unwrap();
        assert!(matches!(
            parsed.args.command,
            ToolCommand::Run(Command::Adopt(AdoptArgs { from, dry_run: false }))
                if from == revchain_core::import::Tool::Flyway
        ));
        let parsed =
            Tool::try_parse_from(["revchain", "import", "--from", "goose", "db/migrations"])
                .unwrap();
        assert!(matches!(
            parsed.args.command,
            ToolCommand::Import(ImportArgs { from: revchain_core::import::Tool::Goose, ref alembic_cmd, .. })
                if alembic_cmd == "alembic"
        ));
        assert!(Tool::try_parse_from(["revchain", "import", "--from", "liquibase", "m"]).is_err());
        assert!(Tool::try_parse_from(["revchain", "frobnicate"]).is_err());
    }
}
