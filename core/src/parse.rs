//! The migration file format (DESIGN.md §1): a header of `--` comment lines, then the
//! `-- migrate:upgrade` and `-- migrate:downgrade` sections.
//!
//! [`parse`] turns one file's text into a [`RevisionFile`] or into *every* problem it finds,
//! each a [`ParseError`] that names the file and the line.

use std::fmt;

use crate::digest::Digest;
use crate::history::Mode;
use crate::id::{self, IdError};
use crate::split::{Dialect, has_statement};
use crate::statements::refused_statement;

/// The header keys a revision file may use.
pub const KNOWN_KEYS: [&str; 6] = [
    "Revision ID",
    "Revises",
    "Create Date",
    "Branch Labels",
    "Depends On",
    "Transactional",
];

/// The marker that opens the upgrade section.
pub const UPGRADE_MARKER: &str = "-- migrate:upgrade";
/// The marker that opens the downgrade section.
pub const DOWNGRADE_MARKER: &str = "-- migrate:downgrade";

/// One section of a revision file, normalised: line endings are `\n`, trailing whitespace is
/// trimmed on every line, and blank lines at the start and the end are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The normalised SQL text (no trailing newline).
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
}

impl RevisionFile {
    /// The checksum of the upgrade section (DESIGN.md §3).
    pub fn checksum(&self) -> Digest {
        Digest::checksum(&self.upgrade.sql)
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
    /// A revision that revises itself.
    #[error("revision `{0}` lists itself in `{1}`; a revision cannot be its own ancestor")]
    SelfReference(String, &'static str),
    /// `Transactional` is neither `true` nor `false`.
    #[error("`Transactional` must be `true` or `false`, not `{0}`")]
    InvalidTransactional(String),
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

/// Which header key a line holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    RevisionId,
    Revises,
    CreateDate,
    BranchLabels,
    DependsOn,
    Transactional,
}

impl Key {
    fn name(self) -> &'static str {
        KNOWN_KEYS[self as usize]
    }

    fn lookup(written: &str) -> Option<Key> {
        let normal = normalize_key(written);
        let all = [
            Key::RevisionId,
            Key::Revises,
            Key::CreateDate,
            Key::BranchLabels,
            Key::DependsOn,
            Key::Transactional,
        ];
        all.into_iter().find(|k| normalize_key(k.name()) == normal)
    }
}

fn normalize_key(key: &str) -> String {
    key.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
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
    /// A `-- migrate:NAME rest` marker.
    Marker(&'a str, &'a str),
    Sql,
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
    if let Some(marker) = content.strip_prefix("migrate:") {
        let marker = marker.trim();
        let (name, rest) = marker
            .split_once(char::is_whitespace)
            .map_or((marker, ""), |(n, r)| (n, r.trim()));
        return LineKind::Marker(name, rest);
    }
    LineKind::Comment(content.trim_end())
}

struct Builder<'a> {
    path: &'a str,
    errors: Vec<ParseError>,
}

impl Builder<'_> {
    fn error(&mut self, line: usize, kind: impl Into<ParseErrorKind>) {
        self.errors.push(ParseError {
            path: self.path.to_owned(),
            line,
            kind: kind.into(),
        });
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
pub fn parse_with(path: &str, text: &str, mode: Mode) -> Result<RevisionFile, Vec<ParseError>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut b = Builder {
        path,
        errors: Vec::new(),
    };

    // The header: every line before the first section marker.
    let mut message: Option<String> = None;
    let mut seen: [Option<usize>; 6] = [None; 6];
    let mut id: Option<String> = None;
    let mut parents = Vec::new();
    let mut create_date = None;
    let mut branch_labels = Vec::new();
    let mut depends_on = Vec::new();
    let mut transactional = true;
    let mut sql_outside_reported = false;

    let mut idx = 0;
    while idx < lines.len() {
        let line_no = idx + 1;
        match classify(lines[idx]) {
            LineKind::Marker(..) => break,
            LineKind::Blank => {}
            LineKind::Sql => {
                if !sql_outside_reported {
                    b.error(line_no, ParseErrorKind::SqlOutsideSection);
                    sql_outside_reported = true;
                }
            }
            LineKind::Comment("") => {}
            LineKind::Comment(content) => {
                let first_content = message.is_none();
                match split_key(content) {
                    Some((written, value)) => match Key::lookup(written) {
                        Some(key) => {
                            if first_content {
                                message = Some(String::new());
                            }
                            if let Some(first_line) = seen[key as usize] {
                                b.error(
                                    line_no,
                                    ParseErrorKind::DuplicateKey {
                                        key: key.name(),
                                        first_line,
                                    },
                                );
                            } else {
                                seen[key as usize] = Some(line_no);
                                match key {
                                    Key::RevisionId => match id::validate_id(value) {
                                        Ok(()) => id = Some(value.to_owned()),
                                        Err(e) => {
                                            // Remember the id anyway so that other checks
                                            // do not also report it as missing.
                                            id = Some(value.to_owned());
                                            b.error(line_no, e);
                                        }
                                    },
                                    Key::Revises => {
                                        parents = b.list(key, value, line_no, id::validate_id)
                                    }
                                    Key::CreateDate => create_date = Some(value.to_owned()),
                                    Key::BranchLabels => {
                                        branch_labels =
                                            b.list(key, value, line_no, id::validate_label)
                                    }
                                    Key::DependsOn => {
                                        depends_on = b.list(key, value, line_no, id::validate_label)
                                    }
                                    Key::Transactional => {
                                        match value.to_ascii_lowercase().as_str() {
                                            "true" => transactional = true,
                                            "false" => transactional = false,
                                            _ => b.error(
                                                line_no,
                                                ParseErrorKind::InvalidTransactional(
                                                    value.to_owned(),
                                                ),
                                            ),
                                        }
                                    }
                                }
                            }
                        }
                        None if first_content => message = Some(content.to_owned()),
                        None => b.error(
                            line_no,
                            ParseErrorKind::UnknownKey {
                                key: written.to_owned(),
                                suggestion: closest(written, &KNOWN_KEYS),
                            },
                        ),
                    },
                    None if first_content => message = Some(content.to_owned()),
                    // Free description text after the message.
                    None => {}
                }
            }
        }
        idx += 1;
    }

    // The sections.
    let mut upgrade: Option<Section> = None;
    let mut downgrade: Option<Section> = None;
    while idx < lines.len() {
        let marker_line = idx + 1;
        let LineKind::Marker(name, rest) = classify(lines[idx]) else {
            unreachable_marker(&mut b, marker_line);
            idx += 1;
            continue;
        };
        if !rest.is_empty() {
            b.error(
                marker_line,
                ParseErrorKind::TextAfterMarker(rest.to_owned()),
            );
        }
        let end = (idx + 1..lines.len())
            .find(|&i| matches!(classify(lines[i]), LineKind::Marker(..)))
            .unwrap_or(lines.len());
        let body = &lines[idx + 1..end];
        let (sql, first) = normalize_section(body);
        let section = Section {
            sql,
            line: marker_line + 1 + first,
            marker_line,
        };
        let slot = match name {
            "upgrade" => Some(("upgrade", &mut upgrade)),
            "downgrade" => Some(("downgrade", &mut downgrade)),
            _ => None,
        };
        match slot {
            Some((section_name, slot)) => match slot {
                Some(existing) => b.error(
                    marker_line,
                    ParseErrorKind::DuplicateSection {
                        section: section_name,
                        first_line: existing.marker_line,
                    },
                ),
                None => *slot = Some(section),
            },
            None => b.error(
                marker_line,
                ParseErrorKind::UnknownSection {
                    name: name.to_owned(),
                    suggestion: match name {
                        "up" => Some("-- migrate:upgrade"),
                        "down" => Some("-- migrate:downgrade"),
                        other => closest(other, &["upgrade", "downgrade"]).map(|s| {
                            if s == "upgrade" {
                                "-- migrate:upgrade"
                            } else {
                                "-- migrate:downgrade"
                            }
                        }),
                    },
                },
            ),
        }
        idx = end;
    }

    let id_line = seen[Key::RevisionId as usize];
    if id.is_none() {
        b.error(1, ParseErrorKind::MissingRevisionId);
    }
    if let Some(own) = &id {
        let line = seen[Key::Revises as usize].unwrap_or(1);
        let mut listed = std::collections::HashSet::new();
        for p in &parents {
            if p == own {
                b.error(line, ParseErrorKind::SelfReference(own.clone(), "Revises"));
            } else if !listed.insert(p.as_str()) {
                b.error(line, ParseErrorKind::DuplicateParent(p.clone()));
            }
        }
        if depends_on.iter().any(|d| d == own) {
            let line = seen[Key::DependsOn as usize].unwrap_or(1);
            b.error(
                line,
                ParseErrorKind::SelfReference(own.clone(), "Depends On"),
            );
        }
    }
    for section in upgrade.iter().chain(&downgrade) {
        if let Some(refusal) = refused_statement(&section.sql, Dialect::Generic, transactional) {
            b.error(
                section.line + refusal.line - 1,
                ParseErrorKind::RefusedStatement(refusal),
            );
        }
    }
    match &upgrade {
        None => b.error(lines.len().max(1), ParseErrorKind::MissingUpgrade),
        Some(section) if mode == Mode::Strict && parents.len() < 2 && section.is_empty() => {
            b.error(section.marker_line, ParseErrorKind::EmptyUpgrade)
        }
        Some(_) => {}
    }

    match (id, upgrade) {
        (Some(id), Some(upgrade)) if b.errors.is_empty() => Ok(RevisionFile {
            path: path.to_owned(),
            id,
            message: message.unwrap_or_default(),
            parents,
            create_date,
            branch_labels,
            depends_on,
            transactional,
            upgrade,
            downgrade,
            lines: HeaderLines {
                id: id_line.unwrap_or(1),
                revises: seen[Key::Revises as usize],
                depends_on: seen[Key::DependsOn as usize],
                branch_labels: seen[Key::BranchLabels as usize],
            },
        }),
        _ => {
            b.errors.sort_by_key(|e| e.line);
            Err(b.errors)
        }
    }
}

/// The section loop only starts on a marker line and only stops on one, so this is never
/// reached; reporting instead of panicking keeps the parser total.
fn unreachable_marker(b: &mut Builder<'_>, line: usize) {
    b.error(line, ParseErrorKind::SqlOutsideSection);
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
