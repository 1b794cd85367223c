//! Renders new revision files (used by `revchain revision` and `revchain merge`).

use crate::digest::Digest;
use crate::history::Mode;
use crate::parse::{IMPORTED_FROM, ParseError, parse_with};

/// What a new revision file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRevision {
    /// The revision id.
    pub id: String,
    /// The message: the first header line.
    pub message: String,
    /// Parent ids; empty for a base, several for a merge.
    pub parents: Vec<String>,
    /// The creation date as it should appear.
    pub create_date: String,
    /// Branch labels.
    pub branch_labels: Vec<String>,
    /// Ids or labels it depends on.
    pub depends_on: Vec<String>,
    /// `false` writes `Transactional: false`.
    pub transactional: bool,
    /// The upgrade SQL (often empty in a new file).
    pub upgrade: String,
    /// The downgrade SQL; `None` leaves the section out (an irreversible revision).
    pub downgrade: Option<String>,
    /// Where an imported revision came from, such as `sqlx (20240101120000_users.sql)`:
    /// written as the header line `-- imported from <origin>` after the message
    /// ([`IMPORTED_FROM`]).
    pub origin: Option<String>,
}

/// Why a revision cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The message (or the origin) has a line break.
    #[error("the message must be one line")]
    MultilineMessage,
    /// The rendered file would not read back as written (e.g. a message that looks like a
    /// header key or a section marker).
    #[error("the message `{message}` would be read back as something else; reword it ({cause})")]
    DoesNotRoundTrip {
        /// The message.
        message: String,
        /// What reading it back found.
        cause: String,
    },
}

/// Renders the file text of a new revision. The result is checked by parsing it back.
///
/// ```
/// use revchain_core::writer::{render, NewRevision};
/// let text = render(&NewRevision {
///     id: "3f2a9c01b7de".into(),
///     message: "add users table".into(),
///     parents: vec!["9b1c44e0a2f3".into()],
///     create_date: "2026-11-24 10:00:00.000000+00:00".into(),
///     transactional: true,
///     upgrade: "CREATE TABLE users (id BIGINT PRIMARY KEY);".into(),
///     downgrade: Some("DROP TABLE users;".into()),
///     ..Default::default()
/// }).unwrap();
/// assert!(text.starts_with("-- add users table\n--\n-- Revision ID: 3f2a9c01b7de\n-- Revises: 9b1c44e0a2f3\n"));
/// ```
pub fn render(rev: &NewRevision) -> Result<String, WriteError> {
    let out = compose(rev)?;
    check_round_trip(rev, &out)?;
    Ok(out)
}

/// The file text of `rev`, not yet read back (`import` reads it back itself, to report
/// each problem at its source line).
pub(crate) fn compose(rev: &NewRevision) -> Result<String, WriteError> {
    let origin = rev.origin.as_deref().unwrap_or_default();
    if rev.message.contains(['\n', '\r']) || origin.contains(['\n', '\r']) {
        return Err(WriteError::MultilineMessage);
    }
    let mut out = String::new();
    out.push_str(&format!("-- {}\n", rev.message.trim()));
    if rev.origin.is_some() {
        out.push_str(&format!("-- {IMPORTED_FROM}{origin}\n"));
    }
    out.push_str("--\n");
    out.push_str(&format!("-- Revision ID: {}\n", rev.id));
    out.push_str(&format!("-- Revises: {}\n", rev.parents.join(", ")).replace(" \n", "\n"));
    out.push_str(&format!("-- Create Date: {}\n", rev.create_date));
    if !rev.branch_labels.is_empty() {
        out.push_str(&format!(
            "-- Branch Labels: {}\n",
            rev.branch_labels.join(", ")
        ));
    }
    if !rev.depends_on.is_empty() {
        out.push_str(&format!("-- Depends On: {}\n", rev.depends_on.join(", ")));
    }
    if !rev.transactional {
        out.push_str("-- Transactional: false\n");
    }
    out.push_str("\n-- migrate:upgrade\n");
    push_body(&mut out, &rev.upgrade);
    if let Some(down) = &rev.downgrade {
        out.push_str("\n-- migrate:downgrade\n");
        push_body(&mut out, down);
    }
    Ok(out)
}

fn push_body(out: &mut String, sql: &str) {
    let sql = sql.trim_end();
    if !sql.is_empty() {
        out.push_str(sql);
        out.push('\n');
    }
}

fn check_round_trip(rev: &NewRevision, text: &str) -> Result<(), WriteError> {
    let fail = |cause: String| WriteError::DoesNotRoundTrip {
        message: rev.message.clone(),
        cause,
    };
    let parsed =
        parse_with("new revision", text, Mode::Drafts).map_err(|es: Vec<ParseError>| {
            fail(
                es.iter()
                    .map(|e| e.kind.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    if parsed.message != rev.message.trim() || parsed.id != rev.id || parsed.parents != rev.parents
    {
        return Err(fail("the header reads differently".to_owned()));
    }
    Ok(())
}

/// The file name of a revision: `<id>_<slug>.sql`, the slug made of the message's letters
/// and digits (at most 40 characters).
///
/// ```
/// assert_eq!(revchain_core::writer::file_name("ab12", "Add users: email & phone!"), "ab12_add_users_email_phone.sql");
/// assert_eq!(revchain_core::writer::file_name("ab12", "✓"), "ab12.sql");
/// ```
pub fn file_name(id: &str, message: &str) -> String {
    let mut slug = String::new();
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        format!("{id}.sql")
    } else {
        format!("{id}_{slug}.sql")
    }
}

/// A fresh 12-hex-digit id derived from `entropy` (the caller mixes in time, process id
/// and anything else it has); ids already in use are skipped by hashing again.
pub fn generate_id(entropy: &[u8], taken: impl Fn(&str) -> bool) -> String {
    let mut digest = Digest::of(entropy);
    loop {
        let id: String = digest.to_hex().chars().take(12).collect();
        if !taken(&id) && !crate::id::is_reserved(&id) {
            return id;
        }
        digest = Digest::of(digest.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewRevision {
        NewRevision {
            id: "a1".into(),
            message: "m".into(),
            create_date: "2026-01-01 00:00:00.000000+00:00".into(),
            transactional: true,
            downgrade: Some(String::new()),
            ..Default::default()
        }
    }

    #[test]
    fn renders_and_reads_back() {
        let mut r = base();
        r.parents = vec!["p1".into(), "p2".into()];
        r.branch_labels = vec!["cart".into()];
        r.depends_on = vec!["x".into()];
        r.transactional = false;
        let text = render(&r).unwrap();
        let p = crate::parse::parse_with("t.sql", &text, Mode::Drafts).unwrap();
        assert_eq!(p.parents, ["p1", "p2"]);
        assert_eq!(p.branch_labels, ["cart"]);
        assert_eq!(p.depends_on, ["x"]);
        assert!(!p.transactional);
        assert!(p.downgrade.is_some());
        assert!(text.contains("-- Revises: p1, p2\n"));
        let mut b = base();
        b.upgrade = "SELECT 1;".into();
        assert!(render(&b).unwrap().contains("-- Revises:\n"));
    }

    #[test]
    fn rejects_messages_that_would_not_read_back() {
        let mut r = base();
        r.message = "Revision ID: zzz".into();
        assert!(matches!(
            render(&r),
            Err(WriteError::DoesNotRoundTrip { .. })
        ));
        r.message = "migrate:upgrade".into();
        assert!(render(&r).is_err());
        r.message = "two\nlines".into();
        assert_eq!(render(&r), Err(WriteError::MultilineMessage));
        r.message = "fix: a colon is fine".into();
        assert!(render(&r).is_ok());
    }

    #[test]
    fn ids_are_fresh() {
        let a = generate_id(b"x", |_| false);
        assert!(crate::id::is_generated_shape(&a));
        let b = generate_id(b"x", |id| id == a);
        assert_ne!(a, b);
        assert!(crate::id::is_generated_shape(&b));
    }
}
