//! Expand and contract phases (docs/design.md §4.14) against real databases: a rolling
//! deploy with two binaries, `deploy-v1` and `deploy-v2` (tests/src/deploy.rs), on one
//! PostgreSQL and one MariaDB database; the boot call limited to the expand phase; the lint
//! of a drop outside and inside a contract revision.

use std::process::{Command, Output};

use revchain::{Migrator, Phase};
use revchain_tests::{Cli, Dir, Kind, TestDb};

const V1: &str = env!("CARGO_BIN_EXE_deploy-v1");
const V2: &str = env!("CARGO_BIN_EXE_deploy-v2");
const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

static V2_MIGRATIONS: revchain::Migrations = revchain::migrations!("fixtures/deploy_v2");

/// Runs `binary ARGS…` against `url`.
fn run(binary: &str, url: &str, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running a deploy binary")
}

/// [`run`], which must succeed: its stdout.
fn ok(binary: &str, url: &str, args: &[&str]) -> String {
    let out = run(binary, url, args);
    assert!(
        out.status.success(),
        "{binary} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// [`run`], which must fail: its stderr.
fn refused(binary: &str, url: &str, args: &[&str]) -> String {
    let out = run(binary, url, args);
    assert!(
        !out.status.success(),
        "{binary} {args:?} succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("UTF-8 output")
}

async fn rolling_deploy(kind: Kind) {
    let db = TestDb::new(kind).await;
    let url = db.url.as_str();
    ok(V1, url, &["migrate", "upgrade", "head"]);
    assert_eq!(
        ok(V1, url, &["check-serve"]),
        "at head\nname: Ada Lovelace\n"
    );
    // The new binary's --no-migrate start-up before the expand phase: refused, named.
    let behind = refused(V2, url, &["check-serve"]);
    assert!(
        behind.contains("lacks this binary's expand-phase revision(s) b2c3d4e5f6a7"),
        "{behind}"
    );

    // Expand with the new binary: only the added column and its backfill.
    ok(
        V2,
        url,
        &["migrate", "upgrade", "head", "--phase", "expand"],
    );
    let current = ok(V2, url, &["migrate", "current"]);
    assert!(current.contains("b2c3d4e5f6a7"), "{current}");
    // Old and new side by side: both serve, each with its own query.
    assert_eq!(
        ok(V1, url, &["check-serve"]),
        "newer expand: b2c3d4e5f6a7\nname: Ada Lovelace\n"
    );
    assert_eq!(
        ok(V2, url, &["check-serve"]),
        "contract pending: c3d4e5f6a7b8\nname: Ada Lovelace\n"
    );
    // A log written before the `phase` column: the newer revisions count as expand, and
    // the next locked run adds the column back.
    drop_phase_column(&db).await;
    assert_eq!(
        ok(V1, url, &["check-serve"]),
        "newer expand: b2c3d4e5f6a7\nname: Ada Lovelace\n"
    );
    // Expand again: nothing to do, the contract revision still waits.
    ok(
        V2,
        url,
        &["migrate", "upgrade", "head", "--phase", "expand"],
    );
    assert!(ok(V2, url, &["check-serve"]).starts_with("contract pending: c3d4e5f6a7b8\n"));

    // No old binary runs any more: contract.
    ok(
        V2,
        url,
        &["migrate", "upgrade", "head", "--phase", "contract"],
    );
    assert_eq!(
        ok(V2, url, &["check-serve"]),
        "at head\nname: Ada Lovelace\n"
    );
    let old = refused(V1, url, &["check-serve"]);
    assert!(
        old.contains("contract-phase revision(s) c3d4e5f6a7b8 of a newer release"),
        "{old}"
    );
    assert!(!old.contains("b2c3d4e5f6a7"), "{old}");
}

async fn drop_phase_column(db: &TestDb) {
    let sql = "ALTER TABLE revchain_log DROP COLUMN phase";
    match db.kind {
        Kind::Postgres => {
            let pool = db.pool::<sqlx::Postgres>().await;
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
        _ => {
            let pool = db.pool::<sqlx::MySql>().await;
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
    }
}

#[tokio::test]
async fn rolling_deploy_on_postgres() {
    rolling_deploy(Kind::Postgres).await;
}

#[tokio::test]
async fn rolling_deploy_on_mariadb() {
    rolling_deploy(Kind::MySql).await;
}

/// `--phase` does not combine with `--sql`: a precise refusal, not a silent full script.
#[test]
fn phase_with_sql_is_refused() {
    let err = refused(
        V2,
        "",
        &["migrate", "upgrade", "head", "--phase", "expand", "--sql"],
    );
    assert!(err.contains("--phase"), "{err}");
    assert!(err.contains("--sql"), "{err}");
}

async fn boot_applies_the_expand_phase(kind: Kind) {
    let db = TestDb::new(kind).await;
    let ids = |r: &revchain::Report| r.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let (expand, rest) = match kind {
        Kind::Postgres => {
            let pool = db.pool::<sqlx::Postgres>().await;
            let m = Migrator::new(&V2_MIGRATIONS).phase(Phase::Expand);
            let expand = m.run(&pool).await.unwrap();
            // A second boot in the expand phase applies nothing: the one-read fast path.
            let again = m.run(&pool).await.unwrap();
            assert!(again.steps.is_empty() && again.up_to_date, "{again:?}");
            let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = 1")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(name, "Ada Lovelace");
            (
                expand,
                Migrator::new(&V2_MIGRATIONS).run(&pool).await.unwrap(),
            )
        }
        _ => {
            let pool = db.pool::<sqlx::MySql>().await;
            let m = Migrator::new(&V2_MIGRATIONS).phase(Phase::Expand);
            let expand = m.run(&pool).await.unwrap();
            let again = m.run(&pool).await.unwrap();
            assert!(again.steps.is_empty() && again.up_to_date, "{again:?}");
            (
                expand,
                Migrator::new(&V2_MIGRATIONS).run(&pool).await.unwrap(),
            )
        }
    };
    assert_eq!(ids(&expand), ["a1b2c3d4e5f6", "b2c3d4e5f6a7"]);
    assert_eq!(expand.heads_after, ["b2c3d4e5f6a7"]);
    // Without a phase, the boot run applies everything, so the rest now.
    assert_eq!(ids(&rest), ["c3d4e5f6a7b8"]);
}

#[tokio::test]
async fn boot_with_phase_expand_applies_only_the_expand_part_on_postgres() {
    boot_applies_the_expand_phase(Kind::Postgres).await;
}

#[tokio::test]
async fn boot_with_phase_expand_applies_only_the_expand_part_on_mariadb() {
    boot_applies_the_expand_phase(Kind::MySql).await;
}

#[test]
fn lint_flags_a_drop_outside_a_contract_revision_only() {
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT, c INT);",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "",
        "ALTER TABLE t DROP COLUMN c;",
        Some("ALTER TABLE t ADD COLUMN c INT;"),
    );
    let out = CLI.run(dir.path(), &["lint", "--dialect", "sqlite"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("[drop-column-or-table]"), "{text}");
    assert!(text.contains("(revision b2)"), "{text}");
    assert!(text.contains("-- Phase: contract"), "{text}");

    let contract = Dir::new();
    contract
        .rev(
            "a1",
            "",
            "",
            "CREATE TABLE t (id INT, c INT);",
            Some("DROP TABLE t;"),
        )
        .rev(
            "b2",
            "a1",
            "-- Phase: contract",
            "ALTER TABLE t DROP COLUMN c;",
            Some("ALTER TABLE t ADD COLUMN c INT;"),
        );
    let out = CLI.run(contract.path(), &["lint", "--dialect", "sqlite"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("drop-column-or-table"), "{text}");
}

/// The `revchain` tool, on the files on disk: `upgrade head --phase expand` then
/// `--phase contract`.
#[tokio::test]
async fn the_tool_applies_one_phase_at_a_time() {
    let db = TestDb::new(Kind::Postgres).await;
    let dir = revchain_tests::fixture("deploy_v2");
    let url = ["--database-url", db.url.as_str()];
    let with = |args: &[&'static str]| -> Vec<&str> {
        url.iter().copied().chain(args.iter().copied()).collect()
    };
    CLI.ok(&dir, &with(&["upgrade", "head", "--phase", "expand"]));
    let current = CLI.ok(&dir, &with(&["current"]));
    assert!(current.contains("b2c3d4e5f6a7"), "{current}");
    assert!(!current.contains("c3d4e5f6a7b8"), "{current}");
    CLI.ok(&dir, &with(&["upgrade", "head", "--phase", "contract"]));
    let current = CLI.ok(&dir, &with(&["current"]));
    assert!(current.contains("c3d4e5f6a7b8"), "{current}");
}
