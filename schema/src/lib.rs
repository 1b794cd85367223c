//! A database schema as a value: what `revchain revision --autogenerate`, `revchain check
//! --schema` and the roundtrip test compare.
//!
//! The runtime fills a [`Schema`] from a live database's catalogs (PostgreSQL `pg_catalog`,
//! MySQL/MariaDB `information_schema`, SQLite `sqlite_schema` and pragmas); this module is
//! pure: the model, a comparison that ignores what databases invent or spell differently,
//! [`diff`] into ordered operations with exact inverses, and rendering them as SQL for each
//! dialect ([`generate`]).
//!
//! What the model holds: tables; columns with their type, nullability, default and
//! auto-increment; primary keys; unique constraints; indexes (unique, partial, expression,
//! access method); foreign keys with their actions; check constraints; PostgreSQL enum
//! types. What it does not: views, triggers, functions, sequences other than those behind
//! auto-increment columns, comments, collations, column order, generated columns,
//! partitions, grants.
//!
//! How two schemas are compared:
//! - tables, columns and enum types by name;
//! - column types, defaults, check expressions, index parts and predicates by their
//!   [normalised](normalize_expr) text (case, quoting, spacing and redundant parentheses
//!   ignored);
//! - constraints and indexes by what they do, not by name: two schemas that differ only in
//!   the names a database invented (`users_pkey`, `orders_ibfk_1`, `sqlite_autoindex_t_1`)
//!   are equal. Renaming an index or a constraint is therefore not a difference.
//!
//! ```
//! use revchain_schema::{Column, Schema, Table, generate};
//! use revchain_core::Dialect;
//!
//! let mut users = Table::new("users");
//! users.columns.push(Column::new("id", "bigint").not_null());
//! let before = Schema { tables: vec![users.clone()], ..Schema::default() };
//! users.columns.push(Column::new("email", "text"));
//! let after = Schema { tables: vec![users], ..Schema::default() };
//!
//! let m = generate(&before, &after, Dialect::Postgres).unwrap();
//! assert_eq!(m.upgrade, "ALTER TABLE users ADD COLUMN email text;\n");
//! assert!(m.downgrade.contains("ALTER TABLE users DROP COLUMN email;"));
//! assert_eq!(m.changes, ["added column users.email (text)"]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod diff;
mod lex;
mod render;
pub mod sqlite;
mod types;

pub use diff::{EnumUse, SchemaChange, changes, diff};
pub use lex::{normalize_expr, quote_ident};
pub use render::{Migration, Script, generate, render};

pub use revchain_core::Dialect;

/// A whole schema: its tables and (PostgreSQL) enum types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// The tables.
    pub tables: Vec<Table>,
    /// PostgreSQL enum types.
    pub enums: Vec<EnumType>,
}

impl Schema {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The enum type named `name`.
    pub fn enum_type(&self, name: &str) -> Option<&EnumType> {
        self.enums.iter().find(|e| e.name == name)
    }

    /// Whether the schema has no table and no type.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.enums.is_empty()
    }

    /// Sorts tables and types by name, so that two equal schemas print the same.
    pub fn sort(&mut self) {
        self.tables.sort_by(|a, b| a.name.cmp(&b.name));
        self.enums.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// A table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// The name, unquoted.
    pub name: String,
    /// The columns, in the database's order.
    pub columns: Vec<Column>,
    /// The primary key.
    pub primary_key: Option<PrimaryKey>,
    /// Unique constraints (not unique indexes, which are [`Index`]es).
    pub uniques: Vec<Unique>,
    /// Indexes that no constraint owns.
    pub indexes: Vec<Index>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// Check constraints.
    pub checks: Vec<Check>,
    /// Options written after the column list that change what the table is (SQLite
    /// `WITHOUT ROWID`, `STRICT`), upper-cased.
    pub options: Vec<String>,
}

impl Table {
    /// An empty table named `name`.
    pub fn new(name: &str) -> Table {
        Table {
            name: name.to_owned(),
            ..Table::default()
        }
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    /// The name, unquoted.
    pub name: String,
    /// The type as the database spells it (`character varying(40)`, `int(11)`, `TEXT`).
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default, as an SQL expression of the dialect (`'draft'::text`, `0`,
    /// `CURRENT_TIMESTAMP`); `None` when there is none (or it is NULL).
    pub default: Option<String>,
    /// Whether the database numbers new rows itself (PostgreSQL `serial`/identity, MySQL
    /// `AUTO_INCREMENT`, SQLite `AUTOINCREMENT`).
    pub auto_increment: bool,
}

impl Column {
    /// A nullable column without a default.
    pub fn new(name: &str, data_type: &str) -> Column {
        Column {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            nullable: true,
            default: None,
            auto_increment: false,
        }
    }

    /// The same column, `NOT NULL`.
    pub fn not_null(mut self) -> Column {
        self.nullable = false;
        self
    }

    /// The same column with a default.
    pub fn default_to(mut self, expr: &str) -> Column {
        self.default = Some(expr.to_owned());
        self
    }
}

/// A primary key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrimaryKey {
    /// The constraint name, where the database has one.
    pub name: Option<String>,
    /// The columns, in key order.
    pub columns: Vec<String>,
}

/// A unique constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unique {
    /// The constraint name, where known.
    pub name: Option<String>,
    /// The columns, in key order.
    pub columns: Vec<String>,
}

/// An index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// The name.
    pub name: String,
    /// The key parts as SQL of the dialect: a (quoted where needed) column name or an
    /// expression, possibly followed by `DESC`, a prefix length (`name(10)`) or a collation.
    pub parts: Vec<String>,
    /// Whether it is unique.
    pub unique: bool,
    /// The `WHERE` predicate of a partial index.
    pub predicate: Option<String>,
    /// The access method when it is not the default B-tree (`gin`, `hash`, `fulltext`).
    pub method: Option<String>,
}

/// What a foreign key does when the referenced row changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `NO ACTION` (the default).
    #[default]
    NoAction,
    /// `RESTRICT`.
    Restrict,
    /// `CASCADE`.
    Cascade,
    /// `SET NULL`.
    SetNull,
    /// `SET DEFAULT`.
    SetDefault,
}

impl Action {
    /// The SQL words.
    pub fn sql(self) -> &'static str {
        match self {
            Action::NoAction => "NO ACTION",
            Action::Restrict => "RESTRICT",
            Action::Cascade => "CASCADE",
            Action::SetNull => "SET NULL",
            Action::SetDefault => "SET DEFAULT",
        }
    }

    /// Reads `NO ACTION`, `RESTRICT`, `CASCADE`, `SET NULL`, `SET DEFAULT` (any case and
    /// spacing); anything else is `NO ACTION`.
    pub fn parse(text: &str) -> Action {
        let t: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        match t.as_str() {
            "RESTRICT" => Action::Restrict,
            "CASCADE" => Action::Cascade,
            "SET NULL" => Action::SetNull,
            "SET DEFAULT" => Action::SetDefault,
            _ => Action::NoAction,
        }
    }
}

/// A foreign key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint name, where known.
    pub name: Option<String>,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced columns.
    pub ref_columns: Vec<String>,
    /// `ON DELETE`.
    pub on_delete: Action,
    /// `ON UPDATE`.
    pub on_update: Action,
}

/// A check constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// The constraint name, where known.
    pub name: Option<String>,
    /// The condition, as SQL of the dialect.
    pub expression: String,
}

/// A PostgreSQL enum type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnumType {
    /// The name, unquoted.
    pub name: String,
    /// The labels, in order.
    pub values: Vec<String>,
}

/// How the comparison sees a column's type.
pub(crate) fn type_key(t: &str, d: Dialect) -> String {
    normalize_expr(t, d)
}

/// How the comparison sees a default.
pub(crate) fn default_key(e: &Option<String>, d: Dialect) -> Option<String> {
    e.as_deref()
        .map(|e| normalize_expr(e, d))
        .filter(|e| e != "null")
}

/// Whether two columns (of the same name) are equal for the comparison.
pub(crate) fn same_column(a: &Column, b: &Column, d: Dialect) -> bool {
    type_key(&a.data_type, d) == type_key(&b.data_type, d)
        && a.nullable == b.nullable
        && a.auto_increment == b.auto_increment
        && (a.auto_increment || default_key(&a.default, d) == default_key(&b.default, d))
}

/// How the comparison sees an index part (a trailing `ASC` is the default).
fn part_key(p: &str, d: Dialect) -> String {
    let n = normalize_expr(p, d);
    n.strip_suffix(" asc").map(str::to_owned).unwrap_or(n)
}

/// The identity of an index for the comparison: everything but its name.
pub(crate) fn index_key(i: &Index, d: Dialect) -> String {
    let parts: Vec<String> = i.parts.iter().map(|p| part_key(p, d)).collect();
    let method = i
        .method
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|m| m != "btree")
        .unwrap_or_default();
    format!(
        "{}|{}|{}|{}",
        i.unique,
        parts.join(","),
        i.predicate
            .as_deref()
            .map(|p| normalize_expr(p, d))
            .unwrap_or_default(),
        method
    )
}

/// The identity of a foreign key for the comparison.
pub(crate) fn fk_key(f: &ForeignKey) -> String {
    format!(
        "{}|{}|{}|{:?}|{:?}",
        f.columns.join(","),
        f.ref_table,
        f.ref_columns.join(","),
        f.on_delete,
        f.on_update
    )
}

/// The identity of a check for the comparison.
pub(crate) fn check_key(c: &Check, d: Dialect) -> String {
    normalize_expr(&c.expression, d)
}
