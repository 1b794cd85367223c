//! Offline mode (`upgrade START:END --sql`): the reviewable SQL script of a plan, with the
//! same statements and bookkeeping the runtime would execute.

use std::fmt::Write as _;

use revchain_core::lex::{Lexer, TokenKind};
use revchain_core::{Dialect, Direction, Plan, split_statements};

use crate::bookkeeping::{Tables, Work};
use crate::embedded::Migrations;

/// Renders `plan` as a script for `dialect`: one `BEGIN`/`COMMIT` block per transactional
/// revision, non-transactional revisions outside any transaction, each statement followed
/// by a blank line, `-- Running …` comments as Alembic writes them.
///
/// The script is meant for the database's own client (`psql`, `mysql`/`mariadb`,
/// `sqlite3`) and is written so that each of them reads every statement as the online
/// path runs it: see [`write_statement`].
pub(crate) fn script(
    m: &Migrations,
    tables: &Tables,
    dialect: Dialect,
    plan: &Plan,
    create_tables: bool,
) -> String {
    let mut out = String::new();
    let stmt = |out: &mut String, s: &str| write_statement(out, s, dialect);
    if create_tables {
        for s in tables.create(dialect) {
            stmt(&mut out, &s);
        }
        // A log table created before the stored-downgrade columns gets them (on PostgreSQL;
        // elsewhere a locked run of the binary adds them).
        if let Some(s) = tables.add_stored_columns_offline(dialect) {
            stmt(&mut out, &s);
        }
    }
    let (before, after) = crate::repeatable::offline(m, tables, dialect, plan);
    write_blocks(&mut out, &before, dialect);
    let revs: Vec<_> = m.iter().collect();
    for step in &plan.steps {
        let rev = revs[step.revision];
        if rev.is_rust() {
            // The honest end of the script: what follows needs the Rust code run first.
            write_code_stop(&mut out, rev, plan.direction);
            break;
        }
        let work = Work {
            revision: rev,
            direction: plan.direction,
            remove_heads: step.remove_heads.iter().map(|&h| revs[h].id()).collect(),
            add_heads: step
                .add_heads
                .iter()
                .map(|&h| (revs[h].id(), revs[h].chain_digest()))
                .collect(),
            traits: Default::default(),
        };
        let (from, to) = match plan.direction {
            Direction::Upgrade => (
                rev.parents().collect::<Vec<_>>().join(", "),
                rev.id().to_owned(),
            ),
            Direction::Downgrade => (
                rev.id().to_owned(),
                rev.parents().collect::<Vec<_>>().join(", "),
            ),
        };
        let _ = write!(
            out,
            "-- Running {} {from} -> {to}, {}",
            plan.direction,
            rev.message()
        );
        if !rev.is_transactional() {
            out.push_str(" (outside a transaction)");
        }
        out.push_str("\n\n");
        if rev.is_transactional() {
            stmt(&mut out, "BEGIN");
        }
        for s in split_statements(work.sql(), dialect) {
            stmt(&mut out, s.sql);
        }
        for s in tables.step_bookkeeping(dialect, &work, "0") {
            stmt(&mut out, &s);
        }
        if rev.is_transactional() {
            stmt(&mut out, "COMMIT");
        }
    }
    write_blocks(&mut out, &after, dialect);
    out
}

/// Writes the repeatable revisions' blocks (docs/design.md §4.10).
fn write_blocks(out: &mut String, blocks: &[crate::repeatable::OfflineBlock], dialect: Dialect) {
    for block in blocks {
        let _ = write!(out, "{}\n\n", block.comment);
        if block.transactional {
            write_statement(out, "BEGIN", dialect);
        }
        for s in &block.statements {
            write_statement(out, s, dialect);
        }
        if block.transactional {
            write_statement(out, "COMMIT", dialect);
        }
    }
}

/// The comment block that ends a script at Rust code revision `rev` (docs/design.md §4.8):
/// the script holds neither its code nor its bookkeeping, nor anything planned after it.
fn write_code_stop(out: &mut String, rev: &crate::embedded::Revision, direction: Direction) {
    let id = rev.id();
    let _ = write!(
        out,
        "-- revision {id} ({path}) is Rust code, which this script does not contain.\n\
         -- The script stops here: neither {id} nor anything planned after it is in it.\n\
         -- Run {id} with your application's `migrate {direction} {id}` command (the binary\n\
         -- that embeds `revchain::migrations!`), then write the rest of the plan with\n\
         -- `--sql {id}:<target>`.\n",
        path = rev.path(),
    );
    tracing::warn!(
        target: "revchain",
        "the script stops before revision {id}: it is Rust code, which an SQL script cannot hold"
    );
}

/// Writes one statement and its terminator so that the database's client ends it exactly
/// there:
///
/// - a statement whose last line holds a line comment (`-- note`, and `# note` for MySQL)
///   gets its `;` on a line of its own, where no comment can swallow it;
/// - for MySQL, a statement that holds a `;` (a routine, trigger or event body) is wrapped
///   in `DELIMITER`, because the `mysql` client cuts statements at every `;` outside quotes
///   and does not know `BEGIN … END` (psql knows `$$` bodies and sqlite3 trigger bodies, so
///   they need nothing).
fn write_statement(out: &mut String, sql: &str, dialect: Dialect) {
    let sql = sql.trim_end().trim_end_matches(';').trim_end();
    if dialect == Dialect::MySql && sql.contains(';') {
        let delimiter = ["$$", "//", "$$$", "#!#"]
            .into_iter()
            .find(|d| !sql.contains(d))
            .unwrap_or("$revchain$");
        let _ = write!(
            out,
            "DELIMITER {delimiter}\n{sql}\n{delimiter}\nDELIMITER ;\n\n"
        );
        return;
    }
    let comment_at_end = Lexer::new(sql, dialect)
        .filter(|t| t.kind != TokenKind::Whitespace)
        .last()
        .is_some_and(|t| t.kind == TokenKind::Comment && !t.text.starts_with("/*"));
    let terminator = if comment_at_end { "\n;" } else { ";" };
    let _ = write!(out, "{sql}{terminator}\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(sql: &str, dialect: Dialect) -> String {
        let mut out = String::new();
        write_statement(&mut out, sql, dialect);
        out
    }

    #[test]
    fn a_statement_that_ends_in_a_comment_gets_its_semicolon_on_its_own_line() {
        assert_eq!(
            written("CREATE TABLE a (id INT) -- note", Dialect::Postgres),
            "CREATE TABLE a (id INT) -- note\n;\n\n"
        );
        assert_eq!(
            written("CREATE TABLE a (id INT) # note", Dialect::MySql),
            "CREATE TABLE a (id INT) # note\n;\n\n"
        );
        assert_eq!(
            written("CREATE TABLE a (id INT)", Dialect::Sqlite),
            "CREATE TABLE a (id INT);\n\n"
        );
    }

    #[test]
    fn a_mysql_body_with_semicolons_is_wrapped_in_delimiter() {
        let body = "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND -- done";
        assert_eq!(
            written(body, Dialect::MySql),
            format!("DELIMITER $$\n{body}\n$$\nDELIMITER ;\n\n")
        );
        let dollars = "CREATE PROCEDURE p() BEGIN SELECT '$$'; END";
        assert!(written(dollars, Dialect::MySql).starts_with("DELIMITER //\n"));
        // psql and sqlite3 know their bodies.
        let trigger = "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END";
        assert_eq!(written(trigger, Dialect::Sqlite), format!("{trigger};\n\n"));
    }
}
