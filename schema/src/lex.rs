//! A small SQL lexer for the schema model: normalising expressions so that two spellings
//! of the same default, check or index expression compare equal, splitting lists at
//! top-level commas, quoting identifiers, and reading SQLite's stored `CREATE` statements.

use revchain_core::Dialect;
use revchain_core::lex::quote_identifier;
pub(crate) use revchain_core::lex::{Token, TokenKind as Kind, quote_literal, span, unquote};

/// Operators of two or three characters that read as one token.
const OPERATORS: [&str; 9] = ["::", "<=", ">=", "<>", "!=", "||", "->", "=>", "->>"];

/// Cuts `sql` into tokens with core's tokenizer ([`revchain_core::lex`]), skipping
/// whitespace and comments, and joins the characters of an operator (`::`, `<=`, `->>`, …)
/// into one token. Never fails: an unterminated quote runs to the end.
pub(crate) fn tokens(sql: &str, dialect: Dialect) -> Vec<Token<'_>> {
    let mut out: Vec<Token<'_>> = Vec::new();
    for t in revchain_core::lex::tokens(sql, dialect) {
        if let Some(last) = out.last_mut()
            && t.kind == Kind::Punct
            && last.kind == Kind::Punct
            && last.end == t.start
            && OPERATORS.contains(&&sql[last.start..t.end])
        {
            last.end = t.end;
            last.text = &sql[last.start..t.end];
            continue;
        }
        out.push(t);
    }
    out
}

/// The index of the token that closes the bracket opened at `open` (`(` … `)`), if any.
pub(crate) fn matching_paren(toks: &[Token<'_>], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Splits `toks` at the commas that are not inside brackets.
pub(crate) fn split_commas<'t, 'a>(toks: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (k, t) in toks.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
        } else if t.is_punct(",") && depth == 0 {
            parts.push(&toks[start..k]);
            start = k + 1;
        }
    }
    if start < toks.len() {
        parts.push(&toks[start..]);
    }
    parts
}

/// The canonical form of an SQL expression for comparisons: keywords and identifiers in
/// lower case and unquoted, literals as written, tokens separated by one space, redundant
/// outer parentheses removed.
///
/// ```
/// use revchain_schema::normalize_expr;
/// use revchain_core::Dialect;
/// assert_eq!(normalize_expr("(\"Price\">0)", Dialect::Sqlite), normalize_expr("price > 0", Dialect::Sqlite));
/// assert_ne!(normalize_expr("'A'", Dialect::Postgres), normalize_expr("'a'", Dialect::Postgres));
/// ```
pub fn normalize_expr(sql: &str, dialect: Dialect) -> String {
    let toks = tokens(sql, dialect);
    let mut slice: &[Token<'_>] = &toks;
    while slice.len() >= 2
        && slice[0].is_punct("(")
        && matching_paren(slice, 0) == Some(slice.len() - 1)
    {
        slice = &slice[1..slice.len() - 1];
    }
    let mut out = String::new();
    for t in slice {
        if !out.is_empty() {
            out.push(' ');
        }
        match t.kind {
            Kind::Word => out.push_str(&t.text.to_lowercase()),
            Kind::QuotedIdent => out.push_str(&unquote(t.text).to_lowercase()),
            _ => out.push_str(t.text),
        }
    }
    out
}

/// Words that are quoted when used as identifiers (reserved in at least one dialect).
const RESERVED: &[&str] = &[
    "all",
    "alter",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "between",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "delete",
    "desc",
    "distinct",
    "do",
    "drop",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "inner",
    "insert",
    "intersect",
    "interval",
    "into",
    "is",
    "join",
    "key",
    "keys",
    "leading",
    "left",
    "like",
    "limit",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "primary",
    "range",
    "references",
    "right",
    "rows",
    "select",
    "session_user",
    "set",
    "some",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
];

/// `name` as an identifier in `dialect`: bare when it is a plain word, quoted otherwise.
///
/// ```
/// use revchain_schema::quote_ident;
/// use revchain_core::Dialect;
/// assert_eq!(quote_ident("users", Dialect::Postgres), "users");
/// assert_eq!(quote_ident("order", Dialect::Postgres), "\"order\"");
/// assert_eq!(quote_ident("Users", Dialect::Postgres), "\"Users\"");
/// assert_eq!(quote_ident("Users", Dialect::MySql), "Users");
/// assert_eq!(quote_ident("my`col", Dialect::MySql), "`my``col`");
/// ```
pub fn quote_ident(name: &str, dialect: Dialect) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && (dialect != Dialect::Postgres && dialect != Dialect::Generic
            || !name.chars().any(|c| c.is_ascii_uppercase()))
        && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
    if plain {
        return name.to_owned();
    }
    quote_identifier(dialect, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str, d: Dialect) -> Vec<(Kind, &str)> {
        tokens(sql, d).iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn lexes_quotes_numbers_and_operators() {
        assert_eq!(
            kinds("a::text >= 'it''s' -- c\n/* x */ 1.5e-3", Dialect::Postgres),
            [
                (Kind::Word, "a"),
                (Kind::Punct, "::"),
                (Kind::Word, "text"),
                (Kind::Punct, ">="),
                (Kind::Str, "'it''s'"),
                (Kind::Number, "1.5e-3"),
            ]
        );
        assert_eq!(
            kinds("`a``b` [c] \"d\"", Dialect::Sqlite),
            [
                (Kind::QuotedIdent, "`a``b`"),
                (Kind::QuotedIdent, "[c]"),
                (Kind::QuotedIdent, "\"d\""),
            ]
        );
        assert_eq!(unquote("`a``b`"), "a`b");
        assert_eq!(unquote("[c]"), "c");
        assert_eq!(unquote("\"é"), "é");
        assert_eq!(unquote("\""), "");
        assert_eq!(
            kinds("'a\\'b' \"s\"", Dialect::MySql),
            [(Kind::Str, "'a\\'b'"), (Kind::Str, "\"s\"")]
        );
        assert_eq!(
            kinds("$f$ a; $$ b $f$ x", Dialect::Postgres),
            [(Kind::Str, "$f$ a; $$ b $f$"), (Kind::Word, "x")]
        );
        // Unterminated quotes end the input instead of failing.
        assert_eq!(kinds("'abc", Dialect::Postgres), [(Kind::Str, "'abc")]);
        assert_eq!(kinds("/* abc", Dialect::Postgres), []);
    }

    /// Where this lexer once disagreed with the statement splitter, it now reads SQL as the
    /// splitter (and the database) does.
    #[test]
    fn reads_comments_and_escape_strings_as_the_splitter_does() {
        // MySQL: `--` starts a comment only before whitespace.
        assert_eq!(normalize_expr("a--1", Dialect::MySql), "a - - 1");
        assert_eq!(normalize_expr("a-- 1", Dialect::MySql), "a");
        assert_eq!(normalize_expr("a--1", Dialect::Postgres), "a");
        // PostgreSQL nests `/* */`; MySQL and SQLite end at the first `*/`.
        assert_eq!(
            normalize_expr("/* a /* b */ c */ x", Dialect::Postgres),
            "x"
        );
        assert_eq!(
            normalize_expr("/* a /* b */ c */ x", Dialect::Sqlite),
            "c * / x"
        );
        // PostgreSQL `E'…'` strings escape with backslashes.
        assert_eq!(
            kinds("E'a\\'b' || x", Dialect::Postgres),
            [
                (Kind::Str, "E'a\\'b'"),
                (Kind::Punct, "||"),
                (Kind::Word, "x")
            ]
        );
        assert_eq!(normalize_expr("E'it\\'s'", Dialect::Postgres), "E'it\\'s'");
    }

    #[test]
    fn normalises() {
        let n = |s| normalize_expr(s, Dialect::Sqlite);
        assert_eq!(n("((a  +b))"), "a + b");
        assert_eq!(n("(a) + (b)"), "( a ) + ( b )");
        assert_eq!(n("LOWER(\"Email\")"), "lower ( email )");
        assert_eq!(n(" 'X' "), "'X'");
        assert_eq!(n(""), "");
    }

    proptest::proptest! {
        /// Whatever the text (catalog output or a user's schema file), reading it never
        /// panics.
        #[test]
        fn never_panics(s in "[ -~éß€\\n]{0,48}") {
            for d in [Dialect::Generic, Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
                let toks = tokens(&s, d);
                let _ = split_commas(&toks);
                for k in 0..toks.len() {
                    let _ = matching_paren(&toks, k);
                    let _ = toks[k].ident();
                }
                let _ = normalize_expr(&s, d);
                let _ = quote_ident(&s, d);
            }
            let _ = crate::sqlite::parse_create_table(&s);
            let _ = crate::sqlite::parse_create_index(&s);
            let _ = crate::types::classify(&s, "varchar(10)");
        }
    }

    #[test]
    fn splits_at_top_level_commas() {
        let sql = "a INT, b NUMERIC(10, 2), CHECK (f(a, b))";
        let toks = tokens(sql, Dialect::Sqlite);
        let parts: Vec<&str> = split_commas(&toks)
            .into_iter()
            .map(|p| span(sql, p))
            .collect();
        assert_eq!(parts, ["a INT", "b NUMERIC(10, 2)", "CHECK (f(a, b))"]);
        let open = toks.iter().position(|t| t.is_punct("(")).unwrap();
        assert_eq!(toks[matching_paren(&toks, open).unwrap()].start, 22);
        let unclosed = tokens("f((a)", Dialect::Sqlite);
        assert_eq!(matching_paren(&unclosed, 1), None);
    }
}
