//! Importing another tool's migrations directory (`revchain import --from TOOL`) and the
//! rules that `adopt` shares with it: which tools, and how a tool's version becomes a
//! revision id. See `docs/adopting.md`.

mod dbmate;
mod diesel;
mod error;
mod flyway;
mod golang_migrate;
mod goose;
mod refinery;
mod source;
mod sqlx;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::id;
use crate::writer::{self, NewRevision};

pub use error::{ImportError, ImportErrorKind};
pub use source::create_date;

pub mod adopt;

/// A migration tool whose history revchain can import and whose database it can adopt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tool {
    /// sqlx (`sqlx migrate`, `sqlx::migrate!`): table `_sqlx_migrations`.
    Sqlx,
    /// diesel (`diesel_migrations`): table `__diesel_schema_migrations`.
    Diesel,
    /// refinery: table `refinery_schema_history`.
    Refinery,
    /// dbmate: table `schema_migrations`.
    Dbmate,
    /// golang-migrate: table `schema_migrations`.
    GolangMigrate,
    /// goose: table `goose_db_version`.
    Goose,
    /// Flyway: table `flyway_schema_history`.
    Flyway,
    /// Alembic: table `alembic_version`.
    Alembic,
}

impl Tool {
    /// Every tool, in the order the guide lists them.
    pub const ALL: [Tool; 8] = [
        Tool::Sqlx,
        Tool::Diesel,
        Tool::Refinery,
        Tool::Dbmate,
        Tool::GolangMigrate,
        Tool::Goose,
        Tool::Flyway,
        Tool::Alembic,
    ];

    /// The name users write (`--from NAME`).
    ///
    /// ```
    /// use revchain_core::import::Tool;
    /// assert_eq!(Tool::GolangMigrate.name(), "golang-migrate");
    /// assert_eq!("golang-migrate".parse::<Tool>().unwrap(), Tool::GolangMigrate);
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::Refinery => "refinery",
            Tool::Dbmate => "dbmate",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Goose => "goose",
            Tool::Flyway => "flyway",
            Tool::Alembic => "alembic",
        }
    }

    /// The table in which the tool records what it applied (its default name).
    pub fn history_table(self) -> &'static str {
        match self {
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::Refinery => "refinery_schema_history",
            Tool::Dbmate | Tool::GolangMigrate => "schema_migrations",
            Tool::Goose => "goose_db_version",
            Tool::Flyway => "flyway_schema_history",
            Tool::Alembic => "alembic_version",
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--from` value that names no tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a tool revchain imports from; use one of sqlx, diesel, refinery, dbmate, \
     golang-migrate, goose, flyway, alembic"
)]
pub struct UnknownTool(pub String);

impl FromStr for Tool {
    type Err = UnknownTool;

    fn from_str(s: &str) -> Result<Tool, UnknownTool> {
        Tool::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTool(s.to_owned()))
    }
}

/// The revision id of the migration that a tool records as `version`: the version itself
/// when it is a valid id, else the version with each character that an id may not hold
/// (anything but `[A-Za-z0-9_]`) replaced by `_`, and `v` put first when that leaves a
/// reserved word. `import` names the revisions it writes with it, and `adopt` finds the
/// revision of each row of the tool's table with it, so the two always agree. `None` when
/// the version cannot become an id (empty, or longer than an id may be).
///
/// ```
/// use revchain_core::import::revision_id;
/// assert_eq!(revision_id("20240101120000").as_deref(), Some("20240101120000"));
/// assert_eq!(revision_id("1.2.3").as_deref(), Some("1_2_3"));
/// assert_eq!(revision_id("ae1027a6acf"), Some("ae1027a6acf".to_owned()));
/// assert_eq!(revision_id(""), None);
/// ```
pub fn revision_id(version: &str) -> Option<String> {
    if id::validate_id(version).is_ok() {
        return Some(version.to_owned());
    }
    let replaced: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let candidate = if id::is_reserved(&replaced) {
        format!("v{replaced}")
    } else {
        replaced
    };
    id::validate_id(&candidate).is_ok().then_some(candidate)
}

/// Converts the migrations directory `source` of a file-based `tool` into revchain
/// revisions: one per migration, in the tool's order, as a linear chain (each revises the
/// one before). The source is only read. Each revision's upgrade section is the migration's
/// up SQL as the file has it; its id is [`revision_id`] of the version the tool records; its
/// message comes from the migration's name; its `Create Date` from a timestamp version
/// ([`create_date`]; empty otherwise); a header line `-- imported from TOOL (FILE)` says
/// where it came from. Every revision is checked by reading it back as revchain reads a
/// migrations directory.
///
/// Returns every migration that cannot be converted faithfully, each naming its file (and
/// line). Alembic projects are read through Alembic itself, not here
/// ([`ImportErrorKind::Unsupported`]).
///
/// ```
/// use revchain_core::import::{Tool, from_dir};
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("20240101120000_create_users.sql"), "CREATE TABLE users (id INT);\n").unwrap();
/// let revisions = from_dir(Tool::Sqlx, dir.path()).unwrap();
/// assert_eq!(revisions[0].id, "20240101120000");
/// assert_eq!(revisions[0].message, "create users");
/// assert_eq!(revisions[0].create_date, "2024-01-01 12:00:00.000000+00:00");
/// ```
pub fn from_dir(tool: Tool, source: &Path) -> Result<Vec<NewRevision>, Vec<ImportError>> {
    let read = match tool {
        Tool::Sqlx => sqlx::read(source),
        Tool::Diesel => diesel::read(source),
        Tool::Refinery => refinery::read(source),
        Tool::Dbmate => dbmate::read(source),
        Tool::GolangMigrate => golang_migrate::read(source),
        Tool::Goose => goose::read(source),
        Tool::Flyway => flyway::read(source),
        Tool::Alembic => {
            let what = "an Alembic project is imported through Alembic itself (`revchain import --from alembic`)";
            let kind = ImportErrorKind::Unsupported(what.to_owned());
            return Err(vec![ImportError::new(String::new(), None, kind)]);
        }
    };
    let mut errors = read.errors;
    if read.migrations.is_empty() && errors.is_empty() {
        let kind = ImportErrorKind::NoMigrations {
            tool: tool.name(),
            expected: expected(tool),
        };
        errors.push(ImportError::new(String::new(), None, kind));
    }
    match source::chain(tool, read.migrations) {
        Ok(revisions) if errors.is_empty() => Ok(revisions),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

fn expected(tool: Tool) -> &'static str {
    match tool {
        Tool::Diesel => "directories `<version>_<name>/` with `up.sql`",
        Tool::Refinery => "`V<n>__<name>.sql` files",
        Tool::Flyway => "`V<version>__<description>.sql` files",
        Tool::GolangMigrate => "`<version>_<title>.up.sql` files",
        _ => "`<version>_<name>.sql` files",
    }
}

/// Why [`write_all`] wrote nothing or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteAllError {
    /// The target exists and is not an empty directory.
    #[error(
        "{0} already exists and is not an empty directory; import into a new directory (nothing was written)"
    )]
    NotEmpty(PathBuf),
    /// A revision cannot be rendered.
    #[error("revision {id}: {source}")]
    Render {
        /// The revision id.
        id: String,
        /// Why.
        #[source]
        source: writer::WriteError,
    },
    /// The directory or a file cannot be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `revisions` into `dir` as revision files (`<id>_<slug>.sql`), creating `dir`.
/// `dir` must not exist or be an empty directory: an import starts a migrations directory,
/// it never mixes into one. Every file is rendered before the first is written, and when a
/// write fails the files already written are removed. Returns the paths written, in order.
///
/// ```
/// use revchain_core::import::{Tool, from_dir, write_all};
/// let source = tempfile::tempdir().unwrap();
/// std::fs::write(source.path().join("1_users.sql"), "CREATE TABLE users (id INT);\n").unwrap();
/// let target = tempfile::tempdir().unwrap();
/// let written = write_all(target.path(), &from_dir(Tool::Sqlx, source.path()).unwrap()).unwrap();
/// assert!(written[0].ends_with("1_users.sql"));
/// assert!(write_all(target.path(), &[]).is_err());
/// ```
pub fn write_all(dir: &Path, revisions: &[NewRevision]) -> Result<Vec<PathBuf>, WriteAllError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| WriteAllError::Io { path, source }
    };
    if dir.exists() && (!dir.is_dir() || std::fs::read_dir(dir).map_err(io(dir))?.next().is_some())
    {
        return Err(WriteAllError::NotEmpty(dir.to_owned()));
    }
    let mut files = Vec::new();
    for r in revisions {
        let text = writer::render(r).map_err(|source| WriteAllError::Render {
            id: r.id.clone(),
            source,
        })?;
        files.push((dir.join(writer::file_name(&r.id, &r.message)), text));
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (i, (path, text)) in files.iter().enumerate() {
        if let Err(source) = write_new(path, text) {
            // Leave the directory as it was found: empty.
            for (written, _) in &files[..i] {
                let _ = std::fs::remove_file(written);
            }
            return Err(WriteAllError::Io {
                path: path.clone(),
                source,
            });
        }
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// Writes `text` as the new file `path` (never over an existing one).
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    std::io::Write::write_all(&mut file, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_with;

    fn sqlx_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_chain_whose_upgrade_text_is_the_source_text() {
        let up = "-- no-transaction\nCREATE INDEX i ON users (id);\n";
        let dir = sqlx_dir(&[
            (
                "1_users.sql",
                "CREATE TABLE users (id INT);\r\n  INSERT INTO users VALUES (1);  \n",
            ),
            ("2_index.up.sql", up),
            ("2_index.down.sql", "-- no-transaction\nDROP INDEX i;\n"),
            ("3_nothing.sql", "-- this migration was emptied\n"),
            (
                "4_table.sql",
                "CREATE TRIGGER t AFTER INSERT ON _sqlx_migrations BEGIN SELECT 1; END;\n",
            ),
        ]);
        let revs = from_dir(Tool::Sqlx, dir.path()).unwrap();
        let parents: Vec<_> = revs.iter().map(|r| r.parents.join(",")).collect();
        assert_eq!(parents, ["", "1", "2", "3"]);
        let files: Vec<_> = revs
            .iter()
            .map(|r| parse_with("f", &writer::render(r).unwrap(), crate::Mode::Strict).unwrap())
            .collect();
        assert_eq!(
            files[0].upgrade.sql,
            "CREATE TABLE users (id INT);\r\n  INSERT INTO users VALUES (1);"
        );
        // `adopt` finds the file's bytes (sqlx checksums them) from the section.
        assert!(adopt::source_texts(&files[1].upgrade.sql, true).any(|t| t == up));
        assert!(!files[1].transactional);
        assert!(files[2].upgrade.is_empty());
        assert!(
            writer::render(&revs[0])
                .unwrap()
                .contains("\n-- imported from sqlx (1_users.sql)\n")
        );
    }

    #[test]
    fn every_problem_is_reported_at_the_source_line() {
        let dir = sqlx_dir(&[
            ("01_a.sql", "SELECT 1;\n"),
            ("1_b.sql", "SELECT 2;\n"),
            ("2_c.up.sql", "SELECT 1;\nCOMMIT;\n"),
            ("2_c.down.sql", "\nSELECT 1;\nBEGIN;\n"),
        ]);
        let errors = from_dir(Tool::Sqlx, dir.path()).unwrap_err();
        let got: Vec<_> = errors.iter().map(|e| (e.file.as_str(), e.line)).collect();
        let want = [
            ("1_b.sql", None),
            ("2_c.up.sql", Some(2)),
            ("2_c.down.sql", Some(3)),
        ];
        assert_eq!(got, want);
        assert!(matches!(
            errors[0].kind,
            ImportErrorKind::DuplicateVersion { .. }
        ));
        assert!(errors[1].to_string().starts_with("2_c.up.sql:2: "));
    }

    #[test]
    fn an_empty_source_and_a_non_empty_target_are_refused() {
        let dir = sqlx_dir(&[]);
        assert!(matches!(
            from_dir(Tool::Sqlx, dir.path()).unwrap_err()[0].kind,
            ImportErrorKind::NoMigrations { .. }
        ));
        let target = sqlx_dir(&[("x", "")]);
        assert!(matches!(
            write_all(target.path(), &[]),
            Err(WriteAllError::NotEmpty(_))
        ));
    }
}
