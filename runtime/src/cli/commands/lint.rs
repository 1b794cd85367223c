//! `lint`: the DDL linter of core ([`revchain_core::lint`]) on the revision files of a
//! directory, optionally of a range `START:END`, as text, JSON or GitHub annotations.

use std::fmt::Write as _;

use revchain_core::lint::{Finding, Linter, Severity};
use revchain_core::{History, Mode, Range, RevisionFile};

use super::upgrade::{DialectArg, dialect_of};
use crate::cli::CliError;
use crate::cli::context::{Context, Source};

/// `lint`'s exit code when it finds an error (or, with `--deny-warnings`, a warning).
pub const LINT_FAILED: u8 = 7;

/// The version of the `--format json` document.
const JSON_FORMAT: u32 = 1;

/// The arguments of `lint`.
#[derive(Debug, Clone, clap::Args)]
pub struct LintArgs {
    /// A range `START:END` (ids, prefixes, labels, `base`, `heads`); default: every revision.
    /// The revisions before it are still read, so that what they created is known.
    #[arg(value_name = "RANGE", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// The rules' database (default: from --database-url, else postgres).
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,
    /// Fail on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// How `lint` prints its findings: the global `--format` (`text`, one line per finding
/// with its explanation and the safe rewrite; `json`, `{"format": 1, "findings": [...]}`;
/// `github`, workflow annotations).
pub use crate::cli::json::Format as LintFormat;

pub(super) async fn exec(ctx: &Context<'_>, args: &LintArgs) -> Result<String, CliError> {
    ctx.lint_formats()?;
    let findings = findings(ctx, args.range.as_deref(), args.dialect)?;
    let out = render(&findings, ctx.format);
    verdict(&findings, args.deny_warnings, out)
}

/// The findings of the revisions in `range` (all without one).
pub(super) fn findings(
    ctx: &Context<'_>,
    range: Option<&str>,
    dialect: Option<DialectArg>,
) -> Result<Vec<Finding>, CliError> {
    let Source::Dir(dir) = ctx.source else {
        return Err(CliError::user(
            "the lint reads the revision files: run `revchain lint --dir <migrations>` on the \
             source tree",
        ));
    };
    let display = dir.display().to_string();
    let history = History::load_as(dir, &display, Mode::Strict).map_err(CliError::from_display)?;
    let selected = selected(&history, range)?;
    let mut linter = Linter::new(dialect_of(ctx, dialect));
    let files: &[RevisionFile] = history.revisions();
    Ok(files
        .iter()
        .enumerate()
        .flat_map(|(i, file)| {
            let found = linter.revision(file);
            if selected[i] { found } else { Vec::new() }
        })
        .collect())
}

/// Which revisions of `history` are in `range`.
fn selected(history: &History, range: Option<&str>) -> Result<Vec<bool>, CliError> {
    let g = history.graph();
    let mut selected = vec![range.is_none(); g.len()];
    if let Some(text) = range {
        let range = Range::parse(text).map_err(CliError::from_display)?;
        if range.uses_current() {
            return Err(CliError::user(
                "`lint` reads files only: give the range with ids, labels, `base` or `heads`, \
                 not `current`",
            ));
        }
        for i in g
            .range_revisions(&range, &[])
            .map_err(CliError::from_display)?
        {
            selected[i] = true;
        }
    }
    Ok(selected)
}

/// Prints `out` and fails with [`LINT_FAILED`] when a finding is an error, or a warning and
/// `deny_warnings`.
pub(super) fn verdict(
    findings: &[Finding],
    deny_warnings: bool,
    out: String,
) -> Result<String, CliError> {
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    if errors == 0 && (warnings == 0 || !deny_warnings) {
        return Ok(out);
    }
    let message = format!(
        "the lint found {errors} error(s) and {warnings} warning(s){}",
        if errors == 0 {
            " (--deny-warnings)"
        } else {
            ""
        }
    );
    Err(CliError::new(LINT_FAILED, "lint", message).after(out))
}

/// The findings in `format`.
pub(super) fn render(findings: &[Finding], format: LintFormat) -> String {
    match format {
        LintFormat::Text => text(findings),
        LintFormat::Json => json(findings),
        LintFormat::Github => findings.iter().map(github).collect(),
        // Refused before the findings are read (`Context::lint_formats`).
        LintFormat::Html | LintFormat::Dot | LintFormat::Mermaid => text(findings),
    }
}

fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(
            out,
            "{}:{}:{}: {} [{}] {} (revision {})\n  why: {}\n  instead: {}",
            f.path,
            f.line,
            f.column,
            f.severity.as_str(),
            f.rule,
            f.message,
            f.revision,
            revchain_core::lint::rule(f.rule).map_or("", |r| r.explanation),
            f.rewrite
        );
    }
    out
}

fn json(findings: &[Finding]) -> String {
    let items: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{{\"rule\": {}, \"severity\": {}, \"file\": {}, \"line\": {}, \"column\": {}, \
                 \"revision\": {}, \"message\": {}, \"rewrite\": {}}}",
                json_string(f.rule),
                json_string(f.severity.as_str()),
                json_string(&f.path),
                f.line,
                f.column,
                json_string(&f.revision),
                json_string(&f.message),
                json_string(f.rewrite)
            )
        })
        .collect();
    format!(
        "{{\"format\": {JSON_FORMAT}, \"findings\": [{}]}}\n",
        items.join(", ")
    )
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One GitHub workflow annotation; its properties and message escaped as the runner
/// expects (`%`, line breaks, and in properties `:` and `,`).
fn github(f: &Finding) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let level = match f.severity {
        Severity::Error => "error",
        _ => "warning",
    };
    format!(
        "::{level} file={},line={},col={},title={}::{}\n",
        property(&f.path),
        f.line,
        f.column,
        property(&format!("revchain lint {}", f.rule)),
        data(&format!(
            "{} (revision {}); instead: {}",
            f.message, f.revision, f.rewrite
        ))
    )
}
