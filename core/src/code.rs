//! Rust code revisions (docs/design.md §1.7): a `.rs` file in the migrations directory whose
//! header is the SQL header written in `//` comments, followed by Rust code with a
//! `pub async fn upgrade` (and optionally a `pub async fn downgrade`) that receives the
//! database connection.
//!
//! Core reads no Rust: the header goes through the SQL header parser (each leading `//`
//! becomes `--`, line for line, so every rule and line number is the SQL files'), and the
//! functions are found by a textual look for `fn upgrade` / `fn downgrade`
//! ([`function_line`]). The `migrations!` macro checks the signatures with a
//! real Rust parser at build time, and rustc type-checks them.
//!
//! Both sections of a [`RevisionFile`] of kind [`RevisionKind::Rust`] hold the code after
//! the header (the whole of it), so that the checksum (§1.4: that text normalised) covers
//! every function and helper the upgrade may call; the downgrade section is present iff the
//! file has a `downgrade` function, which makes the revision reversible.

use crate::history::Mode;
use crate::parse::{self, ParseError, ParseErrorKind, RevisionFile, RevisionKind, Section};
use crate::writer::{NewRevision, WriteError, compose};

/// The file extension of Rust code revisions.
pub const RUST_EXTENSION: &str = ".rs";

/// Whether a file name is that of a Rust code revision (`*.rs`).
pub fn is_rust_file(name: &str) -> bool {
    name.ends_with(RUST_EXTENSION)
}

/// Parses the text of a Rust code revision; `path` is the path shown in messages. The
/// header follows every rule of an SQL file's header (docs/design.md §1.2); the code is
/// everything after it. `mode` is accepted for symmetry with [`parse::parse_with`]: an
/// empty function body is the author's business, so both modes read the same.
///
/// ```
/// use revchain_core::code::parse_rust;
/// let text = "// backfill\n//\n// Revision ID: c3\n// Revises: a1\n\nuse sqlx::PgConnection;\n\npub async fn upgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {\n    Ok(())\n}\n";
/// let rev = parse_rust("migrations/c3_backfill.rs", text).unwrap();
/// assert_eq!(rev.id, "c3");
/// assert_eq!(rev.parents, ["a1"]);
/// assert_eq!(rev.upgrade.line, 6);
/// assert!(rev.downgrade.is_none());
/// ```
pub fn parse_rust(path: &str, text: &str) -> Result<RevisionFile, Vec<ParseError>> {
    parse_rust_with(path, text, Mode::Strict)
}

/// [`parse_rust`] in a [`Mode`].
pub fn parse_rust_with(
    path: &str,
    text: &str,
    _mode: Mode,
) -> Result<RevisionFile, Vec<ParseError>> {
    let lines: Vec<&str> = text.lines().collect();
    let header_end = lines
        .iter()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("//")
        })
        .unwrap_or(lines.len());
    let header: Vec<String> = lines[..header_end]
        .iter()
        .map(|l| as_sql_comment(l))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let code = code_text(text, &lines, header_end);
    let first_code_line = header_end + 1;
    let section = |found: bool| {
        found.then(|| Section {
            sql: code.clone(),
            line: first_code_line,
            marker_line: first_code_line,
        })
    };
    let mut errors = Vec::new();
    let upgrade = function_line(&lines, "upgrade");
    if upgrade.is_none() {
        errors.push(ParseError {
            path: path.to_owned(),
            line: first_code_line.min(lines.len().max(1)),
            kind: ParseErrorKind::MissingUpgradeFn,
        });
    }
    let downgrade = function_line(&lines, "downgrade");
    parse::finish_code(
        path,
        text,
        &header,
        (section(upgrade.is_some()), section(downgrade.is_some())),
        errors,
    )
    .map_err(|es| es.into_iter().map(in_rust_comments).collect())
}

/// A header error as the Rust file has it: lines shown with `//`, not the `--` the header
/// parser read.
fn in_rust_comments(mut e: ParseError) -> ParseError {
    let rust = |s: &str| match s.trim_start().strip_prefix("--") {
        Some(rest) => format!("//{rest}"),
        None => s.to_owned(),
    };
    if let ParseErrorKind::MalformedKey {
        written, corrected, ..
    } = &mut e.kind
    {
        *written = rust(written);
        *corrected = rust(corrected);
    }
    e
}

/// A header line with its leading `//` written `--` (whitespace around it kept).
fn as_sql_comment(line: &str) -> String {
    let rest = line.trim_start();
    match rest.strip_prefix("//") {
        Some(comment) => format!("{}--{comment}", &line[..line.len() - rest.len()]),
        None => line.to_owned(),
    }
}

/// The code after the header, exactly as written, from its first to its last non-blank
/// line (as an SQL section's text).
fn code_text(text: &str, lines: &[&str], header_end: usize) -> String {
    let body = &lines[header_end..];
    let (Some(first), Some(last)) = (
        body.iter().position(|l| !l.trim().is_empty()),
        body.iter().rposition(|l| !l.trim().is_empty()),
    ) else {
        return String::new();
    };
    let offset = |l: &str| l.as_ptr() as usize - text.as_ptr() as usize;
    let start = offset(body[first]);
    let end = offset(body[last]) + body[last].trim_end().len();
    text[start..end].to_owned()
}

/// The 1-based line of the first declaration `fn <name>` (followed by `(` or `<`, after
/// the start of the line or whitespace): where the function `name` is, by text. Its exact
/// shape is the macro's check (docs/design.md §1.7).
pub fn function_line(lines: &[&str], name: &str) -> Option<usize> {
    let needle = format!("fn {name}");
    lines
        .iter()
        .position(|l| {
            l.match_indices(&needle).any(|(at, _)| {
                let before = l[..at].chars().next_back();
                let after = l[at + needle.len()..].trim_start().chars().next();
                before.is_none_or(char::is_whitespace) && matches!(after, Some('(' | '<'))
            })
        })
        .map(|i| i + 1)
}

/// The file text of a new Rust code revision (`revchain revision --rust`): `rev`'s header
/// in `//` comments, then an `upgrade` and a `downgrade` function on `connection` (the
/// name of sqlx's connection type: `PgConnection`, `MySqlConnection` or
/// `SqliteConnection`; [`PORTABLE`] for `revchain::Connection`, any database) that compile
/// as they are. `rev.upgrade` and `rev.downgrade` are not
/// used. The text is checked by reading it back.
///
/// ```
/// use revchain_core::{code::render_rust, writer::NewRevision};
/// let text = render_rust(&NewRevision {
///     id: "c3d4e5f6a7b8".into(),
///     message: "backfill".into(),
///     parents: vec!["a1b2c3d4e5f6".into()],
///     create_date: "2026-11-30 10:00:00".into(),
///     transactional: true,
///     ..Default::default()
/// }, "PgConnection").unwrap();
/// assert!(text.starts_with("// backfill\n//\n// Revision ID: c3d4e5f6a7b8\n// Revises: a1b2c3d4e5f6\n"));
/// assert!(text.contains("pub async fn upgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {"));
/// ```
pub fn render_rust(rev: &NewRevision, connection: &str) -> Result<String, WriteError> {
    let sql = compose(&NewRevision {
        upgrade: String::new(),
        downgrade: None,
        ..rev.clone()
    })?;
    let header = sql.split("\n-- migrate:upgrade").next().unwrap_or_default();
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&as_rust_comment(line));
        out.push('\n');
    }
    out.push_str(&functions(connection));
    let fail = |cause: String| WriteError::DoesNotRoundTrip {
        message: rev.message.clone(),
        cause,
    };
    let parsed = parse_rust("new revision.rs", &out).map_err(|es| {
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
    Ok(out)
}

/// The name [`render_rust`] takes for the portable form (`revchain::Connection`).
pub const PORTABLE: &str = "Connection";

/// The `use` line and the two functions of a new Rust code revision on `connection`.
fn functions(connection: &str) -> String {
    if connection == PORTABLE {
        return "\nuse revchain::Connection;\n\n\
             pub async fn upgrade(db: Connection<'_>) -> Result<(), sqlx::Error> {\n    \
             // Runs inside the revision's transaction, on any database: `db.execute(sql)` for SQL\n    \
             // they all understand, or `match db` and ordinary sqlx queries per database, e.g.\n    \
             // if let Connection::Postgres(conn) = db { sqlx::query(\"...\").execute(conn).await?; }\n    \
             let _ = db;\n    \
             Ok(())\n\
             }\n\n\
             pub async fn downgrade(db: Connection<'_>) -> Result<(), sqlx::Error> {\n    \
             // Reverts `upgrade`; delete this function to make the revision irreversible.\n    \
             let _ = db;\n    \
             Ok(())\n\
             }\n"
            .to_owned();
    }
    format!(
        "\nuse sqlx::{connection};\n\n\
         pub async fn upgrade(conn: &mut {connection}) -> Result<(), sqlx::Error> {{\n    \
         // Runs inside the revision's transaction: write ordinary sqlx queries on `conn`, e.g.\n    \
         // sqlx::query(\"UPDATE users SET email = lower(email)\").execute(&mut *conn).await?;\n    \
         let _ = conn;\n    \
         Ok(())\n\
         }}\n\n\
         pub async fn downgrade(conn: &mut {connection}) -> Result<(), sqlx::Error> {{\n    \
         // Reverts `upgrade`; delete this function to make the revision irreversible.\n    \
         let _ = conn;\n    \
         Ok(())\n\
         }}\n"
    )
}

/// An SQL header line written as a Rust comment (`--` becomes `//`).
fn as_rust_comment(line: &str) -> String {
    match line.strip_prefix("--") {
        Some(rest) => format!("//{rest}"),
        None => line.to_owned(),
    }
}

/// The file name of a Rust code revision: [`file_name`](crate::writer::file_name) with
/// `.rs`.
///
/// ```
/// assert_eq!(revchain_core::code::file_name("ab12", "Backfill emails"), "ab12_backfill_emails.rs");
/// ```
pub fn file_name(id: &str, message: &str) -> String {
    let sql = crate::writer::file_name(id, message);
    format!("{}{RUST_EXTENSION}", sql.trim_end_matches(".sql"))
}

/// Whether `file` is a Rust code revision.
pub fn is_rust(file: &RevisionFile) -> bool {
    file.kind == RevisionKind::Rust
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "// backfill emails\n//\n// Revision ID: c3d4\n// Revises: a1b2\n// Create Date: 2026-11-30 10:00:00\n\nuse sqlx::PgConnection;\n\npub async fn upgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {\n    Ok(())  \n}\n\npub async fn downgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {\n    Ok(())\n}\n";

    #[test]
    fn header_and_code() {
        let rev = parse_rust("m/c3d4_backfill.rs", TEXT).unwrap();
        assert_eq!(rev.id, "c3d4");
        assert_eq!(rev.message, "backfill emails");
        assert_eq!(rev.parents, ["a1b2"]);
        assert_eq!(rev.create_date.as_deref(), Some("2026-11-30 10:00:00"));
        assert_eq!(rev.kind, RevisionKind::Rust);
        assert_eq!(rev.upgrade.line, 7);
        assert!(rev.upgrade.sql.starts_with("use sqlx::PgConnection;"));
        assert!(rev.upgrade.sql.ends_with('}'));
        assert_eq!(rev.downgrade.as_ref().unwrap().sql, rev.upgrade.sql);
        // The checksum covers the code, normalised as SQL's.
        assert_eq!(
            rev.checksum(),
            crate::Digest::checksum(&parse::checksum_text(&rev.upgrade.sql))
        );
        let crlf = TEXT.replace('\n', "\r\n");
        assert_eq!(
            parse_rust("x.rs", &crlf).unwrap().checksum(),
            rev.checksum()
        );
        let edited = TEXT.replace(
            "Ok(())  \n}\n\npub async fn down",
            "Ok(()) }\n\npub async fn down",
        );
        assert_ne!(
            parse_rust("x.rs", &edited).unwrap().checksum(),
            rev.checksum()
        );
        // Editing the header is not an edit of the code.
        let header = TEXT.replace("backfill emails", "backfill the emails");
        assert_eq!(
            parse_rust("x.rs", &header).unwrap().checksum(),
            rev.checksum()
        );
    }

    #[test]
    fn irreversible_without_downgrade() {
        let text = TEXT.split("\npub async fn downgrade").next().unwrap();
        let rev = parse_rust("x.rs", text).unwrap();
        assert!(rev.downgrade.is_none());
    }

    #[test]
    fn header_rules_and_missing_upgrade_at_their_lines() {
        let text = "// m\n// Revison ID: c3\n// Revises 0121585821fb\n\nfn helper() {}\n";
        let errors = parse_rust("m/c.rs", text).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:#?}");
        assert!(shown[0].starts_with("m/c.rs:1: the header has no `Revision ID:` line"));
        assert!(shown[1].starts_with("m/c.rs:2: unknown header key `Revison ID`"));
        assert!(
            shown[2].starts_with("m/c.rs:3: `// Revises 0121585821fb`"),
            "{}",
            shown[2]
        );
        assert!(
            shown[2].contains("write `// Revises: 0121585821fb`"),
            "{}",
            shown[2]
        );
        assert!(shown[3].starts_with("m/c.rs:5: the Rust revision has no `pub async fn upgrade"));
    }

    #[test]
    fn rendered_template_reads_back() {
        let rev = NewRevision {
            id: "c3".into(),
            message: "backfill".into(),
            parents: vec!["a1".into()],
            create_date: "2026-11-30".into(),
            transactional: false,
            ..Default::default()
        };
        for connection in ["SqliteConnection", PORTABLE] {
            let text = render_rust(&rev, connection).unwrap();
            let parsed = parse_rust("x.rs", &text).unwrap();
            assert!(!parsed.transactional);
            assert!(parsed.downgrade.is_some());
            assert!(text.contains("// Transactional: false\n"));
        }
        let text = render_rust(&rev, PORTABLE).unwrap();
        assert!(
            text.contains("pub async fn upgrade(db: Connection<'_>) -> Result<(), sqlx::Error> {")
        );
    }

    #[test]
    fn function_lines() {
        let lines = [
            "x",
            "  pub async fn upgrade<'c>(c: &mut C)",
            "pub async fn upgraded()",
        ];
        assert_eq!(function_line(&lines, "upgrade"), Some(2));
        assert_eq!(function_line(&lines[2..], "upgrade"), None);
    }
}
