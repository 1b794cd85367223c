//! `revision`: writes a new revision file on top of a head (with `--autogenerate`, with
//! the SQL that takes the migrations' schema to the schema file's).

use std::path::Path;
use std::time::SystemTime;

use revchain_core::writer::NewRevision;
use revchain_core::{Graph, Mode, Target};

#[cfg(feature = "autogen")]
use crate::cli::autogen;
use crate::cli::context::Context;
use crate::cli::{CliError, files};

/// The arguments of `revision`.
#[derive(Debug, Clone, clap::Args)]
pub struct RevisionArgs {
    /// The message: the first line of the file and part of its name.
    #[arg(short, long)]
    pub message: String,
    /// Use this id instead of a generated one (letters, digits and `_`).
    #[arg(long, value_name = "ID")]
    pub rev_id: Option<String>,
    /// The parent: `head` (default), an id or prefix, `label@head`, `heads` (merge
    /// all), or `base` (a new root).
    #[arg(long, value_name = "REV", default_value = "head")]
    pub head: String,
    /// Allow a parent that is not a head (starts a new branch).
    #[arg(long)]
    pub splice: bool,
    /// A branch label for the new revision.
    #[arg(long, value_name = "LABEL")]
    pub branch_label: Option<String>,
    /// A revision (id, prefix or label) the new one depends on; repeatable.
    #[arg(long, value_name = "REV")]
    pub depends_on: Vec<String>,
    /// Write a Rust code revision (`<id>_<slug>.rs`, docs/design.md §1.7) instead of SQL:
    /// `upgrade`/`downgrade` functions on the connection of DATABASE (`postgres`, `mysql`
    /// or `sqlite`; default: the --database-url's, else postgres), or on
    /// `revchain::Connection` for `any` (a portable revision that runs on every database).
    #[arg(long, value_name = "DATABASE", num_args = 0..=1, default_missing_value = "")]
    pub rust: Option<String>,
    /// Write the SQL too: compare the migrations with the schema file on scratch
    /// databases of the --database-url server (created and dropped again).
    #[cfg(feature = "autogen")]
    #[arg(long)]
    pub autogenerate: bool,
    /// The declarative schema for --autogenerate (default: schema.sql next to the
    /// migrations directory).
    #[cfg(feature = "autogen")]
    #[arg(long, value_name = "FILE", requires = "autogenerate")]
    pub schema: Option<std::path::PathBuf>,
}

/// What to write: the options of `revchain revision` and the SQL.
pub(crate) struct RevisionOptions<'a> {
    pub message: &'a str,
    pub rev_id: Option<&'a str>,
    pub head: &'a str,
    pub splice: bool,
    pub branch_label: Option<&'a str>,
    pub depends_on: &'a [String],
    pub upgrade: String,
    pub downgrade: String,
    /// `false` writes `Transactional: false`.
    pub transactional: bool,
}

pub(super) async fn exec(
    ctx: &Context<'_>,
    dir: &Path,
    args: &RevisionArgs,
) -> Result<String, CliError> {
    let options = RevisionOptions {
        message: &args.message,
        rev_id: args.rev_id.as_deref(),
        head: &args.head,
        splice: args.splice,
        branch_label: args.branch_label.as_deref(),
        depends_on: &args.depends_on,
        upgrade: String::new(),
        downgrade: String::new(),
        transactional: true,
    };
    #[cfg(feature = "autogen")]
    if args.autogenerate {
        return autogen::revision(ctx, dir, &options, args.schema.as_deref()).await;
    }
    let m = ctx.load(Mode::Drafts)?;
    if let Some(database) = &args.rust {
        let connection = rust_connection(database, ctx.database_url)?;
        let revision = new_revision(dir, m.graph(), &options)?;
        return files::write_rust_revision(dir, &revision, connection);
    }
    write(dir, m.graph(), &options)
}

/// sqlx's connection type for `revision --rust DATABASE` (empty: the URL's, else
/// PostgreSQL's; `any`: the portable `revchain::Connection`).
fn rust_connection(database: &str, url: Option<&str>) -> Result<&'static str, CliError> {
    let scheme = url.and_then(|u| u.split(':').next()).unwrap_or("postgres");
    let name = if database.is_empty() {
        scheme
    } else {
        database
    };
    match name.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Ok("PgConnection"),
        "mysql" | "mariadb" => Ok("MySqlConnection"),
        "sqlite" => Ok("SqliteConnection"),
        "any" => Ok(revchain_core::code::PORTABLE),
        other => Err(CliError::user(format!(
            "`--rust {other}`: the database of a Rust revision is `postgres`, `mysql`, `sqlite` \
             or `any` (portable)"
        ))),
    }
}

/// The parents named by `--head`.
pub(crate) fn resolve_head(
    graph: &Graph,
    head: &str,
    splice: bool,
) -> Result<Vec<usize>, CliError> {
    let target: Target = head.parse().map_err(CliError::from_display)?;
    graph
        .new_revision_parents(&target, splice)
        .map_err(CliError::from_display)
}

/// Writes a new revision on top of the head `opts` names.
pub(crate) fn write(
    dir: &Path,
    graph: &Graph,
    opts: &RevisionOptions<'_>,
) -> Result<String, CliError> {
    let revision = new_revision(dir, graph, opts)?;
    let mut out = files::write_revision(dir, &revision)?;
    out.push_str(&new_head_note(graph, &revision));
    Ok(out)
}

/// What to say when the new revision sits beside existing heads (`--splice` on a revision
/// that has children, or a new branch from `base`): the graph now has several heads, and
/// `upgrade head` refuses until they are merged.
fn new_head_note(graph: &Graph, revision: &NewRevision) -> String {
    let spliced = revision
        .parents
        .iter()
        .any(|p| graph.find(p).is_some_and(|i| !graph.is_head(i)))
        || (revision.parents.is_empty() && !graph.heads().is_empty());
    if !spliced || !revision.branch_labels.is_empty() {
        return String::new();
    }
    let others: Vec<&str> = graph.heads().iter().map(|&h| graph.id(h)).collect();
    format!(
        "{} is a new head beside {}: merge them with `revchain merge -m \"merge heads\" heads` \
         (until then, upgrade each head by its id)\n",
        revision.id,
        others.join(", ")
    )
}

/// The new revision on top of the head `opts` names.
fn new_revision(
    dir: &Path,
    graph: &Graph,
    opts: &RevisionOptions<'_>,
) -> Result<NewRevision, CliError> {
    let parents = resolve_head(graph, opts.head, opts.splice)?;
    let depends_on = opts
        .depends_on
        .iter()
        .map(|d| graph.dependency_name(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::from_display)?;
    let mut labels = Vec::new();
    if let Some(label) = opts.branch_label {
        graph
            .check_new_label(label)
            .map_err(CliError::from_display)?;
        labels.push(label.to_owned());
    }
    Ok(NewRevision {
        id: files::new_id(dir, graph, opts.rev_id, opts.message)?,
        message: opts.message.to_owned(),
        parents: parents.iter().map(|&p| graph.id(p).to_owned()).collect(),
        create_date: files::create_date(SystemTime::now()),
        branch_labels: labels,
        depends_on,
        transactional: opts.transactional,
        upgrade: opts.upgrade.clone(),
        downgrade: Some(opts.downgrade.clone()),
        origin: None,
    })
}
