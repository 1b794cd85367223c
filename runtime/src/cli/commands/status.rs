//! `status`: one line per revision (applied, pending, edited, missing, dirty, unknown),
//! when it was applied and how long it took; the exit code is `check`'s.

use std::fmt::Write as _;

use revchain_core::Mode;

use super::check::database_verdict;
use crate::cli::context::Context;
use crate::cli::{CliError, db, json};
use crate::report::{RevisionStatus, RevisionsStatus, human_duration};

/// The arguments of `status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {}

pub(super) async fn exec(ctx: &Context<'_>, _args: &StatusArgs) -> Result<String, CliError> {
    let url = ctx.url("status")?;
    let m = ctx.load(Mode::Drafts)?;
    let db = db::connect(url, false).await?;
    let view = db.revisions_status(&ctx.migrator(&m)).await;
    db.close().await;
    let view = view.map_err(CliError::runtime)?;
    let out = if ctx.json() {
        json::document("status", json::StatusJson::from(&view))
    } else {
        table(&view)
    };
    match database_verdict(&m, &view.status) {
        Ok(verdict) if ctx.json() => {
            let _ = verdict;
            Ok(out)
        }
        Ok(verdict) => Ok(out + "\n" + &verdict),
        Err(e) => Err(e.after(out)),
    }
}

/// The cells of one line: id, state, applied at, duration, message.
fn cells(r: &RevisionStatus) -> [String; 5] {
    let message = r.message.as_deref().unwrap_or("(not in this binary)");
    [
        r.id.clone(),
        r.state.as_str().to_owned(),
        r.applied_at.clone().unwrap_or_else(|| "-".to_owned()),
        // The log records whole milliseconds.
        match r.duration {
            None => "-".to_owned(),
            Some(d) if d.is_zero() => "< 1 ms".to_owned(),
            Some(d) => human_duration(d),
        },
        if r.repeatable {
            format!("(repeatable) {message}")
        } else {
            message.to_owned()
        },
    ]
}

/// The table, its columns aligned.
fn table(view: &RevisionsStatus) -> String {
    let header = ["REVISION", "STATE", "APPLIED AT (UTC)", "TOOK", "MESSAGE"].map(String::from);
    let rows: Vec<[String; 5]> = std::iter::once(header)
        .chain(view.revisions.iter().map(cells))
        .collect();
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..4).map(width).collect();
    let mut out = String::new();
    for row in &rows {
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(out, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{}", row[4]);
    }
    out
}
