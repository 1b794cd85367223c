//! The PostgreSQL rules: statements that lock or rewrite an existing table for longer than a
//! moment, and the facts the revision-wide rules need (ACCESS EXCLUSIVE locks, DDL on
//! existing tables, bulk data changes).

use std::ops::Range;

use super::stmt::Stmt;
use super::{Revision, Schema, alter_table, rules};
use crate::lex::TokenKind;
use crate::parse::RevisionFile;

/// Functions whose value changes per row, so that a column added with them as DEFAULT is
/// written into every row (a table rewrite). `now()` and `CURRENT_TIMESTAMP` are stable,
/// not volatile: PostgreSQL 11+ evaluates them once and stores the value, without a rewrite.
const VOLATILE: [&str; 8] = [
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "uuidv7",
];

/// Column types that add a sequence default (`nextval`), so a table rewrite.
const SERIAL: [&str; 6] = [
    "serial",
    "bigserial",
    "smallserial",
    "serial4",
    "serial8",
    "serial2",
];

/// Reads one statement.
pub(crate) fn check(s: &Stmt<'_>, file: &RevisionFile, schema: &mut Schema, rev: &mut Revision) {
    if s.is(0, "CREATE") {
        create(s, file, schema, rev);
    } else if let Some((table, first)) = alter_table(s) {
        alter(s, &table, first, schema, rev);
    } else {
        other(s, file, rev);
    }
}

/// `CREATE TABLE` (remembered, with its column types), `CREATE INDEX`, `CREATE TRIGGER`.
fn create(s: &Stmt<'_>, file: &RevisionFile, schema: &mut Schema, rev: &mut Revision) {
    let i = s.skip(
        1,
        &[
            &["OR", "REPLACE"],
            &["GLOBAL"],
            &["LOCAL"],
            &["TEMPORARY"],
            &["TEMP"],
            &["UNLOGGED"],
        ],
    );
    if s.is(i, "TABLE") {
        let name = s.name(s.skip(i + 1, &[&["IF", "NOT", "EXISTS"]]));
        if let Some((table, next)) = name {
            column_types(s, &table, next, schema);
            rev.created.insert(table);
        }
        return;
    }
    let i = s.skip(1, &[&["UNIQUE"]]);
    if s.is(i, "INDEX") {
        create_index(s, i + 1, file, rev);
    } else if s.is(i, "TRIGGER") || s.starts(&["CREATE", "CONSTRAINT", "TRIGGER"]) {
        let on = s.find_top(i, "ON").and_then(|on| s.name(on + 1));
        if on.is_some_and(|(t, _)| !rev.created.contains(&t)) {
            rev.ddl.get_or_insert(s.range());
        }
    }
}

/// `CREATE [UNIQUE] INDEX [CONCURRENTLY] … ON [ONLY] table …`; `i` is after `INDEX`.
fn create_index(s: &Stmt<'_>, i: usize, file: &RevisionFile, rev: &mut Revision) {
    let concurrently = s.is(i, "CONCURRENTLY");
    if concurrently && file.transactional {
        let message = "CREATE INDEX CONCURRENTLY in a transactional revision".to_owned();
        rev.hit(&rules::CONCURRENT_IN_TRANSACTION, s, i, message);
    }
    let Some(on) = s.find_top(i, "ON") else {
        return;
    };
    let Some((table, _)) = s.name(s.skip(on + 1, &[&["ONLY"]])) else {
        return;
    };
    if rev.created.contains(&table) || concurrently {
        return;
    }
    rev.ddl.get_or_insert(s.range());
    let message = format!("CREATE INDEX on the existing table {table} without CONCURRENTLY");
    rev.hit(&rules::INDEX_NOT_CONCURRENT, s, 0, message);
}

/// Remembers the declared types of the columns of `CREATE TABLE table ( … )`.
fn column_types(s: &Stmt<'_>, table: &str, open: usize, schema: &mut Schema) {
    if !s.toks.get(open).is_some_and(|t| t.is_punct("(")) {
        return;
    }
    let Some(close) = s.closing(open) else {
        return;
    };
    for part in s.parts_until(open + 1, close) {
        const NOT_COLUMNS: [&str; 7] = [
            "CONSTRAINT",
            "PRIMARY",
            "UNIQUE",
            "CHECK",
            "FOREIGN",
            "EXCLUDE",
            "LIKE",
        ];
        if NOT_COLUMNS.iter().any(|w| s.is(part.start, w)) {
            continue;
        }
        if let Some((column, ty)) = column_definition(s, part) {
            schema.types.insert((table.to_owned(), column), ty);
        }
    }
}

/// The column name and normalised type of a column definition.
fn column_definition(s: &Stmt<'_>, part: Range<usize>) -> Option<(String, String)> {
    let (column, next) = s.name(part.start)?;
    let end = (next..part.end)
        .find(|&k| CONSTRAINT_WORDS.iter().any(|w| s.is(k, w)))
        .unwrap_or(part.end);
    Some((column, normalise_type(s.text(next..end))))
}

/// Words that end a column's type in a column definition.
const CONSTRAINT_WORDS: [&str; 12] = [
    "NOT",
    "NULL",
    "DEFAULT",
    "PRIMARY",
    "REFERENCES",
    "CHECK",
    "UNIQUE",
    "CONSTRAINT",
    "COLLATE",
    "GENERATED",
    "USING",
    "IDENTITY",
];

/// A type as written, lower-cased, without spaces, `character varying` as `varchar`.
fn normalise_type(text: &str) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let t = t.to_ascii_lowercase();
    let t = t.replace("character varying", "varchar");
    t.replace(' ', "")
}

/// The actions of `ALTER TABLE table …`, from token `first`.
fn alter(s: &Stmt<'_>, table: &str, first: usize, schema: &mut Schema, rev: &mut Revision) {
    let existing = !rev.created.contains(table);
    let mut exclusive = false;
    for part in s.parts(first) {
        exclusive |= action(s, table, part, existing, schema, rev);
    }
    if existing {
        rev.ddl.get_or_insert(s.range());
        if exclusive {
            rev.exclusive.get_or_insert(s.range());
        }
    }
}

/// One action of `ALTER TABLE`; whether it takes an ACCESS EXCLUSIVE lock.
fn action(
    s: &Stmt<'_>,
    table: &str,
    part: Range<usize>,
    existing: bool,
    schema: &mut Schema,
    rev: &mut Revision,
) -> bool {
    let k = part.start;
    if s.is(k, "ADD") {
        let c = s.skip(k + 1, &[&["COLUMN"], &["IF", "NOT", "EXISTS"]]);
        if constraint_start(s, c) {
            return add_constraint(s, table, c..part.end, existing, schema, rev);
        }
        add_column(s, table, c..part.end, existing, schema, rev);
        return true;
    }
    if s.starts_at(k, &["VALIDATE", "CONSTRAINT"]) {
        if let Some((name, _)) = s.name(k + 2)
            && let Some(column) = schema.pending_checks.remove(&name)
        {
            schema.not_null_checked.insert(column);
        }
        return false;
    }
    if s.is(k, "ALTER") {
        let c = s.skip(k + 1, &[&["COLUMN"]]);
        if let Some((column, next)) = s.name(c)
            && existing
        {
            alter_column(s, table, &column, next..part.end, schema, rev);
        }
        return !s.has(part, "STATISTICS");
    }
    const WEAKER: [&str; 3] = ["ENABLE", "DISABLE", "CLUSTER"];
    !WEAKER.iter().any(|w| s.is(k, w))
}

/// Whether the tokens at `c` start a table constraint.
fn constraint_start(s: &Stmt<'_>, c: usize) -> bool {
    [
        "CONSTRAINT",
        "PRIMARY",
        "UNIQUE",
        "CHECK",
        "FOREIGN",
        "EXCLUDE",
    ]
    .iter()
    .any(|w| s.is(c, w))
}

/// `ADD [CONSTRAINT name] FOREIGN KEY | CHECK | PRIMARY KEY | UNIQUE …`; whether it takes an
/// ACCESS EXCLUSIVE lock (a foreign key takes a weaker one).
fn add_constraint(
    s: &Stmt<'_>,
    table: &str,
    part: Range<usize>,
    existing: bool,
    schema: &mut Schema,
    rev: &mut Revision,
) -> bool {
    let name = s
        .is(part.start, "CONSTRAINT")
        .then(|| s.name(part.start + 1))
        .flatten();
    let body = name.as_ref().map_or(part.start, |(_, next)| *next);
    let not_valid = (part.start..part.end).any(|k| s.starts_at(k, &["NOT", "VALID"]));
    let shown = s.text(part.clone());
    if s.is(body, "FOREIGN") || s.is(body, "CHECK") {
        if s.is(body, "CHECK") {
            remember_not_null_check(s, table, body, name.map(|(n, _)| n), not_valid, schema);
        }
        if existing && !not_valid {
            let message = format!("adds a constraint to {table} without NOT VALID: {shown}");
            rev.hit(&rules::CONSTRAINT_NOT_VALID, s, part.start, message);
        }
        return s.is(body, "CHECK");
    }
    let keyed = s.is(body, "PRIMARY") || s.is(body, "UNIQUE");
    if keyed && existing && !(part.start..part.end).any(|k| s.starts_at(k, &["USING", "INDEX"])) {
        let message = format!("adds a key to {table} without USING INDEX: {shown}");
        rev.hit(&rules::UNIQUE_WITHOUT_INDEX, s, part.start, message);
    }
    true
}

/// A `CHECK (column IS NOT NULL)`: proves the column non-null once validated.
fn remember_not_null_check(
    s: &Stmt<'_>,
    table: &str,
    check: usize,
    name: Option<String>,
    not_valid: bool,
    schema: &mut Schema,
) {
    let proven = s.toks.get(check + 1).is_some_and(|t| t.is_punct("("))
        && s.starts_at(check + 3, &["IS", "NOT", "NULL"])
        && s.toks.get(check + 6).is_some_and(|t| t.is_punct(")"));
    let Some((column, _)) = proven.then(|| s.name(check + 2)).flatten() else {
        return;
    };
    let key = (table.to_owned(), column);
    match (not_valid, name) {
        (false, _) => {
            schema.not_null_checked.insert(key);
        }
        (true, Some(name)) => {
            schema.pending_checks.insert(name, key);
        }
        (true, None) => {}
    }
}

/// `ADD [COLUMN] name type [DEFAULT expr] …`: a volatile default rewrites the table.
fn add_column(
    s: &Stmt<'_>,
    table: &str,
    part: Range<usize>,
    existing: bool,
    schema: &mut Schema,
    rev: &mut Revision,
) {
    let Some((column, ty)) = column_definition(s, part.clone()) else {
        return;
    };
    let serial = SERIAL.contains(&ty.as_str());
    schema.types.insert((table.to_owned(), column.clone()), ty);
    if !existing {
        return;
    }
    let volatile = (part.start..part.end).find(|&k| {
        let t = &s.toks[k];
        t.kind == TokenKind::Word
            && VOLATILE.iter().any(|f| t.text.eq_ignore_ascii_case(f))
            && s.toks.get(k + 1).is_some_and(|n| n.is_punct("("))
    });
    if s.has(part.clone(), "UNIQUE") || s.has(part.clone(), "PRIMARY") {
        let message = format!(
            "adds column {column} to {table} with an inline key, whose index builds under the lock"
        );
        rev.hit(&rules::UNIQUE_WITHOUT_INDEX, s, part.start, message);
    }
    if let Some(k) = (part.start..part.end).find(|&k| s.is(k, "REFERENCES")) {
        let message = format!(
            "adds column {column} to {table} with REFERENCES, which validates the foreign key \
             at once"
        );
        rev.hit(&rules::CONSTRAINT_NOT_VALID, s, k, message);
    }
    let identity = s.has(part.clone(), "IDENTITY");
    if volatile.is_some() || serial || identity {
        let at = volatile.unwrap_or(part.start);
        let message = format!(
            "adds column {column} to the existing table {table} with a volatile default: {}",
            s.text(part)
        );
        rev.hit(&rules::VOLATILE_DEFAULT, s, at, message);
    }
}

/// `ALTER [COLUMN] column TYPE …` and `… SET NOT NULL` on an existing table; `rest` is after
/// the column name.
fn alter_column(
    s: &Stmt<'_>,
    table: &str,
    column: &str,
    rest: Range<usize>,
    schema: &mut Schema,
    rev: &mut Revision,
) {
    let key = (table.to_owned(), column.to_owned());
    let k = rest.start;
    if s.starts_at(k, &["SET", "NOT", "NULL"]) {
        if !schema.not_null_checked.contains(&key) {
            let message = format!(
                "SET NOT NULL on {table}.{column}, which no validated CHECK (… IS NOT NULL) proves"
            );
            rev.hit(&rules::SET_NOT_NULL, s, k, message);
        }
        return;
    }
    let ty = s.skip(k, &[&["SET", "DATA"]]);
    if !s.is(ty, "TYPE") {
        return;
    }
    let end = (ty + 1..rest.end)
        .find(|&j| s.is(j, "USING") || s.is(j, "COLLATE"))
        .unwrap_or(rest.end);
    let new = normalise_type(s.text(ty + 1..end));
    let old = schema.types.insert(key, new.clone());
    if !binary_coercible(old.as_deref(), &new) {
        let from = old.map_or_else(|| "its type".to_owned(), |o| o.to_string());
        let message =
            format!("changes {table}.{column} from {from} to {new}, which rewrites the table");
        rev.hit(&rules::COLUMN_TYPE_REWRITE, s, k, message);
    }
}

/// Whether changing a column from `old` (when known) to `new` needs no table rewrite.
fn binary_coercible(old: Option<&str>, new: &str) -> bool {
    let unbounded = |t: &str| t == "text" || t == "varchar";
    let varchar_len =
        |t: &str| -> Option<u64> { t.strip_prefix("varchar(")?.strip_suffix(')')?.parse().ok() };
    match old {
        None => unbounded(new),
        Some(old) if old == new => true,
        Some(old) if unbounded(new) => unbounded(old) || varchar_len(old).is_some(),
        Some(old) => matches!(
            (varchar_len(old), varchar_len(new)),
            (Some(a), Some(b)) if b >= a
        ),
    }
}

/// Statements other than `CREATE` and `ALTER TABLE`: locks, and bulk data changes.
fn other(s: &Stmt<'_>, file: &RevisionFile, rev: &mut Revision) {
    if s.starts(&["DROP", "INDEX"]) && s.is(2, "CONCURRENTLY") {
        if file.transactional {
            let message = "DROP INDEX CONCURRENTLY in a transactional revision".to_owned();
            rev.hit(&rules::CONCURRENT_IN_TRANSACTION, s, 2, message);
        }
        return;
    }
    if takes_access_exclusive(s, rev) {
        rev.exclusive.get_or_insert(s.range());
        rev.ddl.get_or_insert(s.range());
        return;
    }
    if is_bulk_change(s, rev) {
        rev.data.get_or_insert(s.range());
    }
}

/// `DROP TABLE|INDEX` of an existing object, `TRUNCATE`, `LOCK TABLE` (in ACCESS EXCLUSIVE
/// mode, the default), `CLUSTER`, `VACUUM FULL`, `REINDEX`, `REFRESH MATERIALIZED VIEW`
/// without `CONCURRENTLY`.
fn takes_access_exclusive(s: &Stmt<'_>, rev: &Revision) -> bool {
    if s.starts(&["DROP", "TABLE"]) {
        let i = s.skip(2, &[&["IF", "EXISTS"]]);
        return s.name(i).is_some_and(|(t, _)| !rev.created.contains(&t));
    }
    if s.starts(&["LOCK"]) {
        let mode = s.find_top(1, "MODE").is_none() || s.find_top(1, "ACCESS").is_some();
        return mode && s.find_top(1, "SHARE").is_none();
    }
    let concurrently = s.find_top(0, "CONCURRENTLY").is_some();
    s.starts(&["DROP", "INDEX"])
        || s.starts(&["TRUNCATE"])
        || s.starts(&["CLUSTER"])
        || s.starts(&["VACUUM", "FULL"])
        || (s.starts(&["REINDEX"]) && !concurrently)
        || (s.starts(&["REFRESH", "MATERIALIZED", "VIEW"]) && !concurrently)
}

/// `UPDATE`/`DELETE` without a top-level `WHERE` on an existing table, `INSERT … SELECT`.
fn is_bulk_change(s: &Stmt<'_>, rev: &Revision) -> bool {
    let target = |i: usize| s.name(s.skip(i, &[&["ONLY"]])).map(|(t, _)| t);
    let existing = |t: Option<String>| t.is_some_and(|t| !rev.created.contains(&t));
    if s.is(0, "UPDATE") {
        return existing(target(1)) && s.find_top(1, "WHERE").is_none();
    }
    if s.starts(&["DELETE", "FROM"]) {
        return existing(target(2)) && s.find_top(2, "WHERE").is_none();
    }
    s.starts(&["INSERT", "INTO"]) && s.find_top(2, "SELECT").is_some()
}

impl Stmt<'_> {
    /// Whether the tokens from `k` are the keywords `kws`.
    pub fn starts_at(&self, k: usize, kws: &[&str]) -> bool {
        kws.iter().enumerate().all(|(j, kw)| self.is(k + j, kw))
    }
}

#[cfg(test)]
mod tests {
    use super::binary_coercible;

    #[test]
    fn widening_a_varchar_or_to_text_is_binary_coercible() {
        assert!(binary_coercible(Some("varchar(20)"), "varchar(40)"));
        assert!(binary_coercible(Some("varchar(20)"), "text"));
        assert!(binary_coercible(None, "text"));
        assert!(!binary_coercible(Some("varchar(40)"), "varchar(20)"));
        assert!(!binary_coercible(Some("integer"), "bigint"));
        assert!(!binary_coercible(Some("integer"), "text"));
        assert!(!binary_coercible(None, "bigint"));
    }
}
