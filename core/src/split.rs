//! The statement splitter (docs/design.md §4): cuts SQL text at the `;` that end statements,
//! never inside quotes, comments, `$tag$` bodies or `BEGIN … END` blocks of routines.
//!
//! It is used to run non-transactional revisions one statement at a time, to run revisions
//! on databases that take one statement per call, and to report the line of a failed
//! statement. It reads SQL with core's one tokenizer ([`crate::lex`]).

use crate::lex::{Lexer, Token, TokenKind};

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

/// The statements of a text, and whether the splitter is sure of every cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// The statements, in order.
    pub statements: Vec<Statement<'a>>,
    /// The first reason to doubt the cuts, if any; `None` when every cut follows the
    /// dialect's grammar as the splitter knows it.
    pub doubt: Option<Doubt>,
}

/// Why the splitter cannot be sure where statements end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doubt {
    /// The 1-based line (within the input) where the doubt arises.
    pub line: usize,
    /// What the splitter did not understand.
    pub reason: &'static str,
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
    split_statements_checked(sql, dialect).statements
}

/// Splits `sql` into statements and says whether every cut is certain: an unterminated
/// quote, comment or block, a block keyword where the grammar has none, a MySQL executable
/// comment or a `DELIMITER` line make it doubtful.
///
/// ```
/// use revchain_core::split::{split_statements_checked, Dialect};
/// let sure = split_statements_checked("CREATE TABLE event (id INT, begin INT); SELECT 1", Dialect::MySql);
/// assert_eq!(sure.statements.len(), 2);
/// assert!(sure.doubt.is_none());
/// let unsure = split_statements_checked("CREATE PROCEDURE p() BEGIN SELECT 1;", Dialect::MySql);
/// assert!(unsure.doubt.is_some());
/// ```
pub fn split_statements_checked(sql: &str, dialect: Dialect) -> Split<'_> {
    let mut splitter = Splitter::new(sql, dialect);
    splitter.run();
    Split {
        statements: splitter.out,
        doubt: splitter.doubt,
    }
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
    text: &'a str,
    dialect: Dialect,
    /// The 1-based line the next token starts on.
    line: usize,
    out: Vec<Statement<'a>>,
    doubt: Option<Doubt>,
}

/// One token as the block tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// An unquoted word (keyword, identifier or number).
    Word(&'a str),
    /// A string, a quoted identifier or a dollar-quoted body.
    Quoted,
    /// Any other byte; `:` only for a colon not followed by `=`.
    Punct(u8),
}

impl Tok<'_> {
    fn is(&self, keyword: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn is_any(&self, keywords: &[&str]) -> bool {
        keywords.iter().any(|k| self.is(k))
    }
}

/// A compound statement's block (MySQL/MariaDB routine bodies, SQLite trigger bodies,
/// PostgreSQL `BEGIN ATOMIC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Begin,
    If,
    Case,
    Loop,
    While,
    Repeat,
    For,
}

impl Block {
    fn opened_by(word: &Tok<'_>) -> Option<Block> {
        [
            ("BEGIN", Block::Begin),
            ("IF", Block::If),
            ("CASE", Block::Case),
            ("LOOP", Block::Loop),
            ("WHILE", Block::While),
            ("REPEAT", Block::Repeat),
            ("FOR", Block::For),
        ]
        .into_iter()
        .find(|(k, _)| word.is(k))
        .map(|(_, b)| b)
    }

    /// The word written after `END` to close it (`END IF`); `None` for `BEGIN`.
    fn suffix(self) -> Option<&'static str> {
        match self {
            Block::Begin => None,
            Block::If => Some("IF"),
            Block::Case => Some("CASE"),
            Block::Loop => Some("LOOP"),
            Block::While => Some("WHILE"),
            Block::Repeat => Some("REPEAT"),
            Block::For => Some("FOR"),
        }
    }
}

const SUFFIXES: [&str; 6] = ["IF", "CASE", "LOOP", "WHILE", "REPEAT", "FOR"];

/// A `DECLARE … HANDLER FOR condition[, …] statement` being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Declare {
    #[default]
    No,
    /// After `DECLARE`.
    Started,
    Handler,
    /// After `FOR`: conditions until the handler's statement starts.
    Conditions,
}

/// The inside of a compound statement.
#[derive(Debug, Clone, Default)]
struct Body {
    blocks: Vec<Block>,
    /// The next token starts a statement of the body.
    stmt_start: bool,
    /// The previous token was a word at a statement start: a label if `:` follows.
    label: bool,
    /// `CASE … END` expressions open in the current statement.
    expr_case: usize,
    /// The current statement is the header of an `IF`/`ELSEIF`/`WHEN`/`WHILE`/`FOR`
    /// (waiting for `THEN` or `DO`).
    header: bool,
    /// Inside `UNTIL …` of a `REPEAT`: its `END REPEAT` follows the condition.
    until: bool,
    /// A `DO` was read in a `WHILE`/`FOR` header: it ends the header unless the next token
    /// shows that it was an identifier (an operator follows it).
    pending_do: bool,
    /// `IN` was read in a `FOR` header (a `DO` before it is the loop variable).
    for_in: bool,
    /// Just after `BEGIN` (`NOT ATOMIC`, `ATOMIC` may follow).
    after_begin: bool,
    /// The block just closed by `END`, whose suffix word may follow.
    after_end: Option<Block>,
    declare: Declare,
}

/// The routine kinds whose bodies may hold `;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routine {
    Procedure,
    Trigger,
    Event,
}

/// Where the reader stands in a routine's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `IF NOT EXISTS` and the name.
    Name { read: bool, dot: bool },
    /// Before and inside the parameter list of a procedure or function.
    Params { seen: bool },
    /// After the parameters: characteristics and `RETURNS` type, then the body.
    Characteristics { skip_next: bool },
    /// A trigger's header; `row` counts the words of `FOR EACH ROW` read (3: complete, 4:
    /// after `FOLLOWS`/`PRECEDES`, 5: after a SQLite `WHEN`).
    Trigger { row: u8 },
    /// An event's header, before `DO`.
    Event,
    /// The next token is the first of the body.
    BodyNext,
    /// The body's first word was read and is not a block keyword: a label if `:` follows.
    BodyLabel,
}

/// What is known about the statement being read.
#[derive(Debug, Clone, Default)]
enum State {
    /// No token read yet.
    #[default]
    Start,
    /// After `CREATE`: `OR REPLACE`, `DEFINER = …`, … until the object kind.
    Create,
    /// A routine's header.
    Routine(Routine, Header),
    /// A top-level `BEGIN`: `NOT ATOMIC` makes it a MariaDB compound statement.
    TopBegin,
    /// A routine whose body holds no block: `;` ends it, except that a PostgreSQL
    /// `BEGIN ATOMIC` may still open one (`begin` is set after `BEGIN`).
    PlainRoutine { begin: bool },
    /// A compound statement's body.
    Body(Body),
    /// After the `END` that closed the body: its keyword (`END IF`), a label, then `;`.
    AfterBody { closed: Option<Block>, label: bool },
    /// Not a compound statement: `;` ends it wherever it stands outside quotes, comments
    /// (and parentheses, for PostgreSQL).
    Plain,
}

/// The statement being read.
#[derive(Default)]
struct Current<'a> {
    start: Option<(usize, usize)>,
    state: State,
    parens: usize,
    prev: Option<Tok<'a>>,
}

const ROUTINE_PREFIX: [&str; 17] = [
    "OR",
    "REPLACE",
    "DEFINER",
    "CURRENT_USER",
    "SQL",
    "SECURITY",
    "INVOKER",
    "TEMP",
    "TEMPORARY",
    "AGGREGATE",
    "CONSTRAINT",
    "ALGORITHM",
    "UNDEFINED",
    "MERGE",
    "TEMPTABLE",
    "EDITIONABLE",
    "NONEDITIONABLE",
];

/// Characteristic words of a MySQL routine (and parts of a `RETURNS` type).
const CHARACTERISTICS: [&str; 22] = [
    "COMMENT",
    "SQL",
    "NOT",
    "DETERMINISTIC",
    "CONTAINS",
    "NO",
    "READS",
    "MODIFIES",
    "DATA",
    "SECURITY",
    "DEFINER",
    "INVOKER",
    "UNSIGNED",
    "SIGNED",
    "ZEROFILL",
    "CHARACTER",
    "BINARY",
    "PRECISION",
    "VARYING",
    "ASCII",
    "UNICODE",
    "BYTE",
];

/// Characteristic words followed by a value word (`RETURNS INT`, `LANGUAGE SQL`).
const VALUED: [&str; 5] = ["RETURNS", "LANGUAGE", "CHARSET", "SET", "COLLATE"];

/// Words that continue an expression, so that a `DO` before them is an identifier.
const OPERATOR_WORDS: [&str; 14] = [
    "AND", "OR", "XOR", "NOT", "IS", "IN", "BETWEEN", "LIKE", "REGEXP", "RLIKE", "DIV", "MOD",
    "SOUNDS", "COLLATE",
];

/// Words that only start statements inside a compound statement: at the top level of a
/// MySQL text they mean that a block was misread.
const BODY_ONLY: [&str; 10] = [
    "END", "ELSE", "ELSEIF", "UNTIL", "DECLARE", "LEAVE", "ITERATE", "RETURN", "WHEN", "THEN",
];

impl<'a> Splitter<'a> {
    fn new(sql: &'a str, dialect: Dialect) -> Splitter<'a> {
        Splitter {
            text: sql,
            dialect,
            line: 1,
            out: Vec::new(),
            doubt: None,
        }
    }

    /// The offset of the first token that is not whitespace, a comment or a `;`.
    fn first_token(self) -> Option<usize> {
        Lexer::new(self.text, self.dialect)
            .find(|t| !t.is_trivia() && !t.is_punct(";"))
            .map(|t| t.start)
    }

    /// Records the first doubt, at `line`.
    fn doubt_at(&mut self, line: usize, reason: &'static str) {
        if self.doubt.is_none() {
            self.doubt = Some(Doubt { line, reason });
        }
    }

    /// Records the first doubt, at the current line.
    fn doubt(&mut self, reason: &'static str) {
        self.doubt_at(self.line, reason);
    }

    fn run(&mut self) {
        let mut cur = Current::default();
        for t in Lexer::new(self.text, self.dialect) {
            let line = self.line;
            self.line += t.text.bytes().filter(|&b| b == b'\n').count();
            match t.kind {
                TokenKind::Whitespace => {}
                TokenKind::Comment => self.comment(line, &t),
                TokenKind::Punct if t.text == ";" => {
                    if self.semicolon_ends(&mut cur) {
                        self.finish(&cur, t.start);
                        cur = Current::default();
                    }
                }
                _ => {
                    if cur.start.is_none() {
                        cur.start = Some((t.start, line));
                    }
                    let tok = self.tok(&t);
                    self.feed(&mut cur, tok);
                    cur.prev = Some(tok);
                }
            }
        }
        self.end_of_input(&cur);
        self.finish(&cur, self.text.len());
    }

    /// Doubts raised by a comment that started on `line`.
    fn comment(&mut self, line: usize, t: &Token<'_>) {
        if self.dialect == Dialect::MySql
            && (t.text.starts_with("/*!") || t.text.starts_with("/*M"))
        {
            self.doubt_at(line, "a MySQL executable comment `/*! … */`");
        }
        if !t.closed {
            self.doubt("a `/*` comment that is never closed");
        }
    }

    /// A lexer token as the block tracker sees it; an unclosed quote raises a doubt.
    fn tok(&mut self, t: &Token<'a>) -> Tok<'a> {
        match t.kind {
            TokenKind::Str | TokenKind::QuotedIdent => {
                if !t.closed {
                    self.doubt(if t.text.starts_with('$') {
                        "a `$$` body that is never closed"
                    } else {
                        "a quote that is never closed"
                    });
                }
                Tok::Quoted
            }
            TokenKind::Word | TokenKind::Number => Tok::Word(t.text),
            // `:=` counts as `=`, so that `:` is only a label's colon.
            _ if t.text == ":=" => Tok::Punct(b'='),
            _ => Tok::Punct(t.text.as_bytes()[0]),
        }
    }

    fn end_of_input(&mut self, cur: &Current<'_>) {
        if matches!(&cur.state, State::Body(body) if !body.blocks.is_empty()) {
            self.doubt("a `BEGIN … END` or other block that is never closed");
        } else if cur.parens > 0 {
            self.doubt("a parenthesis that is never closed");
        }
    }

    /// Whether a `;` (outside quotes and comments) ends the current statement; inside a
    /// block it ends a statement of the body instead.
    fn semicolon_ends(&mut self, cur: &mut Current<'_>) -> bool {
        if let State::Body(body) = &mut cur.state
            && !body.blocks.is_empty()
        {
            *body = Body {
                blocks: std::mem::take(&mut body.blocks),
                stmt_start: true,
                ..Body::default()
            };
            cur.prev = Some(Tok::Punct(b';'));
            return false;
        }
        if cur.parens > 0 {
            // psql does not cut inside parentheses (`CREATE RULE … DO (a; b)`); the mysql
            // client and SQLite do, and the statement then cannot be valid.
            if matches!(self.dialect, Dialect::Postgres | Dialect::Generic) {
                return false;
            }
            self.doubt("a `;` inside parentheses");
        }
        true
    }

    fn finish(&mut self, cur: &Current<'_>, end: usize) {
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

    /// Feeds one token to the block tracker.
    fn feed(&mut self, cur: &mut Current<'a>, tok: Tok<'a>) {
        match tok {
            Tok::Punct(b'(') => cur.parens += 1,
            Tok::Punct(b')') => cur.parens = cur.parens.saturating_sub(1),
            _ => {}
        }
        let prev = cur.prev;
        let state = std::mem::take(&mut cur.state);
        cur.state = self.step(state, tok, prev, cur.parens);
    }

    /// The state after `tok`.
    fn step(&mut self, state: State, tok: Tok<'a>, prev: Option<Tok<'a>>, parens: usize) -> State {
        match state {
            State::Start => self.first_word(tok),
            State::Create => self.create(tok, prev),
            State::Routine(kind, header) => self.header(kind, header, tok, prev, parens),
            State::TopBegin if tok.is("NOT") => {
                let mut body = Body {
                    blocks: vec![Block::Begin],
                    after_begin: true,
                    stmt_start: true,
                    ..Body::default()
                };
                self.body_token(&mut body, tok, prev);
                State::Body(body)
            }
            State::TopBegin | State::Plain => State::Plain,
            State::PlainRoutine { begin } => {
                if begin && tok.is("ATOMIC") {
                    State::Body(Body {
                        blocks: vec![Block::Begin],
                        stmt_start: true,
                        ..Body::default()
                    })
                } else {
                    State::PlainRoutine {
                        begin: parens == 0 && tok.is("BEGIN"),
                    }
                }
            }
            State::Body(mut body) => {
                self.body_token(&mut body, tok, prev);
                Self::after_token(body)
            }
            State::AfterBody { closed, label } => self.after_body(closed, label, tok),
        }
    }

    fn first_word(&mut self, tok: Tok<'a>) -> State {
        let mysql_like = matches!(self.dialect, Dialect::MySql | Dialect::Generic);
        if tok.is("CREATE") {
            State::Create
        } else if mysql_like && tok.is("BEGIN") {
            State::TopBegin
        } else if mysql_like && Block::opened_by(&tok).is_some() {
            // A MariaDB compound statement outside any routine (`IF … END IF`).
            let mut body = Body {
                stmt_start: true,
                ..Body::default()
            };
            self.body_token(&mut body, tok, None);
            Self::after_token(body)
        } else {
            if tok.is("DELIMITER") && self.dialect != Dialect::Postgres {
                self.doubt("a `DELIMITER` line (mysql client syntax)");
            } else if self.dialect == Dialect::MySql && tok.is_any(&BODY_ONLY) {
                self.doubt("a statement that can only stand inside a `BEGIN … END` block");
            }
            State::Plain
        }
    }

    /// After `CREATE`: skips `OR REPLACE`, `DEFINER = user`, … until the object's kind.
    fn create(&mut self, tok: Tok<'a>, prev: Option<Tok<'a>>) -> State {
        let after_user_part = matches!(prev, Some(Tok::Punct(b'=' | b'@' | b'.' | b'(' | b')')));
        let kind = match tok {
            Tok::Word(_) if tok.is_any(&["PROCEDURE", "FUNCTION"]) => Routine::Procedure,
            Tok::Word(_) if tok.is("TRIGGER") => Routine::Trigger,
            Tok::Word(_) if tok.is("EVENT") => Routine::Event,
            Tok::Word(_) if tok.is_any(&ROUTINE_PREFIX) || after_user_part => {
                return State::Create;
            }
            Tok::Word(_) => return State::Plain,
            Tok::Quoted | Tok::Punct(_) => return State::Create,
        };
        match (self.dialect, kind) {
            (Dialect::Postgres, Routine::Procedure) => State::PlainRoutine { begin: false },
            (Dialect::Postgres, _) | (Dialect::Sqlite, Routine::Procedure | Routine::Event) => {
                State::Plain
            }
            _ => State::Routine(
                kind,
                Header::Name {
                    read: false,
                    dot: false,
                },
            ),
        }
    }

    /// A routine's header, up to its body.
    fn header(
        &mut self,
        kind: Routine,
        header: Header,
        tok: Tok<'a>,
        prev: Option<Tok<'a>>,
        parens: usize,
    ) -> State {
        let next = |h| State::Routine(kind, h);
        match header {
            Header::Name { read: false, .. } if tok.is_any(&["IF", "NOT", "EXISTS"]) => {
                next(header)
            }
            Header::Name { read: false, .. } | Header::Name { dot: true, .. } => {
                next(Header::Name {
                    read: true,
                    dot: false,
                })
            }
            Header::Name { .. } if tok == Tok::Punct(b'.') => next(Header::Name {
                read: true,
                dot: true,
            }),
            Header::Name { .. } => {
                let after_name = match kind {
                    Routine::Procedure => Header::Params { seen: false },
                    Routine::Trigger => Header::Trigger { row: 0 },
                    Routine::Event => Header::Event,
                };
                self.header(kind, after_name, tok, prev, parens)
            }
            Header::Params { seen } => {
                let seen = seen || tok == Tok::Punct(b'(');
                if seen && parens == 0 {
                    next(Header::Characteristics { skip_next: false })
                } else {
                    next(Header::Params { seen })
                }
            }
            Header::Characteristics { skip_next } => match tok {
                _ if parens > 0 => next(header),
                Tok::Punct(_) => next(header),
                Tok::Quoted => next(Header::Characteristics { skip_next: false }),
                Tok::Word(_) if skip_next => next(Header::Characteristics { skip_next: false }),
                Tok::Word(_) if tok.is_any(&VALUED) => {
                    next(Header::Characteristics { skip_next: true })
                }
                Tok::Word(_) if tok.is_any(&CHARACTERISTICS) => next(header),
                Tok::Word(_) => self.body_first(kind, tok),
            },
            Header::Trigger { row } => self.trigger(row, tok, prev, parens),
            Header::Event if parens == 0 && tok.is("DO") => next(Header::BodyNext),
            Header::Event => next(header),
            Header::BodyNext => self.body_first(kind, tok),
            Header::BodyLabel if tok == Tok::Punct(b':') => next(Header::BodyNext),
            Header::BodyLabel => State::PlainRoutine {
                begin: parens == 0 && tok.is("BEGIN"),
            },
        }
    }

    /// A trigger's header: the body follows `FOR EACH ROW [FOLLOWS|PRECEDES name]`
    /// (MySQL), or is the `BEGIN` after the table and the `WHEN` condition (SQLite).
    fn trigger(&mut self, row: u8, tok: Tok<'a>, prev: Option<Tok<'a>>, parens: usize) -> State {
        let next = |row| State::Routine(Routine::Trigger, Header::Trigger { row });
        let sqlite_rules = matches!(self.dialect, Dialect::Sqlite | Dialect::Generic);
        if parens > 0 {
            return next(row);
        }
        match row {
            3 if tok.is_any(&["FOLLOWS", "PRECEDES"]) => next(4),
            3 if sqlite_rules && tok.is("WHEN") => next(5),
            3 if tok.is("EXECUTE") => State::Plain,
            3 if self.dialect != Dialect::Sqlite => self.body_first(Routine::Trigger, tok),
            4 => next(3),
            _ if sqlite_rules
                && tok.is("BEGIN")
                && !prev.is_some_and(|p| {
                    matches!(p, Tok::Punct(b'.' | b',')) || p.is_any(&["ON", "OF"])
                }) =>
            {
                self.body_first(Routine::Trigger, tok)
            }
            0 | 5 if tok.is("FOR") => next(1),
            1 if tok.is("EACH") => next(2),
            2 if tok.is("ROW") => next(3),
            5 => next(5),
            _ => next(0),
        }
    }

    /// The first token of a routine's body: a block keyword opens the body, a label may
    /// precede one, anything else is a body without blocks.
    fn body_first(&mut self, kind: Routine, tok: Tok<'a>) -> State {
        if Block::opened_by(&tok).is_some() {
            let mut body = Body {
                stmt_start: true,
                ..Body::default()
            };
            self.body_token(&mut body, tok, None);
            Self::after_token(body)
        } else if matches!(tok, Tok::Word(_) | Tok::Quoted) && self.dialect != Dialect::Sqlite {
            State::Routine(kind, Header::BodyLabel)
        } else {
            State::PlainRoutine { begin: false }
        }
    }

    /// The state after a token of a body: the body, or what follows its last `END`.
    fn after_token(mut body: Body) -> State {
        if body.blocks.is_empty() {
            State::AfterBody {
                closed: body.after_end.take(),
                label: false,
            }
        } else {
            State::Body(body)
        }
    }

    fn after_body(&mut self, closed: Option<Block>, label: bool, tok: Tok<'a>) -> State {
        match tok {
            Tok::Word(_) if closed.is_some_and(|b| b.suffix().is_some_and(|s| tok.is(s))) => {
                State::AfterBody {
                    closed: None,
                    label,
                }
            }
            Tok::Word(_) if closed.is_some() && tok.is_any(&SUFFIXES) => {
                self.doubt("an `END` whose keyword does not match its block");
                State::Plain
            }
            Tok::Word(_) | Tok::Quoted if !label => State::AfterBody {
                closed: None,
                label: true,
            },
            _ => {
                self.doubt("text after the `END` that closes a block");
                State::Plain
            }
        }
    }

    /// One token inside a compound statement.
    fn body_token(&mut self, body: &mut Body, tok: Tok<'a>, prev: Option<Tok<'a>>) {
        let stmt_start = std::mem::take(&mut body.stmt_start);
        let label = std::mem::take(&mut body.label);
        if std::mem::take(&mut body.after_begin) && tok.is_any(&["NOT", "ATOMIC"]) {
            body.after_begin = tok.is("NOT");
            body.stmt_start = true;
            return;
        }
        if let Some(closed) = body.after_end.take()
            && tok.is_any(&SUFFIXES)
        {
            if !tok.is(closed.suffix().unwrap_or("")) {
                self.doubt("an `END` whose keyword does not match its block");
            }
            return;
        }
        if matches!(prev, Some(Tok::Punct(b'.'))) {
            // A qualified name (`NEW.end`) is never a keyword.
            return;
        }
        if body.declare == Declare::Conditions {
            let in_condition = tok == Tok::Quoted
                || tok == Tok::Punct(b',')
                || prev.is_some_and(|p| {
                    p == Tok::Punct(b',') || p.is_any(&["FOR", "SQLSTATE", "VALUE", "NOT"])
                });
            if in_condition {
                return;
            }
            body.declare = Declare::No;
            self.statement_start(body, tok);
            return;
        }
        if stmt_start && std::mem::take(&mut body.pending_do) {
            let operator = matches!(tok, Tok::Punct(_)) || tok.is_any(&OPERATOR_WORDS);
            if operator {
                self.mid_statement(body, tok);
            } else {
                body.header = false;
                body.for_in = false;
                self.statement_start(body, tok);
            }
        } else if stmt_start {
            self.statement_start(body, tok);
        } else if label && tok == Tok::Punct(b':') {
            body.stmt_start = true;
        } else {
            self.mid_statement(body, tok);
        }
    }

    /// The first token of a statement inside a block.
    fn statement_start(&mut self, body: &mut Body, tok: Tok<'a>) {
        let top = body.blocks.last().copied();
        if let Some(block) = Block::opened_by(&tok) {
            body.blocks.push(block);
            body.after_begin = block == Block::Begin;
            body.stmt_start = matches!(block, Block::Begin | Block::Loop | Block::Repeat);
            body.header = !body.stmt_start;
        } else if tok.is("END") {
            let closed = body.blocks.pop();
            if closed.is_none() {
                self.doubt("an `END` without a block to close");
            }
            body.after_end = closed;
        } else if tok.is("UNTIL") && top == Some(Block::Repeat) {
            body.until = true;
        } else if tok.is("ELSE") && matches!(top, Some(Block::If | Block::Case)) {
            body.stmt_start = true;
        } else if tok.is_any(&["ELSEIF", "WHEN"]) && matches!(top, Some(Block::If | Block::Case)) {
            body.header = true;
        } else if tok.is("DECLARE") {
            body.declare = Declare::Started;
        } else if matches!(tok, Tok::Word(_) | Tok::Quoted) {
            body.label = true;
        }
    }

    /// A token in the middle of a statement inside a block.
    fn mid_statement(&mut self, body: &mut Body, tok: Tok<'a>) {
        let top = body.blocks.last().copied();
        if tok.is("CASE") {
            body.expr_case += 1;
        } else if tok.is("END") {
            if body.expr_case > 0 {
                body.expr_case -= 1;
            } else if body.until && top == Some(Block::Repeat) {
                body.until = false;
                body.after_end = body.blocks.pop();
            }
            // Otherwise an identifier: MySQL accepts `SET end = 1` in a body.
        } else if tok.is("THEN")
            && body.header
            && body.expr_case == 0
            && matches!(top, Some(Block::If | Block::Case))
        {
            body.header = false;
            body.stmt_start = true;
        } else if tok.is("IN") && body.header && top == Some(Block::For) {
            body.for_in = true;
        } else if tok.is("DO")
            && body.header
            && (top == Some(Block::While) || (top == Some(Block::For) && body.for_in))
        {
            // MariaDB accepts `do` as a variable name: decided by the next token.
            body.pending_do = true;
            body.stmt_start = true;
        } else if tok.is("HANDLER") && body.declare == Declare::Started {
            body.declare = Declare::Handler;
        } else if tok.is("FOR") && body.declare == Declare::Handler {
            body.declare = Declare::Conditions;
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

    fn certain(sql: &str, d: Dialect) -> Vec<&str> {
        let split = split_statements_checked(sql, d);
        assert_eq!(split.doubt, None, "{sql}");
        split.statements.into_iter().map(|s| s.sql).collect()
    }

    #[test]
    fn keyword_named_identifiers_are_not_blocks() {
        let sql = "CREATE TABLE event (id INT, begin INT); CREATE TABLE other (a INT); INSERT INTO missing VALUES (1)";
        for d in [
            Dialect::MySql,
            Dialect::Generic,
            Dialect::Sqlite,
            Dialect::Postgres,
        ] {
            assert_eq!(certain(sql, d).len(), 3, "{d:?}");
        }
        let sql = "CREATE TABLE t (begin INT, end INT, event INT);\nSELECT begin, end, event FROM t AS begin;\nUPDATE t SET end = 1 WHERE begin = 2;\nCREATE INDEX event ON t (end);\nSELECT t.begin FROM t;";
        for d in [Dialect::MySql, Dialect::Generic, Dialect::Sqlite] {
            assert_eq!(certain(sql, d).len(), 5, "{d:?}");
        }
        let quoted = "CREATE TABLE `event` (`begin` INT, `case` INT, `if` INT, `loop` INT, `repeat` INT, `declare` INT, `while` INT, `for` INT);\nSELECT `end` FROM `event`;";
        assert_eq!(certain(quoted, Dialect::MySql).len(), 2);
        let pg = "CREATE TABLE \"event\" (\"begin\" INT, \"end\" INT, \"case\" INT);\nSELECT \"end\" FROM \"event\";";
        assert_eq!(certain(pg, Dialect::Postgres).len(), 2);
        let sqlite = "CREATE TABLE [begin] ([end] INT);\nSELECT [end] FROM [begin];";
        assert_eq!(certain(sqlite, Dialect::Sqlite).len(), 2);
    }

    #[test]
    fn routines_named_like_keywords() {
        let sql = "CREATE PROCEDURE begin() SELECT 1;\nCREATE EVENT end ON SCHEDULE EVERY 1 DAY DO BEGIN SELECT 1; SELECT 2; END;\nCREATE TRIGGER event BEFORE INSERT ON begin FOR EACH ROW SET NEW.end = 1;\nSELECT 3";
        assert_eq!(certain(sql, Dialect::MySql).len(), 4);
        assert_eq!(certain(sql, Dialect::Generic).len(), 4);
    }

    #[test]
    fn mysql_routine_headers() {
        for header in [
            "CREATE PROCEDURE p()",
            "CREATE DEFINER = `root`@`%` PROCEDURE p(IN a INT, OUT b TEXT)",
            "CREATE DEFINER=root@localhost PROCEDURE db.p()",
            "CREATE OR REPLACE DEFINER = CURRENT_USER() PROCEDURE IF NOT EXISTS `p`() COMMENT 'x; y' MODIFIES SQL DATA SQL SECURITY INVOKER",
            "CREATE FUNCTION f(a INT) RETURNS DECIMAL(10, 2) UNSIGNED DETERMINISTIC",
            "CREATE FUNCTION f() RETURNS VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NO SQL",
            "CREATE DEFINER='a'@'b' TRIGGER t BEFORE INSERT ON begin FOR EACH ROW FOLLOWS other",
            "CREATE EVENT e ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 HOUR ON COMPLETION NOT PRESERVE DO",
        ] {
            let sql = format!(
                "{header} BEGIN DECLARE end INT DEFAULT 0; SET end = 1; SELECT end; END;\nSELECT 2"
            );
            assert_eq!(certain(&sql, Dialect::MySql).len(), 2, "{sql}");
            let labelled = format!("{header} lbl: BEGIN SELECT 1; END lbl;\nSELECT 2");
            assert_eq!(certain(&labelled, Dialect::MySql).len(), 2, "{labelled}");
        }
    }

    #[test]
    fn mysql_nested_blocks() {
        let body = "BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE c CURSOR FOR SELECT a FROM t;
  DECLARE CONTINUE HANDLER FOR SQLSTATE '23000', NOT FOUND BEGIN SET done = 1; END;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION SET done = 2;
  IF (SELECT CASE WHEN 1 THEN 2 END) = 2 THEN SELECT 1; ELSEIF 2 THEN SELECT 2; ELSE SELECT 3; END IF;
  CASE done WHEN 1 THEN SELECT 1; ELSE BEGIN END; END CASE;
  l1: LOOP LEAVE l1; END LOOP l1;
  REPEAT SET done = done + 1; UNTIL done > 3 END REPEAT;
  WHILE done < 5 DO SET done = CASE WHEN done THEN done + 1 ELSE 9 END; END WHILE;
  FOR i IN 1..3 DO SELECT i; END FOR;
  SELECT begin, end FROM t;
END";
        let sql = format!("CREATE PROCEDURE p() {body};\nSELECT 9;");
        let s = certain(&sql, Dialect::MySql);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[1], "SELECT 9");
        // The same blocks at the top level (MariaDB compound statements).
        assert_eq!(
            certain(
                "BEGIN NOT ATOMIC SELECT 1; SELECT 2; END;\nIF 1 THEN SELECT 1; END IF;\nSELECT 3",
                Dialect::MySql
            )
            .len(),
            3
        );
        // A routine whose body is a single block other than BEGIN.
        assert_eq!(
            certain(
                "CREATE PROCEDURE p() IF 1 THEN SELECT 1; END IF;\nSELECT 2",
                Dialect::MySql
            )
            .len(),
            2
        );
        assert_eq!(certain("CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW IF NEW.a THEN SET NEW.b = 1; END IF;\nSELECT 2", Dialect::MySql).len(), 2);
    }

    #[test]
    fn doubts() {
        for (sql, d) in [
            ("CREATE PROCEDURE p() BEGIN SELECT 1;", Dialect::MySql),
            ("SELECT 'a;", Dialect::MySql),
            ("SELECT \"a;", Dialect::Postgres),
            ("SELECT 1 /* a;", Dialect::Sqlite),
            ("SELECT $$ a; b", Dialect::Postgres),
            ("SELECT 1; END;", Dialect::MySql),
            ("ELSE SELECT 1;", Dialect::MySql),
            (
                "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\nDELIMITER ;",
                Dialect::MySql,
            ),
            ("/*!50003 CREATE TABLE t (a INT) */;", Dialect::MySql),
            ("SELECT (1;", Dialect::MySql),
            (
                "CREATE PROCEDURE p() BEGIN SELECT 1; END IF;",
                Dialect::MySql,
            ),
            (
                "CREATE PROCEDURE p() BEGIN SELECT 1; END p q;",
                Dialect::MySql,
            ),
        ] {
            assert!(split_statements_checked(sql, d).doubt.is_some(), "{sql}");
        }
        let d = split_statements_checked("SELECT 1;\nSELECT 'x", Dialect::MySql).doubt;
        assert_eq!(d.map(|d| d.line), Some(2));
    }

    #[test]
    fn sqlite_triggers() {
        let sql = "CREATE TRIGGER begin AFTER UPDATE OF end, begin ON event FOR EACH ROW WHEN NEW.begin > 0 BEGIN UPDATE event SET end = 1; SELECT CASE WHEN 1 THEN 2 END; END;\nCREATE TEMP TRIGGER IF NOT EXISTS t2 AFTER INSERT ON begin BEGIN SELECT 1; END;\nSELECT 3";
        assert_eq!(certain(sql, Dialect::Sqlite).len(), 3);
        assert_eq!(certain(sql, Dialect::Generic).len(), 3);
    }

    #[test]
    fn postgres_atomic_and_rules() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;\nCREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nCREATE TABLE event (begin int);\nSELECT 4";
        assert_eq!(certain(sql, Dialect::Postgres).len(), 4);
        assert_eq!(certain(sql, Dialect::Generic).len(), 4);
        // A trigger or an event is never a block in PostgreSQL.
        assert_eq!(certain("CREATE TRIGGER t BEFORE INSERT ON begin FOR EACH ROW EXECUTE FUNCTION f();\nSELECT 1", Dialect::Postgres).len(), 2);
        assert_eq!(certain("CREATE TRIGGER t BEFORE INSERT ON begin FOR EACH ROW EXECUTE FUNCTION f();\nSELECT 1", Dialect::Generic).len(), 2);
    }

    #[test]
    fn keyword_named_variables_in_bodies() {
        let sql = "CREATE PROCEDURE p() BEGIN
  DECLARE do INT DEFAULT 0; DECLARE end INT DEFAULT 0; DECLARE until INT DEFAULT 0;
  WHILE do < 2 DO IF do = 0 THEN SET do = 1; END IF; SET do = do + 1; END WHILE;
  WHILE do IS NOT NULL AND do > 5 DO BEGIN SET do = NULL; END; END WHILE;
  FOR do IN 1..2 DO IF do THEN SELECT do; END IF; END FOR;
  REPEAT SET until = until + 1; UNTIL end > 3 OR until > 3 END REPEAT;
  SET end = 1; SELECT end, begin FROM t;
END;
SELECT 2";
        assert_eq!(certain(sql, Dialect::MySql).len(), 2);
    }
}
