//! `database create|drop|reset`: the database --database-url names, as a whole (as
//! sqlx-cli's `database` commands).

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clap::Subcommand;
use revchain_core::Direction;

use crate::cli::context::Context;
use crate::cli::database::Database;
use crate::cli::{CliError, USAGE};

/// The arguments of `database`.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: DatabaseAction,
}

/// What `database` does.
#[derive(Debug, Clone, Subcommand)]
pub enum DatabaseAction {
    /// Create the database --database-url names (SQLite: the file); nothing to do when it
    /// exists.
    Create,
    /// Drop the database (SQLite: delete the file), after asking on a terminal.
    Drop(Confirm),
    /// Drop the database, create it again and upgrade it to head.
    Reset(Confirm),
}

/// The confirmation of a command that deletes a database.
#[derive(Debug, Clone, clap::Args)]
pub struct Confirm {
    /// Do not ask: drop it (needed when stdin is not a terminal).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &DatabaseArgs) -> Result<String, CliError> {
    let (command, confirm) = match &args.action {
        DatabaseAction::Create => ("database create", None),
        DatabaseAction::Drop(c) => ("database drop", Some(c)),
        DatabaseAction::Reset(c) => ("database reset", Some(c)),
    };
    let url = ctx.url(command)?;
    let db = Database::of(url)?;
    let mut out = String::new();
    if let Some(confirm) = confirm {
        confirmed(&db, confirm.yes)?;
        let done = if db.drop().await? {
            "Dropped"
        } else {
            "Nothing to drop: there is no"
        };
        out.push_str(&format!("{done} {}.\n", db.describe()));
        if matches!(args.action, DatabaseAction::Drop(_)) {
            return Ok(out);
        }
    }
    out.push_str(&create(url).await?);
    if matches!(args.action, DatabaseAction::Reset(_)) {
        out.push_str(&super::upgrade::migrate(ctx, Direction::Upgrade, "head", false, None).await?);
    }
    Ok(out)
}

/// Creates the database `url` names unless it exists; the line that says which.
pub(super) async fn create(url: &str) -> Result<String, CliError> {
    let db = Database::of(url)?;
    Ok(if db.create().await? {
        format!("Created {}.\n", db.describe())
    } else {
        format!("{} exists already.\n", capitalized(&db.describe()))
    })
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Whether dropping `db` was confirmed: by `-y`, or by answering `y` on a terminal. Without
/// a terminal and without `-y`, the command is refused (exit code 2): a script must say
/// it means it.
fn confirmed(db: &Database, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            USAGE,
            "usage",
            format!(
                "this drops {}, and stdin is not a terminal to ask on: pass -y (--yes) to \
                 drop it; nothing was dropped",
                db.describe()
            ),
        ));
    }
    eprint!("Drop {}? Everything in it is lost. [y/N] ", db.describe());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(CliError::user("not confirmed; nothing was dropped"))
    }
}
