//! `downgrade`: reverts revisions down to a target, or with `--sql` prints the script.

use revchain_core::Direction;

use super::upgrade::{DialectArg, migrate};
use crate::cli::CliError;
use crate::cli::context::Context;

/// The arguments of `downgrade`.
#[derive(Debug, Clone, clap::Args)]
pub struct DowngradeArgs {
    /// `base`, an id or prefix, `-N`, `<id>-N`, `label@-N`, `label@base`; with --sql, `START:END`.
    #[arg(allow_negative_numbers = true)]
    pub target: String,
    /// Print the SQL script instead of running it (offline mode).
    #[arg(long)]
    pub sql: bool,
    /// The dialect of --sql (default: from --database-url, else postgres).
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &DowngradeArgs) -> Result<String, CliError> {
    migrate(
        ctx,
        Direction::Downgrade,
        &args.target,
        args.sql,
        args.dialect,
    )
    .await
}
