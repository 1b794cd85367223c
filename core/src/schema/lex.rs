//! A small SQL lexer for the schema model: normalising expressions so that two spellings
//! of the same default, check or index expression compare equal, splitting lists at
//! top-level commas, quoting identifiers, and reading SQLite's stored `CREATE` statements.

use crate::split::Dialect;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An unquoted word: a keyword or an identifier.
    Word,
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`).
    Quoted,
    /// A string literal, quotes included (also PostgreSQL `$$` bodies).
    Str,
    /// A number.
    Num,
    /// Punctuation or an operator (one or two characters).
    Punct,
}

/// One token, as a slice of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    /// Whether this is the word `w` (case-insensitive).
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(w)
    }

    /// Whether this is the punctuation `p`.
    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }

    /// The identifier this token names: a word as written, a quoted identifier unquoted.
    pub fn ident(&self) -> String {
        match self.kind {
            Kind::Quoted => unquote(self.text),
            _ => self.text.to_owned(),
        }
    }
}

/// Removes the quotes of a quoted identifier (doubled closing quotes stand for one).
pub(crate) fn unquote(text: &str) -> String {
    let Some(open) = text.chars().next() else {
        return String::new();
    };
    let close = match open {
        '[' => ']',
        '"' | '`' => open,
        _ => return text.to_owned(),
    };
    let inner = &text[open.len_utf8()..];
    // An unterminated quote (the lexer runs it to the end) has no closing character.
    let inner = inner.strip_suffix(close).unwrap_or(inner);
    if close == ']' {
        inner.to_owned()
    } else {
        let pair: String = [close, close].iter().collect();
        inner.replace(&pair, &close.to_string())
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Cuts `sql` into tokens, skipping whitespace and comments. Never fails: an unterminated
/// quote runs to the end.
pub(crate) fn tokens<'a>(sql: &'a str, dialect: Dialect) -> Vec<Token<'a>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let push = |out: &mut Vec<Token<'a>>, kind, start: usize, end: usize| {
        out.push(Token {
            kind,
            text: &sql[start..end],
            start,
            end,
        });
    };
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => i += 1,
            b'-' if next == Some(b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' if dialect == Dialect::MySql => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if next == Some(b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
            }
            b'\'' => {
                let end = quoted_end(bytes, i, b'\'', dialect == Dialect::MySql);
                push(&mut out, Kind::Str, i, end);
                i = end;
            }
            b'"' if dialect == Dialect::MySql => {
                // Without ANSI_QUOTES, MySQL reads "…" as a string.
                let end = quoted_end(bytes, i, b'"', true);
                push(&mut out, Kind::Str, i, end);
                i = end;
            }
            b'"' | b'`' => {
                let end = quoted_end(bytes, i, c, false);
                push(&mut out, Kind::Quoted, i, end);
                i = end;
            }
            b'[' if dialect == Dialect::Sqlite => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b']')
                    .map_or(bytes.len(), |p| i + p + 1);
                push(&mut out, Kind::Quoted, i, end);
                i = end;
            }
            b'$' if matches!(dialect, Dialect::Postgres | Dialect::Generic)
                && dollar_end(sql, i).is_some() =>
            {
                let end = dollar_end(sql, i).unwrap_or(sql.len());
                push(&mut out, Kind::Str, i, end);
                i = end;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
                {
                    // An exponent's sign belongs to the number.
                    if matches!(bytes[i], b'e' | b'E')
                        && matches!(bytes.get(i + 1), Some(b'+' | b'-'))
                    {
                        i += 1;
                    }
                    i += 1;
                }
                push(&mut out, Kind::Num, start, i);
            }
            b'.' if next.is_some_and(|b| b.is_ascii_digit()) => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                push(&mut out, Kind::Num, start, i);
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or(' ');
                if is_ident_char(ch) {
                    let start = i;
                    while let Some(ch) = sql[i..].chars().next() {
                        if !is_ident_char(ch) {
                            break;
                        }
                        i += ch.len_utf8();
                    }
                    push(&mut out, Kind::Word, start, i);
                } else {
                    let two = sql.get(i..i + 2).unwrap_or("");
                    let len = if ["::", "<=", ">=", "<>", "!=", "||", "->", "=>"].contains(&two) {
                        if two == "->" && sql.get(i + 2..i + 3) == Some(">") {
                            3
                        } else {
                            2
                        }
                    } else {
                        ch.len_utf8()
                    };
                    push(&mut out, Kind::Punct, i, i + len);
                    i += len;
                }
            }
        }
    }
    out
}

/// The end of a quoted run that starts at `start` and closes with `close`.
fn quoted_end(bytes: &[u8], start: usize, close: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if backslash && b == b'\\' {
            i += 2;
            continue;
        }
        if b == close {
            if bytes.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The end of a PostgreSQL `$tag$ … $tag$` body starting at `start`, if one starts there.
fn dollar_end(sql: &str, start: usize) -> Option<usize> {
    let rest = &sql[start + 1..];
    let tag_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    if !rest[tag_len..].starts_with('$') || rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let delim = &sql[start..start + tag_len + 2];
    let body = start + delim.len();
    Some(
        sql[body..]
            .find(delim)
            .map_or(sql.len(), |p| body + p + delim.len()),
    )
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

/// The source text covered by a run of tokens (comments inside are kept).
pub(crate) fn span<'a>(sql: &'a str, toks: &[Token<'_>]) -> &'a str {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => sql.get(a.start..b.end).unwrap_or(""),
        _ => "",
    }
}

/// The canonical form of an SQL expression for comparisons: keywords and identifiers in
/// lower case and unquoted, literals as written, tokens separated by one space, redundant
/// outer parentheses removed.
///
/// ```
/// use revchain_core::schema::normalize_expr;
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
            Kind::Quoted => out.push_str(&unquote(t.text).to_lowercase()),
            Kind::Str | Kind::Num | Kind::Punct => out.push_str(t.text),
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
/// use revchain_core::schema::quote_ident;
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
    match dialect {
        Dialect::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// `text` as an SQL string literal.
pub(crate) fn quote_literal(text: &str, dialect: Dialect) -> String {
    let mut s = text.replace('\'', "''");
    if dialect == Dialect::MySql {
        s = s.replace('\\', "\\\\");
    }
    format!("'{s}'")
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
                (Kind::Num, "1.5e-3"),
            ]
        );
        assert_eq!(
            kinds("`a``b` [c] \"d\"", Dialect::Sqlite),
            [
                (Kind::Quoted, "`a``b`"),
                (Kind::Quoted, "[c]"),
                (Kind::Quoted, "\"d\""),
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
            let _ = crate::schema::sqlite::parse_create_table(&s);
            let _ = crate::schema::sqlite::parse_create_index(&s);
            let _ = crate::schema::types::classify(&s, "varchar(10)");
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
