//! The names of revchain's two tables (docs/design.md §3.1), validated so that they can be spliced
//! into SQL without injection, and the bookkeeping SQL each dialect needs.

use std::fmt;

use revchain_core::lex::quote_identifier;
use revchain_core::{Dialect, Digest};

use crate::embedded::Revision;

/// A validated table name: `name` or `schema.name`, each part 1 to 63 ASCII letters,
/// digits or `_`, not starting with a digit.
///
/// ```
/// use revchain::TableName;
/// assert!(TableName::parse("revchain_version").is_ok());
/// assert!(TableName::parse("ops.revchain_version").is_ok());
/// assert!(TableName::parse("x; DROP TABLE users").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

/// A table name that is not a plain identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid table name: use `name` or `schema.name`, each 1 to 63 ASCII letters, \
     digits or `_`, not starting with a digit"
)]
pub struct InvalidTableName(pub String);

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl TableName {
    /// The default name of the version table (one row per current head).
    pub const DEFAULT_VERSION: &'static str = "revchain_version";

    /// The default name of the log table (one row per applied revision).
    pub const DEFAULT_LOG: &'static str = "revchain_log";

    /// The default name of the repeatable revisions' table (docs/design.md §4.10).
    pub const DEFAULT_REPEATABLE: &'static str = "revchain_repeatable";

    /// The default name of the lease lock's table (one row per held lease).
    pub const DEFAULT_LOCK: &'static str = "revchain_lock";

    /// Validates `text` as a table name.
    pub fn parse(text: &str) -> Result<TableName, InvalidTableName> {
        let bad = || InvalidTableName(text.to_owned());
        let (schema, name) = match text.split_once('.') {
            Some((s, n)) => (Some(s), n),
            None => (None, text),
        };
        if !valid_part(name) || schema.is_some_and(|s| !valid_part(s)) {
            return Err(bad());
        }
        Ok(TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// The unqualified name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema, if qualified.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The name quoted for `dialect`, schema-qualified when a schema was given.
    pub fn quoted(&self, dialect: Dialect) -> String {
        let q = |s: &str| quote_identifier(dialect, s);
        match &self.schema {
            Some(schema) => format!("{}.{}", q(schema), q(&self.name)),
            None => q(&self.name),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The version and log tables of one migrator, with the SQL that maintains them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tables {
    pub version: TableName,
    pub log: TableName,
    /// The repeatable revisions' table (docs/design.md §4.10).
    pub repeatable: TableName,
    /// The lease lock's table (docs/design.md §4.2), used only under a lease.
    pub lock: TableName,
    /// The lease the run holds, when its lock is one: each PostgreSQL revision then checks
    /// and extends it in its own transaction.
    pub lease: Option<crate::backend::Lease>,
    /// The revisions' default lock and statement timeouts, and the lock retries
    /// (docs/design.md §4.12).
    pub timeouts: crate::backend::timeouts::Timeouts,
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            version: TableName {
                schema: None,
                name: TableName::DEFAULT_VERSION.into(),
            },
            log: TableName {
                schema: None,
                name: TableName::DEFAULT_LOG.into(),
            },
            repeatable: TableName {
                schema: None,
                name: TableName::DEFAULT_REPEATABLE.into(),
            },

            lock: TableName {
                schema: None,
                name: TableName::DEFAULT_LOCK.into(),
            },
            lease: None,
            timeouts: crate::backend::timeouts::Timeouts::default(),
        }
    }
}

/// The log table's columns that let an older binary revert a revision it does not know
/// (docs/design.md §3.1, §4.13), with what each holds. All are nullable: rows written
/// before them have NULL there.
/// `downgrade_sql` (the downgrade SQL as the file has it), `downgrade_checksum` (its hex
/// SHA-256), `revises` (the parent ids joined by `,`), `transactional`, `phase` (`expand`
/// or `contract`, docs/design.md §4.14: whether an older binary can still serve it).
pub(crate) const STORED_COLUMNS: [&str; 5] = [
    "downgrade_sql",
    "downgrade_checksum",
    "revises",
    "transactional",
    "phase",
];

/// The SQL type of stored column `name` in dialect `d`.
fn stored_column_type(d: Dialect, name: &str) -> &'static str {
    match (name, d) {
        ("downgrade_sql", Dialect::MySql) => "LONGTEXT",
        ("downgrade_sql", _) => "TEXT",
        ("revises", _) => "TEXT",
        ("transactional", Dialect::Sqlite) => "INTEGER",
        ("transactional", _) => "BOOLEAN",
        _ => "VARCHAR(64)",
    }
}

/// The tag of the lease check in [`Tables::mark_running`].
pub(crate) const MARK_TAG: &str = "mark";

/// A string literal for `dialect`: core's one quoting function.
pub(crate) use revchain_core::lex::quote_literal as literal;

/// A boolean literal for `dialect`.
pub(crate) fn boolean(dialect: Dialect, b: bool) -> &'static str {
    match (dialect, b) {
        (Dialect::Postgres, true) => "TRUE",
        (Dialect::Postgres, false) => "FALSE",
        (_, true) => "1",
        (_, false) => "0",
    }
}

impl Tables {
    /// `CREATE TABLE IF NOT EXISTS` for both tables.
    pub fn create(&self, d: Dialect) -> Vec<String> {
        let (ts, boolean_type) = match d {
            Dialect::Postgres | Dialect::Generic => (
                "TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP",
                "BOOLEAN",
            ),
            Dialect::MySql => (
                "TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
                "BOOLEAN",
            ),
            Dialect::Sqlite => (
                "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                "INTEGER",
            ),
        };
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n    revision VARCHAR(64) NOT NULL PRIMARY KEY,\n    chain_digest VARCHAR(64) NOT NULL\n)",
                self.version.quoted(d)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n    revision VARCHAR(64) NOT NULL PRIMARY KEY,\n    message VARCHAR(255) NOT NULL,\n    checksum VARCHAR(64) NOT NULL,\n    chain_digest VARCHAR(64) NOT NULL,\n    applied_at {ts},\n    execution_ms BIGINT NOT NULL DEFAULT 0,\n    dirty {boolean_type} NOT NULL DEFAULT {},\n    stamped {boolean_type} NOT NULL DEFAULT {},\n    {}\n)",
                self.log.quoted(d),
                boolean(d, false),
                boolean(d, false),
                STORED_COLUMNS
                    .iter()
                    .map(|name| format!("{name} {}", stored_column_type(d, name)))
                    .collect::<Vec<_>>()
                    .join(",\n    ")
            ),
        ]
    }

    /// [`create`](Self::create) without `IF NOT EXISTS`: fails when a table exists, so that
    /// a transaction that starts with it runs only on a database without revchain's tables
    /// (an adoption at boot, which several processes may attempt at once).
    pub fn create_new(&self, d: Dialect) -> Vec<String> {
        self.create(d)
            .into_iter()
            .map(|s| s.replacen("CREATE TABLE IF NOT EXISTS", "CREATE TABLE", 1))
            .collect()
    }

    /// Reads the version rows.
    pub fn select_heads(&self, d: Dialect) -> String {
        format!(
            "SELECT revision, chain_digest FROM {}",
            self.version.quoted(d)
        )
    }

    /// Reads the log rows.
    pub fn select_log(&self, d: Dialect) -> String {
        format!(
            "SELECT revision, checksum, chain_digest, dirty FROM {}",
            self.log.quoted(d)
        )
    }

    /// When each logged revision was applied (UTC, `YYYY-MM-DDTHH:MM:SSZ`) and how many
    /// milliseconds it took, both as text: `revision, applied_at, execution_ms`.
    pub fn select_log_times(&self, d: Dialect) -> String {
        let (at, ms) = match d {
            Dialect::Postgres | Dialect::Generic => (
                "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                "CAST(execution_ms AS TEXT)",
            ),
            Dialect::MySql => (
                // Epoch seconds do not depend on the session's time zone; the arithmetic is on a
                // DATETIME, which has none.
                "DATE_FORMAT(TIMESTAMP('1970-01-01 00:00:00') + INTERVAL FLOOR(UNIX_TIMESTAMP(applied_at)) SECOND, '%Y-%m-%dT%H:%i:%sZ')",
                "CAST(execution_ms AS CHAR)",
            ),
            Dialect::Sqlite => (
                "strftime('%Y-%m-%dT%H:%M:%SZ', applied_at)",
                "CAST(execution_ms AS TEXT)",
            ),
        };
        format!("SELECT revision, {at}, {ms} FROM {}", self.log.quoted(d))
    }

    /// Deletes head rows (`None` when there is nothing to delete).
    pub fn delete_heads(&self, d: Dialect, ids: &[&str]) -> Option<String> {
        if ids.is_empty() {
            return None;
        }
        let list: Vec<String> = ids.iter().map(|id| literal(d, id)).collect();
        Some(format!(
            "DELETE FROM {} WHERE revision IN ({})",
            self.version.quoted(d),
            list.join(", ")
        ))
    }

    /// Inserts head rows (`None` when there is nothing to insert).
    pub fn insert_heads(&self, d: Dialect, rows: &[(&str, Digest)]) -> Option<String> {
        if rows.is_empty() {
            return None;
        }
        let values: Vec<String> = rows
            .iter()
            .map(|(id, digest)| format!("({}, '{digest}')", literal(d, id)))
            .collect();
        Some(format!(
            "INSERT INTO {} (revision, chain_digest) VALUES {}",
            self.version.quoted(d),
            values.join(", ")
        ))
    }

    /// Marks a head row as being downgraded, so that the boot fast path cannot match it.
    pub fn poison_head(&self, d: Dialect, id: &str) -> String {
        format!(
            "UPDATE {} SET chain_digest = 'dirty' WHERE revision = {}",
            self.version.quoted(d),
            literal(d, id)
        )
    }

    /// Inserts the log row of an applied (or dirty, being applied) revision, with what an
    /// older binary needs to revert it (docs/design.md §4.13): its parents, its downgrade SQL
    /// and that SQL's checksum (NULL for an irreversible or a Rust code revision), and
    /// whether it is transactional.
    pub fn insert_log(
        &self,
        d: Dialect,
        rev: &Revision,
        execution_ms: &str,
        dirty: bool,
        stamped: bool,
    ) -> String {
        let row = LogRow::new(rev, dirty, stamped);
        Durations::Each(&|_| execution_ms.to_owned()).insert(d, &self.log.quoted(d), &[(0, row)])
    }

    /// The bookkeeping of a group of consecutive steps of one direction that commit together
    /// (see [`crate::backend::group`]): the version table's net change (the heads the group
    /// removes that were there before it, the heads it adds that are still heads after it)
    /// and every log row, each a single statement, with the steps' `durations`.
    pub fn group_bookkeeping(
        &self,
        d: Dialect,
        works: &[Work<'_>],
        durations: Durations<'_>,
    ) -> Vec<String> {
        let (removed, added) = net_heads(
            works
                .iter()
                .map(|w| (w.remove_heads.as_slice(), w.add_heads.as_slice())),
        );
        let mut out = Vec::new();
        out.extend(self.delete_heads(d, &removed));
        out.extend(self.insert_heads(d, &added));
        let (upgrades, downgrades): (Vec<_>, Vec<_>) = works
            .iter()
            .enumerate()
            .partition(|(_, w)| w.direction == revchain_core::Direction::Upgrade);
        if !upgrades.is_empty() {
            let rows: Vec<(usize, LogRow<'_>)> = upgrades
                .iter()
                .map(|(k, w)| (*k, LogRow::new(w.revision, false, false)))
                .collect();
            out.push(durations.insert(d, &self.log.quoted(d), &rows));
        }
        let reverted: Vec<&str> = downgrades.iter().map(|(_, w)| w.revision.id()).collect();
        out.extend(self.delete_log(d, &reverted));
        out
    }
}

/// The net change to the version table of consecutive steps, each given as the heads it
/// removes and the heads it adds: the heads removed that were there before the first step,
/// and the heads added that are still there after the last. Deleting the first, then
/// inserting the second, leaves the table as the steps one after the other would (a head
/// removed and added again, with a new digest, is deleted and inserted).
fn net_heads<'a, 's>(
    steps: impl Iterator<Item = (&'s [&'a str], &'s [(&'a str, Digest)])>,
) -> (Vec<&'a str>, Vec<(&'a str, Digest)>)
where
    'a: 's,
{
    let mut removed: Vec<&str> = Vec::new();
    let mut added: Vec<(&str, Digest)> = Vec::new();
    for (remove, add) in steps {
        for head in remove {
            match added.iter().position(|(id, _)| id == head) {
                Some(at) => {
                    added.remove(at);
                }
                None => removed.push(head),
            }
        }
        added.extend(add.iter().copied());
    }
    (removed, added)
}

/// The durations (milliseconds) that a group's log rows record.
#[derive(Clone, Copy)]
pub(crate) enum Durations<'a> {
    /// Step `k`'s, as SQL: a literal, or an expression evaluated in its row.
    Each(&'a dyn Fn(usize) -> String),
    /// One for every step, as a PostgreSQL expression evaluated once for the whole insert
    /// (an expression repeated in each row is parsed and resolved once per row, which
    /// costs more than the row).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Shared(&'a str),
}

impl Durations<'_> {
    /// The insert of the log `rows` into `log`, each row with the index of its step (whose
    /// duration `Each` gives).
    ///
    /// `Each`: one `VALUES` tuple per row. `Shared` (PostgreSQL): one array literal per
    /// column, `unnest`ed. PostgreSQL parses, resolves and plans every literal of a
    /// `VALUES` list one by one, which costs more than inserting the row; an array literal
    /// is read by one input function, element after element.
    fn insert(&self, d: Dialect, log: &str, rows: &[(usize, LogRow<'_>)]) -> String {
        let columns = LOG_COLUMN_NAMES.join(", ");
        match self {
            Durations::Each(ms) => {
                let tuples: Vec<String> = rows
                    .iter()
                    .map(|(k, row)| {
                        let cells: Vec<String> =
                            row.cells().iter().map(|c| c.sql(d, || ms(*k))).collect();
                        format!("({})", cells.join(", "))
                    })
                    .collect();
                format!("INSERT INTO {log} ({columns}) VALUES {}", tuples.join(", "))
            }
            Durations::Shared(ms) => {
                let cells: Vec<[Cell<'_>; 12]> = rows.iter().map(|(_, r)| r.cells()).collect();
                let mut picked = Vec::new();
                let (mut arrays, mut unnested) = (Vec::new(), Vec::new());
                for (i, column) in LOG_COLUMN_NAMES.iter().enumerate() {
                    let Some(ty) = cells.first().and_then(|c| c[i].array_type()) else {
                        picked.push("t.ms".to_owned());
                        continue;
                    };
                    // A value every row shares (the flags, the phase) goes once; the
                    // revision, distinct in every row, keeps one array at least.
                    if i > 0 && cells.windows(2).all(|w| w[0][i] == w[1][i]) {
                        picked.push(cells[0][i].sql(d, String::new));
                        continue;
                    }
                    arrays.push(column_array(d, cells.iter().map(|c| &c[i]), ty));
                    unnested.push(*column);
                    picked.push(format!("u.{column}"));
                }
                format!(
                    "INSERT INTO {log} ({columns}) SELECT {} FROM unnest({}) AS u({}), (SELECT {ms}) AS t(ms)",
                    picked.join(", "),
                    arrays.join(", "),
                    unnested.join(", ")
                )
            }
        }
    }
}

/// A column of a group's log rows as one PostgreSQL array of type `ty[]`. Text that holds
/// no comma and is never empty (ids, digests) is joined with commas and split by
/// `string_to_array`, which reads about twice as fast as an array literal (no quotes to
/// parse, a third fewer bytes); other text, and flags, go as an array literal.
fn column_array<'c>(
    d: Dialect,
    cells: impl Iterator<Item = &'c Cell<'c>> + Clone,
    ty: &str,
) -> String {
    let plain =
        |cell: &Cell<'_>| matches!(cell, Cell::Text(Some(t)) if !t.is_empty() && !t.contains(','));
    if cells.clone().all(plain) {
        let mut joined = String::new();
        for cell in cells {
            if let Cell::Text(Some(text)) = cell {
                if !joined.is_empty() {
                    joined.push(',');
                }
                joined.push_str(text);
            }
        }
        return format!("string_to_array({}, ',')", literal(d, &joined));
    }
    let mut array = String::from("{");
    for (k, cell) in cells.enumerate() {
        if k > 0 {
            array.push(',');
        }
        cell.push_element(&mut array);
    }
    array.push('}');
    format!("{}::{ty}[]", literal(d, &array))
}

/// The columns of a log row that revchain writes, in the order of [`LogRow::cells`].
const LOG_COLUMN_NAMES: [&str; 12] = [
    "revision",
    "message",
    "checksum",
    "chain_digest",
    "execution_ms",
    "dirty",
    "stamped",
    "downgrade_sql",
    "downgrade_checksum",
    "revises",
    "transactional",
    "phase",
];

/// What `rev`'s log row records, but its duration, with what an older binary needs to
/// revert it (docs/design.md §4.13).
struct LogRow<'r> {
    revision: &'r str,
    message: String,
    checksum: String,
    chain_digest: String,
    dirty: bool,
    stamped: bool,
    /// The downgrade SQL and its checksum (none for an irreversible or a Rust revision).
    downgrade: Option<(&'r str, String)>,
    revises: String,
    transactional: bool,
    phase: String,
}

/// One column of a log row, as it is written.
#[derive(PartialEq, Eq)]
enum Cell<'a> {
    /// Text, or NULL.
    Text(Option<&'a str>),
    Flag(bool),
    /// The duration, which [`Durations`] gives.
    Duration,
}

impl Cell<'_> {
    /// The cell as a SQL literal of `d`; `ms` gives the duration.
    fn sql(&self, d: Dialect, ms: impl FnOnce() -> String) -> String {
        match self {
            Cell::Text(Some(text)) => literal(d, text),
            Cell::Text(None) => "NULL".to_owned(),
            Cell::Flag(b) => boolean(d, *b).to_owned(),
            Cell::Duration => ms(),
        }
    }

    /// The PostgreSQL type of the cell's array (none for the duration, not in an array).
    fn array_type(&self) -> Option<&'static str> {
        match self {
            Cell::Text(_) => Some("text"),
            Cell::Flag(_) => Some("boolean"),
            Cell::Duration => None,
        }
    }

    /// Appends the cell to `array` as an element of a PostgreSQL array literal: text
    /// double-quoted with `"` and `\` escaped, so that no content (a comma, a brace, the
    /// word NULL) reads as syntax. Written in place: a group's insert holds an element per
    /// revision and column.
    fn push_element(&self, array: &mut String) {
        match self {
            Cell::Text(Some(text)) => {
                array.push('"');
                let mut copied = 0;
                for (at, byte) in text.bytes().enumerate() {
                    if matches!(byte, b'\\' | b'"') {
                        // Both are ASCII, so `at` is a character boundary.
                        array.push_str(&text[copied..at]);
                        array.push('\\');
                        copied = at;
                    }
                }
                array.push_str(&text[copied..]);
                array.push('"');
            }
            Cell::Text(None) | Cell::Duration => array.push_str("NULL"),
            Cell::Flag(b) => array.push(if *b { 't' } else { 'f' }),
        }
    }
}

impl<'r> LogRow<'r> {
    fn new(rev: &'r Revision, dirty: bool, stamped: bool) -> LogRow<'r> {
        let downgrade = rev.downgrade_sql().filter(|_| !rev.is_rust()).map(|sql| {
            let checksum = revchain_core::applied::unknown::downgrade_checksum(sql);
            (sql, checksum.to_string())
        });
        LogRow {
            revision: rev.id(),
            message: rev.message().chars().take(255).collect(),
            checksum: rev.checksum().to_string(),
            chain_digest: rev.chain_digest().to_string(),
            dirty,
            stamped,
            downgrade,
            revises: rev.parents().collect::<Vec<_>>().join(","),
            transactional: rev.is_transactional(),
            phase: rev.phase().to_string(),
        }
    }

    /// The row's cells, in the order of [`LOG_COLUMN_NAMES`].
    fn cells(&self) -> [Cell<'_>; 12] {
        let downgrade = self.downgrade.as_ref();
        [
            Cell::Text(Some(self.revision)),
            Cell::Text(Some(&self.message)),
            Cell::Text(Some(&self.checksum)),
            Cell::Text(Some(&self.chain_digest)),
            Cell::Duration,
            Cell::Flag(self.dirty),
            Cell::Flag(self.stamped),
            Cell::Text(downgrade.map(|(sql, _)| *sql)),
            Cell::Text(downgrade.map(|(_, checksum)| checksum.as_str())),
            Cell::Text(Some(&self.revises)),
            Cell::Flag(self.transactional),
            Cell::Text(Some(&self.phase)),
        ]
    }
}

impl Tables {
    /// Reads each logged revision's id and phase (`expand`, `contract`, or NULL when an
    /// older binary wrote the row), for the compatibility check (docs/design.md §4.14).
    pub fn select_phases(&self, d: Dialect) -> String {
        format!("SELECT revision, phase FROM {}", self.log.quoted(d))
    }

    /// Adds the columns of [`STORED_COLUMNS`] to a log table created before them, where
    /// the dialect can say "when missing" in one statement (PostgreSQL); the others probe
    /// ([`probe_stored_columns`](Self::probe_stored_columns)) and add each one
    /// ([`add_stored_column`](Self::add_stored_column)).
    pub fn add_stored_columns_if_missing(&self, d: Dialect) -> Option<String> {
        (d == Dialect::Postgres).then(|| {
            let adds: Vec<String> = STORED_COLUMNS
                .iter()
                .map(|name| {
                    format!(
                        "ADD COLUMN IF NOT EXISTS {name} {}",
                        stored_column_type(d, name)
                    )
                })
                .collect();
            format!("ALTER TABLE {} {}", self.log.quoted(d), adds.join(", "))
        })
    }

    #[cfg(all(
        feature = "cli",
        any(feature = "postgres", feature = "mysql", feature = "sqlite")
    ))]
    /// For an offline script (PostgreSQL only): [`add_stored_columns_if_missing`]
    /// (Self::add_stored_columns_if_missing) in a `DO` block that runs it only when the
    /// catalog lacks one of the columns, so that `psql` prints no notice.
    pub fn add_stored_columns_offline(&self, d: Dialect) -> Option<String> {
        let alter = self.add_stored_columns_if_missing(d)?;
        Some(format!(
            "DO $revchain$ BEGIN IF (SELECT count(*) FROM ({}) present) < {} THEN {alter}; END IF; END $revchain$",
            self.stored_columns_present(),
            STORED_COLUMNS.len()
        ))
    }

    /// Whether the rows of [`stored_columns_present`](Self::stored_columns_present), `found`
    /// of them, name every one of the [`STORED_COLUMNS`].
    pub(crate) fn all_stored_columns(found: usize) -> bool {
        found == STORED_COLUMNS.len()
    }

    /// PostgreSQL: the names of the [`STORED_COLUMNS`] the log table has, from the catalog
    /// (a query that cannot fail, so that it may run inside the caller's transaction).
    pub fn stored_columns_present(&self) -> String {
        let d = Dialect::Postgres;
        let names: Vec<String> = STORED_COLUMNS.iter().map(|n| literal(d, n)).collect();
        // `pg_attribute` by the table's oid, not `information_schema.columns`, whose view
        // costs milliseconds on every run; `to_regclass` resolves the name as the
        // bookkeeping statements do, and is NULL (no rows) when the table is missing.
        format!(
            "SELECT attname::text FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass({}) AND NOT attisdropped AND attname IN ({})",
            literal(d, &self.log.quoted(d)),
            names.join(", ")
        )
    }

    /// A query that fails when the log table lacks one of [`STORED_COLUMNS`].
    pub fn probe_stored_columns(&self, d: Dialect) -> String {
        format!(
            "SELECT {} FROM {} WHERE 1 = 0",
            STORED_COLUMNS.join(", "),
            self.log.quoted(d)
        )
    }

    /// Adds column `name` of [`STORED_COLUMNS`] to the log table (fails when it exists).
    pub fn add_stored_column(&self, d: Dialect, name: &str) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN {name} {}",
            self.log.quoted(d),
            stored_column_type(d, name)
        )
    }

    /// Reads what the log stored of each applied revision for an older binary: id, parents,
    /// downgrade SQL, its checksum, whether transactional, then message, checksum and
    /// chain digest.
    pub fn select_stored(&self, d: Dialect) -> String {
        format!(
            "SELECT revision, revises, downgrade_sql, downgrade_checksum, transactional, message, checksum, chain_digest FROM {}",
            self.log.quoted(d)
        )
    }

    /// Clears the dirty mark of a revision once it is applied.
    pub fn clear_dirty(&self, d: Dialect, id: &str, execution_ms: &str) -> String {
        format!(
            "UPDATE {} SET dirty = {}, execution_ms = {execution_ms} WHERE revision = {}",
            self.log.quoted(d),
            boolean(d, false),
            literal(d, id)
        )
    }

    /// Marks a revision dirty before a non-atomic downgrade.
    pub fn mark_dirty(&self, d: Dialect, id: &str) -> String {
        format!(
            "UPDATE {} SET dirty = {} WHERE revision = {}",
            self.log.quoted(d),
            boolean(d, true),
            literal(d, id)
        )
    }

    /// Deletes log rows.
    pub fn delete_log(&self, d: Dialect, ids: &[&str]) -> Option<String> {
        if ids.is_empty() {
            return None;
        }
        let list: Vec<String> = ids.iter().map(|id| literal(d, id)).collect();
        Some(format!(
            "DELETE FROM {} WHERE revision IN ({})",
            self.log.quoted(d),
            list.join(", ")
        ))
    }

    /// Empties both tables (`stamp --purge`).
    pub fn purge(&self, d: Dialect) -> Vec<String> {
        vec![
            format!("DELETE FROM {}", self.version.quoted(d)),
            format!("DELETE FROM {}", self.log.quoted(d)),
        ]
    }

    /// The statements that mark a step that cannot be atomic as running (dirty) before its
    /// SQL: an upgrade gets a dirty log row; a downgrade marks its log row dirty and poisons
    /// its head row so that the boot fast path cannot match it.
    /// Under a lease on PostgreSQL, the transaction first checks and extends the lease
    /// ([`guard`](crate::backend::lease::guard), tagged [`MARK_TAG`]).
    pub fn mark_running(&self, d: Dialect, work: &Work<'_>) -> Vec<String> {
        let rev = work.revision;
        let mut statements = Vec::new();
        if d == Dialect::Postgres
            && let Some(lease) = &self.lease
        {
            statements.push(crate::backend::lease::guard(self, lease, MARK_TAG));
        }
        match work.direction {
            revchain_core::Direction::Upgrade => {
                statements.push(self.insert_log(d, rev, "0", true, false));
            }
            revchain_core::Direction::Downgrade => {
                statements.push(self.mark_dirty(d, rev.id()));
                statements.push(self.poison_head(d, rev.id()));
            }
        }
        statements
    }

    /// Undoes [`mark_running`](Self::mark_running) when nothing of the step ran (its first
    /// statement failed).
    pub fn unmark_running(&self, d: Dialect, work: &Work<'_>) -> Vec<String> {
        let rev = work.revision;
        match work.direction {
            revchain_core::Direction::Upgrade => {
                self.delete_log(d, &[rev.id()]).into_iter().collect()
            }
            revchain_core::Direction::Downgrade => vec![
                self.clear_dirty(d, rev.id(), "execution_ms"),
                format!(
                    "UPDATE {} SET chain_digest = '{}' WHERE revision = {}",
                    self.version.quoted(d),
                    rev.chain_digest(),
                    literal(d, rev.id())
                ),
            ],
        }
    }

    /// The bookkeeping that ends a step marked running: like
    /// [`step_bookkeeping`](Self::step_bookkeeping), except that an upgrade's log row exists
    /// already (dirty) and is cleared instead of inserted.
    pub fn finish_running(&self, d: Dialect, work: &Work<'_>, execution_ms: &str) -> Vec<String> {
        let mut finish = self.step_bookkeeping(d, work, execution_ms);
        if work.direction == revchain_core::Direction::Upgrade {
            finish.pop();
            finish.push(self.clear_dirty(d, work.revision.id(), execution_ms));
        }
        finish
    }

    /// The bookkeeping of one step, in order: head rows out, head rows in, then the log.
    pub fn step_bookkeeping(&self, d: Dialect, work: &Work<'_>, execution_ms: &str) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.delete_heads(d, &work.remove_heads));
        out.extend(self.insert_heads(d, &work.add_heads));
        match work.direction {
            revchain_core::Direction::Upgrade => {
                out.push(self.insert_log(d, work.revision, execution_ms, false, false))
            }
            revchain_core::Direction::Downgrade => {
                out.extend(self.delete_log(d, &[work.revision.id()]))
            }
        }
        out
    }
}

/// One revision to apply or revert, with its version-table changes (a planned step).
#[derive(Debug, Clone)]
pub(crate) struct Work<'a> {
    pub revision: &'a Revision,
    pub direction: revchain_core::Direction,
    pub remove_heads: Vec<&'a str>,
    pub add_heads: Vec<(&'a str, Digest)>,
    /// What grouping needs to know of its SQL, once worked out
    /// ([`traits`](crate::backend::group::traits)).
    pub traits: std::sync::OnceLock<crate::backend::group::Traits>,
}

impl Work<'_> {
    /// The SQL this step runs.
    pub fn sql(&self) -> &str {
        match self.direction {
            revchain_core::Direction::Upgrade => self.revision.upgrade_sql(),
            revchain_core::Direction::Downgrade => self.revision.downgrade_sql().unwrap_or(""),
        }
    }

    /// The file line where [`sql`](Self::sql) starts.
    pub fn sql_line(&self) -> usize {
        match self.direction {
            revchain_core::Direction::Upgrade => self.revision.upgrade_line(),
            revchain_core::Direction::Downgrade => self.revision.downgrade_line(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            TableName::parse("a.b").unwrap().quoted(Dialect::MySql),
            "`a`.`b`"
        );
        assert_eq!(
            TableName::parse("t1").unwrap().quoted(Dialect::Postgres),
            "\"t1\""
        );
        for bad in [
            "",
            "1t",
            "a.b.c",
            "a-b",
            "a b",
            "\"t\"",
            ".t",
            "t.",
            &"x".repeat(64),
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    /// The ids the property test's steps remove and add.
    const IDS: [&str; 6] = ["r0", "r1", "r2", "r3", "r4", "r5"];

    /// A step's random choices, read against the heads before it: which of them it removes
    /// (a bit each), and which of [`IDS`] it adds, of those not there after the removal,
    /// with what digest byte.
    type Choices = (u8, Vec<(u8, u8)>);

    /// A step: the heads it removes and the heads it adds.
    type Step = (Vec<&'static str>, Vec<(&'static str, Digest)>);

    /// The steps the choices make from `initial`, and the heads after each one in turn: a
    /// valid sequence of plan steps, which often removes a head and adds it again.
    fn steps_of(
        initial: &BTreeMap<&'static str, Digest>,
        choices: &[Choices],
    ) -> (Vec<Step>, BTreeMap<&'static str, Digest>) {
        let mut heads = initial.clone();
        let mut steps = Vec::new();
        for (remove_bits, adds) in choices {
            let remove: Vec<&str> = heads
                .keys()
                .enumerate()
                .filter(|(i, _)| remove_bits & (1 << (i % 8)) != 0)
                .map(|(_, id)| *id)
                .collect();
            for id in &remove {
                heads.remove(id);
            }
            let mut add = Vec::new();
            for (which, byte) in adds {
                let id = IDS[usize::from(*which) % IDS.len()];
                if !heads.contains_key(id) {
                    heads.insert(id, Digest([*byte; 32]));
                    add.push((id, Digest([*byte; 32])));
                }
            }
            steps.push((remove, add));
        }
        (steps, heads)
    }

    proptest::proptest! {
        /// The net change of a group, applied as its bookkeeping applies it (delete, then
        /// insert into a table whose key is the revision), leaves the heads the steps one
        /// after the other leave; it deletes only rows that were there, and inserts no row
        /// twice.
        #[test]
        fn a_groups_net_change_is_its_steps_one_after_the_other(
            initial_ids in proptest::collection::btree_set(0usize..IDS.len(), 0..4),
            choices in proptest::collection::vec(
                (proptest::prelude::any::<u8>(), proptest::collection::vec((0u8..6, 0u8..3), 0..3)),
                0..8,
            ),
        ) {
            let initial: BTreeMap<&str, Digest> =
                initial_ids.iter().map(|i| (IDS[*i], Digest([9; 32]))).collect();
            let (steps, expected) = steps_of(&initial, &choices);
            let (removed, added) =
                net_heads(steps.iter().map(|(r, a)| (r.as_slice(), a.as_slice())));
            let mut table = initial.clone();
            for id in &removed {
                proptest::prop_assert!(table.remove(id).is_some(), "deletes {id}, not there");
            }
            for (id, digest) in &added {
                proptest::prop_assert!(table.insert(id, *digest).is_none(), "inserts {id} twice");
            }
            proptest::prop_assert_eq!(table, expected);
        }
    }

    fn array(cells: &[Cell<'_>]) -> String {
        column_array(Dialect::Postgres, cells.iter(), "text")
    }

    #[test]
    fn plain_text_columns_are_split_and_the_rest_are_array_literals() {
        let ids = [Cell::Text(Some("a1")), Cell::Text(Some("b'2\""))];
        assert_eq!(array(&ids), r#"string_to_array('a1,b''2"', ',')"#);
        // A comma, an empty text or a NULL would read as another element (or none): an
        // array literal, each element quoted, `"` and `\` escaped.
        let comma = [Cell::Text(Some("a,b")), Cell::Text(Some("c"))];
        assert_eq!(array(&comma), r#"'{"a,b","c"}'::text[]"#);
        let empty = [Cell::Text(Some("")), Cell::Text(Some("c"))];
        assert_eq!(array(&empty), r#"'{"","c"}'::text[]"#);
        let null = [Cell::Text(None), Cell::Text(Some("c"))];
        assert_eq!(array(&null), r#"'{NULL,"c"}'::text[]"#);
        let quoted = [Cell::Text(Some(r#"x"y,"#))];
        // (A backslash in a literal makes it an escape string, with the backslash doubled.)
        assert_eq!(array(&quoted), r#"E'{"x\\"y,"}'::text[]"#);
        let flags = [Cell::Flag(true), Cell::Flag(false)];
        assert_eq!(
            column_array(Dialect::Postgres, flags.iter(), "boolean"),
            "'{t,f}'::boolean[]"
        );
    }
}
