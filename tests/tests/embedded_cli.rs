//! The CLI compiled into an application (`embedded-cli`, over `migrations!`) and the
//! `revchain` tool on the same directory give the same output for the same commands.

use std::path::Path;
use std::process::{Command, Output};

use revchain_tests::{Kind, TestDb, tests_dir};

fn run(bin: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin);
    if bin.ends_with("revchain-cli") {
        cmd.args(["--dir", "fixtures/portable"]);
    }
    cmd.args(args)
        .current_dir(tests_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .expect("running a CLI")
}

const DIR_CLI: &str = env!("CARGO_BIN_EXE_revchain-cli");
const EMBEDDED_CLI: &str = env!("CARGO_BIN_EXE_embedded-cli");

/// Runs `args` with both CLIs and requires the same exit code, stdout and stderr.
fn same(args: &[&str]) -> String {
    let a = run(DIR_CLI, args);
    let b = run(EMBEDDED_CLI, args);
    // The hints name the running binary (`embedded-cli history`, `revchain history`).
    let text = |o: &Output| {
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).replace("`embedded-cli ", "`revchain "),
        )
    };
    assert_eq!(
        text(&a),
        text(&b),
        "`{}` differs between the two CLIs",
        args.join(" ")
    );
    text(&a).1
}

#[test]
fn graph_commands_agree() {
    let history = same(&["history"]);
    assert_eq!(history.lines().count(), 8, "{history}");
    same(&["history", "--verbose"]);
    same(&["history", "-r", "b2c3d4e5f6a7:"]);
    same(&["heads"]);
    same(&["heads", "--verbose"]);
    same(&["branches"]);
    same(&["branches", "--verbose"]);
    same(&["show", "d4e5"]);
    same(&["show", "zzz"]);
    assert!(same(&["check"]).contains("fixtures/portable: 8 revision(s)"));
    for dialect in ["postgres", "mysql", "sqlite"] {
        same(&["upgrade", "head", "--sql", "--dialect", dialect]);
    }
    same(&["downgrade", "head:base", "--sql"]);
    same(&["upgrade", "nonsense target"]);
}

#[test]
fn file_commands_explain_that_they_need_the_source_tree() {
    let out = run(EMBEDDED_CLI, &["revision", "-m", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`revision` writes revision files, so it needs the source tree"),
        "{err}"
    );
    let out = run(EMBEDDED_CLI, &["merge", "-m", "x", "heads"]);
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn database_commands_agree_on_sqlite() {
    // One database per CLI, driven through the same steps.
    let a = TestDb::new(Kind::Sqlite).await;
    let b = TestDb::new(Kind::Sqlite).await;
    let steps: &[&[&str]] = &[
        &["current"],
        &["upgrade", "+1"],
        &["current"],
        &["upgrade", "head"],
        &["current", "--verbose"],
        &["history", "--indicate-current"],
        &["check"],
        &["downgrade", "-1"],
        &["current"],
        &["stamp", "heads"],
        &["current"],
        &["downgrade", "base"],
    ];
    for step in steps {
        let mut args_a: Vec<&str> = step.to_vec();
        args_a.extend(["--database-url", &a.url]);
        let mut args_b: Vec<&str> = step.to_vec();
        args_b.extend(["--database-url", &b.url]);
        let out_a = run(DIR_CLI, &args_a);
        let out_b = run(EMBEDDED_CLI, &args_b);
        assert_eq!(out_a.status.code(), out_b.status.code(), "{step:?}");
        let norm = |o: &Output, url: &str| String::from_utf8_lossy(&o.stdout).replace(url, "<url>");
        assert_eq!(norm(&out_a, &a.url), norm(&out_b, &b.url), "{step:?}");
    }
    assert!(Path::new(&tests_dir()).join("fixtures/portable").is_dir());
}
