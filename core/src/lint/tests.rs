//! One test per rule: it fires on the unsafe form and not on the safe one; suppression per
//! line and per file; an allow without a reason.

use super::*;
use crate::parse::parse;

/// A revision `a1` with extra header lines and this upgrade SQL, with a downgrade.
fn rev(header: &str, up: &str) -> RevisionFile {
    let text = format!(
        "-- m\n-- Revision ID: a1\n{header}-- migrate:upgrade\n{up}\n-- migrate:downgrade\nSELECT 1;\n"
    );
    parse("m/a1.sql", &text).unwrap()
}

/// The rule ids found in `up` (the revision has a lock timeout unless `header` says more).
fn pg(up: &str) -> Vec<&'static str> {
    ids(&rev("-- Lock Timeout: 2s\n", up), Dialect::Postgres)
}

fn ids(file: &RevisionFile, dialect: Dialect) -> Vec<&'static str> {
    Linter::new(dialect)
        .revision(file)
        .iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn index_not_concurrent() {
    assert_eq!(
        pg("CREATE INDEX i ON users (email);"),
        ["index-not-concurrent"]
    );
    assert_eq!(
        pg("CREATE UNIQUE INDEX IF NOT EXISTS i ON public.users (email);"),
        ["index-not-concurrent"]
    );
    assert!(pg("CREATE TABLE users (id INT);\nCREATE INDEX i ON users (id);").is_empty());
    let safe = rev(
        "-- Transactional: false\n",
        "CREATE INDEX CONCURRENTLY i ON users (email);",
    );
    assert!(ids(&safe, Dialect::Postgres).is_empty());
}

#[test]
fn concurrent_in_transaction() {
    let mut file = rev(
        "-- Transactional: false\n",
        "CREATE INDEX CONCURRENTLY i ON users (email);",
    );
    assert!(ids(&file, Dialect::Postgres).is_empty());
    // The parser refuses this file; a revision built another way may still hold it.
    file.transactional = true;
    assert_eq!(ids(&file, Dialect::Postgres), ["concurrent-in-transaction"]);
}

#[test]
fn volatile_default() {
    assert_eq!(
        pg("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();"),
        ["volatile-default"]
    );
    assert_eq!(
        pg("ALTER TABLE t ADD COLUMN c float8 NOT NULL DEFAULT random();"),
        ["volatile-default"]
    );
    assert_eq!(pg("ALTER TABLE t ADD c bigserial;"), ["volatile-default"]);
    assert!(pg("ALTER TABLE t ADD COLUMN c timestamptz NOT NULL DEFAULT now();").is_empty());
    assert!(pg("ALTER TABLE t ADD COLUMN c int DEFAULT 0;").is_empty());
    assert!(
        pg("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();")
            .is_empty()
    );
}

#[test]
fn column_type_rewrite() {
    assert_eq!(
        pg("ALTER TABLE t ALTER COLUMN c TYPE bigint;"),
        ["column-type-rewrite"]
    );
    assert_eq!(
        pg("ALTER TABLE t ALTER c SET DATA TYPE varchar(10);"),
        ["column-type-rewrite"]
    );
    assert!(pg("ALTER TABLE t ALTER COLUMN c TYPE text;").is_empty());
    // The earlier revision's CREATE TABLE tells the old type.
    let mut linter = Linter::new(Dialect::Postgres);
    let create = rev("", "CREATE TABLE t (c varchar(20) NOT NULL, n integer);");
    assert!(linter.revision(&create).is_empty());
    let widen = rev(
        "-- Lock Timeout: 1s\n",
        "ALTER TABLE t ALTER COLUMN c TYPE character varying(40);",
    );
    assert!(linter.revision(&widen).is_empty());
    let narrow = rev(
        "-- Lock Timeout: 1s\n",
        "ALTER TABLE t ALTER COLUMN c TYPE varchar(10);",
    );
    let found = linter.revision(&narrow);
    assert_eq!(found[0].rule, "column-type-rewrite");
    assert!(
        found[0].message.contains("from varchar(40) to varchar(10)"),
        "{}",
        found[0].message
    );
    let int_to_text = rev(
        "-- Lock Timeout: 1s\n",
        "ALTER TABLE t ALTER COLUMN n TYPE text;",
    );
    assert_eq!(ids(&int_to_text, Dialect::Postgres), Vec::<&str>::new());
    assert_eq!(linter.revision(&int_to_text)[0].rule, "column-type-rewrite");
}

#[test]
fn constraint_not_valid() {
    assert_eq!(
        pg("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);"),
        ["constraint-not-valid"]
    );
    assert_eq!(
        pg("ALTER TABLE t ADD CHECK (n > 0);"),
        ["constraint-not-valid"]
    );
    assert!(pg("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT fk;").is_empty());
}

#[test]
fn a_new_column_with_references_validates_at_once() {
    assert_eq!(
        pg("ALTER TABLE t ADD COLUMN u int REFERENCES users ON DELETE CASCADE;"),
        ["constraint-not-valid"]
    );
    assert!(
        pg("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN u int REFERENCES users;").is_empty()
    );
}

#[test]
fn set_not_null() {
    assert_eq!(
        pg("ALTER TABLE t ALTER COLUMN c SET NOT NULL;"),
        ["set-not-null"]
    );
    let safe = "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n\
                ALTER TABLE t VALIDATE CONSTRAINT c_nn;\n\
                ALTER TABLE t ALTER COLUMN c SET NOT NULL;";
    assert!(pg(safe).is_empty());
    // Not validated yet: the check does not prove it.
    let unvalidated = "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n\
                       ALTER TABLE t ALTER COLUMN c SET NOT NULL;";
    assert_eq!(pg(unvalidated), ["set-not-null"]);
}

#[test]
fn unique_without_index() {
    assert_eq!(
        pg("ALTER TABLE t ADD PRIMARY KEY (id);"),
        ["unique-without-index"]
    );
    assert_eq!(
        pg("ALTER TABLE t ADD CONSTRAINT u UNIQUE (email);"),
        ["unique-without-index"]
    );
    assert!(pg("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i;").is_empty());
    assert_eq!(
        pg("ALTER TABLE t ADD COLUMN c text UNIQUE;"),
        ["unique-without-index"]
    );
    assert!(pg("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN c text UNIQUE;").is_empty());
}

#[test]
fn drop_and_rename() {
    assert_eq!(pg("ALTER TABLE t DROP COLUMN c;"), ["drop-column-or-table"]);
    assert_eq!(pg("DROP TABLE IF EXISTS t;"), ["drop-column-or-table"]);
    assert_eq!(
        pg("ALTER TABLE t RENAME COLUMN a TO b;"),
        ["rename-column-or-table"]
    );
    assert_eq!(pg("ALTER TABLE t RENAME TO u;"), ["rename-column-or-table"]);
    assert!(
        pg("ALTER TABLE t DROP CONSTRAINT c;\nALTER TABLE t ALTER COLUMN c DROP DEFAULT;")
            .is_empty()
    );
    assert!(pg("CREATE TABLE x (id int);\nDROP TABLE x;").is_empty());
    // On every database.
    let file = rev("", "ALTER TABLE t DROP COLUMN c;");
    assert_eq!(ids(&file, Dialect::Sqlite), ["drop-column-or-table"]);
}

#[test]
fn a_contract_revision_may_drop_and_rename() {
    let up = "ALTER TABLE t DROP COLUMN c;\nALTER TABLE t RENAME COLUMN a TO b;";
    let contract = rev("-- Phase: contract\n", up);
    assert!(ids(&contract, Dialect::Sqlite).is_empty());
    let expand = rev("-- Phase: expand\n", up);
    let found = Linter::new(Dialect::Sqlite).revision(&expand);
    assert_eq!(
        found.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["drop-column-or-table", "rename-column-or-table"]
    );
    assert!(
        found
            .iter()
            .all(|f| f.to_string().contains("-- Phase: contract"))
    );
}

#[test]
fn missing_lock_timeout() {
    let file = rev("", "ALTER TABLE t ALTER COLUMN c DROP DEFAULT;");
    assert_eq!(ids(&file, Dialect::Postgres), ["missing-lock-timeout"]);
    assert_eq!(
        ids(&rev("", "TRUNCATE t;"), Dialect::Postgres),
        ["missing-lock-timeout"]
    );
    assert_eq!(
        ids(&rev("", "LOCK TABLE t;"), Dialect::Postgres),
        ["missing-lock-timeout"]
    );
    assert!(ids(&rev("", "LOCK TABLE t IN SHARE MODE;"), Dialect::Postgres).is_empty());
    assert!(
        ids(
            &rev(
                "",
                "CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN c int;"
            ),
            Dialect::Postgres
        )
        .is_empty()
    );
    assert!(pg("ALTER TABLE t ALTER COLUMN c DROP DEFAULT;").is_empty());
}

#[test]
fn ddl_with_bulk_dml() {
    assert_eq!(
        pg("ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = 1;"),
        ["ddl-with-bulk-dml"]
    );
    assert_eq!(
        pg("ALTER TABLE t ADD COLUMN c int;\nINSERT INTO u SELECT * FROM t;"),
        ["ddl-with-bulk-dml"]
    );
    assert!(pg("ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = 1 WHERE id = 2;").is_empty());
    assert!(pg("UPDATE t SET c = 1;").is_empty());
}

#[test]
fn mysql_rules() {
    let my = |up: &str| ids(&rev("", up), Dialect::MySql);
    assert_eq!(
        my("ALTER TABLE t ADD COLUMN c INT;"),
        ["mysql-alter-without-algorithm"]
    );
    assert_eq!(
        my("CREATE INDEX i ON t (c);"),
        ["mysql-alter-without-algorithm"]
    );
    assert_eq!(
        my("ALTER TABLE t MODIFY c BIGINT, ALGORITHM=COPY;"),
        ["mysql-alter-without-algorithm"]
    );
    assert!(my("ALTER TABLE t ADD COLUMN c INT, ALGORITHM=INSTANT;").is_empty());
    assert!(my("ALTER TABLE t ADD INDEX i (c), ALGORITHM=INPLACE, LOCK=NONE;").is_empty());
    assert!(my("CREATE TABLE t (id INT);\nALTER TABLE t ADD COLUMN c INT;").is_empty());
    assert_eq!(
        my("CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);"),
        ["mysql-ddl-with-dml"]
    );
    assert!(my("INSERT INTO t VALUES (1);").is_empty());
    // PostgreSQL rules do not apply.
    assert!(my("ALTER TABLE t ALTER COLUMN c SET DEFAULT 1, ALGORITHM=INSTANT;").is_empty());
}

#[test]
fn missing_downgrade() {
    let file = parse(
        "m/a1.sql",
        "-- m\n-- Revision ID: a1\n-- migrate:upgrade\nSELECT 1;\n",
    )
    .unwrap();
    let found = Linter::new(Dialect::Sqlite).revision(&file);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].rule, found[0].severity, found[0].line),
        ("missing-downgrade", Severity::Warning, 2)
    );
}

#[test]
fn a_finding_has_its_place_message_and_rewrite() {
    let file = rev(
        "-- Lock Timeout: 1s\n",
        "SELECT 1;\n  ALTER TABLE t\n    ADD COLUMN c uuid DEFAULT gen_random_uuid();",
    );
    let found = Linter::new(Dialect::Postgres).revision(&file);
    let f = &found[0];
    // Header: 3 lines, the marker on 4, the SQL from 5; `gen_random_uuid` on line 7 column 31.
    assert_eq!((f.line, f.column), (7, 31));
    assert_eq!((f.path.as_str(), f.revision.as_str()), ("m/a1.sql", "a1"));
    assert_eq!(f.rewrite, rules::VOLATILE_DEFAULT.rewrite);
    assert!(
        f.to_string()
            .starts_with("m/a1.sql:7:31: error [volatile-default]"),
        "{f}"
    );
}

#[test]
fn an_allow_on_the_line_or_the_line_above_silences_its_statement() {
    let above =
        "-- revchain:allow index-not-concurrent the table has ten rows\nCREATE INDEX i ON t (c);";
    assert!(pg(above).is_empty());
    let same = "CREATE INDEX i ON t (c); -- revchain:allow index-not-concurrent tiny table";
    assert!(pg(same).is_empty());
    // Another rule, or another statement, is not silenced.
    let other = "-- revchain:allow set-not-null tiny table\nCREATE INDEX i ON t (c);";
    assert_eq!(pg(other), ["index-not-concurrent"]);
    let far = "-- revchain:allow index-not-concurrent tiny\nSELECT 1;\nCREATE INDEX i ON t (c);";
    assert_eq!(pg(far), ["index-not-concurrent"]);
}

#[test]
fn an_allow_in_the_header_silences_the_file() {
    let file = rev(
        "-- Lock Timeout: 1s\n-- revchain:allow index-not-concurrent lookup tables are small\n",
        "CREATE INDEX i ON t (c);\nCREATE INDEX j ON u (c);",
    );
    assert!(ids(&file, Dialect::Postgres).is_empty());
}

#[test]
fn an_allow_without_a_reason_is_a_finding_and_silences_nothing() {
    let found = Linter::new(Dialect::Postgres).revision(&rev(
        "-- Lock Timeout: 1s\n",
        "-- revchain:allow index-not-concurrent\nCREATE INDEX i ON t (c);",
    ));
    let rules: Vec<_> = found.iter().map(|f| (f.rule, f.line, f.column)).collect();
    assert_eq!(
        rules,
        [
            ("allow-without-reason", 5, 1),
            ("index-not-concurrent", 6, 1)
        ]
    );
    let header = rev("-- revchain:allow drop-column-or-table\n", "SELECT 1;");
    assert_eq!(ids(&header, Dialect::Postgres), ["allow-without-reason"]);
    let unknown = rev("-- revchain:allow no-such-rule because\n", "SELECT 1;");
    assert_eq!(ids(&unknown, Dialect::Postgres), ["allow-unknown-rule"]);
}

#[test]
fn words_in_strings_and_comments_are_not_statements() {
    assert!(pg("SELECT 'CREATE INDEX i ON t (c)';\n-- DROP TABLE t;\nCOMMENT ON TABLE t IS 'DROP TABLE t';").is_empty());
}

#[test]
fn every_rule_id_is_unique_and_documented() {
    let ids: HashSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), RULES.len());
    let doc = include_str!("../../../docs/lint.md");
    for r in &RULES {
        assert!(
            doc.contains(&format!("`{}`", r.id)),
            "docs/lint.md lacks {}",
            r.id
        );
    }
}
