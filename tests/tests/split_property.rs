//! Issue 13, item 2: the statement splitter against each database's own parser.
//!
//! Generated revisions hold tables, columns, aliases, routines and variables named like
//! keywords (`event`, `begin`, `end`, `do`, …, quoted and unquoted), routines, triggers,
//! events and `BEGIN ATOMIC` bodies with nested blocks, comments and strings holding `;`.
//! Split with the database's dialect, they must give exactly the generated statements, and
//! the server must accept each one ALONE: any error but a syntax error is fine (a missing
//! table, an existing routine), because only the parser is on trial.
//!
//! `REVCHAIN_SPLIT_CASES` sets the number of generated revisions per database (default 24,
//! a few seconds each); raise it for a longer campaign.

use std::sync::Mutex;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use revchain_core::{Dialect, split_statements_checked};
use revchain_tests::{Kind, TestDb};
use sqlx::{AssertSqlSafe, Connection};

/// Words that are keywords somewhere, used as every kind of name.
const WORDS: [&str; 16] = [
    "event",
    "begin",
    "end",
    "case",
    "if",
    "loop",
    "repeat",
    "declare",
    "while",
    "for",
    "do",
    "atomic",
    "until",
    "handler",
    "delimiter",
    "work",
];

/// One generated statement: its template, the words naming its table, column, alias or
/// routine, and variable, and whether each is quoted; then what separates it from the next.
#[derive(Debug, Clone)]
struct Piece {
    template: usize,
    names: [(usize, bool); 4],
    separator: usize,
}

fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    let piece = (
        any::<usize>(),
        [
            (0..WORDS.len(), any::<bool>()),
            (0..WORDS.len(), any::<bool>()),
            (0..WORDS.len(), any::<bool>()),
            (0..WORDS.len(), any::<bool>()),
        ],
        any::<usize>(),
    )
        .prop_map(|(template, names, separator)| Piece {
            template,
            names,
            separator,
        });
    proptest::collection::vec(piece, 1..8)
}

/// What the generator needs to know of a database.
struct Target {
    dialect: Dialect,
    /// The words this database accepts unquoted as table, column, alias, routine and
    /// variable names (checked by hand on the servers).
    unquoted: &'static [&'static str],
    quotes: &'static [(&'static str, &'static str)],
    templates: &'static [&'static str],
    separators: &'static [&'static str],
}

const MYSQL: Target = Target {
    dialect: Dialect::MySql,
    unquoted: &[
        "event",
        "begin",
        "end",
        "do",
        "atomic",
        "until",
        "handler",
        "delimiter",
        "work",
    ],
    quotes: &[("`", "`")],
    templates: &[
        "CREATE TABLE {a} ({b} INT, {c} INT, x TEXT DEFAULT ';')",
        "INSERT INTO {a} ({b}, x) VALUES (1, 'it''s; \\'quoted;\\'')",
        "SELECT {b} AS {c}, CASE WHEN {b} = 1 THEN 'end;' ELSE 'begin' END AS {d} FROM {a} AS {c}",
        "UPDATE {a} SET {b} = IF({b} > 1, 2, 3) -- trailing; comment\n",
        "CREATE PROCEDURE {c}() BEGIN DECLARE {d} INT DEFAULT 0; WHILE {d} < 2 DO SET {d} = {d} + 1; END WHILE; IF {d} = 2 THEN SELECT {b} FROM {a}; ELSE BEGIN END; END IF; CASE {d} WHEN 1 THEN SELECT 1; ELSE SELECT CASE WHEN {d} THEN 2 END; END CASE; END",
        "CREATE FUNCTION {c}() RETURNS INT DETERMINISTIC BEGIN DECLARE {d} INT DEFAULT 1; REPEAT SET {d} = {d} + 1; UNTIL {d} > 3 END REPEAT; RETURN {d}; END",
        "CREATE TRIGGER {c} BEFORE INSERT ON {a} FOR EACH ROW BEGIN IF NEW.{b} IS NULL THEN SET NEW.{b} = 1; END IF; END",
        "CREATE EVENT {c} ON SCHEDULE EVERY 1 DAY DO BEGIN UPDATE {a} SET {b} = 1; DELETE FROM {a} WHERE {b} = 2; END",
        "CREATE DEFINER = CURRENT_USER PROCEDURE {c}() lbl: LOOP LEAVE lbl; END LOOP lbl",
        "CREATE TRIGGER {c} AFTER UPDATE ON {a} FOR EACH ROW SET @x = NEW.{b}",
        "BEGIN NOT ATOMIC DECLARE {d} INT DEFAULT 0; FOR i IN 1..2 DO SET {d} = {d} + i; END FOR; SELECT {d}; END",
        "CREATE PROCEDURE {c}(IN {d} INT) COMMENT 'x; y' MODIFIES SQL DATA BEGIN DECLARE CONTINUE HANDLER FOR SQLSTATE '23000', NOT FOUND BEGIN SELECT 1; END; INSERT INTO {a} ({b}) VALUES ({d}); END",
    ],
    separators: &[
        ";\n",
        ";",
        " ;\n-- a; comment\n",
        ";\n/* ; */\n",
        ";\n# ; too\n",
    ],
};

const POSTGRES: Target = Target {
    dialect: Dialect::Postgres,
    unquoted: &[
        "event",
        "begin",
        "if",
        "loop",
        "repeat",
        "declare",
        "while",
        "atomic",
        "until",
        "handler",
        "delimiter",
        "work",
    ],
    quotes: &[("\"", "\"")],
    templates: &[
        "CREATE TABLE {a} ({b} int, {c} int, x text DEFAULT ';')",
        "INSERT INTO {a} ({b}, x) VALUES (1, 'it''s; x')",
        "SELECT {b} AS {c}, CASE WHEN {b} = 1 THEN 'end;' ELSE 'begin' END AS {d} FROM {a} AS {c}",
        "UPDATE {a} SET {b} = 2 -- trailing; comment\n",
        "CREATE FUNCTION {c}() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END",
        "CREATE FUNCTION {c}(int) RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql",
        "DO $$ BEGIN PERFORM 1; END $$",
        "CREATE RULE {c} AS ON INSERT TO {a} DO ALSO (SELECT 1; SELECT 2)",
        "SELECT E'a\\'; b' AS {d}, 'c\\' AS {c}",
        "CREATE PROCEDURE {c}() LANGUAGE sql BEGIN ATOMIC INSERT INTO {a} VALUES (1); END",
        "SELECT /* nested /* ; */ ; */ 1 AS {d}",
    ],
    separators: &[";\n", ";", " ;\n-- a; comment\n", ";\n/* ; */\n"],
};

const SQLITE: Target = Target {
    dialect: Dialect::Sqlite,
    unquoted: &[
        "event",
        "begin",
        "end",
        "loop",
        "repeat",
        "declare",
        "while",
        "for",
        "do",
        "atomic",
        "until",
        "handler",
        "delimiter",
        "work",
    ],
    quotes: &[("\"", "\""), ("`", "`"), ("[", "]")],
    templates: &[
        "CREATE TABLE {a} ({b} INT, {c} INT, x TEXT DEFAULT ';')",
        "INSERT INTO {a} ({b}, x) VALUES (1, 'it''s; x')",
        "SELECT {b} AS {c}, CASE WHEN {b} = 1 THEN 'end;' ELSE 'begin' END AS {d} FROM {a} AS {c}",
        "UPDATE {a} SET {b} = 2 -- trailing; comment\n",
        "CREATE TRIGGER {c} AFTER INSERT ON {a} BEGIN UPDATE {a} SET {b} = 1; SELECT CASE WHEN 1 THEN 2 END; END",
        "CREATE TEMP TRIGGER IF NOT EXISTS {c} BEFORE UPDATE OF {b} ON {a} FOR EACH ROW WHEN NEW.{b} > 0 BEGIN DELETE FROM {a} WHERE {b} = 1; END",
        "SELECT [x;y] FROM {a}",
    ],
    separators: &[";\n", ";", " ;\n-- a; comment\n", ";\n/* ; */\n"],
};

impl Target {
    fn name(&self, (word, quoted): (usize, bool), salt: usize) -> String {
        let word = WORDS[word];
        if !quoted && self.unquoted.contains(&word) {
            return word.to_owned();
        }
        let (open, close) = self.quotes[salt % self.quotes.len()];
        format!("{open}{word}{close}")
    }

    /// The revision's text and how many statements it holds.
    fn render(&self, pieces: &[Piece]) -> (String, usize) {
        let mut sql = String::new();
        for (k, p) in pieces.iter().enumerate() {
            let mut stmt = self.templates[p.template % self.templates.len()].to_owned();
            for (slot, name) in ["{a}", "{b}", "{c}", "{d}"].iter().zip(p.names) {
                stmt = stmt.replace(slot, &self.name(name, p.separator + k));
            }
            sql.push_str(&stmt);
            sql.push_str(self.separators[p.separator % self.separators.len()]);
        }
        (sql, pieces.len())
    }
}

fn cases() -> u32 {
    std::env::var("REVCHAIN_SPLIT_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

/// Splits each generated revision and hands every statement to `accepts`, which answers
/// the server's syntax error, if any.
fn campaign(target: &Target, accepts: impl Fn(&str) -> Option<String>) {
    assert!(
        accepts("CREATE TABLE (x").is_some(),
        "the check must recognise the server's syntax errors"
    );
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&pieces(), |pieces| {
        let (sql, expected) = target.render(&pieces);
        let split = split_statements_checked(&sql, target.dialect);
        prop_assert_eq!(split.doubt, None, "{}", sql);
        prop_assert_eq!(
            split.statements.len(),
            expected,
            "{:?}",
            split.statements.iter().map(|s| s.sql).collect::<Vec<_>>()
        );
        for s in &split.statements {
            if let Some(error) = accepts(s.sql) {
                return Err(TestCaseError::fail(format!(
                    "the server's parser refused {:?}: {error}\nrevision:\n{sql}",
                    s.sql
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn postgres_accepts_every_statement_alone() {
    let rt = runtime();
    let db = rt.block_on(TestDb::new(Kind::Postgres));
    let conn = Mutex::new(rt.block_on(sqlx::PgConnection::connect(&db.url)).unwrap());
    campaign(&POSTGRES, |stmt| {
        let mut conn = conn.lock().unwrap();
        rt.block_on(async {
            sqlx::raw_sql("BEGIN").execute(&mut *conn).await.unwrap();
            let result = sqlx::raw_sql(AssertSqlSafe(stmt.to_owned()))
                .execute(&mut *conn)
                .await;
            sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.unwrap();
            match result {
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42601") => {
                    Some(e.message().to_owned())
                }
                _ => None,
            }
        })
    });
}

#[test]
fn mariadb_accepts_every_statement_alone() {
    let rt = runtime();
    let db = rt.block_on(TestDb::new(Kind::MySql));
    let conn = Mutex::new(
        rt.block_on(sqlx::MySqlConnection::connect(&db.url))
            .unwrap(),
    );
    campaign(&MYSQL, |stmt| {
        let mut conn = conn.lock().unwrap();
        let result = rt.block_on(sqlx::raw_sql(AssertSqlSafe(stmt.to_owned())).execute(&mut *conn));
        match result {
            Err(sqlx::Error::Database(e))
                if e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|e| matches!(e.number(), 1064 | 1065)) =>
            {
                Some(e.message().to_owned())
            }
            _ => None,
        }
    });
}

#[test]
fn sqlite_accepts_every_statement_alone() {
    let rt = runtime();
    campaign(&SQLITE, |stmt| {
        rt.block_on(async {
            let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
                .await
                .unwrap();
            match sqlx::raw_sql(AssertSqlSafe(stmt.to_owned()))
                .execute(&mut conn)
                .await
            {
                Err(sqlx::Error::Database(e))
                    if ["syntax error", "incomplete input", "unrecognized token"]
                        .iter()
                        .any(|m| e.message().contains(m)) =>
                {
                    Some(e.message().to_owned())
                }
                _ => None,
            }
        })
    });
}
