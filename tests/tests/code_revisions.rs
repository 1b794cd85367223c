//! Rust code revisions (docs/design.md §1.7, §4.11) against the real databases: a history
//! that mixes SQL and Rust revisions goes up, down to base and up again; a Rust revision
//! that fails part-way leaves the database as it was; a revision written for PostgreSQL is
//! refused on SQLite before anything changes, while a portable one (`revchain::Connection`)
//! runs on all three; an edited code revision is refused as edited;
//! the standalone `revchain` tool lists code revisions and refuses to run them.

use revchain::{Aftermath, CodeDatabase, Error, Migrations};
use revchain_tests::Db;
use revchain_tests::{Cli, Kind, TestDb, fixture, heads, scalar, table_exists};
use sqlx::{MySql, Postgres, Sqlite};

static CODE_PG: Migrations = revchain::migrations!("fixtures/code_pg");
static CODE_MYSQL: Migrations = revchain::migrations!("fixtures/code_mysql");
static CODE_SQLITE: Migrations = revchain::migrations!("fixtures/code_sqlite");
static CODE_ANY: Migrations = revchain::migrations!("fixtures/code_any");
static FAIL_PG: Migrations = revchain::migrations!("fixtures/code_fail_pg");
static FAIL_MYSQL: Migrations = revchain::migrations!("fixtures/code_fail_mysql");
static FAIL_SQLITE: Migrations = revchain::migrations!("fixtures/code_fail_sqlite");

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

const BACKFILL: &str = "c3d4e5f6a7b8";

async fn emails<DB: Db>(pool: &sqlx::Pool<DB>) -> i64 {
    // How many emails are lower-case (MySQL's default collation ignores case).
    let binary = if DB::KIND == Kind::MySql {
        "BINARY "
    } else {
        ""
    };
    scalar(
        pool,
        &format!("SELECT count(*) FROM users WHERE {binary}email = lower(email)"),
    )
    .await
}

/// Up to head, down to base, up again, with the Rust revision between two SQL ones.
async fn mixed_history_up_down_up<DB: Db>(m: &'static Migrations, database: CodeDatabase) {
    let backfill = m.get(BACKFILL).unwrap();
    assert!(backfill.is_rust());
    assert_eq!(backfill.code_database(), Some(database));
    assert!(backfill.is_reversible());
    assert!(!m.get("a1b2c3d4e5f6").unwrap().is_rust());

    let db = TestDb::new(DB::KIND).await;
    let pool: sqlx::Pool<DB> = db.pool().await;
    let report = m.run(&pool).await.unwrap();
    assert_eq!(report.steps.len(), 3);
    assert_eq!(emails(&pool).await, 2);
    assert!(table_exists(&pool, "orders").await);
    assert_eq!(heads(m, &pool).await, ["e5f6a7b8c9d0"]);

    // Down to the SQL revision before the code: its downgrade upper-cases the emails.
    m.downgrade(&pool, "a1b2c3d4e5f6").await.unwrap();
    assert_eq!(emails(&pool).await, 0);
    assert!(!table_exists(&pool, "orders").await);
    m.downgrade(&pool, "base").await.unwrap();
    assert!(!table_exists(&pool, "users").await);

    m.upgrade(&pool, "head").await.unwrap();
    assert_eq!(emails(&pool).await, 2);
    assert_eq!(heads(m, &pool).await, ["e5f6a7b8c9d0"]);
    let status = m.status(&pool).await.unwrap();
    assert!(status.pending.is_empty(), "{status:?}");
}

#[tokio::test]
async fn postgres_mixed_history_up_down_up() {
    mixed_history_up_down_up::<Postgres>(&CODE_PG, CodeDatabase::Postgres).await;
}

#[tokio::test]
async fn mysql_mixed_history_up_down_up() {
    mixed_history_up_down_up::<MySql>(&CODE_MYSQL, CodeDatabase::MySql).await;
}

#[tokio::test]
async fn sqlite_mixed_history_up_down_up() {
    mixed_history_up_down_up::<Sqlite>(&CODE_SQLITE, CodeDatabase::Sqlite).await;
}

/// The portable revision (`revchain::Connection`: per-backend sqlx up, the `execute`
/// helper down) runs on each of the three databases, up, down and up again.
#[tokio::test]
async fn postgres_portable_history_up_down_up() {
    mixed_history_up_down_up::<Postgres>(&CODE_ANY, CodeDatabase::Any).await;
}

#[tokio::test]
async fn mysql_portable_history_up_down_up() {
    mixed_history_up_down_up::<MySql>(&CODE_ANY, CodeDatabase::Any).await;
}

#[tokio::test]
async fn sqlite_portable_history_up_down_up() {
    mixed_history_up_down_up::<Sqlite>(&CODE_ANY, CodeDatabase::Any).await;
}

/// The Rust revision inserts three rows and then fails (a `sqlx::Error`, or its own error
/// type): the rows and its record are gone, the SQL revision before it stays, and once it
/// no longer fails it applies.
async fn failing_code_revision_rolls_back<DB: Db>(m: &'static Migrations) {
    let db = TestDb::new(DB::KIND).await;
    let pool: sqlx::Pool<DB> = db.pool().await;
    m.upgrade(&pool, "a1").await.unwrap();

    revchain_tests::exec(&pool, "INSERT INTO fail_mode (mode) VALUES ('sqlx')").await;
    let err = m.run(&pool).await.unwrap_err();
    match &err {
        Error::Statement { step, .. } => {
            assert_eq!(step.id, "b2");
            assert_eq!(step.aftermath, Aftermath::RolledBack);
            // The line of `pub async fn upgrade`.
            assert_eq!(step.line, 19, "{err}");
            assert!(step.path.ends_with("b2_fill_t.rs"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 0, "{err}");
    assert_eq!(heads(m, &pool).await, ["a1"]);

    revchain_tests::exec(&pool, "UPDATE fail_mode SET mode = 'custom'").await;
    let err = m.run(&pool).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::CodeFailed { step, .. } if step.aftermath == Aftermath::RolledBack),
        "{err:?}"
    );
    assert!(
        text.contains("b2_fill_t.rs:19: upgrade of revision b2 failed: `upgrade()` returned an error: refused to fill t: custom"),
        "{text}"
    );
    assert_eq!(
        std::error::Error::source(&err).map(ToString::to_string),
        Some("refused to fill t: custom".to_owned())
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 0);
    assert_eq!(heads(m, &pool).await, ["a1"]);

    revchain_tests::exec(&pool, "DELETE FROM fail_mode").await;
    m.run(&pool).await.unwrap();
    assert_eq!(scalar(&pool, "SELECT count(*) FROM t").await, 3);
    assert_eq!(heads(m, &pool).await, ["b2"]);
}

#[tokio::test]
async fn postgres_failing_code_revision_rolls_back() {
    failing_code_revision_rolls_back::<Postgres>(&FAIL_PG).await;
}

#[tokio::test]
async fn sqlite_failing_code_revision_rolls_back() {
    failing_code_revision_rolls_back::<Sqlite>(&FAIL_SQLITE).await;
}

/// MariaDB: the revision's inserts are InnoDB data statements, rolled back too.
#[tokio::test]
async fn mysql_failing_code_revision_rolls_back() {
    failing_code_revision_rolls_back::<MySql>(&FAIL_MYSQL).await;
}

/// A revision written for PostgreSQL is refused on SQLite before anything runs, the SQL
/// revision before it included.
#[tokio::test]
async fn code_for_another_database_is_refused_before_anything_runs() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: sqlx::SqlitePool = db.pool().await;
    let err = CODE_PG.run(&pool).await.unwrap_err();
    match &err {
        Error::WrongDatabase {
            id,
            path,
            written_for,
            ran_on,
            ..
        } => {
            assert_eq!(id, BACKFILL);
            assert_eq!(path, "fixtures/code_pg/c3d4e5f6a7b8_backfill_emails.rs");
            assert_eq!(*written_for, CodeDatabase::Postgres);
            assert!(ran_on.starts_with("SQLite"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert!(
        err.to_string()
            .contains("make it portable (its functions take `revchain::Connection<'_>`"),
        "{err}"
    );
    assert!(!table_exists(&pool, "users").await);
    assert!(heads(&CODE_PG, &pool).await.is_empty());
    // A stamp does not run code: it is fine anywhere.
    CODE_PG.stamp(&pool, &[BACKFILL], false).await.unwrap();
    assert_eq!(heads(&CODE_PG, &pool).await, [BACKFILL]);
}

/// Copies a fixture into a fresh directory.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// Applied by the application, then edited on disk: the state check (here the standalone
/// tool's `check`, which reads the files) refuses it as edited; the header alone may change.
#[tokio::test]
async fn edited_code_revision_is_refused_as_edited() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: sqlx::SqlitePool = db.pool().await;
    CODE_SQLITE.run(&pool).await.unwrap();
    let dir = copy_fixture("code_sqlite");
    let file = dir.path().join("c3d4e5f6a7b8_backfill_emails.rs");
    let text = std::fs::read_to_string(&file).unwrap();
    let url = db.url.clone();

    std::fs::write(
        &file,
        text.replace("backfill lower-case emails", "backfill emails"),
    )
    .unwrap();
    let out = CLI.run(dir.path(), &["--database-url", &url, "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(&file, text.replace("lower(email)", "LOWER(email)")).unwrap();
    let out = CLI.run(dir.path(), &["--database-url", &url, "check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("revision c3d4e5f6a7b8 was applied with checksum"),
        "{stderr}"
    );

    // The application's own table is refused the same way.
    let edited = revchain_tests::load(dir.path());
    let err = edited.run(&pool).await.unwrap_err();
    assert!(
        matches!(err, Error::Edited { ref id, .. } if id == BACKFILL),
        "{err}"
    );
}

/// The standalone tool lists the Rust revision, marked, and refuses to run it, naming the
/// application's `migrate` command; nothing changes. `stamp` over it works.
#[tokio::test]
async fn standalone_tool_lists_code_revisions_and_refuses_to_run_them() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: sqlx::SqlitePool = db.pool().await;
    let dir = fixture("code_sqlite");
    let url = db.url.clone();

    let history = CLI.ok(&dir, &["history"]);
    assert!(
        history.contains("c3d4e5f6a7b8") && history.contains("(rust)"),
        "{history}"
    );
    let heads_out = CLI.ok(&dir, &["heads"]);
    assert!(heads_out.contains("e5f6a7b8c9d0"), "{heads_out}");
    let show = CLI.ok(&dir, &["show", BACKFILL]);
    assert!(show.contains("(rust)"), "{show}");
    assert!(show.contains("pub async fn upgrade"), "{show}");
    let out = CLI.run(&dir, &["--database-url", &url, "check"]);
    let check = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "{check}");
    assert!(check.contains("(rust)"), "{check}");

    CLI.ok(&dir, &["--database-url", &url, "upgrade", "a1b2c3d4e5f6"]);
    let out = CLI.run(&dir, &["--database-url", &url, "upgrade", "head"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: revision c3d4e5f6a7b8 (")
            && stderr.contains(
                "c3d4e5f6a7b8_backfill_emails.rs) is Rust code: run it with your application's \
                 `migrate upgrade` command (the binary that embeds `revchain::migrations!`)"
            ),
        "{stderr}"
    );
    assert_eq!(emails(&pool).await, 0);
    assert_eq!(heads(&CODE_SQLITE, &pool).await, ["a1b2c3d4e5f6"]);

    // The application runs it; then the tool may go on, and come back down to it.
    CODE_SQLITE.upgrade(&pool, BACKFILL).await.unwrap();
    CLI.ok(&dir, &["--database-url", &url, "upgrade", "head"]);
    assert!(table_exists(&pool, "orders").await);
    let out = CLI.run(&dir, &["--database-url", &url, "downgrade", "base"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`migrate downgrade` command"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table_exists(&pool, "orders").await, "nothing was changed");
    CLI.ok(&dir, &["--database-url", &url, "stamp", "a1b2c3d4e5f6"]);
    assert_eq!(heads(&CODE_SQLITE, &pool).await, ["a1b2c3d4e5f6"]);
}

/// `--sql` writes the plan up to the Rust revision, then a comment block that says the
/// script stops there and why; the revision's bookkeeping is not written.
#[test]
fn offline_script_stops_at_a_code_revision() {
    let dir = fixture("code_pg");
    let out = CLI.run(&dir, &["upgrade", "head", "--sql"]);
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("CREATE TABLE users"), "{script}");
    assert!(script.contains("-- revision c3d4e5f6a7b8"), "{script}");
    assert!(script.contains("is Rust code"), "{script}");
    assert!(!script.contains("CREATE TABLE orders"), "{script}");
    assert!(
        !script.contains("'c3d4e5f6a7b8'"),
        "no bookkeeping for it: {script}"
    );
}

/// Runs `code-backfill` on `db` until the backfill has written its first row, then kills
/// it with SIGKILL: the backfill's rows are gone and it is not recorded; a run afterwards
/// applies it whole.
async fn killed_backfill_leaves_nothing<DB: Db>(kind: &str) {
    let db = TestDb::new(DB::KIND).await;
    let ready_dir = tempfile::tempdir().unwrap();
    let ready = ready_dir.path().join("ready");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_code-backfill"))
        .args([kind, &db.url])
        .env("REVCHAIN_READY", &ready)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the backfill never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "it ended before the kill"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let pool: sqlx::Pool<DB> = db.pool().await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM backfill").await, 0);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_log WHERE revision = 'b2'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_version WHERE revision = 'a1'"
        )
        .await,
        1
    );
    pool.close().await;

    let status = std::process::Command::new(env!("CARGO_BIN_EXE_code-backfill"))
        .args([kind, &db.url])
        .status()
        .unwrap();
    assert!(status.success());
    let pool: sqlx::Pool<DB> = db.pool().await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM backfill").await, 30);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_version WHERE revision = 'b2'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn postgres_killed_backfill_leaves_nothing() {
    killed_backfill_leaves_nothing::<Postgres>("postgres").await;
}

#[tokio::test]
async fn mysql_killed_backfill_leaves_nothing() {
    killed_backfill_leaves_nothing::<MySql>("mysql").await;
}

#[tokio::test]
async fn sqlite_killed_backfill_leaves_nothing() {
    killed_backfill_leaves_nothing::<Sqlite>("sqlite").await;
}

/// `revchain revision --rust -m "backfill"` writes a file that `History::load` accepts and
/// whose code is the one the passing UI case (`tests/ui/pass/rust_revision.rs`) compiles and
/// runs.
#[test]
fn revision_rust_writes_the_template_that_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let ui = revchain_tests::tests_dir().join("ui/migrations/rust_pass");
    std::fs::copy(ui.join("0001_users.sql"), dir.path().join("0001_users.sql")).unwrap();
    let out = CLI.ok(
        dir.path(),
        &[
            "revision", "--rust", "sqlite", "-m", "backfill", "--rev-id", "0002",
        ],
    );
    assert!(out.contains("0002_backfill.rs"), "{out}");
    let written = std::fs::read_to_string(dir.path().join("0002_backfill.rs")).unwrap();
    let history = revchain::History::load(dir.path()).unwrap();
    let rev = &history.revisions()[1];
    assert_eq!(rev.id, "0002");
    assert_eq!(rev.parents, ["0001"]);
    assert!(revchain_core::code::is_rust(rev));
    let compiled = std::fs::read_to_string(ui.join("0002_backfill.rs")).unwrap();
    let code = |text: &str| text.split_once("\n\n").map(|(_, code)| code.to_owned());
    assert_eq!(code(&written), code(&compiled));

    // Without a database name, the URL's database decides; else PostgreSQL.
    let out = CLI.ok(
        dir.path(),
        &["revision", "--rust", "-m", "more", "--rev-id", "0003"],
    );
    assert!(out.contains("0003_more.rs"), "{out}");
    let text = std::fs::read_to_string(dir.path().join("0003_more.rs")).unwrap();
    assert!(text.contains("conn: &mut PgConnection"), "{text}");
    let out = CLI.run(dir.path(), &["revision", "--rust", "oracle", "-m", "x"]);
    assert!(!out.status.success());

    // `any`: the portable template, which compiles (`ANY_TEMPLATE`) and runs anywhere.
    let out = CLI.ok(
        dir.path(),
        &[
            "revision", "--rust", "any", "-m", "backfill", "--rev-id", "0004",
        ],
    );
    let written = std::fs::read_to_string(dir.path().join("0004_backfill.rs")).unwrap();
    let compiled =
        std::fs::read_to_string(fixture("code_any_template").join("0002_backfill.rs")).unwrap();
    assert_eq!(code(&written), code(&compiled), "{out}");
    let template = ANY_TEMPLATE.get("0002").unwrap();
    assert_eq!(template.code_database(), Some(CodeDatabase::Any));
}

static ANY_TEMPLATE: Migrations = revchain::migrations!("fixtures/code_any_template");

/// The portable template applies and reverts on SQLite (a database it was not written for).
#[tokio::test]
async fn portable_template_runs_on_sqlite() {
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: sqlx::SqlitePool = db.pool().await;
    ANY_TEMPLATE.run(&pool).await.unwrap();
    assert_eq!(heads(&ANY_TEMPLATE, &pool).await, ["0002"]);
    ANY_TEMPLATE.downgrade(&pool, "0001").await.unwrap();
    assert_eq!(heads(&ANY_TEMPLATE, &pool).await, ["0001"]);
}

static BATCHES_PG: Migrations = revchain::migrations!("fixtures/code_batches_pg");
static BATCHES_SQLITE: Migrations = revchain::migrations!("fixtures/code_batches_sqlite");

/// A `Transactional: false` code revision gets a connection outside any transaction and
/// commits its own batches; its third batch fails: the two committed batches stay, the
/// revision is marked dirty (every later run refuses), and `stamp` records the repair.
async fn non_transactional_code_commits_batches_under_a_dirty_mark<DB: Db>(m: &'static Migrations) {
    let db = TestDb::new(DB::KIND).await;
    let pool: sqlx::Pool<DB> = db.pool().await;
    let err = m.run(&pool).await.unwrap_err();
    match &err {
        Error::Statement { step, .. } => {
            assert_eq!(step.id, "b2");
            assert_eq!(step.aftermath, Aftermath::Dirty, "{err}");
            assert_eq!(step.line, 10, "{err}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(scalar(&pool, "SELECT count(*) FROM batch").await, 20);
    assert_eq!(m.status(&pool).await.unwrap().dirty, ["b2"]);
    // SQLite waits for a mark that may be another process at work: not for long here.
    let again = revchain::Migrator::new(m)
        .lock_timeout(std::time::Duration::from_millis(300))
        .run(&pool)
        .await
        .unwrap_err();
    assert!(
        matches!(again, Error::Dirty { ref id, .. } if id == "b2"),
        "{again}"
    );
    m.stamp(&pool, &["b2"], false).await.unwrap();
    assert_eq!(heads(m, &pool).await, ["b2"]);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
}

#[tokio::test]
async fn postgres_non_transactional_code_commits_batches_under_a_dirty_mark() {
    non_transactional_code_commits_batches_under_a_dirty_mark::<Postgres>(&BATCHES_PG).await;
}

#[tokio::test]
async fn sqlite_non_transactional_code_commits_batches_under_a_dirty_mark() {
    non_transactional_code_commits_batches_under_a_dirty_mark::<Sqlite>(&BATCHES_SQLITE).await;
}

/// Inside the caller's transaction (PostgreSQL), the code revision runs in that
/// transaction: rolling it back undoes everything, the backfill included.
#[tokio::test]
async fn code_revision_runs_inside_the_callers_transaction() {
    use sqlx::Connection as _;
    let db = TestDb::new(Kind::Postgres).await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    CODE_PG.run(&mut *tx).await.unwrap();
    let lower: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = lower(email)")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(lower, 2);
    tx.rollback().await.unwrap();
    let pool: sqlx::PgPool = db.pool().await;
    assert!(!table_exists(&pool, "users").await);
}
