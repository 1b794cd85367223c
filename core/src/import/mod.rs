//! Importing another tool's migrations directory (`revchain import --from TOOL`) and the
//! rules that `adopt` shares with it: which tools, and how a tool's version becomes a
//! revision id. See `docs/adopting.md`.

use std::fmt;
use std::str::FromStr;

use crate::id;

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
