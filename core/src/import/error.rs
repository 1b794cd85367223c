//! Why a migration of another tool cannot be imported.

use std::fmt;

/// One migration that cannot be converted faithfully, naming the source file (relative to
/// the source directory) and, where there is one, the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ImportError {
    /// The file, relative to the source directory (`20240101120000_users.sql`,
    /// `2024-01-01-120000_users/up.sql`); empty for the source directory itself.
    pub file: String,
    /// The 1-based line, when the problem is at one.
    pub line: Option<usize>,
    /// What is wrong.
    #[source]
    pub kind: ImportErrorKind,
}

impl ImportError {
    /// An error about `file` (at `line`, when given).
    pub fn new(file: impl Into<String>, line: Option<usize>, kind: ImportErrorKind) -> Self {
        ImportError {
            file: file.into(),
            line,
            kind,
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            _ if self.file.is_empty() => write!(f, "{}", self.kind),
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.kind),
            None => write!(f, "{}: {}", self.file, self.kind),
        }
    }
}

/// What is wrong with a migration that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportErrorKind {
    /// The source directory or a file in it cannot be read.
    #[error("cannot read it: {0}")]
    Unreadable(String),
    /// The source directory holds no migration of the tool.
    #[error("no {tool} migration found ({expected})")]
    NoMigrations {
        /// The tool.
        tool: &'static str,
        /// The names the tool's migrations have.
        expected: &'static str,
    },
    /// A file or directory whose name is not one of the tool's migration names.
    #[error("not a {tool} migration name; {tool} names them {expected}")]
    UnrecognisedName {
        /// The tool.
        tool: &'static str,
        /// The names the tool's migrations have.
        expected: &'static str,
    },
    /// A migration written in a programming language (refinery `.rs`, goose `.go`).
    #[error(
        "a {language} migration of {tool} runs code, which revchain cannot carry over; write \
         what it does as SQL in a revision (see docs/adopting.md)"
    )]
    CodeMigration {
        /// The tool.
        tool: &'static str,
        /// The language.
        language: &'static str,
    },
    /// A Flyway repeatable migration (`R__`).
    #[error(
        "a repeatable migration (`R__`) re-runs whenever it changes; revchain has no repeatable \
         revisions yet, so it cannot be carried over (see docs/adopting.md)"
    )]
    Repeatable,
    /// Two migrations with the same version (or versions that give the same revision id).
    #[error("version `{version}` is also the version of {other}; each migration needs its own")]
    DuplicateVersion {
        /// The version.
        version: String,
        /// The other file.
        other: String,
    },
    /// A version that no revision id can be made from.
    #[error("version `{0}` cannot become a revision id (at most 32 letters, digits or `_`)")]
    InvalidVersion(String),
    /// A down migration without its up migration.
    #[error("a down migration without an up migration of the same version")]
    DownWithoutUp,
    /// A directive of the tool that revchain cannot reproduce.
    #[error("{0}")]
    Unsupported(String),
    /// A marker or directive the tool requires is missing or out of place.
    #[error("{0}")]
    Malformed(String),
    /// The converted revision is not one revchain accepts (the message says why; the line is
    /// the source's).
    #[error("{0}")]
    Revision(String),
}
