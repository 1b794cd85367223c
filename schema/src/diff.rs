//! The difference between two schemas as an ordered list of operations, each with an exact
//! inverse: the downgrade of a generated revision is the upgrade's operations reversed and
//! inverted, so it passes back through the same intermediate states.
//!
//! The order (upgrade): create and change enum types; drop foreign keys that go or must be
//! re-made; drop tables (dependents first); drop indexes, checks, unique constraints and
//! primary keys; create tables (referenced tables first); add, change and drop columns
//! (SQLite: or rebuild the table); add primary keys, unique constraints and checks; create
//! indexes; add foreign keys; drop enum types.

use std::collections::{BTreeMap, BTreeSet};

use super::types::{TypeChange, classify};
use super::{
    Check, Column, EnumType, ForeignKey, Index, PrimaryKey, Schema, Table, Unique, check_key,
    default_key, fk_key, index_key, normalize_expr, quote_ident, same_column, type_key,
};
use revchain_core::Dialect;

/// A column that uses an enum type whose labels change: it is converted to the new type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumUse {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// Whether the column is an array of the enum.
    pub array: bool,
    /// The column's default before the change (dropped for the conversion).
    pub default_before: Option<String>,
    /// The default set after the conversion.
    pub default_after: Option<String>,
}

impl EnumUse {
    fn inverse(&self) -> EnumUse {
        EnumUse {
            default_before: self.default_after.clone(),
            default_after: self.default_before.clone(),
            ..self.clone()
        }
    }
}

/// One schema change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
// A revision holds a handful of operations: plain values read better than boxes here.
#[allow(clippy::large_enum_variant)]
pub enum Op {
    /// Create a PostgreSQL enum type.
    CreateEnum(EnumType),
    /// Drop a PostgreSQL enum type.
    DropEnum(EnumType),
    /// Replace the labels of an enum type, converting the columns that use it.
    ReplaceEnum {
        from: EnumType,
        to: EnumType,
        uses: Vec<EnumUse>,
    },
    /// Create a table with its columns, keys, checks, the foreign keys that can be made at
    /// once, and its indexes.
    CreateTable(Table),
    /// Drop a table (everything in it goes with it).
    DropTable(Table),
    AddColumn {
        table: String,
        column: Column,
    },
    DropColumn {
        table: String,
        column: Column,
    },
    /// Change a column's type, nullability, default or auto-increment.
    AlterColumn {
        table: String,
        from: Column,
        to: Column,
    },
    AddPrimaryKey {
        table: String,
        key: PrimaryKey,
    },
    DropPrimaryKey {
        table: String,
        key: PrimaryKey,
    },
    AddUnique {
        table: String,
        unique: Unique,
    },
    DropUnique {
        table: String,
        unique: Unique,
    },
    AddCheck {
        table: String,
        check: Check,
    },
    DropCheck {
        table: String,
        check: Check,
    },
    CreateIndex {
        table: String,
        index: Index,
    },
    DropIndex {
        table: String,
        index: Index,
    },
    AddForeignKey {
        table: String,
        key: ForeignKey,
    },
    DropForeignKey {
        table: String,
        key: ForeignKey,
    },
    /// SQLite: rebuild a table that `ALTER TABLE` cannot change (copy-and-swap).
    /// `referenced` says that other tables have foreign keys to it, so foreign key
    /// enforcement must be off while the old table is dropped.
    RebuildTable {
        from: Table,
        to: Table,
        referenced: bool,
    },
}

fn cols(c: &[String]) -> String {
    c.join(", ")
}

fn column_text(c: &Column) -> String {
    let mut s = c.data_type.clone();
    if !c.nullable {
        s.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    if c.auto_increment {
        s.push_str(" auto-increment");
    }
    s
}

fn index_text(table: &str, i: &Index) -> String {
    let mut s = format!(
        "{}index {} on {table} ({})",
        if i.unique { "unique " } else { "" },
        i.name,
        i.parts.join(", ")
    );
    if let Some(m) = &i.method {
        s.push_str(&format!(" using {m}"));
    }
    if let Some(p) = &i.predicate {
        s.push_str(&format!(" where {p}"));
    }
    s
}

fn fk_text(table: &str, f: &ForeignKey) -> String {
    let mut s = format!(
        "foreign key on {table} ({}) referencing {} ({})",
        cols(&f.columns),
        f.ref_table,
        cols(&f.ref_columns)
    );
    if f.on_delete != super::Action::NoAction {
        s.push_str(&format!(" ON DELETE {}", f.on_delete.sql()));
    }
    if f.on_update != super::Action::NoAction {
        s.push_str(&format!(" ON UPDATE {}", f.on_update.sql()));
    }
    s
}

fn labels(e: &EnumType) -> String {
    e.values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Op {
    /// The operation that undoes this one.
    pub fn inverse(&self) -> Op {
        match self.clone() {
            Op::CreateEnum(e) => Op::DropEnum(e),
            Op::DropEnum(e) => Op::CreateEnum(e),
            Op::ReplaceEnum { from, to, uses } => Op::ReplaceEnum {
                from: to,
                to: from,
                uses: uses.iter().map(EnumUse::inverse).collect(),
            },
            Op::CreateTable(t) => Op::DropTable(t),
            Op::DropTable(t) => Op::CreateTable(t),
            Op::AddColumn { table, column } => Op::DropColumn { table, column },
            Op::DropColumn { table, column } => Op::AddColumn { table, column },
            Op::AlterColumn { table, from, to } => Op::AlterColumn {
                table,
                from: to,
                to: from,
            },
            Op::AddPrimaryKey { table, key } => Op::DropPrimaryKey { table, key },
            Op::DropPrimaryKey { table, key } => Op::AddPrimaryKey { table, key },
            Op::AddUnique { table, unique } => Op::DropUnique { table, unique },
            Op::DropUnique { table, unique } => Op::AddUnique { table, unique },
            Op::AddCheck { table, check } => Op::DropCheck { table, check },
            Op::DropCheck { table, check } => Op::AddCheck { table, check },
            Op::CreateIndex { table, index } => Op::DropIndex { table, index },
            Op::DropIndex { table, index } => Op::CreateIndex { table, index },
            Op::AddForeignKey { table, key } => Op::DropForeignKey { table, key },
            Op::DropForeignKey { table, key } => Op::AddForeignKey { table, key },
            Op::RebuildTable {
                from,
                to,
                referenced,
            } => Op::RebuildTable {
                from: to,
                to: from,
                referenced,
            },
        }
    }

    /// The table the operation is about (`None` for enum types).
    pub fn table(&self) -> Option<&str> {
        match self {
            Op::CreateEnum(_) | Op::DropEnum(_) | Op::ReplaceEnum { .. } => None,
            Op::CreateTable(t) | Op::DropTable(t) => Some(&t.name),
            Op::RebuildTable { to, .. } => Some(&to.name),
            Op::AddColumn { table, .. }
            | Op::DropColumn { table, .. }
            | Op::AlterColumn { table, .. }
            | Op::AddPrimaryKey { table, .. }
            | Op::DropPrimaryKey { table, .. }
            | Op::AddUnique { table, .. }
            | Op::DropUnique { table, .. }
            | Op::AddCheck { table, .. }
            | Op::DropCheck { table, .. }
            | Op::CreateIndex { table, .. }
            | Op::DropIndex { table, .. }
            | Op::AddForeignKey { table, .. }
            | Op::DropForeignKey { table, .. } => Some(table),
        }
    }

    /// One line that says what the operation changes, for people.
    pub fn describe(&self) -> String {
        match self {
            Op::CreateEnum(e) => format!("added enum type {} ({})", e.name, labels(e)),
            Op::DropEnum(e) => format!("removed enum type {} ({})", e.name, labels(e)),
            Op::ReplaceEnum { from, to, .. } => format!(
                "changed enum type {} from ({}) to ({})",
                to.name,
                labels(from),
                labels(to)
            ),
            Op::CreateTable(t) => format!("added table {}", t.name),
            Op::DropTable(t) => format!("removed table {}", t.name),
            Op::AddColumn { table, column } => format!(
                "added column {table}.{} ({})",
                column.name,
                column_text(column)
            ),
            Op::DropColumn { table, column } => format!(
                "removed column {table}.{} ({})",
                column.name,
                column_text(column)
            ),
            Op::AlterColumn { table, from, to } => {
                let mut what = Vec::new();
                if from.data_type != to.data_type {
                    what.push(format!("type {} -> {}", from.data_type, to.data_type));
                }
                if from.nullable != to.nullable {
                    what.push(if to.nullable {
                        "NOT NULL -> NULL".to_owned()
                    } else {
                        "NULL -> NOT NULL".to_owned()
                    });
                }
                if from.default != to.default {
                    let d = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".to_owned());
                    what.push(format!(
                        "default {} -> {}",
                        d(&from.default),
                        d(&to.default)
                    ));
                }
                if from.auto_increment != to.auto_increment {
                    what.push(if to.auto_increment {
                        "now auto-increment".to_owned()
                    } else {
                        "no longer auto-increment".to_owned()
                    });
                }
                format!("changed column {table}.{}: {}", to.name, what.join(", "))
            }
            Op::AddPrimaryKey { table, key } => {
                format!("added primary key on {table} ({})", cols(&key.columns))
            }
            Op::DropPrimaryKey { table, key } => {
                format!("removed primary key on {table} ({})", cols(&key.columns))
            }
            Op::AddUnique { table, unique } => {
                format!(
                    "added unique constraint on {table} ({})",
                    cols(&unique.columns)
                )
            }
            Op::DropUnique { table, unique } => format!(
                "removed unique constraint on {table} ({})",
                cols(&unique.columns)
            ),
            Op::AddCheck { table, check } => {
                format!("added check constraint on {table}: {}", check.expression)
            }
            Op::DropCheck { table, check } => {
                format!("removed check constraint on {table}: {}", check.expression)
            }
            Op::CreateIndex { table, index } => format!("added {}", index_text(table, index)),
            Op::DropIndex { table, index } => format!("removed {}", index_text(table, index)),
            Op::AddForeignKey { table, key } => format!("added {}", fk_text(table, key)),
            Op::DropForeignKey { table, key } => format!("removed {}", fk_text(table, key)),
            Op::RebuildTable { from, to, .. } if from.options != to.options => {
                let o = |t: &Table| {
                    if t.options.is_empty() {
                        "none".to_owned()
                    } else {
                        t.options.join(", ")
                    }
                };
                format!(
                    "changed the options of table {} from {} to {}",
                    to.name,
                    o(from),
                    o(to)
                )
            }
            Op::RebuildTable { to, .. } => format!("rebuilt table {}", to.name),
        }
    }
}

/// The operations that take a database from `from` to `to`, in an order the database
/// accepts. Render them with [`render`](super::render) or [`generate`](super::generate).
pub fn diff(from: &Schema, to: &Schema, dialect: Dialect) -> Vec<Op> {
    let sqlite = dialect == Dialect::Sqlite;
    plan(
        from,
        to,
        dialect,
        Mode {
            rebuild: sqlite,
            touch: !sqlite,
            inline_all: sqlite,
        },
    )
}

/// What differs between `from` and `to`, one line per change, in the order of [`diff`]
/// (SQLite changes are listed one by one, not as table rebuilds). Empty when the schemas
/// are equal.
///
/// ```
/// use revchain_schema::{Column, Schema, Table, changes};
/// use revchain_core::Dialect;
/// let mut t = Table::new("t");
/// t.columns.push(Column::new("a", "INTEGER"));
/// let a = Schema { tables: vec![t.clone()], ..Schema::default() };
/// t.columns[0].data_type = "integer".into(); // SQLite types ignore case
/// let b = Schema { tables: vec![t], ..Schema::default() };
/// assert!(changes(&a, &b, Dialect::Sqlite).is_empty());
/// ```
pub fn changes(from: &Schema, to: &Schema, dialect: Dialect) -> Vec<String> {
    plan(
        from,
        to,
        dialect,
        Mode {
            rebuild: false,
            touch: false,
            inline_all: dialect == Dialect::Sqlite,
        },
    )
    .iter()
    .map(Op::describe)
    .collect()
}

#[derive(Clone, Copy)]
struct Mode {
    /// SQLite: rebuild tables that `ALTER TABLE` cannot change.
    rebuild: bool,
    /// Re-make foreign keys whose columns or referenced keys change.
    touch: bool,
    /// Foreign keys always inside `CREATE TABLE` (SQLite).
    inline_all: bool,
}

/// Matches two lists by a key, as multisets: (only in `a`, only in `b`, in both).
#[allow(clippy::type_complexity)]
fn match_by<'a, T, K: Ord>(
    a: &'a [T],
    b: &'a [T],
    key: impl Fn(&T) -> K,
) -> (Vec<&'a T>, Vec<&'a T>, Vec<(&'a T, &'a T)>) {
    let mut pool: BTreeMap<K, Vec<&'a T>> = BTreeMap::new();
    for x in b {
        pool.entry(key(x)).or_default().push(x);
    }
    let mut only_a = Vec::new();
    let mut both = Vec::new();
    for x in a {
        match pool.get_mut(&key(x)).and_then(|v| {
            if v.is_empty() {
                None
            } else {
                Some(v.remove(0))
            }
        }) {
            Some(y) => both.push((x, y)),
            None => only_a.push(x),
        }
    }
    let mut only_b: Vec<&T> = Vec::new();
    for x in b {
        if !both.iter().any(|(_, y)| std::ptr::eq(*y, x)) {
            only_b.push(x);
        }
    }
    (only_a, only_b, both)
}

/// The differences inside one table present in both schemas.
struct TableDiff<'a> {
    from: &'a Table,
    to: &'a Table,
    added: Vec<&'a Column>,
    dropped: Vec<&'a Column>,
    altered: Vec<(Column, &'a Column)>,
    pk_changed: bool,
    uniques_removed: Vec<&'a Unique>,
    uniques_added: Vec<&'a Unique>,
    checks_removed: Vec<&'a Check>,
    checks_added: Vec<&'a Check>,
    indexes_removed: Vec<&'a Index>,
    indexes_added: Vec<&'a Index>,
    fks_removed: Vec<&'a ForeignKey>,
    fks_added: Vec<&'a ForeignKey>,
    fks_kept: Vec<&'a ForeignKey>,
    options_changed: bool,
}

impl TableDiff<'_> {
    fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.dropped.is_empty()
            && self.altered.is_empty()
            && !self.pk_changed
            && self.uniques_removed.is_empty()
            && self.uniques_added.is_empty()
            && self.checks_removed.is_empty()
            && self.checks_added.is_empty()
            && self.indexes_removed.is_empty()
            && self.indexes_added.is_empty()
            && self.fks_removed.is_empty()
            && self.fks_added.is_empty()
            && !self.options_changed
    }

    /// Column lists of the keys and indexes that go (for foreign keys that need them).
    fn removed_key_columns(&self, d: Dialect) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        if self.pk_changed
            && let Some(pk) = &self.from.primary_key
        {
            out.push(pk.columns.clone());
        }
        out.extend(self.uniques_removed.iter().map(|u| u.columns.clone()));
        out.extend(self.indexes_removed.iter().map(|i| index_columns(i, d)));
        out
    }
}

/// The plain column an index part names, lower-cased (its first token).
fn part_column(p: &str, d: Dialect) -> String {
    normalize_expr(p, d)
        .split(' ')
        .next()
        .unwrap_or("")
        .to_owned()
}

fn index_columns(i: &Index, d: Dialect) -> Vec<String> {
    i.parts.iter().map(|p| part_column(p, d)).collect()
}

fn intersects(a: &[String], b: &[String]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.eq_ignore_ascii_case(y)))
}

/// Whether the columns of the enum-using column `c` are of type `e` (or an array of it).
fn uses_enum(c: &Column, e: &str) -> Option<bool> {
    let q = quote_ident(e, Dialect::Postgres);
    let t = c.data_type.trim();
    if t == q || t == e {
        Some(false)
    } else if t == format!("{q}[]") || t == format!("{e}[]") {
        Some(true)
    } else {
        None
    }
}

fn enum_uses(from: &Schema, to: &Schema, e: &str) -> Vec<EnumUse> {
    let mut uses = Vec::new();
    // Tables that go are dropped before the type changes (and created again, with the old
    // type, after it changes back in the downgrade).
    for t in from.tables.iter().filter(|t| to.table(&t.name).is_some()) {
        for c in &t.columns {
            let Some(array) = uses_enum(c, e) else {
                continue;
            };
            let after = to
                .table(&t.name)
                .and_then(|tt| tt.column(&c.name))
                .filter(|tc| tc.data_type == c.data_type)
                .map_or_else(|| c.default.clone(), |tc| tc.default.clone());
            uses.push(EnumUse {
                table: t.name.clone(),
                column: c.name.clone(),
                array,
                default_before: c.default.clone(),
                default_after: after,
            });
        }
    }
    uses
}

fn table_diff<'a>(
    f: &'a Table,
    t: &'a Table,
    d: Dialect,
    enum_columns: &BTreeSet<(String, String)>,
) -> TableDiff<'a> {
    let mut added = Vec::new();
    let mut altered = Vec::new();
    for c in &t.columns {
        match f.column(&c.name) {
            None => added.push(c),
            Some(fc) => {
                let mut fc = fc.clone();
                // A replaced enum type converts the column's default itself.
                if enum_columns.contains(&(t.name.clone(), c.name.clone()))
                    && fc.data_type == c.data_type
                {
                    fc.default = c.default.clone();
                }
                if !same_column(&fc, c, d) {
                    altered.push((fc, c));
                }
            }
        }
    }
    let dropped = f
        .columns
        .iter()
        .filter(|c| t.column(&c.name).is_none())
        .collect();
    let pk_changed =
        f.primary_key.as_ref().map(|p| &p.columns) != t.primary_key.as_ref().map(|p| &p.columns);
    let (uniques_removed, uniques_added, _) =
        match_by(&f.uniques, &t.uniques, |u| u.columns.clone());
    let (checks_removed, checks_added, _) = match_by(&f.checks, &t.checks, |c| check_key(c, d));
    let (indexes_removed, indexes_added, _) = match_by(&f.indexes, &t.indexes, |i| index_key(i, d));
    let (fks_removed, fks_added, kept) = match_by(&f.foreign_keys, &t.foreign_keys, fk_key);
    TableDiff {
        from: f,
        to: t,
        added,
        dropped,
        altered,
        pk_changed,
        uniques_removed,
        uniques_added,
        checks_removed,
        checks_added,
        indexes_removed,
        indexes_added,
        fks_removed,
        fks_added,
        fks_kept: kept.into_iter().map(|(_, b)| b).collect(),
        options_changed: f.options != t.options,
    }
}

/// Whether SQLite's `ALTER TABLE … ADD/DROP COLUMN` can add (and drop again) `c`.
fn sqlite_addable(c: &Column) -> bool {
    let default_ok = c.default.as_deref().is_none_or(|d| {
        let d = d.trim();
        !d.starts_with('(')
            && !["current_time", "current_date", "current_timestamp"]
                .contains(&d.to_ascii_lowercase().as_str())
    });
    !c.auto_increment && (c.nullable || c.default.is_some()) && default_ok
}

/// Whether SQLite can make the changes of `td` without rebuilding the table.
fn sqlite_simple(td: &TableDiff<'_>) -> bool {
    td.altered.is_empty()
        && !td.pk_changed
        && td.uniques_removed.is_empty()
        && td.uniques_added.is_empty()
        && td.checks_removed.is_empty()
        && td.checks_added.is_empty()
        && td.fks_removed.is_empty()
        && td.fks_added.is_empty()
        && !td.options_changed
        && td.added.iter().all(|c| sqlite_addable(c))
        && td.dropped.iter().all(|c| sqlite_addable(c))
}

/// Whether `cols` of a table present in both schemas are covered by the same key (primary
/// key, unique constraint, unique index, or for MySQL any index that starts with them)
/// before and after, with none of them altered: a new foreign key to them can then be made
/// inside `CREATE TABLE`.
fn key_stable(td: &TableDiff<'_>, cols: &[String], d: Dialect) -> bool {
    if td
        .altered
        .iter()
        .any(|(_, c)| cols.iter().any(|x| x == &c.name))
    {
        return false;
    }
    let same_set = |k: &[String]| {
        k.len() == cols.len()
            && k.iter()
                .all(|x| cols.iter().any(|y| y.eq_ignore_ascii_case(x)))
    };
    let covers = |k: &[String]| {
        same_set(k)
            || d == Dialect::MySql
                && k.len() >= cols.len()
                && k.iter().zip(cols).all(|(a, b)| a.eq_ignore_ascii_case(b))
    };
    let keys = |t: &Table| -> Vec<String> {
        let mut out = Vec::new();
        if let Some(pk) = &t.primary_key
            && covers(&pk.columns)
        {
            out.push(format!("pk:{}", pk.columns.join(",")));
        }
        for u in &t.uniques {
            if covers(&u.columns) {
                out.push(format!("u:{}", u.columns.join(",")));
            }
        }
        for i in &t.indexes {
            if (i.unique || d == Dialect::MySql)
                && i.predicate.is_none()
                && covers(&index_columns(i, d))
            {
                out.push(format!("i:{}", index_key(i, d)));
            }
        }
        out
    };
    let before = keys(td.from);
    keys(td.to).iter().any(|k| before.contains(k))
}

/// Orders tables so that referenced tables come first. Foreign keys that cannot be made
/// inside `CREATE TABLE` (cycles, or `external_ok` says no) are taken out and returned.
fn order_tables(
    tables: &[&Table],
    inline_all: bool,
    external_ok: &dyn Fn(&ForeignKey) -> bool,
) -> (Vec<Table>, Vec<(String, ForeignKey)>) {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut remaining: Vec<&Table> = tables.to_vec();
    remaining.sort_by(|a, b| a.name.cmp(&b.name));
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::new();
    let mut deferred = Vec::new();
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|t| {
            t.foreign_keys.iter().all(|f| {
                f.ref_table == t.name
                    || !names.contains(f.ref_table.as_str())
                    || placed.contains(&f.ref_table)
            })
        });
        let k = ready.unwrap_or(0);
        let t = remaining.remove(k);
        let mut table = t.clone();
        table.foreign_keys.clear();
        for f in &t.foreign_keys {
            let inline = inline_all
                || f.ref_table == t.name
                || if names.contains(f.ref_table.as_str()) {
                    placed.contains(&f.ref_table)
                } else {
                    external_ok(f)
                };
            if inline {
                table.foreign_keys.push(f.clone());
            } else {
                deferred.push((t.name.clone(), f.clone()));
            }
        }
        placed.insert(t.name.clone());
        ordered.push(table);
    }
    (ordered, deferred)
}

fn plan(from: &Schema, to: &Schema, d: Dialect, mode: Mode) -> Vec<Op> {
    // The steps, in order (see the module documentation).
    let mut enums_first = Vec::new();
    let mut replace_enums = Vec::new();
    let mut drop_fks = Vec::new();
    let mut drop_tables = Vec::new();
    let mut drop_keys = Vec::new();
    let mut create_tables = Vec::new();
    let mut columns = Vec::new();
    let mut add_keys = Vec::new();
    let mut add_indexes = Vec::new();
    let mut add_fks = Vec::new();
    let mut enums_last = Vec::new();

    let mut to_enums: Vec<&EnumType> = to.enums.iter().collect();
    to_enums.sort_by(|a, b| a.name.cmp(&b.name));
    let mut enum_columns: BTreeSet<(String, String)> = BTreeSet::new();
    for e in to_enums {
        match from.enum_type(&e.name) {
            None => enums_first.push(Op::CreateEnum(e.clone())),
            Some(f) if f.values != e.values => {
                let uses = enum_uses(from, to, &e.name);
                enum_columns.extend(uses.iter().map(|u| (u.table.clone(), u.column.clone())));
                replace_enums.push(Op::ReplaceEnum {
                    from: f.clone(),
                    to: e.clone(),
                    uses,
                });
            }
            Some(_) => {}
        }
    }
    let mut from_enums: Vec<&EnumType> = from.enums.iter().collect();
    from_enums.sort_by(|a, b| a.name.cmp(&b.name));
    for e in from_enums {
        if to.enum_type(&e.name).is_none() {
            enums_last.push(Op::DropEnum(e.clone()));
        }
    }

    let mut from_tables: Vec<&Table> = from.tables.iter().collect();
    from_tables.sort_by(|a, b| a.name.cmp(&b.name));
    let mut to_tables: Vec<&Table> = to.tables.iter().collect();
    to_tables.sort_by(|a, b| a.name.cmp(&b.name));
    let dropped: Vec<&Table> = from_tables
        .iter()
        .copied()
        .filter(|t| to.table(&t.name).is_none())
        .collect();
    let created: Vec<&Table> = to_tables
        .iter()
        .copied()
        .filter(|t| from.table(&t.name).is_none())
        .collect();
    let diffs: Vec<TableDiff<'_>> = to_tables
        .iter()
        .filter_map(|t| {
            from.table(&t.name)
                .map(|f| table_diff(f, t, d, &enum_columns))
        })
        .collect();
    let by_name: BTreeMap<&str, &TableDiff<'_>> =
        diffs.iter().map(|td| (td.to.name.as_str(), td)).collect();

    // Foreign keys that stay but must be re-made because what they use changes.
    let mut touched: BTreeMap<&str, Vec<&ForeignKey>> = BTreeMap::new();
    if mode.touch {
        for td in &diffs {
            let altered: Vec<String> = td.altered.iter().map(|(_, c)| c.name.clone()).collect();
            let removed = td.removed_key_columns(d);
            for f in &td.fks_kept {
                let mut hit = intersects(&f.columns, &altered)
                    || removed.iter().any(|k| intersects(k, &f.columns));
                if let Some(r) = by_name.get(f.ref_table.as_str()) {
                    let r_altered: Vec<String> =
                        r.altered.iter().map(|(_, c)| c.name.clone()).collect();
                    hit = hit
                        || intersects(&f.ref_columns, &r_altered)
                        || r.removed_key_columns(d)
                            .iter()
                            .any(|k| intersects(k, &f.ref_columns));
                }
                if hit {
                    touched.entry(td.to.name.as_str()).or_default().push(f);
                }
            }
        }
    }

    // Tables that go: dependents first; foreign keys in cycles dropped before.
    let (drop_order, drop_deferred) = order_tables(&dropped, mode.inline_all, &|_| true);
    for (table, key) in drop_deferred {
        drop_fks.push(Op::DropForeignKey { table, key });
    }
    for t in drop_order.into_iter().rev() {
        drop_tables.push(Op::DropTable(t));
    }

    // Tables that come: referenced tables first.
    let external_ok = |f: &ForeignKey| match by_name.get(f.ref_table.as_str()) {
        Some(td) => key_stable(td, &f.ref_columns, d),
        None => true,
    };
    let (create_order, create_deferred) = order_tables(&created, mode.inline_all, &external_ok);
    for t in create_order {
        create_tables.push(Op::CreateTable(t));
    }
    for (table, key) in create_deferred {
        add_fks.push(Op::AddForeignKey { table, key });
    }

    let referenced = |name: &str| {
        from.tables
            .iter()
            .chain(&to.tables)
            .any(|t| t.name != name && t.foreign_keys.iter().any(|f| f.ref_table == name))
    };

    // Checks and index expressions or predicates that compare a converted enum column with
    // a label would compare it with the old type: dropped before and made again after.
    let mut enum_bound: BTreeMap<&str, (Vec<&Check>, Vec<&Index>)> = BTreeMap::new();
    for td in &diffs {
        let cols: Vec<String> = enum_columns
            .iter()
            .filter(|(t, _)| *t == td.to.name)
            .map(|(_, c)| c.to_lowercase())
            .collect();
        if cols.is_empty() {
            continue;
        }
        let mentions = |expr: &str| {
            normalize_expr(expr, d)
                .split(' ')
                .any(|tok| cols.iter().any(|c| c == tok))
        };
        let entry = enum_bound.entry(td.to.name.as_str()).or_default();
        let (_, _, kept_checks) = match_by(&td.from.checks, &td.to.checks, |c| check_key(c, d));
        entry.0 = kept_checks
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| mentions(&c.expression))
            .collect();
        let (_, _, kept_indexes) = match_by(&td.from.indexes, &td.to.indexes, |i| index_key(i, d));
        entry.1 = kept_indexes
            .into_iter()
            .map(|(_, i)| i)
            .filter(|i| {
                i.predicate.as_deref().is_some_and(mentions)
                    || i.parts.iter().any(|p| {
                        let plain = cols.contains(&part_column(p, d))
                            && normalize_expr(p, d).split(' ').count() <= 2;
                        !plain && mentions(p)
                    })
            })
            .collect();
    }

    for td in &diffs {
        let bound = enum_bound.get(td.to.name.as_str());
        if td.is_empty()
            && !touched.contains_key(td.to.name.as_str())
            && bound.is_none_or(|(c, i)| c.is_empty() && i.is_empty())
        {
            continue;
        }
        let (bound_checks, bound_indexes) = bound.cloned().unwrap_or_default();
        let table = td.to.name.clone();
        if mode.rebuild && !sqlite_simple(td) {
            columns.push(Op::RebuildTable {
                from: td.from.clone(),
                to: td.to.clone(),
                referenced: referenced(&table),
            });
            continue;
        }
        if td.options_changed {
            // Only a rebuild changes table options; listed as such among the changes.
            columns.push(Op::RebuildTable {
                from: td.from.clone(),
                to: td.to.clone(),
                referenced: referenced(&table),
            });
        }
        let retouched = touched.get(table.as_str()).cloned().unwrap_or_default();
        for key in td.fks_removed.iter().chain(&retouched) {
            drop_fks.push(Op::DropForeignKey {
                table: table.clone(),
                key: (*key).clone(),
            });
        }
        for index in td.indexes_removed.iter().chain(&bound_indexes) {
            drop_keys.push(Op::DropIndex {
                table: table.clone(),
                index: (*index).clone(),
            });
        }
        for check in td.checks_removed.iter().chain(&bound_checks) {
            drop_keys.push(Op::DropCheck {
                table: table.clone(),
                check: (*check).clone(),
            });
        }
        for unique in &td.uniques_removed {
            drop_keys.push(Op::DropUnique {
                table: table.clone(),
                unique: (*unique).clone(),
            });
        }
        if td.pk_changed
            && let Some(key) = &td.from.primary_key
        {
            drop_keys.push(Op::DropPrimaryKey {
                table: table.clone(),
                key: key.clone(),
            });
        }
        for c in &td.added {
            columns.push(Op::AddColumn {
                table: table.clone(),
                column: (*c).clone(),
            });
        }
        for (f, t) in &td.altered {
            columns.push(Op::AlterColumn {
                table: table.clone(),
                from: f.clone(),
                to: (*t).clone(),
            });
        }
        for c in &td.dropped {
            columns.push(Op::DropColumn {
                table: table.clone(),
                column: (*c).clone(),
            });
        }
        if td.pk_changed
            && let Some(key) = &td.to.primary_key
        {
            add_keys.push(Op::AddPrimaryKey {
                table: table.clone(),
                key: key.clone(),
            });
        }
        for unique in &td.uniques_added {
            add_keys.push(Op::AddUnique {
                table: table.clone(),
                unique: (*unique).clone(),
            });
        }
        for check in td.checks_added.iter().chain(&bound_checks) {
            add_keys.push(Op::AddCheck {
                table: table.clone(),
                check: (*check).clone(),
            });
        }
        for index in td.indexes_added.iter().chain(&bound_indexes) {
            add_indexes.push(Op::CreateIndex {
                table: table.clone(),
                index: (*index).clone(),
            });
        }
        for key in td.fks_added.iter().chain(&retouched) {
            add_fks.push(Op::AddForeignKey {
                table: table.clone(),
                key: (*key).clone(),
            });
        }
    }

    let mut ops = enums_first;
    ops.extend(drop_fks);
    ops.extend(drop_tables);
    ops.extend(drop_keys);
    ops.extend(replace_enums);
    ops.extend(create_tables);
    ops.extend(columns);
    ops.extend(add_keys);
    ops.extend(add_indexes);
    ops.extend(add_fks);
    ops.extend(enums_last);
    ops
}

/// What a change of column type does to existing values.
pub(crate) fn type_change(from: &Column, to: &Column, d: Dialect) -> Option<TypeChange> {
    (type_key(&from.data_type, d) != type_key(&to.data_type, d))
        .then(|| classify(&from.data_type, &to.data_type))
}

/// Whether a default changes (as the comparison sees it).
pub(crate) fn default_changes(from: &Column, to: &Column, d: Dialect) -> bool {
    default_key(&from.default, d) != default_key(&to.default, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    fn table(name: &str, cols: &[(&str, &str)]) -> Table {
        let mut t = Table::new(name);
        for (c, ty) in cols {
            t.columns.push(Column::new(c, ty));
        }
        t
    }

    fn schema(tables: Vec<Table>) -> Schema {
        Schema {
            tables,
            enums: Vec::new(),
        }
    }

    fn fk(cols: &[&str], rt: &str, rc: &[&str]) -> ForeignKey {
        ForeignKey {
            name: Some(format!("fk_{}", cols.join("_"))),
            columns: cols.iter().map(|s| s.to_string()).collect(),
            ref_table: rt.into(),
            ref_columns: rc.iter().map(|s| s.to_string()).collect(),
            on_delete: Action::NoAction,
            on_update: Action::NoAction,
        }
    }

    fn pk(t: &mut Table, cols: &[&str]) {
        t.primary_key = Some(PrimaryKey {
            name: Some(format!("{}_pkey", t.name)),
            columns: cols.iter().map(|s| s.to_string()).collect(),
        });
    }

    /// What an operation does to the model: the reference the renderers must agree with.
    fn apply(s: &mut Schema, op: &Op, d: Dialect) {
        fn table<'a>(s: &'a mut Schema, name: &str) -> &'a mut Table {
            s.tables
                .iter_mut()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("no table {name}"))
        }
        fn remove<T>(v: &mut Vec<T>, same: impl Fn(&T) -> bool) {
            let k = v
                .iter()
                .position(same)
                .expect("the object to remove exists");
            v.remove(k);
        }
        // What the databases refuse (SQLite rebuilds and checks nothing at DDL time).
        if d != Dialect::Sqlite {
            let referenced_by_others = |s: &Schema, t: &str, cols: Option<&[String]>| {
                s.tables.iter().any(|o| {
                    o.foreign_keys.iter().any(|f| {
                        f.ref_table == t
                            && (o.name != t || cols.is_some())
                            && cols.is_none_or(|c| intersects(c, &f.ref_columns))
                    })
                })
            };
            let uses_column = |s: &Schema, t: &str, c: &str| {
                let c = [c.to_owned()];
                let own = s
                    .table(t)
                    .is_some_and(|tt| tt.foreign_keys.iter().any(|f| intersects(&f.columns, &c)));
                own || referenced_by_others(s, t, Some(&c))
            };
            match op {
                Op::DropTable(t) => assert!(
                    !referenced_by_others(s, &t.name, None),
                    "{} is dropped while referenced",
                    t.name
                ),
                Op::DropColumn { table: n, column }
                | Op::AlterColumn {
                    table: n,
                    from: column,
                    ..
                } => {
                    assert!(
                        !uses_column(s, n, &column.name),
                        "{n}.{} changes while a foreign key uses it",
                        column.name
                    )
                }
                Op::DropPrimaryKey { table: n, key } => assert!(
                    !referenced_by_others(s, n, Some(&key.columns)),
                    "the primary key of {n} goes while referenced"
                ),
                Op::DropUnique { table: n, unique } => assert!(
                    !referenced_by_others(s, n, Some(&unique.columns)),
                    "a unique key of {n} goes while referenced"
                ),
                Op::AddForeignKey { key, .. } => {
                    let target = s
                        .table(&key.ref_table)
                        .expect("the referenced table exists");
                    let keyed = target
                        .primary_key
                        .as_ref()
                        .is_some_and(|p| p.columns == key.ref_columns)
                        || target.uniques.iter().any(|u| u.columns == key.ref_columns);
                    assert!(keyed, "{key:?} references no key");
                }
                _ => {}
            }
        }
        match op {
            Op::CreateEnum(e) => s.enums.push(e.clone()),
            Op::DropEnum(e) => remove(&mut s.enums, |x| x.name == e.name),
            Op::ReplaceEnum { to, uses, .. } => {
                remove(&mut s.enums, |x| x.name == to.name);
                s.enums.push(to.clone());
                for u in uses {
                    let t = table(s, &u.table);
                    let c = t.columns.iter_mut().find(|c| c.name == u.column).unwrap();
                    c.default = u.default_after.clone();
                }
            }
            Op::CreateTable(t) => {
                assert!(s.table(&t.name).is_none());
                s.tables.push(t.clone())
            }
            Op::DropTable(t) => remove(&mut s.tables, |x| x.name == t.name),
            Op::AddColumn { table: n, column } => table(s, n).columns.push(column.clone()),
            Op::DropColumn { table: n, column } => {
                remove(&mut table(s, n).columns, |c| c.name == column.name)
            }
            Op::AlterColumn { table: n, to, .. } => {
                let t = table(s, n);
                let c = t.columns.iter_mut().find(|c| c.name == to.name).unwrap();
                *c = to.clone();
            }
            Op::AddPrimaryKey { table: n, key } => {
                let t = table(s, n);
                assert!(t.primary_key.is_none());
                t.primary_key = Some(key.clone());
            }
            Op::DropPrimaryKey { table: n, .. } => table(s, n).primary_key = None,
            Op::AddUnique { table: n, unique } => table(s, n).uniques.push(unique.clone()),
            Op::DropUnique { table: n, unique } => {
                remove(&mut table(s, n).uniques, |u| u.columns == unique.columns)
            }
            Op::AddCheck { table: n, check } => table(s, n).checks.push(check.clone()),
            Op::DropCheck { table: n, check } => remove(&mut table(s, n).checks, |c| {
                check_key(c, d) == check_key(check, d)
            }),
            Op::CreateIndex { table: n, index } => table(s, n).indexes.push(index.clone()),
            Op::DropIndex { table: n, index } => remove(&mut table(s, n).indexes, |i| {
                index_key(i, d) == index_key(index, d)
            }),
            Op::AddForeignKey { table: n, key } => {
                assert!(s.table(&key.ref_table).is_some(), "{key:?}");
                table(s, n).foreign_keys.push(key.clone())
            }
            Op::DropForeignKey { table: n, key } => {
                remove(&mut table(s, n).foreign_keys, |f| fk_key(f) == fk_key(key))
            }
            Op::RebuildTable { to, .. } => *table(s, &to.name) = to.clone(),
        }
        // Inline foreign keys only name tables that exist (SQLite excepted).
        if let Op::CreateTable(t) = op
            && d != Dialect::Sqlite
        {
            for f in &t.foreign_keys {
                assert!(
                    s.table(&f.ref_table).is_some(),
                    "{} before {}",
                    t.name,
                    f.ref_table
                );
            }
        }
    }

    /// A small random schema from a seed: up to four tables with keys, indexes, checks,
    /// foreign keys (cycles included) and an enum type.
    fn random_schema(seed: &[u8]) -> Schema {
        let mut bytes = seed.iter().copied().cycle();
        let mut next = move || bytes.next().unwrap_or(0);
        let mut s = Schema::default();
        let labels = ["a", "b", "c"];
        if next() % 2 == 0 {
            s.enums.push(EnumType {
                name: "mood".into(),
                values: labels[..2 + usize::from(next() % 2)]
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
            });
        }
        let names = ["t0", "t1", "t2", "t3"];
        let present: Vec<&str> = names.iter().copied().filter(|_| next() % 3 != 0).collect();
        for name in &present {
            let mut t = Table::new(name);
            t.columns.push(Column::new("id", "integer").not_null());
            t.primary_key = Some(PrimaryKey {
                name: Some(format!("{name}_pkey")),
                columns: vec!["id".into()],
            });
            for (k, c) in ["a", "b", "c"].iter().enumerate() {
                if next() % 2 == 0 {
                    let ty = ["integer", "bigint", "text", "character varying(10)"]
                        [usize::from(next() % 4)];
                    let mut col = Column::new(c, ty);
                    col.nullable = next() % 2 == 0;
                    if next() % 3 == 0 {
                        col.default = Some(format!("{k}"));
                    }
                    t.columns.push(col);
                }
            }
            if !s.enums.is_empty() && next() % 2 == 0 {
                t.columns
                    .push(Column::new("m", "mood").default_to("'a'::mood"));
            }
            let cols: Vec<String> = t.columns.iter().skip(1).map(|c| c.name.clone()).collect();
            if let Some(c) = cols.first() {
                match next() % 4 {
                    0 => t.indexes.push(Index {
                        name: format!("ix_{name}_{c}"),
                        parts: vec![c.clone()],
                        unique: next() % 2 == 0,
                        predicate: None,
                        method: None,
                    }),
                    1 => t.uniques.push(Unique {
                        name: Some(format!("{name}_{c}_key")),
                        columns: vec![c.clone()],
                    }),
                    2 => t.checks.push(Check {
                        name: Some(format!("{name}_{c}_check")),
                        expression: format!("({c} IS NOT NULL)"),
                    }),
                    _ => {}
                }
            }
            if next() % 3 == 0 {
                t.primary_key = None;
            }
            s.tables.push(t);
        }
        // Foreign keys from an integer column to another table's primary key.
        let targets: Vec<String> = s
            .tables
            .iter()
            .filter(|t| t.primary_key.is_some())
            .map(|t| t.name.clone())
            .collect();
        for t in &mut s.tables {
            if targets.is_empty() || next() % 2 == 0 {
                continue;
            }
            let target = targets[usize::from(next()) % targets.len()].clone();
            let Some(col) = t
                .columns
                .iter()
                .skip(1)
                .find(|c| c.data_type == "integer")
                .map(|c| c.name.clone())
            else {
                continue;
            };
            t.foreign_keys.push(ForeignKey {
                name: Some(format!("{}_{col}_fkey", t.name)),
                columns: vec![col],
                ref_table: target,
                ref_columns: vec!["id".into()],
                on_delete: if next() % 2 == 0 {
                    Action::Cascade
                } else {
                    Action::NoAction
                },
                on_update: Action::NoAction,
            });
        }
        s
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(200))]

        /// For any two schemas and every dialect: the operations take the first to the
        /// second, and the reversed inverses take the second back to the first.
        #[test]
        fn diff_reaches_the_target_and_its_inverse_comes_back(
            a in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            b in proptest::array::uniform32(proptest::prelude::any::<u8>()),
        ) {
            let from = random_schema(&a);
            let to = random_schema(&b);
            for d in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
                // SQLite and MySQL have no enum types.
                let strip = |s: &Schema| {
                    let mut s = s.clone();
                    if d != Dialect::Postgres {
                        s.enums.clear();
                        for t in &mut s.tables {
                            t.columns.retain(|c| c.data_type != "mood");
                        }
                    }
                    s
                };
                let (from, to) = (strip(&from), strip(&to));
                let ops = diff(&from, &to, d);
                let mut state = from.clone();
                for op in &ops {
                    apply(&mut state, op, d);
                }
                proptest::prop_assert!(changes(&state, &to, d).is_empty(), "{d:?}: {:?}", changes(&state, &to, d));
                for op in ops.iter().rev() {
                    apply(&mut state, &op.inverse(), d);
                }
                proptest::prop_assert!(changes(&state, &from, d).is_empty(), "{d:?} back: {:?}", changes(&state, &from, d));
                // Rendering never panics and is empty exactly when nothing changes.
                proptest::prop_assert_eq!(ops.is_empty(), crate::generate(&from, &to, d).is_none());
            }
        }
    }

    fn kinds(ops: &[Op]) -> Vec<String> {
        ops.iter().map(Op::describe).collect()
    }

    #[test]
    fn equal_schemas_have_no_operations() {
        let mut t = table("t", &[("a", "integer")]);
        pk(&mut t, &["a"]);
        let s = schema(vec![t.clone()]);
        let mut renamed = t;
        renamed.primary_key.as_mut().unwrap().name = Some("other".into());
        assert!(diff(&s, &schema(vec![renamed]), Dialect::Postgres).is_empty());
    }

    #[test]
    fn creates_referenced_tables_first_and_drops_them_last() {
        let mut users = table("users", &[("id", "integer")]);
        pk(&mut users, &["id"]);
        let mut orders = table("a_orders", &[("id", "integer"), ("user_id", "integer")]);
        pk(&mut orders, &["id"]);
        orders.foreign_keys.push(fk(&["user_id"], "users", &["id"]));
        let empty = Schema::default();
        let full = schema(vec![orders, users]);
        let ops = diff(&empty, &full, Dialect::Postgres);
        assert_eq!(kinds(&ops), ["added table users", "added table a_orders"]);
        assert_eq!(
            diff(&full, &empty, Dialect::Postgres)
                .iter()
                .map(Op::describe)
                .collect::<Vec<_>>(),
            ["removed table a_orders", "removed table users"]
        );
        // The inverse of the reversed list is the list the other way.
        let inv: Vec<Op> = ops.iter().rev().map(Op::inverse).collect();
        assert_eq!(inv, diff(&full, &empty, Dialect::Postgres));
    }

    #[test]
    fn cycles_defer_a_foreign_key() {
        let mut a = table("a", &[("id", "integer"), ("b_id", "integer")]);
        pk(&mut a, &["id"]);
        a.foreign_keys.push(fk(&["b_id"], "b", &["id"]));
        let mut b = table("b", &[("id", "integer"), ("a_id", "integer")]);
        pk(&mut b, &["id"]);
        b.foreign_keys.push(fk(&["a_id"], "a", &["id"]));
        let s = schema(vec![a, b]);
        let ops = diff(&Schema::default(), &s, Dialect::Postgres);
        assert_eq!(
            kinds(&ops),
            [
                "added table a",
                "added table b",
                "added foreign key on a (b_id) referencing b (id)"
            ]
        );
        let down = diff(&s, &Schema::default(), Dialect::Postgres);
        assert_eq!(
            kinds(&down),
            [
                "removed foreign key on a (b_id) referencing b (id)",
                "removed table b",
                "removed table a"
            ]
        );
        // SQLite writes every foreign key inside CREATE TABLE.
        assert_eq!(diff(&Schema::default(), &s, Dialect::Sqlite).len(), 2);
    }

    #[test]
    fn altered_referenced_column_remakes_the_foreign_key() {
        let mut p = table("p", &[("id", "integer")]);
        pk(&mut p, &["id"]);
        let mut c = table("c", &[("id", "integer"), ("p_id", "integer")]);
        c.foreign_keys.push(fk(&["p_id"], "p", &["id"]));
        let a = schema(vec![p.clone(), c.clone()]);
        p.columns[0].data_type = "bigint".into();
        c.columns[1].data_type = "bigint".into();
        let b = schema(vec![p, c]);
        assert_eq!(
            kinds(&diff(&a, &b, Dialect::MySql)),
            [
                "removed foreign key on c (p_id) referencing p (id)",
                "changed column c.p_id: type integer -> bigint",
                "changed column p.id: type integer -> bigint",
                "added foreign key on c (p_id) referencing p (id)"
            ]
        );
        assert_eq!(changes(&a, &b, Dialect::MySql).len(), 2);
        // SQLite rebuilds both tables; the referenced one with foreign keys off.
        let ops = diff(&a, &b, Dialect::Sqlite);
        assert_eq!(ops.len(), 2);
        assert!(matches!(
            &ops[1],
            Op::RebuildTable {
                referenced: true,
                ..
            }
        ));
        assert!(matches!(
            &ops[0],
            Op::RebuildTable {
                referenced: false,
                ..
            }
        ));
    }

    #[test]
    fn sqlite_adds_simple_columns_in_place() {
        let a = schema(vec![table("t", &[("a", "INTEGER")])]);
        let mut t = table("t", &[("a", "INTEGER"), ("b", "TEXT")]);
        let b = schema(vec![t.clone()]);
        assert!(matches!(
            diff(&a, &b, Dialect::Sqlite)[..],
            [Op::AddColumn { .. }]
        ));
        t.columns[1].nullable = false;
        let b = schema(vec![t.clone()]);
        assert!(matches!(
            diff(&a, &b, Dialect::Sqlite)[..],
            [Op::RebuildTable { .. }]
        ));
        t.columns[1].default = Some("'x'".into());
        let b = schema(vec![t]);
        assert!(matches!(
            diff(&a, &b, Dialect::Sqlite)[..],
            [Op::AddColumn { .. }]
        ));
    }

    #[test]
    fn replaced_enum_converts_its_columns() {
        let mut t = table("t", &[("s", "status")]);
        t.columns[0].default = Some("'a'::status".into());
        let a = Schema {
            tables: vec![t.clone()],
            enums: vec![EnumType {
                name: "status".into(),
                values: vec!["a".into(), "b".into()],
            }],
        };
        let mut b = a.clone();
        b.enums[0].values.push("c".into());
        let ops = diff(&a, &b, Dialect::Postgres);
        assert_eq!(ops.len(), 1, "{ops:?}");
        let Op::ReplaceEnum { uses, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(uses[0].column, "s");
        assert_eq!(uses[0].default_after.as_deref(), Some("'a'::status"));
    }
}
