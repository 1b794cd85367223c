//! `graph`: the revision graph as Graphviz DOT or Mermaid (pictures drawn by
//! `revchain_core::draw`), the database's current revisions highlighted with a database.

use revchain_core::Mode;
use revchain_core::draw::{self, Marks};

use crate::cli::context::Context;
use crate::cli::{CliError, Format};

/// The arguments of `graph` (the picture's language is the global `--format`: `dot`, the
/// default, or `mermaid`).
#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {}

pub(super) async fn exec(ctx: &Context<'_>, _args: &GraphArgs) -> Result<String, CliError> {
    ctx.graph_formats()?;
    let m = ctx.load(Mode::Drafts)?;
    let g = m.graph();
    let messages: Vec<&str> = (0..g.len())
        .map(|i| m.at(i).map_or("", |r| r.message()))
        .collect();
    let (current, unknown) = match ctx.database_url {
        Some(_) => current_marks(ctx, &m).await?,
        None => (Vec::new(), Vec::new()),
    };
    let marks = Marks {
        messages: &messages,
        current: &current,
    };
    let (mut out, comment) = match ctx.format {
        Format::Mermaid => (draw::mermaid(g, marks), "%%"),
        _ => (draw::dot(g, marks), "//"),
    };
    for id in unknown {
        out.push_str(&format!(
            "{comment} the database's current revision {id} is not in {}\n",
            m.dir()
        ));
    }
    Ok(out)
}

/// The database's current revisions as marks by index, and the ids this graph lacks.
async fn current_marks(
    ctx: &Context<'_>,
    m: &crate::embedded::Migrations,
) -> Result<(Vec<bool>, Vec<String>), CliError> {
    let ids = super::history::current_ids(ctx, m).await?;
    let g = m.graph();
    let mut marks = vec![false; g.len()];
    let mut unknown = Vec::new();
    for id in ids {
        match g.find(&id) {
            Some(i) => marks[i] = true,
            None => unknown.push(id),
        }
    }
    Ok((marks, unknown))
}
