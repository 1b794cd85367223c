//! The migration file format (docs/design.md §1): a header of `--` comment lines, then the
//! `-- migrate:upgrade` and `-- migrate:downgrade` sections.
//!
//! [`parse`] turns one file's text into a [`RevisionFile`] or into *every* problem it finds,
//! each a [`ParseError`] that names the file and the line.
//!
//! # One shape for keys and markers
//!
//! A header key is written `-- Key: value`: two dashes, one space, the key as
//! [`KNOWN_KEYS`] spells it, a colon, the value. A header comment line that starts with a
//! known key written any other way is an error that shows the corrected line
//! ([`ParseErrorKind::MalformedKey`]), never a comment: otherwise `-- Revises 0121585821fb`
//! would silently make the file a second root. "Any other way" is another case or spacing
//! (`--Revises: a`, `-- revision  id: a`, `-- Depends_On: a`), a doubled colon, `=` or
//! `:=` instead of the colon, or no colon at all. Without a colon or `=`, the line is a key
//! only if the rest could be that key's value (an id or a list of ids, `true`/`false`, a
//! date, or nothing), so that a message or description line such as
//! `-- Revises the user table layout` stays a comment. The first comment line is the message
//! under the same rule: a message that reads as a key line (`-- Revises users`) must be
//! reworded.
//!
//! A section marker is exactly `-- migrate:upgrade` or `-- migrate:downgrade` (whitespace
//! around the line aside). A line that is `migrate` in any case and spacing, then `:`
//! or `=` and a name close to `upgrade`/`downgrade` (`up` and `down` included), or such a
//! name alone (`-- migrate up`), is a misshapen marker: an error that shows the marker to
//! write ([`ParseErrorKind::MalformedMarker`]), wherever it stands (a downgrade marker
//! misspelt inside the upgrade section must not run the downgrade's SQL on upgrade). A
//! marker with a misspelt name (`-- migrate:upgarde`) is one error: the section it stands
//! for is not also reported missing.

use std::fmt;
use std::time::Duration;

use crate::digest::Digest;
use crate::history::Mode;
use crate::id::{self, IdError};
use crate::split::{Dialect, has_statement};
use crate::statements::{copy_through_stdio, refused_statement};

/// The header keys a revision file may use.
pub const KNOWN_KEYS: [&str; 12] = [
    "Revision ID",
    "Revises",
    "Create Date",
    "Branch Labels",
    "Depends On",
    "Transactional",
    "Repeatable",
    "Lock Timeout",
    "Statement Timeout",
    "Replaces",
    "Replaces Digest",
    "Phase",
];

/// How a header description line that names the origin of an imported revision starts
/// (`-- imported from sqlx (20240101120000_users.sql)`, written by `revchain import`). Such
/// a revision may have an upgrade section without a statement: the other tool's migration
/// held only comments, and it is carried over as it was (docs/design.md §1.3).
pub const IMPORTED_FROM: &str = "imported from ";

/// How a comment that silences one lint rule starts (docs/design.md §6):
/// `-- revchain:allow <rule> <reason>`. In the header it silences the rule for the whole
/// file, and is not read as a header key.
pub const ALLOW_COMMENT: &str = "revchain:allow";

/// The marker that opens the upgrade section.
pub const UPGRADE_MARKER: &str = "-- migrate:upgrade";
/// The marker that opens the downgrade section.
pub const DOWNGRADE_MARKER: &str = "-- migrate:downgrade";

/// One section of a revision file, as written.
///
/// [`sql`](Self::sql) is the file's own text: blank lines at the start and the end of the
/// section are left out, and nothing else is changed (line endings, trailing spaces and
/// tabs, inside string literals or not, stay as the file has them). That text is what is
/// executed, embedded and shown. Only the checksum reads a normalised form of it
/// ([`checksum_text`](Self::checksum_text)), so that re-saving a file with other line
/// endings or trimmed trailing whitespace does not count as an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The SQL exactly as written: from the start of the first non-blank line to the end of
    /// the last non-blank line's content (without the whitespace and line break after it).
    pub sql: String,
    /// The file line (1-based) of the first line of [`sql`](Self::sql); the line after the
    /// marker when the section is empty.
    pub line: usize,
    /// The file line of the section's marker.
    pub marker_line: usize,
}

impl Section {
    /// Whether the section holds no statement (only blank lines or comments).
    pub fn is_empty(&self) -> bool {
        !has_statement(&self.sql, Dialect::Generic)
    }

    /// The text the checksum is computed from: [`sql`](Self::sql) normalised by
    /// [`checksum_text`].
    pub fn checksum_text(&self) -> String {
        checksum_text(&self.sql)
    }
}

/// Where the header keys of a file were found, for error messages that point at them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderLines {
    /// The line of `Revision ID`.
    pub id: usize,
    /// The line of `Revises`, if present.
    pub revises: Option<usize>,
    /// The line of `Depends On`, if present.
    pub depends_on: Option<usize>,
    /// The line of `Branch Labels`, if present.
    pub branch_labels: Option<usize>,
    /// The line of `Repeatable`, if present.
    pub repeatable: Option<usize>,
    /// The line of `Replaces`, if present (a baseline, docs/design.md §2.3).
    pub replaces: Option<usize>,
}

/// One parsed revision file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionFile {
    /// The path shown in messages, such as `migrations/3f2a9c01b7de_add_users.sql`.
    pub path: String,
    /// The revision id (`Revision ID`).
    pub id: String,
    /// The first comment line of the header.
    pub message: String,
    /// The parents (`Revises`), in the order written; empty for a base.
    pub parents: Vec<String>,
    /// `Create Date`, as written.
    pub create_date: Option<String>,
    /// `Branch Labels`.
    pub branch_labels: Vec<String>,
    /// `Depends On`: ids or branch labels.
    pub depends_on: Vec<String>,
    /// `Transactional` (default `true`).
    pub transactional: bool,
    /// The upgrade section.
    pub upgrade: Section,
    /// The downgrade section; `None` makes the revision irreversible.
    pub downgrade: Option<Section>,
    /// Lines of the header keys.
    pub lines: HeaderLines,
    /// `Repeatable: true`: a repeatable revision (docs/design.md §4.10), applied after the
    /// versioned revisions whenever its checksum changes; never a node of the graph.
    pub repeatable: bool,
    /// Whether the file is SQL (`.sql`) or Rust code (`.rs`, docs/design.md §1.7).
    pub kind: RevisionKind,
    /// `Lock Timeout` (docs/design.md §6): how long a statement may wait for a lock.
    pub lock_timeout: Option<Duration>,
    /// `Statement Timeout` (docs/design.md §6): how long one statement may run.
    pub statement_timeout: Option<Duration>,
    /// The header's `-- revchain:allow …` comments: each one's line and its text after
    /// [`ALLOW_COMMENT`] (rule and reason), for the lint's per-file suppression.
    pub header_allows: Vec<(usize, String)>,
    /// `Replaces`: the ids a baseline made by `squash` stands for, in order (the last is
    /// the END of the squashed range); empty for an ordinary revision (docs/design.md §2.3).
    pub replaces: Vec<String>,
    /// `Replaces Digest`: the chain digest of END computed from the full history, which is
    /// the baseline's own chain digest.
    pub replaces_digest: Option<Digest>,
    /// `Phase` (docs/design.md §4.14): [`Phase::Contract`] marks a revision that breaks the
    /// previous release (drops, renames); the default is [`Phase::Expand`].
    pub phase: Phase,
}

/// What a revision file holds (docs/design.md §1.1, §1.7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevisionKind {
    /// A `.sql` file: the upgrade and downgrade sections are SQL.
    #[default]
    Sql,
    /// A `.rs` file: the sections hold the file's Rust code (after the header), which the
    /// application compiles; `pub async fn upgrade` and the optional `pub async fn
    /// downgrade` receive the database connection.
    Rust,
}

/// The deploy phase of a revision (docs/design.md §4.14), from its `Phase` header key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Compatible with the previous release: adds, backfills. The default.
    #[default]
    Expand,
    /// Breaks the previous release (drops, renames): applied once no old binary runs.
    Contract,
}

impl Phase {
    /// The spelling in a header and on the command line: `expand` or `contract`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Contract => "contract",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phase spelt other than `expand` or `contract` (any ASCII case).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the phase must be `expand` or `contract`, not `{0}`")]
pub struct UnknownPhase(pub String);

impl std::str::FromStr for Phase {
    type Err = UnknownPhase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "expand" => Ok(Phase::Expand),
            "contract" => Ok(Phase::Contract),
            _ => Err(UnknownPhase(s.to_owned())),
        }
    }
}

impl RevisionFile {
    /// The checksum of the upgrade section (docs/design.md §1.4).
    pub fn checksum(&self) -> Digest {
        Digest::checksum(&self.upgrade.checksum_text())
    }

    /// Whether this revision merges several parents.
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }

    /// The line to point at when something is wrong with a parent named in `Revises`.
    pub fn revises_line(&self) -> usize {
        self.lines.revises.unwrap_or(self.lines.id)
    }
}

/// A problem in one file, at one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {kind}")]
pub struct ParseError {
    /// The path shown in messages.
    pub path: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The file is not valid UTF-8.
    #[error("the file is not valid UTF-8; save it as UTF-8")]
    NotUtf8,
    /// A NUL byte, which no database takes in SQL text (PostgreSQL's protocol would cut
    /// the statement there).
    #[error(
        "the file holds a NUL byte (\\0), which is not SQL text; the file is probably damaged \
         or binary: remove the byte"
    )]
    NulByte,
    /// No `Revision ID` line in the header.
    #[error(
        "the header has no `Revision ID:` line; every `.sql` file in a migrations directory is a \
         revision and needs one (create files with `revchain revision -m \"...\"`)"
    )]
    MissingRevisionId,
    /// A header key that revchain does not know.
    #[error("unknown header key `{key}`{}; the known keys are {}", suggestion_text(.suggestion), KNOWN_KEYS.join(", "))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// A known key close to it.
        suggestion: Option<&'static str>,
    },
    /// A header key written twice.
    #[error("header key `{key}` appears twice (first at line {first_line}); keep one")]
    DuplicateKey {
        /// The key.
        key: &'static str,
        /// Where it was first written.
        first_line: usize,
    },
    /// An invalid id or label.
    #[error("{0}")]
    Id(#[from] IdError),
    /// An empty item in a comma list such as `Revises: a, , b`.
    #[error("`{key}` has an empty item; separate ids with single commas")]
    EmptyListItem {
        /// The key.
        key: &'static str,
    },
    /// A parent listed twice in `Revises`.
    #[error("`Revises` lists `{0}` twice")]
    DuplicateParent(String),
    /// An id listed twice in `Replaces`.
    #[error("`Replaces` lists `{0}` twice")]
    DuplicateReplaced(String),
    /// `Replaces Digest` is not 64 hex digits.
    #[error("`Replaces Digest` must be 64 lowercase hex digits, not `{0}`")]
    InvalidReplacesDigest(String),
    /// A revision that revises itself.
    #[error("revision `{0}` lists itself in `{1}`; a revision cannot be its own ancestor")]
    SelfReference(String, &'static str),
    /// `Transactional` is neither `true` nor `false`.
    #[error("`Transactional` must be `true` or `false`, not `{0}`")]
    InvalidTransactional(String),
    /// `Repeatable` is neither `true` nor `false`.
    #[error("`Repeatable` must be `true` or `false`, not `{0}`")]
    InvalidRepeatable(String),
    /// `Phase` is neither `expand` nor `contract`.
    #[error(
        "`Phase` must be `expand` or `contract`, not `{0}`; write `-- Phase: contract` on a \
         revision that breaks the previous release, or leave the line out (expand)"
    )]
    InvalidPhase(String),
    /// A repeatable revision with a key that places a revision in the graph.
    #[error(
        "a repeatable revision (`Repeatable: true`) is not part of the revision graph and \
         cannot have `{0}`; remove that line (to order it after a revision, write \
         `Depends On: <id or label>`)"
    )]
    RepeatableGraphKey(&'static str),
    /// `Lock Timeout` or `Statement Timeout` is not a duration with a unit.
    #[error(
        "`{key}` must be a whole number with a unit `ms`, `s`, `m` or `h` (such as `5s`), not `{value}`"
    )]
    InvalidDuration {
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// No `-- migrate:upgrade` marker.
    #[error(
        "the file has no `-- migrate:upgrade` section; add that line, followed by the SQL that \
         applies this revision"
    )]
    MissingUpgrade,
    /// The upgrade section holds no statement and the revision is not a merge.
    #[error(
        "the upgrade section is empty; only a merge revision (one that revises two or more) may \
         have an empty upgrade"
    )]
    EmptyUpgrade,
    /// A marker written twice.
    #[error(
        "a second `-- migrate:{section}` marker (the first is at line {first_line}); a file has one of each"
    )]
    DuplicateSection {
        /// `upgrade` or `downgrade`.
        section: &'static str,
        /// Where the first one is.
        first_line: usize,
    },
    /// A `-- migrate:` marker with another name.
    #[error("unknown section marker `-- migrate:{name}`; the sections are `-- migrate:upgrade` and `-- migrate:downgrade`{}", suggestion_text(.suggestion))]
    UnknownSection {
        /// The name written after `migrate:`.
        name: String,
        /// A marker close to it.
        suggestion: Option<&'static str>,
    },
    /// A header line that starts with a known key but is not written `-- Key: value`.
    #[error(
        "`{written}` is read as the `{key}` header key, which is written `-- {key}: value`; write \
         `{corrected}` (a header comment line that starts with a header key, in any case or \
         spacing, with its value after a space, `=` or `::`, is that key and not a comment; if it \
         is meant as a description, reword it so that it does not start with `{key}`)"
    )]
    MalformedKey {
        /// The line as written (trimmed).
        written: String,
        /// The key it starts with.
        key: &'static str,
        /// The line as it should be written.
        corrected: String,
    },
    /// A section marker written in another shape than `-- migrate:NAME`.
    #[error(
        "`{written}` is read as a section marker, which is written exactly \
         `-- migrate:upgrade` or `-- migrate:downgrade` (two dashes, one space, lowercase, no \
         space around the colon); write `{corrected}`"
    )]
    MalformedMarker {
        /// The line as written (trimmed).
        written: String,
        /// The marker it stands for.
        corrected: &'static str,
    },
    /// `COPY … FROM STDIN` or `COPY … TO STDOUT`: the copy protocol, which needs a client
    /// such as psql to send or receive the data.
    #[error(
        "`{0}` uses the copy protocol, whose data only a client such as psql can send or \
         receive; a revision cannot, and the server would wait for the data forever. Write the \
         rows as `INSERT … VALUES` statements, or `COPY … FROM` / `TO` a file on the database \
         server (`COPY t FROM '/path/on/the/server.csv' WITH (FORMAT csv)`)"
    )]
    CopyFromStdin(String),
    /// Text after a marker on the same line.
    #[error(
        "unexpected `{0}` after the section marker; a marker stands alone on its line (to run a \
         revision outside a transaction, write `-- Transactional: false` in the header)"
    )]
    TextAfterMarker(String),
    /// SQL in the header area, before any section marker.
    #[error(
        "SQL before the first section marker; put statements under `-- migrate:upgrade` or \
         `-- migrate:downgrade`"
    )]
    SqlOutsideSection,
    /// A statement the revision may not hold (transaction control in a transactional
    /// revision, `DELIMITER`, …).
    #[error("{0}")]
    RefusedStatement(crate::statements::Refusal),
    /// A Rust code revision without an `upgrade` function (docs/design.md §1.7).
    #[error(
        "the Rust revision has no `pub async fn upgrade(conn: &mut sqlx::PgConnection) -> \
         Result<(), sqlx::Error>` (or `MySqlConnection`, `SqliteConnection`, or \
         `db: revchain::Connection<'_>` for any database); add it after the header (create files with `revchain revision --rust -m \"...\"`)"
    )]
    MissingUpgradeFn,
}

fn suggestion_text(s: &Option<&'static str>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// Reads `bytes` as UTF-8 (dropping a byte-order mark) or reports the line of the first
/// invalid byte.
pub fn decode(path: &str, bytes: &[u8]) -> Result<String, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(ParseError {
                path: path.to_owned(),
                line,
                kind: ParseErrorKind::NotUtf8,
            })
        }
    }
}

/// The normalised form of section text that the checksum is computed from
/// (docs/design.md §1.4): [`normalize_section`] applied to its lines (`\n` and `\r\n` both
/// end a line).
///
/// ```
/// use revchain_core::parse::checksum_text;
/// assert_eq!(checksum_text("INSERT INTO t VALUES ('a  \r\nb');\t\r\n"), "INSERT INTO t VALUES ('a\nb');");
/// ```
pub fn checksum_text(sql: &str) -> String {
    let lines: Vec<&str> = sql.lines().collect();
    normalize_section(&lines).0
}

/// The exact text of the section whose lines are `lines[body]`, and the index (into
/// `lines[body]`) of its first non-blank line; `starts[i]` is the byte offset of `lines[i]`
/// in `text`. The text runs from the start of the first non-blank line to the end of the
/// last non-blank line's content, so [`checksum_text`] of it is [`normalize_section`] of
/// the same lines.
fn exact_section(
    text: &str,
    lines: &[&str],
    starts: &[usize],
    body: std::ops::Range<usize>,
) -> (String, usize) {
    let non_blank = |i: &usize| !lines[*i].trim().is_empty();
    let Some(first) = body.clone().find(non_blank) else {
        return (String::new(), body.len());
    };
    let last = body.clone().rev().find(non_blank).unwrap_or(first);
    let end = starts[last] + lines[last].trim_end().len();
    (text[starts[first]..end].to_owned(), first - body.start)
}

/// The byte offset in `text` of each of the `count` lines that `text.lines()` yields.
fn line_starts(text: &str, count: usize) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .take(count)
        .collect()
}

/// Normalises section lines as the checksum requires: trailing whitespace trimmed on every
/// line, blank lines dropped at both ends, lines joined with `\n`.
///
/// Returns the text and the index (into `lines`) of its first line.
///
/// ```
/// use revchain_core::parse::normalize_section;
/// let (sql, first) = normalize_section(&["", "SELECT 1;  \r", "", "SELECT 2;", "  "]);
/// assert_eq!(sql, "SELECT 1;\n\nSELECT 2;");
/// assert_eq!(first, 1);
/// ```
pub fn normalize_section(lines: &[&str]) -> (String, usize) {
    let trimmed: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    let Some(start) = trimmed.iter().position(|l| !l.is_empty()) else {
        return (String::new(), lines.len());
    };
    let end = trimmed
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    (trimmed[start..end].join("\n"), start)
}

/// Reads a duration written as a whole number and a unit `ms`, `s`, `m` or `h`
/// (docs/design.md §6), such as `5s` or `10 m`.
///
/// ```
/// use std::time::Duration;
/// use revchain_core::parse::parse_duration;
/// assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
/// assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
/// assert_eq!(parse_duration("5"), None);
/// ```
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let digits = value.find(|c: char| !c.is_ascii_digit())?;
    let number: u64 = value[..digits].parse().ok()?;
    let millis = match value[digits..].trim_start().to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    Some(Duration::from_millis(number.checked_mul(millis)?))
}

/// Which header key a line holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    RevisionId,
    Revises,
    CreateDate,
    BranchLabels,
    DependsOn,
    Transactional,
    Repeatable,
    LockTimeout,
    StatementTimeout,
    Replaces,
    ReplacesDigest,
    Phase,
}

impl Key {
    fn name(self) -> &'static str {
        KNOWN_KEYS[self as usize]
    }

    /// Longer names first, so that `Replaces Digest` is not read as `Replaces`.
    const ALL: [Key; 12] = [
        Key::RevisionId,
        Key::Revises,
        Key::CreateDate,
        Key::BranchLabels,
        Key::DependsOn,
        Key::Transactional,
        Key::Repeatable,
        Key::LockTimeout,
        Key::StatementTimeout,
        Key::ReplacesDigest,
        Key::Replaces,
        Key::Phase,
    ];

    /// Whether `value`, written after the key without a colon, could be this key's value
    /// (so that `-- Revises 0121585821fb` is the key, and `-- Revises the user table` is a
    /// description).
    fn could_be_value(self, value: &str) -> bool {
        let token = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        match self {
            _ if value.is_empty() => true,
            Key::RevisionId => token(value) && !value.contains('-'),
            Key::Revises | Key::BranchLabels | Key::DependsOn | Key::Replaces => {
                value.split(',').map(str::trim).all(token)
            }
            Key::CreateDate => value.starts_with(|c: char| c.is_ascii_digit()),
            Key::ReplacesDigest => value.chars().all(|c| c.is_ascii_hexdigit()),
            Key::Transactional | Key::Repeatable => ["true", "false"]
                .iter()
                .any(|b| value.eq_ignore_ascii_case(b)),
            Key::LockTimeout | Key::StatementTimeout => parse_duration(value).is_some(),
            Key::Phase => value.parse::<Phase>().is_ok(),
        }
    }
}

/// A header comment line that starts with a known key.
struct KeyLine<'a> {
    key: Key,
    /// The value, trimmed.
    value: &'a str,
    /// Whether the line is written `-- Key: value` (the one accepted shape).
    well_formed: bool,
}

/// Reads `line` as a header key line: `-- Key: value`, or a known key written in another
/// shape (another case, other spacing, `_` or `-` between its words, no colon, `::`, `=`).
/// Without a `:` or `=` after the key, the line is a key line only if the rest could be the
/// key's value; otherwise it is a comment.
fn key_line(line: &str) -> Option<KeyLine<'_>> {
    let t = line.trim();
    let content = t.strip_prefix("--")?.trim_start();
    let (key, after) = Key::ALL
        .into_iter()
        .find_map(|k| strip_key(content, k.name()).map(|after| (k, after)))?;
    let written_key = &content[..content.len() - after.len()];
    let exact = t.strip_prefix("-- ") == Some(content) && written_key == key.name();
    if let Some(value) = after.strip_prefix(':')
        && exact
        && !value.starts_with([':', '='])
    {
        return Some(KeyLine {
            key,
            value: value.trim(),
            well_formed: true,
        });
    }
    let spaced = after.trim_start();
    let valued = spaced.trim_start_matches([':', '=']);
    let value = valued.trim();
    let separated = valued.len() < spaced.len();
    (separated || key.could_be_value(value)).then_some(KeyLine {
        key,
        value,
        well_formed: false,
    })
}

/// `content` after a leading `name` matched in any ASCII case, with any run of spaces, `_`
/// or `-` (or none) between its words, and ending at a word boundary.
fn strip_key<'a>(content: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = content;
    for (i, word) in name.split(' ').enumerate() {
        if i > 0 {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '_' || c == '-');
        }
        let head = rest.get(..word.len())?;
        if !head.eq_ignore_ascii_case(word) {
            return None;
        }
        rest = &rest[word.len()..];
    }
    let boundary = !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_');
    boundary.then_some(rest)
}

/// The error for a key line written in another shape than `-- Key: value`.
fn malformed_key(line: &str, k: &KeyLine<'_>) -> ParseErrorKind {
    let corrected = format!("-- {}: {}", k.key.name(), k.value);
    ParseErrorKind::MalformedKey {
        written: line.trim().to_owned(),
        key: k.key.name(),
        corrected: corrected.trim_end().to_owned(),
    }
}

/// Splits `Key: value` when the part before the colon looks like a key.
fn split_key(content: &str) -> Option<(&str, &str)> {
    let (key, value) = content.split_once(':')?;
    let key = key.trim_end();
    let looks_like_key = key.len() <= 32
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_' || c == '-');
    looks_like_key.then(|| (key, value.trim()))
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= 3.min(c.len() / 2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// What a line is, seen from the top level of the file.
enum LineKind<'a> {
    Blank,
    /// A `--` comment; the text after `--` and the spaces that follow it.
    Comment(&'a str),
    /// A section marker, well written or not.
    Marker(Marker<'a>),
    Sql,
}

/// A line that opens a section.
struct Marker<'a> {
    /// The line as written, trimmed.
    written: &'a str,
    /// The name after `migrate:` as written.
    name: &'a str,
    /// Text after the name on the same line.
    rest: &'a str,
    /// Whether the line starts exactly `-- migrate:`.
    exact_prefix: bool,
    /// The section it opens (`upgrade` or `downgrade`): the one named, or the closest one
    /// for a misspelt or misshapen marker; `None` when no section is close.
    section: Option<&'static str>,
}

impl Marker<'_> {
    /// Whether the line is the marker of its section, exactly as the format writes it.
    fn is_exact(&self) -> bool {
        self.exact_prefix && self.section == Some(self.name)
    }
}

/// The section a marker name stands for: itself, `up`/`down`, a case variant or a close
/// misspelling of `upgrade` or `downgrade`.
fn section_named(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "upgrade" | "up" => Some("upgrade"),
        "downgrade" | "down" => Some("downgrade"),
        other => closest(other, &["upgrade", "downgrade"]),
    }
}

/// The marker line of a section.
fn marker_text(section: &'static str) -> &'static str {
    if section == "upgrade" {
        UPGRADE_MARKER
    } else {
        DOWNGRADE_MARKER
    }
}

/// Reads the trimmed line `t` (whose text after `--` and its spaces is `content`) as a
/// section marker. The one accepted shape is `-- migrate:NAME`; a line is also read as a
/// (misshapen) marker when it is `migrate` in any case and spacing followed by a `:` or `=`
/// and a name close to a section, or by such a name alone on the line
/// (`--migrate:upgrade`, `-- migrate: upgrade`, `-- MIGRATE:UPGRADE`, `-- migrate up`).
fn marker<'a>(t: &'a str, content: &'a str) -> Option<Marker<'a>> {
    if let Some(after) = t.strip_prefix("-- migrate:")
        && !after.starts_with(|c: char| c.is_whitespace() || c == ':' || c == '=')
    {
        let after = after.trim_end();
        let (name, rest) = after
            .split_once(char::is_whitespace)
            .map_or((after, ""), |(n, r)| (n, r.trim()));
        return Some(Marker {
            written: t,
            name,
            rest,
            exact_prefix: true,
            section: section_named(name),
        });
    }
    let after = content
        .get(..7)
        .filter(|head| head.eq_ignore_ascii_case("migrate"))
        .map(|_| &content[7..])?;
    let spaced = after.trim_start();
    let named = spaced.trim_start_matches([':', '=']);
    let separated = named.len() < spaced.len();
    if !separated && spaced.len() == after.len() {
        return None; // `migrated`, `migrate_x`: another word
    }
    let named = named.trim_start();
    let end = named
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(named.len());
    let (name, rest) = (&named[..end], named[end..].trim());
    let section = section_named(name)?;
    (separated || rest.is_empty()).then_some(Marker {
        written: t,
        name,
        rest,
        exact_prefix: false,
        section: Some(section),
    })
}

fn classify(line: &str) -> LineKind<'_> {
    let t = line.trim();
    if t.is_empty() {
        return LineKind::Blank;
    }
    let Some(rest) = t.strip_prefix("--") else {
        return LineKind::Sql;
    };
    let content = rest.trim_start();
    match marker(t, content) {
        Some(m) => LineKind::Marker(m),
        None => LineKind::Comment(content.trim_end()),
    }
}

/// Collects the problems of one file while its phases run (see [`parse_with`]).
struct Builder<'a> {
    path: &'a str,
    errors: Vec<ParseError>,
}

/// The header's fields, as the header phase read them.
struct Header {
    /// The first comment line; `Some("")` when that line is a key line.
    message: Option<String>,
    /// The line of each key, in [`Key`] order, once seen.
    seen: [Option<usize>; 12],
    /// `Revision ID`, kept even when invalid so that it is not also reported missing.
    id: Option<String>,
    parents: Vec<String>,
    create_date: Option<String>,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    transactional: bool,
    repeatable: bool,
    lock_timeout: Option<Duration>,
    statement_timeout: Option<Duration>,
    header_allows: Vec<(usize, String)>,
    replaces: Vec<String>,
    replaces_digest: Option<Digest>,
    phase: Phase,
    /// A description line starts with [`IMPORTED_FROM`]: the revision was converted from
    /// another tool's migration, whose SQL may hold no statement.
    imported: bool,
}

impl Header {
    fn new() -> Self {
        Header {
            message: None,
            seen: [None; 12],
            id: None,
            parents: Vec::new(),
            create_date: None,
            branch_labels: Vec::new(),
            depends_on: Vec::new(),
            transactional: true,
            repeatable: false,
            lock_timeout: None,
            statement_timeout: None,
            header_allows: Vec::new(),
            replaces: Vec::new(),
            replaces_digest: None,
            phase: Phase::Expand,
            imported: false,
        }
    }

    /// The line where `key` was written, if it was.
    fn line(&self, key: Key) -> Option<usize> {
        self.seen[key as usize]
    }

    /// The lines recorded in the [`RevisionFile`].
    fn lines(&self) -> HeaderLines {
        HeaderLines {
            id: self.line(Key::RevisionId).unwrap_or(1),
            revises: self.line(Key::Revises),
            depends_on: self.line(Key::DependsOn),
            branch_labels: self.line(Key::BranchLabels),
            repeatable: self.line(Key::Repeatable),
            replaces: self.line(Key::Replaces),
        }
    }
}

/// The sections, as the section phase read them.
#[derive(Default)]
struct Sections {
    upgrade: Option<Section>,
    downgrade: Option<Section>,
    /// Whether a misspelt or misshapen marker was reported (then a missing upgrade is not).
    marker_misread: bool,
}

impl Sections {
    /// The slot of the section named `upgrade` or `downgrade`.
    fn slot(&mut self, name: &str) -> &mut Option<Section> {
        if name == "upgrade" {
            &mut self.upgrade
        } else {
            &mut self.downgrade
        }
    }
}

/// Parses the text of one revision file; `path` is the path shown in messages.
///
/// Every problem in the file is reported, not just the first.
///
/// ```
/// use revchain_core::parse::parse;
/// let text = "-- add users\n-- Revision ID: a1\n-- Revises:\n\n-- migrate:upgrade\nCREATE TABLE users (id INT);\n\n-- migrate:downgrade\nDROP TABLE users;\n";
/// let rev = parse("migrations/a1_add_users.sql", text).unwrap();
/// assert_eq!(rev.id, "a1");
/// assert_eq!(rev.message, "add users");
/// assert_eq!(rev.upgrade.sql, "CREATE TABLE users (id INT);");
/// assert_eq!(rev.upgrade.line, 6);
/// assert!(rev.parents.is_empty());
///
/// let errors = parse("x.sql", "-- Revison ID: a1\n").unwrap_err();
/// assert_eq!(errors[0].to_string(), "x.sql:1: the header has no `Revision ID:` line; every `.sql` file in a migrations directory is a revision and needs one (create files with `revchain revision -m \"...\"`)");
/// ```
pub fn parse(path: &str, text: &str) -> Result<RevisionFile, Vec<ParseError>> {
    parse_with(path, text, Mode::Strict)
}

/// Like [`parse`]; in [`Mode::Drafts`] an empty upgrade section is accepted.
///
/// The phases, in order: NUL bytes; the header (every line before the first section
/// marker: message, keys, stray SQL); the sections (each from its marker to the next);
/// the checks across them (id present, `Revises`/`Depends On` against the id, refused
/// statements, the upgrade section, copies from the client). Every phase adds its
/// problems to one list, which is reported sorted by line (problems on one line keep the
/// order in which they were found).
pub fn parse_with(path: &str, text: &str, mode: Mode) -> Result<RevisionFile, Vec<ParseError>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut b = Builder {
        path,
        errors: Vec::new(),
    };
    b.check_nul_byte(text);
    let markers = markers(&lines);
    let body = markers.first().map_or(lines.len(), |(idx, _)| *idx);
    let header = b.header(&lines[..body]);
    let Sections {
        upgrade,
        downgrade,
        marker_misread,
    } = b.sections(text, &lines, markers);
    b.check_references(&header);
    b.check_statements(upgrade.iter().chain(&downgrade), header.transactional);
    b.check_upgrade(upgrade.as_ref(), marker_misread, &header, mode, lines.len());

    for section in upgrade.iter().chain(&downgrade) {
        for (line, shown) in copy_through_stdio(&section.sql) {
            b.error(
                section.line + line - 1,
                ParseErrorKind::CopyFromStdin(shown),
            );
        }
    }

    b.finish(header, upgrade, downgrade, RevisionKind::Sql)
}

/// The rules a Rust code revision shares with SQL files (docs/design.md §1.7): `header` is
/// its header with each `//` turned into `--` (one line for one line, so lines stay exact);
/// the sections hold its code; `errors` are the problems the caller found already.
pub(crate) fn finish_code(
    path: &str,
    text: &str,
    header: &[&str],
    sections: (Option<Section>, Option<Section>),
    errors: Vec<ParseError>,
) -> Result<RevisionFile, Vec<ParseError>> {
    let mut b = Builder { path, errors };
    b.check_nul_byte(text);
    let header = b.header(header);
    b.check_references(&header);
    b.finish(header, sections.0, sections.1, RevisionKind::Rust)
}

/// The section markers among `lines`, well written or not, with their indexes.
fn markers<'a>(lines: &[&'a str]) -> Vec<(usize, Marker<'a>)> {
    lines
        .iter()
        .copied()
        .enumerate()
        .filter_map(|(idx, line)| match classify(line) {
            LineKind::Marker(marker) => Some((idx, marker)),
            _ => None,
        })
        .collect()
}

impl Builder<'_> {
    fn error(&mut self, line: usize, kind: impl Into<ParseErrorKind>) {
        self.errors.push(ParseError {
            path: self.path.to_owned(),
            line,
            kind: kind.into(),
        });
    }

    /// A NUL byte anywhere: reported at the line of the first one.
    fn check_nul_byte(&mut self, text: &str) {
        if let Some(at) = text.find('\0') {
            self.error(
                1 + text[..at].matches('\n').count(),
                ParseErrorKind::NulByte,
            );
        }
    }

    /// The header phase: `lines` are the lines before the first section marker.
    fn header(&mut self, lines: &[&str]) -> Header {
        let mut header = Header::new();
        let mut sql_outside_reported = false;
        for (idx, line) in lines.iter().enumerate() {
            let line_no = idx + 1;
            match classify(line) {
                LineKind::Sql if !sql_outside_reported => {
                    self.error(line_no, ParseErrorKind::SqlOutsideSection);
                    sql_outside_reported = true;
                }
                LineKind::Comment(content) if !content.is_empty() => {
                    self.header_comment(&mut header, line_no, line, content);
                }
                _ => {}
            }
        }
        header
    }

    /// One non-empty header comment line: a key line, the message, or a description.
    fn header_comment(&mut self, header: &mut Header, line_no: usize, line: &str, content: &str) {
        let first_content = header.message.is_none();
        let Some(k) = key_line(line) else {
            if first_content {
                header.message = Some(content.to_owned());
            } else {
                header.imported |= content.starts_with(IMPORTED_FROM);
                if let Some(allow) = content.strip_prefix(ALLOW_COMMENT) {
                    header
                        .header_allows
                        .push((line_no, allow.trim().to_owned()));
                } else {
                    self.unknown_key(line_no, content);
                }
            }
            return;
        };
        if !k.well_formed {
            self.error(line_no, malformed_key(line, &k));
        }
        if first_content {
            header.message = Some(String::new());
        }
        self.header_key(header, line_no, k.key, k.value);
    }

    /// A description line after the message is free text, unless it reads as
    /// `Key: value` with a key that revchain does not know.
    fn unknown_key(&mut self, line_no: usize, content: &str) {
        if let Some((written, _)) = split_key(content) {
            self.error(
                line_no,
                ParseErrorKind::UnknownKey {
                    key: written.to_owned(),
                    suggestion: closest(written, &KNOWN_KEYS),
                },
            );
        }
    }

    /// Records the value of `key`, written at `line_no`, in `header`; the first of two
    /// lines with the same key wins.
    fn header_key(&mut self, header: &mut Header, line_no: usize, key: Key, value: &str) {
        if let Some(first_line) = header.line(key) {
            let key = key.name();
            self.error(line_no, ParseErrorKind::DuplicateKey { key, first_line });
            return;
        }
        header.seen[key as usize] = Some(line_no);
        match key {
            Key::RevisionId => {
                if let Err(e) = id::validate_id(value) {
                    self.error(line_no, e);
                }
                header.id = Some(value.to_owned());
            }
            Key::Revises => header.parents = self.list(key, value, line_no, id::validate_id),
            Key::CreateDate => header.create_date = Some(value.to_owned()),
            Key::BranchLabels => {
                header.branch_labels = self.list(key, value, line_no, id::validate_label);
            }
            Key::DependsOn => {
                header.depends_on = self.list(key, value, line_no, id::validate_label);
            }
            Key::Transactional => match value.to_ascii_lowercase().as_str() {
                "true" => header.transactional = true,
                "false" => header.transactional = false,
                _ => self.error(
                    line_no,
                    ParseErrorKind::InvalidTransactional(value.to_owned()),
                ),
            },
            Key::Repeatable => match value.to_ascii_lowercase().as_str() {
                "true" => header.repeatable = true,
                "false" => header.repeatable = false,
                _ => self.error(line_no, ParseErrorKind::InvalidRepeatable(value.to_owned())),
            },
            Key::LockTimeout => header.lock_timeout = self.duration(key, value, line_no),
            Key::StatementTimeout => {
                header.statement_timeout = self.duration(key, value, line_no);
            }
            Key::Replaces => header.replaces = self.list(key, value, line_no, id::validate_id),
            Key::ReplacesDigest => match value.parse::<Digest>() {
                Ok(d) => header.replaces_digest = Some(d),
                Err(_) => self.error(
                    line_no,
                    ParseErrorKind::InvalidReplacesDigest(value.to_owned()),
                ),
            },
            Key::Phase => match value.parse::<Phase>() {
                Ok(phase) => header.phase = phase,
                Err(_) => self.error(line_no, ParseErrorKind::InvalidPhase(value.to_owned())),
            },
        }
    }

    /// Reads a duration value, or records an error.
    fn duration(&mut self, key: Key, value: &str, line: usize) -> Option<Duration> {
        let parsed = parse_duration(value);
        if parsed.is_none() {
            let (key, value) = (key.name(), value.to_owned());
            self.error(line, ParseErrorKind::InvalidDuration { key, value });
        }
        parsed
    }

    /// Splits a comma list and checks each item with `check`.
    fn list(
        &mut self,
        key: Key,
        value: &str,
        line: usize,
        check: fn(&str) -> Result<(), IdError>,
    ) -> Vec<String> {
        if value.is_empty() {
            return Vec::new();
        }
        let mut items = Vec::new();
        for item in value.split(',').map(str::trim) {
            if item.is_empty() {
                self.error(line, ParseErrorKind::EmptyListItem { key: key.name() });
                continue;
            }
            match check(item) {
                Ok(()) => items.push(item.to_owned()),
                Err(e) => self.error(line, e),
            }
        }
        items
    }

    /// The section phase: each marker of `markers` (indexes into `lines`) opens a section
    /// that runs to the next marker.
    ///
    /// A section opened by a misspelt or misshapen marker (reported here) stands in for the
    /// section it is close to when the file has no exact marker for it, so that one mistake
    /// gives one error (not also "no upgrade section").
    fn sections(
        &mut self,
        text: &str,
        lines: &[&str],
        markers: Vec<(usize, Marker<'_>)>,
    ) -> Sections {
        let starts = line_starts(text, lines.len());
        let ends: Vec<usize> = (markers.iter().skip(1).map(|(idx, _)| *idx))
            .chain([lines.len()])
            .collect();
        let mut found = Sections::default();
        let mut misread: Vec<(&'static str, Section)> = Vec::new();
        for ((idx, marker), end) in markers.into_iter().zip(ends) {
            let (sql, first) = exact_section(text, lines, &starts, idx + 1..end);
            let section = Section {
                sql,
                line: idx + 2 + first,
                marker_line: idx + 1,
            };
            if marker.is_exact() {
                self.exact_marker(&mut found, &marker, section);
            } else {
                found.marker_misread = true;
                self.error(section.marker_line, misread_marker(&marker));
                if let Some(name) = marker.section {
                    misread.push((name, section));
                }
            }
        }
        for (name, section) in misread {
            found.slot(name).get_or_insert(section);
        }
        found
    }

    /// Files `section`, opened by the exact marker `marker`, unless its section is already
    /// there; text after the marker is reported.
    fn exact_marker(&mut self, found: &mut Sections, marker: &Marker<'_>, section: Section) {
        if !marker.rest.is_empty() {
            self.error(
                section.marker_line,
                ParseErrorKind::TextAfterMarker(marker.rest.to_owned()),
            );
        }
        let name = if marker.name == "upgrade" {
            "upgrade"
        } else {
            "downgrade"
        };
        match found.slot(name) {
            Some(existing) => self.error(
                section.marker_line,
                ParseErrorKind::DuplicateSection {
                    section: name,
                    first_line: existing.marker_line,
                },
            ),
            slot => *slot = Some(section),
        }
    }

    /// The id is present, and `Revises`/`Depends On` do not name it (nor a parent twice).
    fn check_references(&mut self, header: &Header) {
        let Some(own) = &header.id else {
            self.error(1, ParseErrorKind::MissingRevisionId);
            return;
        };
        let line = header.line(Key::Revises).unwrap_or(1);
        let mut listed = std::collections::HashSet::new();
        for p in &header.parents {
            if p == own {
                self.error(line, ParseErrorKind::SelfReference(own.clone(), "Revises"));
            } else if !listed.insert(p.as_str()) {
                self.error(line, ParseErrorKind::DuplicateParent(p.clone()));
            }
        }
        if header.repeatable {
            self.check_repeatable(header);
        }
        if header.depends_on.iter().any(|d| d == own) {
            let line = header.line(Key::DependsOn).unwrap_or(1);
            let kind = ParseErrorKind::SelfReference(own.clone(), "Depends On");
            self.error(line, kind);
        }
        self.check_replaces(header, own);
    }

    /// `Replaces` (docs/design.md §2.3): not the revision itself, no id twice. (That it
    /// goes with `Replaces Digest` is the baseline rule's: one key line is one check here.)
    fn check_replaces(&mut self, header: &Header, own: &str) {
        let line = header.line(Key::Replaces);
        let line = line.unwrap_or(1);
        let mut listed = std::collections::HashSet::new();
        for r in &header.replaces {
            if r == own {
                self.error(
                    line,
                    ParseErrorKind::SelfReference(own.to_owned(), "Replaces"),
                );
            } else if !listed.insert(r.as_str()) {
                self.error(line, ParseErrorKind::DuplicateReplaced(r.clone()));
            }
        }
    }

    /// A repeatable revision has no place in the graph: no `Revises`, no `Branch Labels`.
    fn check_repeatable(&mut self, header: &Header) {
        for key in [Key::Revises, Key::BranchLabels, Key::Replaces] {
            if let Some(line) = header.line(key) {
                self.error(line, ParseErrorKind::RepeatableGraphKey(key.name()));
            }
        }
    }

    /// The first statement of each section that a revision may not hold
    /// ([`refused_statement`]), at its line.
    fn check_statements<'s>(
        &mut self,
        sections: impl Iterator<Item = &'s Section>,
        transactional: bool,
    ) {
        for section in sections {
            if let Some(refusal) = refused_statement(&section.sql, Dialect::Generic, transactional)
            {
                self.error(
                    section.line + refusal.line - 1,
                    ParseErrorKind::RefusedStatement(refusal),
                );
            }
        }
    }

    /// The upgrade section exists (unless a misread marker was reported in its place) and,
    /// in [`Mode::Strict`], holds a statement unless the revision is a merge.
    fn check_upgrade(
        &mut self,
        upgrade: Option<&Section>,
        marker_misread: bool,
        header: &Header,
        mode: Mode,
        line_count: usize,
    ) {
        match upgrade {
            None if marker_misread => {}
            None => self.error(line_count.max(1), ParseErrorKind::MissingUpgrade),
            Some(section)
                if mode == Mode::Strict
                    && header.parents.len() < 2
                    && !header.imported
                    && section.is_empty() =>
            {
                self.error(section.marker_line, ParseErrorKind::EmptyUpgrade)
            }
            Some(_) => {}
        }
    }

    /// The revision, or every problem found, sorted by line.
    fn finish(
        mut self,
        header: Header,
        upgrade: Option<Section>,
        downgrade: Option<Section>,
        kind: RevisionKind,
    ) -> Result<RevisionFile, Vec<ParseError>> {
        let lines = header.lines();
        match (header.id, upgrade) {
            (Some(id), Some(upgrade)) if self.errors.is_empty() => Ok(RevisionFile {
                path: self.path.to_owned(),
                id,
                message: header.message.unwrap_or_default(),
                parents: header.parents,
                create_date: header.create_date,
                branch_labels: header.branch_labels,
                depends_on: header.depends_on,
                transactional: header.transactional,
                upgrade,
                downgrade,
                lines,
                repeatable: header.repeatable,
                kind,
                lock_timeout: header.lock_timeout,
                statement_timeout: header.statement_timeout,
                header_allows: header.header_allows,
                replaces: header.replaces,
                replaces_digest: header.replaces_digest,
                phase: header.phase,
            }),
            _ => {
                self.errors.sort_by_key(|e| e.line);
                Err(self.errors)
            }
        }
    }
}

/// The error for a marker that is not exactly `-- migrate:upgrade` or `-- migrate:downgrade`.
fn misread_marker(marker: &Marker<'_>) -> ParseErrorKind {
    match marker.section {
        Some(section) if !marker.exact_prefix || section == marker.name.to_ascii_lowercase() => {
            ParseErrorKind::MalformedMarker {
                written: marker.written.to_owned(),
                corrected: marker_text(section),
            }
        }
        suggestion => ParseErrorKind::UnknownSection {
            name: marker.name.to_owned(),
            suggestion: suggestion.map(marker_text),
        },
    }
}

impl fmt::Display for RevisionFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
-- add users table
--
-- Revision ID: 3f2a9c01b7de
-- Revises: 9b1c44e0a2f3
-- Create Date: 2026-11-24 10:00:00.000000+00:00

-- migrate:upgrade
CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT NOT NULL);

-- migrate:downgrade
DROP TABLE users;
";

    fn kinds(text: &str) -> Vec<(usize, ParseErrorKind)> {
        parse("m.sql", text)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.line, e.kind))
            .collect()
    }

    #[test]
    fn phase_defaults_to_expand_and_reads_contract() {
        assert_eq!(parse("a.sql", GOOD).unwrap().phase, Phase::Expand);
        let contract = GOOD.replace("-- Create Date", "-- Phase: contract\n-- Create Date");
        assert_eq!(parse("a.sql", &contract).unwrap().phase, Phase::Contract);
        let bad = GOOD.replace("-- Create Date", "-- Phase: later\n-- Create Date");
        assert_eq!(
            kinds(&bad),
            [(5, ParseErrorKind::InvalidPhase("later".into()))]
        );
    }

    #[test]
    fn parses_the_design_example() {
        let r = parse("migrations/3f2a9c01b7de_add_users.sql", GOOD).unwrap();
        assert_eq!(r.id, "3f2a9c01b7de");
        assert_eq!(r.message, "add users table");
        assert_eq!(r.parents, vec!["9b1c44e0a2f3"]);
        assert_eq!(
            r.create_date.as_deref(),
            Some("2026-11-24 10:00:00.000000+00:00")
        );
        assert!(r.transactional);
        assert_eq!(r.upgrade.line, 8);
        assert_eq!(r.upgrade.marker_line, 7);
        assert_eq!(r.downgrade.as_ref().unwrap().sql, "DROP TABLE users;");
        assert_eq!(r.downgrade.as_ref().unwrap().line, 11);
        assert_eq!(r.lines.id, 3);
        assert_eq!(r.lines.revises, Some(4));
    }

    #[test]
    fn crlf_and_trailing_space_do_not_change_the_checksum() {
        let a = parse("a.sql", GOOD).unwrap();
        let crlf = GOOD
            .replace('\n', "\r\n")
            .replace("NOT NULL);", "NOT NULL);   ");
        let b = parse("b.sql", &crlf).unwrap();
        assert_eq!(a.checksum(), b.checksum());
        let edited = GOOD.replace("email TEXT", "mail TEXT");
        assert_ne!(a.checksum(), parse("c.sql", &edited).unwrap().checksum());
        // Header comments and the downgrade are outside the checksum.
        let header = GOOD.replace("add users table", "add the users table");
        let down = GOOD.replace("DROP TABLE users;", "DROP TABLE IF EXISTS users;");
        assert_eq!(a.checksum(), parse("d.sql", &header).unwrap().checksum());
        assert_eq!(a.checksum(), parse("e.sql", &down).unwrap().checksum());
    }

    /// The text a section carries is the file's, byte for byte: trailing spaces and tabs,
    /// blank lines inside a literal and CRLF inside a literal are all kept.
    #[test]
    fn section_sql_is_the_files_exact_text() {
        let up = "INSERT INTO t VALUES ('a  \t\n   \nb\r\nc');  \r\nSELECT 1; -- x\t";
        let text = format!(
            "-- m\r\n-- Revision ID: a\r\n-- migrate:upgrade\r\n  \r\n\n{up}\r\n\t\n-- migrate:downgrade\r\n DROP  \r\n"
        );
        let r = parse("a.sql", &text).unwrap();
        assert_eq!(r.upgrade.sql, up.trim_end());
        assert_eq!(r.upgrade.line, 6);
        assert_eq!(r.downgrade.as_ref().unwrap().sql, " DROP");
        assert_eq!(r.downgrade.as_ref().unwrap().line, 13);
        assert_eq!(
            r.upgrade.checksum_text(),
            "INSERT INTO t VALUES ('a\n\nb\nc');\nSELECT 1; -- x"
        );
    }

    /// The checksum is the one the earlier versions computed (the normalised lines of the
    /// section), so that databases they migrated still verify.
    #[test]
    fn checksum_is_unchanged_from_the_normalised_section() {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "SELECT 1;",
            "'a  ",
            "\t",
            " ",
            "\r\n",
            "\n",
            "\r",
            "-- c",
            "x",
            "\u{a0}",
            "é",
        ]);
        let texts = prop::collection::vec(piece, 0..24).prop_map(|v| v.concat());
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(texts.clone(), texts), |(up, down)| {
                let text = format!(
                    "-- m\n-- Revision ID: a\n-- Revises: p, q\n-- migrate:upgrade\n{up}\n-- migrate:downgrade\n{down}"
                );
                let r = parse("a.sql", &text).unwrap();
                // What the earlier versions did: normalise the section's lines.
                let lines: Vec<&str> = text.lines().collect();
                let marker = r.upgrade.marker_line;
                let end = r.downgrade.as_ref().unwrap().marker_line - 1;
                let (old, first) = normalize_section(&lines[marker..end]);
                prop_assert_eq!(r.checksum(), Digest::checksum(&old));
                if !old.is_empty() {
                    prop_assert_eq!(r.upgrade.line, marker + 1 + first);
                    prop_assert!(text.contains(&r.upgrade.sql));
                }
                Ok(())
            })
            .unwrap();
        // A fixed value, computed by the version before sections kept their exact text.
        let r = parse("a.sql", &GOOD.replace('\n', "  \r\n")).unwrap();
        assert_eq!(
            r.checksum().to_string(),
            Digest::checksum("CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT NOT NULL);")
                .to_string()
        );
    }

    #[test]
    fn lock_and_statement_timeouts_are_durations() {
        let text = "-- m\n-- Revision ID: a\n-- Lock Timeout: 5s\n-- Statement Timeout: 10m\n-- migrate:upgrade\nSELECT 1;\n";
        let r = parse("m.sql", text).unwrap();
        assert_eq!(r.lock_timeout, Some(Duration::from_secs(5)));
        assert_eq!(r.statement_timeout, Some(Duration::from_secs(600)));
        assert_eq!(parse("m.sql", GOOD).unwrap().lock_timeout, None);
        let allow = "-- m\n-- Revision ID: a\n-- revchain:allow drop-column old release gone\n-- migrate:upgrade\nSELECT 1;\n";
        let r = parse("m.sql", allow).unwrap();
        assert_eq!(
            r.header_allows,
            [(3, "drop-column old release gone".to_owned())]
        );
        let bad = "-- m\n-- Revision ID: a\n-- Lock Timeout: soon\n-- migrate:upgrade\nSELECT 1;\n";
        assert_eq!(
            kinds(bad),
            vec![(
                3,
                ParseErrorKind::InvalidDuration {
                    key: "Lock Timeout",
                    value: "soon".into()
                }
            )]
        );
    }

    #[test]
    fn merge_base_labels_depends_and_transactional() {
        let text = "-- merge\n-- Revision ID: m1\n-- Revises: a, b\n-- Branch Labels: x, y-z\n-- Depends On: c\n-- Transactional: FALSE\n-- migrate:upgrade\n";
        let r = parse("m.sql", text).unwrap();
        assert_eq!(r.parents, ["a", "b"]);
        assert_eq!(r.branch_labels, ["x", "y-z"]);
        assert_eq!(r.depends_on, ["c"]);
        assert!(!r.transactional);
        assert!(r.downgrade.is_none());
        assert_eq!(r.upgrade.sql, "");

        let base = "-- Revision ID: b1\n-- migrate:upgrade\nSELECT 1;\n";
        let r = parse("b.sql", base).unwrap();
        assert!(r.parents.is_empty());
        assert_eq!(r.message, "");
    }

    #[test]
    fn message_may_contain_a_colon_and_description_lines() {
        let text = "-- fix: users email\n-- longer words here\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 1;";
        let r = parse("a.sql", text).unwrap();
        assert_eq!(r.message, "fix: users email");
    }

    #[test]
    fn missing_id_and_upgrade() {
        let k = kinds("-- nothing here\n");
        assert!(k.contains(&(1, ParseErrorKind::MissingRevisionId)));
        assert!(k.contains(&(1, ParseErrorKind::MissingUpgrade)));
    }

    #[test]
    fn unknown_key_suggests() {
        let k = kinds("-- m\n-- Revison ID: a\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 1;\n");
        assert_eq!(
            k,
            vec![(
                2,
                ParseErrorKind::UnknownKey {
                    key: "Revison ID".into(),
                    suggestion: Some("Revision ID")
                }
            )]
        );
        let e = parse(
            "m.sql",
            "-- m\n-- Revison ID: a\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 1;\n",
        )
        .unwrap_err();
        assert!(
            e[0].to_string().starts_with(
                "m.sql:2: unknown header key `Revison ID` (did you mean `Revision ID`?)"
            )
        );
    }

    #[test]
    fn duplicate_key_and_sections() {
        let k = kinds(
            "-- m\n-- Revision ID: a\n-- Revision ID: b\n-- migrate:upgrade\nSELECT 1;\n-- migrate:upgrade\nSELECT 2;\n",
        );
        assert_eq!(
            k,
            vec![
                (
                    3,
                    ParseErrorKind::DuplicateKey {
                        key: "Revision ID",
                        first_line: 2
                    }
                ),
                (
                    6,
                    ParseErrorKind::DuplicateSection {
                        section: "upgrade",
                        first_line: 4
                    }
                ),
            ]
        );
    }

    #[test]
    fn invalid_and_reserved_ids() {
        let k = kinds("-- m\n-- Revision ID: a-b\n-- migrate:upgrade\nSELECT 1;\n");
        assert_eq!(
            k,
            vec![(2, ParseErrorKind::Id(IdError::BadCharacter("a-b".into())))]
        );
        let k = kinds("-- m\n-- Revision ID: head\n-- migrate:upgrade\nSELECT 1;\n");
        assert_eq!(
            k,
            vec![(2, ParseErrorKind::Id(IdError::Reserved("head".into())))]
        );
        let k = kinds("-- m\n-- Revision ID: a\n-- Revises: b,,c\n-- migrate:upgrade\nSELECT 1;\n");
        assert_eq!(
            k,
            vec![(3, ParseErrorKind::EmptyListItem { key: "Revises" })]
        );
    }

    #[test]
    fn self_and_duplicate_parents() {
        let k =
            kinds("-- m\n-- Revision ID: a\n-- Revises: a, b, b\n-- migrate:upgrade\nSELECT 1;\n");
        assert_eq!(
            k,
            vec![
                (3, ParseErrorKind::SelfReference("a".into(), "Revises")),
                (3, ParseErrorKind::DuplicateParent("b".into())),
            ]
        );
    }

    #[test]
    fn empty_upgrade_only_for_merges() {
        let k = kinds(
            "-- m\n-- Revision ID: a\n-- Revises: b\n-- migrate:upgrade\n-- just a comment\n\n-- migrate:downgrade\n",
        );
        assert_eq!(k, vec![(4, ParseErrorKind::EmptyUpgrade)]);
    }

    #[test]
    fn an_imported_revision_may_hold_only_comments() {
        let text = "-- m\n-- imported from sqlx (1_m.sql)\n-- Revision ID: a\n-- migrate:upgrade\n-- nothing\n";
        assert!(parse_with("f.sql", text, Mode::Strict).is_ok());
        let text = "-- m\n-- Revision ID: a\n-- migrate:upgrade\n-- imported from sqlx\n";
        assert!(parse_with("f.sql", text, Mode::Strict).is_err());
    }

    #[test]
    fn markers() {
        let k = kinds("-- m\n-- Revision ID: a\n-- migrate:up\nSELECT 1;\n");
        assert!(k.contains(&(
            3,
            ParseErrorKind::UnknownSection {
                name: "up".into(),
                suggestion: Some("-- migrate:upgrade")
            }
        )));
        let k = kinds("-- m\n-- Revision ID: a\n-- migrate:upgrade transaction:false\nSELECT 1;\n");
        assert_eq!(
            k,
            vec![(
                3,
                ParseErrorKind::TextAfterMarker("transaction:false".into())
            )]
        );
        let k = kinds("-- m\n-- Revision ID: a\nSELECT 0;\n-- migrate:upgrade\nSELECT 1;\n");
        assert_eq!(k, vec![(3, ParseErrorKind::SqlOutsideSection)]);
        let k = kinds(
            "-- m\n-- Revision ID: a\n-- Transactional: maybe\n-- migrate:upgrade\nSELECT 1;\n",
        );
        assert_eq!(
            k,
            vec![(3, ParseErrorKind::InvalidTransactional("maybe".into()))]
        );
    }

    /// The errors of a file whose header is `-- m`, `-- Revision ID: a`, then `line`.
    fn header_line(line: &str) -> Vec<(usize, ParseErrorKind)> {
        let text = format!("-- m\n-- Revision ID: a\n{line}\n-- migrate:upgrade\nSELECT 1;\n");
        match parse("m.sql", &text) {
            Ok(_) => Vec::new(),
            Err(es) => es.into_iter().map(|e| (e.line, e.kind)).collect(),
        }
    }

    #[test]
    fn a_misshapen_key_line_is_an_error_with_the_corrected_line() {
        for (line, corrected) in [
            ("-- Revises 0121585821fb", "-- Revises: 0121585821fb"),
            ("-- revises 0121, b2", "-- Revises: 0121, b2"),
            ("-- Revises", "-- Revises:"),
            ("-- Revises:: b9", "-- Revises: b9"),
            ("-- Revises = b9", "-- Revises: b9"),
            ("-- Revises := b9", "-- Revises: b9"),
            ("-- Revises : b9", "-- Revises: b9"),
            ("--Revises: b9", "-- Revises: b9"),
            ("--   Revises: b9", "-- Revises: b9"),
            ("-- REVISES: b9", "-- Revises: b9"),
            ("-- Depends on: b9", "-- Depends On: b9"),
            ("-- depends_on b", "-- Depends On: b"),
            ("-- BranchLabels x", "-- Branch Labels: x"),
            ("-- Transactional false", "-- Transactional: false"),
            ("-- transactional=FALSE", "-- Transactional: FALSE"),
            ("-- Create  Date 2026-01-01", "-- Create Date: 2026-01-01"),
        ] {
            let errors = header_line(line);
            assert_eq!(errors.len(), 1, "{line}: {errors:?}");
            let (at, kind) = &errors[0];
            assert_eq!(*at, 3, "{line}");
            let ParseErrorKind::MalformedKey { corrected: c, .. } = kind else {
                panic!("{line}: {kind}");
            };
            assert_eq!(c, corrected, "{line}");
        }
        // The id line itself: reported once, not also as a missing `Revision ID`.
        let k = kinds("-- m\n-- revision id = x1\n-- migrate:upgrade\nSELECT 1;\n");
        assert_eq!(k.len(), 1, "{k:?}");
        let e = parse(
            "m.sql",
            "-- m\n-- Revision ID: a\n-- Revises 0121585821fb\n-- migrate:upgrade\nSELECT 1;\n",
        )
        .unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "m.sql:3: `-- Revises 0121585821fb` is read as the `Revises` header key, which is \
             written `-- Revises: value`; write `-- Revises: 0121585821fb` (a header comment line \
             that starts with a header key, in any case or spacing, with its value after a space, \
             `=` or `::`, is that key and not a comment; if it is meant as a description, reword \
             it so that it does not start with `Revises`)"
        );
    }

    /// Generated shapes of every key line: either the canonical line, which takes effect,
    /// or exactly one error whose corrected line, put in its place, takes effect. Never a
    /// comment that silently drops the key.
    #[test]
    fn every_shape_of_a_key_line_takes_effect_or_is_one_error() {
        use proptest::prelude::*;
        let case = |c: char, upper: bool| {
            if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        };
        let shapes = (
            0..KNOWN_KEYS.len(),
            prop::collection::vec(any::<bool>(), 24),
            any::<bool>(),
            prop::sample::select(vec!["--", "-- ", "--  ", "--\t", " -- "]),
            prop::sample::select(vec![" ", "", "  ", "_", "-"]),
            prop::sample::select(vec![": ", ":", "::", " : ", "=", " = ", ":=", " "]),
        );
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&shapes, |(k, upper, keep_case, dash, space, separator)| {
                let key = KNOWN_KEYS[k];
                let value = match key {
                    "Revision ID" => "a",
                    "Create Date" => "2026-01-01",
                    "Transactional" => "false",
                    "Repeatable" => "true",
                    "Phase" => "contract",
                    "Lock Timeout" | "Statement Timeout" => "5s",
                    "Replaces Digest" => {
                        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
                    }
                    _ => "p1",
                };
                let written: String = key
                    .split(' ')
                    .collect::<Vec<_>>()
                    .join(space)
                    .chars()
                    .zip(&upper)
                    .map(|(c, &u)| if keep_case { c } else { case(c, u) })
                    .collect();
                let line = format!("{dash}{written}{separator}{value}");
                let file = |line: &str| {
                    let id = if key == "Revision ID" {
                        ""
                    } else {
                        "-- Revision ID: a\n"
                    };
                    format!("-- m\n{id}{line}\n-- migrate:upgrade\nSELECT 1;\n")
                };
                let took_effect = |r: &RevisionFile| match key {
                    "Revision ID" => r.id == "a",
                    "Revises" => r.parents == ["p1"],
                    "Create Date" => r.create_date.as_deref() == Some("2026-01-01"),
                    "Branch Labels" => r.branch_labels == ["p1"],
                    "Depends On" => r.depends_on == ["p1"],
                    "Repeatable" => r.repeatable,
                    "Lock Timeout" => r.lock_timeout == Some(Duration::from_secs(5)),
                    "Statement Timeout" => r.statement_timeout == Some(Duration::from_secs(5)),
                    "Replaces" => r.replaces == ["p1"],
                    "Replaces Digest" => r.replaces_digest.is_some(),
                    "Phase" => r.phase == Phase::Contract,
                    _ => !r.transactional,
                };
                let line_at = if key == "Revision ID" { 2 } else { 3 };
                match parse("m.sql", &file(&line)) {
                    Ok(r) => {
                        prop_assert!(took_effect(&r), "{line:?} was read as a comment");
                        // The one accepted shape (any spacing after the colon).
                        let canonical = format!("-- {key}:");
                        let rest = line.trim().strip_prefix(&canonical);
                        prop_assert!(
                            rest.is_some_and(|v| v.trim() == value),
                            "{:?} was accepted",
                            line
                        );
                    }
                    Err(es) => {
                        prop_assert_eq!(es.len(), 1, "{:?}: {:?}", line, es);
                        let ParseErrorKind::MalformedKey { corrected, .. } = &es[0].kind else {
                            return Err(TestCaseError::fail(format!("{line:?}: {}", es[0])));
                        };
                        prop_assert_eq!(es[0].line, line_at);
                        let fixed = parse("m.sql", &file(corrected));
                        prop_assert!(fixed.as_ref().is_ok_and(took_effect), "{:?}", fixed);
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    /// Generated shapes of section markers: the exact marker opens its section; any other
    /// shape is exactly one error (never also "no upgrade section"), and the marker it
    /// names, put in its place, parses.
    #[test]
    fn every_shape_of_a_marker_is_exact_or_one_error() {
        use proptest::prelude::*;
        let shapes = (
            prop::sample::select(vec!["--", "-- ", "--  ", " -- "]),
            prop::sample::select(vec!["migrate", "MIGRATE", "Migrate"]),
            prop::sample::select(vec![":", ": ", " :", "::", "=", " ", " = "]),
            prop::sample::select(vec![
                "upgrade",
                "UPGRADE",
                "Upgrade",
                "up",
                "upgarde",
                "upgrad",
                "downgrade",
                "down",
                "DOWNGRADE",
                "downgarde",
            ]),
        );
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&shapes, |(dash, word, separator, name)| {
                let marker = format!("{dash}{word}{separator}{name}");
                let file = |marker: &str| {
                    let (first, second) = if section_named(name) == Some("upgrade") {
                        (marker.to_owned(), DOWNGRADE_MARKER.to_owned())
                    } else {
                        (UPGRADE_MARKER.to_owned(), marker.to_owned())
                    };
                    format!("-- m\n-- Revision ID: a\n{first}\nSELECT 1;\n{second}\nSELECT 2;\n")
                };
                match parse("m.sql", &file(&marker)) {
                    Ok(r) => {
                        prop_assert!(
                            marker.trim() == UPGRADE_MARKER || marker.trim() == DOWNGRADE_MARKER,
                            "{:?} was accepted",
                            marker
                        );
                        prop_assert_eq!(r.upgrade.sql.as_str(), "SELECT 1;");
                    }
                    Err(es) => {
                        prop_assert_eq!(es.len(), 1, "{:?}: {:?}", marker, es);
                        let corrected = match &es[0].kind {
                            ParseErrorKind::MalformedMarker { corrected, .. } => *corrected,
                            ParseErrorKind::UnknownSection {
                                suggestion: Some(s),
                                ..
                            } => *s,
                            other => {
                                return Err(TestCaseError::fail(format!("{marker:?}: {other}")));
                            }
                        };
                        prop_assert!(parse("m.sql", &file(corrected)).is_ok());
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn descriptions_that_start_with_a_key_word_stay_comments() {
        for line in [
            "-- Revises the user table layout",
            "-- Depends on the new index being there",
            "-- Transactional outbox for orders",
            "-- Create date columns on users",
            "-- Revision 2 of the layout",
            "-- Revisions are hard",
            "-- Revision id column renamed",
            "-- Branch labels, explained",
        ] {
            assert_eq!(header_line(line), Vec::new(), "{line}");
            // As the message line too.
            let text = format!("{line}\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 1;\n");
            let r = parse("m.sql", &text).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(r.message, line.trim_start_matches("-- "));
        }
        // A message that could be a key's value is taken as the key, and says so.
        let k = kinds("-- Revises users\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 1;\n");
        assert!(
            matches!(k[0], (1, ParseErrorKind::MalformedKey { .. })),
            "{k:?}"
        );
    }

    #[test]
    fn a_misshapen_marker_is_one_error_with_the_corrected_marker() {
        for (marker, corrected) in [
            ("-- migrate: upgrade", UPGRADE_MARKER),
            ("--migrate:upgrade", UPGRADE_MARKER),
            ("-- migrate upgrade", UPGRADE_MARKER),
            ("-- MIGRATE:UPGRADE", UPGRADE_MARKER),
            ("-- migrate:UPGRADE", UPGRADE_MARKER),
            ("-- Migrate = up", UPGRADE_MARKER),
            ("--  migrate:upgrade", UPGRADE_MARKER),
            ("-- migrate::upgrade", UPGRADE_MARKER),
        ] {
            let text = format!("-- m\n-- Revision ID: a\n{marker}\nSELECT 1;\n");
            let k = kinds(&text);
            assert_eq!(
                k,
                vec![(
                    3,
                    ParseErrorKind::MalformedMarker {
                        written: marker.to_owned(),
                        corrected
                    }
                )],
                "{marker}"
            );
        }
        // In a section, a misshapen downgrade marker is one too: its SQL is not run as part
        // of the upgrade.
        let k = kinds(
            "-- m\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 1;\n-- MIGRATE:DOWNGRADE\nDROP TABLE t;\n",
        );
        assert_eq!(
            k,
            vec![(
                5,
                ParseErrorKind::MalformedMarker {
                    written: "-- MIGRATE:DOWNGRADE".into(),
                    corrected: DOWNGRADE_MARKER
                }
            )]
        );
        // A misspelt name: one error, not also a missing upgrade.
        let k = kinds("-- m\n-- Revision ID: a\n-- migrate:upgarde\nSELECT 1;\n");
        assert_eq!(
            k,
            vec![(
                3,
                ParseErrorKind::UnknownSection {
                    name: "upgarde".into(),
                    suggestion: Some(UPGRADE_MARKER)
                }
            )]
        );
        // A misspelt marker next to an exact one: still one error.
        let k = kinds(
            "-- m\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 1;\n-- migrate:upgrad\nSELECT 2;\n",
        );
        assert_eq!(k.len(), 1, "{k:?}");
        // Comments that mention migrating are comments.
        let r = parse(
            "m.sql",
            "-- migrate the users\n-- Revision ID: a\n-- migrate:upgrade\n-- migrate users first\n-- migrated: yes\nSELECT 1;\n",
        )
        .unwrap();
        assert_eq!(r.message, "migrate the users");
        assert!(r.upgrade.sql.starts_with("-- migrate users first"));
    }

    #[test]
    fn copy_from_stdin_is_refused_at_its_line() {
        let text = |up: &str, down: &str| {
            format!(
                "-- m\n-- Revision ID: a\n-- migrate:upgrade\n{up}\n-- migrate:downgrade\n{down}\n"
            )
        };
        let refused = |up: &str, down: &str| -> Vec<(usize, String)> {
            match parse("m.sql", &text(up, down)) {
                Ok(_) => Vec::new(),
                Err(es) => es
                    .into_iter()
                    .map(|e| match e.kind {
                        ParseErrorKind::CopyFromStdin(shown) => (e.line, shown),
                        other => panic!("{up}: {other}"),
                    })
                    .collect(),
            }
        };
        assert_eq!(
            refused(
                "CREATE TABLE t (a INT);\nCOPY t FROM stdin;\n1\n\\.",
                "SELECT 1;"
            ),
            [(5, "COPY t FROM stdin".to_owned())]
        );
        for copy in [
            "COPY t (a, b) FROM STDIN WITH (FORMAT csv);",
            "copy t from pstdin;",
            "COPY public.t FROM STDIN;",
            "/* lead */ COPY t\nFROM\n  STDIN;",
            "COPY (SELECT 1) TO STDOUT;",
            "COPY t TO stdout WITH CSV;",
        ] {
            let found = refused(&format!("SELECT 1;\n{copy}"), "SELECT 1;");
            assert_eq!(found.len(), 1, "{copy}");
            assert_eq!(found[0].0, 5, "{copy}");
        }
        assert_eq!(
            refused("SELECT 1;", "COPY t FROM STDIN;"),
            [(6, "COPY t FROM STDIN".to_owned())]
        );
        let e = parse("m.sql", &text("COPY t FROM stdin;", "SELECT 1;")).unwrap_err();
        assert!(e[0].to_string().starts_with(
            "m.sql:4: `COPY t FROM stdin` uses the copy protocol, whose data only a client such as psql"
        ));
        // COPY in strings, comments, bodies and other positions is not a copy from the client.
        for fine in [
            "INSERT INTO t VALUES ('COPY t FROM stdin');",
            "-- COPY t FROM stdin;\nSELECT 1;",
            "/* COPY t FROM stdin; */ SELECT 1;",
            "DO $$ BEGIN RAISE NOTICE 'COPY t FROM stdin'; END $$;",
            "COPY t FROM '/srv/t.csv' WITH (FORMAT csv);",
            "COPY t TO '/srv/t.csv';",
            "COPY (SELECT * FROM stdin) TO '/srv/x';",
            "COPY t FROM stdin_file;",
            "CREATE TABLE copy (a INT);\nSELECT a FROM copy;",
        ] {
            assert_eq!(refused(fine, "SELECT 1;"), [], "{fine}");
        }
    }

    #[test]
    fn a_nul_byte_is_an_error_at_its_line() {
        let k = kinds("-- m\n-- Revision ID: a\n-- migrate:upgrade\nSELECT 'a\0b';\n");
        assert_eq!(k, vec![(4, ParseErrorKind::NulByte)]);
    }

    #[test]
    fn not_utf8_names_the_line() {
        let e = decode("x.sql", b"-- a\n-- b\n\xff\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.kind, ParseErrorKind::NotUtf8);
        assert_eq!(decode("x.sql", b"\xEF\xBB\xBF-- a").unwrap(), "-- a");
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("revises", &KNOWN_KEYS), Some("Revises"));
        assert_eq!(closest("zzzzzzzzz", &KNOWN_KEYS), None);
    }
}
