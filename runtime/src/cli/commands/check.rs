//! `check`: the revision graph, and with a database its state (or, with `--schema`,
//! whether the migrations produce the schema file).

use std::fmt::Write as _;
use std::path::Path;

use revchain_core::{History, Mode};

#[cfg(feature = "autogen")]
use crate::cli::autogen;
use crate::cli::context::{Context, Source};
use crate::cli::{CliError, db, json};
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
    if args.lint {
        ctx.text_only("`check --lint`")?;
    }
    #[cfg(feature = "autogen")]
    if let Some(schema) = &args.schema {
        ctx.text_only("`check --schema`")?;
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
    if ctx.json() {
        return check_json(ctx, &m, database).await;
    }
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

/// `check --format json`: the graph, and with a database its state; the exit code is the
/// text's.
async fn check_json(ctx: &Context<'_>, m: &Migrations, database: bool) -> Result<String, CliError> {
    let status = match ctx.database_url.filter(|_| database) {
        Some(url) => {
            let db = db::connect(url, false).await?;
            let status = db.status(&ctx.migrator(m)).await;
            db.close().await;
            Some(status.map_err(CliError::runtime)?)
        }
        None => None,
    };
    let doc = json::document(
        "check",
        json::Check {
            directory: m.dir(),
            revisions: m.len(),
            repeatables: m.repeatables().len(),
            heads: m.heads().map(|h| h.id()).collect(),
            database: status.as_ref().map(json::DatabaseJson::from),
        },
    );
    match status.as_ref().map(|s| database_verdict(m, s)) {
        Some(Err(e)) => Err(e.after(doc)),
        _ => Ok(doc),
    }
}

/// The exit code of `check` and `status` for a database in `state`: 0 up to date, then
/// [`CHECK_BEHIND`], [`CHECK_AHEAD`], [`CHECK_DIVERGED`], [`CHECK_REFUSED`].
pub(super) fn exit_code(state: DatabaseState) -> u8 {
    match state {
        DatabaseState::UpToDate => 0,
        DatabaseState::Behind => CHECK_BEHIND,
        DatabaseState::Ahead => CHECK_AHEAD,
        DatabaseState::Diverged => CHECK_DIVERGED,
        _ => CHECK_REFUSED,
    }
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
        Err(CliError::user(problems.join("\n")).kind("revisions"))
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
pub(super) fn database_verdict(m: &Migrations, status: &Status) -> Result<String, CliError> {
    let code = exit_code(status.state());
    let fail = |message: String| {
        Err(CliError::new(
            code,
            crate::cli::json::state_name(status),
            message,
        ))
    };
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
        DatabaseState::Behind => fail(format!(
            "the database is not up to date with {dir}: {}",
            pending()
        )),
        DatabaseState::Ahead => fail(format!("the database is ahead of {dir}: {}", ahead())),
        DatabaseState::Diverged => fail(format!(
            "the database has diverged from {dir}: {}; and {}",
            ahead(),
            pending()
        )),
        _ => fail(format!(
            "every command that changes the database refuses it: {}",
            status
                .refusal
                .as_deref()
                .unwrap_or("its state is not consistent")
        )),
    }
}
