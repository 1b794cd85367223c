//! Taking over a database that another tool migrated (`revchain adopt --from TOOL`): the
//! pure part. The runtime reads the tool's history table as text cells, in the columns
//! [`columns`] names; [`decode_row`] turns each row into a [`HistoryRow`], and [`check`]
//! matches the rows against the embedded revisions: every applied entry must be a revision
//! (found with [`revision_id`]), with the checksum the tool stored where it stored one, and
//! nothing may be failed, dirty or out of order. What comes out is the applied set that
//! the runtime stamps.

use std::collections::HashMap;

use sha2::{Digest as _, Sha384};

use super::{Tool, revision_id};
use crate::graph::Graph;

/// How a column of a tool's history table is read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cell {
    /// The value as text (numbers in decimal).
    Text,
    /// A boolean, read as `1` (true) or `0` (false or NULL).
    Flag,
    /// Bytes, read as hexadecimal digits.
    Bytes,
}

/// The columns of `tool`'s history table that adopt reads, each with how it is read, and
/// the column that orders the rows (the order the tool applied them in).
///
/// ```
/// use revchain_core::import::{Tool, adopt::{Cell, columns}};
/// let (cols, order) = columns(Tool::Sqlx);
/// assert_eq!(cols[3], ("checksum", Cell::Bytes));
/// assert_eq!(order, "version");
/// ```
pub fn columns(tool: Tool) -> (&'static [(&'static str, Cell)], &'static str) {
    use Cell::{Bytes, Flag, Text};
    match tool {
        Tool::Sqlx => (
            &[
                ("version", Text),
                ("description", Text),
                ("success", Flag),
                ("checksum", Bytes),
            ],
            "version",
        ),
        Tool::Diesel | Tool::Dbmate => (&[("version", Text)], "version"),
        Tool::Refinery => (
            &[("version", Text), ("name", Text), ("checksum", Text)],
            "version",
        ),
        Tool::GolangMigrate => (&[("version", Text), ("dirty", Flag)], "version"),
        Tool::Goose => (&[("version_id", Text), ("is_applied", Flag)], "id"),
        Tool::Flyway => (
            &[
                ("version", Text),
                ("description", Text),
                ("type", Text),
                ("checksum", Text),
                ("success", Flag),
            ],
            "installed_rank",
        ),
        Tool::Alembic => (&[("version_num", Text)], "version_num"),
    }
}

/// What a row of a history table says about its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The migration ran.
    Applied,
    /// The migration and everything it comes after ran: golang-migrate's one row,
    /// Alembic's rows (the heads), Flyway's baseline.
    Head,
    /// The migration failed (sqlx's and Flyway's `success = false`).
    Failed,
    /// The migration may have run part-way (golang-migrate's `dirty`).
    Dirty,
    /// The migration was rolled back after it ran (goose's `is_applied = false`, Flyway's
    /// undo and `repair`'s delete marks): a later row of its version says otherwise.
    Reverted,
    /// The tool's own bookkeeping, not a migration (goose's version 0, Flyway's schema
    /// marker).
    Ignored,
}

/// A checksum a tool stored, as it computes it from the migration's file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checksum {
    /// sqlx: the SHA-384 of the file's bytes.
    Sha384(Vec<u8>),
    /// refinery: SipHash-1-3 (keys 0) over the name, the version (`i32`) and the SQL, as
    /// Rust's `Hash` feeds them.
    Refinery {
        /// The migration's name, which the checksum covers.
        name: String,
        /// The stored value.
        value: u64,
    },
    /// Flyway: CRC-32 over the file's lines (without line breaks), as a signed integer.
    Crc32(i32),
}

/// One row of a tool's history table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The version as the tool wrote it.
    pub version: String,
    /// What the row says.
    pub status: Status,
    /// The checksum the tool stored, if it stores one.
    pub checksum: Option<Checksum>,
}

/// A problem that stops an adoption, naming the entry of the tool's table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Finding {
    /// A row that is not as the tool writes it.
    #[error("{tool}'s table has a damaged row ({row}): {defect}")]
    Damaged {
        /// The tool.
        tool: Tool,
        /// The row, as read.
        row: String,
        /// What is wrong with it.
        defect: String,
    },
    /// An applied entry that no embedded revision stands for.
    #[error(
        "{tool} applied version {version}, but no revision has id {}: import the migrations \
         directory that produced this database (`revchain import --from {tool}`)",
        .id.as_deref().unwrap_or("(none: the version cannot be an id)")
    )]
    Unknown {
        /// The tool.
        tool: Tool,
        /// The version.
        version: String,
        /// The id it maps to, when it maps to one.
        id: Option<String>,
    },
    /// The SQL that ran differs from the revision's.
    #[error(
        "{tool} applied version {version} with checksum {stored}, but the upgrade section of \
         revision {id} gives {embedded}: the migration was edited after it ran; restore the \
         SQL that ran"
    )]
    ChecksumDiffers {
        /// The tool.
        tool: Tool,
        /// The version.
        version: String,
        /// Its revision.
        id: String,
        /// The stored checksum, as the tool writes it.
        stored: String,
        /// The checksum of the embedded SQL, computed the tool's way.
        embedded: String,
    },
    /// A migration the tool recorded as failed.
    #[error("{tool} recorded version {version} as failed: repair the database with {tool} first")]
    Failed {
        /// The tool.
        tool: Tool,
        /// The version.
        version: String,
    },
    /// A migration the tool left dirty (it may have run part-way).
    #[error(
        "{tool} left version {version} dirty (it may have run part-way): repair it and clear \
         the mark with {tool} first"
    )]
    Dirty {
        /// The tool.
        tool: Tool,
        /// The version.
        version: String,
    },
    /// An applied migration after one that is not applied.
    #[error(
        "{tool} applied version {version} (revision {id}) but not revision {missing}, which \
         comes before it: the history was applied out of order; apply {missing} with {tool} \
         first"
    )]
    OutOfOrder {
        /// The tool.
        tool: Tool,
        /// The applied version.
        version: String,
        /// Its revision.
        id: String,
        /// The revision before it that is not applied.
        missing: String,
    },
}

/// What an adoption records: the applied revisions (graph indices, in graph order) and the
/// heads of that set, the targets to stamp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Adoption {
    /// Every applied revision.
    pub applied: Vec<usize>,
    /// The heads of the applied set.
    pub heads: Vec<usize>,
}

/// The [`HistoryRow`] of one row of `tool`'s table, read as [`columns`] says (a cell is
/// `None` for NULL); a [`Finding::Damaged`] when it is not as the tool writes it.
///
/// ```
/// use revchain_core::import::{Tool, adopt::{Status, decode_row}};
/// let row = decode_row(Tool::GolangMigrate, &[Some("7".into()), Some("1".into())]).unwrap();
/// assert_eq!((row.version.as_str(), row.status), ("7", Status::Dirty));
/// ```
pub fn decode_row(tool: Tool, cells: &[Option<String>]) -> Result<HistoryRow, Finding> {
    let damaged = |defect: &str| Finding::Damaged {
        tool,
        row: cells
            .iter()
            .map(|c| c.as_deref().unwrap_or("NULL"))
            .collect::<Vec<_>>()
            .join(", "),
        defect: defect.to_owned(),
    };
    let cell = |i: usize| cells.get(i).and_then(|c| c.as_deref());
    let flag = |i: usize| cell(i) == Some("1");
    let version = match cell(0).map(str::trim) {
        Some(v) if !v.is_empty() => v.to_owned(),
        // Flyway's repeatable migrations have no version.
        _ if tool == Tool::Flyway => return flyway_repeatable(cell(1), damaged),
        _ => return Err(damaged("the version is empty")),
    };
    let (status, checksum) = match tool {
        Tool::Sqlx => {
            let bytes = cell(3)
                .and_then(from_hex)
                .ok_or_else(|| damaged("no checksum"))?;
            (
                ok_or(flag(2), Status::Failed),
                Some(Checksum::Sha384(bytes)),
            )
        }
        Tool::Refinery => {
            let value = cell(2).and_then(|c| c.trim().parse().ok());
            let value = value.ok_or_else(|| damaged("the checksum is not a number"))?;
            let name = cell(1).unwrap_or_default().to_owned();
            (Status::Applied, Some(Checksum::Refinery { name, value }))
        }
        Tool::GolangMigrate => (if flag(1) { Status::Dirty } else { Status::Head }, None),
        Tool::Goose if version == "0" => (Status::Ignored, None),
        Tool::Goose => (ok_or(flag(1), Status::Reverted), None),
        Tool::Flyway => return flyway_row(version, cell(2), cell(3), flag(4), damaged),
        Tool::Alembic => (Status::Head, None),
        Tool::Diesel | Tool::Dbmate => (Status::Applied, None),
    };
    Ok(HistoryRow {
        version,
        status,
        checksum,
    })
}

fn ok_or(ok: bool, otherwise: Status) -> Status {
    if ok { Status::Applied } else { otherwise }
}

/// A Flyway row with a version, by its `type` (`SQL`, `BASELINE`, `UNDO_SQL`, …).
fn flyway_row(
    version: String,
    kind: Option<&str>,
    checksum: Option<&str>,
    success: bool,
    damaged: impl Fn(&str) -> Finding,
) -> Result<HistoryRow, Finding> {
    let kind = kind.unwrap_or_default().trim().to_ascii_uppercase();
    let status = match kind.as_str() {
        "SCHEMA" => Status::Ignored,
        // `flyway repair` marks a migration that is no longer applied with a `DELETE` row.
        "DELETE" => Status::Reverted,
        _ if !success => Status::Failed,
        k if k.ends_with("BASELINE") => Status::Head,
        k if k.starts_with("UNDO") => Status::Reverted,
        "SQL" | "JDBC" | "SPRING_JDBC" | "SCRIPT" => Status::Applied,
        other => return Err(damaged(&format!("unknown migration type `{other}`"))),
    };
    let checksum = match checksum.map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(Checksum::Crc32(
            c.parse()
                .map_err(|_| damaged("the checksum is not a number"))?,
        )),
    };
    Ok(HistoryRow {
        version,
        status,
        checksum: checksum.filter(|_| status == Status::Applied),
    })
}

/// A Flyway row without a version: a repeatable migration, which revchain cannot import.
fn flyway_repeatable(
    description: Option<&str>,
    damaged: impl Fn(&str) -> Finding,
) -> Result<HistoryRow, Finding> {
    Err(damaged(&format!(
        "repeatable migration `{}` has no version; revchain has no repeatable revisions yet",
        description.unwrap_or_default()
    )))
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || text.is_empty() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// Checks `rows` (in the order the tool applied them) of `tool`'s table against the
/// embedded revisions (`graph`, and `upgrade_sql` of each graph index): what to stamp, or
/// every problem.
///
/// An entry's revision is the one with id [`revision_id`] of its version. Where the tool
/// stored a checksum, it is computed again the tool's way from the revision's upgrade SQL,
/// as written or followed by one or two line breaks (the file's final newline, which a
/// section's text does not keep), and for sqlx also after a `-- no-transaction` first line.
/// The later row of a version counts (goose records a rollback as a new row). Applied
/// revisions must be everything their heads need: one that is not, although a later one
/// is, is out of order.
pub fn check(
    tool: Tool,
    rows: &[HistoryRow],
    graph: &Graph,
    upgrade_sql: &dyn Fn(usize) -> String,
) -> Result<Adoption, Vec<Finding>> {
    let mut findings = Vec::new();
    let mut latest: Vec<&HistoryRow> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for row in rows.iter().filter(|r| r.status != Status::Ignored) {
        match at.get(row.version.as_str()) {
            Some(&i) => latest[i] = row,
            None => {
                at.insert(&row.version, latest.len());
                latest.push(row);
            }
        }
    }
    let mut applied = vec![false; graph.len()];
    let mut entries: Vec<(usize, &HistoryRow)> = Vec::new();
    for row in latest {
        if let Some(index) = entry(tool, row, graph, upgrade_sql, &mut findings) {
            let closure = match row.status {
                Status::Head => graph.ancestors_with_dependencies([index]),
                _ => graph.ancestors_with_dependencies([]),
            };
            applied[index] = true;
            for (i, a) in closure.into_iter().enumerate() {
                applied[i] |= a;
            }
            entries.push((index, row));
        }
    }
    out_of_order(tool, graph, &applied, &entries, &mut findings);
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(Adoption {
        applied: (0..graph.len()).filter(|&i| applied[i]).collect(),
        heads: graph.heads_of(&applied),
    })
}

/// The graph index of an applied entry, `None` (with its finding) when it is not one.
fn entry(
    tool: Tool,
    row: &HistoryRow,
    graph: &Graph,
    upgrade_sql: &dyn Fn(usize) -> String,
    findings: &mut Vec<Finding>,
) -> Option<usize> {
    let version = row.version.clone();
    match row.status {
        Status::Failed => findings.push(Finding::Failed { tool, version }),
        Status::Dirty => findings.push(Finding::Dirty { tool, version }),
        Status::Applied | Status::Head => {
            let id = revision_id(&row.version);
            let Some(index) = id.as_deref().and_then(|id| graph.find(id)) else {
                findings.push(Finding::Unknown { tool, version, id });
                return None;
            };
            let checksum = row.checksum.as_ref();
            if let Some(embedded) = checksum.and_then(|c| differs(c, &version, &upgrade_sql(index)))
            {
                findings.push(Finding::ChecksumDiffers {
                    tool,
                    stored: checksum.map(display).unwrap_or_default(),
                    version,
                    id: graph.id(index).to_owned(),
                    embedded,
                });
                return None;
            }
            return Some(index);
        }
        Status::Reverted | Status::Ignored => {}
    }
    None
}

/// Every revision that the applied set's heads need but the tool did not apply, named with
/// an applied entry that comes after it.
fn out_of_order(
    tool: Tool,
    graph: &Graph,
    applied: &[bool],
    entries: &[(usize, &HistoryRow)],
    findings: &mut Vec<Finding>,
) {
    let needed = graph.ancestors_with_dependencies(graph.heads_of(applied));
    for missing in (0..graph.len()).filter(|&i| needed[i] && !applied[i]) {
        let after = graph.descendants_with_dependents([missing]);
        if let Some(&(index, row)) = entries.iter().find(|(i, _)| after[*i]) {
            findings.push(Finding::OutOfOrder {
                tool,
                version: row.version.clone(),
                id: graph.id(index).to_owned(),
                missing: graph.id(missing).to_owned(),
            });
        }
    }
}

/// A stored checksum as the tool writes it.
fn display(checksum: &Checksum) -> String {
    match checksum {
        Checksum::Sha384(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        Checksum::Refinery { value, .. } => value.to_string(),
        Checksum::Crc32(value) => value.to_string(),
    }
}

/// `None` when `stored` is the checksum of the migration whose upgrade SQL is `sql` (the
/// texts of [`source_texts`]), else the checksum of `sql` computed the tool's way.
fn differs(stored: &Checksum, version: &str, sql: &str) -> Option<String> {
    let computed = |text: &str| match stored {
        Checksum::Sha384(_) => Checksum::Sha384(Sha384::digest(text.as_bytes()).to_vec()),
        Checksum::Refinery { name, .. } => Checksum::Refinery {
            name: name.clone(),
            value: refinery_checksum(name, version, text),
        },
        Checksum::Crc32(_) => Checksum::Crc32(flyway_checksum(text)),
    };
    let sqlx = matches!(stored, Checksum::Sha384(_));
    if source_texts(sql, sqlx).any(|text| computed(&text) == *stored) {
        return None;
    }
    Some(display(&computed(sql)))
}

/// The texts the tool may have checksummed for a migration whose upgrade section is `sql`:
/// the section keeps the text from its first to its last non-blank line, so the file may
/// also have ended with one or two line breaks; a sqlx file may also have started with
/// `-- no-transaction` (when `sqlx_no_transaction`).
pub fn source_texts(sql: &str, sqlx_no_transaction: bool) -> impl Iterator<Item = String> + '_ {
    let eol = if sql.contains("\r\n") { "\r\n" } else { "\n" };
    let prefixes: &[&str] = if sqlx_no_transaction {
        &["", "-- no-transaction"]
    } else {
        &[""]
    };
    prefixes.iter().flat_map(move |prefix| {
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}{eol}")
        };
        (0..3).map(move |n| format!("{prefix}{sql}{}", eol.repeat(n)))
    })
}

/// refinery's checksum of migration `name`, version `version` and SQL `sql`: SipHash-1-3
/// with keys 0 over `name`, the version as an `i32` and `sql`, fed as Rust's `Hash` feeds
/// a `str` (its bytes, then `0xff`) and an `i32` (four little-endian bytes).
pub fn refinery_checksum(name: &str, version: &str, sql: &str) -> u64 {
    let version: i32 = version.parse().unwrap_or(i32::MIN);
    let mut bytes = Vec::with_capacity(name.len() + sql.len() + 6);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0xff);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(sql.as_bytes());
    bytes.push(0xff);
    siphash13(&bytes)
}

/// SipHash-1-3 with keys 0, 0.
fn siphash13(bytes: &[u8]) -> u64 {
    let mut v = [
        0x736f_6d65_7073_6575_u64,
        0x646f_7261_6e64_6f6d,
        0x6c79_6765_6e65_7261,
        0x7465_6462_7974_6573,
    ];
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = u64::from_le_bytes(word);
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    last[7] = bytes.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..3 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Flyway's checksum of a file's text: CRC-32 over the UTF-8 bytes of each line, without
/// its line break (`\n`, `\r\n` or `\r`) and without a byte-order mark, as a signed
/// integer.
pub fn flyway_checksum(text: &str) -> i32 {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut crc = !0u32;
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    for byte in normalised.split('\n').flat_map(str::bytes) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    (!crc) as i32
}

#[cfg(test)]
mod tests;
