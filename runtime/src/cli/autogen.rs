//! The CLI's autogenerate commands: `revision --autogenerate`, `check --schema` and
//! `test-roundtrip`. They need a server where scratch databases may be created
//! (`--database-url`); the work is in [`crate::autogen`] and [`crate::testing`].

use std::path::{Path, PathBuf};

use revchain_core::Mode;

use super::CliError;
use super::commands::revision::{self, RevisionOptions};
use super::context::Context;
use crate::autogen::{Autogen, Comparison, Error};
use crate::testing::{Roundtrip, RoundtripError};

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

fn cli_error(e: Error) -> CliError {
    let (code, kind) = if matches!(e, Error::Interrupted) {
        (INTERRUPTED, "interrupted")
    } else {
        (1, "autogen")
    };
    CliError::new(code, kind, e.to_string())
}

/// `schema.sql` next to the migrations directory (`<dir>/../schema.sql`).
fn default_schema(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(parent) => parent.join("schema.sql"),
        None => PathBuf::from("schema.sql"),
    }
}

/// The schema file to use; refuses one inside the migrations directory, where every
/// `.sql` file is a revision.
fn schema_path(ctx: &Context<'_>, given: Option<&Path>) -> Result<PathBuf, CliError> {
    let path = given.map_or_else(|| default_schema(ctx.dir), Path::to_path_buf);
    if let (Ok(dir), Some(Ok(parent))) = (
        ctx.dir.canonicalize(),
        path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".").canonicalize()
            } else {
                p.canonicalize()
            }
        }),
    ) && dir == parent
    {
        return Err(CliError::user(format!(
            "{}: the schema file must not be inside the migrations directory {}, where every \
             .sql file is a revision; keep it next to the directory (the default is {})",
            path.display(),
            ctx.dir.display(),
            default_schema(ctx.dir).display()
        )));
    }
    if !path.is_file() {
        return Err(CliError::user(format!(
            "{}: the schema file does not exist; write the schema the application wants there \
             as CREATE TABLE / CREATE INDEX statements, or name it with --schema",
            path.display()
        )));
    }
    Ok(path)
}

async fn compare(
    ctx: &Context<'_>,
    m: &crate::Migrations,
    heads: &[&str],
    schema: &Path,
    command: &str,
) -> Result<Comparison, CliError> {
    let url = ctx.url(command)?;
    let tables = &ctx.tables;
    Autogen::new(url, m)
        .exclude_tables(&[tables.version.name(), tables.log.name()])
        .handle_signals(true)
        .compare(heads, schema)
        .await
        .map_err(cli_error)
}

/// `revision --autogenerate`: a new revision whose SQL takes the schema at its parent to
/// the schema file's.
pub(super) async fn revision(
    ctx: &Context<'_>,
    dir: &Path,
    opts: &RevisionOptions<'_>,
    schema: Option<&Path>,
) -> Result<String, CliError> {
    let command = "revision --autogenerate";
    ctx.url(command)?;
    let schema = schema_path(ctx, schema)?;
    // Every revision is applied to a scratch database, so drafts are errors here.
    let m = ctx.load(Mode::Strict)?;
    let parents = revision::resolve_head(m.graph(), opts.head, opts.splice)?;
    let heads: Vec<&str> = parents.iter().map(|&p| m.graph().id(p)).collect();
    let cmp = compare(ctx, &m, &heads, &schema, command).await?;
    let Some(generated) = cmp.migration() else {
        return Ok(format!(
            "No changes in schema detected: the migrations at {} already produce {}; no \
             revision was written.\n",
            if heads.is_empty() {
                "base".to_owned()
            } else {
                heads.join(", ")
            },
            schema.display()
        ));
    };
    for change in &generated.changes {
        tracing::info!(target: "revchain", "Detected {change}");
    }
    let written = revision::write(
        dir,
        m.graph(),
        &RevisionOptions {
            upgrade: generated.upgrade,
            downgrade: generated.downgrade,
            transactional: generated.transactional,
            ..*opts
        },
    )?;
    Ok(format!(
        "{written}Review the generated revision before applying it: autogenerate does not \
         detect renames (a rename is written as a drop and an add), data changes, views or \
         triggers.\n"
    ))
}

/// `check --schema`: fails when the migrations at head do not produce the schema file.
pub(super) async fn check_schema(
    ctx: &Context<'_>,
    schema: Option<&Path>,
) -> Result<String, CliError> {
    let command = "check --schema";
    ctx.url(command)?;
    let schema = schema_path(ctx, schema)?;
    let m = ctx.load(Mode::Strict)?;
    let heads: Vec<&str> = m.heads().map(|h| h.id()).collect();
    let cmp = compare(ctx, &m, &heads, &schema, command).await?;
    let changes = cmp.changes();
    if changes.is_empty() {
        return Ok(format!(
            "The migrations at head produce the schema of {}.\n",
            schema.display()
        ));
    }
    Err(CliError::user(format!(
        "the migrations at head ({}) do not produce the schema of {}; {} difference(s) from \
         the migrations to the file:\n{}\nwrite the missing revision with `revchain revision \
         --autogenerate -m \"...\"`",
        if heads.is_empty() {
            "base".to_owned()
        } else {
            heads.join(", ")
        },
        schema.display(),
        changes.len(),
        changes
            .iter()
            .map(|c| format!("  - {c}"))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

/// `test-roundtrip`: every downgrade undoes its upgrade, on a scratch database.
/// Prints one summary line, or with `verbose` each revision checked and every step's log.
pub(super) async fn test_roundtrip(ctx: &Context<'_>, verbose: bool) -> Result<String, CliError> {
    let url = ctx.url("test-roundtrip")?;
    let m = ctx.load(Mode::Strict)?;
    let roundtrip = Roundtrip::new(url, &m)
        .tables(ctx.tables.version.clone(), ctx.tables.log.clone())
        .handle_signals(true);
    let run = roundtrip.run();
    let result = if verbose {
        run.await
    } else {
        crate::report::quietly(run).await
    };
    let report = result.map_err(|e| match e {
        RoundtripError::Failed {
            source: Error::Interrupted,
            ..
        } => cli_error(Error::Interrupted),
        other => CliError::from_display(other),
    })?;
    let mut out = String::new();
    for c in report.revisions.iter().filter(|_| verbose) {
        if c.reversible {
            out.push_str(&format!("ok {} ({})\n", c.id, c.message));
        } else {
            out.push_str(&format!(
                "skipped {} ({}): irreversible, no downgrade section\n",
                c.id, c.message
            ));
        }
    }
    let skipped = report.irreversible().len();
    out.push_str(&format!(
        "{} revision(s): every downgrade undoes its upgrade{}.\n",
        report.revisions.len(),
        if skipped == 0 {
            String::new()
        } else {
            let ids: Vec<&str> = report
                .irreversible()
                .iter()
                .map(|c| c.id.as_str())
                .collect();
            format!(
                " ({skipped} irreversible, stepped over: {})",
                ids.join(", ")
            )
        }
    ));
    Ok(out)
}
