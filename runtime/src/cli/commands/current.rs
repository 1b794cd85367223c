//! `current`: the database's current revisions.

use revchain_core::Mode;

use crate::cli::context::Context;
use crate::cli::{CliError, db, output};

/// The arguments of `current`.
#[derive(Debug, Clone, clap::Args)]
pub struct CurrentArgs {
    /// Also name the database (password hidden).
    #[arg(short, long)]
    pub verbose: bool,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &CurrentArgs) -> Result<String, CliError> {
    let url = ctx.url("current")?;
    let m = ctx.load(Mode::Drafts)?;
    let db = db::connect(url, false).await?;
    let heads = db
        .current(&ctx.migrator(&m))
        .await
        .map_err(CliError::runtime);
    let repeatables = if m.repeatables().is_empty() || heads.is_err() {
        Ok(String::new())
    } else {
        (db.status(&ctx.migrator(&m)).await)
            .map(|s| output::current_repeatable_lines(&s))
            .map_err(CliError::runtime)
    };
    db.close().await;
    let mut out = String::new();
    if args.verbose {
        out.push_str(&format!(
            "Current revision(s) for {}:\n",
            crate::url::redact(url)
        ));
    }
    for h in heads? {
        out.push_str(&output::current_line(&h));
        out.push('\n');
    }
    out.push_str(&repeatables?);
    Ok(out)
}
