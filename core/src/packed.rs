//! The compact form in which `migrations!` embeds a validated directory: one text blob
//! with every revision's texts one after the other, one byte index with a fixed-size
//! record per revision, and the parent and dependency indices. The macro writes it with
//! [`pack`]; the runtime reads it back with [`Record`], so the layout lives here only.
//!
//! ```
//! use revchain_core::{History, packed};
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("a1_users.sql"), "-- users\n-- Revision ID: a1\n-- Revises:\n\n-- migrate:upgrade\nCREATE TABLE users (id INT);\n").unwrap();
//! let history = History::load(dir.path()).unwrap();
//! let p = packed::pack(&history);
//! let r = packed::Record::at(&p.index, 0);
//! let mut texts = r.texts(&p.text);
//! assert_eq!(texts.next(), Some("a1"));
//! assert_eq!(texts.next(), Some("users"));
//! assert_eq!(r.checksum(), history.checksum(0));
//! ```

use crate::{Digest, History, Phase, RevisionFile};

/// The `u32` fields of a record, in this order. The texts follow each other in the blob
/// from `START`, in the order of their lengths `ID` to `REPLACES`.
pub mod field {
    /// Where the revision's texts start in the blob.
    pub const START: usize = 0;
    /// The length of the id.
    pub const ID: usize = 1;
    /// The length of the message.
    pub const MESSAGE: usize = 2;
    /// The length of the parent ids joined by `", "`.
    pub const PARENT_IDS: usize = 3;
    /// The length of the `Depends On` entries joined by `", "`.
    pub const DEPENDS_ON_NAMES: usize = 4;
    /// The length of the branch labels joined by `", "`.
    pub const BRANCH_LABELS: usize = 5;
    /// The length of the create date (see [`flag::CREATE_DATE`](super::flag::CREATE_DATE)).
    pub const CREATE_DATE: usize = 6;
    /// The length of the upgrade section's text.
    pub const UPGRADE: usize = 7;
    /// The length of the downgrade section's text (see [`flag::DOWNGRADE`](super::flag::DOWNGRADE)).
    pub const DOWNGRADE: usize = 8;
    /// The length of the path.
    pub const PATH: usize = 9;
    /// The length of `Replaces` joined by `", "`.
    pub const REPLACES: usize = 10;
    /// The upgrade section's first line.
    pub const UPGRADE_LINE: usize = 11;
    /// The downgrade section's first line (0 without one).
    pub const DOWNGRADE_LINE: usize = 12;
    /// The line of `Revision ID`.
    pub const ID_LINE: usize = 13;
    /// The lock timeout in milliseconds, as a `u64` in two fields (0: none).
    pub const LOCK_MS: usize = 14;
    /// The statement timeout in milliseconds, as a `u64` in two fields (0: none).
    pub const STATEMENT_MS: usize = 16;
    /// The [`flag`](super::flag)s.
    pub const FLAGS: usize = 18;
    /// Where the parent indices start in the edges.
    pub const PARENTS: usize = 19;
    /// How many parents.
    pub const PARENT_COUNT: usize = 20;
    /// Where the dependency indices start in the edges.
    pub const DEPENDS_ON: usize = 21;
    /// How many dependencies.
    pub const DEPENDS_ON_COUNT: usize = 22;
    /// The number of fields.
    pub const COUNT: usize = 23;
}

/// The bits of [`field::FLAGS`].
pub mod flag {
    /// `Transactional: true`.
    pub const TRANSACTIONAL: u32 = 1;
    /// `Phase: contract`.
    pub const CONTRACT: u32 = 2;
    /// The revision has a `Create Date`.
    pub const CREATE_DATE: u32 = 4;
    /// The revision has a downgrade section.
    pub const DOWNGRADE: u32 = 8;
}

/// The bytes of one record: its fields as little-endian `u32`s, then the revision's
/// checksum and its chain digest.
pub const RECORD: usize = field::COUNT * 4 + 64;

/// A directory's revisions in compact form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    /// Every revision's texts.
    pub text: String,
    /// [`RECORD`] bytes per revision, in table order.
    pub index: Vec<u8>,
    /// The parent and dependency indices, little-endian `u32`s.
    pub edges: Vec<u8>,
}

/// The revisions of `history` (not its repeatables) in compact form, in table order.
pub fn pack(history: &History) -> Packed {
    let mut out = Packed::default();
    let graph = history.graph();
    for (i, f) in history.revisions().iter().enumerate() {
        let node = graph.node(i);
        let digests = [history.checksum(i), history.chain_digest(i)];
        push(&mut out, f, (&node.parents, &node.depends_on), digests);
    }
    out
}

fn push(out: &mut Packed, f: &RevisionFile, edges: (&[usize], &[usize]), digests: [Digest; 2]) {
    let mut fields = [0u32; field::COUNT];
    fields[field::START] = saturate(out.text.len());
    let texts = [
        (field::ID, f.id.as_str().into()),
        (field::MESSAGE, f.message.as_str().into()),
        (field::PARENT_IDS, f.parents.join(", ").into()),
        (field::DEPENDS_ON_NAMES, f.depends_on.join(", ").into()),
        (field::BRANCH_LABELS, f.branch_labels.join(", ").into()),
        (
            field::CREATE_DATE,
            f.create_date.as_deref().unwrap_or("").into(),
        ),
        (field::UPGRADE, f.upgrade.sql.as_str().into()),
        (
            field::DOWNGRADE,
            f.downgrade.as_ref().map_or("", |d| &d.sql).into(),
        ),
        (field::PATH, f.path.as_str().into()),
        (field::REPLACES, f.replaces.join(", ").into()),
    ];
    for (k, text) in texts {
        let text: std::borrow::Cow<'_, str> = text;
        fields[k] = saturate(text.len());
        out.text.push_str(&text);
    }
    fields[field::UPGRADE_LINE] = saturate(f.upgrade.line);
    fields[field::DOWNGRADE_LINE] = saturate(f.downgrade.as_ref().map_or(0, |d| d.line));
    fields[field::ID_LINE] = saturate(f.lines.id);
    split_u64(&mut fields, field::LOCK_MS, millis(f.lock_timeout));
    split_u64(
        &mut fields,
        field::STATEMENT_MS,
        millis(f.statement_timeout),
    );
    fields[field::FLAGS] = flags(f);
    for (at, count, list) in [
        (field::PARENTS, field::PARENT_COUNT, edges.0),
        (field::DEPENDS_ON, field::DEPENDS_ON_COUNT, edges.1),
    ] {
        fields[at] = saturate(out.edges.len() / 4);
        fields[count] = saturate(list.len());
        for &i in list {
            out.edges.extend_from_slice(&saturate(i).to_le_bytes());
        }
    }
    for v in fields {
        out.index.extend_from_slice(&v.to_le_bytes());
    }
    for d in digests {
        out.index.extend_from_slice(d.as_bytes());
    }
}

fn flags(f: &RevisionFile) -> u32 {
    let mut flags = 0;
    for (set, bit) in [
        (f.transactional, flag::TRANSACTIONAL),
        (f.phase == Phase::Contract, flag::CONTRACT),
        (f.create_date.is_some(), flag::CREATE_DATE),
        (f.downgrade.is_some(), flag::DOWNGRADE),
    ] {
        if set {
            flags |= bit;
        }
    }
    flags
}

fn split_u64(fields: &mut [u32; field::COUNT], at: usize, v: u64) {
    fields[at] = (v & u64::from(u32::MAX)) as u32;
    fields[at + 1] = (v >> 32) as u32;
}

/// A header's duration in milliseconds (0: none).
fn millis(d: Option<std::time::Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Indices, lengths and lines beyond `u32` cannot occur in a directory that was read;
/// they saturate.
fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One revision's record in an index. Reading past the end of the index (which a table
/// written by [`pack`] never does) gives zeros, not a panic.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a>(&'a [u8]);

impl<'a> Record<'a> {
    /// The record of revision `i` in `index`.
    pub fn at(index: &'a [u8], i: usize) -> Record<'a> {
        Record(index.get(i * RECORD..(i + 1) * RECORD).unwrap_or(&[]))
    }

    /// The number of records in `index`.
    pub const fn count(index: &[u8]) -> usize {
        index.len() / RECORD
    }

    /// Field `k` (see [`field`]).
    pub fn get(&self, k: usize) -> u32 {
        u32_at(self.0, k)
    }

    /// The `u64` field at `k` ([`field::LOCK_MS`], [`field::STATEMENT_MS`]).
    pub fn get_u64(&self, k: usize) -> u64 {
        u64::from(self.get(k)) | (u64::from(self.get(k + 1)) << 32)
    }

    /// Whether flag `bit` (see [`flag`]) is set.
    pub fn has(&self, bit: u32) -> bool {
        self.get(field::FLAGS) & bit != 0
    }

    /// The revision's texts in `text`, in the order [`field::ID`] to [`field::REPLACES`],
    /// borrowed (an empty text where the blob does not match the index).
    pub fn texts<'t>(&self, text: &'t str) -> impl Iterator<Item = &'t str> + use<'t, 'a> {
        let record = *self;
        let mut start = record.get(field::START) as usize;
        (field::ID..=field::REPLACES).map(move |k| {
            let len = record.get(k) as usize;
            let s = text.get(start..start.saturating_add(len)).unwrap_or("");
            start = start.saturating_add(len);
            s
        })
    }

    /// The parents' indices in `edges`.
    pub fn parents<'e>(&self, edges: &'e [u8]) -> impl Iterator<Item = u32> + use<'e> {
        indices(
            edges,
            self.get(field::PARENTS),
            self.get(field::PARENT_COUNT),
        )
    }

    /// The dependencies' indices in `edges`.
    pub fn depends_on<'e>(&self, edges: &'e [u8]) -> impl Iterator<Item = u32> + use<'e> {
        indices(
            edges,
            self.get(field::DEPENDS_ON),
            self.get(field::DEPENDS_ON_COUNT),
        )
    }

    /// The checksum.
    pub fn checksum(&self) -> Digest {
        self.digest(field::COUNT * 4)
    }

    /// The chain digest.
    pub fn chain_digest(&self) -> Digest {
        self.digest(field::COUNT * 4 + 32)
    }

    fn digest(&self, at: usize) -> Digest {
        let bytes = self.0.get(at..at + 32).and_then(|b| b.try_into().ok());
        Digest(bytes.unwrap_or([0; 32]))
    }
}

fn indices(edges: &[u8], start: u32, count: u32) -> impl Iterator<Item = u32> + use<'_> {
    (start..start.saturating_add(count)).map(move |k| u32_at(edges, k as usize))
}

/// The `k`-th little-endian `u32` of `bytes`; 0 past the end.
fn u32_at(bytes: &[u8], k: usize) -> u32 {
    bytes
        .get(k * 4..k * 4 + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "a.sql",
            "-- base é\n-- Revision ID: a\n-- Revises:\n-- Branch Labels: core, x\n\n-- migrate:upgrade\nCREATE TABLE t (id INT);\n\n-- migrate:downgrade\nDROP TABLE t;\n",
        );
        write(
            "b.sql",
            "-- other\n-- Revision ID: b\n-- Revises:\n-- Create Date: 2026-01-01\n-- Lock Timeout: 5s\n-- Transactional: false\n\n-- migrate:upgrade\nSELECT 2;\n",
        );
        write(
            "c.sql",
            "-- merge\n-- Revision ID: c\n-- Revises: a, b\n-- Depends On: core\n\n-- migrate:upgrade\nSELECT 3;\n",
        );
        let history = History::load(dir.path()).unwrap();
        let p = pack(&history);
        assert_eq!(Record::count(&p.index), 3);
        for (i, f) in history.revisions().iter().enumerate() {
            let r = Record::at(&p.index, i);
            let texts: Vec<&str> = r.texts(&p.text).collect();
            let expected = [
                f.id.clone(),
                f.message.clone(),
                f.parents.join(", "),
                f.depends_on.join(", "),
                f.branch_labels.join(", "),
                f.create_date.clone().unwrap_or_default(),
                f.upgrade.sql.clone(),
                f.downgrade
                    .as_ref()
                    .map_or(String::new(), |d| d.sql.clone()),
                f.path.clone(),
                f.replaces.join(", "),
            ];
            assert_eq!(texts, expected, "{}", f.id);
            let node = history.graph().node(i);
            let parents: Vec<usize> = r.parents(&p.edges).map(|x| x as usize).collect();
            let depends: Vec<usize> = r.depends_on(&p.edges).map(|x| x as usize).collect();
            assert_eq!(parents, node.parents);
            assert_eq!(depends, node.depends_on);
            assert_eq!(r.checksum(), history.checksum(i));
            assert_eq!(r.chain_digest(), history.chain_digest(i));
            assert_eq!(r.has(flag::TRANSACTIONAL), f.transactional);
            assert_eq!(r.has(flag::CREATE_DATE), f.create_date.is_some());
            assert_eq!(r.has(flag::DOWNGRADE), f.downgrade.is_some());
            assert_eq!(r.get_u64(field::LOCK_MS), millis(f.lock_timeout));
            assert_eq!(r.get(field::UPGRADE_LINE) as usize, f.upgrade.line);
            assert_eq!(r.get(field::ID_LINE) as usize, f.lines.id);
        }
        assert!(history.revisions().iter().any(|f| f.lock_timeout.is_some()));
        // Past the end: zeros and empty texts, no panic.
        let none = Record::at(&p.index, 9);
        assert_eq!(none.get(field::ID), 0);
        assert!(none.texts(&p.text).all(str::is_empty));
    }
}
