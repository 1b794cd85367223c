//! `-- revchain:allow <rule> <reason>` comments (docs/design.md §6): in the header they
//! silence a rule for the whole file; in the upgrade section, for the statement whose lines
//! they stand on, or that starts on the line after them.

use super::{Finding, Hit, place, rules};
use crate::lex::{Lexer, TokenKind};
use crate::parse::{ALLOW_COMMENT, RevisionFile};
use crate::split::Dialect;

/// One allow comment, read.
#[derive(Debug)]
struct Allow {
    line: usize,
    column: usize,
    /// The rule id as written.
    rule: String,
    /// Whether a reason follows the rule id.
    reasoned: bool,
    /// In the header: silences the rule for the whole file.
    whole_file: bool,
}

/// The allow comments of one revision.
#[derive(Debug)]
pub(crate) struct Allows(Vec<Allow>);

impl Allows {
    /// Reads the header's and the upgrade section's allow comments.
    pub fn read(file: &RevisionFile, dialect: Dialect) -> Allows {
        let header = file
            .header_allows
            .iter()
            .map(|(line, text)| allow(text, *line, 1, true));
        let section = &file.upgrade;
        let comments = Lexer::new(&section.sql, dialect)
            .filter(|t| t.kind == TokenKind::Comment)
            .filter_map(|t| {
                let body = t.text.strip_prefix("--")?.trim_start();
                let text = body.strip_prefix(ALLOW_COMMENT)?;
                let (line, column) = place(&section.sql, section.line, t.start);
                Some(allow(text, line, column, false))
            });
        Allows(header.chain(comments).collect())
    }

    /// The finding for `hit`, unless an allow comment with a reason silences it.
    pub fn keep(&self, file: &RevisionFile, hit: Hit) -> Option<Finding> {
        let section = &file.upgrade;
        let lines = hit.statement.map(|(from, to)| {
            let first = place(&section.sql, section.line, from).0;
            (first, place(&section.sql, section.line, to).0)
        });
        let silenced = self.0.iter().any(|a| {
            a.reasoned
                && a.rule == hit.rule.id
                && (a.whole_file
                    || lines.is_some_and(|(first, last)| (first - 1..=last).contains(&a.line)))
        });
        if silenced {
            return None;
        }
        let (line, column) = if hit.at == usize::MAX {
            (file.lines.id, 1)
        } else {
            place(&section.sql, section.line, hit.at)
        };
        Some(finding(file, hit.rule, line, column, hit.message))
    }

    /// The findings about the allow comments themselves: no reason, or an unknown rule.
    pub fn problems<'a>(&'a self, file: &'a RevisionFile) -> impl Iterator<Item = Finding> + 'a {
        self.0.iter().filter_map(move |a| {
            let (rule, message) = if rules::rule(&a.rule).is_none() {
                let m = format!("`-- revchain:allow {}` names no lint rule", a.rule);
                (&rules::ALLOW_UNKNOWN_RULE, m)
            } else if !a.reasoned {
                let m = format!("`-- revchain:allow {}` gives no reason", a.rule);
                (&rules::ALLOW_WITHOUT_REASON, m)
            } else {
                return None;
            };
            Some(finding(file, rule, a.line, a.column, message))
        })
    }
}

/// Reads the text after `revchain:allow`: the rule id, then the reason.
fn allow(text: &str, line: usize, column: usize, whole_file: bool) -> Allow {
    let text = text.trim();
    let (rule, reason) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    Allow {
        line,
        column,
        rule: rule.to_owned(),
        reasoned: !reason.trim().is_empty(),
        whole_file,
    }
}

fn finding(
    file: &RevisionFile,
    rule: &'static rules::Rule,
    line: usize,
    column: usize,
    message: String,
) -> Finding {
    Finding {
        rule: rule.id,
        severity: rule.severity,
        path: file.path.clone(),
        revision: file.id.clone(),
        line,
        column,
        message,
        rewrite: rule.rewrite,
    }
}
