//! The statement splitter (DESIGN.md §4): cuts SQL text at the `;` that end statements,
//! never inside quotes, comments, `$tag$` bodies or `BEGIN … END` blocks of routines.
//!
//! It is used to run non-transactional revisions one statement at a time, to run revisions
//! on databases that take one statement per call, and to report the line of a failed
//! statement.

/// The SQL dialect, which decides a few lexical rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Accepts the union of the rules below (backslashes do not escape); used where the
    /// database is not known, such as deciding whether a section is empty.
    Generic,
    /// PostgreSQL: `$tag$` bodies, `E'…'` strings with backslash escapes, nested `/* */`.
    Postgres,
    /// MySQL and MariaDB: backslash escapes in strings, backticks, `#` comments, `-- ` comments
    /// only when a space follows.
    MySql,
    /// SQLite: backticks and `[brackets]` quote identifiers.
    Sqlite,
}

/// One statement cut out of a larger text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement, from its first token to the character before its `;` (trailing
    /// whitespace trimmed). Comments inside it are kept.
    pub sql: &'a str,
    /// The 1-based line of the statement's first token within the input.
    pub line: usize,
    /// The byte offset of the statement's first token within the input.
    pub offset: usize,
}

/// Splits `sql` into statements.
///
/// ```
/// use revchain_core::split::{split_statements, Dialect};
/// let sql = "CREATE TABLE t (a TEXT DEFAULT ';');\n-- a comment; still a comment\nINSERT INTO t VALUES ('x;y');\n";
/// let stmts = split_statements(sql, Dialect::Postgres);
/// assert_eq!(stmts.len(), 2);
/// assert_eq!(stmts[1].sql, "INSERT INTO t VALUES ('x;y')");
/// assert_eq!(stmts[1].line, 3);
/// ```
pub fn split_statements(sql: &str, dialect: Dialect) -> Vec<Statement<'_>> {
    Splitter::new(sql, dialect).run()
}

/// Whether `sql` holds at least one statement (anything but whitespace, comments and `;`).
///
/// ```
/// use revchain_core::split::{has_statement, Dialect};
/// assert!(!has_statement("  -- nothing\n/* here; */ ;", Dialect::Generic));
/// assert!(has_statement("-- one\nSELECT 1", Dialect::Generic));
/// ```
pub fn has_statement(sql: &str, dialect: Dialect) -> bool {
    Splitter::new(sql, dialect).first_token().is_some()
}

struct Splitter<'a> {
    src: &'a [u8],
    text: &'a str,
    dialect: Dialect,
    pos: usize,
    line: usize,
    out: Vec<Statement<'a>>,
}

/// What is known about the statement being read.
#[derive(Default)]
struct Current {
    start: Option<(usize, usize)>,
    kind: Kind,
    /// `BEGIN`/`CASE` blocks open inside a routine.
    depth: usize,
    /// The previous word was `END` (so `END IF` and friends do not close a block).
    after_end: bool,
}

/// Whether the statement defines a routine, whose body may hold `;`.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No word read yet.
    #[default]
    Unknown,
    /// A `CREATE` statement; holds how many words were read.
    Looking(u8),
    /// Not a routine: `;` ends it wherever it stands outside quotes and comments.
    Plain,
    /// A trigger, function, procedure or event: `;` inside `BEGIN … END` does not end it.
    Routine,
}

const ROUTINE_WORDS: [&str; 4] = ["TRIGGER", "FUNCTION", "PROCEDURE", "EVENT"];

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl<'a> Splitter<'a> {
    fn new(sql: &'a str, dialect: Dialect) -> Splitter<'a> {
        Splitter {
            src: sql.as_bytes(),
            text: sql,
            dialect,
            pos: 0,
            line: 1,
            out: Vec::new(),
        }
    }

    /// Skips whitespace, comments and empty statements; the offset of the first token.
    fn first_token(mut self) -> Option<usize> {
        while let Some(c) = self.peek(0) {
            match c {
                b'-' if self.peek(1) == Some(b'-') && self.dash_comment_allowed() => {
                    self.skip_line()
                }
                b'#' if self.dialect == Dialect::MySql => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment(),
                b';' => self.bump(),
                c if c.is_ascii_whitespace() => self.bump(),
                _ => return Some(self.pos),
            }
        }
        None
    }

    fn peek(&self, k: usize) -> Option<u8> {
        self.src.get(self.pos + k).copied()
    }

    /// Advances one byte, counting lines.
    fn bump(&mut self) {
        if self.src.get(self.pos) == Some(&b'\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    fn run(mut self) -> Vec<Statement<'a>> {
        let mut cur = Current::default();
        while let Some(c) = self.peek(0) {
            match c {
                b'-' if self.peek(1) == Some(b'-') && self.dash_comment_allowed() => {
                    self.skip_line()
                }
                b'#' if self.dialect == Dialect::MySql => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment(),
                b';' if cur.depth == 0 => {
                    self.finish(&cur, self.pos);
                    cur = Current::default();
                    self.bump();
                }
                c if c.is_ascii_whitespace() => self.bump(),
                _ => {
                    if cur.start.is_none() {
                        cur.start = Some((self.pos, self.line));
                    }
                    self.token(&mut cur);
                }
            }
        }
        self.finish(&cur, self.src.len());
        self.out
    }

    fn dash_comment_allowed(&self) -> bool {
        // MySQL needs whitespace (or the end) after `--`.
        self.dialect != Dialect::MySql || self.peek(2).is_none_or(|b| b.is_ascii_whitespace())
    }

    fn finish(&mut self, cur: &Current, end: usize) {
        if let Some((start, line)) = cur.start {
            let sql = self.text[start..end].trim_end();
            if !sql.is_empty() {
                self.out.push(Statement {
                    sql,
                    line,
                    offset: start,
                });
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == b'\n' {
                break;
            }
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) {
        let nested = matches!(self.dialect, Dialect::Postgres | Dialect::Generic);
        self.bump();
        self.bump();
        let mut depth = 1usize;
        while let Some(c) = self.peek(0) {
            if c == b'*' && self.peek(1) == Some(b'/') {
                self.bump();
                self.bump();
                depth -= 1;
                if depth == 0 {
                    return;
                }
            } else if nested && c == b'/' && self.peek(1) == Some(b'*') {
                self.bump();
                self.bump();
                depth += 1;
            } else {
                self.bump();
            }
        }
    }

    /// Skips a quoted run that ends with `close`; a doubled `close` stands for itself, and a
    /// backslash escapes the next byte when `backslash` is set.
    fn skip_quoted(&mut self, close: u8, backslash: bool) {
        self.bump();
        while let Some(c) = self.peek(0) {
            if backslash && c == b'\\' {
                self.bump();
                if self.peek(0).is_some() {
                    self.bump();
                }
            } else if c == close {
                self.bump();
                if self.peek(0) == Some(close) && close != b']' {
                    self.bump();
                } else {
                    return;
                }
            } else {
                self.bump();
            }
        }
    }

    /// At a `$`: skips a dollar-quoted body if one starts here, and says whether it did.
    fn try_dollar_quote(&mut self) -> bool {
        let rest = &self.src[self.pos + 1..];
        let tag_len = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80))
            .unwrap_or(rest.len());
        if rest.get(tag_len) != Some(&b'$') || rest.first().is_some_and(u8::is_ascii_digit) {
            return false;
        }
        let delim_len = tag_len + 2;
        let delim = &self.src[self.pos..self.pos + delim_len];
        let body_start = self.pos + delim_len;
        let close = self.src[body_start..]
            .windows(delim_len)
            .position(|w| w == delim)
            .map_or(self.src.len(), |p| body_start + p + delim_len);
        while self.pos < close {
            self.bump();
        }
        true
    }

    /// Reads one token of a statement: a quoted run, a word, or one other byte.
    fn token(&mut self, cur: &mut Current) {
        let c = self.src[self.pos];
        let prev_is_ident = self.pos > 0 && is_ident_byte(self.src[self.pos - 1]);
        match c {
            b'\'' => {
                let escape_string = self.dialect == Dialect::MySql
                    || (matches!(self.dialect, Dialect::Postgres)
                        && self.pos > 0
                        && matches!(self.src[self.pos - 1], b'e' | b'E')
                        && (self.pos < 2 || !is_ident_byte(self.src[self.pos - 2])));
                self.skip_quoted(b'\'', escape_string);
            }
            b'"' => self.skip_quoted(b'"', self.dialect == Dialect::MySql),
            b'`' if self.dialect != Dialect::Postgres => self.skip_quoted(b'`', false),
            b'[' if self.dialect == Dialect::Sqlite => self.skip_quoted(b']', false),
            b'$' if !prev_is_ident
                && matches!(self.dialect, Dialect::Postgres | Dialect::Generic)
                && self.try_dollar_quote() => {}
            c if is_ident_byte(c) && !prev_is_ident => {
                let start = self.pos;
                while self.peek(0).is_some_and(is_ident_byte) {
                    self.bump();
                }
                self.word(cur, &self.text[start..self.pos]);
            }
            _ => self.bump(),
        }
    }

    fn word(&self, cur: &mut Current, word: &str) {
        match cur.kind {
            Kind::Plain => return,
            Kind::Unknown => {
                cur.kind = if word.eq_ignore_ascii_case("CREATE") {
                    Kind::Looking(1)
                } else {
                    Kind::Plain
                };
                return;
            }
            Kind::Looking(n) => {
                cur.kind = if ROUTINE_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w)) {
                    Kind::Routine
                } else if n >= 8 {
                    Kind::Plain
                } else {
                    Kind::Looking(n + 1)
                };
                return;
            }
            Kind::Routine => {}
        }
        let after_end = std::mem::take(&mut cur.after_end);
        if word.eq_ignore_ascii_case("BEGIN") || word.eq_ignore_ascii_case("CASE") {
            // `END CASE` closes the CASE that was counted; it opens nothing.
            if !(after_end && word.eq_ignore_ascii_case("CASE")) {
                cur.depth += 1;
            }
        } else if word.eq_ignore_ascii_case("END") {
            cur.depth = cur.depth.saturating_sub(1);
            cur.after_end = true;
        } else if after_end
            && ["IF", "LOOP", "WHILE", "REPEAT", "FOR"]
                .iter()
                .any(|w| word.eq_ignore_ascii_case(w))
        {
            // `END IF` closed a block that was never counted: give back the decrement.
            cur.depth += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str, d: Dialect) -> Vec<&str> {
        split_statements(sql, d)
            .into_iter()
            .map(|s| s.sql)
            .collect()
    }

    #[test]
    fn basics_and_lines() {
        let sql = "\n\nSELECT 1;SELECT 2;\n  -- c\n/* x; */ SELECT\n 3 ;  \n";
        let s = split_statements(sql, Dialect::Generic);
        assert_eq!(
            s.iter().map(|s| s.sql).collect::<Vec<_>>(),
            ["SELECT 1", "SELECT 2", "SELECT\n 3"]
        );
        assert_eq!(s.iter().map(|s| s.line).collect::<Vec<_>>(), [3, 3, 5]);
        assert_eq!(&sql[s[2].offset..s[2].offset + 6], "SELECT");
    }

    #[test]
    fn no_trailing_semicolon_and_empty() {
        assert_eq!(texts("SELECT 1", Dialect::Postgres), ["SELECT 1"]);
        assert!(
            texts(
                "  -- only a comment\n/* and ; this */ ;;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn quotes() {
        assert_eq!(
            texts("SELECT 'a;''b';SELECT \"x;\"\"y\"", Dialect::Postgres),
            ["SELECT 'a;''b'", "SELECT \"x;\"\"y\""]
        );
        assert_eq!(
            texts("SELECT 'a\\';b';SELECT 2", Dialect::MySql),
            ["SELECT 'a\\';b'", "SELECT 2"]
        );
        // Without E, a PostgreSQL backslash is an ordinary character.
        assert_eq!(
            texts("SELECT 'a\\';SELECT 2", Dialect::Postgres),
            ["SELECT 'a\\'", "SELECT 2"]
        );
        assert_eq!(
            texts("SELECT E'a\\';b';SELECT 2", Dialect::Postgres),
            ["SELECT E'a\\';b'", "SELECT 2"]
        );
        assert_eq!(
            texts("SELECT `a;b` FROM t;SELECT 2", Dialect::MySql),
            ["SELECT `a;b` FROM t", "SELECT 2"]
        );
        assert_eq!(
            texts("SELECT [a;b] FROM t;SELECT 2", Dialect::Sqlite),
            ["SELECT [a;b] FROM t", "SELECT 2"]
        );
        // Brackets are arrays in PostgreSQL.
        assert_eq!(
            texts("SELECT a[1];SELECT 2", Dialect::Postgres),
            ["SELECT a[1]", "SELECT 2"]
        );
    }

    #[test]
    fn dollar_quotes() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nCREATE FUNCTION g() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;\nSELECT $1, a$b$ FROM t;";
        let s = texts(sql, Dialect::Postgres);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[1].ends_with("LANGUAGE plpgsql"));
        assert_eq!(s[2], "SELECT $1, a$b$ FROM t");
        // An unterminated body runs to the end instead of failing.
        assert_eq!(
            texts("SELECT $$ a; b", Dialect::Postgres),
            ["SELECT $$ a; b"]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            texts("SELECT 1 -- x;\n;SELECT 2", Dialect::Postgres),
            ["SELECT 1 -- x;", "SELECT 2"]
        );
        assert_eq!(
            texts("SELECT /* a /* b; */ c; */ 1;SELECT 2", Dialect::Postgres),
            ["SELECT /* a /* b; */ c; */ 1", "SELECT 2"]
        );
        assert_eq!(
            texts("SELECT 1 # x;\n;SELECT 2", Dialect::MySql),
            ["SELECT 1 # x;", "SELECT 2"]
        );
        // `--x` is not a comment in MySQL.
        assert_eq!(
            texts("SELECT 1--1;SELECT 2", Dialect::MySql),
            ["SELECT 1--1", "SELECT 2"]
        );
    }

    #[test]
    fn trigger_bodies() {
        let sqlite = "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; INSERT INTO c VALUES (CASE WHEN 1 THEN 2 END); END;\nSELECT 1;";
        assert_eq!(texts(sqlite, Dialect::Sqlite).len(), 2);
        let mysql = "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; WHILE 0 DO SELECT 2; END WHILE; CASE 1 WHEN 1 THEN SELECT 3; END CASE; END;\nSELECT 4;";
        let s = texts(mysql, Dialect::MySql);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[1], "SELECT 4");
        // Transactions are not blocks.
        assert_eq!(
            texts("BEGIN; SELECT 1; END;", Dialect::Postgres),
            ["BEGIN", "SELECT 1", "END"]
        );
        let pg = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;SELECT 3";
        assert_eq!(texts(pg, Dialect::Postgres).len(), 2);
    }

    #[test]
    fn utf8_is_kept_whole() {
        assert_eq!(
            texts("SELECT 'é;ü';SELECT 'ß'", Dialect::Generic),
            ["SELECT 'é;ü'", "SELECT 'ß'"]
        );
    }
}
