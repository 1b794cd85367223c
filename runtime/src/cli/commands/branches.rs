//! `branches`: the branch points and their branches.

use revchain_core::Mode;

use crate::cli::context::Context;
use crate::cli::{CliError, output};

/// The arguments of `branches`.
#[derive(Debug, Clone, clap::Args)]
pub struct BranchesArgs {
    /// Show each revision in full.
    #[arg(short, long)]
    pub verbose: bool,
}

pub(super) fn exec(ctx: &Context<'_>, args: &BranchesArgs) -> Result<String, CliError> {
    let m = ctx.load(Mode::Drafts)?;
    Ok(output::branches(&m, args.verbose))
}
