//! What every file-based tool's migrations have in common, and their conversion into a
//! linear chain of revisions.

use std::cmp::Ordering;
use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::{Tool, revision_id};
use crate::history::Mode;
use crate::parse::{ParseError, UPGRADE_MARKER, decode, parse_with};
use crate::writer::{self, NewRevision};

/// One migration of another tool, read from its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Migration {
    /// The version as the tool records it in its table.
    pub version: String,
    /// The name or description, underscores already turned into spaces.
    pub name: String,
    /// The up SQL: its text.
    pub up: Sql,
    /// The down SQL, when the tool has one for this migration.
    pub down: Option<Sql>,
    /// Whether the tool runs it inside a transaction.
    pub transactional: bool,
}

/// Some SQL of a migration and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sql {
    /// The text, exactly as in the file.
    pub text: String,
    /// The file, relative to the source directory.
    pub file: String,
    /// The file line of the text's first line.
    pub line: usize,
}

/// What reading a tool's directory found: the migrations that could be read, and the
/// problems with the others.
#[derive(Debug)]
pub(crate) struct Read {
    pub migrations: Vec<Migration>,
    pub errors: Vec<ImportError>,
}

impl Read {
    /// Nothing could be read.
    pub fn failed(e: ImportError) -> Read {
        Read {
            migrations: Vec::new(),
            errors: vec![e],
        }
    }

    #[cfg(test)]
    pub fn unwrap(self) -> Vec<Migration> {
        assert_eq!(self.errors, []);
        self.migrations
    }

    #[cfg(test)]
    pub fn unwrap_err(self) -> Vec<ImportError> {
        assert!(!self.errors.is_empty());
        self.errors
    }
}

/// The entries of `dir`, sorted by name, as (name, is a directory); hidden entries skipped.
pub(crate) fn entries(dir: &Path) -> Result<Vec<(String, bool)>, ImportError> {
    entries_in(dir, "")
}

/// The entries of `root/sub` (`sub` relative, empty for `root` itself, as errors name it).
fn entries_in(root: &Path, sub: &str) -> Result<Vec<(String, bool)>, ImportError> {
    let dir = if sub.is_empty() {
        root.to_owned()
    } else {
        root.join(sub)
    };
    let unreadable =
        |e: std::io::Error| ImportError::new(sub, None, ImportErrorKind::Unreadable(e.to_string()));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let is_dir = entry.path().is_dir();
        out.push((name, is_dir));
    }
    out.sort();
    Ok(out)
}

/// The files under `dir` and its subdirectories (not followed through symbolic links), as
/// paths relative to `dir` with `/` between the parts, sorted; hidden entries skipped.
/// refinery and Flyway find migrations at any depth.
pub(crate) fn files_under(dir: &Path) -> Result<Vec<String>, ImportError> {
    let mut out = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(sub) = pending.pop() {
        for (name, is_dir) in entries_in(dir, &sub)? {
            let path = if sub.is_empty() {
                name
            } else {
                format!("{sub}/{name}")
            };
            let real_dir =
                is_dir && std::fs::symlink_metadata(dir.join(&path)).is_ok_and(|m| m.is_dir());
            if real_dir {
                pending.push(path);
            } else if !is_dir {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The last part of a path from [`files_under`].
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The text of `dir/file`, decoded as revchain reads revision files.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String, ImportError> {
    let bytes = std::fs::read(dir.join(file))
        .map_err(|e| ImportError::new(file, None, ImportErrorKind::Unreadable(e.to_string())))?;
    decode(file, &bytes).map_err(|e| {
        ImportError::new(
            file,
            Some(e.line),
            ImportErrorKind::Unreadable(e.kind.to_string()),
        )
    })
}

/// A name's words: `add_user_email` → `add user email`.
pub(crate) fn words(name: &str) -> String {
    name.replace('_', " ").trim().to_owned()
}

/// Orders versions as the tools do: the parts between `.`, `_` and `-` compared one by
/// one, numbers by value (so `1.10` follows `1.9` and `10` follows `9`).
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<String> { v.split(['.', '_', '-']).map(str::to_owned).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        let ord = if numeric(x) && numeric(y) {
            let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            x.cmp(y)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    pa.len().cmp(&pb.len())
}

/// `Create Date` from a version that is a timestamp `YYYYMMDDHHMMSS` (separators `-`, `_`,
/// `.` aside, as diesel writes `2024-01-01-120000`): `2024-01-01 12:00:00.000000+00:00`.
/// Any other version gives no date, and the revision's `Create Date` is left empty.
///
/// ```
/// use revchain_core::import::create_date;
/// assert_eq!(create_date("20240131120005").as_deref(), Some("2024-01-31 12:00:05.000000+00:00"));
/// assert_eq!(create_date("2024-01-31-120005").as_deref(), Some("2024-01-31 12:00:05.000000+00:00"));
/// assert_eq!(create_date("3"), None);
/// assert_eq!(create_date("20241399000000"), None);
/// ```
pub fn create_date(version: &str) -> Option<String> {
    let digits: String = version.chars().filter(|c| !"-_.".contains(*c)).collect();
    if digits.len() != 14 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().unwrap_or(u32::MAX);
    let (month, day, hour, minute, second) = (n(4..6), n(6..8), n(8..10), n(10..12), n(12..14));
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    valid.then(|| {
        format!(
            "{}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.000000+00:00",
            &digits[0..4]
        )
    })
}

/// Orders `migrations` by version, then makes them a linear chain of revisions, each
/// checked by reading it back as revchain reads a migrations directory; every problem is
/// returned.
pub(crate) fn chain(
    tool: Tool,
    mut migrations: Vec<Migration>,
) -> Result<Vec<NewRevision>, Vec<ImportError>> {
    migrations.sort_by(|a, b| compare_versions(&a.version, &b.version));
    let mut errors = Vec::new();
    let mut seen: Vec<(String, &Migration)> = Vec::new();
    let mut out = Vec::new();
    for m in &migrations {
        let Some(id) = revision_id(&m.version) else {
            let kind = ImportErrorKind::InvalidVersion(m.version.clone());
            errors.push(ImportError::new(&m.up.file, None, kind));
            continue;
        };
        if let Some((_, other)) = seen.iter().find(|(seen_id, _)| *seen_id == id) {
            let kind = ImportErrorKind::DuplicateVersion {
                version: m.version.clone(),
                other: other.up.file.clone(),
            };
            errors.push(ImportError::new(&m.up.file, None, kind));
            continue;
        }
        let parents = seen
            .last()
            .map(|(p, _)| vec![p.clone()])
            .unwrap_or_default();
        seen.push((id.clone(), m));
        let revision = revision(tool, m, id, parents);
        match check(&revision, m) {
            Ok(()) => out.push(revision),
            Err(mut es) => errors.append(&mut es),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn revision(tool: Tool, m: &Migration, id: String, parents: Vec<String>) -> NewRevision {
    NewRevision {
        message: message(tool, m),
        id,
        parents,
        create_date: create_date(&m.version).unwrap_or_default(),
        transactional: m.transactional,
        upgrade: m.up.text.clone(),
        downgrade: m.down.as_ref().map(|d| d.text.clone()),
        origin: Some(format!("{tool} ({})", m.up.file)),
        ..NewRevision::default()
    }
}

/// The message: the migration's name, or `<tool> migration <version>` when it has none or
/// when the name would be read back as something else (a name such as `revises users`
/// reads as a `Revises` line).
fn message(tool: Tool, m: &Migration) -> String {
    let reads_back = |message: &str| {
        let probe = NewRevision {
            id: "probe".to_owned(),
            message: message.to_owned(),
            upgrade: "SELECT 1;".to_owned(),
            transactional: true,
            ..NewRevision::default()
        };
        writer::render(&probe).is_ok()
    };
    if !m.name.is_empty() && reads_back(&m.name) {
        m.name.clone()
    } else {
        format!("{tool} migration {}", m.version)
    }
}

/// Renders `revision` and reads it back in strict mode, reporting each problem at the
/// source file and line it comes from.
fn check(revision: &NewRevision, m: &Migration) -> Result<(), Vec<ImportError>> {
    let text = writer::compose(revision).map_err(|e| {
        vec![ImportError::new(
            &m.up.file,
            None,
            ImportErrorKind::Revision(e.to_string()),
        )]
    })?;
    let errors = match parse_with("imported", &text, Mode::Strict) {
        Ok(_) => match writer::render(revision) {
            Ok(_) => return Ok(()),
            Err(e) => {
                let kind = ImportErrorKind::Revision(e.to_string());
                return Err(vec![ImportError::new(&m.up.file, None, kind)]);
            }
        },
        Err(errors) => errors,
    };
    let upgrade = 1 + text.lines().position(|l| l == UPGRADE_MARKER).unwrap_or(0);
    let up_lines = revision.upgrade.trim_end().lines().count();
    let downgrade = upgrade + up_lines + 2;
    Err(errors
        .iter()
        .map(|e| locate(e, m, upgrade, downgrade))
        .collect())
}

/// The source file and line of a problem found at line `e.line` of the rendered revision,
/// whose markers are at lines `upgrade` and `downgrade`.
fn locate(e: &ParseError, m: &Migration, upgrade: usize, downgrade: usize) -> ImportError {
    let kind = ImportErrorKind::Revision(e.kind.to_string());
    match &m.down {
        Some(down) if e.line > downgrade => {
            ImportError::new(&down.file, Some(down.line + e.line - downgrade - 1), kind)
        }
        _ if e.line > upgrade => {
            ImportError::new(&m.up.file, Some(m.up.line + e.line - upgrade - 1), kind)
        }
        _ if e.line == upgrade => ImportError::new(&m.up.file, Some(m.up.line), kind),
        _ => ImportError::new(&m.up.file, None, kind),
    }
}

/// One line of a file: its number, its text without the line break, and the byte offsets
/// where it starts and where the next line starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// 1-based.
    pub number: usize,
    /// The text, without `\n` or `\r\n`.
    pub text: &'a str,
    /// Where the line starts in the file.
    pub start: usize,
    /// Where the next line starts.
    pub next: usize,
}

/// The lines of `text`.
pub(crate) fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let next = start + raw.len();
        let body = raw.strip_suffix('\n').unwrap_or(raw);
        let body = body.strip_suffix('\r').unwrap_or(body);
        out.push(Line {
            number: i + 1,
            text: body,
            start,
            next,
        });
        start = next;
    }
    out
}

/// The SQL of `file` that starts after line `from` and ends where line `to` starts (the
/// end of the file when `None`).
pub(crate) fn between(text: &str, file: &str, from: &Line<'_>, to: Option<&Line<'_>>) -> Sql {
    let end = to.map_or(text.len(), |l| l.start);
    Sql {
        text: text[from.next..end].to_owned(),
        file: file.to_owned(),
        line: from.number + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_reads_as_a_header_key_is_not_the_message() {
        let sql = |text: &str| Sql {
            text: text.to_owned(),
            file: "7_revises_users.sql".to_owned(),
            line: 1,
        };
        let mut m = Migration {
            version: "7".to_owned(),
            name: "revises users".to_owned(),
            up: sql("SELECT 1;"),
            down: None,
            transactional: true,
        };
        assert_eq!(message(Tool::Sqlx, &m), "sqlx migration 7");
        m.name = "add users".to_owned();
        assert_eq!(message(Tool::Sqlx, &m), "add users");
    }

    #[test]
    fn versions_order_by_number() {
        let mut v = vec!["10", "9", "1.10", "1.9", "1_2", "002"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["1_2", "1.9", "1.10", "002", "9", "10"]);
    }
}
