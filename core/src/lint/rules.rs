//! The rule table: every rule's id, severity, explanation and safe rewrite, in one place for
//! the checks, the CLI's output and docs/lint.md.

use crate::split::Dialect;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Worth a look; fails the lint only with `--deny-warnings`.
    Warning,
    /// Fails the lint.
    Error,
}

impl Severity {
    /// `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Which databases a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Every database.
    All,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

impl Scope {
    /// Whether the rule applies to `dialect`.
    pub fn covers(self, dialect: Dialect) -> bool {
        match self {
            Scope::All => true,
            Scope::Postgres => dialect == Dialect::Postgres,
            Scope::MySql => dialect == Dialect::MySql,
        }
    }
}

/// One lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// The id written in output and in `-- revchain:allow <id> <reason>`.
    pub id: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// The databases it applies to.
    pub scope: Scope,
    /// Why the form is unsafe.
    pub explanation: &'static str,
    /// The safe form to write instead.
    pub rewrite: &'static str,
    /// Whether a `Phase: contract` revision (docs/design.md §6) may do this: such a revision
    /// is written to break the previous release, so the rule does not fire there.
    pub contract_allows: bool,
}

macro_rules! rule {
    ($name:ident, $id:literal, $sev:ident, $scope:ident, $contract:literal, $why:literal, $fix:literal) => {
        #[doc = concat!("`", $id, "`: ", $why)]
        pub const $name: Rule = Rule {
            id: $id,
            severity: Severity::$sev,
            scope: Scope::$scope,
            explanation: $why,
            rewrite: $fix,
            contract_allows: $contract,
        };
    };
}

rule!(
    INDEX_NOT_CONCURRENT,
    "index-not-concurrent",
    Error,
    Postgres,
    false,
    "CREATE INDEX without CONCURRENTLY on an existing table blocks every write to the table \
     while the index builds",
    "CREATE INDEX CONCURRENTLY …, in a revision with `-- Transactional: false`"
);
rule!(
    CONCURRENT_IN_TRANSACTION,
    "concurrent-in-transaction",
    Error,
    Postgres,
    false,
    "CONCURRENTLY cannot run inside a transaction block, and a transactional revision runs in one",
    "write `-- Transactional: false` in the header and keep the statement alone in its revision"
);
rule!(
    VOLATILE_DEFAULT,
    "volatile-default",
    Error,
    Postgres,
    false,
    "ADD COLUMN with a volatile DEFAULT (now(), random(), gen_random_uuid(), nextval(), …) \
     rewrites the whole table under an ACCESS EXCLUSIVE lock (a constant default does not, \
     since PostgreSQL 11)",
    "ADD COLUMN without the default (or with a constant one), then SET DEFAULT, then backfill \
     existing rows in batches"
);
rule!(
    COLUMN_TYPE_REWRITE,
    "column-type-rewrite",
    Error,
    Postgres,
    false,
    "ALTER COLUMN … TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock, \
     unless the change is binary-coercible (varchar(n) to a longer varchar or to text)",
    "add a new column of the new type, backfill it in batches, switch readers, drop the old one \
     in a later release"
);
rule!(
    CONSTRAINT_NOT_VALID,
    "constraint-not-valid",
    Error,
    Postgres,
    false,
    "ADD FOREIGN KEY or CHECK without NOT VALID scans the whole table while holding a lock \
     that blocks writes",
    "ADD CONSTRAINT … NOT VALID; then, in a later statement or revision, VALIDATE CONSTRAINT …"
);
rule!(
    SET_NOT_NULL,
    "set-not-null",
    Error,
    Postgres,
    false,
    "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock unless a validated \
     CHECK (column IS NOT NULL) constraint already proves it",
    "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; then SET NOT \
     NULL (PostgreSQL 12+ skips the scan) and DROP CONSTRAINT c"
);
rule!(
    UNIQUE_WITHOUT_INDEX,
    "unique-without-index",
    Error,
    Postgres,
    false,
    "ADD PRIMARY KEY or UNIQUE builds its index under an ACCESS EXCLUSIVE lock",
    "CREATE UNIQUE INDEX CONCURRENTLY i …; then ADD CONSTRAINT c PRIMARY KEY / UNIQUE USING INDEX i"
);
rule!(
    DROP_COLUMN_OR_TABLE,
    "drop-column-or-table",
    Error,
    All,
    true,
    "dropping a column or a table breaks the previous release of the application, which still \
     reads it while the new one rolls out",
    "stop using it in one release; drop it in a later revision marked `-- Phase: contract`"
);
rule!(
    RENAME_COLUMN_OR_TABLE,
    "rename-column-or-table",
    Error,
    All,
    true,
    "renaming a column or a table breaks the previous release of the application, which still \
     uses the old name while the new one rolls out",
    "add the new column (or a view with the new name), write both, switch readers, then drop \
     the old one in a revision marked `-- Phase: contract`"
);
rule!(
    MISSING_LOCK_TIMEOUT,
    "missing-lock-timeout",
    Warning,
    Postgres,
    false,
    "the revision takes an ACCESS EXCLUSIVE lock (ALTER TABLE, DROP, TRUNCATE, RENAME, LOCK \
     TABLE, …) without a `Lock Timeout` header: while it waits behind a long query every other \
     query on the table queues behind it",
    "write `-- Lock Timeout: 5s` in the header (and retry the migration when it times out)"
);
rule!(
    DDL_WITH_BULK_DML,
    "ddl-with-bulk-dml",
    Warning,
    Postgres,
    false,
    "a bulk data change (UPDATE or DELETE without WHERE, INSERT … SELECT) in the same \
     transaction as DDL holds the DDL's locks for as long as the data change runs",
    "move the data change to its own revision, in batches"
);
rule!(
    MYSQL_ALGORITHM,
    "mysql-alter-without-algorithm",
    Warning,
    MySql,
    false,
    "ALTER TABLE that adds, changes or drops a column or adds an index, without ALGORITHM, may \
     silently fall back to a table copy that blocks writes",
    "add `, ALGORITHM=INSTANT` (or `ALGORITHM=INPLACE, LOCK=NONE`), so that the server refuses \
     instead of copying the table"
);
rule!(
    MYSQL_DDL_WITH_DML,
    "mysql-ddl-with-dml",
    Warning,
    MySql,
    false,
    "DDL commits implicitly on MySQL and MariaDB, so a revision that mixes it with data changes \
     cannot be rolled back as one: a failure leaves it half applied",
    "put the data changes in their own revision"
);
rule!(
    MISSING_DOWNGRADE,
    "missing-downgrade",
    Warning,
    All,
    false,
    "the revision has no `-- migrate:downgrade` section, so no downgrade can pass it",
    "add a `-- migrate:downgrade` section that undoes the upgrade"
);
rule!(
    ALLOW_WITHOUT_REASON,
    "allow-without-reason",
    Error,
    All,
    false,
    "a `-- revchain:allow` comment must say why the rule does not apply; it silences nothing \
     without a reason",
    "-- revchain:allow <rule> <reason>"
);
rule!(
    ALLOW_UNKNOWN_RULE,
    "allow-unknown-rule",
    Error,
    All,
    false,
    "a `-- revchain:allow` comment names a rule that does not exist",
    "use one of the rule ids of `revchain lint` (docs/lint.md)"
);

/// Every rule.
pub static RULES: [Rule; 16] = [
    INDEX_NOT_CONCURRENT,
    CONCURRENT_IN_TRANSACTION,
    VOLATILE_DEFAULT,
    COLUMN_TYPE_REWRITE,
    CONSTRAINT_NOT_VALID,
    SET_NOT_NULL,
    UNIQUE_WITHOUT_INDEX,
    DROP_COLUMN_OR_TABLE,
    RENAME_COLUMN_OR_TABLE,
    MISSING_LOCK_TIMEOUT,
    DDL_WITH_BULK_DML,
    MYSQL_ALGORITHM,
    MYSQL_DDL_WITH_DML,
    MISSING_DOWNGRADE,
    ALLOW_WITHOUT_REASON,
    ALLOW_UNKNOWN_RULE,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
