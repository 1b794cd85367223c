//! Operations as SQL for PostgreSQL, MySQL/MariaDB and SQLite, with `-- WARNING` comments
//! above destructive statements and `-- NOTE` comments where a person should look.

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{SchemaChange, changes, default_changes, diff, type_change};
use super::lex::{Kind, matching_paren, quote_literal, tokens};
use super::types::TypeChange;
use super::{
    Action, Check, Column, EnumType, ForeignKey, Index, PrimaryKey, Schema, Table, Unique,
    quote_ident, type_key,
};
use revchain_core::Dialect;

/// Rendered SQL for one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// The statements, with comments, each ending in `;`.
    pub sql: String,
    /// SQLite: the script rebuilds a table that other tables reference, so it must run
    /// with foreign key enforcement off (outside a transaction).
    pub needs_foreign_keys_off: bool,
    /// PostgreSQL: the script uses the safe forms on existing tables (`CREATE INDEX
    /// CONCURRENTLY`, `ADD CONSTRAINT … NOT VALID` then `VALIDATE CONSTRAINT`), which run
    /// (or only help) outside a transaction, one statement at a time.
    pub needs_no_transaction: bool,
}

/// A generated revision body: both directions and what they change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// The upgrade section.
    pub upgrade: String,
    /// The downgrade section: the upgrade's operations reversed and inverted.
    pub downgrade: String,
    /// `false` when the revision manages its own transaction (SQLite table rebuilds with
    /// foreign key enforcement off): write it with `Transactional: false`.
    pub transactional: bool,
    /// One line per detected change.
    pub changes: Vec<String>,
}

/// The revision that takes `from` to `to` (and back), or `None` when they are equal.
pub fn generate(from: &Schema, to: &Schema, dialect: Dialect) -> Option<Migration> {
    let ops = diff(from, to, dialect);
    if ops.is_empty() {
        return None;
    }
    let inverse: Vec<SchemaChange> = ops.iter().rev().map(SchemaChange::inverse).collect();
    let up = render(&ops, dialect);
    let down = render(&inverse, dialect);
    let wrap = up.needs_foreign_keys_off || down.needs_foreign_keys_off;
    let one_by_one = up.needs_no_transaction || down.needs_no_transaction;
    let finish = |s: Script| {
        if wrap {
            wrap_foreign_keys_off(&s.sql)
        } else {
            s.sql
        }
    };
    let mut described = changes(from, to, dialect);
    if described.is_empty() {
        described = ops.iter().map(SchemaChange::describe).collect();
    }
    Some(Migration {
        upgrade: finish(up),
        downgrade: finish(down),
        transactional: !wrap && !one_by_one,
        changes: described,
    })
}

fn wrap_foreign_keys_off(sql: &str) -> String {
    format!(
        "-- SQLite drops the rows that reference a table when the table is dropped with foreign \
         key\n-- enforcement on, and enforcement can only be turned off outside a transaction: \
         this revision\n-- is `Transactional: false` and runs its own transaction.\n\
         PRAGMA foreign_keys = OFF;\nBEGIN;\n\n{}\nCOMMIT;\nPRAGMA foreign_keys = ON;\n",
        sql.trim_end().to_owned() + "\n"
    )
}

/// Renders operations, in order, as SQL of `dialect`.
pub fn render(ops: &[SchemaChange], dialect: Dialect) -> Script {
    let d = match dialect {
        Dialect::Generic => Dialect::Postgres,
        other => other,
    };
    let mut notes = rename_notes(ops, d);
    let mut blocks: Vec<Vec<String>> = Vec::new();
    let mut needs_off = false;
    let mut needs_no_transaction = false;
    let rewritten = rewritten_tables(ops);
    for op in ops {
        let mut block = Vec::new();
        if matches!(
            op,
            SchemaChange::AddColumn { .. }
                | SchemaChange::DropColumn { .. }
                | SchemaChange::RebuildTable { .. }
        ) && let Some(table) = op.table()
            && let Some(note) = notes.remove(table)
        {
            block.extend(note);
        }
        if let SchemaChange::RebuildTable {
            referenced: true, ..
        } = op
        {
            needs_off = true;
        }
        match safe_form(op, d, &rewritten) {
            Some(statements) => {
                block.extend(statements);
                needs_no_transaction = true;
            }
            None => render_op(op, d, &mut block),
        }
        blocks.push(block);
    }
    let mut sql = String::new();
    let mut prev_multi = false;
    for (k, block) in blocks.iter().enumerate() {
        let multi = block.len() > 1;
        if k > 0 && (multi || prev_multi) {
            sql.push('\n');
        }
        for line in block {
            sql.push_str(line);
            sql.push('\n');
        }
        prev_multi = multi;
    }
    Script {
        sql,
        needs_foreign_keys_off: needs_off,
        needs_no_transaction,
    }
}

/// The tables that `ops` create, rebuild or rewrite (a column's type changed, an enum
/// converted): an index or constraint made on them gains nothing from the safe forms, since
/// the table is new or locked for the rewrite anyway.
fn rewritten_tables(ops: &[SchemaChange]) -> BTreeSet<&str> {
    ops.iter()
        .flat_map(|op| match op {
            SchemaChange::CreateTable(t) => vec![t.name.as_str()],
            SchemaChange::RebuildTable { to, .. } => vec![to.name.as_str()],
            SchemaChange::AlterColumn { table, .. } => vec![table.as_str()],
            SchemaChange::ReplaceEnum { uses, .. } => {
                uses.iter().map(|u| u.table.as_str()).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

/// The PostgreSQL safe form of an operation on an existing table that `ops` do not rewrite,
/// when it has one: an index built `CONCURRENTLY`, or a named foreign key or check added
/// `NOT VALID` then validated (docs/lint.md: what `revchain lint` asks for). Such statements
/// cannot run, or gain nothing, inside a transaction: the revision is written
/// `Transactional: false`.
fn safe_form(op: &SchemaChange, d: Dialect, rewritten: &BTreeSet<&str>) -> Option<Vec<String>> {
    if d != Dialect::Postgres || op.table().is_none_or(|t| rewritten.contains(t)) {
        return None;
    }
    let not_valid = |table: &str, name: &Option<String>, clause: String| {
        let name = name.as_ref()?;
        Some(vec![
            alter(table, d, &format!("ADD {clause} NOT VALID")),
            alter(table, d, &format!("VALIDATE CONSTRAINT {}", q(name, d))),
        ])
    };
    match op {
        SchemaChange::CreateIndex { table, index } => {
            Some(vec![create_index(table, index, d).replacen(
                "INDEX ",
                "INDEX CONCURRENTLY ",
                1,
            )])
        }
        SchemaChange::AddForeignKey { table, key } => {
            not_valid(table, &key.name, fk_clause(key, d))
        }
        SchemaChange::AddCheck { table, check } => {
            not_valid(table, &check.name, check_clause(check, d))
        }
        _ => None,
    }
}

/// `-- NOTE` lines for tables where a column goes and another of the same type comes.
fn rename_notes(ops: &[SchemaChange], d: Dialect) -> BTreeMap<String, Vec<String>> {
    let mut dropped: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    let mut added: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for op in ops {
        match op {
            SchemaChange::DropColumn { table, column } => dropped
                .entry(table.clone())
                .or_default()
                .push(column.clone()),
            SchemaChange::AddColumn { table, column } => {
                added.entry(table.clone()).or_default().push(column.clone())
            }
            SchemaChange::RebuildTable { from, to, .. } => {
                for c in &from.columns {
                    if to.column(&c.name).is_none() {
                        dropped.entry(to.name.clone()).or_default().push(c.clone());
                    }
                }
                for c in &to.columns {
                    if from.column(&c.name).is_none() {
                        added.entry(to.name.clone()).or_default().push(c.clone());
                    }
                }
            }
            _ => {}
        }
    }
    let mut notes = BTreeMap::new();
    for (table, gone) in dropped {
        let Some(new) = added.get_mut(&table) else {
            continue;
        };
        let mut lines = Vec::new();
        for g in gone {
            if let Some(k) = new
                .iter()
                .position(|a| type_key(&a.data_type, d) == type_key(&g.data_type, d))
            {
                let a = new.remove(k);
                lines.push(format!(
                    "-- NOTE: column {table}.{} is dropped and {table}.{} added with the same type \
                     ({}). If this is a rename,",
                    g.name, a.name, a.data_type
                ));
                lines.push(format!(
                    "-- replace those statements with `ALTER TABLE {} RENAME COLUMN {} TO {};` to \
                     keep the data.",
                    quote_ident(&table, d),
                    quote_ident(&g.name, d),
                    quote_ident(&a.name, d)
                ));
            }
        }
        if !lines.is_empty() {
            notes.insert(table, lines);
        }
    }
    notes
}

fn q(name: &str, d: Dialect) -> String {
    quote_ident(name, d)
}

fn col_list(cols: &[String], d: Dialect) -> String {
    cols.iter().map(|c| q(c, d)).collect::<Vec<_>>().join(", ")
}

/// Whether `expr` can follow `DEFAULT` without parentheses in MySQL or SQLite.
fn bare_default(expr: &str, d: Dialect) -> bool {
    let toks = tokens(expr, d);
    match toks.as_slice() {
        [] => false,
        [t] => match t.kind {
            Kind::Str | Kind::Number => true,
            Kind::Word => ["null", "true", "false"]
                .iter()
                .chain(&["current_timestamp", "current_date", "current_time"])
                .any(|w| t.is_word(w)),
            _ => false,
        },
        [s, n] => (s.is_punct("-") || s.is_punct("+")) && n.kind == Kind::Number,
        [first, ..] if first.is_punct("(") => matching_paren(&toks, 0) == Some(toks.len() - 1),
        [f, open, rest @ ..] if d == Dialect::MySql && open.is_punct("(") => {
            [
                "current_timestamp",
                "now",
                "localtime",
                "localtimestamp",
                "current_date",
                "curdate",
                "current_time",
                "curtime",
            ]
            .iter()
            .any(|w| f.is_word(w))
                && matches!(rest, [c] if c.is_punct(")"))
                    | matches!(rest, [n, c] if n.kind == Kind::Number && c.is_punct(")"))
        }
        _ => false,
    }
}

fn default_sql(expr: &str, d: Dialect) -> String {
    if d == Dialect::Postgres || bare_default(expr, d) {
        expr.trim().to_owned()
    } else {
        format!("({})", expr.trim())
    }
}

/// The PostgreSQL spelling of an auto-increment column's type.
fn pg_serial(data_type: &str) -> String {
    match type_key(data_type, Dialect::Postgres).as_str() {
        "integer" | "int" | "int4" | "serial" => "SERIAL".to_owned(),
        "bigint" | "int8" | "bigserial" => "BIGSERIAL".to_owned(),
        "smallint" | "int2" | "smallserial" => "SMALLSERIAL".to_owned(),
        _ => format!("{data_type} GENERATED BY DEFAULT AS IDENTITY"),
    }
}

/// A column definition; `inline_pk` (SQLite) writes `PRIMARY KEY AUTOINCREMENT` on it.
fn column_def(c: &Column, d: Dialect, inline_pk: bool) -> String {
    let mut s = q(&c.name, d);
    match d {
        Dialect::Postgres | Dialect::Generic => {
            if c.auto_increment {
                s.push(' ');
                s.push_str(&pg_serial(&c.data_type));
            } else {
                s.push(' ');
                s.push_str(&c.data_type);
            }
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            if let Some(def) = c.default.as_deref().filter(|_| !c.auto_increment) {
                s.push_str(&format!(" DEFAULT {}", default_sql(def, d)));
            }
        }
        Dialect::MySql => {
            s.push(' ');
            s.push_str(&c.data_type);
            s.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
            if let Some(def) = &c.default {
                s.push_str(&format!(" DEFAULT {}", default_sql(def, d)));
            }
            if c.auto_increment {
                s.push_str(" AUTO_INCREMENT");
            }
        }
        Dialect::Sqlite => {
            if !c.data_type.trim().is_empty() {
                s.push(' ');
                s.push_str(&c.data_type);
            }
            if inline_pk {
                s.push_str(" PRIMARY KEY AUTOINCREMENT");
            }
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            if let Some(def) = &c.default {
                s.push_str(&format!(" DEFAULT {}", default_sql(def, d)));
            }
        }
    }
    s
}

fn constraint(name: &Option<String>, d: Dialect) -> String {
    match name {
        Some(n) => format!("CONSTRAINT {} ", q(n, d)),
        None => String::new(),
    }
}

fn pk_clause(k: &PrimaryKey, d: Dialect) -> String {
    let name = if d == Dialect::MySql {
        String::new()
    } else {
        constraint(&k.name, d)
    };
    format!("{name}PRIMARY KEY ({})", col_list(&k.columns, d))
}

fn unique_clause(u: &Unique, d: Dialect) -> String {
    format!(
        "{}UNIQUE ({})",
        constraint(&u.name, d),
        col_list(&u.columns, d)
    )
}

fn check_clause(c: &Check, d: Dialect) -> String {
    format!("{}CHECK ({})", constraint(&c.name, d), c.expression.trim())
}

fn fk_clause(f: &ForeignKey, d: Dialect) -> String {
    let mut s = format!(
        "{}FOREIGN KEY ({}) REFERENCES {} ({})",
        constraint(&f.name, d),
        col_list(&f.columns, d),
        q(&f.ref_table, d),
        col_list(&f.ref_columns, d)
    );
    if f.on_delete != Action::NoAction {
        s.push_str(&format!(" ON DELETE {}", f.on_delete.sql()));
    }
    if f.on_update != Action::NoAction {
        s.push_str(&format!(" ON UPDATE {}", f.on_update.sql()));
    }
    s
}

fn mysql_index_kind(i: &Index) -> &'static str {
    match i.method.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("fulltext") => "FULLTEXT ",
        Some("spatial") => "SPATIAL ",
        _ if i.unique => "UNIQUE ",
        _ => "",
    }
}

fn create_index(table: &str, i: &Index, d: Dialect) -> String {
    match d {
        Dialect::MySql => format!(
            "CREATE {}INDEX {} ON {} ({});",
            mysql_index_kind(i),
            q(&i.name, d),
            q(table, d),
            i.parts.join(", ")
        ),
        _ => {
            let mut s = format!(
                "CREATE {}INDEX {} ON {}",
                if i.unique { "UNIQUE " } else { "" },
                q(&i.name, d),
                q(table, d)
            );
            if let Some(m) = i
                .method
                .as_deref()
                .filter(|m| d != Dialect::Sqlite && !m.eq_ignore_ascii_case("btree"))
            {
                s.push_str(&format!(" USING {m}"));
            }
            s.push_str(&format!(" ({})", i.parts.join(", ")));
            if let Some(p) = &i.predicate {
                s.push_str(&format!(" WHERE {}", p.trim()));
            }
            s.push(';');
            s
        }
    }
}

fn drop_index(table: &str, i: &Index, d: Dialect) -> String {
    match d {
        Dialect::MySql => format!("DROP INDEX {} ON {};", q(&i.name, d), q(table, d)),
        _ => format!("DROP INDEX {};", q(&i.name, d)),
    }
}

/// `CREATE TABLE` (named `name`) and the statements for its indexes.
fn create_table(t: &Table, name: &str, d: Dialect, with_indexes: bool) -> Vec<String> {
    let inline_pk_col = match (&t.primary_key, d) {
        (Some(pk), Dialect::Sqlite) if pk.columns.len() == 1 => t
            .column(&pk.columns[0])
            .filter(|c| c.auto_increment)
            .map(|c| c.name.clone()),
        _ => None,
    };
    let mut items: Vec<String> = t
        .columns
        .iter()
        .map(|c| column_def(c, d, inline_pk_col.as_deref() == Some(c.name.as_str())))
        .collect();
    if let Some(pk) = &t.primary_key
        && inline_pk_col.is_none()
    {
        items.push(pk_clause(pk, d));
    }
    items.extend(t.uniques.iter().map(|u| unique_clause(u, d)));
    items.extend(t.checks.iter().map(|c| check_clause(c, d)));
    items.extend(t.foreign_keys.iter().map(|f| fk_clause(f, d)));
    if d == Dialect::MySql {
        // Inside CREATE TABLE, so that MySQL does not add its own index for a foreign key.
        items.extend(t.indexes.iter().map(|i| {
            format!(
                "{}KEY {} ({})",
                mysql_index_kind(i),
                q(&i.name, d),
                i.parts.join(", ")
            )
        }));
    }
    let mut out = vec![format!("CREATE TABLE {} (", q(name, d))];
    let n = items.len();
    for (k, item) in items.into_iter().enumerate() {
        out.push(format!("    {item}{}", if k + 1 < n { "," } else { "" }));
    }
    if t.options.is_empty() {
        out.push(");".to_owned());
    } else {
        out.push(format!(") {};", t.options.join(", ")));
    }
    if d != Dialect::MySql && with_indexes {
        out.extend(t.indexes.iter().map(|i| create_index(&t.name, i, d)));
    }
    out
}

fn alter(table: &str, d: Dialect, rest: &str) -> String {
    format!("ALTER TABLE {} {rest};", q(table, d))
}

/// SQLite's type affinity of a declared type (its documented rules, in order).
fn sqlite_affinity(t: &str) -> &'static str {
    let t = t.to_ascii_uppercase();
    if t.contains("INT") {
        "INTEGER"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|w| t.contains(w)) {
        "TEXT"
    } else if t.contains("BLOB") || t.trim().is_empty() {
        "BLOB"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|w| t.contains(w)) {
        "REAL"
    } else {
        "NUMERIC"
    }
}

fn type_warning(table: &str, from: &Column, to: &Column, d: Dialect) -> Option<String> {
    let change = type_change(from, to, d)?;
    if d == Dialect::Sqlite {
        // SQLite keeps every value whatever the declared type; only a change of affinity
        // converts values on the copy.
        let (a, b) = (
            sqlite_affinity(&from.data_type),
            sqlite_affinity(&to.data_type),
        );
        return (a != b).then(|| {
            format!(
                "-- WARNING: changes the type affinity of {table}.{} from {a} to {b}: copied \
                 values may be converted.",
                to.name
            )
        });
    }
    match change {
        TypeChange::Widening => None,
        TypeChange::Narrowing => Some(format!(
            "-- WARNING: narrows {table}.{} from {} to {}: values that do not fit make this fail \
             or are cut.",
            to.name, from.data_type, to.data_type
        )),
        TypeChange::Other => Some(format!(
            "-- WARNING: changes the type of {table}.{} from {} to {}: existing values must \
             convert, which may fail or lose data.",
            to.name, from.data_type, to.data_type
        )),
    }
}

fn enum_values(e: &EnumType, d: Dialect) -> String {
    e.values
        .iter()
        .map(|v| quote_literal(d, v))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render_op(op: &SchemaChange, d: Dialect, out: &mut Vec<String>) {
    match op {
        SchemaChange::CreateEnum(e) => out.push(format!(
            "CREATE TYPE {} AS ENUM ({});",
            q(&e.name, d),
            enum_values(e, d)
        )),
        SchemaChange::DropEnum(e) => out.push(format!("DROP TYPE {};", q(&e.name, d))),
        SchemaChange::ReplaceEnum { from, to, uses } => {
            let removed: Vec<String> = from
                .values
                .iter()
                .filter(|v| !to.values.contains(v))
                .map(|v| quote_literal(d, v))
                .collect();
            if !removed.is_empty() {
                out.push(format!(
                    "-- WARNING: removes {} from enum type {}: rows that hold {} make this fail.",
                    removed.join(", "),
                    to.name,
                    if removed.len() == 1 { "it" } else { "them" }
                ));
            } else if to.values.starts_with(&from.values) {
                out.push(format!(
                    "-- NOTE: only appends labels; `ALTER TYPE {} ADD VALUE …` would avoid \
                     rewriting the columns that use the type.",
                    q(&to.name, d)
                ));
            }
            let old = format!("{}__revchain_old", to.name);
            out.push(format!(
                "ALTER TYPE {} RENAME TO {};",
                q(&to.name, d),
                q(&old, d)
            ));
            out.push(format!(
                "CREATE TYPE {} AS ENUM ({});",
                q(&to.name, d),
                enum_values(to, d)
            ));
            for u in uses {
                let col = q(&u.column, d);
                if u.default_before.is_some() {
                    out.push(alter(
                        &u.table,
                        d,
                        &format!("ALTER COLUMN {col} DROP DEFAULT"),
                    ));
                }
                let (ty, via) = if u.array {
                    (format!("{}[]", q(&to.name, d)), "text[]")
                } else {
                    (q(&to.name, d), "text")
                };
                out.push(alter(
                    &u.table,
                    d,
                    &format!("ALTER COLUMN {col} TYPE {ty} USING {col}::{via}::{ty}"),
                ));
                if let Some(def) = &u.default_after {
                    out.push(alter(
                        &u.table,
                        d,
                        &format!("ALTER COLUMN {col} SET DEFAULT {def}"),
                    ));
                }
            }
            out.push(format!("DROP TYPE {};", q(&old, d)));
        }
        SchemaChange::CreateTable(t) => out.extend(create_table(t, &t.name, d, true)),
        SchemaChange::DropTable(t) => {
            out.push(format!(
                "-- WARNING: drops table {} and all of its rows.",
                t.name
            ));
            out.push(format!("DROP TABLE {};", q(&t.name, d)));
        }
        SchemaChange::AddColumn { table, column } => {
            if !column.nullable && column.default.is_none() && !column.auto_increment {
                out.push(format!(
                    "-- NOTE: {table}.{} is NOT NULL without a default: this fails if the table \
                     has rows.",
                    column.name
                ));
            }
            out.push(alter(
                table,
                d,
                &format!("ADD COLUMN {}", column_def(column, d, false)),
            ));
        }
        SchemaChange::DropColumn { table, column } => {
            out.push(format!(
                "-- WARNING: drops column {table}.{} and its data.",
                column.name
            ));
            out.push(alter(
                table,
                d,
                &format!("DROP COLUMN {}", q(&column.name, d)),
            ));
        }
        SchemaChange::AlterColumn { table, from, to } => alter_column(table, from, to, d, out),
        SchemaChange::AddPrimaryKey { table, key } => out.push(match d {
            Dialect::MySql => alter(
                table,
                d,
                &format!("ADD PRIMARY KEY ({})", col_list(&key.columns, d)),
            ),
            _ => alter(table, d, &format!("ADD {}", pk_clause(key, d))),
        }),
        SchemaChange::DropPrimaryKey { table, key } => out.push(match d {
            Dialect::MySql => alter(table, d, "DROP PRIMARY KEY"),
            _ => {
                let name = key.name.clone().unwrap_or_else(|| format!("{table}_pkey"));
                alter(table, d, &format!("DROP CONSTRAINT {}", q(&name, d)))
            }
        }),
        SchemaChange::AddUnique { table, unique } => out.push(alter(
            table,
            d,
            &format!("ADD {}", unique_clause(unique, d)),
        )),
        SchemaChange::DropUnique { table, unique } => match &unique.name {
            Some(n) if d == Dialect::MySql => {
                out.push(alter(table, d, &format!("DROP INDEX {}", q(n, d))))
            }
            Some(n) => out.push(alter(table, d, &format!("DROP CONSTRAINT {}", q(n, d)))),
            None => out.push(format!(
                "-- cannot drop the unnamed unique constraint on {table} ({}) by name",
                unique.columns.join(", ")
            )),
        },
        SchemaChange::AddCheck { table, check } => {
            out.push(alter(table, d, &format!("ADD {}", check_clause(check, d))))
        }
        SchemaChange::DropCheck { table, check } => match &check.name {
            Some(n) => out.push(alter(table, d, &format!("DROP CONSTRAINT {}", q(n, d)))),
            None => out.push(format!(
                "-- cannot drop the unnamed check constraint on {table} ({}) by name",
                check.expression
            )),
        },
        SchemaChange::CreateIndex { table, index } => out.push(create_index(table, index, d)),
        SchemaChange::DropIndex { table, index } => out.push(drop_index(table, index, d)),
        SchemaChange::AddForeignKey { table, key } => {
            out.push(alter(table, d, &format!("ADD {}", fk_clause(key, d))))
        }
        SchemaChange::DropForeignKey { table, key } => match &key.name {
            Some(n) if d == Dialect::MySql => {
                out.push(alter(table, d, &format!("DROP FOREIGN KEY {}", q(n, d))))
            }
            Some(n) => out.push(alter(table, d, &format!("DROP CONSTRAINT {}", q(n, d)))),
            None => out.push(format!(
                "-- cannot drop the unnamed foreign key on {table} ({}) by name",
                key.columns.join(", ")
            )),
        },
        SchemaChange::RebuildTable { from, to, .. } => rebuild(from, to, d, out),
    }
}

fn alter_column(table: &str, from: &Column, to: &Column, d: Dialect, out: &mut Vec<String>) {
    if let Some(w) = type_warning(table, from, to, d) {
        out.push(w);
    }
    if from.nullable && !to.nullable {
        out.push(format!(
            "-- NOTE: {table}.{} becomes NOT NULL: this fails if a row holds NULL.",
            to.name
        ));
    }
    let col = q(&to.name, d);
    match d {
        Dialect::MySql => out.push(alter(
            table,
            d,
            &format!("MODIFY COLUMN {}", column_def(to, d, false)),
        )),
        Dialect::Sqlite => out.push(format!(
            "-- SQLite cannot alter column {table}.{} in place; the table must be rebuilt.",
            to.name
        )),
        Dialect::Postgres | Dialect::Generic => {
            let retyped = type_change(from, to, d).is_some();
            let from_default = from.default.is_some() && !from.auto_increment;
            let to_default = to.default.as_deref().filter(|_| !to.auto_increment);
            if from.auto_increment && !to.auto_increment {
                out.push(alter(
                    table,
                    d,
                    &format!("ALTER COLUMN {col} DROP IDENTITY IF EXISTS"),
                ));
                out.push(alter(table, d, &format!("ALTER COLUMN {col} DROP DEFAULT")));
            }
            if retyped {
                if from_default {
                    out.push(alter(table, d, &format!("ALTER COLUMN {col} DROP DEFAULT")));
                }
                out.push(alter(
                    table,
                    d,
                    &format!(
                        "ALTER COLUMN {col} TYPE {ty} USING {col}::{ty}",
                        ty = to.data_type
                    ),
                ));
                if let Some(def) = to_default {
                    out.push(alter(
                        table,
                        d,
                        &format!("ALTER COLUMN {col} SET DEFAULT {def}"),
                    ));
                }
            } else if default_changes(from, to, d) || from_default != to_default.is_some() {
                out.push(match to_default {
                    Some(def) => alter(table, d, &format!("ALTER COLUMN {col} SET DEFAULT {def}")),
                    None => alter(table, d, &format!("ALTER COLUMN {col} DROP DEFAULT")),
                });
            }
            if from.nullable != to.nullable {
                out.push(alter(
                    table,
                    d,
                    &format!(
                        "ALTER COLUMN {col} {} NOT NULL",
                        if to.nullable { "DROP" } else { "SET" }
                    ),
                ));
            }
            if to.auto_increment && !from.auto_increment {
                out.push(alter(
                    table,
                    d,
                    &format!("ALTER COLUMN {col} ADD GENERATED BY DEFAULT AS IDENTITY"),
                ));
            }
        }
    }
}

/// SQLite's copy-and-swap rebuild of a table.
fn rebuild(from: &Table, to: &Table, d: Dialect, out: &mut Vec<String>) {
    let temp = format!("_revchain_new_{}", to.name);
    out.push(format!(
        "-- SQLite cannot make this change with ALTER TABLE: {} is rebuilt (copy-and-swap: a \
         new table is",
        to.name
    ));
    out.push(
        "-- created, the rows are copied, the old table is dropped and the new one renamed)."
            .to_owned(),
    );
    for c in &from.columns {
        match to.column(&c.name) {
            None => out.push(format!(
                "-- WARNING: drops column {}.{} and its data.",
                to.name, c.name
            )),
            Some(t) => {
                if let Some(w) = type_warning(&to.name, c, t, d) {
                    out.push(w);
                }
                if c.nullable && !t.nullable {
                    out.push(format!(
                        "-- NOTE: {}.{} becomes NOT NULL: this fails if a row holds NULL.",
                        to.name, t.name
                    ));
                }
            }
        }
    }
    out.extend(create_table(to, &temp, d, false));
    let common: Vec<String> = to
        .columns
        .iter()
        .filter(|c| from.column(&c.name).is_some())
        .map(|c| q(&c.name, d))
        .collect();
    if !common.is_empty() {
        let list = common.join(", ");
        out.push(format!(
            "INSERT INTO {} ({list}) SELECT {list} FROM {};",
            q(&temp, d),
            q(&to.name, d)
        ));
    }
    out.push(format!("DROP TABLE {};", q(&to.name, d)));
    out.push(format!(
        "ALTER TABLE {} RENAME TO {};",
        q(&temp, d),
        q(&to.name, d)
    ));
    out.extend(to.indexes.iter().map(|i| create_index(&to.name, i, d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EnumType, PrimaryKey};

    fn users() -> Table {
        let mut t = Table::new("users");
        let mut id = Column::new("id", "integer").not_null();
        id.auto_increment = true;
        t.columns.push(id);
        t.columns
            .push(Column::new("email", "character varying(100)").not_null());
        t.primary_key = Some(PrimaryKey {
            name: Some("users_pkey".into()),
            columns: vec!["id".into()],
        });
        t.uniques.push(Unique {
            name: Some("users_email_key".into()),
            columns: vec!["email".into()],
        });
        t.indexes.push(Index {
            name: "ix_users_lower".into(),
            parts: vec!["lower((email)::text)".into()],
            unique: false,
            predicate: Some("(id > 10)".into()),
            method: None,
        });
        t
    }

    fn one(t: Table) -> Schema {
        Schema {
            tables: vec![t],
            enums: Vec::new(),
        }
    }

    #[test]
    fn creates_a_postgres_table() {
        let m = generate(&Schema::default(), &one(users()), Dialect::Postgres).unwrap();
        assert_eq!(
            m.upgrade,
            "CREATE TABLE users (\n    id SERIAL NOT NULL,\n    email character varying(100) NOT NULL,\n    CONSTRAINT users_pkey PRIMARY KEY (id),\n    CONSTRAINT users_email_key UNIQUE (email)\n);\nCREATE INDEX ix_users_lower ON users (lower((email)::text)) WHERE (id > 10);\n"
        );
        assert_eq!(
            m.downgrade,
            "-- WARNING: drops table users and all of its rows.\nDROP TABLE users;\n"
        );
        assert!(m.transactional);
        assert_eq!(m.changes, ["added table users"]);
    }

    /// On PostgreSQL an index on an existing table is built CONCURRENTLY and a foreign key
    /// added NOT VALID then validated, in a revision that runs outside a transaction; a new
    /// table's index is not, and other databases keep the plain forms.
    #[test]
    fn postgres_writes_the_safe_forms_on_existing_tables() {
        let mut before = users();
        before.indexes.clear();
        before.columns.push(Column::new("org_id", "integer"));
        let mut orgs = Table::new("orgs");
        orgs.columns.push(Column::new("id", "integer").not_null());
        orgs.primary_key = Some(PrimaryKey {
            name: Some("orgs_pkey".into()),
            columns: vec!["id".into()],
        });
        let from = Schema {
            tables: vec![orgs.clone(), before.clone()],
            enums: Vec::new(),
        };
        let mut after = users();
        after.columns.push(Column::new("org_id", "integer"));
        after.foreign_keys.push(ForeignKey {
            name: Some("users_org_fkey".into()),
            columns: vec!["org_id".into()],
            ref_table: "orgs".into(),
            ref_columns: vec!["id".into()],
            on_delete: Action::NoAction,
            on_update: Action::NoAction,
        });
        let to = Schema {
            tables: vec![orgs, after],
            enums: Vec::new(),
        };
        let m = generate(&from, &to, Dialect::Postgres).unwrap();
        assert!(
            m.upgrade.contains(
                "CREATE INDEX CONCURRENTLY ix_users_lower ON users (lower((email)::text)) WHERE (id > 10);\n"
            ),
            "{}",
            m.upgrade
        );
        assert!(
            m.upgrade.contains(
                "ALTER TABLE users ADD CONSTRAINT users_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_org_fkey;\n"
            ),
            "{}",
            m.upgrade
        );
        assert!(!m.transactional);
        let mysql = generate(&from, &to, Dialect::MySql).unwrap();
        assert!(!mysql.upgrade.contains("CONCURRENTLY") && !mysql.upgrade.contains("NOT VALID"));
        assert!(mysql.transactional);
    }

    #[test]
    fn mysql_and_sqlite_spellings() {
        let mut t = users();
        t.columns[1].data_type = "varchar(100)".into();
        t.columns[1].default = Some("'x'".into());
        t.indexes[0].parts = vec!["`email`(10)".into()];
        t.indexes[0].predicate = None;
        let m = generate(&Schema::default(), &one(t.clone()), Dialect::MySql).unwrap();
        assert!(
            m.upgrade
                .contains("    id integer NOT NULL AUTO_INCREMENT,\n"),
            "{}",
            m.upgrade
        );
        assert!(m.upgrade.contains("    PRIMARY KEY (id),\n"));
        assert!(m.upgrade.contains("    KEY ix_users_lower (`email`(10))\n"));
        t.columns[0].data_type = "INTEGER".into();
        t.indexes[0].parts = vec!["lower(email)".into()];
        t.columns[1].default = Some("lower('X')".into());
        let m = generate(&Schema::default(), &one(t), Dialect::Sqlite).unwrap();
        assert!(
            m.upgrade
                .contains("    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,\n"),
            "{}",
            m.upgrade
        );
        assert!(m.upgrade.contains("DEFAULT (lower('X'))"), "{}", m.upgrade);
        assert!(!m.upgrade.contains("CONSTRAINT users_pkey"));
    }

    #[test]
    fn warns_about_destructive_changes_and_suggests_renames() {
        let mut a = Table::new("t");
        a.columns.push(Column::new("old_name", "text"));
        a.columns
            .push(Column::new("size", "character varying(200)"));
        let mut b = Table::new("t");
        b.columns.push(Column::new("size", "character varying(50)"));
        b.columns.push(Column::new("new_name", "text"));
        let m = generate(&one(a), &one(b), Dialect::Postgres).unwrap();
        assert!(
            m.upgrade.contains(
                "-- NOTE: column t.old_name is dropped and t.new_name added with the same type (text)"
            ),
            "{}",
            m.upgrade
        );
        assert!(
            m.upgrade
                .contains("`ALTER TABLE t RENAME COLUMN old_name TO new_name;`")
        );
        assert!(m.upgrade.contains(
            "-- WARNING: narrows t.size from character varying(200) to character varying(50)"
        ));
        assert!(m.upgrade.contains(
            "-- WARNING: drops column t.old_name and its data.\nALTER TABLE t DROP COLUMN old_name;"
        ));
        assert!(m.upgrade.contains(
            "ALTER TABLE t ALTER COLUMN size TYPE character varying(50) USING size::character varying(50);"
        ));
        // The downgrade widens back without a warning about the type.
        assert!(!m.downgrade.contains("narrows"), "{}", m.downgrade);
        assert!(m.downgrade.contains("-- WARNING: drops column t.new_name"));
    }

    #[test]
    fn sqlite_rebuild_of_a_referenced_table_turns_foreign_keys_off() {
        let mut p = Table::new("p");
        p.columns.push(Column::new("id", "INTEGER"));
        p.columns.push(Column::new("name", "TEXT"));
        p.primary_key = Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()],
        });
        let mut c = Table::new("c");
        c.columns.push(Column::new("p_id", "INTEGER"));
        c.foreign_keys.push(ForeignKey {
            name: None,
            columns: vec!["p_id".into()],
            ref_table: "p".into(),
            ref_columns: vec!["id".into()],
            on_delete: Action::Cascade,
            on_update: Action::NoAction,
        });
        let a = Schema {
            tables: vec![p.clone(), c.clone()],
            enums: vec![],
        };
        p.columns[1].nullable = false;
        p.columns[1].default = Some("'x'".into());
        let b = Schema {
            tables: vec![p, c],
            enums: vec![],
        };
        let m = generate(&a, &b, Dialect::Sqlite).unwrap();
        assert!(!m.transactional);
        for sql in [&m.upgrade, &m.downgrade] {
            assert!(
                sql.contains("PRAGMA foreign_keys = OFF;\nBEGIN;\n"),
                "{sql}"
            );
            assert!(
                sql.ends_with("COMMIT;\nPRAGMA foreign_keys = ON;\n"),
                "{sql}"
            );
            assert!(sql.contains(
                "INSERT INTO _revchain_new_p (id, name) SELECT id, name FROM p;\nDROP TABLE p;\nALTER TABLE _revchain_new_p RENAME TO p;"
            ), "{sql}");
        }
        assert!(m.upgrade.contains("    name TEXT NOT NULL DEFAULT 'x'"));
        assert_eq!(
            m.changes,
            ["changed column p.name: NULL -> NOT NULL, default none -> 'x'"]
        );
    }

    #[test]
    fn enum_replacement_converts_columns() {
        let mut t = Table::new("t");
        t.columns
            .push(Column::new("s", "status").default_to("'a'::status"));
        let e = |v: &[&str]| EnumType {
            name: "status".into(),
            values: v.iter().map(|s| s.to_string()).collect(),
        };
        let a = Schema {
            tables: vec![t.clone()],
            enums: vec![e(&["a", "b"])],
        };
        let b = Schema {
            tables: vec![t],
            enums: vec![e(&["a", "b", "c"])],
        };
        let m = generate(&a, &b, Dialect::Postgres).unwrap();
        assert_eq!(
            m.upgrade,
            "-- NOTE: only appends labels; `ALTER TYPE status ADD VALUE …` would avoid rewriting the columns that use the type.\nALTER TYPE status RENAME TO status__revchain_old;\nCREATE TYPE status AS ENUM ('a', 'b', 'c');\nALTER TABLE t ALTER COLUMN s DROP DEFAULT;\nALTER TABLE t ALTER COLUMN s TYPE status USING s::text::status;\nALTER TABLE t ALTER COLUMN s SET DEFAULT 'a'::status;\nDROP TYPE status__revchain_old;\n"
        );
        assert!(
            m.downgrade
                .contains("-- WARNING: removes 'c' from enum type status")
        );
    }

    #[test]
    fn bare_defaults() {
        for (e, d, bare) in [
            ("'x'", Dialect::MySql, true),
            ("-1", Dialect::MySql, true),
            ("current_timestamp()", Dialect::MySql, true),
            ("current_timestamp(6)", Dialect::MySql, true),
            ("1 + 2", Dialect::MySql, false),
            ("(1 + 2)", Dialect::Sqlite, true),
            ("CURRENT_TIMESTAMP", Dialect::Sqlite, true),
            ("lower('x')", Dialect::Sqlite, false),
            ("NULL", Dialect::Sqlite, true),
        ] {
            assert_eq!(bare_default(e, d), bare, "{e}");
        }
    }
}
