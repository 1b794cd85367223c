//! Groups: consecutive transactional revisions that commit together.
//!
//! A revision is atomic with its bookkeeping, and applied exactly once; nothing requires
//! one commit per revision. So consecutive transactional revisions share one transaction,
//! each inside a savepoint of its own:
//!
//! ```sql
//! BEGIN;
//! SAVEPOINT <token>_0; <revision 0>; RELEASE SAVEPOINT <token>_0; [<mark 0>;]
//! SAVEPOINT <token>_1; <revision 1>; RELEASE SAVEPOINT <token>_1; [<mark 1>;]
//! …
//! <the group's bookkeeping: the version table's net change, every log row>;
//! COMMIT;
//! ```
//!
//! - **A revision fails** (statement `s` of revision `k`): its savepoint is rolled back
//!   (`ROLLBACK TO SAVEPOINT <token>_k`), the bookkeeping of revisions `0..k` is written and
//!   the transaction commits: exactly what one transaction per revision would have left.
//! - **The commit fails** (a deferred constraint; SQLite's busy commit): the whole group
//!   was rolled back, and no error says which revision broke the constraint. The group's
//!   revisions are applied again one transaction each, which finds it. What they did the
//!   first time was rolled back, so the database sees each once; only effects outside
//!   transactions (a sequence's `nextval`) show the first attempt.
//! - **A crash** loses the group in flight entirely, bookkeeping included: the next run
//!   applies it again, as it would have a revision in flight.
//! - **The savepoint is gone at `RELEASE`**: the revision ended the transaction it ran in.
//!   The splitter and the parser refuse transaction control, and PostgreSQL refuses a
//!   `COMMIT` inside a procedure called in a transaction block, so only a statement the
//!   splitter cut wrongly could; a revision whose cuts are in doubt never shares a
//!   transaction (see [`shareable`]).
//!
//! What a group saves: one commit (a WAL flush or an `fsync`) per revision, and the
//! per-revision bookkeeping statements, which cost more than a small revision's own SQL.
//!
//! A revision that changes existing objects or rows ends its group
//! ([`takes_light_locks`]): its locks are then held no longer than in a transaction of its
//! own, so a slow revision after it cannot keep a table locked.
//!
//! The marks time each revision where they cost little (MariaDB keeps them in session
//! variables of the same round trip). PostgreSQL has none: a mark there costs a statement,
//! as much as a small revision, so a group's revisions share its time, and only
//! [`quick`] revisions (work bounded by their text) form groups there, so that every
//! revision that can take long is timed alone.
//!
//! PostgreSQL's groups of quick revisions take no savepoints (a savepoint and its release
//! cost as much as a small revision): a failed revision rolls its whole group back, and
//! the revisions before it are applied again as a group of their own. Their first attempt
//! was rolled back, so the database sees each once; only effects outside transactions (a
//! sequence's `nextval`) show it. The failed revision itself is not run again.
//!
//! What bounds a group: a number of revisions ([`GROUP_REVISIONS`] where each takes a
//! savepoint: PostgreSQL keeps the ids of 64 subtransactions per transaction in shared
//! memory, and past that every other session's snapshot must look them up on disk, which
//! slows a busy primary and its standbys), [`GROUP_BYTES`], and the rule that its revisions
//! go the same direction with the same timeouts.

use revchain_core::Dialect;

use super::timeouts::Timeouts;
use crate::bookkeeping::Work;

/// The most revisions that share one transaction, each in a savepoint (PostgreSQL's
/// `PGPROC_MAX_CACHED_SUBXIDS`).
#[cfg_attr(not(any(feature = "mysql", feature = "sqlite")), allow(dead_code))]
pub(crate) const GROUP_REVISIONS: usize = 64;

/// The most SQL (bytes) a group's revisions hold together; a larger revision is a group of
/// its own.
pub(crate) const GROUP_BYTES: usize = 256 * 1024;

/// What the grouping rule needs to know of a revision's SQL in one dialect, worked out once
/// per run (a [`Work`] keeps it): the splitter and the lexer run over each revision once,
/// not once per question.
#[derive(Debug, Clone)]
pub(crate) struct Traits {
    dialect: Dialect,
    /// [`shareable`].
    pub shareable: bool,
    /// [`takes_light_locks`].
    pub light: bool,
    /// [`quick`] (PostgreSQL's grouping).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub quick: bool,
    /// The line (1-based, in the SQL) where each of its statements starts (PostgreSQL
    /// counts results by statement).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub lines: Vec<usize>,
}

impl Traits {
    fn of(work: &Work<'_>, dialect: Dialect) -> Traits {
        let split = revchain_core::split::split_statements_checked(work.sql(), dialect);
        let transactional = work.revision.is_transactional() && !work.revision.is_rust();
        let refused = transactional
            && revchain_core::statements::refused_among(&split.statements, dialect, true).is_some();
        Traits::of_split(&split, transactional, refused, dialect)
    }

    /// The traits of SQL already `split` with `dialect`'s rules, of a revision that is
    /// `transactional` (SQL, not Rust code), whose statements hold one `refused` in a
    /// transaction (`refused_among`, which the caller needed too).
    pub(crate) fn of_split(
        split: &revchain_core::split::Split<'_>,
        transactional: bool,
        refused: bool,
        dialect: Dialect,
    ) -> Traits {
        let words: Vec<Vec<&str>> = split
            .statements
            .iter()
            .map(|s| words(s.sql, dialect))
            .collect();
        Traits {
            dialect,
            shareable: transactional && split.doubt.is_none() && !refused,
            light: words.iter().all(|w| light_words(w)),
            quick: words.iter().all(|w| quick_statement(w)),
            lines: split.statements.iter().map(|s| s.line).collect(),
        }
    }
}

/// The [`Traits`] of `work` in `dialect` (worked out on the first call).
pub(crate) fn traits<'w>(work: &'w Work<'_>, dialect: Dialect) -> &'w Traits {
    let traits = work.traits.get_or_init(|| Traits::of(work, dialect));
    debug_assert_eq!(traits.dialect, dialect, "one run, one dialect");
    traits
}

/// Whether `work` may share a transaction with other revisions: a transactional SQL
/// revision (not Rust code) whose statements the splitter cuts without doubt, none of
/// them transaction control.
pub(crate) fn shareable(work: &Work<'_>, dialect: Dialect) -> bool {
    traits(work, dialect).shareable
}

/// The end (exclusive) of the group that starts at `works[start]`: the revisions after it
/// that are [`shareable`], that `joins` accepts (a backend's own condition), and that go
/// the same direction with the same timeouts, within `limit` revisions (the backend's:
/// [`GROUP_REVISIONS`] where each revision takes a savepoint) and [`GROUP_BYTES`]. A
/// revision that is not shareable is a group of its own (`start + 1`).
pub(crate) fn group_end(
    works: &[Work<'_>],
    start: usize,
    dialect: Dialect,
    timeouts: &Timeouts,
    limit: usize,
    joins: impl Fn(&Work<'_>) -> bool,
) -> usize {
    let first = &works[start];
    if !shareable(first, dialect) || !joins(first) {
        return start + 1;
    }
    let same = |w: &Work<'_>| {
        w.direction == first.direction
            && timeouts.lock_for(w.revision) == timeouts.lock_for(first.revision)
            && timeouts.statement_for(w.revision) == timeouts.statement_for(first.revision)
    };
    let mut bytes = first.sql().len();
    let mut end = start + 1;
    let mut open = takes_light_locks(first, dialect);
    while open && end < works.len() && end - start < limit {
        let next = &works[end];
        bytes += next.sql().len();
        if bytes > GROUP_BYTES || !same(next) || !shareable(next, dialect) || !joins(next) {
            break;
        }
        open = takes_light_locks(next, dialect);
        end += 1;
    }
    end
}

/// Whether every statement of `work` takes only locks that block nobody's ordinary work
/// while later revisions of its group run: it inserts or reads rows, or creates an object
/// that refers to no other table. A revision that changes existing objects (`ALTER`,
/// `CREATE INDEX`, `DROP`, …) or existing rows (`UPDATE`, `DELETE`) ends its group, so
/// that its locks are held no longer than with a transaction of its own: a slow revision
/// after it must not keep a table locked (the database must never stall).
/// Conservative: a statement it does not know ends the group.
pub(crate) fn takes_light_locks(work: &Work<'_>, dialect: Dialect) -> bool {
    traits(work, dialect).light
}

/// Whether `work` cannot run long: each of its statements takes only light locks
/// ([`takes_light_locks`]) and does work bounded by its own text. It inserts the rows it
/// lists (`INSERT … VALUES`), or creates an object that refers to no other table; it reads
/// no table (no `SELECT`, `TABLE`, `EXECUTE`, `CALL`). PostgreSQL times the revisions of a
/// group together, so only quick revisions share a transaction there: every revision that
/// can take long is timed alone.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn quick(work: &Work<'_>, dialect: Dialect) -> bool {
    traits(work, dialect).quick
}

/// The words of a statement, as written (quoted names, strings and comments left out).
fn words(sql: &str, dialect: Dialect) -> Vec<&str> {
    use revchain_core::lex::{Lexer, TokenKind};
    Lexer::new(sql, dialect)
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| t.text)
        .collect()
}

/// How many of `words` are `keyword` (upper-case), whatever their case.
fn count(words: &[&str], keyword: &str) -> usize {
    words
        .iter()
        .filter(|w| w.eq_ignore_ascii_case(keyword))
        .count()
}

/// Whether word `at` of `words` is one of `keywords` (upper-case), whatever its case.
fn is_one_of(words: &[&str], at: usize, keywords: &[&str]) -> bool {
    words
        .get(at)
        .is_some_and(|w| keywords.iter().any(|k| w.eq_ignore_ascii_case(k)))
}

/// Whether one statement, as its words, takes only light locks (see
/// [`takes_light_locks`]).
fn light_words(words: &[&str]) -> bool {
    let any = |list: &[&str]| list.iter().any(|k| count(words, k) > 0);
    // Row locks on existing rows: `ON CONFLICT DO UPDATE`, `FOR UPDATE`, `FOR SHARE`.
    if any(&["UPDATE", "DELETE", "SHARE", "LOCK"]) {
        return false;
    }
    let refers = || any(&["REFERENCES", "FOREIGN", "PARTITION", "INHERITS", "LIKE"]);
    if is_one_of(words, 0, &["INSERT", "SELECT", "VALUES"]) {
        return true;
    }
    if !is_one_of(words, 0, &["CREATE"]) {
        return false;
    }
    if is_one_of(words, 1, &["TABLE", "SCHEMA"]) {
        return !refers();
    }
    is_one_of(
        words,
        1,
        &["SEQUENCE", "TYPE", "DOMAIN", "FUNCTION", "PROCEDURE"],
    )
}

/// Whether one statement is quick (see [`quick`]).
fn quick_statement(words: &[&str]) -> bool {
    let count = |keyword: &str| count(words, keyword);
    if !light_words(words) || count("SELECT") + count("EXECUTE") + count("CALL") > 0 {
        return false;
    }
    if is_one_of(words, 0, &["INSERT"]) {
        // Not `INSERT … TABLE t` (a read), nor `INSERT … SELECT` (above).
        count("VALUES") > 0 && count("TABLE") == 0
    } else if is_one_of(words, 0, &["CREATE"]) && is_one_of(words, 1, &["TABLE"]) {
        // Not `CREATE TABLE … AS VALUES` or `… AS TABLE t`.
        count("TABLE") == 1 && count("VALUES") == 0
    } else {
        is_one_of(words, 0, &["CREATE", "VALUES"])
    }
}

/// The name of revision `k`'s savepoint in a group whose token is `token` (a token no
/// revision can know: see [`token`](super::token)).
pub(crate) fn savepoint(token: &str, k: usize) -> String {
    format!("{token}_{k}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light(sql: &str) -> bool {
        light_words(&words(sql, Dialect::Postgres))
    }

    fn quick(sql: &str) -> bool {
        quick_statement(&words(sql, Dialect::Postgres))
    }

    #[test]
    fn statements_bounded_by_their_text_are_quick() {
        for sql in [
            "INSERT INTO t (a) VALUES (1), (2)",
            "INSERT INTO t DEFAULT VALUES",
            "insert into t values (now()) returning a",
            "VALUES (1)",
            "CREATE TABLE t (id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note TEXT)",
            "CREATE TABLE t (a INT, b INT GENERATED ALWAYS AS (a * 2) STORED)",
            "CREATE SCHEMA s",
            "CREATE SEQUENCE s",
            "CREATE TYPE mood AS ENUM ('a', 'b')",
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
        ] {
            assert!(quick(sql), "{sql}");
        }
    }

    #[test]
    fn statements_that_read_or_may_run_long_are_not_quick() {
        for sql in [
            "insert into t select * from u",
            "INSERT INTO t TABLE u",
            "INSERT INTO t VALUES ((SELECT max(a) FROM u))",
            "SELECT nextval('s')",
            "SELECT pg_sleep(10)",
            "CREATE TABLE t AS SELECT * FROM u",
            "CREATE TABLE t AS TABLE u",
            "CREATE TABLE t AS VALUES (1)",
            "CREATE TABLE t AS EXECUTE p",
            "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END",
            "UPDATE t SET a = 1",
            "ALTER TABLE t ADD COLUMN b INT",
            "CREATE INDEX i ON t (a)",
        ] {
            assert!(!quick(sql), "{sql}");
        }
    }

    #[test]
    fn inserting_reading_and_creating_unrelated_objects_are_light() {
        for sql in [
            "INSERT INTO t (a) VALUES (1)",
            "insert into t select * from u",
            "SELECT nextval('s')",
            "VALUES (1)",
            "CREATE TABLE t (id INT PRIMARY KEY, note TEXT NOT NULL)",
            "CREATE SEQUENCE s",
            "CREATE TYPE mood AS ENUM ('a', 'b')",
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
        ] {
            assert!(light(sql), "{sql}");
        }
    }

    #[test]
    fn changing_existing_objects_or_rows_ends_the_group() {
        for sql in [
            "ALTER TABLE t ADD COLUMN b INT",
            "CREATE INDEX i ON t (a)",
            "CREATE UNIQUE INDEX i ON t (a)",
            "CREATE TABLE c (id INT REFERENCES p (id))",
            "CREATE TABLE c (id INT, FOREIGN KEY (id) REFERENCES p)",
            "CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)",
            "CREATE TABLE c (LIKE p)",
            "CREATE OR REPLACE VIEW v AS SELECT 1",
            "CREATE TRIGGER g AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2",
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM t FOR SHARE",
            "LOCK TABLE t",
            "DROP TABLE t",
            "TRUNCATE t",
            "GRANT SELECT ON t TO r",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "COMMENT ON TABLE t IS 'x'",
        ] {
            assert!(!light(sql), "{sql}");
        }
    }
}
