//! The operator's experience (issue 19, items 3, 4, 5, 9): output never silent and never
//! noisy, an embedded CLI that offers only what it runs and names itself in its hints, the
//! `database` commands on every backend, and `init`'s suggestion.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use revchain_tests::{Kind, TestDb, tests_dir, workspace_root};

const TOOL: &str = env!("CARGO_BIN_EXE_revchain-cli");
const EMBEDDED: &str = env!("CARGO_BIN_EXE_embedded-cli");
const NESTED: &str = env!("CARGO_BIN_EXE_readme-nesting");
const LIBRARY: &str = env!("CARGO_BIN_EXE_library-run");

/// Runs `bin args…` in the tests directory with no logging configured and stdin closed.
fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(tests_dir())
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env_remove("REVCHAIN_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("running a CLI")
}

fn text(o: &Output) -> (Option<i32>, String, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs the tool on `dir`.
fn tool(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["--dir", dir.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(args);
    text(&run(TOOL, &all))
}

#[test]
fn the_readme_nesting_example_is_the_test_binary() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme
        .find("```rust\nuse clap::{Parser, Subcommand};")
        .expect("the README's nesting example");
    let block = &readme[start + "```rust\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    let source = std::fs::read_to_string(tests_dir().join("src/bin/readme_nesting.rs")).unwrap();
    assert!(
        source.contains(block),
        "tests/src/bin/readme_nesting.rs must hold the README's block verbatim:\n{block}"
    );
}

#[test]
fn the_nested_cli_without_logging_prints_each_applied_revision() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let (code, _, err) = text(&run(
        NESTED,
        &["migrate", "--database-url", &url, "upgrade", "head"],
    ));
    assert_eq!(code, Some(0), "{err}");
    let applied: Vec<&str> = err.lines().filter(|l| l.contains(" applied ")).collect();
    assert_eq!(
        applied.len(),
        8,
        "one line per revision of fixtures/portable:\n{err}"
    );
    for line in &applied {
        let duration = line.rsplit(" in ").next().unwrap();
        let unit = duration.split(' ').nth(1).unwrap_or("");
        assert!(
            ["µs", "ms", "s", "min"].contains(&unit) && !duration.contains("ns"),
            "a human duration: {line}"
        );
    }
    assert!(!err.contains("sqlx"), "no sqlx line by default:\n{err}");
    // Up to date: one line says so; nothing else.
    let (code, _, err) = text(&run(
        NESTED,
        &["migrate", "--database-url", &url, "upgrade", "head"],
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to do"), "{err}");
}

#[test]
fn the_embedded_help_lists_only_what_it_runs() {
    for (bin, args) in [
        (EMBEDDED, &["--help"][..]),
        (NESTED, &["migrate", "--help"]),
    ] {
        let (code, help, _) = text(&run(bin, args));
        assert_eq!(code, Some(0));
        assert!(
            help.contains("upgrade") && help.contains("database"),
            "{help}"
        );
        for tool_only in ["init", "revision", "merge", "import", "lint", "squash"] {
            assert!(
                !help
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{tool_only} "))),
                "`{tool_only}` in the embedded help:\n{help}"
            );
        }
        assert!(!help.contains("--dir"), "{help}");
    }
    let (code, _, err) = text(&run(EMBEDDED, &["--dir", "elsewhere", "heads"]));
    assert_eq!(code, Some(2), "an ignored --dir is refused: {err}");
    let (code, _, _) = text(&run(TOOL, &["--dir", "fixtures/portable", "heads"]));
    assert_eq!(code, Some(0));
}

#[test]
fn hints_name_the_running_binary() {
    let (code, _, err) = text(&run(EMBEDDED, &["show", "zzz"]));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("`embedded-cli history` lists the revisions"),
        "{err}"
    );
    let (_, _, err) = text(&run(NESTED, &["migrate", "show", "zzz"]));
    assert!(err.contains("`readme-nesting migrate history`"), "{err}");
    let (_, _, err) = text(&run(TOOL, &["--dir", "fixtures/portable", "show", "zzz"]));
    assert!(err.contains("`revchain history`"), "{err}");
    // A command only the tool has is still the tool's.
    let (_, _, err) = text(&run(EMBEDDED, &["revision", "-m", "x"]));
    assert!(err.contains("`revchain revision …`"), "{err}");
}

#[test]
fn errors_are_plain_when_piped() {
    let (_, _, err) = text(&run(EMBEDDED, &["show", "zzz"]));
    assert!(
        err.starts_with("error: ") && !err.contains('\x1b'),
        "{err:?}"
    );
}

#[test]
fn init_suggests_only_what_the_user_types_and_splice_says_it_made_a_head() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(TOOL)
        .arg("init")
        .current_dir(work.path())
        .env_remove("REVCHAIN_DIR")
        .output()
        .unwrap();
    let (code, said, _) = text(&out);
    assert_eq!(code, Some(0));
    assert!(said.contains("Next: revchain revision -m"), "{said}");
    let dir = work.path().join("elsewhere");
    let (_, said, _) = tool(&dir, &["init"]);
    assert!(
        said.contains(&format!("Next: revchain --dir {} revision", dir.display())),
        "{said}"
    );

    let (code, said, err) = tool(&dir, &["revision", "-m", "one", "--rev-id", "aaaaaaaaaaaa"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!said.contains("new head"), "{said}");
    tool(&dir, &["revision", "-m", "two", "--rev-id", "bbbbbbbbbbbb"]);
    let (code, said, err) = tool(
        &dir,
        &[
            "revision",
            "-m",
            "three",
            "--rev-id",
            "cccccccccccc",
            "--head",
            "aaaaaaaaaaaa",
            "--splice",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        said.contains(
            "cccccccccccc is a new head beside bbbbbbbbbbbb: merge them with `revchain merge"
        ),
        "{said}"
    );
}

/// Whether the database of `url` exists, asked of the server (or the file system).
async fn exists(kind: Kind, db: &TestDb) -> bool {
    match kind {
        Kind::Sqlite => Path::new(
            db.url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap(),
        )
        .exists(),
        Kind::Postgres => {
            let pool =
                sqlx::PgPool::connect(&format!("{}/postgres", revchain_tests::server_url(kind)))
                    .await
                    .unwrap();
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
                .bind(&db.name)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n == 1
        }
        Kind::MySql => {
            let pool = sqlx::MySqlPool::connect(&format!(
                "{}/information_schema",
                revchain_tests::server_url(kind)
            ))
            .await
            .unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
            )
            .bind(&db.name)
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            n == 1
        }
    }
}

/// `database drop|create|reset` and `upgrade --create-if-missing` through the tool, and
/// `database create` through the embedded CLI, on one database of `kind`.
async fn database_commands(kind: Kind) {
    let db = TestDb::new(kind).await;
    // TestDb's SQLite URL says `mode=rwc`, which creates the file on connect: drop it.
    let url = db.url.replace("?mode=rwc", "");
    let dir = tests_dir().join("fixtures/portable");
    let db_args = |rest: &[&str]| {
        let mut args = vec!["--database-url", url.as_str()];
        args.extend_from_slice(rest);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let on = |rest: &[&str]| {
        let args = db_args(rest);
        tool(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    if kind == Kind::Sqlite {
        on(&["database", "create"]);
    }
    assert!(exists(kind, &db).await, "{kind:?}");

    // Not a terminal and no -y: refused, nothing dropped.
    let (code, _, err) = on(&["database", "drop"]);
    assert_eq!(code, Some(2), "{kind:?}: {err}");
    assert!(err.contains("pass -y") && !err.contains("secret"), "{err}");
    assert!(
        exists(kind, &db).await,
        "{kind:?}: dropped without confirmation"
    );

    let (code, said, err) = on(&["database", "drop", "-y"]);
    assert_eq!(code, Some(0), "{kind:?}: {err}");
    assert!(said.starts_with("Dropped "), "{said}");
    assert!(!exists(kind, &db).await, "{kind:?}: still there after drop");
    let (code, said, _) = on(&["database", "drop", "-y"]);
    assert_eq!(code, Some(0));
    assert!(said.starts_with("Nothing to drop"), "{said}");

    // A fresh environment in one command.
    let (code, _, err) = on(&["upgrade", "--create-if-missing"]);
    assert_eq!(code, Some(0), "{kind:?}: {err}");
    assert!(
        err.contains("Created ") && err.contains(" applied "),
        "{err}"
    );
    let (_, current, _) = on(&["current"]);
    assert!(current.contains("(head)"), "{kind:?}: {current}");

    // reset: drop, create, upgrade head.
    let (code, said, err) = on(&["database", "reset", "-y"]);
    assert_eq!(code, Some(0), "{kind:?}: {err}");
    assert!(
        said.contains("Dropped ") && said.contains("Created "),
        "{said}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains(" applied ")).count(),
        8,
        "{err}"
    );

    // The embedded CLI has them too.
    let (code, _, err) = on(&["database", "drop", "-y"]);
    assert_eq!(code, Some(0), "{err}");
    let args = db_args(&["database", "create"]);
    let (code, said, err) = text(&run(
        EMBEDDED,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(code, Some(0), "{kind:?}: {err}");
    assert!(said.starts_with("Created "), "{said}");
    assert!(exists(kind, &db).await);
    let (_, said, _) = text(&run(
        EMBEDDED,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(said.contains("exists already"), "{said}");
}

#[tokio::test]
async fn database_commands_on_postgres() {
    database_commands(Kind::Postgres).await;
}

#[tokio::test]
async fn database_commands_on_mariadb() {
    database_commands(Kind::MySql).await;
}

#[tokio::test]
async fn database_commands_on_sqlite() {
    database_commands(Kind::Sqlite).await;
}

#[test]
fn test_roundtrip_prints_a_summary_and_details_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let portable = tests_dir().join("fixtures/portable");
    let (code, said, err) = tool(&portable, &["--database-url", &url, "test-roundtrip"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(!err.contains(" applied "), "quiet by default:\n{err}");
    let (code, said, err) = tool(&portable, &["--database-url", &url, "test-roundtrip", "-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(said.lines().count(), 9, "{said}");
    assert!(err.contains(" applied "), "{err}");
}

#[test]
fn the_library_without_logging_still_says_what_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let (code, _, err) = text(&run(LIBRARY, &[&url]));
    assert_eq!(code, Some(0), "{err}");
    let applied = err
        .lines()
        .filter(|l| l.starts_with("revchain: applied "))
        .count();
    assert_eq!(applied, 8, "{err}");
}

/// `line` with its duration written `in D`.
fn without_duration(line: &str) -> String {
    let at = line.find(" in ").expect("a duration") + " in ".len();
    let end = line[at..].find(" revision=").expect("the revision field") + at;
    format!("{}D{}", &line[..at], &line[end..])
}

#[test]
fn the_readmes_log_line_is_the_real_one() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let shown = readme
        .lines()
        .find_map(|l| {
            let start = l.find("` INFO revchain: applied ae1027a6acf0")?;
            let rest = &l[start + 1..];
            Some(rest[..rest.find('`')?].to_owned())
        })
        .expect("the README quotes the log line of an applied revision");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("ae1027a6acf0_add_last_transaction_date_to_account.sql"),
        "-- add last_transaction_date to account\n--\n-- Revision ID: ae1027a6acf0\n\
         -- Revises:\n\n-- migrate:upgrade\nCREATE TABLE account (id INTEGER PRIMARY KEY);\n\n\
         -- migrate:downgrade\nDROP TABLE account;\n",
    )
    .unwrap();
    let url = format!("sqlite://{}", work.path().join("q.db").display());
    let (code, _, err) = tool(&dir, &["--database-url", &url, "upgrade", "head"]);
    assert_eq!(code, Some(0), "{err}");
    let real = err
        .lines()
        .find(|l| l.contains("applied ae1027a6acf0"))
        .unwrap_or_else(|| panic!("no applied line:\n{err}"));
    assert_eq!(without_duration(real), without_duration(&shown));
}
