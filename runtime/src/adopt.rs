//! Taking over a database that another tool migrated (`docs/adopting.md`): reading the
//! tool's history table. Which rows count, their checksums and the order rule are core's
//! (`revchain_core::import::adopt`); the migrator stamps what they say
//! ([`Migrator::adopt`](crate::Migrator::adopt), [`Migrator::take_over`](crate::Migrator::take_over)).

use revchain_core::Dialect;
use revchain_core::import::Tool;
use revchain_core::import::adopt::{self, Cell, HistoryRow};
use revchain_core::lex::quote_identifier;

use crate::backend::{Backend, BookkeepingRow as _};
use crate::error::Error;

/// The query that reads `tool`'s history table in `dialect`: the columns of
/// [`adopt::columns`], each as text, in the order the tool applied them.
fn select(tool: Tool, dialect: Dialect) -> String {
    let (columns, order) = adopt::columns(tool);
    let table = quote_identifier(dialect, tool.history_table());
    // Qualified, so that SQLite cannot read a missing column's quoted name as a string.
    let q = |c: &str| format!("{table}.{}", quote_identifier(dialect, c));
    let cells: Vec<String> = columns
        .iter()
        .map(|&(name, cell)| match (cell, dialect) {
            (Cell::Text, Dialect::MySql) => format!("CAST({} AS CHAR)", q(name)),
            (Cell::Text, _) => format!("CAST({} AS TEXT)", q(name)),
            (Cell::Flag, _) => format!("CASE WHEN {} THEN '1' ELSE '0' END", q(name)),
            (Cell::Bytes, Dialect::Postgres) => format!("encode({}, 'hex')", q(name)),
            (Cell::Bytes, _) => format!("hex({})", q(name)),
            _ => format!("CAST({} AS TEXT)", q(name)),
        })
        .collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        cells.join(", "),
        table,
        q(order)
    )
}

/// The rows of `tool`'s history table, or `None` when it does not exist. dbmate and
/// golang-migrate share a table name: a table with the other one's columns is refused.
pub(crate) async fn read_rows<DB: Backend>(
    conn: &mut DB::Connection,
    tool: Tool,
) -> Result<Option<Vec<HistoryRow>>, Error> {
    let fail = |e: &sqlx::Error| Error::db(format!("reading {tool}'s table"), e);
    let other = match tool {
        Tool::Dbmate => Some(Tool::GolangMigrate),
        Tool::GolangMigrate => Some(Tool::Dbmate),
        _ => None,
    };
    let fetched = match DB::fetch_all(conn, select(tool, DB::DIALECT)).await {
        Ok(rows) => rows,
        Err(e) if DB::is_missing_table(&e) => return Ok(None),
        Err(e) => {
            if let Some(other) = other
                && DB::fetch_all(conn, select(other, DB::DIALECT))
                    .await
                    .is_ok()
            {
                return Err(wrong_layout(tool, other));
            }
            return Err(fail(&e));
        }
    };
    if tool == Tool::Dbmate
        && DB::fetch_all(conn, select(Tool::GolangMigrate, DB::DIALECT))
            .await
            .is_ok()
    {
        return Err(wrong_layout(tool, Tool::GolangMigrate));
    }
    let width = adopt::columns(tool).0.len();
    let mut rows = Vec::with_capacity(fetched.len());
    let mut problems = Vec::new();
    for row in &fetched {
        let cells: Vec<Option<String>> = (0..width)
            .map(|i| row.text(i).map_err(|e| fail(&e)))
            .collect::<Result<_, _>>()?;
        match adopt::decode_row(tool, &cells) {
            Ok(row) => rows.push(row),
            Err(finding) => problems.push(finding.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Error::AdoptRefused { tool, problems });
    }
    Ok(Some(rows))
}

fn wrong_layout(tool: Tool, other: Tool) -> Error {
    Error::AdoptRefused {
        tool,
        problems: vec![format!(
            "table {} has {other}'s columns, not {tool}'s: adopt it with `--from {other}`",
            tool.history_table()
        )],
    }
}
