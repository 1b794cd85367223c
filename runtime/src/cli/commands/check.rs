//! `check`: the revision graph, and with a database its state (or, with `--schema`,
//! whether the migrations produce the schema file).

use std::fmt::Write as _;
use std::path::Path;

use revchain_core::{History, Mode};

#[cfg(feature = "autogen")]
use crate::cli::autogen;
use crate::cli::context::{Context, Source};
use crate::cli::{CliError, db};
use crate::embedded::Migrations;
use crate::report::{DatabaseState, Status};

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

/// The arguments of `check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Instead of checking the database: fail when the migrations at head do not
    /// produce this schema file (default: schema.sql next to the migrations directory),
    /// compared on scratch databases of the --database-url server.
    #[cfg(feature = "autogen")]
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub schema: Option<Option<std::path::PathBuf>>,
    /// Also run `revchain lint` on every revision (dialect from --database-url, else
    /// postgres); an error finding fails the check with `lint`'s exit code 7.
    #[arg(long)]
    pub lint: bool,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &CheckArgs) -> Result<String, CliError> {
    #[cfg(feature = "autogen")]
    if let Some(schema) = &args.schema {
        let mut out = check(ctx, false, args.lint).await?;
        out.push_str(&autogen::check_schema(ctx, schema.as_deref()).await?);
        return Ok(out);
    }
    check(ctx, true, args.lint).await
}

/// The graph, with `lint` the lint's findings, and with a database (when `database`), its
/// state.
async fn check(ctx: &Context<'_>, database: bool, lint: bool) -> Result<String, CliError> {
    if let Source::Dir(dir) = ctx.source {
        check_directory(dir)?;
    }
    let m = ctx.load(Mode::Strict)?;
    let heads: Vec<&str> = m.heads().map(|h| h.id()).collect();
    let repeatables = match m.repeatables().len() {
        0 => String::new(),
        n => format!(" and {n} repeatable revision(s)"),
    };
    let mut out = format!(
        "{}: {} revision(s){repeatables}, head {}: the revision graph is valid.\n",
        m.dir(),
        m.len(),
        if heads.is_empty() {
            "<base>".to_owned()
        } else {
            heads.join(", ")
        }
    );
    if lint {
        let findings = super::lint::findings(ctx, None, None)?;
        out.push_str(&super::lint::render(
            &findings,
            super::lint::LintFormat::Text,
        ));
        out = super::lint::verdict(&findings, false, out)?;
        let _ = writeln!(
            out,
            "The lint found {} warning(s) and no error.",
            findings.len()
        );
    }
    if let Some(url) = ctx.database_url.filter(|_| database) {
        let db = db::connect(url, false).await?;
        let status = db
            .status(&ctx.migrator(&m))
            .await
            .map_err(CliError::runtime);
        db.close().await;
        out.push_str(&database_verdict(&m, &status?)?);
    }
    Ok(out)
}

/// Every problem of a directory at once: the strict reading's, and the one-head rule on
/// the graph (which a draft revision with an empty upgrade does not hide).
fn check_directory(dir: &Path) -> Result<(), CliError> {
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
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::user(problems.join("\n")))
    }
}

/// A warning line naming the repeatable revisions the database records that this binary
/// does not ship (empty when there is none).
fn unshipped_repeatables(status: &Status) -> String {
    if status.repeatables_unknown.is_empty() {
        return String::new();
    }
    format!(
        "warning: the database records repeatable revision(s) that {} does not ship, left as \
         they are: {}\n",
        "this binary",
        status.repeatables_unknown.join(", ")
    )
}

/// What `check` says about the database's state (the state check that every command that
/// changes the database runs): the line to print when it is up to date, otherwise an error
/// whose exit code tells why (see [`CHECK_BEHIND`] and the following).
fn database_verdict(m: &Migrations, status: &Status) -> Result<String, CliError> {
    let fail = |code: u8, message: String| Err(CliError { message, code });
    let pending = || {
        let ids: Vec<String> = status
            .pending
            .iter()
            .map(|id| match m.get(id) {
                Ok(rev) => format!("{id}{}", crate::cli::output::kind_mark(rev)),
                Err(_) => id.clone(),
            })
            .collect();
        let mut parts = Vec::new();
        if !status.pending.is_empty() {
            parts.push(format!(
                "{} revision(s) not applied: {}",
                status.pending.len(),
                ids.join(", ")
            ));
        }
        if !status.repeatables_pending.is_empty() {
            parts.push(format!(
                "{} repeatable revision(s) new or changed: {}",
                status.repeatables_pending.len(),
                status.repeatables_pending.join(", ")
            ));
        }
        format!("{} (run `upgrade heads`)", parts.join("; "))
    };
    let ahead = || {
        format!(
            "the database has revision(s) this binary does not know, recorded as applied by a \
             newer release: {} (deploy the newer release; a rolling deploy may serve with \
             `allow_database_ahead`)",
            status.ahead.join(", ")
        )
    };
    let dir = m.dir();
    match status.state() {
        DatabaseState::UpToDate => Ok(format!(
            "The database is up to date ({} revision(s){} applied).\n{}",
            status.applied.len(),
            match status.repeatables_applied.len() {
                0 => String::new(),
                n => format!(" and {n} repeatable revision(s)"),
            },
            unshipped_repeatables(status)
        )),
        DatabaseState::Behind => fail(
            CHECK_BEHIND,
            format!("the database is not up to date with {dir}: {}", pending()),
        ),
        DatabaseState::Ahead => fail(
            CHECK_AHEAD,
            format!("the database is ahead of {dir}: {}", ahead()),
        ),
        DatabaseState::Diverged => fail(
            CHECK_DIVERGED,
            format!(
                "the database has diverged from {dir}: {}; and {}",
                ahead(),
                pending()
            ),
        ),
        _ => fail(
            CHECK_REFUSED,
            format!(
                "every command that changes the database refuses it: {}",
                status
                    .refusal
                    .as_deref()
                    .unwrap_or("its state is not consistent")
            ),
        ),
    }
}
