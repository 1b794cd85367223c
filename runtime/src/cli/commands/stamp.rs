//! `stamp`: records targets as applied without running SQL.

use revchain_core::Mode;

use crate::cli::context::Context;
use crate::cli::{CliError, db};

/// The arguments of `stamp`.
#[derive(Debug, Clone, clap::Args)]
pub struct StampArgs {
    /// The revisions to record (`head`, `heads`, ids, `base`, …).
    #[arg(required = true, allow_negative_numbers = true)]
    pub targets: Vec<String>,
    /// Empty the version and log tables first (unknown or dirty states).
    #[arg(long)]
    pub purge: bool,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &StampArgs) -> Result<String, CliError> {
    let url = ctx.url("stamp")?;
    let m = ctx.load(Mode::Strict)?;
    let db = db::connect(url, true).await?;
    let refs: Vec<&str> = args.targets.iter().map(String::as_str).collect();
    let mig = ctx.migrator(&m);
    let result = db.stamp(&mig, &refs, args.purge).await;
    super::upgrade::report(ctx, &db, &mig, "stamp", result).await
}
