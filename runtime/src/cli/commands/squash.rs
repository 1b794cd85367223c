//! `squash [START:]END -m MSG`: writes one baseline revision that stands for a range of
//! revisions (docs/design.md §2.3). Its upgrade is the schema at END, applied to a scratch
//! database of the `--database-url` server and read back from its catalogs, written in that
//! server's dialect. The range's rules are core's ([`revchain_core::baseline`]).

use std::path::Path;
use std::time::SystemTime;

use revchain_core::baseline;
use revchain_core::writer::{self, NewRevision};
use revchain_core::{Graph, History, Mode};

use crate::autogen::Autogen;
use crate::cli::context::Context;
use crate::cli::{CliError, files};
use crate::embedded::Migrations;

/// The arguments of `squash`.
#[derive(Debug, Clone, clap::Args)]
pub struct SquashArgs {
    /// The range: `END`, or `START:END` (ids, prefixes or labels); without START, END and
    /// all its ancestors.
    #[arg(value_name = "[START:]END")]
    pub range: String,
    /// The baseline's message.
    #[arg(short, long)]
    pub message: String,
    /// Use this id instead of a generated one.
    #[arg(long, value_name = "ID")]
    pub rev_id: Option<String>,
}

fn lookup(graph: &Graph, name: &str) -> Result<usize, CliError> {
    graph.lookup(name).map_err(CliError::from_display)
}

/// The revisions of the range, checked to be closed, and END.
fn resolve(graph: &Graph, range: &str) -> Result<(Vec<usize>, usize), CliError> {
    let (start, end) = match range.split_once(':') {
        Some((s, e)) if !s.is_empty() && s != "base" => (Some(lookup(graph, s)?), e),
        Some((_, e)) => (None, e),
        None => (None, range),
    };
    let end = lookup(graph, end)?;
    let members = baseline::range(graph, start, end);
    if let Some(s) = start
        && !members.contains(&s)
    {
        return Err(CliError::user(format!(
            "`{}` is not an ancestor of `{}`: START must come before END",
            graph.id(s),
            graph.id(end)
        )));
    }
    let open = baseline::open_edges(graph, &members, end);
    if !open.is_empty() {
        let edges: Vec<String> = open.iter().map(|(a, b)| format!("{a} → {b}")).collect();
        return Err(CliError::user(format!(
            "the range is not closed: only END (`{}`) may have children or dependents outside \
             it, but {} name revisions in its middle; squash a range that ends after them",
            graph.id(end),
            edges.join(", ")
        )));
    }
    Ok((members, end))
}

pub(super) async fn exec(
    ctx: &Context<'_>,
    dir: &Path,
    args: &SquashArgs,
) -> Result<String, CliError> {
    let url = ctx.url("squash")?;
    let shown = ctx.dir.display().to_string();
    let history =
        History::load_as(ctx.dir, &shown, Mode::Strict).map_err(CliError::from_display)?;
    let graph = history.graph().clone();
    let (members, end) = resolve(&graph, &args.range)?;
    let end_id = graph.id(end).to_owned();
    let data: Vec<usize> = (members.iter().copied())
        .filter(|&i| baseline::changes_data(&history.revisions()[i]))
        .collect();
    let digest = history.chain_digest(end);
    let parents: Vec<String> = baseline::outside_parents(&graph, &members)
        .into_iter()
        .map(|p| graph.id(p).to_owned())
        .collect();
    let replaces: Vec<String> = members.iter().map(|&i| graph.id(i).to_owned()).collect();
    let notes: Vec<String> = (data.iter())
        .map(|&i| {
            let f = &history.revisions()[i];
            format!(
                "NOT CARRIED OVER, {} changes data ({}); copy it here or accept the loss",
                f.id, f.path
            )
        })
        .collect();
    let m = Migrations::from_history(history.clone(), &shown);
    let tables = &ctx.tables;
    let (schema, dialect) = Autogen::new(url, &m)
        .exclude_tables(&[tables.version.name(), tables.log.name()])
        .handle_signals(true)
        .schema_at(&[&end_id])
        .await
        .map_err(|e| CliError::user(e.to_string()))?;
    let generated =
        revchain_schema::generate(&revchain_schema::Schema::default(), &schema, dialect);
    let (upgrade, downgrade, transactional) = match generated {
        Some(g) => (g.upgrade, g.downgrade, g.transactional),
        None => (
            "-- the schema at END is empty\nSELECT 1;".to_owned(),
            "SELECT 1;".to_owned(),
            true,
        ),
    };
    let id = files::new_id(dir, &graph, args.rev_id.as_deref(), &args.message)?;
    let rev = NewRevision {
        id: id.clone(),
        message: args.message.clone(),
        parents,
        create_date: files::create_date(SystemTime::now()),
        transactional,
        upgrade,
        downgrade: Some(downgrade),
        ..NewRevision::default()
    };
    let text = writer::render(&rev).map_err(CliError::from_display)?;
    let text =
        baseline::add_baseline_keys(&text, &replaces, digest, &notes).map_err(CliError::user)?;
    let path = dir.join(writer::file_name(&id, &args.message));
    write_new(&path, &text)?;
    Ok(report(&path, &id, &replaces, &end_id, &notes))
}

fn write_new(path: &Path, text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| CliError::user(format!("{}: cannot create it: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| CliError::user(format!("{}: cannot write it: {e}", path.display())))
}

fn report(path: &Path, id: &str, replaces: &[String], end: &str, notes: &[String]) -> String {
    let mut out = format!(
        "Generating {} ...  done\nBaseline {id} replaces {} revision(s), {}…{end}.\n",
        path.display(),
        replaces.len(),
        replaces.first().map_or("", String::as_str),
    );
    if notes.is_empty() {
        out.push_str("No replaced revision changes data.\n");
    } else {
        out.push_str(&format!(
            "{} replaced revision(s) change data, which the baseline does not carry:\n",
            notes.len()
        ));
        for n in notes {
            out.push_str(&format!("  {n}\n"));
        }
    }
    out.push_str(&format!(
        "The replaced files were kept: databases in the middle of the range are upgraded \
         through them. Delete them once every database is at or past {end}.\n"
    ));
    out
}
