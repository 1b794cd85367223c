//! `adopt`: takes over a database that another tool migrated.

use revchain_core::Mode;
use revchain_core::import::Tool;

use crate::cli::context::Context;
use crate::cli::{CliError, db};

/// The arguments of `adopt`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdoptArgs {
    /// The tool that migrated the database: sqlx, diesel, refinery, dbmate, golang-migrate,
    /// goose, flyway or alembic.
    #[arg(long = "from", value_name = "TOOL")]
    pub from: Tool,
    /// Print what would be recorded; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &AdoptArgs) -> Result<String, CliError> {
    let url = ctx.url("adopt")?;
    let m = ctx.load(Mode::Strict)?;
    let db = db::connect(url, false).await?;
    let result = db
        .take_over(&ctx.migrator(&m), args.from, args.dry_run)
        .await;
    db.close().await;
    let report = result.map_err(CliError::runtime)?;
    let tool = args.from;
    let mut out = if report.stamped.is_empty() {
        format!("{tool} applied nothing: there is nothing to record\n")
    } else if args.dry_run {
        format!(
            "would record {} revision(s) that {tool} applied, at {} (dry run: nothing was \
             written):\n",
            report.stamped.len(),
            report.heads_after.join(", ")
        )
    } else {
        format!(
            "recorded {} revision(s) that {tool} applied, at {}; {} is left as it was:\n",
            report.stamped.len(),
            report.heads_after.join(", "),
            args.from.history_table()
        )
    };
    for id in &report.stamped {
        out.push_str(&format!("  {id}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AdoptArgs,
    }

    #[test]
    fn from_takes_a_tool_name() {
        let cli = Cli::try_parse_from(["adopt", "--from", "golang-migrate", "--dry-run"]).unwrap();
        assert_eq!(cli.args.from, Tool::GolangMigrate);
        assert!(cli.args.dry_run);
        let err = Cli::try_parse_from(["adopt", "--from", "rails"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a tool"), "{err}");
    }
}
