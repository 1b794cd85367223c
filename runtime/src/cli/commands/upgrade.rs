//! `upgrade`: applies revisions up to a target, or with `--sql` prints the script that
//! would (the offline path, which `downgrade --sql` shares).

use clap::ValueEnum;
use revchain_core::{Dialect, Direction, Mode, Phase, Range};

use crate::cli::context::Context;
use crate::cli::{CliError, db, json};
use crate::embedded::Migrations;
use crate::migrator::Migrator;
use crate::pool::AnyPool;
use crate::report::Report;
use crate::url::DatabaseKind;

/// The arguments of `upgrade`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpgradeArgs {
    /// `head`, `heads`, an id or prefix, `label@head`, `+N`, `<id>+N`, `label@+N`; with --sql,
    /// `START:END`.
    #[arg(default_value = "head", allow_negative_numbers = true)]
    pub target: String,
    /// Print the SQL script instead of running it (offline mode).
    #[arg(long)]
    pub sql: bool,
    /// The dialect of --sql (default: from --database-url, else postgres).
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,
    /// Apply one phase (docs/design.md §4.14): `expand` applies the revisions that are not
    /// `Phase: contract` and have no contract ancestor; `contract` applies the rest.
    #[arg(long, value_enum)]
    pub phase: Option<PhaseArg>,
    /// Create the database first when it does not exist (on the PostgreSQL or MySQL/MariaDB
    /// server --database-url names; SQLite: the file), so that a fresh environment needs
    /// one command.
    #[arg(long, conflicts_with = "sql")]
    pub create_if_missing: bool,
}

/// The phase of `upgrade --phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    /// What the previous release still runs against: adds, backfills.
    Expand,
    /// The rest, once no binary of the previous release runs: drops, renames.
    Contract,
}

impl From<PhaseArg> for Phase {
    fn from(p: PhaseArg) -> Phase {
        match p {
            PhaseArg::Expand => Phase::Expand,
            PhaseArg::Contract => Phase::Contract,
        }
    }
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

pub(super) async fn exec(ctx: &Context<'_>, args: &UpgradeArgs) -> Result<String, CliError> {
    if args.create_if_missing {
        let created = super::database::create(ctx.url("upgrade --create-if-missing")?).await?;
        crate::report::announce(None, created.trim_end());
    }
    if let Some(phase) = args.phase {
        return upgrade_phase(ctx, args, phase.into()).await;
    }
    migrate(
        ctx,
        Direction::Upgrade,
        &args.target,
        args.sql,
        args.dialect,
    )
    .await
}

/// `upgrade` or `downgrade`: on the database, or with `sql`, as a script.
pub(super) async fn migrate(
    ctx: &Context<'_>,
    direction: Direction,
    target: &str,
    sql: bool,
    dialect: Option<DialectArg>,
) -> Result<String, CliError> {
    if sql {
        ctx.text_only("`--sql` (a script)")?;
        let m = ctx.load(Mode::Strict)?;
        return offline(ctx, &m, direction, target, dialect);
    }
    let url = ctx.url(&direction.to_string())?;
    let m = ctx.load(Mode::Strict)?;
    let db = db::connect(url, direction == Direction::Upgrade).await?;
    let mig = ctx.migrator(&m);
    let result = match direction {
        Direction::Upgrade => db.upgrade(&mig, target).await,
        Direction::Downgrade => db.downgrade(&mig, target).await,
    };
    report(ctx, &db, &mig, &direction.to_string(), result).await
}

/// What a run printed: nothing in text (its log lines said it), in JSON the report and
/// the database's state at the end. Closes `db`.
pub(super) async fn report(
    ctx: &Context<'_>,
    db: &AnyPool,
    mig: &Migrator<'_>,
    command: &str,
    result: Result<Report, crate::Error>,
) -> Result<String, CliError> {
    let report = match result {
        Ok(report) if ctx.json() => report,
        other => {
            db.close().await;
            return other.map(|_| String::new()).map_err(CliError::runtime);
        }
    };
    let status = db.status(mig).await;
    db.close().await;
    let status = status.map_err(CliError::runtime)?;
    let body = json::Run {
        applied: json::Applied::from(&report),
        database: json::DatabaseJson::from(&status),
    };
    Ok(json::document(command, body))
}

/// `upgrade TARGET --phase expand|contract`: the phase's part of the plan to `TARGET`.
async fn upgrade_phase(
    ctx: &Context<'_>,
    args: &UpgradeArgs,
    phase: Phase,
) -> Result<String, CliError> {
    if args.sql {
        return Err(CliError::user(
            "--phase applies revisions to the database and does not combine with --sql; for a \
             script of one phase, give --sql the range of that phase's revisions (START:END)",
        ));
    }
    let url = ctx.url("upgrade")?;
    let m = ctx.load(Mode::Strict)?;
    let db = db::connect(url, true).await?;
    let mig = ctx.migrator(&m).phase(phase);
    let result = db.upgrade(&mig, &args.target).await;
    report(ctx, &db, &mig, "upgrade", result).await
}

/// `upgrade START:END --sql` / `downgrade START:END --sql`.
fn offline(
    ctx: &Context<'_>,
    m: &Migrations,
    direction: Direction,
    target: &str,
    dialect: Option<DialectArg>,
) -> Result<String, CliError> {
    let dialect = dialect_of(ctx, dialect);
    let range = Range::parse_script(target, direction).map_err(CliError::from_display)?;
    let plan = m
        .graph()
        .plan_range(&range, direction)
        .map_err(CliError::from_display)?;
    Ok(crate::offline::script(
        m,
        &ctx.tables,
        dialect,
        &plan,
        plan.heads_before.is_empty(),
    ))
}

/// The dialect `--dialect` names, else the one of --database-url, else PostgreSQL.
pub(super) fn dialect_of(ctx: &Context<'_>, dialect: Option<DialectArg>) -> Dialect {
    match dialect {
        Some(DialectArg::Postgres) => Dialect::Postgres,
        Some(DialectArg::Mysql) => Dialect::MySql,
        Some(DialectArg::Sqlite) => Dialect::Sqlite,
        None => match ctx.database_url.and_then(DatabaseKind::of) {
            Some(DatabaseKind::MySql) => Dialect::MySql,
            Some(DatabaseKind::Sqlite) => Dialect::Sqlite,
            _ => Dialect::Postgres,
        },
    }
}
