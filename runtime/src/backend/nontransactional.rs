//! MySQL/MariaDB tables whose engine ignores transactions: MyISAM, MEMORY, Aria, CSV,
//! ARCHIVE, MERGE, FEDERATED/CONNECT… (every engine `information_schema.ENGINES` does not
//! list with `TRANSACTIONS = 'YES'`). A data-only revision that writes to one cannot be
//! rolled back: what ran before a failure or a kill stays, and running it in a transaction
//! would only make revchain report "rolled back" and run it again next time. Such a
//! revision runs the dirty-mark way instead.
//!
//! The tables a revision writes to are read from its statements: the target of `INSERT`,
//! `REPLACE` and `LOAD DATA … INTO TABLE`, every name in the table list of `UPDATE` and
//! `DELETE` (aliases and columns included: a name that is not a table matches nothing),
//! and every name in a statement of another shape (`WITH …`). What the statements do not
//! name is not seen: tables written by triggers, stored functions or procedures, and the
//! tables under a view (a view written to counts as non-transactional, since its tables
//! are not followed).

use revchain_core::Dialect;
use revchain_core::lex::{Lexer, TokenKind, unquote};
use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Row};

use crate::bookkeeping::{Work, literal};

/// A table a statement may write to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TableRef {
    /// Its database, when the statement names one (else the connection's database).
    pub schema: Option<String>,
    /// Its name.
    pub name: String,
}

/// A token of a statement, as far as finding table names needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word (keyword or identifier), as written.
    Word(String),
    /// A quoted identifier (`` `t` ``, or `"t"` under `ANSI_QUOTES`), unquoted.
    Quoted(String),
    /// `.`
    Dot,
    /// `(`
    Open,
    /// `)`
    Close,
    /// Anything else: a string, a number, an operator, a comma.
    Other,
}

impl Token {
    fn is_word(&self, upper: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(upper))
    }

    /// The identifier this token may be.
    fn identifier(&self) -> Option<&str> {
        match self {
            Token::Word(w) if !w.starts_with(|c: char| c.is_ascii_digit()) => Some(w),
            Token::Quoted(q) => Some(q),
            _ => None,
        }
    }
}

/// The text of a `"…"` token read as an identifier (under `ANSI_QUOTES`): the quotes
/// removed, a doubled quote standing for itself and a backslash escaping the next character.
fn ansi_quoted(text: &str) -> String {
    let inner = text.strip_prefix('"').unwrap_or(text);
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else if c == '"' {
            if chars.next_if_eq(&'"').is_none() {
                break;
            }
            out.push('"');
        } else {
            out.push(c);
        }
    }
    out
}

/// The tokens of one statement, read with core's tokenizer for MySQL. Comments are
/// skipped, except executable comments (`/*! … */`, `/*M!100100 … */`), whose content
/// MySQL runs and so is read.
fn tokens(sql: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for t in Lexer::new(sql, Dialect::MySql) {
        match t.kind {
            TokenKind::Whitespace => {}
            TokenKind::Comment => {
                if let Some(body) = executable_comment_body(t.text) {
                    out.extend(tokens(body));
                }
            }
            TokenKind::QuotedIdent => out.push(Token::Quoted(unquote(t.text))),
            TokenKind::Str if t.text.starts_with('"') => {
                out.push(Token::Quoted(ansi_quoted(t.text)))
            }
            TokenKind::Word | TokenKind::Number => out.push(Token::Word(t.text.to_owned())),
            _ => out.push(match t.text {
                "." => Token::Dot,
                "(" => Token::Open,
                ")" => Token::Close,
                _ => Token::Other,
            }),
        }
    }
    out
}

/// The SQL inside an executable comment (`/*!50100 … */`, `/*M!100100 … */`), without its
/// version number; `None` for an ordinary comment.
fn executable_comment_body(comment: &str) -> Option<&str> {
    let body = comment
        .strip_prefix("/*!")
        .or_else(|| comment.strip_prefix("/*M!"))?;
    let body = body.trim_start_matches(|c: char| c.is_ascii_digit());
    Some(body.strip_suffix("*/").unwrap_or(body))
}

/// The table named at `tokens[at..]` (`t` or `db.t`), and the index after it.
fn table_at(tokens: &[Token], at: usize) -> Option<(TableRef, usize)> {
    let first = tokens.get(at)?.identifier()?;
    if tokens.get(at + 1) == Some(&Token::Dot)
        && let Some(second) = tokens.get(at + 2).and_then(Token::identifier)
    {
        return Some((
            TableRef {
                schema: Some(first.to_owned()),
                name: second.to_owned(),
            },
            at + 3,
        ));
    }
    Some((
        TableRef {
            schema: None,
            name: first.to_owned(),
        },
        at + 1,
    ))
}

/// Every name in `tokens` (`db.t` read as a table of `db`; `t.c` as well, which matches
/// nothing when `t` is not a database).
fn every_name(tokens: &[Token]) -> Vec<TableRef> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        match table_at(tokens, at) {
            Some((table, next)) => {
                out.push(table);
                at = next;
            }
            None => at += 1,
        }
    }
    out
}

/// The index after the modifiers at `tokens[at..]`.
fn skip_words(tokens: &[Token], mut at: usize, words: &[&str]) -> usize {
    while tokens
        .get(at)
        .is_some_and(|t| words.iter().any(|w| t.is_word(w)))
    {
        at += 1;
    }
    at
}

/// The index of the first of `words` at parenthesis depth 0 from `at`, or the end.
fn until_word(tokens: &[Token], at: usize, words: &[&str]) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(at) {
        match t {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            _ if depth == 0 && words.iter().any(|w| t.is_word(w)) => return i,
            _ => {}
        }
    }
    tokens.len()
}

/// The tables one statement may write to (see the [module documentation](self)); none for
/// a statement that writes to no table (`SELECT`, `SET`, `DO`).
pub(crate) fn written_tables(sql: &str) -> Vec<TableRef> {
    let tokens = tokens(sql);
    let Some(Token::Word(first)) = tokens.first() else {
        return every_name(&tokens);
    };
    match first.to_ascii_uppercase().as_str() {
        "INSERT" | "REPLACE" => {
            let at = skip_words(
                &tokens,
                1,
                &["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"],
            );
            match table_at(&tokens, at) {
                Some((table, _)) => vec![table],
                None => every_name(&tokens),
            }
        }
        "UPDATE" => every_name(&tokens[1..until_word(&tokens, 1, &["SET"])]),
        "DELETE" => every_name(&tokens[1..until_word(&tokens, 1, &["WHERE", "ORDER", "LIMIT"])]),
        "LOAD" => {
            let into = (1..tokens.len()).find(|&i| {
                tokens[i].is_word("INTO") && tokens.get(i + 1).is_some_and(|t| t.is_word("TABLE"))
            });
            match into.and_then(|i| table_at(&tokens, i + 2)) {
                Some((table, _)) => vec![table],
                None => every_name(&tokens),
            }
        }
        "SELECT" | "SET" | "DO" | "VALUES" | "TABLE" => Vec::new(),
        _ => every_name(&tokens),
    }
}

/// The non-transactional tables among `tables`, as `db.table (ENGINE)`: one round trip to
/// `information_schema`. A view counts as one (its tables are not followed).
async fn engines_of(
    conn: &mut MySqlConnection,
    tables: &[TableRef],
) -> Result<Vec<String>, sqlx::Error> {
    let pairs: Vec<String> = tables
        .iter()
        .map(|t| {
            let schema = t
                .schema
                .as_deref()
                .map_or_else(|| "DATABASE()".to_owned(), |s| literal(Dialect::MySql, s));
            format!("({schema}, {})", literal(Dialect::MySql, &t.name))
        })
        .collect();
    let sql = format!(
        "SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME, ' (', COALESCE(t.ENGINE, 'a view'), ')') \
         FROM information_schema.TABLES t \
         LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE \
         WHERE (t.TABLE_SCHEMA, t.TABLE_NAME) IN ({}) \
         AND (t.ENGINE IS NULL OR COALESCE(e.TRANSACTIONS, 'NO') <> 'YES') \
         ORDER BY 1",
        pairs.join(", ")
    );
    let rows = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(conn).await?;
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}

/// The tables that `statements` may write to, each once.
fn written_by<'s>(statements: impl IntoIterator<Item = &'s str>) -> Vec<TableRef> {
    let mut tables: Vec<TableRef> = Vec::new();
    for stmt in statements {
        for t in written_tables(stmt) {
            if !tables.contains(&t) {
                tables.push(t);
            }
        }
    }
    tables
}

/// The non-transactional tables that the statements of any of `works` (a group that would
/// share one transaction) may write to: one round trip for them all. It logs nothing: the
/// caller then applies the group's revisions one by one, and each that writes to such a
/// table says so ([`non_transactional_targets`]).
pub(crate) async fn group_non_transactional_targets(
    conn: &mut MySqlConnection,
    works: &[Work<'_>],
) -> Result<Vec<String>, sqlx::Error> {
    let statements = works
        .iter()
        .flat_map(|w| revchain_core::split_statements(w.sql(), Dialect::MySql))
        .collect::<Vec<_>>();
    let tables = written_by(statements.iter().map(|s| s.sql));
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    engines_of(conn, &tables).await
}

/// The non-transactional tables that the statements of `work` may write to (empty when
/// they name none); logs a warning naming them, since such a revision cannot be atomic.
pub(crate) async fn non_transactional_targets(
    conn: &mut MySqlConnection,
    work: &Work<'_>,
    statements: &[(String, usize)],
) -> Result<Vec<String>, sqlx::Error> {
    let tables = written_by(statements.iter().map(|(stmt, _)| stmt.as_str()));
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let found = engines_of(conn, &tables).await?;
    if !found.is_empty() {
        tracing::warn!(
            target: "revchain",
            "revision {} writes to {}, whose engine ignores transactions: it cannot be rolled \
             back, so it runs marked dirty (a failure or a kill part-way leaves it marked, for \
             you to repair and `stamp`, instead of running it again)",
            work.revision.id(),
            found.join(", ")
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        written_tables(sql)
            .into_iter()
            .map(|t| match t.schema {
                Some(s) => format!("{s}.{}", t.name),
                None => t.name,
            })
            .collect()
    }

    #[test]
    fn targets_of_data_statements() {
        assert_eq!(names("INSERT INTO t VALUES (1)"), ["t"]);
        assert_eq!(
            names("insert low_priority ignore into `my t` (a) select a from u"),
            ["my t"]
        );
        assert_eq!(names("INSERT d.t SET a = 1"), ["d.t"]);
        assert_eq!(names("REPLACE INTO \"q\"\"t\" VALUES (1)"), ["q\"t"]);
        assert_eq!(names("INSERT /*! IGNORE */ INTO t2 VALUES (1)"), ["t2"]);
        assert_eq!(
            names("-- c\nINSERT # c\n INTO /* c */ t3 VALUES ('INTO x')"),
            ["t3"]
        );
        assert_eq!(names("UPDATE t SET a = (SELECT b FROM u)"), ["t"]);
        assert_eq!(
            names("UPDATE a JOIN d.b ON a.id = b.id SET a.x = 1"),
            ["a", "JOIN", "d.b", "ON", "a.id", "b.id"]
        );
        assert_eq!(
            names("DELETE FROM t WHERE id IN (SELECT id FROM u)"),
            ["FROM", "t"]
        );
        assert_eq!(
            names("DELETE t1 FROM t1 JOIN t2 USING (id)"),
            ["t1", "FROM", "t1", "JOIN", "t2", "USING", "id"]
        );
        assert_eq!(names("LOAD DATA INFILE 'f' INTO TABLE d.t"), ["d.t"]);
        assert!(names("SELECT * FROM t").is_empty());
        assert!(names("SET @a = 1").is_empty());
        assert!(names("WITH x AS (SELECT 1) UPDATE t SET a = 1").contains(&"t".to_owned()));
        assert!(names("'unterminated").is_empty());
    }
}
