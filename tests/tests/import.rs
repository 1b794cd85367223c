//! `revchain import --from TOOL`: each file-based tool's migrations directory, written here
//! in that tool's own format, converted by the `revchain` binary, then applied up to head
//! and down to base on real databases; and the refusals, each naming the file (and line),
//! exiting non-zero and writing nothing.

use std::path::Path;
use std::process::Output;

use revchain_tests::{Cli, Kind, TestDb};

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

fn revchain(dir: &Path, args: &[&str]) -> Output {
    CLI.run(dir, args)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    CLI.ok(dir, args)
}

/// Writes `files` (paths relative to the directory, `/` making subdirectories).
fn source(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

const USERS: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL);\n";
const POSTS: &str = "CREATE TABLE posts (\n    id INTEGER PRIMARY KEY,\n    user_id INTEGER NOT NULL REFERENCES users (id),\n    body TEXT\n);\nCREATE INDEX posts_user ON posts (user_id);\n";
const NOTE: &str = "-- This migration was emptied when the feature was dropped.\n-- Kept so that the history stays as applied.\n";
const SEED: &str = "INSERT INTO users (id, email) VALUES (1, 'a@example.com');\n";

/// A small history in `tool`'s format: users, posts, a migration of comments only, a
/// seed row run outside a transaction where the tool can say so; with down migrations
/// where the tool has them.
fn history(tool: &str) -> Vec<(String, String)> {
    let f = |n: &str, t: &str| (n.to_owned(), t.to_owned());
    match tool {
        "sqlx" => vec![
            f("20240101120000_create_users.up.sql", USERS),
            f(
                "20240101120000_create_users.down.sql",
                "DROP TABLE users;\n",
            ),
            f("20240102120000_create_posts.up.sql", POSTS),
            f(
                "20240102120000_create_posts.down.sql",
                "DROP TABLE posts;\n",
            ),
            f("20240103120000_dropped_feature.up.sql", NOTE),
            f(
                "20240103120000_dropped_feature.down.sql",
                "-- nothing to undo\n",
            ),
            f(
                "20240104120000_seed.up.sql",
                &format!("-- no-transaction\n{SEED}"),
            ),
            f(
                "20240104120000_seed.down.sql",
                "-- no-transaction\nDELETE FROM users WHERE id = 1;\n",
            ),
        ],
        "diesel" => vec![
            f("2024-01-01-120000_create_users/up.sql", USERS),
            f(
                "2024-01-01-120000_create_users/down.sql",
                "DROP TABLE users;\n",
            ),
            f("2024-01-02-120000_create_posts/up.sql", POSTS),
            f(
                "2024-01-02-120000_create_posts/down.sql",
                "DROP TABLE posts;\n",
            ),
            f("2024-01-03-120000_dropped_feature/up.sql", NOTE),
            f(
                "2024-01-03-120000_dropped_feature/down.sql",
                "-- nothing to undo\n",
            ),
            f("2024-01-04-120000_seed/up.sql", SEED),
            f(
                "2024-01-04-120000_seed/down.sql",
                "DELETE FROM users WHERE id = 1;\n",
            ),
            f(
                "2024-01-04-120000_seed/metadata.toml",
                "run_in_transaction = false\n",
            ),
            f(".keep", ""),
        ],
        "refinery" => vec![
            f("V1__create_users.sql", USERS),
            f("V2__create_posts.sql", POSTS),
            f("V3__dropped_feature.sql", NOTE),
            f("U4__seed.sql", SEED),
        ],
        "dbmate" => vec![
            f(
                "20240101120000_create_users.sql",
                &format!("-- migrate:up\n{USERS}\n-- migrate:down\nDROP TABLE users;\n"),
            ),
            f(
                "20240102120000_create_posts.sql",
                &format!("-- migrate:up\n{POSTS}\n-- migrate:down\nDROP TABLE posts;\n"),
            ),
            f(
                "20240103120000_dropped_feature.sql",
                &format!("-- migrate:up\n{NOTE}\n-- migrate:down\n"),
            ),
            f(
                "20240104120000_seed.sql",
                &format!(
                    "-- migrate:up transaction:false\n{SEED}\n-- migrate:down transaction:false\nDELETE FROM users WHERE id = 1;\n"
                ),
            ),
        ],
        "golang-migrate" => vec![
            f("000001_create_users.up.sql", USERS),
            f("000001_create_users.down.sql", "DROP TABLE users;\n"),
            f("000002_create_posts.up.sql", POSTS),
            f("000002_create_posts.down.sql", "DROP TABLE posts;\n"),
            f("000003_dropped_feature.up.sql", NOTE),
            f("000003_dropped_feature.down.sql", ""),
            f("000004_seed.up.sql", &format!("BEGIN;\n{SEED}COMMIT;\n")),
            f("000004_seed.down.sql", "DELETE FROM users WHERE id = 1;\n"),
        ],
        "goose" => vec![
            f(
                "20240101120000_create_users.sql",
                &format!("-- +goose Up\n{USERS}\n-- +goose Down\nDROP TABLE users;\n"),
            ),
            f(
                "20240102120000_create_posts.sql",
                &format!(
                    "-- +goose Up\n-- +goose StatementBegin\n{POSTS}-- +goose StatementEnd\n\n-- +goose Down\nDROP TABLE posts;\n"
                ),
            ),
            f(
                "20240103120000_dropped_feature.sql",
                &format!("-- +goose Up\n{NOTE}\n-- +goose Down\n"),
            ),
            f(
                "20240104120000_seed.sql",
                &format!(
                    "-- +goose NO TRANSACTION\n-- +goose Up\n{SEED}\n-- +goose Down\nDELETE FROM users WHERE id = 1;\n"
                ),
            ),
        ],
        "flyway" => vec![
            f("V1__create_users.sql", USERS),
            f("U1__create_users.sql", "DROP TABLE users;\n"),
            f("V1_1__create_posts.sql", POSTS),
            f("U1_1__create_posts.sql", "DROP TABLE posts;\n"),
            f("V1_2__dropped_feature.sql", NOTE),
            f("U1_2__dropped_feature.sql", "-- nothing to undo\n"),
            f("V2__seed.sql", SEED),
            f("U2__seed.sql", "DELETE FROM users WHERE id = 1;\n"),
        ],
        other => panic!("no history for {other}"),
    }
}

/// The revision ids the import must give, in order.
fn ids(tool: &str) -> [&'static str; 4] {
    match tool {
        "sqlx" | "dbmate" | "goose" | "diesel" => [
            "20240101120000",
            "20240102120000",
            "20240103120000",
            "20240104120000",
        ],
        "refinery" | "golang-migrate" => ["1", "2", "3", "4"],
        "flyway" => ["1", "1_1", "1_2", "2"],
        other => panic!("no ids for {other}"),
    }
}

/// The user tables of the database (revchain's own left out), sorted.
async fn tables(db: &TestDb) -> Vec<String> {
    let sql = match db.kind {
        Kind::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"
        }
        Kind::MySql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()"
        }
        Kind::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    let mut names: Vec<String> = match db.kind {
        Kind::Postgres => {
            sqlx::query_scalar(sql)
                .fetch_all(&db.pool::<sqlx::Postgres>().await)
                .await
        }
        Kind::MySql => {
            sqlx::query_scalar(sql)
                .fetch_all(&db.pool::<sqlx::MySql>().await)
                .await
        }
        Kind::Sqlite => {
            sqlx::query_scalar(sql)
                .fetch_all(&db.pool::<sqlx::Sqlite>().await)
                .await
        }
    }
    .expect("listing the tables");
    names.retain(|n| !n.starts_with("revchain_") && !n.starts_with("sqlite_"));
    names.sort();
    names
}

/// Imports `tool`'s history and checks the files; returns the migrations directory.
fn import(tool: &str) -> tempfile::TempDir {
    let files = history(tool);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let src = source(&refs);
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("migrations");
    let out = ok(
        &dir,
        &["import", "--from", tool, src.path().to_str().unwrap()],
    );
    assert!(
        out.starts_with(&format!("Imported 4 {tool} migration(s) from ")),
        "{out}"
    );
    let ids = ids(tool);
    assert_eq!(ok(&dir, &["heads"]), format!("{} (head)\n", ids[3]));
    let history = ok(&dir, &["history"]);
    let first = format!("<base> -> {}, create users\n", ids[0]);
    assert!(history.ends_with(&first), "{history}");
    let seed = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&format!("{}_", ids[3]))
        })
        .expect("the seed revision");
    let text = std::fs::read_to_string(seed).unwrap();
    assert!(text.contains("\n-- imported from "), "{text}");
    assert_eq!(
        text.contains("-- Transactional: false\n"),
        tool != "refinery" && tool != "flyway",
        "{text}"
    );
    // The source is read, never changed.
    for (name, text) in &files {
        assert_eq!(
            &std::fs::read_to_string(src.path().join(name)).unwrap(),
            text
        );
    }
    target
}

async fn up_and_down(tool: &str, kind: Kind) {
    let target = import(tool);
    let dir = target.path().join("migrations");
    let db = TestDb::new(kind).await;
    let url = db.url.as_str();
    ok(&dir, &["upgrade", "head", "--database-url", url]);
    assert_eq!(tables(&db).await, ["posts", "users"], "{tool} on {kind:?}");
    assert_eq!(
        ok(&dir, &["current", "--database-url", url]),
        format!("{} (head)\n", ids(tool)[3])
    );
    let down = revchain(&dir, &["downgrade", "base", "--database-url", url]);
    if tool == "refinery" {
        // refinery has no down migrations: the revisions are irreversible.
        assert!(!down.status.success());
        assert!(String::from_utf8_lossy(&down.stderr).contains("irreversible"));
        return;
    }
    assert!(
        down.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(tables(&db).await.is_empty(), "{tool} on {kind:?}");
}

macro_rules! up_and_down_tests {
    ($($name:ident: $tool:literal, $kind:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            up_and_down($tool, $kind).await;
        }
    )*};
}

up_and_down_tests! {
    sqlx_on_sqlite: "sqlx", Kind::Sqlite;
    sqlx_on_postgres: "sqlx", Kind::Postgres;
    sqlx_on_mariadb: "sqlx", Kind::MySql;
    diesel_on_sqlite: "diesel", Kind::Sqlite;
    diesel_on_postgres: "diesel", Kind::Postgres;
    refinery_on_sqlite: "refinery", Kind::Sqlite;
    refinery_on_postgres: "refinery", Kind::Postgres;
    dbmate_on_sqlite: "dbmate", Kind::Sqlite;
    dbmate_on_postgres: "dbmate", Kind::Postgres;
    golang_migrate_on_sqlite: "golang-migrate", Kind::Sqlite;
    golang_migrate_on_postgres: "golang-migrate", Kind::Postgres;
    golang_migrate_on_mariadb: "golang-migrate", Kind::MySql;
    goose_on_sqlite: "goose", Kind::Sqlite;
    goose_on_postgres: "goose", Kind::Postgres;
    flyway_on_sqlite: "flyway", Kind::Sqlite;
    flyway_on_postgres: "flyway", Kind::Postgres;
    flyway_on_mariadb: "flyway", Kind::MySql;
}

/// The upgrade section of an imported revision is the source's SQL as written (what adopt
/// recomputes the old tool's checksum from), and SQL that refers to the old tool's own
/// table is carried over as it is.
#[tokio::test]
async fn upgrade_text_is_the_source_text() {
    let trigger = "CREATE TRIGGER keep AFTER DELETE ON __diesel_schema_migrations\nBEGIN\n  SELECT RAISE(ABORT, 'history is append-only');\nEND;\n";
    let src = source(&[
        ("2024-01-01-120000_create_users/up.sql", USERS),
        ("2024-01-02-120000_protect_history/up.sql", trigger),
    ]);
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("m");
    ok(
        &dir,
        &["import", "--from", "diesel", src.path().to_str().unwrap()],
    );
    let history = revchain_tests::load(&dir);
    let sql: Vec<&str> = history.iter().map(|r| r.upgrade_sql()).collect();
    assert_eq!(sql, [USERS.trim_end(), trigger.trim_end()]);
    assert!(history.iter().all(|r| !r.is_reversible()));
    // On the database diesel managed, its table is there (adopt leaves it): the trigger
    // applies, its `BEGIN … END` body kept whole.
    let db = TestDb::new(Kind::Sqlite).await;
    let pool = db.pool::<sqlx::Sqlite>().await;
    sqlx::query("CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    ok(&dir, &["upgrade", "head", "--database-url", &db.url]);
    sqlx::query("INSERT INTO __diesel_schema_migrations VALUES ('20240101120000')")
        .execute(&pool)
        .await
        .unwrap();
    let refused = sqlx::query("DELETE FROM __diesel_schema_migrations")
        .execute(&pool)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
}

/// A tool, its source files, and what the error must say.
type Refusal<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

/// Each refusal names the file (and the line where there is one), exits with 1 and writes
/// nothing.
#[test]
fn refusals_name_the_file_and_write_nothing() {
    let cases: &[Refusal] = &[
        ("goose", &[], &["no goose migration found"]),
        (
            "refinery",
            &[
                ("V1__init.sql", USERS),
                (
                    "V2__backfill.rs",
                    "pub fn migration() -> String { String::new() }\n",
                ),
            ],
            &["V2__backfill.rs: a Rust migration of refinery runs code"],
        ),
        (
            "goose",
            &[
                ("00001_init.sql", "-- +goose Up\nSELECT 1;\nCOMMIT;\n"),
                ("00002_backfill.go", "package migrations\n"),
            ],
            &[
                "00002_backfill.go: a Go migration of goose runs code",
                "00001_init.sql:3: ",
                "2 problems",
            ],
        ),
        (
            "flyway",
            &[
                ("V1__init.sql", USERS),
                ("R__views.sql", "CREATE VIEW v AS SELECT 1;\n"),
            ],
            &["R__views.sql: a repeatable migration"],
        ),
        (
            "sqlx",
            &[("20240101_init.sql", USERS), ("init.sql", USERS)],
            &["init.sql: not a sqlx migration name"],
        ),
        (
            "golang-migrate",
            &[("1_a.up.sql", USERS), ("01_b.up.sql", POSTS)],
            &["1_a.up.sql: version `1` is also the version of 01_b.up.sql"],
        ),
        (
            "dbmate",
            &[(
                "1_a.sql",
                "-- migrate:up\nSELECT 1;\nCOMMIT;\n-- migrate:down\n",
            )],
            &["1_a.sql:3: "],
        ),
        (
            "sqlx",
            &[
                ("1_a.sql", "SELECT 1;\n"),
                ("2_b.sql", "BEGIN;\nSELECT 2;\n"),
                ("3_c.sql", "SELECT 3;"),
            ],
            &["2_b.sql:1: ", "1 problem"],
        ),
    ];
    for (tool, files, expected) in cases {
        let src = source(files);
        let target = tempfile::tempdir().unwrap();
        let dir = target.path().join("migrations");
        let out = revchain(
            &dir,
            &["import", "--from", tool, src.path().to_str().unwrap()],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {err}");
        assert!(err.contains("(nothing was written)"), "{tool}: {err}");
        for e in *expected {
            assert!(err.contains(e), "{tool}: expected `{e}` in:\n{err}");
        }
        assert!(!dir.exists(), "{tool}: {} was created", dir.display());
    }
}

/// The target directory must be new or empty: an import never mixes into revisions that
/// are already there.
#[test]
fn a_non_empty_target_is_refused() {
    let src = source(&[("1_init.sql", USERS)]);
    let target = tempfile::tempdir().unwrap();
    std::fs::write(target.path().join("a1_existing.sql"), "x").unwrap();
    let out = revchain(
        target.path(),
        &["import", "--from", "sqlx", src.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an empty directory"));
    let missing = src.path().join("missing");
    let out = revchain(
        &target.path().join("new"),
        &["import", "--from", "sqlx", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: cannot read it", missing.display())),
        "{err}"
    );
    let out = revchain(
        target.path(),
        &["import", "--from", "alembic", src.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
}
