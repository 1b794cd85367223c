//! Checks made on a plan before anything of it runs, with the real database's dialect.

use revchain_core::split::split_statements_checked;
use revchain_core::statements::{refused_among, refused_statement};
use revchain_core::{Dialect, Direction, Plan};

use crate::backend::group::Traits;
use crate::code::CodeDatabase;
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
    cleared: Option<&Cleared>,
) -> Result<(), Error> {
    for step in &plan.steps {
        let Some(rev) = m.at(step.revision).filter(|r| !r.is_rust()) else {
            continue;
        };
        if plan.direction == Direction::Upgrade
            && cleared.is_some_and(|c| c.upgrade(step.revision, dialect))
        {
            continue;
        }
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

/// The revisions whose upgrade holds no statement refused on one database, found before
/// the plan was known, with what grouping needs to know of each upgrade: on a database
/// without revchain's tables every revision is pending, and [`refuse_statements`]'s work
/// and the grouping's are done while the server answers the lock and creates the tables,
/// instead of after the state is read (each upgrade split once for both).
#[derive(Debug, Clone)]
pub(crate) struct Cleared {
    dialect: Dialect,
    /// Per revision (in table order): its upgrade was found clean.
    upgrades: Vec<bool>,
    /// Per revision: its upgrade's [`Traits`] (none for a Rust code revision).
    traits: Vec<Option<Traits>>,
}

impl Cleared {
    /// Checks the upgrade of every revision of `m` for `dialect`.
    pub(crate) fn upgrades(m: &Migrations, dialect: Dialect) -> Cleared {
        let (upgrades, traits) = m
            .iter()
            .map(|rev| {
                if rev.is_rust() {
                    return (true, None);
                }
                let split = split_statements_checked(rev.upgrade_sql(), dialect);
                let transactional = rev.is_transactional();
                let refused = refused_among(&split.statements, dialect, transactional).is_some();
                let traits = Traits::of_split(&split, transactional, refused, dialect);
                (!refused, Some(traits))
            })
            .unzip();
        Cleared {
            dialect,
            upgrades,
            traits,
        }
    }

    /// Whether revision `index`'s upgrade was found clean for `dialect`.
    fn upgrade(&self, index: usize, dialect: Dialect) -> bool {
        self.dialect == dialect && self.upgrades.get(index).copied().unwrap_or(false)
    }

    /// The traits of revision `index`'s upgrade in `dialect`, when they were worked out.
    pub(crate) fn traits(&self, index: usize, dialect: Dialect) -> Option<&Traits> {
        (self.dialect == dialect)
            .then(|| self.traits.get(index)?.as_ref())
            .flatten()
    }
}

/// Refuses a plan that would run a Rust code revision (docs/design.md §4.11) whose function
/// this binary does not contain (a table loaded from disk: the `revchain` tool) or that is
/// written for another database than `dialect`'s (a portable one runs on any). Nothing has
/// run yet.
pub(crate) fn refuse_code(m: &Migrations, plan: &Plan, dialect: Dialect) -> Result<(), Error> {
    for step in &plan.steps {
        let Some((rev, code)) = m.at(step.revision).and_then(|r| Some((r, r.code()?))) else {
            continue;
        };
        let function = match plan.direction {
            Direction::Upgrade => code.upgrade,
            // A code revision without `downgrade` is irreversible: the plan refused it.
            Direction::Downgrade => code.downgrade.or(code.upgrade),
        };
        let Some(function) = function else {
            return Err(Error::CodeNotCompiled {
                id: rev.id().to_owned(),
                path: rev.path().to_owned(),
                direction: plan.direction,
            });
        };
        let ran_on = CodeDatabase::of(dialect);
        if !function.database().runs_on(ran_on) {
            return Err(Error::WrongDatabase {
                id: rev.id().to_owned(),
                path: rev.path().to_owned(),
                written_for: function.database(),
                ran_on: ran_on.map_or_else(|| format!("{dialect:?}"), |d| d.to_string()),
            });
        }
    }
    Ok(())
}
