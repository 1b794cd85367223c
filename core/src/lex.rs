//! The one SQL tokenizer, shared by the statement splitter ([`crate::split`]), the refused
//! statements ([`crate::statements`]), the schema crate's expression reader and the
//! runtime's reading of MySQL statements, so that they all agree on where a string, a
//! quoted identifier or a comment starts and ends.
//!
//! The dialect decides a few lexical rules:
//!
//! | rule                                   | Generic | Postgres | MySql | Sqlite |
//! |----------------------------------------|---------|----------|-------|--------|
//! | `--` comment needs whitespace after it | no      | no       | yes   | no     |
//! | `#` comment                            | no      | no       | yes   | no     |
//! | `/* */` nests                          | yes     | yes      | no    | no     |
//! | `E'…'` with backslash escapes          | no      | yes      | —     | no     |
//! | backslash escapes in every string      | no      | no       | yes   | no     |
//! | `"…"` is a string, not an identifier   | no      | no       | yes   | no     |
//! | `` `…` `` quotes an identifier         | yes     | no       | yes   | yes    |
//! | `[…]` quotes an identifier             | no      | no       | no    | yes    |
//! | `$tag$ … $tag$` bodies                 | yes     | yes      | no    | no     |
//!
//! ```
//! use revchain_core::lex::{TokenKind, tokens};
//! use revchain_core::Dialect;
//! let toks = tokens("SELECT E'it\\'s' -- done", Dialect::Postgres);
//! assert_eq!(toks.len(), 2);
//! assert_eq!((toks[1].kind, toks[1].text), (TokenKind::Str, "E'it\\'s'"));
//! // In MySQL `--` starts a comment only when whitespace follows.
//! assert_eq!(tokens("1--2", Dialect::MySql).len(), 4);
//! ```

use crate::split::Dialect;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKind {
    /// Spaces, tabs, line breaks.
    Whitespace,
    /// A `--`, `#` or `/* */` comment, delimiters included.
    Comment,
    /// An unquoted word: a keyword or an identifier (non-ASCII letters and `$` included).
    Word,
    /// A number (`1`, `1.5e-3`, `.5`).
    Number,
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`), quotes included.
    QuotedIdent,
    /// A string literal, quotes included: `'…'`, `E'…'`, MySQL `"…"`, PostgreSQL
    /// `$tag$ … $tag$` bodies.
    Str,
    /// One character of punctuation or operator, except `:=`, which is one token.
    Punct,
}

/// One token: its kind and its place in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: TokenKind,
    /// Its text, delimiters included.
    pub text: &'a str,
    /// Its first byte in the input.
    pub start: usize,
    /// The byte after its last.
    pub end: usize,
    /// `false` for a quote, comment or `$tag$` body that runs to the end of the input
    /// without being closed.
    pub closed: bool,
}

impl Token<'_> {
    /// Whether this is the word `w` (case-insensitive).
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(w)
    }

    /// Whether this is the punctuation `p`.
    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == TokenKind::Punct && self.text == p
    }

    /// Whether this token is whitespace or a comment.
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, TokenKind::Whitespace | TokenKind::Comment)
    }

    /// The identifier this token names: a word as written, a quoted identifier unquoted.
    ///
    /// ```
    /// use revchain_core::lex::tokens;
    /// use revchain_core::Dialect;
    /// let toks = tokens("`a``b` [c] d", Dialect::Sqlite);
    /// let names: Vec<String> = toks.iter().map(|t| t.ident()).collect();
    /// assert_eq!(names, ["a`b", "c", "d"]);
    /// ```
    pub fn ident(&self) -> String {
        match self.kind {
            TokenKind::QuotedIdent => unquote(self.text),
            _ => self.text.to_owned(),
        }
    }
}

/// Removes the quotes of a quoted identifier (doubled closing quotes stand for one); other
/// text is returned as it is.
///
/// ```
/// use revchain_core::lex::unquote;
/// assert_eq!(unquote("\"a\"\"b\""), "a\"b");
/// assert_eq!(unquote("[c]"), "c");
/// assert_eq!(unquote("plain"), "plain");
/// ```
pub fn unquote(text: &str) -> String {
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

/// `text` as an SQL string literal of `dialect`, the one place revchain quotes a literal:
/// quotes doubled; in MySQL backslashes doubled too (they escape there); in PostgreSQL a
/// text with a backslash becomes an `E'…'` string with the backslashes doubled, which means
/// the same whatever `standard_conforming_strings` says.
///
/// ```
/// use revchain_core::lex::quote_literal;
/// use revchain_core::Dialect;
/// assert_eq!(quote_literal(Dialect::Postgres, "it's"), "'it''s'");
/// assert_eq!(quote_literal(Dialect::Postgres, "a\\b"), "E'a\\\\b'");
/// assert_eq!(quote_literal(Dialect::MySql, "a\\b"), "'a\\\\b'");
/// assert_eq!(quote_literal(Dialect::Sqlite, "a\\b"), "'a\\b'");
/// ```
pub fn quote_literal(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Postgres if text.contains('\\') => {
            format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
        }
        Dialect::MySql => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''")),
        _ => format!("'{}'", text.replace('\'', "''")),
    }
}

/// `name` as a quoted identifier of `dialect` (backticks for MySQL, double quotes
/// otherwise), the quote doubled inside; the one place revchain quotes an identifier.
///
/// ```
/// use revchain_core::lex::quote_identifier;
/// use revchain_core::Dialect;
/// assert_eq!(quote_identifier(Dialect::Postgres, "Users"), "\"Users\"");
/// assert_eq!(quote_identifier(Dialect::MySql, "my`col"), "`my``col`");
/// ```
pub fn quote_identifier(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// Whether `c` may continue an unquoted word (any non-ASCII character may: PostgreSQL,
/// MySQL and SQLite all accept them in identifiers).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// The tokens of `sql`, whitespace and comments included: concatenated, their texts are
/// `sql`. Never fails: an unterminated quote or comment runs to the end (`closed` false).
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    sql: &'a str,
    dialect: Dialect,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `sql`.
    ///
    /// ```
    /// use revchain_core::lex::{Lexer, TokenKind};
    /// use revchain_core::Dialect;
    /// let kinds: Vec<TokenKind> = Lexer::new("a /* b */", Dialect::Postgres).map(|t| t.kind).collect();
    /// assert_eq!(kinds, [TokenKind::Word, TokenKind::Whitespace, TokenKind::Comment]);
    /// ```
    pub fn new(sql: &'a str, dialect: Dialect) -> Lexer<'a> {
        Lexer {
            sql,
            dialect,
            pos: 0,
        }
    }

    fn byte(&self, k: usize) -> Option<u8> {
        self.sql.as_bytes().get(self.pos + k).copied()
    }

    /// The kind and end of the token at `self.pos`, and whether it is closed.
    fn token_at_pos(&self) -> (TokenKind, usize, bool) {
        let (c, next) = (self.sql.as_bytes()[self.pos], self.byte(1));
        let mysql = self.dialect == Dialect::MySql;
        let nests = matches!(self.dialect, Dialect::Postgres | Dialect::Generic);
        match c {
            c if c.is_ascii_whitespace() => {
                let len = self.sql[self.pos..]
                    .find(|c: char| !c.is_ascii_whitespace())
                    .unwrap_or(self.sql.len() - self.pos);
                (TokenKind::Whitespace, self.pos + len, true)
            }
            b'-' if next == Some(b'-')
                && (!mysql || self.byte(2).is_none_or(|b| b.is_ascii_whitespace())) =>
            {
                (TokenKind::Comment, self.line_end(), true)
            }
            b'#' if mysql => (TokenKind::Comment, self.line_end(), true),
            b'/' if next == Some(b'*') => {
                let (end, closed) = self.block_comment_end(nests);
                (TokenKind::Comment, end, closed)
            }
            b'\'' => self.quoted(TokenKind::Str, self.pos, b'\'', mysql),
            b'"' if mysql => self.quoted(TokenKind::Str, self.pos, b'"', true),
            b'"' => self.quoted(TokenKind::QuotedIdent, self.pos, b'"', false),
            b'`' if self.dialect != Dialect::Postgres => {
                self.quoted(TokenKind::QuotedIdent, self.pos, b'`', false)
            }
            b'[' if self.dialect == Dialect::Sqlite => {
                self.quoted(TokenKind::QuotedIdent, self.pos, b']', false)
            }
            b'e' | b'E' if next == Some(b'\'') && self.dialect == Dialect::Postgres => {
                self.quoted(TokenKind::Str, self.pos + 1, b'\'', true)
            }
            b'$' if nests && self.dollar_end().is_some() => {
                let (end, closed) = self.dollar_end().unwrap_or((self.sql.len(), false));
                (TokenKind::Str, end, closed)
            }
            b'0'..=b'9' => (TokenKind::Number, self.number_end(self.pos), true),
            b'.' if next.is_some_and(|b| b.is_ascii_digit()) => {
                (TokenKind::Number, self.number_end(self.pos + 1), true)
            }
            b':' if next == Some(b'=') => (TokenKind::Punct, self.pos + 2, true),
            _ => self.word_or_punct(),
        }
    }

    fn word_or_punct(&self) -> (TokenKind, usize, bool) {
        let rest = &self.sql[self.pos..];
        let first = rest.chars().next().unwrap_or(' ');
        if is_word_char(first) {
            let len = rest.find(|c| !is_word_char(c)).unwrap_or(rest.len());
            (TokenKind::Word, self.pos + len, true)
        } else {
            (TokenKind::Punct, self.pos + first.len_utf8(), true)
        }
    }

    fn line_end(&self) -> usize {
        self.sql[self.pos..]
            .find('\n')
            .map_or(self.sql.len(), |n| self.pos + n)
    }

    /// The end of the `/* */` comment at `self.pos`.
    fn block_comment_end(&self, nests: bool) -> (usize, bool) {
        let bytes = self.sql.as_bytes();
        let (mut i, mut depth) = (self.pos + 2, 1usize);
        while i < bytes.len() {
            if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                i += 2;
                depth -= 1;
                if depth == 0 {
                    return (i, true);
                }
            } else if nests && bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                i += 2;
                depth += 1;
            } else {
                i += 1;
            }
        }
        (bytes.len(), false)
    }

    /// A quoted run whose opening quote is at `open` and that closes with `close`; a doubled
    /// `close` stands for itself (not `]`), and a backslash escapes when `backslash`.
    fn quoted(
        &self,
        kind: TokenKind,
        open: usize,
        close: u8,
        backslash: bool,
    ) -> (TokenKind, usize, bool) {
        let bytes = self.sql.as_bytes();
        let mut i = open + 1;
        while i < bytes.len() {
            let b = bytes[i];
            let escaped = backslash && b == b'\\';
            let doubled = b == close && close != b']' && bytes.get(i + 1) == Some(&close);
            if escaped || doubled {
                i += 2;
            } else if b == close {
                return (kind, i + 1, true);
            } else {
                i += 1;
            }
        }
        // A trailing backslash may have stepped past the end; stay on a character boundary.
        (kind, bytes.len(), false)
    }

    /// The end of a `$tag$ … $tag$` body at `self.pos`, if one starts there.
    fn dollar_end(&self) -> Option<(usize, bool)> {
        let rest = &self.sql[self.pos + 1..];
        let tag_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()))
            .unwrap_or(rest.len());
        if !rest[tag_len..].starts_with('$') || rest.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let delim = &self.sql[self.pos..self.pos + tag_len + 2];
        let body = self.pos + delim.len();
        Some(match self.sql[body..].find(delim) {
            Some(p) => (body + p + delim.len(), true),
            None => (self.sql.len(), false),
        })
    }

    /// The end of a number whose digits start at `from`.
    fn number_end(&self, from: usize) -> usize {
        let bytes = self.sql.as_bytes();
        let mut i = from;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
        {
            // An exponent's sign belongs to the number.
            if matches!(bytes[i], b'e' | b'E') && matches!(bytes.get(i + 1), Some(b'+' | b'-')) {
                i += 1;
            }
            i += 1;
        }
        i.min(bytes.len())
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if self.pos >= self.sql.len() {
            return None;
        }
        let (kind, end, closed) = self.token_at_pos();
        let end = end.min(self.sql.len());
        let start = self.pos;
        self.pos = end;
        Some(Token {
            kind,
            text: &self.sql[start..end],
            start,
            end,
            closed,
        })
    }
}

/// The tokens of `sql` that are neither whitespace nor comments.
///
/// ```
/// use revchain_core::lex::tokens;
/// use revchain_core::Dialect;
/// let texts: Vec<&str> = tokens("a::text /* x */ >= 'y'", Dialect::Postgres).iter().map(|t| t.text).collect();
/// assert_eq!(texts, ["a", ":", ":", "text", ">", "=", "'y'"]);
/// ```
pub fn tokens(sql: &str, dialect: Dialect) -> Vec<Token<'_>> {
    Lexer::new(sql, dialect)
        .filter(|t| !t.is_trivia())
        .collect()
}

/// The source text covered by a run of tokens (comments inside are kept).
pub fn span<'a>(sql: &'a str, toks: &[Token<'_>]) -> &'a str {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => sql.get(a.start..b.end).unwrap_or(""),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str, d: Dialect) -> Vec<(TokenKind, &str)> {
        Lexer::new(sql, d).map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn literals() {
        assert_eq!(quote_literal(Dialect::Postgres, "it's"), "'it''s'");
        assert_eq!(quote_literal(Dialect::Postgres, "a\\b'"), "E'a\\\\b'''");
        assert_eq!(quote_literal(Dialect::MySql, "a\\b'"), "'a\\\\b'''");
        assert_eq!(quote_literal(Dialect::Sqlite, "a\\b'"), "'a\\b'''");
    }

    #[test]
    fn mysql_dash_comment_needs_whitespace() {
        use TokenKind::*;
        assert_eq!(
            kinds("1--2", Dialect::MySql),
            [(Number, "1"), (Punct, "-"), (Punct, "-"), (Number, "2")]
        );
        assert_eq!(
            kinds("1-- 2", Dialect::MySql),
            [(Number, "1"), (Comment, "-- 2")]
        );
        assert_eq!(
            kinds("1--", Dialect::MySql),
            [(Number, "1"), (Comment, "--")]
        );
        assert_eq!(
            kinds("1--2", Dialect::Postgres),
            [(Number, "1"), (Comment, "--2")]
        );
    }

    #[test]
    fn block_comments_nest_only_in_postgres() {
        let sql = "/* a /* b */ c */ d";
        assert_eq!(
            kinds(sql, Dialect::Postgres)[0],
            (TokenKind::Comment, "/* a /* b */ c */")
        );
        assert_eq!(
            kinds(sql, Dialect::MySql)[0],
            (TokenKind::Comment, "/* a /* b */")
        );
        assert_eq!(
            kinds(sql, Dialect::Sqlite)[0],
            (TokenKind::Comment, "/* a /* b */")
        );
        let open = Lexer::new("/* a /* b */", Dialect::Postgres)
            .next()
            .unwrap();
        assert!(!open.closed);
    }

    #[test]
    fn escape_strings_only_in_postgres() {
        let sql = r"E'a\'b' x";
        assert_eq!(
            kinds(sql, Dialect::Postgres)[0],
            (TokenKind::Str, r"E'a\'b'")
        );
        assert_eq!(
            kinds(sql, Dialect::Sqlite)[..2],
            [(TokenKind::Word, "E"), (TokenKind::Str, r"'a\'")]
        );
        // A word ending in e is not a prefix.
        assert_eq!(
            kinds("me'x'", Dialect::Postgres)[0],
            (TokenKind::Word, "me")
        );
    }

    #[test]
    fn quotes_dollars_and_unterminated_runs() {
        use TokenKind::*;
        assert_eq!(
            kinds("$f$ a; $$ b $f$ x$y$ $1", Dialect::Postgres)
                .into_iter()
                .filter(|(k, _)| *k != Whitespace)
                .collect::<Vec<_>>(),
            [(Str, "$f$ a; $$ b $f$"), (Word, "x$y$"), (Word, "$1")]
        );
        assert_eq!(
            kinds("'a\\'b' \"s\"", Dialect::MySql),
            [(Str, "'a\\'b'"), (Whitespace, " "), (Str, "\"s\"")]
        );
        assert_eq!(kinds("`a` [b]", Dialect::Postgres)[0], (Punct, "`"));
        let t = Lexer::new("'ab\\", Dialect::MySql).next().unwrap();
        assert_eq!((t.text, t.closed), ("'ab\\", false));
        assert_eq!(kinds("a:=b", Dialect::MySql)[1], (Punct, ":="));
    }

    proptest::proptest! {
        /// The tokens cover the input exactly, on character boundaries, whatever the text.
        #[test]
        fn tokens_cover_the_input(s in "(?s)[ -~\t\néß€'\"`\\[\\]$#/*\\\\-]{0,64}") {
            for d in [Dialect::Generic, Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
                let joined: String = Lexer::new(&s, d).map(|t| t.text).collect();
                proptest::prop_assert_eq!(&joined, &s);
            }
        }
    }
}
