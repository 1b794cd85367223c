//! What SQLite's pragmas do not tell and its stored `CREATE` statements do: check
//! constraints, `AUTOINCREMENT`, and the parts and predicate of an index.

use super::Check;
use super::lex::{Token, matching_paren, span, split_commas, tokens};
use revchain_core::Dialect;

const D: Dialect = Dialect::Sqlite;

/// What is read from a `CREATE TABLE` statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSql {
    /// Check constraints, table-level and column-level, in order.
    pub checks: Vec<Check>,
    /// Columns declared `AUTOINCREMENT`.
    pub autoincrement: Vec<String>,
    /// The table options after the column list (`WITHOUT ROWID`, `STRICT`), upper-cased.
    pub options: Vec<String>,
}

/// What is read from a `CREATE INDEX` statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSql {
    /// The key parts as written (`email`, `lower(email)`, `created_at DESC`).
    pub parts: Vec<String>,
    /// The `WHERE` predicate.
    pub predicate: Option<String>,
}

/// The check at `toks[k]` (`CHECK`) followed by a parenthesised expression: the expression
/// and the index of the closing parenthesis.
fn check_at(sql: &str, toks: &[Token<'_>], k: usize) -> Option<(String, usize)> {
    if !toks.get(k)?.is_word("CHECK") || !toks.get(k + 1)?.is_punct("(") {
        return None;
    }
    let close = matching_paren(toks, k + 1)?;
    Some((span(sql, &toks[k + 2..close]).to_owned(), close))
}

/// Reads the check constraints and `AUTOINCREMENT` columns of a stored `CREATE TABLE`.
///
/// ```
/// use revchain_schema::sqlite::parse_create_table;
/// let t = parse_create_table("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, \
///     price NUMERIC CHECK (price > 0), CONSTRAINT ck_pos CHECK(id >= 0))");
/// assert_eq!(t.autoincrement, ["id"]);
/// assert_eq!(t.checks[0].expression, "price > 0");
/// assert_eq!(t.checks[1].name.as_deref(), Some("ck_pos"));
/// ```
pub fn parse_create_table(sql: &str) -> TableSql {
    let mut out = TableSql::default();
    let toks = tokens(sql, D);
    let Some(open) = toks.iter().position(|t| t.is_punct("(")) else {
        return out;
    };
    let Some(close) = matching_paren(&toks, open) else {
        return out;
    };
    out.options = split_commas(&toks[close + 1..])
        .into_iter()
        .map(|o| {
            o.iter()
                .map(|t| t.text.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|o| !o.is_empty())
        .collect();
    for item in split_commas(&toks[open + 1..close]) {
        let Some(first) = item.first() else {
            continue;
        };
        let is_table_constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK"]
            .iter()
            .any(|w| first.is_word(w));
        let column = (!is_table_constraint).then(|| first.ident());
        let mut k = usize::from(column.is_some());
        let mut name: Option<String> = None;
        while k < item.len() {
            let t = &item[k];
            if t.is_word("CONSTRAINT") {
                name = item.get(k + 1).map(Token::ident);
                k += 2;
                continue;
            }
            if let Some((expression, end)) = check_at(sql, item, k) {
                out.checks.push(Check {
                    name: name.take(),
                    expression,
                });
                k = end + 1;
                continue;
            }
            if t.is_word("AUTOINCREMENT")
                && let Some(c) = &column
            {
                out.autoincrement.push(c.clone());
            }
            // A constraint name belongs to the constraint right after it.
            name = None;
            if t.is_punct("(") {
                k = matching_paren(item, k).map_or(item.len(), |e| e + 1);
            } else {
                k += 1;
            }
        }
    }
    out
}

/// Reads the key parts and predicate of a stored `CREATE INDEX`.
///
/// ```
/// use revchain_schema::sqlite::parse_create_index;
/// let i = parse_create_index("CREATE INDEX ix ON t (lower(a), b DESC) WHERE b > 0").unwrap();
/// assert_eq!(i.parts, ["lower(a)", "b DESC"]);
/// assert_eq!(i.predicate.as_deref(), Some("b > 0"));
/// ```
pub fn parse_create_index(sql: &str) -> Option<IndexSql> {
    let toks = tokens(sql, D);
    let on = toks.iter().position(|t| t.is_word("ON"))?;
    let open = on + toks[on..].iter().position(|t| t.is_punct("("))?;
    let close = matching_paren(&toks, open)?;
    let parts = split_commas(&toks[open + 1..close])
        .into_iter()
        .map(|p| span(sql, p).to_owned())
        .collect();
    let rest = &toks[close + 1..];
    let predicate = match rest.first() {
        Some(w) if w.is_word("WHERE") => Some(span(sql, &rest[1..]).to_owned()),
        _ => None,
    };
    Some(IndexSql { parts, predicate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_checks_in_every_position() {
        let t = parse_create_table(
            "CREATE TABLE \"t\" (\n  a INT CONSTRAINT nn NOT NULL CHECK (a <> 0) DEFAULT (1),\n  b TEXT CONSTRAINT ck_b CHECK(length(b) < 5),\n  c NUMERIC(10, 2),\n  CHECK (a < c),\n  CONSTRAINT ck_ac CHECK ((a + c) > 0),\n  FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE\n) STRICT",
        );
        let got: Vec<(Option<&str>, &str)> = t
            .checks
            .iter()
            .map(|c| (c.name.as_deref(), c.expression.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (None, "a <> 0"),
                (Some("ck_b"), "length(b) < 5"),
                (None, "a < c"),
                (Some("ck_ac"), "(a + c) > 0"),
            ]
        );
        assert!(t.autoincrement.is_empty());
        assert_eq!(t.options, ["STRICT"]);
        let t = parse_create_table("CREATE TABLE t (a INT PRIMARY KEY) without  rowid, strict");
        assert_eq!(t.options, ["WITHOUT ROWID", "STRICT"]);
    }

    #[test]
    fn tolerates_garbage() {
        assert_eq!(parse_create_table(""), TableSql::default());
        assert_eq!(
            parse_create_table("CREATE TABLE t (a CHECK ("),
            TableSql::default()
        );
        assert!(parse_create_index("CREATE INDEX ix ON t").is_none());
        let i = parse_create_index("CREATE UNIQUE INDEX \"ix\" ON \"t\" (\"a\" COLLATE NOCASE)")
            .unwrap();
        assert_eq!(i.parts, ["\"a\" COLLATE NOCASE"]);
        assert_eq!(i.predicate, None);
    }
}
