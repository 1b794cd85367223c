//! Checks made on a plan before anything of it runs, with the real database's dialect.

use revchain_core::statements::refused_statement;
use revchain_core::{Dialect, Direction, Plan};

use crate::embedded::Migrations;
use crate::error::Error;

/// Refuses a plan whose revisions hold a statement they may not hold on this database
/// (transaction control in a transactional revision, `DELIMITER`, …): the parser checks the
/// same rules for every database at once, but a statement may only appear as such when cut
/// with the database's own lexical rules (`#` comments, backslash escapes).
pub(crate) fn refuse_statements(
    m: &Migrations,
    plan: &Plan,
    dialect: Dialect,
) -> Result<(), Error> {
    for step in &plan.steps {
        let Some(rev) = m.at(step.revision) else {
            continue;
        };
        let (sql, line) = match plan.direction {
            Direction::Upgrade => (rev.upgrade_sql(), rev.upgrade_line()),
            Direction::Downgrade => (rev.downgrade_sql().unwrap_or(""), rev.downgrade_line()),
        };
        if let Some(refusal) = refused_statement(sql, dialect, rev.is_transactional()) {
            return Err(Error::Refused {
                id: rev.id().to_owned(),
                path: rev.path().to_owned(),
                line: line + refusal.line - 1,
                direction: plan.direction,
                reason: refusal.to_string(),
            });
        }
    }
    Ok(())
}
