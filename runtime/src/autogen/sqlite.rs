//! Reading a SQLite schema from `sqlite_schema` and the table pragmas; checks,
//! `AUTOINCREMENT` and index expressions come from the stored `CREATE` statements.

use revchain_core::Dialect;
use revchain_schema::sqlite::{parse_create_index, parse_create_table};
use revchain_schema::{
    Action, Column, ForeignKey, Index, PrimaryKey, Schema, Table, Unique, quote_ident,
};
use sqlx::{Row, SqlitePool};

/// Reads the main database.
pub(crate) async fn introspect(pool: &SqlitePool) -> Result<Schema, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let mut tables = Vec::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        let sql: Option<String> = row.try_get(1)?;
        tables.push(table(pool, &name, sql.as_deref().unwrap_or("")).await?);
    }
    resolve_implicit_references(&mut tables);
    Ok(Schema {
        tables,
        enums: Vec::new(),
    })
}

/// One table, from its stored `CREATE TABLE` statement and its pragmas.
async fn table(pool: &SqlitePool, name: &str, sql: &str) -> Result<Table, sqlx::Error> {
    let parsed = parse_create_table(sql);
    let mut t = Table::new(name);
    t.checks = parsed.checks;
    t.options = parsed.options;
    columns(pool, &mut t, &parsed.autoincrement).await?;
    indexes(pool, &mut t).await?;
    t.foreign_keys = foreign_keys(pool, name).await?;
    Ok(t)
}

/// The columns and the primary key of `t` (`pragma_table_info`).
async fn columns(
    pool: &SqlitePool,
    t: &mut Table,
    autoincrement: &[String],
) -> Result<(), sqlx::Error> {
    let mut pk: Vec<(i64, String)> = Vec::new();
    for c in sqlx::query(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
    )
    .bind(&t.name)
    .fetch_all(pool)
    .await?
    {
        let col: String = c.try_get(0)?;
        let position: i64 = c.try_get(4)?;
        if position > 0 {
            pk.push((position, col.clone()));
        }
        let not_null: i64 = c.try_get(2)?;
        t.columns.push(Column {
            auto_increment: autoincrement.iter().any(|a| a.eq_ignore_ascii_case(&col)),
            name: col,
            data_type: c.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
            nullable: not_null == 0,
            default: c.try_get(3)?,
        });
    }
    pk.sort();
    if !pk.is_empty() {
        t.primary_key = Some(PrimaryKey {
            name: None,
            columns: pk.into_iter().map(|(_, c)| c).collect(),
        });
    }
    Ok(())
}

/// The unique constraints and indexes of `t` (`pragma_index_list`; the primary key's own
/// index is left out).
async fn indexes(pool: &SqlitePool, t: &mut Table) -> Result<(), sqlx::Error> {
    for ix in sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list(?)")
        .bind(&t.name)
        .fetch_all(pool)
        .await?
    {
        let index: String = ix.try_get(0)?;
        let unique: i64 = ix.try_get(1)?;
        let origin: String = ix.try_get(2)?;
        match origin.as_str() {
            "pk" => {}
            "u" => t.uniques.push(Unique {
                name: None,
                columns: index_columns(pool, &index).await?,
            }),
            _ => t.indexes.push(self::index(pool, index, unique != 0).await?),
        }
    }
    Ok(())
}

/// The columns an index covers, in order (`pragma_index_info`; an expression has none).
async fn index_columns(pool: &SqlitePool, index: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
        .bind(index)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            r.try_get::<Option<String>, _>(0)
                .map(Option::unwrap_or_default)
        })
        .collect()
}

/// An index made by `CREATE INDEX`: its parts and predicate from the stored statement, or
/// its columns when the statement cannot be read.
async fn index(pool: &SqlitePool, name: String, unique: bool) -> Result<Index, sqlx::Error> {
    let sql: Option<String> =
        sqlx::query("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?")
            .bind(&name)
            .fetch_optional(pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .flatten();
    let (parts, predicate) = match sql.as_deref().and_then(parse_create_index) {
        Some(p) => (p.parts, p.predicate),
        None => {
            let columns = index_columns(pool, &name).await?;
            let parts = columns
                .iter()
                .map(|c| quote_ident(c, Dialect::Sqlite))
                .collect();
            (parts, None)
        }
    };
    Ok(Index {
        name,
        parts,
        unique,
        predicate,
        method: None,
    })
}

/// The foreign keys of `table` (`pragma_foreign_key_list`), one per id.
async fn foreign_keys(pool: &SqlitePool, table: &str) -> Result<Vec<ForeignKey>, sqlx::Error> {
    let mut fks: Vec<(i64, ForeignKey)> = Vec::new();
    for f in sqlx::query(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
         FROM pragma_foreign_key_list(?) ORDER BY id, seq",
    )
    .bind(table)
    .fetch_all(pool)
    .await?
    {
        let id: i64 = f.try_get(0)?;
        let ref_table: String = f.try_get(1)?;
        let from: String = f.try_get(2)?;
        let to: Option<String> = f.try_get(3)?;
        let on_update: String = f.try_get(4)?;
        let on_delete: String = f.try_get(5)?;
        let k = match fks.iter().position(|(i, _)| *i == id) {
            Some(k) => k,
            None => {
                fks.push((
                    id,
                    ForeignKey {
                        name: None,
                        ref_table,
                        on_update: Action::parse(&on_update),
                        on_delete: Action::parse(&on_delete),
                        ..ForeignKey::default()
                    },
                ));
                fks.len() - 1
            }
        };
        fks[k].1.columns.push(from);
        // An empty `to` means the referenced table's primary key (resolved afterwards).
        fks[k].1.ref_columns.push(to.unwrap_or_default());
    }
    Ok(fks.into_iter().map(|(_, f)| f).collect())
}

/// Foreign keys written `REFERENCES parent` name the parent's primary key.
fn resolve_implicit_references(tables: &mut [Table]) {
    let keys: Vec<(String, Vec<String>)> = tables
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.primary_key
                    .as_ref()
                    .map(|p| p.columns.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    for t in tables {
        for f in &mut t.foreign_keys {
            if f.ref_columns.iter().all(String::is_empty)
                && let Some((_, pk)) = keys
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&f.ref_table))
                && pk.len() == f.columns.len()
            {
                f.ref_columns = pk.clone();
            }
        }
    }
}
