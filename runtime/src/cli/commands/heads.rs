//! `heads`: the graph's heads.

use std::collections::HashSet;

use revchain_core::Mode;

use crate::cli::context::Context;
use crate::cli::{CliError, json, output};

/// The arguments of `heads`.
#[derive(Debug, Clone, clap::Args)]
pub struct HeadsArgs {
    /// Show each head in full.
    #[arg(short, long)]
    pub verbose: bool,
}

pub(super) fn exec(ctx: &Context<'_>, args: &HeadsArgs) -> Result<String, CliError> {
    let m = ctx.load(Mode::Drafts)?;
    let none = HashSet::new();
    if ctx.json() {
        let heads = m.graph().heads().iter();
        let heads = heads.filter_map(|&h| json::RevisionJson::of(&m, h, &none));
        return Ok(json::document(
            "heads",
            json::Heads {
                heads: heads.collect(),
            },
        ));
    }
    Ok(m.graph()
        .heads()
        .iter()
        .map(|&h| {
            if args.verbose {
                output::log_entry(&m, h, &none)
            } else {
                output::head_line(&m, h) + "\n"
            }
        })
        .collect())
}
