//! A DDL linter: rules that find migration statements that lock or rewrite a busy table, or
//! break the release that is still running while a new one rolls out, each with an id, a
//! severity, an explanation and the safe form to write instead ([`RULES`]).
//!
//! The rules read the upgrade section of each revision with core's tokenizer and splitter,
//! in the order the revisions apply, so that what an earlier revision did (a table created,
//! a column's type, a validated `CHECK (c IS NOT NULL)`) informs the later ones. A
//! `-- revchain:allow <rule> <reason>` comment (docs/design.md §6) silences one rule: in the
//! header for the whole file; in a section for the statement it stands on or directly
//! precedes. An allow without a reason, or naming no rule, is itself a finding.
//!
//! ```
//! use revchain_core::lint::{Linter, Severity};
//! use revchain_core::{Dialect, parse::parse};
//! let file = parse(
//!     "m/a1.sql",
//!     "-- index\n-- Revision ID: a1\n-- migrate:upgrade\nCREATE INDEX i ON users (email);\n-- migrate:downgrade\nDROP INDEX i;\n",
//! )
//! .unwrap();
//! let findings = Linter::new(Dialect::Postgres).revision(&file);
//! assert_eq!(findings[0].rule, "index-not-concurrent");
//! assert_eq!((findings[0].line, findings[0].column), (4, 1));
//! assert_eq!(findings[0].severity, Severity::Error);
//! ```

mod allow;
mod mysql;
mod postgres;
mod rules;
mod stmt;

use std::collections::{HashMap, HashSet};
use std::fmt;

pub use rules::{RULES, Rule, Scope, Severity, rule};

use crate::parse::RevisionFile;
use crate::split::{Dialect, split_statements};
use stmt::Stmt;

/// One finding: a rule that fired at a place in a revision file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// The rule's severity.
    pub severity: Severity,
    /// The file, as shown in messages.
    pub path: String,
    /// The revision id.
    pub revision: String,
    /// The 1-based file line.
    pub line: usize,
    /// The 1-based column (in characters).
    pub column: usize,
    /// What is wrong here.
    pub message: String,
    /// The safe form to write instead.
    pub rewrite: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} [{}] {} (revision {}); instead: {}",
            self.path,
            self.line,
            self.column,
            self.severity.as_str(),
            self.rule,
            self.message,
            self.revision,
            self.rewrite
        )
    }
}

/// Lints revisions in the order they apply, remembering what earlier ones did to the schema.
#[derive(Debug, Clone)]
pub struct Linter {
    dialect: Dialect,
    schema: Schema,
}

/// What the revisions linted so far did to the schema, as far as the rules need it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    /// The declared type of `(table, column)`, normalised (`varchar(20)`).
    pub types: HashMap<(String, String), String>,
    /// Columns proven non-null by a validated `CHECK (column IS NOT NULL)`.
    pub not_null_checked: HashSet<(String, String)>,
    /// `NOT VALID` checks `(column IS NOT NULL)` by constraint name, until validated.
    pub pending_checks: HashMap<String, (String, String)>,
}

/// A rule that fired in a statement (or in the revision), before suppression.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub rule: &'static Rule,
    /// The byte offset within the upgrade section it points at.
    pub at: usize,
    /// The statement's byte range within the section (`None` for the whole revision).
    pub statement: Option<(usize, usize)>,
    pub message: String,
}

/// What one revision's statements did so far.
#[derive(Debug, Default)]
pub(crate) struct Revision {
    /// Tables created earlier in this revision.
    pub created: HashSet<String>,
    /// The first statement that takes an ACCESS EXCLUSIVE lock on an existing table.
    pub exclusive: Option<(usize, usize)>,
    /// The first DDL statement.
    pub ddl: Option<(usize, usize)>,
    /// The first bulk data change (PostgreSQL) or any data change (MySQL).
    pub data: Option<(usize, usize)>,
    pub hits: Vec<Hit>,
}

impl Revision {
    pub fn hit(&mut self, rule: &'static Rule, s: &Stmt<'_>, tok: usize, message: String) {
        self.hits.push(Hit {
            rule,
            at: s.offset + s.at(tok),
            statement: Some(s.range()),
            message,
        });
    }
}

impl Stmt<'_> {
    /// The statement's byte range within its section.
    pub fn range(&self) -> (usize, usize) {
        (self.offset, self.offset + self.sql.len())
    }
}

impl Linter {
    /// A linter for `dialect` (`Postgres` and `MySql` have their own rules; every dialect
    /// gets the rules for all databases).
    pub fn new(dialect: Dialect) -> Linter {
        Linter {
            dialect,
            schema: Schema::default(),
        }
    }

    /// The findings of one revision, which must come after the revisions it depends on;
    /// sorted by line and column.
    pub fn revision(&mut self, file: &RevisionFile) -> Vec<Finding> {
        let mut rev = Revision::default();
        let section = &file.upgrade;
        // A Rust code revision's sections hold Rust, not SQL: only the rules about the
        // revision as a whole apply to it.
        let sql = if crate::code::is_rust(file) {
            ""
        } else {
            &section.sql
        };
        for statement in split_statements(sql, self.dialect) {
            let s = Stmt::new(&statement, self.dialect);
            match self.dialect {
                Dialect::Postgres => postgres::check(&s, file, &mut self.schema, &mut rev),
                Dialect::MySql => mysql::check(&s, &mut rev),
                _ => {}
            }
            drop_or_rename(&s, &mut rev);
        }
        self.revision_rules(file, &mut rev);
        let contract = contract_phase(file);
        let allows = allow::Allows::read(file, self.dialect);
        let mut findings: Vec<Finding> = rev
            .hits
            .into_iter()
            .filter(|h| h.rule.scope.covers(self.dialect))
            .filter(|h| !(contract && h.rule.contract_allows))
            .filter_map(|h| allows.keep(file, h))
            .chain(allows.problems(file))
            .collect();
        findings.sort_by_key(|f| (f.line, f.column));
        findings
    }

    /// The rules about the revision as a whole.
    fn revision_rules(&self, file: &RevisionFile, rev: &mut Revision) {
        let whole = |rule, at: usize, statement, message: String| Hit {
            rule,
            at,
            statement,
            message,
        };
        if let Some(stmt) = rev.exclusive
            && file.lock_timeout.is_none()
        {
            let message = "this statement takes an ACCESS EXCLUSIVE lock and the revision has \
                           no `Lock Timeout` header"
                .to_owned();
            let hit = whole(&rules::MISSING_LOCK_TIMEOUT, stmt.0, Some(stmt), message);
            rev.hits.push(hit);
        }
        if let (Some(_), Some(stmt)) = (rev.ddl, rev.data) {
            let (rule, message) = match self.dialect {
                Dialect::MySql => (
                    &rules::MYSQL_DDL_WITH_DML,
                    "a data change in a revision that also holds DDL, which commits implicitly",
                ),
                _ => (
                    &rules::DDL_WITH_BULK_DML,
                    "a bulk data change in a revision that also holds DDL",
                ),
            };
            rev.hits
                .push(whole(rule, stmt.0, Some(stmt), message.to_owned()));
        }
        if file.downgrade.is_none() && !file.upgrade.is_empty() {
            let message = "the revision has no downgrade section".to_owned();
            rev.hits
                .push(whole(&rules::MISSING_DOWNGRADE, usize::MAX, None, message));
        }
    }
}

/// Whether `file` is a `Phase: contract` revision (docs/design.md §4.14), in which the rules
/// with [`Rule::contract_allows`] do not fire: the one place the lint reads the header.
fn contract_phase(file: &RevisionFile) -> bool {
    file.phase == crate::parse::Phase::Contract
}

/// Lints `files`, in the order they apply, for `dialect`.
///
/// ```
/// use revchain_core::{Dialect, lint::lint, parse::parse};
/// let file = parse("m/a1.sql", "-- t\n-- Revision ID: a1\n-- migrate:upgrade\nALTER TABLE t DROP COLUMN c;\n").unwrap();
/// let rules: Vec<&str> = lint([&file], Dialect::Postgres).iter().map(|f| f.rule).collect();
/// assert_eq!(rules, ["missing-downgrade", "missing-lock-timeout", "drop-column-or-table"]);
/// ```
pub fn lint<'a>(
    files: impl IntoIterator<Item = &'a RevisionFile>,
    dialect: Dialect,
) -> Vec<Finding> {
    let mut linter = Linter::new(dialect);
    files.into_iter().flat_map(|f| linter.revision(f)).collect()
}

/// `DROP TABLE`, `ALTER TABLE … DROP [COLUMN]`, `ALTER TABLE … RENAME`, `RENAME TABLE`:
/// changes that break the release still running, on every database. A table created in the
/// same revision is exempt.
fn drop_or_rename(s: &Stmt<'_>, rev: &mut Revision) {
    if s.starts(&["DROP", "TABLE"]) {
        let i = s.skip(2, &[&["IF", "EXISTS"]]);
        if let Some((table, _)) = s.name(i)
            && !rev.created.contains(&table)
        {
            let message = format!("DROP TABLE {table}");
            rev.hit(&rules::DROP_COLUMN_OR_TABLE, s, 0, message);
        }
        return;
    }
    if s.starts(&["RENAME", "TABLE"]) {
        let message = "RENAME TABLE".to_owned();
        rev.hit(&rules::RENAME_COLUMN_OR_TABLE, s, 0, message);
        return;
    }
    let Some((table, first)) = alter_table(s) else {
        return;
    };
    if rev.created.contains(&table) {
        return;
    }
    for part in s.parts(first) {
        let k = part.start;
        if s.is(k, "DROP") && !is_drop_of_other_thing(s, k + 1) {
            let message = format!("drops a column of {table}: {}", s.text(part.clone()));
            rev.hit(&rules::DROP_COLUMN_OR_TABLE, s, k, message);
        } else if s.is(k, "RENAME") && !s.is(k + 1, "CONSTRAINT") && !s.is(k + 1, "INDEX") {
            let message = format!("renames {table} or one of its columns: {}", s.text(part));
            rev.hit(&rules::RENAME_COLUMN_OR_TABLE, s, k, message);
        }
    }
}

/// Whether the `DROP` action whose next token is `k` drops something other than a column.
fn is_drop_of_other_thing(s: &Stmt<'_>, k: usize) -> bool {
    [
        "CONSTRAINT",
        "DEFAULT",
        "NOT",
        "INDEX",
        "KEY",
        "PRIMARY",
        "FOREIGN",
        "CHECK",
        "IDENTITY",
        "EXPRESSION",
        "PARTITION",
    ]
    .iter()
    .any(|w| s.is(k, w))
}

/// `ALTER TABLE [IF EXISTS] [ONLY] name [*]`: the table and the index of its first action.
pub(crate) fn alter_table(s: &Stmt<'_>) -> Option<(String, usize)> {
    if !s.starts(&["ALTER", "TABLE"]) {
        return None;
    }
    let i = s.skip(2, &[&["IF", "EXISTS"], &["ONLY"]]);
    let (table, mut next) = s.name(i)?;
    if s.toks.get(next).is_some_and(|t| t.is_punct("*")) {
        next += 1;
    }
    Some((table, next))
}

/// The 1-based line and column of byte `at` of `sql`, whose first line is `first_line`.
pub(crate) fn place(sql: &str, first_line: usize, at: usize) -> (usize, usize) {
    let before = sql.get(..at.min(sql.len())).unwrap_or("");
    let line = first_line + before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;
