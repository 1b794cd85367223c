//! `graph`: the revision graph as Graphviz DOT or Mermaid (pictures drawn by
//! `revchain_core::draw`), the database's current revisions highlighted with a database.

use revchain_core::Mode;
use revchain_core::draw::{self, Marks};

use crate::cli::CliError;
use crate::cli::context::Context;

/// The picture `graph` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`revchain graph | dot -Tsvg > graph.svg`).
    #[default]
    Dot,
    /// A Mermaid flowchart (paste it in a ```mermaid block of a README).
    Mermaid,
}

/// The arguments of `graph`.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    /// The picture's language.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &GraphArgs) -> Result<String, CliError> {
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
    let (mut out, comment) = match args.format {
        GraphFormat::Dot => (draw::dot(g, marks), "//"),
        GraphFormat::Mermaid => (draw::mermaid(g, marks), "%%"),
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
