//! The compact form of the embedded table that `migrations!` writes
//! ([`revchain_core::packed`]): one text blob, one byte index and the code revisions'
//! functions, from which the [`Revision`] views are built on first use.
//!
//! Rustc checks a handful of literals instead of a struct expression per revision, so a
//! crate that embeds thousands of migrations builds fast. The views borrow their text from
//! the blob (nothing is copied) and are not validated again: the macro validated the
//! directory, and the blob is the very text it parsed and checksummed.

use std::borrow::Cow;

use revchain_core::packed::{Record, field, flag};

use super::{Revision, RevisionParts};
use crate::code::CodeRevision;

/// The embedded revisions in compact form, as `migrations!` writes them.
#[doc(hidden)]
#[derive(Debug)]
pub struct EmbeddedTable {
    /// Every revision's texts ([`revchain_core::packed::Packed::text`]).
    pub text: &'static str,
    /// One record per revision ([`revchain_core::packed::Packed::index`]).
    pub index: &'static [u8],
    /// The parent and dependency indices ([`revchain_core::packed::Packed::edges`]).
    pub edges: &'static [u8],
    /// The Rust code revisions' functions, by table index, in ascending order.
    pub code: &'static [(u32, CodeRevision)],
}

impl EmbeddedTable {
    /// The number of revisions.
    pub(crate) const fn len(&self) -> usize {
        Record::count(self.index)
    }

    /// The view of revision `i`: its texts borrowed from the blob.
    pub(crate) fn view(&self, i: usize) -> Revision {
        let r = Record::at(self.index, i);
        let mut texts = r.texts(self.text).map(Cow::Borrowed);
        let mut next = || texts.next().unwrap_or_default();
        let (id, message, parent_ids) = (next(), next(), next());
        let (depends_on_names, branch_labels, create_date) = (next(), next(), next());
        let (upgrade_sql, downgrade_sql, path, replaces) = (next(), next(), next(), next());
        let edges = |v: Vec<u32>| {
            if v.is_empty() {
                Cow::Borrowed(&[][..])
            } else {
                Cow::Owned(v)
            }
        };
        Revision {
            __parts: RevisionParts {
                id,
                message,
                parent_ids,
                parents: edges(r.parents(self.edges).collect()),
                depends_on_names,
                depends_on: edges(r.depends_on(self.edges).collect()),
                branch_labels,
                create_date: r.has(flag::CREATE_DATE).then_some(create_date),
                transactional: r.has(flag::TRANSACTIONAL),
                upgrade_sql,
                upgrade_line: r.get(field::UPGRADE_LINE),
                downgrade_sql: r.has(flag::DOWNGRADE).then_some(downgrade_sql),
                downgrade_line: r.get(field::DOWNGRADE_LINE),
                path,
                id_line: r.get(field::ID_LINE),
                checksum: r.checksum(),
                chain_digest: r.chain_digest(),
                code: self.code_of(i),
                replaces,
                lock_timeout_ms: r.get_u64(field::LOCK_MS),
                statement_timeout_ms: r.get_u64(field::STATEMENT_MS),
                contract: r.has(flag::CONTRACT),
            },
        }
    }

    /// The views of the revisions at `indices` (those in the table).
    pub(crate) fn views(&self, indices: &[u32]) -> Box<[Revision]> {
        let len = self.len();
        indices
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| i < len)
            .map(|i| self.view(i))
            .collect()
    }

    fn code_of(&self, i: usize) -> Option<CodeRevision> {
        let i = u32::try_from(i).ok()?;
        let at = self.code.binary_search_by_key(&i, |(j, _)| *j).ok()?;
        self.code.get(at).map(|(_, c)| *c)
    }
}
