//! `merge`: writes a revision that revises several others.

use std::path::Path;
use std::time::SystemTime;

use revchain_core::writer::NewRevision;
use revchain_core::{Mode, id};

use crate::cli::context::Context;
use crate::cli::{CliError, files};

/// The arguments of `merge`.
#[derive(Debug, Clone, clap::Args)]
pub struct MergeArgs {
    /// The message.
    #[arg(short, long)]
    pub message: String,
    /// The revisions to merge, or `heads`.
    #[arg(required = true)]
    pub revisions: Vec<String>,
    /// Use this id instead of a generated one.
    #[arg(long, value_name = "ID")]
    pub rev_id: Option<String>,
    /// A branch label for the merge revision.
    #[arg(long, value_name = "LABEL")]
    pub branch_label: Option<String>,
}

pub(super) fn exec(ctx: &Context<'_>, dir: &Path, args: &MergeArgs) -> Result<String, CliError> {
    let m = ctx.load(Mode::Drafts)?;
    let graph = m.graph();
    let parents = graph
        .merge_parents(&args.revisions)
        .map_err(CliError::from_display)?;
    let mut labels = Vec::new();
    if let Some(label) = &args.branch_label {
        id::validate_label(label).map_err(CliError::from_display)?;
        labels.push(label.clone());
    }
    let revision = NewRevision {
        id: files::new_id(dir, graph, args.rev_id.as_deref(), &args.message)?,
        message: args.message.clone(),
        parents: parents.iter().map(|&p| graph.id(p).to_owned()).collect(),
        create_date: files::create_date(SystemTime::now()),
        branch_labels: labels,
        depends_on: Vec::new(),
        transactional: true,
        upgrade: String::new(),
        downgrade: Some(String::new()),
        origin: None,
    };
    files::write_revision(dir, &revision)
}
