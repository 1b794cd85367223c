//! The difference between two schemas as an ordered list of operations, each with an exact
//! inverse: the downgrade of a generated revision is the upgrade's operations reversed and
//! inverted, so it passes back through the same intermediate states.
//!
//! A `Planner` collects the changes phase by phase; the upgrade runs them in this order
//! (`Phases::in_order`):
//!
//! 1. create enum types;
//! 2. drop foreign keys that go or must be re-made (those of dropped tables in a cycle,
//!    those removed, those whose columns or referenced keys change);
//! 3. drop tables (dependents first);
//! 4. drop indexes, checks, unique constraints and primary keys (and the checks and indexes
//!    that compare a converted enum column with a label);
//! 5. replace the labels of changed enum types, converting the columns that use them;
//! 6. create tables (referenced tables first);
//! 7. add, change and drop columns (SQLite: or rebuild the table);
//! 8. add primary keys, unique constraints and checks;
//! 9. create indexes;
//! 10. add foreign keys;
//! 11. drop enum types.
//!
//! The planner's methods run in a different order, since later phases depend on what the
//! earlier ones found: `Planner::enums` (phases 1, 5, 11), `Planner::touched_foreign_keys`,
//! `Planner::dropped_tables` (2, 3), `Planner::created_tables` (6, 10),
//! `Planner::enum_bound`, then `Planner::changed_table` for each table in both schemas
//! (2, 4, 7–10).

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
pub enum SchemaChange {
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

impl SchemaChange {
    /// The operation that undoes this one.
    pub fn inverse(&self) -> SchemaChange {
        match self.clone() {
            SchemaChange::CreateEnum(e) => SchemaChange::DropEnum(e),
            SchemaChange::DropEnum(e) => SchemaChange::CreateEnum(e),
            SchemaChange::ReplaceEnum { from, to, uses } => SchemaChange::ReplaceEnum {
                from: to,
                to: from,
                uses: uses.iter().map(EnumUse::inverse).collect(),
            },
            SchemaChange::CreateTable(t) => SchemaChange::DropTable(t),
            SchemaChange::DropTable(t) => SchemaChange::CreateTable(t),
            SchemaChange::AddColumn { table, column } => SchemaChange::DropColumn { table, column },
            SchemaChange::DropColumn { table, column } => SchemaChange::AddColumn { table, column },
            SchemaChange::AlterColumn { table, from, to } => SchemaChange::AlterColumn {
                table,
                from: to,
                to: from,
            },
            SchemaChange::AddPrimaryKey { table, key } => {
                SchemaChange::DropPrimaryKey { table, key }
            }
            SchemaChange::DropPrimaryKey { table, key } => {
                SchemaChange::AddPrimaryKey { table, key }
            }
            SchemaChange::AddUnique { table, unique } => SchemaChange::DropUnique { table, unique },
            SchemaChange::DropUnique { table, unique } => SchemaChange::AddUnique { table, unique },
            SchemaChange::AddCheck { table, check } => SchemaChange::DropCheck { table, check },
            SchemaChange::DropCheck { table, check } => SchemaChange::AddCheck { table, check },
            SchemaChange::CreateIndex { table, index } => SchemaChange::DropIndex { table, index },
            SchemaChange::DropIndex { table, index } => SchemaChange::CreateIndex { table, index },
            SchemaChange::AddForeignKey { table, key } => {
                SchemaChange::DropForeignKey { table, key }
            }
            SchemaChange::DropForeignKey { table, key } => {
                SchemaChange::AddForeignKey { table, key }
            }
            SchemaChange::RebuildTable {
                from,
                to,
                referenced,
            } => SchemaChange::RebuildTable {
                from: to,
                to: from,
                referenced,
            },
        }
    }

    /// The table the operation is about (`None` for enum types).
    pub fn table(&self) -> Option<&str> {
        match self {
            SchemaChange::CreateEnum(_)
            | SchemaChange::DropEnum(_)
            | SchemaChange::ReplaceEnum { .. } => None,
            SchemaChange::CreateTable(t) | SchemaChange::DropTable(t) => Some(&t.name),
            SchemaChange::RebuildTable { to, .. } => Some(&to.name),
            SchemaChange::AddColumn { table, .. }
            | SchemaChange::DropColumn { table, .. }
            | SchemaChange::AlterColumn { table, .. }
            | SchemaChange::AddPrimaryKey { table, .. }
            | SchemaChange::DropPrimaryKey { table, .. }
            | SchemaChange::AddUnique { table, .. }
            | SchemaChange::DropUnique { table, .. }
            | SchemaChange::AddCheck { table, .. }
            | SchemaChange::DropCheck { table, .. }
            | SchemaChange::CreateIndex { table, .. }
            | SchemaChange::DropIndex { table, .. }
            | SchemaChange::AddForeignKey { table, .. }
            | SchemaChange::DropForeignKey { table, .. } => Some(table),
        }
    }

    /// One line that says what the operation changes, for people.
    pub fn describe(&self) -> String {
        match self {
            SchemaChange::CreateEnum(e) => format!("added enum type {} ({})", e.name, labels(e)),
            SchemaChange::DropEnum(e) => format!("removed enum type {} ({})", e.name, labels(e)),
            SchemaChange::ReplaceEnum { from, to, .. } => format!(
                "changed enum type {} from ({}) to ({})",
                to.name,
                labels(from),
                labels(to)
            ),
            SchemaChange::CreateTable(t) => format!("added table {}", t.name),
            SchemaChange::DropTable(t) => format!("removed table {}", t.name),
            SchemaChange::AddColumn { table, column } => format!(
                "added column {table}.{} ({})",
                column.name,
                column_text(column)
            ),
            SchemaChange::DropColumn { table, column } => format!(
                "removed column {table}.{} ({})",
                column.name,
                column_text(column)
            ),
            SchemaChange::AlterColumn { table, from, to } => {
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
            SchemaChange::AddPrimaryKey { table, key } => {
                format!("added primary key on {table} ({})", cols(&key.columns))
            }
            SchemaChange::DropPrimaryKey { table, key } => {
                format!("removed primary key on {table} ({})", cols(&key.columns))
            }
            SchemaChange::AddUnique { table, unique } => {
                format!(
                    "added unique constraint on {table} ({})",
                    cols(&unique.columns)
                )
            }
            SchemaChange::DropUnique { table, unique } => format!(
                "removed unique constraint on {table} ({})",
                cols(&unique.columns)
            ),
            SchemaChange::AddCheck { table, check } => {
                format!("added check constraint on {table}: {}", check.expression)
            }
            SchemaChange::DropCheck { table, check } => {
                format!("removed check constraint on {table}: {}", check.expression)
            }
            SchemaChange::CreateIndex { table, index } => {
                format!("added {}", index_text(table, index))
            }
            SchemaChange::DropIndex { table, index } => {
                format!("removed {}", index_text(table, index))
            }
            SchemaChange::AddForeignKey { table, key } => format!("added {}", fk_text(table, key)),
            SchemaChange::DropForeignKey { table, key } => {
                format!("removed {}", fk_text(table, key))
            }
            SchemaChange::RebuildTable { from, to, .. } if from.options != to.options => {
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
            SchemaChange::RebuildTable { to, .. } => format!("rebuilt table {}", to.name),
        }
    }
}

/// The operations that take a database from `from` to `to`, in an order the database
/// accepts. Render them with [`render`](super::render) or [`generate`](super::generate).
pub fn diff(from: &Schema, to: &Schema, dialect: Dialect) -> Vec<SchemaChange> {
    let sqlite = dialect == Dialect::Sqlite;
    Planner::run(
        from,
        to,
        dialect,
        PlanOptions {
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
    Planner::run(
        from,
        to,
        dialect,
        PlanOptions {
            rebuild: false,
            touch: false,
            inline_all: dialect == Dialect::Sqlite,
        },
    )
    .iter()
    .map(SchemaChange::describe)
    .collect()
}

#[derive(Clone, Copy)]
struct PlanOptions {
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

/// The changes of one plan, one list per phase; `Phases::in_order` puts them in the order
/// of the module documentation.
#[derive(Default)]
struct Phases {
    create_enums: Vec<SchemaChange>,
    drop_foreign_keys: Vec<SchemaChange>,
    drop_tables: Vec<SchemaChange>,
    drop_table_parts: Vec<SchemaChange>,
    replace_enums: Vec<SchemaChange>,
    create_tables: Vec<SchemaChange>,
    columns: Vec<SchemaChange>,
    add_keys: Vec<SchemaChange>,
    create_indexes: Vec<SchemaChange>,
    add_foreign_keys: Vec<SchemaChange>,
    drop_enums: Vec<SchemaChange>,
}

impl Phases {
    /// The changes of every phase, in upgrade order.
    fn in_order(self) -> Vec<SchemaChange> {
        [
            self.create_enums,
            self.drop_foreign_keys,
            self.drop_tables,
            self.drop_table_parts,
            self.replace_enums,
            self.create_tables,
            self.columns,
            self.add_keys,
            self.create_indexes,
            self.add_foreign_keys,
            self.drop_enums,
        ]
        .concat()
    }
}

/// The checks and indexes of a table that compare a converted enum column with a label:
/// dropped before the conversion and made again after it.
type EnumBound<'a> = (Vec<&'a Check>, Vec<&'a Index>);

/// Plans the changes from one schema to another, one method per phase (see the module
/// documentation); `Planner::run` calls them in order.
struct Planner<'a> {
    from: &'a Schema,
    to: &'a Schema,
    d: Dialect,
    options: PlanOptions,
    phases: Phases,
}

impl<'a> Planner<'a> {
    fn run(
        from: &'a Schema,
        to: &'a Schema,
        d: Dialect,
        options: PlanOptions,
    ) -> Vec<SchemaChange> {
        let mut planner = Planner {
            from,
            to,
            d,
            options,
            phases: Phases::default(),
        };
        let enum_columns = planner.enums();
        let diffs: Vec<TableDiff<'a>> = sorted(&to.tables)
            .into_iter()
            .filter_map(|t| {
                from.table(&t.name)
                    .map(|f| table_diff(f, t, d, &enum_columns))
            })
            .collect();
        let by_name: BTreeMap<&str, &TableDiff<'_>> =
            diffs.iter().map(|td| (td.to.name.as_str(), td)).collect();
        let touched = planner.touched_foreign_keys(&diffs, &by_name);
        planner.dropped_tables();
        planner.created_tables(&by_name);
        let enum_bound = planner.enum_bound(&diffs, &enum_columns);
        for td in &diffs {
            let bound = enum_bound.get(td.to.name.as_str());
            let retouched = touched.get(td.to.name.as_str());
            if td.is_empty()
                && retouched.is_none()
                && bound.is_none_or(|(c, i)| c.is_empty() && i.is_empty())
            {
                continue;
            }
            let bound = bound.cloned().unwrap_or_default();
            planner.changed_table(td, retouched.cloned().unwrap_or_default(), bound);
        }
        planner.phases.in_order()
    }

    /// Phase 1 (and the last): enum types created, replaced (their labels change) and
    /// dropped. Returns the `(table, column)` pairs converted to a replaced type.
    fn enums(&mut self) -> BTreeSet<(String, String)> {
        let (from, to) = (self.from, self.to);
        let mut enum_columns = BTreeSet::new();
        for e in sorted_enums(&to.enums) {
            match from.enum_type(&e.name) {
                None => self
                    .phases
                    .create_enums
                    .push(SchemaChange::CreateEnum(e.clone())),
                Some(f) if f.values != e.values => {
                    let uses = enum_uses(from, to, &e.name);
                    enum_columns.extend(uses.iter().map(|u| (u.table.clone(), u.column.clone())));
                    self.phases.replace_enums.push(SchemaChange::ReplaceEnum {
                        from: f.clone(),
                        to: e.clone(),
                        uses,
                    });
                }
                Some(_) => {}
            }
        }
        for e in sorted_enums(&from.enums) {
            if to.enum_type(&e.name).is_none() {
                self.phases
                    .drop_enums
                    .push(SchemaChange::DropEnum(e.clone()));
            }
        }
        enum_columns
    }

    /// Foreign keys that stay but must be re-made because the columns or keys they use
    /// change, by table.
    fn touched_foreign_keys<'t>(
        &self,
        diffs: &'t [TableDiff<'a>],
        by_name: &BTreeMap<&str, &TableDiff<'a>>,
    ) -> BTreeMap<&'t str, Vec<&'a ForeignKey>> {
        let mut touched: BTreeMap<&str, Vec<&ForeignKey>> = BTreeMap::new();
        if !self.options.touch {
            return touched;
        }
        let d = self.d;
        let altered_names = |td: &TableDiff<'_>| -> Vec<String> {
            td.altered.iter().map(|(_, c)| c.name.clone()).collect()
        };
        for td in diffs {
            let altered = altered_names(td);
            let removed = td.removed_key_columns(d);
            for f in &td.fks_kept {
                let mut hit = intersects(&f.columns, &altered)
                    || removed.iter().any(|k| intersects(k, &f.columns));
                if let Some(r) = by_name.get(f.ref_table.as_str()) {
                    hit = hit
                        || intersects(&f.ref_columns, &altered_names(r))
                        || r.removed_key_columns(d)
                            .iter()
                            .any(|k| intersects(k, &f.ref_columns));
                }
                if hit {
                    touched.entry(td.to.name.as_str()).or_default().push(f);
                }
            }
        }
        touched
    }

    /// Tables that go: dependents first; foreign keys in cycles dropped before.
    fn dropped_tables(&mut self) {
        let dropped: Vec<&Table> = sorted(&self.from.tables)
            .into_iter()
            .filter(|t| self.to.table(&t.name).is_none())
            .collect();
        let (order, deferred) = order_tables(&dropped, self.options.inline_all, &|_| true);
        for (table, key) in deferred {
            self.phases
                .drop_foreign_keys
                .push(SchemaChange::DropForeignKey { table, key });
        }
        for t in order.into_iter().rev() {
            self.phases.drop_tables.push(SchemaChange::DropTable(t));
        }
    }

    /// Tables that come: referenced tables first; foreign keys that cannot be made inside
    /// `CREATE TABLE` are added at the end.
    fn created_tables(&mut self, by_name: &BTreeMap<&str, &TableDiff<'a>>) {
        let created: Vec<&Table> = sorted(&self.to.tables)
            .into_iter()
            .filter(|t| self.from.table(&t.name).is_none())
            .collect();
        let d = self.d;
        let external_ok = |f: &ForeignKey| match by_name.get(f.ref_table.as_str()) {
            Some(td) => key_stable(td, &f.ref_columns, d),
            None => true,
        };
        let (order, deferred) = order_tables(&created, self.options.inline_all, &external_ok);
        for t in order {
            self.phases.create_tables.push(SchemaChange::CreateTable(t));
        }
        for (table, key) in deferred {
            self.phases
                .add_foreign_keys
                .push(SchemaChange::AddForeignKey { table, key });
        }
    }

    /// Checks and index expressions or predicates that compare a converted enum column with
    /// a label would compare it with the old type: they are dropped before and made again
    /// after, by table.
    fn enum_bound<'t>(
        &self,
        diffs: &'t [TableDiff<'a>],
        enum_columns: &BTreeSet<(String, String)>,
    ) -> BTreeMap<&'t str, EnumBound<'a>> {
        let d = self.d;
        let mut enum_bound = BTreeMap::new();
        for td in diffs {
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
            let (_, _, kept_checks) = match_by(&td.from.checks, &td.to.checks, |c| check_key(c, d));
            let checks = kept_checks
                .into_iter()
                .map(|(_, c)| c)
                .filter(|c| mentions(&c.expression))
                .collect();
            let (_, _, kept_indexes) =
                match_by(&td.from.indexes, &td.to.indexes, |i| index_key(i, d));
            let indexes = kept_indexes
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
            enum_bound.insert(td.to.name.as_str(), (checks, indexes));
        }
        enum_bound
    }

    /// The changes inside one table present in both schemas: a rebuild (SQLite), or its
    /// parts dropped, its columns changed and its parts added, each in its phase.
    fn changed_table(
        &mut self,
        td: &TableDiff<'a>,
        retouched: Vec<&'a ForeignKey>,
        bound: EnumBound<'a>,
    ) {
        if self.options.rebuild && !sqlite_simple(td) {
            let rebuild = self.rebuild(td);
            self.phases.columns.push(rebuild);
            return;
        }
        if td.options_changed {
            // Only a rebuild changes table options; listed as such among the changes.
            let rebuild = self.rebuild(td);
            self.phases.columns.push(rebuild);
        }
        self.drop_parts(td, &retouched, &bound);
        self.change_columns(td);
        self.add_parts(td, &retouched, &bound);
    }

    /// SQLite: the table rebuilt (copy-and-swap); `referenced` when a table other than it
    /// has a foreign key to it, before or after.
    fn rebuild(&self, td: &TableDiff<'a>) -> SchemaChange {
        let name = &td.to.name;
        let referenced = self
            .from
            .tables
            .iter()
            .chain(&self.to.tables)
            .any(|t| t.name != *name && t.foreign_keys.iter().any(|f| f.ref_table == *name));
        SchemaChange::RebuildTable {
            from: td.from.clone(),
            to: td.to.clone(),
            referenced,
        }
    }

    /// The foreign keys, indexes, checks, unique constraints and primary key of a table
    /// that go or must be re-made.
    fn drop_parts(&mut self, td: &TableDiff<'a>, retouched: &[&ForeignKey], bound: &EnumBound<'a>) {
        let table = &td.to.name;
        let p = &mut self.phases;
        for key in td.fks_removed.iter().chain(retouched) {
            p.drop_foreign_keys.push(SchemaChange::DropForeignKey {
                table: table.clone(),
                key: (*key).clone(),
            });
        }
        for index in td.indexes_removed.iter().chain(&bound.1) {
            p.drop_table_parts.push(SchemaChange::DropIndex {
                table: table.clone(),
                index: (*index).clone(),
            });
        }
        for check in td.checks_removed.iter().chain(&bound.0) {
            p.drop_table_parts.push(SchemaChange::DropCheck {
                table: table.clone(),
                check: (*check).clone(),
            });
        }
        for unique in &td.uniques_removed {
            p.drop_table_parts.push(SchemaChange::DropUnique {
                table: table.clone(),
                unique: (*unique).clone(),
            });
        }
        if td.pk_changed
            && let Some(key) = &td.from.primary_key
        {
            p.drop_table_parts.push(SchemaChange::DropPrimaryKey {
                table: table.clone(),
                key: key.clone(),
            });
        }
    }

    /// Columns added, changed and dropped.
    fn change_columns(&mut self, td: &TableDiff<'a>) {
        let table = &td.to.name;
        let columns = &mut self.phases.columns;
        for c in &td.added {
            columns.push(SchemaChange::AddColumn {
                table: table.clone(),
                column: (*c).clone(),
            });
        }
        for (f, t) in &td.altered {
            columns.push(SchemaChange::AlterColumn {
                table: table.clone(),
                from: f.clone(),
                to: (*t).clone(),
            });
        }
        for c in &td.dropped {
            columns.push(SchemaChange::DropColumn {
                table: table.clone(),
                column: (*c).clone(),
            });
        }
    }

    /// The primary key, unique constraints, checks, indexes and foreign keys of a table that
    /// come or are made again.
    fn add_parts(&mut self, td: &TableDiff<'a>, retouched: &[&ForeignKey], bound: &EnumBound<'a>) {
        let table = &td.to.name;
        let p = &mut self.phases;
        if td.pk_changed
            && let Some(key) = &td.to.primary_key
        {
            p.add_keys.push(SchemaChange::AddPrimaryKey {
                table: table.clone(),
                key: key.clone(),
            });
        }
        for unique in &td.uniques_added {
            p.add_keys.push(SchemaChange::AddUnique {
                table: table.clone(),
                unique: (*unique).clone(),
            });
        }
        for check in td.checks_added.iter().chain(&bound.0) {
            p.add_keys.push(SchemaChange::AddCheck {
                table: table.clone(),
                check: (*check).clone(),
            });
        }
        for index in td.indexes_added.iter().chain(&bound.1) {
            p.create_indexes.push(SchemaChange::CreateIndex {
                table: table.clone(),
                index: (*index).clone(),
            });
        }
        for key in td.fks_added.iter().chain(retouched) {
            p.add_foreign_keys.push(SchemaChange::AddForeignKey {
                table: table.clone(),
                key: (*key).clone(),
            });
        }
    }
}

/// The tables sorted by name.
fn sorted(tables: &[Table]) -> Vec<&Table> {
    let mut out: Vec<&Table> = tables.iter().collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The enum types sorted by name.
fn sorted_enums(enums: &[EnumType]) -> Vec<&EnumType> {
    let mut out: Vec<&EnumType> = enums.iter().collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
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
    fn apply(s: &mut Schema, op: &SchemaChange, d: Dialect) {
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
                SchemaChange::DropTable(t) => assert!(
                    !referenced_by_others(s, &t.name, None),
                    "{} is dropped while referenced",
                    t.name
                ),
                SchemaChange::DropColumn { table: n, column }
                | SchemaChange::AlterColumn {
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
                SchemaChange::DropPrimaryKey { table: n, key } => assert!(
                    !referenced_by_others(s, n, Some(&key.columns)),
                    "the primary key of {n} goes while referenced"
                ),
                SchemaChange::DropUnique { table: n, unique } => assert!(
                    !referenced_by_others(s, n, Some(&unique.columns)),
                    "a unique key of {n} goes while referenced"
                ),
                SchemaChange::AddForeignKey { key, .. } => {
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
            SchemaChange::CreateEnum(e) => s.enums.push(e.clone()),
            SchemaChange::DropEnum(e) => remove(&mut s.enums, |x| x.name == e.name),
            SchemaChange::ReplaceEnum { to, uses, .. } => {
                remove(&mut s.enums, |x| x.name == to.name);
                s.enums.push(to.clone());
                for u in uses {
                    let t = table(s, &u.table);
                    let c = t.columns.iter_mut().find(|c| c.name == u.column).unwrap();
                    c.default = u.default_after.clone();
                }
            }
            SchemaChange::CreateTable(t) => {
                assert!(s.table(&t.name).is_none());
                s.tables.push(t.clone())
            }
            SchemaChange::DropTable(t) => remove(&mut s.tables, |x| x.name == t.name),
            SchemaChange::AddColumn { table: n, column } => {
                table(s, n).columns.push(column.clone())
            }
            SchemaChange::DropColumn { table: n, column } => {
                remove(&mut table(s, n).columns, |c| c.name == column.name)
            }
            SchemaChange::AlterColumn { table: n, to, .. } => {
                let t = table(s, n);
                let c = t.columns.iter_mut().find(|c| c.name == to.name).unwrap();
                *c = to.clone();
            }
            SchemaChange::AddPrimaryKey { table: n, key } => {
                let t = table(s, n);
                assert!(t.primary_key.is_none());
                t.primary_key = Some(key.clone());
            }
            SchemaChange::DropPrimaryKey { table: n, .. } => table(s, n).primary_key = None,
            SchemaChange::AddUnique { table: n, unique } => {
                table(s, n).uniques.push(unique.clone())
            }
            SchemaChange::DropUnique { table: n, unique } => {
                remove(&mut table(s, n).uniques, |u| u.columns == unique.columns)
            }
            SchemaChange::AddCheck { table: n, check } => table(s, n).checks.push(check.clone()),
            SchemaChange::DropCheck { table: n, check } => remove(&mut table(s, n).checks, |c| {
                check_key(c, d) == check_key(check, d)
            }),
            SchemaChange::CreateIndex { table: n, index } => {
                table(s, n).indexes.push(index.clone())
            }
            SchemaChange::DropIndex { table: n, index } => remove(&mut table(s, n).indexes, |i| {
                index_key(i, d) == index_key(index, d)
            }),
            SchemaChange::AddForeignKey { table: n, key } => {
                assert!(s.table(&key.ref_table).is_some(), "{key:?}");
                table(s, n).foreign_keys.push(key.clone())
            }
            SchemaChange::DropForeignKey { table: n, key } => {
                remove(&mut table(s, n).foreign_keys, |f| fk_key(f) == fk_key(key))
            }
            SchemaChange::RebuildTable { to, .. } => *table(s, &to.name) = to.clone(),
        }
        // Inline foreign keys only name tables that exist (SQLite excepted).
        if let SchemaChange::CreateTable(t) = op
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

    fn kinds(ops: &[SchemaChange]) -> Vec<String> {
        ops.iter().map(SchemaChange::describe).collect()
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
                .map(SchemaChange::describe)
                .collect::<Vec<_>>(),
            ["removed table a_orders", "removed table users"]
        );
        // The inverse of the reversed list is the list the other way.
        let inv: Vec<SchemaChange> = ops.iter().rev().map(SchemaChange::inverse).collect();
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
            SchemaChange::RebuildTable {
                referenced: true,
                ..
            }
        ));
        assert!(matches!(
            &ops[0],
            SchemaChange::RebuildTable {
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
            [SchemaChange::AddColumn { .. }]
        ));
        t.columns[1].nullable = false;
        let b = schema(vec![t.clone()]);
        assert!(matches!(
            diff(&a, &b, Dialect::Sqlite)[..],
            [SchemaChange::RebuildTable { .. }]
        ));
        t.columns[1].default = Some("'x'".into());
        let b = schema(vec![t]);
        assert!(matches!(
            diff(&a, &b, Dialect::Sqlite)[..],
            [SchemaChange::AddColumn { .. }]
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
        let SchemaChange::ReplaceEnum { uses, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(uses[0].column, "s");
        assert_eq!(uses[0].default_after.as_deref(), Some("'a'::status"));
    }
}
