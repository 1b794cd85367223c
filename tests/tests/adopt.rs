//! Taking over databases that other tools migrated (`revchain adopt --from TOOL` and
//! `Migrator::adopt` at boot). sqlx's own migrator produces the state on PostgreSQL, MariaDB
//! and SQLite: half the history is applied by sqlx, adopted, and revchain applies the rest;
//! the schema must equal the one sqlx gets from the whole history, and `_sqlx_migrations`
//! stays as it was. The revisions are what `revchain import --from sqlx` makes of sqlx's
//! directory. The other tools' tables are written by hand, in each tool's layout (dbmate's
//! real run: `adopt_dbmate.rs`).

use std::path::Path;
use std::process::Output;

use revchain::{Error, Migrator, Tool};
use revchain_core::import::adopt::{flyway_checksum, refinery_checksum};
use revchain_tests::{Cli, Db, Dir, Kind, TestDb, exec, heads, scalar, table_exists};
use sqlx::Pool;

/// A sqlx migrations directory: four files as `sqlx migrate add` names them, with what real
/// files hold (comments, a trailing newline, a blank line between statements).
const SQLX_FILES: [(&str, &str); 4] = [
    (
        "20240101120000_create_users.sql",
        "-- Users of the app.\nCREATE TABLE users (\n    id BIGINT PRIMARY KEY,\n    email VARCHAR(200) NOT NULL\n);\n",
    ),
    (
        "20240102120000_add_name.sql",
        "ALTER TABLE users ADD COLUMN name VARCHAR(100);\n\nCREATE INDEX users_email ON users (email);\n",
    ),
    (
        "20240103120000_create_posts.sql",
        "CREATE TABLE posts (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, body TEXT);\n",
    ),
    (
        "20240104120000_seed.sql",
        "INSERT INTO users (id, email, name) VALUES (1, 'a@example.com', 'A');\n",
    ),
];

/// The sqlx directory with the first `n` files.
fn sqlx_dir(n: usize) -> Dir {
    sqlx_source(n, None, None)
}

/// The sqlx directory with the first `n` files; `edit` replaces the text of one file (as a
/// developer edits a migration after it ran), `skip` leaves one out.
fn sqlx_source(n: usize, edit: Option<(usize, &str)>, skip: Option<usize>) -> Dir {
    let dir = Dir::new();
    for (i, (name, text)) in SQLX_FILES[..n].iter().enumerate() {
        if skip == Some(i) {
            continue;
        }
        let text = edit.filter(|(e, _)| *e == i).map_or(*text, |(_, t)| t);
        dir.write(name, text);
    }
    dir
}

/// The revchain revisions of the whole sqlx directory (with `edit` and `skip` as
/// [`sqlx_source`] takes them), written by `revchain import --from sqlx`: the ids `adopt`
/// looks for, and upgrade sections that reproduce sqlx's checksums.
fn revchain_dir(edit: Option<(usize, &str)>, skip: Option<usize>) -> Dir {
    let source = sqlx_source(SQLX_FILES.len(), edit, skip);
    let dir = Dir::new();
    let from = source.path().to_str().expect("a UTF-8 temporary path");
    let out = ok(dir.path(), &["import", "--from", "sqlx", from]);
    let count = SQLX_FILES.len() - usize::from(skip.is_some());
    assert!(
        out.starts_with(&format!("Imported {count} sqlx migration(s) from ")),
        "{out}"
    );
    dir
}

/// Applies the first `n` sqlx files with sqlx's migrator.
async fn sqlx_migrate<DB>(pool: &Pool<DB>, n: usize)
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let dir = sqlx_dir(n);
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    migrator.run(pool).await.unwrap();
}

/// The rows of `_sqlx_migrations` that identify what sqlx applied.
async fn sqlx_rows<DB: Db>(pool: &Pool<DB>) -> (i64, i64) {
    (
        scalar(pool, "SELECT count(*) FROM _sqlx_migrations").await,
        scalar(pool, "SELECT max(version) FROM _sqlx_migrations").await,
    )
}

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

fn revchain(dir: &Path, args: &[&str]) -> Output {
    CLI.run(dir, args)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    CLI.ok(dir, args)
}

/// The schema of the database at `url`, without revchain's tables.
async fn schema(url: &str) -> revchain::schema::Schema {
    revchain::autogen::snapshot(url).await.unwrap()
}

/// sqlx applies half, `revchain adopt` (after a dry run) takes over, `revchain upgrade`
/// applies the rest: the schema is sqlx's whole history's, `_sqlx_migrations` unchanged.
async fn cli_takes_over_sqlx<DB>()
where
    DB: Db,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let whole = TestDb::new(DB::KIND).await;
    sqlx_migrate::<DB>(&whole.pool().await, 4).await;
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    sqlx_migrate(&pool, 2).await;
    let before = sqlx_rows(&pool).await;
    let dir = revchain_dir(None, None);
    let url = db.url.as_str();

    let dry = ok(
        dir.path(),
        &[
            "adopt",
            "--from",
            "sqlx",
            "--dry-run",
            "--database-url",
            url,
        ],
    );
    assert!(dry.contains("would record 2 revision(s)"), "{dry}");
    assert!(dry.contains("20240102120000"), "{dry}");
    assert!(
        !table_exists(&pool, "revchain_version").await,
        "a dry run writes nothing"
    );

    let out = ok(
        dir.path(),
        &["adopt", "--from", "sqlx", "--database-url", url],
    );
    assert!(out.contains("recorded 2 revision(s)"), "{out}");
    let m = dir.load();
    assert_eq!(heads(&m, &pool).await, ["20240102120000"]);
    let again = revchain(
        dir.path(),
        &["adopt", "--from", "sqlx", "--database-url", url],
    );
    assert!(!again.status.success(), "adopting twice is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already record"));

    ok(dir.path(), &["upgrade", "head", "--database-url", url]);
    assert_eq!(heads(&m, &pool).await, ["20240104120000"]);
    assert_eq!(schema(url).await, schema(&whole.url).await);
    assert_eq!(
        sqlx_rows(&pool).await,
        before,
        "_sqlx_migrations is left as it was"
    );
    pool.close().await;
}

#[tokio::test]
async fn cli_takes_over_sqlx_on_postgres() {
    cli_takes_over_sqlx::<sqlx::Postgres>().await;
}

#[tokio::test]
async fn cli_takes_over_sqlx_on_mariadb() {
    cli_takes_over_sqlx::<sqlx::MySql>().await;
}

#[tokio::test]
async fn cli_takes_over_sqlx_on_sqlite() {
    cli_takes_over_sqlx::<sqlx::Sqlite>().await;
}

/// Eight replicas boot at once with `adopt(Tool::Sqlx)` on a database sqlx half migrated:
/// the adoption happens once, every revision is recorded once, the rest applied once.
async fn replicas_adopt_once_at_boot<DB>()
where
    DB: Db,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let whole = TestDb::new(DB::KIND).await;
    sqlx_migrate::<DB>(&whole.pool().await, 4).await;
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    sqlx_migrate(&pool, 2).await;
    let before = sqlx_rows(&pool).await;
    let dir = revchain_dir(None, None);
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));
    let mut replicas = Vec::new();
    for _ in 0..8 {
        let url = db.url.clone();
        replicas.push(tokio::spawn(async move {
            let pool = Pool::<DB>::connect(&url).await.unwrap();
            let report = Migrator::new(m).adopt(Tool::Sqlx).run(&pool).await;
            pool.close().await;
            report
        }));
    }
    let (mut stamped, mut applied) = (0, 0);
    for replica in replicas {
        let report = replica.await.unwrap().unwrap();
        stamped += report.stamped.len();
        applied += report.steps.len();
    }
    assert_eq!(
        (stamped, applied),
        (2, 2),
        "adopted once, the rest applied once"
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM revchain_log").await, 4);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM users").await, 1);
    assert_eq!(schema(&db.url).await, schema(&whole.url).await);
    assert_eq!(sqlx_rows(&pool).await, before);
    // The next boot is the one-query fast path.
    let next = Migrator::new(m).adopt(Tool::Sqlx).run(&pool).await.unwrap();
    assert!(next.up_to_date, "{next:?}");
    pool.close().await;
}

#[tokio::test]
async fn replicas_adopt_once_at_boot_on_postgres() {
    replicas_adopt_once_at_boot::<sqlx::Postgres>().await;
}

#[tokio::test]
async fn replicas_adopt_once_at_boot_on_mariadb() {
    replicas_adopt_once_at_boot::<sqlx::MySql>().await;
}

#[tokio::test]
async fn replicas_adopt_once_at_boot_on_sqlite() {
    replicas_adopt_once_at_boot::<sqlx::Sqlite>().await;
}

/// A boot with `adopt` on a database without the tool's table migrates from scratch.
#[tokio::test]
async fn boot_without_the_tools_table_migrates_from_scratch() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: Pool<sqlx::Sqlite> = db.pool().await;
    let m = revchain_dir(None, None).load();
    let report = Migrator::new(&m)
        .adopt(Tool::Sqlx)
        .run(&pool)
        .await
        .unwrap();
    assert_eq!((report.stamped.len(), report.steps.len()), (0, 4));
}

/// The refusal of a boot that adopts, with the revisions of `dir`, a database sqlx half
/// migrated (then changed by `prepare`), and whether revchain recorded anything.
async fn refusal(dir: &Dir, prepare: &str) -> (String, bool) {
    let db = TestDb::new(Kind::Postgres).await;
    let pool: Pool<sqlx::Postgres> = db.pool().await;
    sqlx_migrate(&pool, 2).await;
    if !prepare.is_empty() {
        exec(&pool, prepare).await;
    }
    let m = dir.load();
    let err = Migrator::new(&m)
        .adopt(Tool::Sqlx)
        .run(&pool)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AdoptRefused {
                tool: Tool::Sqlx,
                ..
            }
        ),
        "{err:?}"
    );
    let recorded = table_exists(&pool, "revchain_version").await;
    pool.close().await;
    (err.to_string(), recorded)
}

#[tokio::test]
async fn an_edited_file_is_refused() {
    let edited = revchain_dir(
        Some((1, "ALTER TABLE users ADD COLUMN nick VARCHAR(100);\n")),
        None,
    );
    let (err, recorded) = refusal(&edited, "").await;
    assert!(
        err.contains("version 20240102120000 with checksum"),
        "{err}"
    );
    assert!(err.contains("edited"), "{err}");
    assert!(!recorded, "nothing is recorded");
}

#[tokio::test]
async fn a_failed_sqlx_row_is_refused() {
    let dir = revchain_dir(None, None);
    let (err, recorded) = refusal(
        &dir,
        "UPDATE _sqlx_migrations SET success = false WHERE version = 20240102120000",
    )
    .await;
    assert!(
        err.contains("sqlx recorded version 20240102120000 as failed"),
        "{err}"
    );
    assert!(!recorded);
}

#[tokio::test]
async fn an_applied_version_missing_from_the_revisions_is_refused() {
    // The second migration is left out of the import: the third revises the first.
    let dir = revchain_dir(None, Some(1));
    let third = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|text| text.contains("-- Revision ID: 20240103120000\n"))
        .expect("the third revision");
    assert!(third.contains("-- Revises: 20240101120000\n"), "{third}");
    let (err, recorded) = refusal(&dir, "").await;
    assert!(
        err.contains("sqlx applied version 20240102120000, but no revision has id 20240102120000"),
        "{err}"
    );
    assert!(!recorded);
}

/// Three revisions `1 ← 2 ← 3` (ids as the tools' versions map), each creating a table.
fn numbered_dir(ids: [&str; 3]) -> Dir {
    let dir = Dir::new();
    let mut parent = "";
    for (i, id) in ids.iter().enumerate() {
        dir.creates_table(id, parent, &format!("t{i}"));
        parent = id;
    }
    dir
}

/// The upgrade SQL `numbered_dir` gives revision `i`.
fn numbered_sql(i: usize) -> String {
    format!("CREATE TABLE t{i} (id INT);")
}

/// Creates `tool`'s table as `setup` says on a fresh database of kind `DB`, then takes it
/// over with the revisions `ids`: the report's recorded revisions, or the refusal.
async fn take_over<DB: Db>(tool: Tool, ids: [&str; 3], setup: &str) -> Result<Vec<String>, Error> {
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    exec(&pool, setup).await;
    let m = numbered_dir(ids).load();
    let result = Migrator::new(&m).take_over(&pool, tool, false).await;
    if let Ok(report) = &result {
        assert_eq!(heads(&m, &pool).await, report.heads_after);
    }
    pool.close().await;
    result.map(|r| r.stamped)
}

/// Each layout on PostgreSQL and SQLite.
async fn each_kind(tool: Tool, ids: [&str; 3], setup: &str, expected: &[&str]) {
    let pg = take_over::<sqlx::Postgres>(tool, ids, setup).await.unwrap();
    assert_eq!(pg, expected, "{tool} on PostgreSQL");
    let lite = take_over::<sqlx::Sqlite>(tool, ids, setup).await.unwrap();
    assert_eq!(lite, expected, "{tool} on SQLite");
}

#[tokio::test]
async fn diesel_table() {
    let setup = "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
                 run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
                 INSERT INTO __diesel_schema_migrations (version) VALUES ('20240101000000'), ('20240102000000');";
    let ids = ["20240101000000", "20240102000000", "20240103000000"];
    each_kind(Tool::Diesel, ids, setup, &ids[..2]).await;
}

#[tokio::test]
async fn refinery_table() {
    let checksum = |i: usize, name: &str| {
        refinery_checksum(
            name,
            &(i + 1).to_string(),
            &format!("{}\n", numbered_sql(i)),
        )
    };
    let setup = format!(
        "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), \
         applied_on VARCHAR(255), checksum VARCHAR(255));
         INSERT INTO refinery_schema_history VALUES (1, 'initial', '2024-01-01T00:00:00Z', '{}'), \
         (2, 'second', '2024-01-02T00:00:00Z', '{}');",
        checksum(0, "initial"),
        checksum(1, "second")
    );
    each_kind(Tool::Refinery, ["1", "2", "3"], &setup, &["1", "2"]).await;
    let edited = setup.replace(&checksum(1, "second").to_string(), "42");
    let err = take_over::<sqlx::Postgres>(Tool::Refinery, ["1", "2", "3"], &edited)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("refinery applied version 2 with checksum 42"),
        "{err}"
    );
}

#[tokio::test]
async fn dbmate_table() {
    let setup = "CREATE TABLE schema_migrations (version VARCHAR(128) NOT NULL PRIMARY KEY);
                 INSERT INTO schema_migrations VALUES ('20240101000000'), ('20240102000000'), ('20240103000000');";
    let ids = ["20240101000000", "20240102000000", "20240103000000"];
    each_kind(Tool::Dbmate, ids, setup, &ids).await;
    let gap = setup.replace("('20240102000000'), ", "");
    let err = take_over::<sqlx::Sqlite>(Tool::Dbmate, ids, &gap)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("but not revision 20240102000000"),
        "{err}"
    );
}

const GOLANG_MIGRATE: &str =
    "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL);";

#[tokio::test]
async fn golang_migrate_table_and_its_dirty_flag() {
    let setup = format!("{GOLANG_MIGRATE} INSERT INTO schema_migrations VALUES (2, false);");
    each_kind(Tool::GolangMigrate, ["1", "2", "3"], &setup, &["1", "2"]).await;
    let dirty = format!("{GOLANG_MIGRATE} INSERT INTO schema_migrations VALUES (2, true);");
    let err = take_over::<sqlx::Postgres>(Tool::GolangMigrate, ["1", "2", "3"], &dirty)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("golang-migrate left version 2 dirty"),
        "{err}"
    );
    // The same table read as dbmate's is refused: the columns say whose it is.
    let err = take_over::<sqlx::Postgres>(Tool::Dbmate, ["1", "2", "3"], &setup)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("golang-migrate's columns"),
        "{err}"
    );
}

#[tokio::test]
async fn goose_table() {
    let pg = "CREATE TABLE goose_db_version (id SERIAL NOT NULL, version_id BIGINT NOT NULL, \
              is_applied BOOLEAN NOT NULL, tstamp TIMESTAMP NULL DEFAULT now(), PRIMARY KEY (id));";
    let lite = "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, \
                is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));";
    // Applied 1, 2, 3, then rolled 3 back: the latest row of a version counts.
    let rows = "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (3, true), (3, false);";
    let expected = ["1", "2"];
    let got = take_over::<sqlx::Postgres>(Tool::Goose, ["1", "2", "3"], &format!("{pg} {rows}"))
        .await
        .unwrap();
    assert_eq!(got, expected);
    let got = take_over::<sqlx::Sqlite>(Tool::Goose, ["1", "2", "3"], &format!("{lite} {rows}"))
        .await
        .unwrap();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn flyway_table() {
    let setup = format!(
        "CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, \
         version VARCHAR(50), description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, \
         script VARCHAR(1000) NOT NULL, checksum INTEGER, installed_by VARCHAR(100) NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time INTEGER NOT NULL, \
         success BOOLEAN NOT NULL);
         INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES
         (1, '1', 'first', 'SQL', 'V1__first.sql', {}, 'app', 3, true),
         (2, '2', 'second', 'SQL', 'V2__second.sql', {}, 'app', 3, true);",
        flyway_checksum(&numbered_sql(0)),
        flyway_checksum(&format!("{}\r\n", numbered_sql(1)))
    );
    each_kind(Tool::Flyway, ["1", "2", "3"], &setup, &["1", "2"]).await;
    let failed = setup.replace("'app', 3, true);", "'app', 3, false);");
    let err = take_over::<sqlx::Postgres>(Tool::Flyway, ["1", "2", "3"], &failed)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("flyway recorded version 2 as failed"),
        "{err}"
    );
}

#[tokio::test]
async fn flyway_table_on_mariadb() {
    let setup = format!(
        "CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, \
         version VARCHAR(50), description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, \
         script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time INT NOT NULL, \
         success BOOL NOT NULL);
         INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES
         (1, '1', 'first', 'SQL', 'V1__first.sql', {}, 'app', 3, 1);",
        flyway_checksum(&numbered_sql(0)),
    );
    let got = take_over::<sqlx::MySql>(Tool::Flyway, ["1", "2", "3"], &setup)
        .await
        .unwrap();
    assert_eq!(got, ["1"]);
}

#[tokio::test]
async fn alembic_table() {
    let setup = "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
                 CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
                 INSERT INTO alembic_version VALUES ('bb02');";
    each_kind(
        Tool::Alembic,
        ["aa01", "bb02", "cc03"],
        setup,
        &["aa01", "bb02"],
    )
    .await;
}

#[tokio::test]
async fn a_missing_table_is_named() {
    let err = take_over::<sqlx::Sqlite>(Tool::Goose, ["1", "2", "3"], "SELECT 1;")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no table goose_db_version"),
        "{err}"
    );
}

#[tokio::test]
async fn taking_over_inside_a_callers_transaction_is_refused() {
    use sqlx::Connection as _;
    let db = TestDb::new(Kind::Postgres).await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx_migrate(&db.pool::<sqlx::Postgres>().await, 2).await;
    let m = revchain_dir(None, None).load();
    let mut tx = conn.begin().await.unwrap();
    let err = Migrator::new(&m)
        .take_over(&mut *tx, Tool::Sqlx, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("inside a transaction"), "{err}");
    tx.rollback().await.unwrap();
}
