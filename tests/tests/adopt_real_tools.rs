//! The real diesel (`diesel_migrations`, on PostgreSQL and SQLite) and the real refinery (on
//! PostgreSQL) produce the databases that revchain takes over. Each tool applies the first
//! half of a small history in its own format; `revchain import` converts the directory,
//! `revchain adopt` takes the database over and `revchain upgrade head` applies the rest. The
//! schema must equal the one the tool gets from the whole history on a fresh database, and
//! the tool's history table must be as the tool left it.

use std::path::Path;
use std::process::Output;

use diesel::Connection;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use revchain_tests::{Cli, Kind, TestDb, scalar};

/// A diesel history as `diesel migration generate` lays it out: comments, a reversible
/// change, a data migration.
const DIESEL: [(&str, &str, &str); 4] = [
    (
        "2024-01-01-120000_create_users",
        "-- Your SQL goes here\nCREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n    email VARCHAR(200) NOT NULL\n);\n",
        "DROP TABLE users;\n",
    ),
    (
        "2024-01-02-120000_add_name",
        "ALTER TABLE users ADD COLUMN name VARCHAR(100);\n\nCREATE INDEX users_email ON users (email);\n",
        "DROP INDEX users_email;\nALTER TABLE users DROP COLUMN name;\n",
    ),
    (
        "2024-01-03-120000_create_posts",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, body TEXT);\n",
        "DROP TABLE posts;\n",
    ),
    (
        "2024-01-04-120000_seed",
        "INSERT INTO users (id, email, name) VALUES (1, 'a@example.com', 'A');\n",
        "DELETE FROM users WHERE id = 1;\n",
    ),
];

/// A refinery history: `V<n>__<name>.sql`, as `refinery::load_sql_migrations` reads them.
const REFINERY: [(&str, &str); 4] = [
    (
        "V1__create_users.sql",
        "-- Users of the app.\nCREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(200) NOT NULL);\n",
    ),
    (
        "V2__add_name.sql",
        "ALTER TABLE users ADD COLUMN name VARCHAR(100);\nCREATE INDEX users_email ON users (email);\n",
    ),
    (
        "V3__create_posts.sql",
        "CREATE TABLE posts (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, body TEXT);\n",
    ),
    (
        "V4__seed.sql",
        "INSERT INTO users (id, email, name) VALUES (1, 'a@example.com', 'A');\n",
    ),
];

/// The diesel directory, in a fresh temporary directory.
fn diesel_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, up, down) in DIESEL {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("up.sql"), up).unwrap();
        std::fs::write(sub.join("down.sql"), down).unwrap();
    }
    dir
}

/// The refinery directory; `edit` replaces the text of one file.
fn refinery_dir(edit: Option<(usize, &str)>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, text)) in REFINERY.iter().enumerate() {
        let text = edit.filter(|(e, _)| *e == i).map_or(*text, |(_, t)| t);
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

fn revchain(dir: &Path, args: &[&str]) -> Output {
    CLI.run(dir, args)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    CLI.ok(dir, args)
}

/// `revchain import --from tool source` into a fresh directory; returns it (kept alive by
/// the returned guard) and its `migrations` path.
fn import(tool: &str, source: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("migrations");
    let out = ok(&dir, &["import", "--from", tool, source.to_str().unwrap()]);
    assert!(
        out.starts_with(&format!("Imported 4 {tool} migration(s)")),
        "{out}"
    );
    (target, dir)
}

/// The schema of the database at `url`, without revchain's tables.
async fn schema(url: &str) -> revchain::schema::Schema {
    revchain::autogen::snapshot(url).await.unwrap()
}

/// The rows of `users` (the last migration of each history seeds one).
async fn users(db: &TestDb) -> i64 {
    let sql = "SELECT count(*) FROM users";
    match db.kind {
        Kind::Sqlite => scalar(&db.pool::<sqlx::Sqlite>().await, sql).await,
        _ => scalar(&db.pool::<sqlx::Postgres>().await, sql).await,
    }
}

/// What diesel's connection string is for a test database (a file path for SQLite).
fn diesel_url(db: &TestDb) -> String {
    match db.kind {
        Kind::Sqlite => db
            .url
            .trim_start_matches("sqlite://")
            .trim_end_matches("?mode=rwc")
            .to_owned(),
        _ => db.url.clone(),
    }
}

/// Runs the first `n` diesel migrations of `source` on `conn`; returns the versions diesel
/// records as applied.
fn diesel_run<C>(conn: &mut C, source: &Path, n: usize) -> Vec<String>
where
    C: MigrationHarness<C::Backend> + Connection,
    FileBasedMigrations: diesel::migration::MigrationSource<C::Backend>,
{
    let migrations = FileBasedMigrations::from_path(source).unwrap();
    for _ in 0..n {
        conn.run_next_migration(migrations.clone()).unwrap();
    }
    diesel_applied(conn)
}

/// The versions diesel lists as applied, sorted.
fn diesel_applied<C>(conn: &mut C) -> Vec<String>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let mut versions: Vec<String> = conn
        .applied_migrations()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    versions.sort();
    versions
}

/// diesel migrates the whole history on one database of `kind` and half on another, which
/// revchain adopts and brings to head: the schemas are equal, diesel's table unchanged.
async fn diesel_takes_over<C>(kind: Kind)
where
    C: MigrationHarness<C::Backend> + Connection,
    FileBasedMigrations: diesel::migration::MigrationSource<C::Backend>,
{
    let source = diesel_dir();
    let whole = TestDb::new(kind).await;
    let mut conn = C::establish(&diesel_url(&whole)).unwrap();
    assert_eq!(diesel_run(&mut conn, source.path(), 4).len(), 4);
    let db = TestDb::new(kind).await;
    let mut conn = C::establish(&diesel_url(&db)).unwrap();
    let before = diesel_run(&mut conn, source.path(), 2);
    assert_eq!(before, ["20240101120000", "20240102120000"]);

    let (_keep, dir) = import("diesel", source.path());
    let url = db.url.as_str();
    let out = ok(&dir, &["adopt", "--from", "diesel", "--database-url", url]);
    assert!(out.contains("recorded 2 revision(s)"), "{out}");
    ok(&dir, &["upgrade", "head", "--database-url", url]);
    assert_eq!(
        ok(&dir, &["current", "--database-url", url]),
        "20240104120000 (head)\n"
    );
    assert_eq!(schema(url).await, schema(&whole.url).await);
    assert_eq!(users(&db).await, 1, "the seed ran once");
    assert_eq!(
        diesel_applied(&mut conn),
        before,
        "__diesel_schema_migrations is left as it was"
    );
}

#[tokio::test]
async fn diesel_on_postgres() {
    diesel_takes_over::<diesel::PgConnection>(Kind::Postgres).await;
}

#[tokio::test]
async fn diesel_on_sqlite() {
    diesel_takes_over::<diesel::SqliteConnection>(Kind::Sqlite).await;
}

/// A tokio-postgres client on `db`, its connection driven in the background.
async fn pg_client(db: &TestDb) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// refinery applies `source` up to version `target` (all when `None`); returns its
/// applied rows as (version, name, applied_on, checksum).
async fn refinery_run(
    client: &mut tokio_postgres::Client,
    source: &Path,
    target: Option<i32>,
) -> Vec<String> {
    let migrations = refinery::load_sql_migrations(source).unwrap();
    let runner = refinery::Runner::new(&migrations);
    let runner = match target {
        Some(v) => runner.set_target(refinery::Target::Version(v)),
        None => runner,
    };
    runner.run_async(client).await.unwrap();
    refinery_applied(client).await
}

/// The rows of `refinery_schema_history`, as refinery reads them.
async fn refinery_applied(client: &mut tokio_postgres::Client) -> Vec<String> {
    refinery::Runner::new(&[])
        .get_applied_migrations_async(client)
        .await
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {} {:?} {}",
                m.version(),
                m.name(),
                m.applied_on(),
                m.checksum()
            )
        })
        .collect()
}

/// refinery applies half, revchain adopts and applies the rest; the schema is refinery's
/// whole history's and `refinery_schema_history` is unchanged.
#[tokio::test]
async fn refinery_on_postgres() {
    let source = refinery_dir(None);
    let whole = TestDb::new(Kind::Postgres).await;
    refinery_run(&mut pg_client(&whole).await, source.path(), None).await;
    let db = TestDb::new(Kind::Postgres).await;
    let mut client = pg_client(&db).await;
    let before = refinery_run(&mut client, source.path(), Some(2)).await;
    assert_eq!(before.len(), 2, "{before:?}");

    let (_keep, dir) = import("refinery", source.path());
    let url = db.url.as_str();
    let out = ok(
        &dir,
        &["adopt", "--from", "refinery", "--database-url", url],
    );
    assert!(out.contains("recorded 2 revision(s)"), "{out}");
    ok(&dir, &["upgrade", "head", "--database-url", url]);
    assert_eq!(ok(&dir, &["current", "--database-url", url]), "4 (head)\n");
    assert_eq!(schema(url).await, schema(&whole.url).await);
    assert_eq!(users(&db).await, 1, "the seed ran once");
    assert_eq!(
        refinery_applied(&mut client).await,
        before,
        "refinery_schema_history is left as it was"
    );
}

/// A file edited after refinery applied it: re-imported, its checksum differs from
/// refinery's record, and adopt refuses, naming the entry; nothing is recorded.
#[tokio::test]
async fn refinery_edited_file_is_refused() {
    let source = refinery_dir(None);
    let db = TestDb::new(Kind::Postgres).await;
    let mut client = pg_client(&db).await;
    refinery_run(&mut client, source.path(), Some(2)).await;

    let edited = refinery_dir(Some((
        1,
        "ALTER TABLE users ADD COLUMN name VARCHAR(120);\nCREATE INDEX users_email ON users (email);\n",
    )));
    let (_keep, dir) = import("refinery", edited.path());
    let url = db.url.as_str();
    let out = revchain(
        &dir,
        &["adopt", "--from", "refinery", "--database-url", url],
    );
    assert!(!out.status.success(), "an edited file is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refinery applied version 2 with checksum"),
        "{err}"
    );
    let recorded = client
        .query_one("SELECT to_regclass('revchain_version') IS NULL", &[])
        .await
        .unwrap();
    assert!(recorded.get::<_, bool>(0), "a refusal records nothing");
}
