//! `revchain lint` and `revchain check --lint` with the real binary on the fixtures
//! tests/fixtures/lint/{unsafe,safe}: text, JSON and GitHub output, exit codes, suppression,
//! the dialect from `--dialect` or from the database URL, and the safe forms applied to a
//! real PostgreSQL database.

use revchain_tests::{Cli, Kind, TestDb, fixture, scalar};

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

fn unsafe_dir() -> std::path::PathBuf {
    fixture("lint/unsafe")
}

fn safe_dir() -> std::path::PathBuf {
    fixture("lint/safe")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn text_output_names_rule_place_explanation_and_rewrite_and_fails_with_7() {
    let out = CLI.run(&unsafe_dir(), &["lint"]);
    assert_eq!(out.status.code(), Some(7));
    let text = stdout(&out);
    let b2 = unsafe_dir().join("b2_index.sql").display().to_string();
    assert!(
        text.contains(&format!(
            "{b2}:7:1: error [index-not-concurrent] CREATE INDEX on the existing table users \
             without CONCURRENTLY (revision b2)"
        )),
        "{text}"
    );
    assert!(
        text.contains("  instead: CREATE INDEX CONCURRENTLY"),
        "{text}"
    );
    assert!(
        text.contains("  why: CREATE INDEX without CONCURRENTLY"),
        "{text}"
    );
    assert!(text.contains("[missing-downgrade]"), "{text}");
    // The allowed drop (with a reason) and the index on the table created in the same
    // revision are not findings.
    assert!(!text.contains("drop-column-or-table"), "{text}");
    assert!(!text.contains("a1_users.sql"), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the lint found 1 error(s) and 1 warning(s)"),
        "{stderr}"
    );
}

#[test]
fn json_output_is_versioned_and_complete() {
    let out = CLI.run(&unsafe_dir(), &["lint", "--format", "json"]);
    assert_eq!(out.status.code(), Some(7));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["format"], 1);
    let findings = doc["findings"].as_array().unwrap();
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["index-not-concurrent", "missing-downgrade"]);
    let f = &findings[0];
    assert_eq!(f["severity"], "error");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(7), Some(1))
    );
    assert_eq!(f["revision"], "b2");
    assert!(f["file"].as_str().unwrap().ends_with("b2_index.sql"));
    assert!(f["message"].as_str().unwrap().contains("users"));
    assert!(f["rewrite"].as_str().unwrap().contains("CONCURRENTLY"));
    assert_eq!(findings[1]["severity"], "warning");
}

#[test]
fn github_output_is_workflow_annotations() {
    let out = CLI.run(&unsafe_dir(), &["lint", "--format", "github"]);
    assert_eq!(out.status.code(), Some(7));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let b2 = unsafe_dir().join("b2_index.sql").display().to_string();
    assert!(
        lines[0].starts_with(&format!(
            "::error file={b2},line=7,col=1,title=revchain lint index-not-concurrent::CREATE INDEX"
        )),
        "{text}"
    );
    assert!(lines[1].starts_with("::warning file="), "{text}");
}

#[test]
fn warnings_pass_unless_denied_and_a_range_limits_the_findings() {
    // c3 only has a warning.
    let out = CLI.run(&unsafe_dir(), &["lint", "c3:c3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("[missing-downgrade]"));
    let out = CLI.run(&unsafe_dir(), &["lint", "c3:c3", "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(7));
    let clean = CLI.ok(&unsafe_dir(), &["lint", "base:a1"]);
    assert_eq!(clean, "");
    let out = CLI.run(&unsafe_dir(), &["lint", "zz:a1"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_dialect_comes_from_the_flag_or_the_url() {
    let rules = |args: &[&str]| {
        let out = CLI.run(&unsafe_dir(), args);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let mut rules: Vec<String> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_owned())
            .collect();
        rules.dedup();
        (out.status.code(), rules)
    };
    let mysql = (
        Some(0),
        vec![
            "mysql-alter-without-algorithm".to_owned(),
            "missing-downgrade".to_owned(),
        ],
    );
    assert_eq!(
        rules(&["lint", "--format", "json", "--dialect", "mysql"]),
        mysql
    );
    // A URL is only read for its kind: lint never connects.
    let url = ["--database-url", "mysql://root@127.0.0.1:1/none"];
    assert_eq!(
        rules(&[&url[..], &["lint", "--format", "json"]].concat()),
        mysql
    );
    let sqlite = (Some(0), vec!["missing-downgrade".to_owned()]);
    assert_eq!(
        rules(&["lint", "--format", "json", "--dialect", "sqlite"]),
        sqlite
    );
    // --dialect wins over the URL.
    let args = [
        &url[..],
        &["lint", "--format", "json", "--dialect", "postgres"],
    ]
    .concat();
    assert_eq!(rules(&args).0, Some(7));
}

#[test]
fn check_lint_fails_on_an_error_finding() {
    let out = CLI.run(&unsafe_dir(), &["check", "--lint"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(stdout(&out).contains("[index-not-concurrent]"));
    // Without --lint the graph is all check looks at.
    CLI.ok(&unsafe_dir(), &["check"]);
}

/// The safe forms lint clean, apply on a real PostgreSQL database, and `check --lint`
/// with that database's URL (the dialect comes from it) passes.
#[tokio::test]
async fn the_safe_forms_lint_clean_and_apply_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let dir = safe_dir();
    assert_eq!(CLI.ok(&dir, &["lint", "--deny-warnings"]), "");
    let url = db.url.as_str();
    CLI.ok(&dir, &["--database-url", url, "upgrade", "head"]);
    let out = CLI.ok(&dir, &["--database-url", url, "check", "--lint"]);
    assert!(
        out.contains("The lint found 0 warning(s) and no error."),
        "{out}"
    );
    assert!(out.contains("The database is up to date"), "{out}");
    let pool = db.pool::<sqlx::Postgres>().await;
    let not_null = scalar(
        &pool,
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_name = 'users' AND column_name = 'email' AND is_nullable = 'NO'",
    )
    .await;
    assert_eq!(not_null, 1);
    let index = scalar(
        &pool,
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email'",
    )
    .await;
    assert_eq!(index, 1);
    pool.close().await;
    CLI.ok(&dir, &["--database-url", url, "downgrade", "base"]);
}

/// Autogenerate on PostgreSQL writes the safe forms the lint asks for: an index on an
/// existing table `CONCURRENTLY` and a foreign key `NOT VALID` then validated, in a
/// `Transactional: false` revision, which applies on a real database and lints clean.
#[tokio::test]
async fn autogenerate_writes_the_safe_forms_and_they_apply_on_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    let schema = tmp.path().join("schema.sql");
    let server = revchain_tests::server_url(Kind::Postgres);
    let autogenerate = |message: &str| {
        let args = [
            "--database-url",
            &server,
            "revision",
            "--autogenerate",
            "-m",
            message,
        ];
        CLI.ok(&dir, &args)
    };
    let v1 = "CREATE TABLE orgs (id INTEGER PRIMARY KEY);\n\
              CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100), org_id INTEGER);\n";
    std::fs::write(&schema, v1).unwrap();
    autogenerate("tables");
    let v2 = format!(
        "{v1}CREATE INDEX ix_users_email ON users (email);\n\
         ALTER TABLE users ADD CONSTRAINT users_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id);\n"
    );
    std::fs::write(&schema, v2).unwrap();
    autogenerate("index and key");
    let second = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|text| text.starts_with("-- index and key\n"))
        .expect("the second revision");
    assert!(second.contains("-- Transactional: false\n"), "{second}");
    assert!(
        second.contains("CREATE INDEX CONCURRENTLY ix_users_email ON users"),
        "{second}"
    );
    assert!(
        second.contains(
            "ALTER TABLE users ADD CONSTRAINT users_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;\n\
             ALTER TABLE users VALIDATE CONSTRAINT users_org_fkey;"
        ),
        "{second}"
    );
    let lint = CLI.run(&dir, &["lint", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&lint)).unwrap();
    let errors: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(lint.status.code(), Some(0));

    let db = TestDb::new(Kind::Postgres).await;
    CLI.ok(&dir, &["--database-url", &db.url, "upgrade", "head"]);
    let pool = db.pool::<sqlx::Postgres>().await;
    let valid = scalar(
        &pool,
        "SELECT count(*) FROM pg_constraint WHERE conname = 'users_org_fkey' AND convalidated",
    )
    .await;
    assert_eq!(valid, 1);
    let index = scalar(
        &pool,
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = 'ix_users_email' AND i.indisvalid",
    )
    .await;
    assert_eq!(index, 1);
    pool.close().await;
    CLI.ok(&dir, &["--database-url", &db.url, "downgrade", "base"]);
}
