//! The test kit (issue 21): `revchain::testing::TestDatabase` clones a template migrated
//! once per chain digest, on PostgreSQL, MariaDB and SQLite; test databases are independent
//! and gone afterwards, also after a panic; a changed migration set gets a new template;
//! parallel processes build a template once; `stairway` names a broken downgrade.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use revchain::testing::{RoundtripError, TestDatabase, stairway};
use revchain::{Migrations, Migrator};
use revchain_tests::{Dir, Kind, exec, scalar, server_url, unique_name};

/// The server URL `TestDatabase` gets for `kind` (SQLite: any `sqlite:` URL).
fn server(kind: Kind) -> String {
    match kind {
        Kind::Sqlite => "sqlite://test".to_owned(),
        other => server_url(other),
    }
}

/// Two revisions of a migration set of its own (a fresh digest: a unique row): a table
/// with a view, then a row.
fn history() -> Dir {
    let d = Dir::new();
    let tag = unique_name("run");
    d.rev(
        "a1",
        "",
        "",
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(60));\nCREATE VIEW item_names AS SELECT name FROM items;",
        Some("DROP VIEW item_names;\nDROP TABLE items;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        &format!("INSERT INTO items (id, name) VALUES (1, '{tag}');"),
        Some("DELETE FROM items;"),
    );
    d
}

/// The heads the test database is at, and its number of rows in `items`.
async fn state(db: &TestDatabase, m: &Migrations) -> (Vec<String>, i64) {
    let count = "SELECT COUNT(*) FROM items";
    let (heads, n) = match (db.pg_pool(), db.mysql_pool(), db.sqlite_pool()) {
        (Some(p), _, _) => (Migrator::new(m).current(p).await, scalar(p, count).await),
        (_, Some(p), _) => (Migrator::new(m).current(p).await, scalar(p, count).await),
        (_, _, Some(p)) => (Migrator::new(m).current(p).await, scalar(p, count).await),
        _ => panic!("no pool"),
    };
    let heads = heads
        .expect("the heads")
        .into_iter()
        .map(|h| h.id)
        .collect();
    (heads, n)
}

async fn insert(db: &TestDatabase) {
    let sql = "INSERT INTO items (id, name) VALUES (2, 'only here')";
    match (db.pg_pool(), db.mysql_pool(), db.sqlite_pool()) {
        (Some(p), _, _) => exec(p, sql).await,
        (_, Some(p), _) => exec(p, sql).await,
        (_, _, Some(p)) => exec(p, sql).await,
        _ => panic!("no pool"),
    }
}

/// Drops a template this test built (its digest is unique to the test).
async fn drop_template(kind: Kind, template: &str) {
    match kind {
        Kind::Sqlite => {
            let dir = std::env::temp_dir();
            let _ = std::fs::remove_file(dir.join(format!("{template}.db")));
            let _ = std::fs::remove_file(dir.join(format!("{template}.lock")));
        }
        _ => revchain_tests::admin(kind, &format!("DROP DATABASE IF EXISTS {template}")).await,
    }
}

/// Whether test database (or template) `name` exists on the server of `kind`.
async fn exists(kind: Kind, name: &str) -> bool {
    use sqlx::Connection;
    match kind {
        Kind::Sqlite => std::env::temp_dir().join(name).exists(),
        Kind::Postgres => {
            let url = format!("{}/postgres", server_url(kind));
            let mut c = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut c)
                .await
                .expect("pg_database")
                > 0
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&server_url(kind))
                .await
                .expect("MariaDB");
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            )
            .bind(name)
            .fetch_one(&mut c)
            .await
            .expect("SCHEMATA")
                > 0
        }
    }
}

async fn clones_are_at_head_independent_and_dropped(kind: Kind) {
    let d = history();
    let m = d.load();
    let first = TestDatabase::on(&server(kind), &m).await.expect("first");
    assert!(first.cost().template_built.is_some(), "{kind:?}: {first:?}");
    let second = TestDatabase::on(&server(kind), &m).await.expect("second");
    // The template is reused: the second one did not migrate.
    assert_eq!(second.cost().template_built, None, "{kind:?}: {second:?}");
    assert_eq!(first.template(), second.template());
    assert_ne!(first.name(), second.name());
    for db in [&first, &second] {
        assert_eq!(state(db, &m).await, (vec!["b2".to_owned()], 1), "{kind:?}");
    }
    insert(&first).await;
    assert_eq!(state(&first, &m).await.1, 2, "{kind:?}");
    assert_eq!(state(&second, &m).await.1, 1, "{kind:?}: not independent");
    let names = [first.name().to_owned(), second.name().to_owned()];
    let template = first.template().to_owned();
    assert!(exists(kind, &names[0]).await, "{kind:?}");
    first.close().await;
    drop(second);
    for n in &names {
        assert!(!exists(kind, n).await, "{kind:?}: {n} was left behind");
    }
    drop_template(kind, &template).await;
}

#[tokio::test]
async fn clones_are_at_head_independent_and_dropped_on_postgres() {
    clones_are_at_head_independent_and_dropped(Kind::Postgres).await;
}

#[tokio::test]
async fn clones_are_at_head_independent_and_dropped_on_mariadb() {
    clones_are_at_head_independent_and_dropped(Kind::MySql).await;
}

#[tokio::test]
async fn clones_are_at_head_independent_and_dropped_on_sqlite() {
    clones_are_at_head_independent_and_dropped(Kind::Sqlite).await;
}

/// A test that panics with its database open (in a task of this current-thread runtime,
/// as `#[tokio::test]` runs it) leaves no database behind.
#[tokio::test]
async fn a_panicking_test_leaves_no_database_behind() {
    for kind in Kind::ALL {
        let d = history();
        let m = Arc::new(d.load());
        let seen = Arc::new(Mutex::new(String::new()));
        let (m2, seen2) = (m.clone(), seen.clone());
        let task = tokio::spawn(async move {
            let db = TestDatabase::on(&server(kind), &m2).await.expect("created");
            *seen2.lock().unwrap() = format!("{} {}", db.name(), db.template());
            panic!("the test fails with its database open");
        });
        assert!(task.await.unwrap_err().is_panic());
        let seen = seen.lock().unwrap().clone();
        let (name, template) = seen.split_once(' ').unwrap_or_default();
        assert!(name.starts_with("revchain_test_"), "{name}");
        assert!(
            !exists(kind, name).await,
            "{kind:?}: {name} was left behind"
        );
        drop_template(kind, template).await;
    }
}

/// Another migration set (one revision more) gets a new template, built on first use.
#[tokio::test]
async fn a_changed_migration_set_gets_a_new_template() {
    for kind in Kind::ALL {
        let d = history();
        let before = TestDatabase::on(&server(kind), &d.load()).await.unwrap();
        d.creates_table("c3", "b2", "extra");
        let m = d.load();
        let after = TestDatabase::on(&server(kind), &m).await.unwrap();
        assert_ne!(before.template(), after.template(), "{kind:?}");
        assert!(after.cost().template_built.is_some(), "{kind:?}");
        assert_eq!(state(&after, &m).await.0, ["c3"], "{kind:?}");
        assert!(exists(kind, &template_object(kind, before.template())).await);
        for t in [before.template(), after.template()] {
            drop_template(kind, t).await;
        }
    }
}

/// The server object of a template: a database, or for SQLite a file.
fn template_object(kind: Kind, template: &str) -> String {
    match kind {
        Kind::Sqlite => format!("{template}.db"),
        _ => template.to_owned(),
    }
}

/// Processes started at the same moment on a fresh digest: exactly one builds the
/// template, all get a database at the heads.
#[tokio::test]
async fn parallel_processes_build_a_template_once() {
    const N: usize = 6;
    for kind in Kind::ALL {
        let d = history();
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 1500;
        let children: Vec<_> = (0..N)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_testkit_worker"))
                    .args([
                        &server(kind),
                        &d.path().display().to_string(),
                        &start.to_string(),
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("starting testkit_worker")
            })
            .collect();
        let (mut built, mut template) = (0, String::new());
        for c in children {
            let out = c.wait_with_output().expect("testkit_worker");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{kind:?}: {stdout}{stderr}");
            built += usize::from(stdout.starts_with("built "));
            let name = stdout.split_whitespace().nth(1).unwrap_or_default();
            assert!(
                !exists(kind, name).await,
                "{kind:?}: {name} was left behind"
            );
            template = stdout
                .split_whitespace()
                .nth(2)
                .unwrap_or_default()
                .to_owned();
        }
        assert_eq!(built, 1, "{kind:?}: {built} processes built the template");
        drop_template(kind, &template).await;
    }
}

/// `stairway` on a revision whose downgrade fails, and on one whose downgrade leaves a
/// table behind: the error names the revision and its file.
#[tokio::test]
async fn stairway_names_the_revision_with_a_broken_downgrade() {
    for kind in Kind::ALL {
        let d = Dir::new();
        d.creates_table("a1", "", "t1").rev(
            "b2",
            "a1",
            "",
            "CREATE TABLE t2 (id INT);",
            Some("DROP TABLE no_such_table;"),
        );
        let err = stairway(&server(kind), &d.load()).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("b2_rev.sql") && text.contains("b2"),
            "{kind:?}: {text}"
        );
        assert!(
            matches!(err, RoundtripError::Failed { .. }),
            "{kind:?}: {text}"
        );

        let d = Dir::new();
        d.creates_table("a1", "", "t1").rev(
            "b2",
            "a1",
            "",
            "CREATE TABLE t2 (id INT);\nCREATE TABLE t3 (id INT);",
            Some("DROP TABLE t2;"),
        );
        match stairway(&server(kind), &d.load()).await.unwrap_err() {
            RoundtripError::NotReversible {
                id, differences, ..
            } => {
                assert_eq!(id, "b2");
                assert_eq!(differences, ["added table t3"], "{kind:?}");
            }
            other => panic!("{kind:?}: {other}"),
        }
        stairway(
            &server(kind),
            &Dir::new().creates_table("a1", "", "t1").load(),
        )
        .await
        .expect("a good history passes");
    }
}

/// MariaDB has no clone: the copy keeps foreign keys, generated columns, defaults,
/// triggers, views over views, routines and the bookkeeping rows.
#[tokio::test]
async fn mariadb_copy_keeps_every_kind_of_object() {
    let d = history();
    d.rev(
        "c3",
        "b2",
        "",
        "CREATE TABLE owners (id INT PRIMARY KEY AUTO_INCREMENT, item INT NOT NULL, \
           doubled INT AS (item * 2) VIRTUAL, since TIMESTAMP DEFAULT CURRENT_TIMESTAMP, \
           FOREIGN KEY (item) REFERENCES items (id));\n\
         CREATE VIEW owner_items AS SELECT o.id, i.name FROM owners o JOIN items i ON i.id = o.item;\n\
         CREATE VIEW a_view_of_a_view AS SELECT name FROM owner_items;\n\
         CREATE TRIGGER owners_name BEFORE INSERT ON owners FOR EACH ROW BEGIN\n\
           IF NEW.item < 0 THEN SET NEW.item = 1; END IF;\n\
         END;\n\
         CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;\n\
         INSERT INTO owners (item) VALUES (1);",
        None,
    );
    let m = d.load();
    let url = server(Kind::MySql);
    let _template = TestDatabase::on(&url, &m).await.unwrap();
    let db = TestDatabase::on(&url, &m).await.unwrap();
    assert_eq!(db.cost().template_built, None);
    let p = db.mysql_pool().unwrap();
    assert_eq!(
        scalar(p, "SELECT doubled FROM owners WHERE id = 1").await,
        2
    );
    assert_eq!(scalar(p, "SELECT COUNT(*) FROM a_view_of_a_view").await, 1);
    assert_eq!(scalar(p, "SELECT twice(21)").await, 42);
    exec(p, "INSERT INTO owners (item) VALUES (-5)").await;
    assert_eq!(
        scalar(p, "SELECT item FROM owners WHERE id = 2").await,
        1,
        "trigger"
    );
    let fk = sqlx::raw_sql(sqlx::AssertSqlSafe(
        "INSERT INTO owners (item) VALUES (99)".to_owned(),
    ))
    .execute(p)
    .await;
    assert!(fk.is_err(), "the foreign key was not copied");
    assert_eq!(
        scalar(p, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'revchain_template_complete'").await,
        0
    );
    assert_eq!(state(&db, &m).await.0, ["c3"]);
    drop_template(Kind::MySql, db.template()).await;
}
