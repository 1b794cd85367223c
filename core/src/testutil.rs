//! Helpers shared by the unit tests.

use crate::parse::{RevisionFile, parse};

/// A revision file `m/<id>.sql` with the given parents and a downgrade section.
pub(crate) fn file(id: &str, parents: &[&str]) -> RevisionFile {
    file_with(id, parents, "")
}

/// Like [`file`], with extra header lines.
pub(crate) fn file_with(id: &str, parents: &[&str], extra: &str) -> RevisionFile {
    let text = format!(
        "-- rev {id}\n-- Revision ID: {id}\n-- Revises: {}\n{extra}\n-- migrate:upgrade\nSELECT '{id}';\n-- migrate:downgrade\nSELECT 0;\n",
        parents.join(", ")
    );
    parse(&format!("m/{id}.sql"), &text).unwrap()
}
