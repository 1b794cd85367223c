//! `current`: the database's current revisions.

use revchain_core::Mode;

use crate::cli::context::Context;
use crate::cli::{CliError, db, json, output};

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
    let status = if m.repeatables().is_empty() || heads.is_err() {
        Ok(None)
    } else {
        (db.status(&ctx.migrator(&m)).await)
            .map(Some)
            .map_err(CliError::runtime)
    };
    db.close().await;
    let (heads, status) = (heads?, status?);
    if ctx.json() {
        let body = json::Current {
            heads: heads.iter().map(json::Head::from).collect(),
            repeatables: status.as_ref().map(json::repeatables).unwrap_or_default(),
        };
        return Ok(json::document("current", body));
    }
    let repeatables = status.map(|s| output::current_repeatable_lines(&s));
    let mut out = String::new();
    if args.verbose {
        out.push_str(&format!(
            "Current revision(s) for {}:\n",
            crate::url::redact(url)
        ));
    }
    for h in heads {
        out.push_str(&output::current_line(&h));
        out.push('\n');
    }
    out.push_str(&repeatables.unwrap_or_default());
    Ok(out)
}
