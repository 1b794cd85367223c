//! `show`: the revisions a target names, with their SQL.

use revchain_core::{Mode, Target};

use crate::cli::context::Context;
use crate::cli::{CliError, output};

/// The arguments of `show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// The revision.
    pub revision: String,
}

pub(super) fn exec(ctx: &Context<'_>, args: &ShowArgs) -> Result<String, CliError> {
    let m = ctx.load(Mode::Drafts)?;
    let target: Target = args.revision.parse().map_err(CliError::from_display)?;
    let found = m
        .graph()
        .target_set(&target)
        .map_err(CliError::from_display)?;
    Ok(found
        .into_iter()
        .map(|i| output::show(&m, i))
        .collect::<Vec<_>>()
        .join("\n"))
}
