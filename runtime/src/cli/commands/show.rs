//! `show`: the revisions a target names, with their SQL.

use std::collections::HashSet;

use revchain_core::{Mode, Target};

use crate::cli::context::Context;
use crate::cli::{CliError, json, output};
use crate::embedded::Migrations;

/// The arguments of `show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// The revision.
    pub revision: String,
}

pub(super) fn exec(ctx: &Context<'_>, args: &ShowArgs) -> Result<String, CliError> {
    let m = ctx.load(Mode::Drafts)?;
    let target: Target = args
        .revision
        .parse()
        .map_err(|e| CliError::from_display(e).kind("target"))?;
    let found = m
        .graph()
        .target_set(&target)
        .map_err(|e| CliError::from_display(e).kind("target"))?;
    if ctx.json() {
        let revisions = found.into_iter().filter_map(|i| shown(&m, i));
        return Ok(json::document(
            "show",
            json::Show {
                revisions: revisions.collect(),
            },
        ));
    }
    Ok(found
        .into_iter()
        .map(|i| output::show(&m, i))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Revision `i` with its SQL.
fn shown(m: &Migrations, i: usize) -> Option<json::Shown<'_>> {
    let rev = m.at(i)?;
    Some(json::Shown {
        revision: json::RevisionJson::of(m, i, &HashSet::new())?,
        checksum: rev.checksum().to_string(),
        upgrade_sql: rev.upgrade_sql(),
        downgrade_sql: rev.downgrade_sql(),
    })
}
