//! `branches`: the branch points and their branches.

use std::collections::HashSet;

use revchain_core::Mode;

use crate::cli::context::Context;
use crate::cli::{CliError, json, output};
use crate::embedded::Migrations;

/// The arguments of `branches`.
#[derive(Debug, Clone, clap::Args)]
pub struct BranchesArgs {
    /// Show each revision in full.
    #[arg(short, long)]
    pub verbose: bool,
}

pub(super) fn exec(ctx: &Context<'_>, args: &BranchesArgs) -> Result<String, CliError> {
    let m = ctx.load(Mode::Drafts)?;
    if ctx.json() {
        return Ok(json::document("branches", branch_points(&m)));
    }
    Ok(output::branches(&m, args.verbose))
}

/// The branch points, newest first as the text lists them, with their children.
fn branch_points(m: &Migrations) -> json::Branches<'_> {
    let g = m.graph();
    let none = HashSet::new();
    let of = |i: usize| json::RevisionJson::of(m, i, &none);
    json::Branches {
        branch_points: (0..g.len())
            .rev()
            .filter(|&i| g.is_branch_point(i))
            .filter_map(|i| {
                Some(json::BranchPoint {
                    revision: of(i)?,
                    children: g.children(i).iter().filter_map(|&c| of(c)).collect(),
                })
            })
            .collect(),
    }
}
