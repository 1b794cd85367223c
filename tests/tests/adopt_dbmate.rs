//! Taking over a PostgreSQL database that the real dbmate migrated (issue 16). dbmate comes
//! from its npm package (`.ci/run` installs it into `target/dbmate` and sets
//! `REVCHAIN_DBMATE`). dbmate applies the first half of a history written as `dbmate new`
//! writes it; `revchain import --from dbmate` converts the whole directory, `revchain adopt
//! --from dbmate` takes the database over, and `revchain upgrade head` applies the rest. The
//! schema must equal the one dbmate gets from the whole history on another database, and
//! `schema_migrations` stays as dbmate left it.
//!
//! Without `REVCHAIN_DBMATE` the tests are skipped, unless `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use revchain_tests::{Cli, Kind, TestDb, scalar, table_exists};
use sqlx::{PgPool, Postgres};

/// A dbmate history, `db/migrations/<timestamp>_<name>.sql`, with what real files hold:
/// comments, a dollar-quoted function body, a migration of comments only, and one run
/// outside a transaction.
const MIGRATIONS: [(&str, &str); 5] = [
    (
        "20240101120000_create_users.sql",
        "-- migrate:up\nCREATE TABLE users (\n    id BIGINT PRIMARY KEY,\n    email VARCHAR(200) NOT NULL\n);\n\n\
         -- migrate:down\nDROP TABLE users;\n",
    ),
    (
        "20240102120000_add_name.sql",
        "-- migrate:up\nALTER TABLE users ADD COLUMN name VARCHAR(100);\nCREATE INDEX users_email ON users (email);\n\n\
         -- migrate:down\nDROP INDEX users_email;\nALTER TABLE users DROP COLUMN name;\n",
    ),
    (
        "20240103120000_create_posts.sql",
        "-- migrate:up\nCREATE TABLE posts (\n    id BIGINT PRIMARY KEY,\n    user_id BIGINT NOT NULL REFERENCES users (id),\n    \
         body TEXT,\n    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()\n);\n\n\
         CREATE FUNCTION touch() RETURNS trigger AS $$\nBEGIN\n    NEW.updated_at := now();\n    RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n\n\
         CREATE TRIGGER posts_touch BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch();\n\n\
         -- migrate:down\nDROP TABLE posts;\nDROP FUNCTION touch();\n",
    ),
    (
        "20240104120000_dropped_feature.sql",
        "-- migrate:up\n-- This migration was emptied when the feature was dropped.\n\n-- migrate:down\n",
    ),
    (
        "20240105120000_index_posts.sql",
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY posts_user ON posts (user_id);\n\n\
         -- migrate:down transaction:false\nDROP INDEX CONCURRENTLY posts_user;\n",
    ),
];

/// How many migrations dbmate applies before revchain takes over.
const HALF: usize = 3;

/// The dbmate binary: `REVCHAIN_DBMATE`, else none (a failure when `CI=true`).
fn dbmate() -> Option<PathBuf> {
    let found = std::env::var_os("REVCHAIN_DBMATE")
        .map(PathBuf::from)
        .filter(|p| p.exists());
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        found.is_some() || !in_ci,
        "CI=true but REVCHAIN_DBMATE does not name dbmate (.ci/run installs it into target/dbmate)"
    );
    found
}

/// A project with the first `n` migrations in `db/migrations`; returns it and that directory.
fn project(n: usize) -> (tempfile::TempDir, PathBuf) {
    let project = tempfile::tempdir().expect("a temporary directory");
    let dir = project.path().join("db/migrations");
    std::fs::create_dir_all(&dir).expect("creating db/migrations");
    for (name, text) in &MIGRATIONS[..n] {
        std::fs::write(dir.join(name), text).expect("writing a migration");
    }
    (project, dir)
}

/// The real `dbmate up` of the first `n` migrations on `url`.
fn dbmate_up(dbmate: &Path, url: &str, n: usize) {
    let (_project, dir) = project(n);
    let out = Command::new(dbmate)
        .arg("--url")
        .arg(format!("{url}?sslmode=disable"))
        .arg("--migrations-dir")
        .arg(&dir)
        .args(["--no-dump-schema", "up"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("running dbmate");
    assert!(
        out.status.success(),
        "dbmate up ({n} migrations):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

fn ok(dir: &Path, args: &[&str]) -> String {
    CLI.ok(dir, args)
}

/// The versions in dbmate's `schema_migrations`, in order.
async fn dbmate_rows(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT version::text FROM schema_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .expect("reading schema_migrations")
}

/// The schema of the database at `url`, without revchain's tables.
async fn schema(url: &str) -> revchain::schema::Schema {
    revchain::autogen::snapshot(url).await.expect("a snapshot")
}

/// What the snapshot does not compare: functions and triggers.
async fn routines(pool: &PgPool) -> (i64, i64) {
    (
        scalar(
            pool,
            "SELECT count(*) FROM pg_proc WHERE proname = 'touch' AND prolang = \
             (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')",
        )
        .await,
        scalar(
            pool,
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'posts_touch'",
        )
        .await,
    )
}

#[tokio::test]
async fn revchain_takes_over_a_database_dbmate_migrated() {
    let Some(dbmate) = dbmate() else {
        eprintln!("skipped: REVCHAIN_DBMATE does not name dbmate (see .ci/run)");
        return;
    };
    let whole = TestDb::new(Kind::Postgres).await;
    dbmate_up(&dbmate, &whole.url, MIGRATIONS.len());
    let db = TestDb::new(Kind::Postgres).await;
    dbmate_up(&dbmate, &db.url, HALF);
    let pool: PgPool = db.pool::<Postgres>().await;
    let before = dbmate_rows(&pool).await;
    assert_eq!(
        before,
        ["20240101120000", "20240102120000", "20240103120000"]
    );

    let (source, source_dir) = project(MIGRATIONS.len());
    let target = tempfile::tempdir().expect("a temporary directory");
    let dir = target.path().join("migrations");
    let imported = ok(
        &dir,
        &["import", "--from", "dbmate", source_dir.to_str().unwrap()],
    );
    assert!(
        imported.starts_with("Imported 5 dbmate migration(s) from "),
        "{imported}"
    );
    drop(source);

    let url = db.url.as_str();
    let dry = ok(
        &dir,
        &[
            "adopt",
            "--from",
            "dbmate",
            "--dry-run",
            "--database-url",
            url,
        ],
    );
    assert!(dry.contains("would record 3 revision(s)"), "{dry}");
    assert!(
        !table_exists(&pool, "revchain_version").await,
        "a dry run writes nothing"
    );
    let adopted = ok(&dir, &["adopt", "--from", "dbmate", "--database-url", url]);
    assert!(adopted.contains("recorded 3 revision(s)"), "{adopted}");
    assert_eq!(
        ok(&dir, &["current", "--database-url", url]),
        "20240103120000\n"
    );

    ok(&dir, &["upgrade", "head", "--database-url", url]);
    assert_eq!(
        ok(&dir, &["current", "--database-url", url]),
        "20240105120000 (head)\n"
    );
    assert_eq!(schema(url).await, schema(&whole.url).await);
    let whole_pool: PgPool = whole.pool::<Postgres>().await;
    assert_eq!(routines(&pool).await, routines(&whole_pool).await);
    assert_eq!(routines(&pool).await, (1, 1));
    assert_eq!(
        dbmate_rows(&pool).await,
        before,
        "schema_migrations is left as dbmate wrote it"
    );
    whole_pool.close().await;
    pool.close().await;
}
