//! `import`: converts another tool's migrations directory into revision files
//! (docs/adopting.md).

use std::path::{Path, PathBuf};

use revchain_core::import::{self, Tool};

use crate::cli::{CliError, alembic_import};

/// The arguments of `import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The tool whose migrations SOURCE holds: sqlx, diesel, refinery, dbmate,
    /// golang-migrate, goose, flyway or alembic.
    #[arg(long, value_name = "TOOL")]
    pub from: Tool,
    /// The tool's migrations directory (for alembic, the project directory, where
    /// `alembic.ini` is). It is only read.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,
    /// The command that runs Alembic (`--from alembic`), such as `uv run alembic`.
    #[arg(long, value_name = "CMD", default_value = "alembic")]
    pub alembic_cmd: String,
}

/// Writes the revisions converted from `args.source` into `dir` (which must not exist or
/// be empty), or names every migration that cannot be converted and writes nothing.
pub(super) fn exec(dir: &Path, args: &ImportArgs) -> Result<String, CliError> {
    let revisions = match args.from {
        Tool::Alembic => alembic_import::revisions(&args.source, &args.alembic_cmd)?,
        tool => import::from_dir(tool, &args.source).map_err(|errors| {
            let count = match errors.len() {
                1 => "1 problem".to_owned(),
                n => format!("{n} problems"),
            };
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("  {}", with_dir(&args.source, e)))
                .collect();
            CliError::user(format!(
                "cannot import {}: {count} (nothing was written):\n{}",
                args.source.display(),
                lines.join("\n")
            ))
        })?,
    };
    let written = import::write_all(dir, &revisions).map_err(CliError::from_display)?;
    let mut out = format!(
        "Imported {} {} migration(s) from {} into {}:\n",
        written.len(),
        args.from,
        args.source.display(),
        dir.display()
    );
    for path in &written {
        out.push_str(&format!("  {}\n", path.display()));
    }
    out.push_str("Next: check them with `revchain check`; to take over a database the old tool manages, see `revchain adopt`.\n");
    Ok(out)
}

/// An error, its file shown with the source directory in front.
fn with_dir(source: &Path, e: &import::ImportError) -> String {
    let shown = if e.file.is_empty() {
        source.display().to_string()
    } else {
        source.join(&e.file).display().to_string()
    };
    match e.line {
        Some(line) => format!("{shown}:{line}: {}", e.kind),
        None => format!("{shown}: {}", e.kind),
    }
}
