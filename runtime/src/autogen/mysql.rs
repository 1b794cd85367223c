//! Reading a MySQL or MariaDB schema (the connection's database) from
//! `information_schema`.

use std::collections::BTreeMap;

use revchain_core::Dialect;
use revchain_core::lex::quote_literal;
use revchain_schema::{
    Action, Check, Column, ForeignKey, Index, PrimaryKey, Schema, Table, Unique, quote_ident,
};
use sqlx::{MySqlPool, Row};

const TABLES: &str = "\
SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1";

const COLUMNS: &str = "\
SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), \
  CAST(IS_NULLABLE AS CHAR), CAST(COLUMN_DEFAULT AS CHAR), CAST(EXTRA AS CHAR), \
  CAST(GENERATION_EXPRESSION AS CHAR) \
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
ORDER BY TABLE_NAME, ORDINAL_POSITION";

const STATISTICS: &str = "\
SELECT CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS CHAR), \
  CAST(COLUMN_NAME AS CHAR), CAST(SUB_PART AS CHAR), CAST(COLLATION AS CHAR), \
  CAST(INDEX_TYPE AS CHAR) \
FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

const FOREIGN_KEYS: &str = "\
SELECT CAST(k.TABLE_NAME AS CHAR), CAST(k.CONSTRAINT_NAME AS CHAR), CAST(k.COLUMN_NAME AS CHAR), \
  CAST(k.REFERENCED_TABLE_NAME AS CHAR), CAST(k.REFERENCED_COLUMN_NAME AS CHAR), \
  CAST(r.UPDATE_RULE AS CHAR), CAST(r.DELETE_RULE AS CHAR) \
FROM information_schema.KEY_COLUMN_USAGE k \
JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
  AND r.TABLE_NAME = k.TABLE_NAME \
WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

const CHECKS_MARIADB: &str = "\
SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(CHECK_CLAUSE AS CHAR) \
FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY 1, 2";

const CHECKS_MYSQL: &str = "\
SELECT CAST(tc.TABLE_NAME AS CHAR), CAST(cc.CONSTRAINT_NAME AS CHAR), \
  CAST(cc.CHECK_CLAUSE AS CHAR) \
FROM information_schema.TABLE_CONSTRAINTS tc \
JOIN information_schema.CHECK_CONSTRAINTS cc \
  ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK' ORDER BY 1, 2";

/// Whether a MySQL column type takes its default unquoted.
fn numeric_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    [
        "int",
        "tinyint",
        "smallint",
        "mediumint",
        "bigint",
        "decimal",
        "numeric",
        "float",
        "double",
        "real",
        "bit",
        "bool",
        "year",
    ]
    .iter()
    .any(|n| t.starts_with(n))
}

/// The default as an SQL expression. MariaDB reports one already (`'x'`, `NULL`,
/// `current_timestamp()`); MySQL reports literals bare and marks expressions.
fn default_expr(
    raw: Option<String>,
    extra: &str,
    data_type: &str,
    mariadb: bool,
) -> Option<String> {
    let raw = raw?;
    if mariadb {
        return (raw != "NULL").then_some(raw);
    }
    if extra.to_ascii_uppercase().contains("DEFAULT_GENERATED") {
        return Some(
            if raw.to_ascii_uppercase().starts_with("CURRENT_TIMESTAMP") {
                raw
            } else {
                format!("({raw})")
            },
        );
    }
    Some(if numeric_type(data_type) {
        raw
    } else {
        quote_literal(Dialect::MySql, &raw)
    })
}

fn action(rule: Option<String>) -> Action {
    match Action::parse(rule.as_deref().unwrap_or("")) {
        // InnoDB makes no difference between the two; MariaDB reports RESTRICT by default.
        Action::Restrict => Action::NoAction,
        a => a,
    }
}

/// One index as STATISTICS lists it, row by row.
#[derive(Default)]
struct RawIndex {
    unique: bool,
    kind: String,
    plain: bool,
    columns: Vec<String>,
    parts: Vec<String>,
}

/// The tables being read, by name.
type Tables = BTreeMap<String, Table>;

/// Reads the connection's database.
pub(crate) async fn introspect(pool: &MySqlPool) -> Result<Schema, sqlx::Error> {
    let version: String = sqlx::query("SELECT CAST(VERSION() AS CHAR)")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let mut tables = Tables::new();
    for row in sqlx::query(TABLES).fetch_all(pool).await? {
        let name: String = row.try_get(0)?;
        tables.insert(name.clone(), Table::new(&name));
    }
    columns(pool, &mut tables, mariadb).await?;
    indexes(pool, &mut tables).await?;
    foreign_keys(pool, &mut tables).await?;
    checks(pool, &mut tables, mariadb).await?;
    Ok(Schema {
        tables: tables.into_values().collect(),
        enums: Vec::new(),
    })
}

/// The columns of every table (`information_schema.COLUMNS`).
async fn columns(pool: &MySqlPool, tables: &mut Tables, mariadb: bool) -> Result<(), sqlx::Error> {
    for row in sqlx::query(COLUMNS).fetch_all(pool).await? {
        let table: String = row.try_get(0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let name: String = row.try_get(1)?;
        let mut data_type: String = row.try_get(2)?;
        let nullable: String = row.try_get(3)?;
        let raw_default: Option<String> = row.try_get(4)?;
        let extra: Option<String> = row.try_get(5)?;
        let extra = extra.unwrap_or_default();
        let generation: Option<String> = row.try_get(6)?;
        let upper = extra.to_ascii_uppercase();
        let mut default = default_expr(raw_default, &extra, &data_type, mariadb);
        if upper.contains("GENERATED") && !upper.contains("DEFAULT_GENERATED") {
            let kind = if upper.contains("STORED") || upper.contains("PERSISTENT") {
                "STORED"
            } else {
                "VIRTUAL"
            };
            data_type = format!(
                "{data_type} GENERATED ALWAYS AS ({}) {kind}",
                generation.unwrap_or_default()
            );
            default = None;
        }
        t.columns.push(Column {
            name,
            data_type,
            nullable: nullable.eq_ignore_ascii_case("YES"),
            default,
            auto_increment: upper.contains("AUTO_INCREMENT"),
        });
    }
    Ok(())
}

/// The primary keys, unique constraints and indexes of every table
/// (`information_schema.STATISTICS`).
async fn indexes(pool: &MySqlPool, tables: &mut Tables) -> Result<(), sqlx::Error> {
    for ((table, name), ix) in raw_indexes(pool).await? {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        if name == "PRIMARY" {
            t.primary_key = Some(PrimaryKey {
                name: Some(name),
                columns: ix.columns,
            });
        } else if ix.unique && ix.plain && ix.kind == "btree" {
            t.uniques.push(Unique {
                name: Some(name),
                columns: ix.columns,
            });
        } else {
            t.indexes.push(Index {
                name,
                parts: ix.parts,
                unique: ix.unique,
                predicate: None,
                method: (ix.kind != "btree" && !ix.kind.is_empty()).then_some(ix.kind),
            });
        }
    }
    Ok(())
}

/// Every index, by table and name, from its `STATISTICS` rows.
async fn raw_indexes(
    pool: &MySqlPool,
) -> Result<BTreeMap<(String, String), RawIndex>, sqlx::Error> {
    let mut raw: BTreeMap<(String, String), RawIndex> = BTreeMap::new();
    for row in sqlx::query(STATISTICS).fetch_all(pool).await? {
        let table: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let non_unique: Option<String> = row.try_get(2)?;
        let column: Option<String> = row.try_get(3)?;
        let sub_part: Option<String> = row.try_get(4)?;
        let collation: Option<String> = row.try_get(5)?;
        let kind: Option<String> = row.try_get(6)?;
        let entry = raw.entry((table, name)).or_insert_with(|| RawIndex {
            unique: non_unique.as_deref() == Some("0"),
            kind: kind.unwrap_or_default().to_ascii_lowercase(),
            plain: true,
            ..RawIndex::default()
        });
        // A functional key part (MySQL 8) has no column name.
        let column = column.unwrap_or_else(|| "(?)".to_owned());
        let mut part = quote_ident(&column, Dialect::MySql);
        if let Some(n) = sub_part {
            part.push_str(&format!("({n})"));
            entry.plain = false;
        }
        if collation.as_deref() == Some("D") {
            part.push_str(" DESC");
            entry.plain = false;
        }
        entry.columns.push(column);
        entry.parts.push(part);
    }
    Ok(raw)
}

/// The foreign keys of every table (`KEY_COLUMN_USAGE` and `REFERENTIAL_CONSTRAINTS`).
async fn foreign_keys(pool: &MySqlPool, tables: &mut Tables) -> Result<(), sqlx::Error> {
    let mut fks: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for row in sqlx::query(FOREIGN_KEYS).fetch_all(pool).await? {
        let table: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let column: String = row.try_get(2)?;
        let ref_table: String = row.try_get(3)?;
        let ref_column: String = row.try_get(4)?;
        let on_update: Option<String> = row.try_get(5)?;
        let on_delete: Option<String> = row.try_get(6)?;
        let fk = fks
            .entry((table, name.clone()))
            .or_insert_with(|| ForeignKey {
                name: Some(name),
                ref_table,
                on_update: action(on_update),
                on_delete: action(on_delete),
                ..ForeignKey::default()
            });
        fk.columns.push(column);
        fk.ref_columns.push(ref_column);
    }
    for ((table, _), fk) in fks {
        if let Some(t) = tables.get_mut(&table) {
            t.foreign_keys.push(fk);
        }
    }
    Ok(())
}

/// The check constraints of every table (their catalog differs between MySQL and MariaDB).
async fn checks(pool: &MySqlPool, tables: &mut Tables, mariadb: bool) -> Result<(), sqlx::Error> {
    let checks = if mariadb {
        CHECKS_MARIADB
    } else {
        CHECKS_MYSQL
    };
    for row in sqlx::query(checks).fetch_all(pool).await? {
        let table: String = row.try_get(0)?;
        if let Some(t) = tables.get_mut(&table) {
            t.checks.push(Check {
                name: row.try_get(1)?,
                expression: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
            });
        }
    }
    Ok(())
}
