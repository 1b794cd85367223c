//! The MySQL and MariaDB rules: `ALTER TABLE` that may copy the table without saying which
//! algorithm it expects, and DDL (which commits implicitly) mixed with data changes.

use super::stmt::Stmt;
use super::{Revision, alter_table, rules};

/// Reads one statement.
pub(crate) fn check(s: &Stmt<'_>, rev: &mut Revision) {
    const DDL: [&str; 5] = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"];
    const DATA: [&str; 4] = ["INSERT", "UPDATE", "DELETE", "REPLACE"];
    if DDL.iter().any(|w| s.is(0, w)) {
        rev.ddl.get_or_insert(s.range());
    } else if DATA.iter().any(|w| s.is(0, w)) {
        rev.data.get_or_insert(s.range());
    }
    if s.is(0, "CREATE") {
        create(s, rev);
    } else if let Some((table, first)) = alter_table(s)
        && !rev.created.contains(&table)
    {
        alter(s, &table, first, rev);
    }
}

/// `CREATE TABLE` (remembered) and `CREATE INDEX` on an existing table.
fn create(s: &Stmt<'_>, rev: &mut Revision) {
    let i = s.skip(1, &[&["TEMPORARY"]]);
    if s.is(i, "TABLE") {
        if let Some((table, _)) = s.name(s.skip(i + 1, &[&["IF", "NOT", "EXISTS"]])) {
            rev.created.insert(table);
        }
        return;
    }
    let i = s.skip(1, &[&["UNIQUE"], &["FULLTEXT"], &["SPATIAL"]]);
    if !s.is(i, "INDEX") {
        return;
    }
    let table = s.find_top(i, "ON").and_then(|on| s.name(on + 1));
    if let Some((table, _)) = table
        && !rev.created.contains(&table)
        && !safe_algorithm(s)
    {
        let message = format!("CREATE INDEX on the existing table {table} without ALGORITHM");
        rev.hit(&rules::MYSQL_ALGORITHM, s, 0, message);
    }
}

/// `ALTER TABLE` that adds, changes or drops a column or adds an index, without
/// `ALGORITHM=INSTANT` or `INPLACE`.
fn alter(s: &Stmt<'_>, table: &str, first: usize, rev: &mut Revision) {
    let matters = s.parts(first).into_iter().find(|p| {
        let k = p.start;
        s.is(k, "ADD") || s.is(k, "MODIFY") || s.is(k, "CHANGE") || {
            s.is(k, "DROP")
                && ["INDEX", "KEY", "PRIMARY", "FOREIGN", "CONSTRAINT", "CHECK"]
                    .iter()
                    .all(|w| !s.is(k + 1, w))
        }
    });
    if let Some(part) = matters
        && !safe_algorithm(s)
    {
        let message = format!(
            "ALTER TABLE {table} without ALGORITHM: {}",
            s.text(part.clone())
        );
        rev.hit(&rules::MYSQL_ALGORITHM, s, part.start, message);
    }
}

/// Whether the statement says `ALGORITHM [=] INSTANT` or `INPLACE`.
fn safe_algorithm(s: &Stmt<'_>) -> bool {
    let Some(k) = s.find_top(0, "ALGORITHM") else {
        return false;
    };
    let v = if s.toks.get(k + 1).is_some_and(|t| t.is_punct("=")) {
        k + 2
    } else {
        k + 1
    };
    s.is(v, "INSTANT") || s.is(v, "INPLACE")
}
