//! Reading a PostgreSQL schema (the current schema, usually `public`) from `pg_catalog`.

use std::collections::BTreeMap;

use revchain_schema::{
    Action, Check, Column, EnumType, ForeignKey, Index, PrimaryKey, Schema, Table, Unique,
};
use sqlx::{PgPool, Row};

const TABLES: &str = "\
SELECT c.relname::text FROM pg_catalog.pg_class c \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
ORDER BY 1";

const COLUMNS: &str = "\
SELECT c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
  a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, \
  a.attgenerated::text, \
  pg_catalog.pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
    a.attname::text) IS NOT NULL \
FROM pg_catalog.pg_attribute a \
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
  AND a.attnum > 0 AND NOT a.attisdropped \
ORDER BY c.relname, a.attnum";

const CONSTRAINTS: &str = "\
SELECT c.relname::text, con.conname::text, con.contype::text, \
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord) \
        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num \
        ORDER BY k.ord), \
  f.relname::text, \
  ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord) \
        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num \
        ORDER BY k.ord), \
  con.confupdtype::text, con.confdeltype::text, \
  pg_catalog.pg_get_expr(con.conbin, con.conrelid) \
FROM pg_catalog.pg_constraint con \
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_catalog.pg_class f ON f.oid = con.confrelid \
WHERE n.nspname = current_schema() AND con.contype IN ('p', 'u', 'f', 'c') \
ORDER BY c.relname, con.conname";

const INDEXES: &str = "\
SELECT t.relname::text, i.relname::text, ix.indisunique, am.amname::text, \
  pg_catalog.pg_get_expr(ix.indpred, ix.indrelid, true), \
  ARRAY(SELECT pg_catalog.pg_get_indexdef(ix.indexrelid, k + 1, true) \
          || CASE WHEN ix.indoption[k] & 1 = 1 THEN ' DESC' ELSE '' END \
        FROM generate_series(0, ix.indnkeyatts - 1) AS k ORDER BY k) \
FROM pg_catalog.pg_index ix \
JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid \
JOIN pg_catalog.pg_class t ON t.oid = ix.indrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
JOIN pg_catalog.pg_am am ON am.oid = i.relam \
WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p') \
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con \
                  WHERE con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x')) \
ORDER BY t.relname, i.relname";

const ENUMS: &str = "\
SELECT t.typname::text, \
  ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid \
        ORDER BY e.enumsortorder) \
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
WHERE n.nspname = current_schema() AND t.typtype = 'e' ORDER BY 1";

fn action(code: &str) -> Action {
    match code {
        "r" => Action::Restrict,
        "c" => Action::Cascade,
        "n" => Action::SetNull,
        "d" => Action::SetDefault,
        _ => Action::NoAction,
    }
}

/// The tables being read, by name.
type Tables = BTreeMap<String, Table>;

/// Reads the current schema's tables and enum types.
pub(crate) async fn introspect(pool: &PgPool) -> Result<Schema, sqlx::Error> {
    let mut tables = Tables::new();
    for row in sqlx::query(TABLES).fetch_all(pool).await? {
        let name: String = row.try_get(0)?;
        tables.insert(name.clone(), Table::new(&name));
    }
    columns(pool, &mut tables).await?;
    constraints(pool, &mut tables).await?;
    indexes(pool, &mut tables).await?;
    let mut enums = Vec::new();
    for row in sqlx::query(ENUMS).fetch_all(pool).await? {
        enums.push(EnumType {
            name: row.try_get(0)?,
            values: row.try_get(1)?,
        });
    }
    Ok(Schema {
        tables: tables.into_values().collect(),
        enums,
    })
}

/// The columns of every table; a serial or identity column is an auto-increment column
/// without a default, a stored generated column keeps its expression in its type.
async fn columns(pool: &PgPool, tables: &mut Tables) -> Result<(), sqlx::Error> {
    for row in sqlx::query(COLUMNS).fetch_all(pool).await? {
        let table: String = row.try_get(0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let name: String = row.try_get(1)?;
        let mut data_type: String = row.try_get(2)?;
        let not_null: bool = row.try_get(3)?;
        let mut default: Option<String> = row.try_get(4)?;
        let identity: String = row.try_get(5)?;
        let generated: String = row.try_get(6)?;
        let owns_sequence: bool = row.try_get(7)?;
        let serial = owns_sequence
            && default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("));
        let auto_increment = !identity.is_empty() || serial;
        if auto_increment {
            default = None;
        }
        if generated == "s" {
            // The expression is part of the column's definition, not a default.
            data_type = format!(
                "{data_type} GENERATED ALWAYS AS ({}) STORED",
                default.take().unwrap_or_default()
            );
        }
        t.columns.push(Column {
            name,
            data_type,
            nullable: !not_null,
            default,
            auto_increment,
        });
    }
    Ok(())
}

/// The primary keys, unique constraints, foreign keys and checks of every table.
async fn constraints(pool: &PgPool, tables: &mut Tables) -> Result<(), sqlx::Error> {
    for row in sqlx::query(CONSTRAINTS).fetch_all(pool).await? {
        let table: String = row.try_get(0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let name: String = row.try_get(1)?;
        let kind: String = row.try_get(2)?;
        let columns: Vec<String> = row.try_get(3)?;
        match kind.as_str() {
            "p" => {
                t.primary_key = Some(PrimaryKey {
                    name: Some(name),
                    columns,
                })
            }
            "u" => t.uniques.push(Unique {
                name: Some(name),
                columns,
            }),
            "f" => {
                let ref_table: Option<String> = row.try_get(4)?;
                let ref_columns: Vec<String> = row.try_get(5)?;
                let on_update: String = row.try_get(6)?;
                let on_delete: String = row.try_get(7)?;
                t.foreign_keys.push(ForeignKey {
                    name: Some(name),
                    columns,
                    ref_table: ref_table.unwrap_or_default(),
                    ref_columns,
                    on_delete: action(&on_delete),
                    on_update: action(&on_update),
                });
            }
            _ => {
                let expression: Option<String> = row.try_get(8)?;
                t.checks.push(Check {
                    name: Some(name),
                    expression: expression.unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

/// The indexes of every table that no constraint owns.
async fn indexes(pool: &PgPool, tables: &mut Tables) -> Result<(), sqlx::Error> {
    for row in sqlx::query(INDEXES).fetch_all(pool).await? {
        let table: String = row.try_get(0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let method: String = row.try_get(3)?;
        t.indexes.push(Index {
            name: row.try_get(1)?,
            unique: row.try_get(2)?,
            method: (method != "btree").then_some(method),
            predicate: row.try_get(4)?,
            parts: row.try_get(5)?,
        });
    }
    Ok(())
}
