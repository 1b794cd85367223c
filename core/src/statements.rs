//! Statements a revision may not hold, in one place for the parser (with
//! [`Dialect::Generic`], the union of the databases' rules) and the runtime (with the real
//! database's dialect, before a plan starts):
//!
//! - in a transactional revision, **transaction control** (`BEGIN`, `COMMIT`, `ROLLBACK`,
//!   `END`, `ABORT`, `START TRANSACTION`, `PREPARE TRANSACTION`, `XA …`,
//!   `SET autocommit`, MySQL's `LOCK TABLES`, a `RELEASE` or `ROLLBACK TO` of a savepoint
//!   the section did not declare, …): it would end the transaction that revchain runs the
//!   revision and its bookkeeping in, so that the revision could be recorded as applied
//!   with its work discarded, or reported as rolled back with part of it committed;
//! - in a transactional revision, statements that **cannot run inside a transaction
//!   block** (`CREATE INDEX CONCURRENTLY`, `VACUUM`, `CREATE DATABASE`, `ALTER SYSTEM`, …);
//! - anywhere, the mysql client's **`DELIMITER`** command, which is not SQL.
//!
//! ```
//! use revchain_core::statements::refused_statement;
//! use revchain_core::Dialect;
//! let r = refused_statement("INSERT INTO t VALUES (1);\nCOMMIT;", Dialect::Generic, true).unwrap();
//! assert_eq!((r.line, r.statement), (2, "COMMIT"));
//! assert!(refused_statement("INSERT INTO t VALUES (1);\nCOMMIT;", Dialect::Generic, false).is_none());
//! ```

use std::collections::HashSet;
use std::fmt;

use crate::lex::{Lexer, TokenKind, span, tokens, unquote};
use crate::split::{Dialect, Statement, split_statements};

/// A statement that a revision may not hold, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The 1-based line of the statement within the checked text.
    pub line: usize,
    /// The statement's kind, as written in messages (`COMMIT`, `CREATE INDEX CONCURRENTLY`).
    pub statement: &'static str,
    /// Why it is refused.
    pub why: Why,
}

/// Why a statement is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Why {
    /// It starts, ends or leaves the transaction a transactional revision runs in.
    TransactionControl,
    /// The database refuses to run it inside a transaction block.
    NoTransactionBlock,
    /// The mysql client's `DELIMITER`, which is not SQL.
    Delimiter,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.statement;
        match self.why {
            Why::TransactionControl => write!(
                f,
                "`{s}` in a transactional revision: revchain runs the revision and its \
                 bookkeeping in one transaction, which `{s}` would end or escape, so the \
                 revision could be recorded as applied while its work was discarded, or \
                 reported as rolled back while part of it committed; remove it, or write \
                 `-- Transactional: false` in the header to run the revision outside a \
                 transaction"
            ),
            Why::NoTransactionBlock => write!(
                f,
                "`{s}` cannot run inside a transaction block, and this revision runs in one; \
                 write `-- Transactional: false` in the header to run it outside a transaction"
            ),
            Why::Delimiter => write!(
                f,
                "`DELIMITER` is a command of the mysql client, not SQL, and revchain does not \
                 run it; delete the `DELIMITER` lines and end every statement with `;`, \
                 including the `END` of a procedure, function, trigger or event (revchain \
                 keeps `BEGIN … END` bodies whole)"
            ),
        }
    }
}

/// The first statement of `sql` that a revision may not hold, for `dialect`:
/// transaction control and statements that cannot run in a transaction block when
/// `transactional`, `DELIMITER` always.
pub fn refused_statement(sql: &str, dialect: Dialect, transactional: bool) -> Option<Refusal> {
    refused_among(&split_statements(sql, dialect), dialect, transactional)
}

/// [`refused_statement`] for SQL already split into `statements` (with `dialect`'s rules),
/// for a caller that needs the statements too and splits once.
///
/// ```
/// use revchain_core::split::split_statements;
/// use revchain_core::statements::refused_among;
/// use revchain_core::Dialect;
/// let statements = split_statements("CREATE TABLE t (a INT);\nCOMMIT;", Dialect::Postgres);
/// assert_eq!(refused_among(&statements, Dialect::Postgres, true).unwrap().line, 2);
/// ```
pub fn refused_among(
    statements: &[Statement<'_>],
    dialect: Dialect,
    transactional: bool,
) -> Option<Refusal> {
    let mut savepoints = HashSet::new();
    statements.iter().find_map(|s| {
        let words = leading_words(s.sql, dialect);
        let (statement, why) = classify(&words, dialect, &mut savepoints)?;
        (transactional || why == Why::Delimiter).then_some(Refusal {
            line: s.line,
            statement,
            why,
        })
    })
}

/// A token at the start of a statement: an upper-cased word, or a quoted name (its text
/// between the quotes), or any other character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Bare(String),
    Quoted(String),
    Other(char),
}

impl Word {
    fn is(&self, keyword: &str) -> bool {
        matches!(self, Word::Bare(w) if w == keyword)
    }

    /// A savepoint's name as the database compares it.
    fn name(&self) -> Option<String> {
        match self {
            Word::Bare(w) => Some(w.clone()),
            Word::Quoted(q) => Some(q.clone()),
            Word::Other(_) => None,
        }
    }
}

/// The first tokens of a statement (enough to classify it), comments skipped.
fn leading_words(sql: &str, dialect: Dialect) -> Vec<Word> {
    const ENOUGH: usize = 12;
    Lexer::new(sql, dialect)
        .filter(|t| !t.is_trivia())
        .take(ENOUGH)
        .map(|t| match t.kind {
            TokenKind::Word | TokenKind::Number => Word::Bare(t.text.to_ascii_uppercase()),
            TokenKind::QuotedIdent => Word::Quoted(unquote(t.text)),
            TokenKind::Str => Word::Quoted(string_body(t.text).to_owned()),
            _ => Word::Other(t.text.chars().next().unwrap_or(' ')),
        })
        .collect()
}

/// The text between the quotes of a string literal token (`E'…'`, `'…'`, `"…"`, `$$…$$`),
/// escapes left as written.
fn string_body(text: &str) -> &str {
    let text = text.strip_prefix(['E', 'e']).unwrap_or(text);
    let Some(open) = text.chars().next() else {
        return "";
    };
    if open == '$' {
        let tag = text[1..].find('$').map_or(text.len(), |n| n + 2);
        let body = text.get(tag..).unwrap_or("");
        return body
            .strip_suffix(&text[..tag.min(text.len())])
            .unwrap_or(body);
    }
    let body = &text[open.len_utf8()..];
    body.strip_suffix(open).unwrap_or(body)
}

/// Every `COPY … FROM STDIN` (or `PSTDIN`) and `COPY … TO STDOUT` (or `PSTDOUT`) statement
/// of `sql`: its 1-based line and its text up to the `STDIN`/`STDOUT`. Nothing can feed or
/// read the copy protocol while a revision runs, so such a statement would block forever.
/// Statements are found by core's splitter and read as tokens, so `COPY` in a string, a
/// comment or a `$$` body is not mistaken for one.
///
/// ```
/// use revchain_core::statements::copy_through_stdio;
/// let found = copy_through_stdio("SELECT 'copy t from stdin';\nCOPY t FROM STDIN;");
/// assert_eq!(found, [(2, "COPY t FROM STDIN".to_owned())]);
/// ```
pub fn copy_through_stdio(sql: &str) -> Vec<(usize, String)> {
    let mentions_copy = sql
        .as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"copy"));
    if !mentions_copy {
        return Vec::new();
    }
    split_statements(sql, Dialect::Postgres)
        .into_iter()
        .filter_map(|statement| {
            let shown = copy_stdio_clause(statement.sql)?;
            Some((statement.line, shown.to_owned()))
        })
        .collect()
}

/// The text of a `COPY` statement up to its top-level `FROM STDIN`/`TO STDOUT`, if it has one.
fn copy_stdio_clause(sql: &str) -> Option<&str> {
    let tokens = tokens(sql, Dialect::Postgres);
    if !tokens.first().is_some_and(|t| t.is_word("copy")) {
        return None;
    }
    let mut depth = 0usize;
    for (k, pair) in tokens.windows(2).enumerate() {
        let (word, target) = (&pair[0], &pair[1]);
        if word.is_punct("(") {
            depth += 1;
        } else if word.is_punct(")") {
            depth = depth.saturating_sub(1);
        }
        let ends = if word.is_word("from") {
            ["stdin", "pstdin"]
        } else if word.is_word("to") {
            ["stdout", "pstdout"]
        } else {
            continue;
        };
        if depth == 0 && ends.iter().any(|w| target.is_word(w)) {
            return Some(span(sql, &tokens[..k + 2]));
        }
    }
    None
}

/// What a statement is, from its first words: `None` when a revision may hold it.
/// `savepoints` collects the names declared by `SAVEPOINT` so far.
fn classify(
    w: &[Word],
    dialect: Dialect,
    savepoints: &mut HashSet<String>,
) -> Option<(&'static str, Why)> {
    use Why::{Delimiter, NoTransactionBlock as NoBlock, TransactionControl as Tx};
    let pg = matches!(dialect, Dialect::Postgres | Dialect::Generic);
    let mysql = matches!(dialect, Dialect::MySql | Dialect::Generic);
    let sqlite = matches!(dialect, Dialect::Sqlite | Dialect::Generic);
    let at = |k: usize, keyword: &str| w.get(k).is_some_and(|x| x.is(keyword));
    // The word after optional noise words such as `WORK`, `TRANSACTION`, `SAVEPOINT`.
    let after = |from: usize, noise: &[&str]| {
        let mut k = from;
        while noise.iter().any(|n| at(k, n)) {
            k += 1;
        }
        k
    };
    let first = w.first()?;
    let Word::Bare(first) = first else {
        return None;
    };
    match first.as_str() {
        "BEGIN" if mysql && at(1, "NOT") => None,
        "BEGIN" => Some(("BEGIN", Tx)),
        "START" if at(1, "TRANSACTION") => Some(("START TRANSACTION", Tx)),
        "COMMIT" if at(1, "PREPARED") => Some(("COMMIT PREPARED", Tx)),
        "COMMIT" => Some(("COMMIT", Tx)),
        "END" if pg || sqlite => Some(("END", Tx)),
        "ABORT" if pg => Some(("ABORT", Tx)),
        "ROLLBACK" if at(1, "PREPARED") => Some(("ROLLBACK PREPARED", Tx)),
        "ROLLBACK" => {
            let to = after(1, &["WORK", "TRANSACTION"]);
            if !at(to, "TO") {
                return Some(("ROLLBACK", Tx));
            }
            let name = w.get(after(to + 1, &["SAVEPOINT"])).and_then(Word::name);
            (!name.is_some_and(|n| savepoints.contains(&n)))
                .then_some(("ROLLBACK TO a savepoint this revision did not declare", Tx))
        }
        "SAVEPOINT" => {
            if let Some(name) = w.get(1).and_then(Word::name) {
                savepoints.insert(name);
            }
            None
        }
        "RELEASE" => {
            let name = w.get(after(1, &["SAVEPOINT"])).and_then(Word::name);
            (!name.is_some_and(|n| savepoints.contains(&n)))
                .then_some(("RELEASE of a savepoint this revision did not declare", Tx))
        }
        "PREPARE" if at(1, "TRANSACTION") => Some(("PREPARE TRANSACTION", Tx)),
        "XA" if mysql => Some(("XA", Tx)),
        "SET" if mysql && w.iter().any(|x| x.is("AUTOCOMMIT")) => Some(("SET autocommit", Tx)),
        "LOCK" if dialect == Dialect::MySql || at(1, "TABLES") => Some(("LOCK TABLES", Tx)),
        "UNLOCK" if mysql => Some(("UNLOCK TABLES", Tx)),
        "DELIMITER" if dialect != Dialect::Postgres => Some(("DELIMITER", Delimiter)),
        "VACUUM" if pg || sqlite => Some(("VACUUM", NoBlock)),
        _ if pg => no_transaction_block(first, w).map(|s| (s, NoBlock)),
        _ => None,
    }
}

/// PostgreSQL statements that cannot run inside a transaction block (besides `VACUUM`).
fn no_transaction_block(first: &str, w: &[Word]) -> Option<&'static str> {
    let at = |k: usize, keyword: &str| w.get(k).is_some_and(|x| x.is(keyword));
    let has = |keyword: &str| w.iter().any(|x| x.is(keyword));
    match first {
        "CREATE" | "DROP" => {
            let object = if at(1, "UNIQUE") { 2 } else { 1 };
            if at(object, "INDEX") && at(object + 1, "CONCURRENTLY") {
                Some(if first == "CREATE" {
                    "CREATE INDEX CONCURRENTLY"
                } else {
                    "DROP INDEX CONCURRENTLY"
                })
            } else if at(1, "DATABASE") {
                Some(if first == "CREATE" {
                    "CREATE DATABASE"
                } else {
                    "DROP DATABASE"
                })
            } else if at(1, "TABLESPACE") {
                Some(if first == "CREATE" {
                    "CREATE TABLESPACE"
                } else {
                    "DROP TABLESPACE"
                })
            } else {
                None
            }
        }
        "REINDEX" if has("CONCURRENTLY") => Some("REINDEX CONCURRENTLY"),
        "REINDEX" if has("DATABASE") || has("SYSTEM") => Some("REINDEX DATABASE"),
        "ALTER" if at(1, "SYSTEM") => Some("ALTER SYSTEM"),
        "ALTER" if at(1, "DATABASE") && has("TABLESPACE") => {
            Some("ALTER DATABASE … SET TABLESPACE")
        }
        "CLUSTER" if w.len() == 1 => Some("CLUSTER"),
        "DISCARD" if at(1, "ALL") => Some("DISCARD ALL"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str, d: Dialect) -> Option<&'static str> {
        refused_statement(sql, d, true).map(|r| r.statement)
    }

    /// An unclosed quote before a multi-byte character once sliced inside it.
    #[test]
    fn unclosed_quotes_before_multibyte_text_do_not_panic() {
        for d in [
            Dialect::Generic,
            Dialect::Postgres,
            Dialect::MySql,
            Dialect::Sqlite,
        ] {
            for sql in ["x'a  xé", "\"é", "`ü", "[ß", "COMMIT 'é"] {
                let _ = refused_statement(sql, d, true);
            }
        }
    }

    proptest::proptest! {
        /// No text, however broken, makes the checks panic (they run on every file).
        #[test]
        fn any_text_is_checked_without_panic(sql in "(?s)[ -~\t\né'\"`\\[\\];$#/*-]{0,80}") {
            for d in [Dialect::Generic, Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
                let _ = refused_statement(&sql, d, true);
            }
        }
    }

    #[test]
    fn transaction_control_is_refused() {
        for (sql, statement) in [
            ("BEGIN", "BEGIN"),
            ("begin;", "BEGIN"),
            ("BEGIN TRANSACTION", "BEGIN"),
            ("BEGIN WORK", "BEGIN"),
            ("BEGIN IMMEDIATE TRANSACTION", "BEGIN"),
            ("BEGIN EXCLUSIVE", "BEGIN"),
            ("BEGIN ISOLATION LEVEL SERIALIZABLE", "BEGIN"),
            ("START TRANSACTION READ ONLY", "START TRANSACTION"),
            ("COMMIT", "COMMIT"),
            ("commit work", "COMMIT"),
            ("COMMIT AND CHAIN", "COMMIT"),
            ("COMMIT /* x */ TRANSACTION", "COMMIT"),
            ("END", "END"),
            ("END TRANSACTION", "END"),
            ("ABORT", "ABORT"),
            ("ROLLBACK", "ROLLBACK"),
            ("ROLLBACK WORK AND NO CHAIN", "ROLLBACK"),
            ("ROLLBACK TRANSACTION", "ROLLBACK"),
            ("PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION"),
            ("COMMIT PREPARED 'x'", "COMMIT PREPARED"),
            ("ROLLBACK PREPARED 'x'", "ROLLBACK PREPARED"),
            ("XA START 'x'", "XA"),
            ("SET autocommit = 1", "SET autocommit"),
            ("SET @@session.autocommit = 0", "SET autocommit"),
            ("SET sql_mode = '', AUTOCOMMIT = 1", "SET autocommit"),
            ("LOCK TABLES t WRITE", "LOCK TABLES"),
            ("UNLOCK TABLES", "UNLOCK TABLES"),
            (
                "RELEASE SAVEPOINT x",
                "RELEASE of a savepoint this revision did not declare",
            ),
            (
                "ROLLBACK TO SAVEPOINT x",
                "ROLLBACK TO a savepoint this revision did not declare",
            ),
        ] {
            let text = format!("CREATE TABLE a (id INT);\n-- note\n{sql};\nSELECT 1;");
            let r =
                refused_statement(&text, Dialect::Generic, true).unwrap_or_else(|| panic!("{sql}"));
            assert_eq!(
                (r.line, r.statement, r.why),
                (3, statement, Why::TransactionControl),
                "{sql}"
            );
            assert_eq!(
                refused_statement(&text, Dialect::Generic, false),
                None,
                "{sql}"
            );
        }
    }

    #[test]
    fn savepoints_declared_in_the_section_are_fine() {
        let sql = "SAVEPOINT a;\nINSERT INTO t VALUES (1);\nROLLBACK TO SAVEPOINT a;\nROLLBACK WORK TO a;\nRELEASE SAVEPOINT a;\nSAVEPOINT \"B\";\nRELEASE \"B\";";
        for d in [
            Dialect::Generic,
            Dialect::Postgres,
            Dialect::MySql,
            Dialect::Sqlite,
        ] {
            assert_eq!(refused(sql, d), None, "{d:?}");
        }
    }

    #[test]
    fn look_alikes_are_not_refused() {
        for sql in [
            "CREATE TABLE begin (commit INT, rollback INT, \"end\" INT)",
            "INSERT INTO t (a) VALUES ('COMMIT; BEGIN')",
            "-- COMMIT\nSELECT 1",
            "/* ROLLBACK; */ SELECT 1",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
            "CREATE PROCEDURE p() BEGIN START TRANSACTION; COMMIT; END",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END",
            "BEGIN NOT ATOMIC SELECT 1; END",
            "DO $$ BEGIN PERFORM 1; END $$",
            "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
            "SET search_path = public",
            "CREATE INDEX i ON t (a)",
            "DROP INDEX i",
            "ANALYZE t",
            "REINDEX TABLE t",
            "CLUSTER t USING i",
            "PREPARE s FROM 'SELECT 1'",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        ] {
            assert_eq!(refused(sql, Dialect::Generic), None, "{sql}");
        }
        // PostgreSQL's LOCK TABLE is fine in a transaction; MySQL's commits it.
        assert_eq!(
            refused("LOCK TABLE t WRITE", Dialect::MySql),
            Some("LOCK TABLES")
        );
        // `END` is not a MySQL statement; `BEGIN NOT ATOMIC` is a PostgreSQL BEGIN.
        assert_eq!(refused("END", Dialect::MySql), None);
    }

    #[test]
    fn statements_outside_transaction_blocks_are_refused() {
        for (sql, statement) in [
            (
                "CREATE INDEX CONCURRENTLY i ON t (a)",
                "CREATE INDEX CONCURRENTLY",
            ),
            (
                "create unique index concurrently i on t (a)",
                "CREATE INDEX CONCURRENTLY",
            ),
            (
                "DROP INDEX CONCURRENTLY IF EXISTS i",
                "DROP INDEX CONCURRENTLY",
            ),
            ("REINDEX INDEX CONCURRENTLY i", "REINDEX CONCURRENTLY"),
            (
                "REINDEX (VERBOSE) TABLE CONCURRENTLY t",
                "REINDEX CONCURRENTLY",
            ),
            ("REINDEX DATABASE d", "REINDEX DATABASE"),
            ("REINDEX SYSTEM", "REINDEX DATABASE"),
            ("CREATE DATABASE d", "CREATE DATABASE"),
            ("DROP DATABASE d", "DROP DATABASE"),
            ("CREATE TABLESPACE s LOCATION '/x'", "CREATE TABLESPACE"),
            ("DROP TABLESPACE s", "DROP TABLESPACE"),
            ("ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM"),
            (
                "ALTER DATABASE d SET TABLESPACE s",
                "ALTER DATABASE … SET TABLESPACE",
            ),
            ("VACUUM", "VACUUM"),
            ("VACUUM (ANALYZE) t", "VACUUM"),
            ("CLUSTER", "CLUSTER"),
            ("DISCARD ALL", "DISCARD ALL"),
        ] {
            let r =
                refused_statement(sql, Dialect::Generic, true).unwrap_or_else(|| panic!("{sql}"));
            assert_eq!(
                (r.statement, r.why),
                (statement, Why::NoTransactionBlock),
                "{sql}"
            );
            assert_eq!(refused_statement(sql, Dialect::Postgres, false), None);
        }
        assert_eq!(refused("VACUUM", Dialect::Sqlite), Some("VACUUM"));
        assert_eq!(refused("CREATE DATABASE d", Dialect::MySql), None);
    }

    #[test]
    fn delimiter_is_refused_everywhere() {
        let sql = "CREATE TABLE t (a INT);\nDELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\nDELIMITER ;\n";
        for transactional in [true, false] {
            let r = refused_statement(sql, Dialect::Generic, transactional).expect("refused");
            assert_eq!(
                (r.line, r.statement, r.why),
                (2, "DELIMITER", Why::Delimiter)
            );
            let r = refused_statement(sql, Dialect::MySql, transactional).expect("refused");
            assert_eq!(r.line, 2);
        }
        assert!(
            refused_statement(sql, Dialect::Generic, true)
                .unwrap()
                .to_string()
                .contains("end every statement with `;`")
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        let r = refused_statement("COMMIT", Dialect::Generic, true).unwrap();
        assert!(r.to_string().contains("`-- Transactional: false`"), "{r}");
        let r = refused_statement(
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            Dialect::Postgres,
            true,
        )
        .unwrap();
        assert!(
            r.to_string()
                .starts_with("`CREATE INDEX CONCURRENTLY` cannot run inside a transaction block"),
            "{r}"
        );
    }

    /// The parser refuses them with the file line, in both sections, and accepts them in a
    /// `Transactional: false` revision.
    #[test]
    fn parse_refuses_with_file_and_line() {
        let file = |extra: &str, up: &str, down: &str| {
            format!(
                "-- r\n-- Revision ID: a1\n-- Revises:\n{extra}\n-- migrate:upgrade\nCREATE TABLE t (id INT);\n{up}\n\n-- migrate:downgrade\n{down}\nDROP TABLE t;\n"
            )
        };
        let errors = crate::parse::parse("m/a1.sql", &file("", "COMMIT;", "BEGIN;")).unwrap_err();
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(
            texts[0].starts_with("m/a1.sql:7: `COMMIT` in a transactional revision"),
            "{texts:?}"
        );
        assert!(
            texts[1].starts_with("m/a1.sql:10: `BEGIN` in a transactional revision"),
            "{texts:?}"
        );
        assert!(
            crate::parse::parse(
                "m/a1.sql",
                &file("-- Transactional: false", "COMMIT;", "BEGIN;")
            )
            .is_ok()
        );
        let errors = crate::parse::parse(
            "m/a1.sql",
            &file("-- Transactional: false", "DELIMITER //", ""),
        )
        .unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("m/a1.sql:7: `DELIMITER` is a command of the mysql client"),
            "{errors:?}"
        );
        let errors = crate::parse::parse(
            "m/a1.sql",
            &file("", "CREATE INDEX CONCURRENTLY i ON t (id);", ""),
        )
        .unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("m/a1.sql:7: `CREATE INDEX CONCURRENTLY` cannot run"),
            "{errors:?}"
        );
    }

    use proptest::prelude::*;

    /// Each refused form, as words, with the name the refusal gives it.
    const FORMS: [(&[&str], &str); 12] = [
        (&["commit"], "COMMIT"),
        (&["commit", "and", "chain"], "COMMIT"),
        (&["rollback", "work"], "ROLLBACK"),
        (&["begin", "transaction"], "BEGIN"),
        (&["begin", "immediate"], "BEGIN"),
        (&["start", "transaction"], "START TRANSACTION"),
        (&["end", "work"], "END"),
        (&["abort"], "ABORT"),
        (&["prepare", "transaction", "'x'"], "PREPARE TRANSACTION"),
        (&["set", "autocommit", "=", "1"], "SET autocommit"),
        (
            &["create", "index", "concurrently", "i", "on", "t", "(a)"],
            "CREATE INDEX CONCURRENTLY",
        ),
        (&["vacuum"], "VACUUM"),
    ];

    fn spelled(word: &str, case: u8) -> String {
        match case % 3 {
            0 => word.to_ascii_uppercase(),
            1 => word.to_owned(),
            _ => word
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
        }
    }

    proptest! {
        /// Any spelling of a refused form (case, comments and line breaks between its
        /// words), after any number of harmless statements, is refused at its own line, and
        /// accepted in a `Transactional: false` revision.
        #[test]
        fn every_spelling_is_refused_at_its_line(
            form in 0..FORMS.len(),
            before in 0..4usize,
            cases in proptest::collection::vec(any::<u8>(), 8),
            gaps in proptest::collection::vec(0..5usize, 8),
        ) {
            const GAPS: [&str; 5] = [" ", "\t", " /* c; */ ", " -- c;\n", "\n  "];
            let (words, statement) = FORMS[form];
            let mut sql = "SELECT 'x;' AS begin, \"end\" FROM event;\n".repeat(before);
            for (k, w) in words.iter().enumerate() {
                if k > 0 {
                    sql.push_str(GAPS[gaps[k]]);
                }
                sql.push_str(&spelled(w, cases[k]));
            }
            sql.push_str(";\nSELECT 1;");
            let r = refused_statement(&sql, Dialect::Generic, true);
            prop_assert_eq!(r.as_ref().map(|r| (r.line, r.statement)), Some((before + 1, statement)), "{}", sql);
            prop_assert_eq!(refused_statement(&sql, Dialect::Generic, false), None);
        }
    }
}
