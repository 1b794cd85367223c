//! `history`: the revisions, newest first, optionally of a range `START:END`.

use std::collections::HashSet;

use revchain_core::{Mode, Range};

use crate::cli::context::Context;
use crate::cli::{CliError, db, json, output};
use crate::embedded::Migrations;

/// The arguments of `history`.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// A range `START:END` (ids, prefixes, labels, `base`, `heads`, `current`).
    #[arg(
        short = 'r',
        long = "rev-range",
        value_name = "START:END",
        allow_hyphen_values = true
    )]
    pub rev_range: Option<String>,
    /// Show each revision in full.
    #[arg(short, long)]
    pub verbose: bool,
    /// Mark the database's current revisions (needs --database-url).
    #[arg(short = 'i', long)]
    pub indicate_current: bool,
    /// Draw the graph beside the revisions, as `git log --graph` does.
    #[arg(long, conflicts_with = "verbose")]
    pub graph: bool,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &HistoryArgs) -> Result<String, CliError> {
    let m = ctx.load(Mode::Drafts)?;
    let range = args
        .rev_range
        .as_deref()
        .map(Range::parse)
        .transpose()
        .map_err(|e| CliError::from_display(e).kind("target"))?;
    let current = if args.indicate_current || range.as_ref().is_some_and(Range::uses_current) {
        current_ids(ctx, &m).await?
    } else {
        Vec::new()
    };
    let selected = select(&m, range.as_ref(), &current)?;
    let marks: HashSet<String> = if args.indicate_current {
        current.into_iter().collect()
    } else {
        HashSet::new()
    };
    if ctx.json() {
        return Ok(json_history(&m, range.is_none(), &selected, &marks));
    }
    // Repeatable revisions run after every versioned one: newest first, they come first.
    let repeatables: String = if range.is_none() {
        (m.repeatables().iter().rev())
            .map(|r| output::repeatable_history_line(r) + "\n")
            .collect()
    } else {
        String::new()
    };
    if args.graph {
        let mut include = vec![false; m.graph().len()];
        for &i in &selected {
            include[i] = true;
        }
        let drawn = revchain_core::draw::ascii(
            m.graph(),
            |i| include[i],
            |i| output::history_line(&m, i, &marks),
        );
        return Ok(repeatables + &drawn);
    }
    let versioned: String = selected
        .into_iter()
        .rev()
        .map(|i| {
            if args.verbose {
                output::log_entry(&m, i, &marks)
            } else {
                output::history_line(&m, i, &marks) + "\n"
            }
        })
        .collect();
    Ok(repeatables + &versioned)
}

/// `history --format json`: the repeatable revisions (without a range), then `selected`,
/// newest first.
fn json_history(
    m: &Migrations,
    repeatables: bool,
    selected: &[usize],
    current: &HashSet<String>,
) -> String {
    let shown: &[crate::embedded::Revision] = if repeatables { m.repeatables() } else { &[] };
    let mut revisions: Vec<json::RevisionJson<'_>> = (shown.iter().rev())
        .map(|r| json::RevisionJson::of_revision(r, true))
        .collect();
    revisions
        .extend((selected.iter().rev()).filter_map(|&i| json::RevisionJson::of(m, i, current)));
    json::document("history", json::History { revisions })
}

/// The database's current revisions.
pub(super) async fn current_ids(
    ctx: &Context<'_>,
    m: &Migrations,
) -> Result<Vec<String>, CliError> {
    let db = db::connect(ctx.url("history --indicate-current")?, false).await?;
    let heads = db
        .current(&ctx.migrator(m))
        .await
        .map_err(CliError::runtime);
    db.close().await;
    Ok(heads?.into_iter().map(|h| h.id).collect())
}

/// The revisions of `range` (all without one), in table order.
fn select(
    m: &Migrations,
    range: Option<&Range>,
    current: &[String],
) -> Result<Vec<usize>, CliError> {
    let g = m.graph();
    let Some(range) = range else {
        return Ok((0..g.len()).collect());
    };
    let current = if range.uses_current() {
        current
            .iter()
            .map(|id| {
                g.find(id).ok_or_else(|| {
                    CliError::user(format!("the current revision {id} is not in {}", m.dir()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    g.range_revisions(range, &current)
        .map_err(|e| CliError::from_display(e).kind("target"))
}
