//! The `revchain` tool on migrations directories: creating, branching and merging
//! revisions, Alembic's output lines, errors, offline SQL, and database commands.

use std::path::Path;
use std::process::{Command, Output};

use revchain_tests::{Dir, Kind, TestDb, fixture};

fn revchain<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,revchain=info")
        .output()
        .expect("running revchain")
}

fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(dir: &Path, args: &[S]) -> String {
    let out = revchain(dir, args);
    assert!(
        out.status.success(),
        "revchain {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(dir: &Path, args: &[S], code: i32) -> String {
    let out = revchain(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "revchain {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("UTF-8 output")
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The id in a `Generating <path> ...  done` line.
fn generated_id(out: &str) -> String {
    let path = out.split_whitespace().nth(1).unwrap();
    let name = Path::new(path).file_name().unwrap().to_str().unwrap();
    name.split('_').next().unwrap().to_owned()
}

#[test]
fn chain_branch_merge_and_alembic_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    assert!(ok(&dir, &["init"]).contains("Created the migrations directory"));
    // init refuses a directory that already holds files.
    let a = generated_id(&ok(&dir, &["revision", "-m", "create users"]));
    assert_eq!(a.len(), 12);
    assert!(fails(&dir, &["init"], 1).contains("already exists"));
    let b = ok(&dir, &["revision", "-m", "add email", "--rev-id", "b2"]);
    assert!(
        b.starts_with("Generating ") && b.ends_with("b2_add_email.sql ...  done\n"),
        "{b}"
    );
    assert_eq!(ok(&dir, &["heads"]), "b2 (head)\n");

    // A second branch from `a` needs --splice.
    let err = fails(&dir, &["revision", "-m", "add phone", "--head", &a], 1);
    assert!(
        err.contains(&format!("revision {a} is not a head; pass `--splice`")),
        "{err}"
    );
    ok(
        &dir,
        &[
            "revision",
            "-m",
            "add phone",
            "--head",
            &a[..6],
            "--splice",
            "--rev-id",
            "c3",
        ],
    );
    assert_eq!(ok(&dir, &["heads"]), "b2 (head)\nc3 (head)\n");
    let err = fails(&dir, &["revision", "-m", "next"], 1);
    assert!(
        err.contains("the directory has 2 heads (b2, c3); pass `--head <id>`"),
        "{err}"
    );
    let err = fails(&dir, &["check"], 1);
    assert!(
        err.contains("the revision graph has 2 heads: b2 ("),
        "{err}"
    );
    // New files have empty upgrade sections: `check` reports them with the heads.
    assert!(
        err.contains("b2_add_email.sql:7: the upgrade section is empty"),
        "{err}"
    );

    assert_eq!(
        ok(&dir, &["branches"]),
        format!(
            "{a} (branchpoint)\n{pad} -> b2 (head)\n{pad} -> c3 (head)\n\n",
            pad = " ".repeat(12)
        )
    );

    let m = ok(
        &dir,
        &["merge", "-m", "merge branches", "heads", "--rev-id", "m4"],
    );
    assert!(m.contains("m4_merge_branches.sql"));
    assert_eq!(ok(&dir, &["heads"]), "m4 (head)\n");
    assert_eq!(
        ok(&dir, &["history"]),
        format!(
            "b2, c3 -> m4 (head) (mergepoint), merge branches\n\
             {a} -> c3, add phone\n\
             {a} -> b2, add email\n\
             <base> -> {a} (branchpoint), create users\n"
        )
    );
    assert_eq!(
        ok(&dir, &["history", "-r", "c3:"]),
        "b2, c3 -> m4 (head) (mergepoint), merge branches\n{a} -> c3, add phone\n"
            .replace("{a}", &a)
    );
    let verbose = ok(&dir, &["heads", "--verbose"]);
    assert!(
        verbose.starts_with("Rev: m4 (head) (mergepoint)\nMerges: b2, c3\nPath: "),
        "{verbose}"
    );
    assert!(verbose.contains("\n    merge branches\n"), "{verbose}");
}

#[test]
fn revision_options_and_errors_write_nothing() {
    let d = Dir::new();
    d.rev("a1", "", "", "SELECT 1;", Some("SELECT 1;"));
    let dir = d.path();
    ok(
        dir,
        &[
            "revision",
            "-m",
            "feature base",
            "--head",
            "base",
            "--branch-label",
            "feature",
            "--rev-id",
            "f1",
        ],
    );
    ok(
        dir,
        &[
            "revision",
            "-m",
            "uses feature",
            "--head",
            "a1",
            "--depends-on",
            "feature",
            "--rev-id",
            "u2",
        ],
    );
    let text = std::fs::read_to_string(dir.join("u2_uses_feature.sql")).unwrap();
    assert!(text.contains("-- Revises: a1\n"), "{text}");
    assert!(text.contains("-- Depends On: feature\n"), "{text}");
    assert_eq!(ok(dir, &["heads"]), "f1 (feature) (head)\nu2 (head)\n");
    let before = files(dir);
    for (args, needle) in [
        (
            vec!["revision", "-m", "x", "--rev-id", "a1", "--head", "u2"],
            "revision id `a1` is already used",
        ),
        (
            vec!["revision", "-m", "x", "--rev-id", "bad-id", "--head", "u2"],
            "revision id `bad-id` is invalid",
        ),
        (
            vec!["revision", "-m", "x", "--rev-id", "head", "--head", "u2"],
            "`head` is reserved",
        ),
        (
            vec!["revision", "-m", "x", "--head", "zz"],
            "no revision matches `zz`",
        ),
        (
            vec![
                "revision",
                "-m",
                "x",
                "--head",
                "u2",
                "--depends-on",
                "nope",
            ],
            "no revision matches `nope`",
        ),
        (
            vec!["revision", "-m", "Revision ID: x", "--head", "u2"],
            "would be read back as something else",
        ),
        (
            vec![
                "revision",
                "-m",
                "x",
                "--head",
                "u2",
                "--branch-label",
                "feature",
            ],
            "already used",
        ),
        (
            vec!["merge", "-m", "x", "a1"],
            "a merge needs two or more heads",
        ),
        (
            vec!["merge", "-m", "x", "a1", "u2"],
            "revision a1 is already an ancestor",
        ),
        (vec!["show", "zz"], "no revision matches `zz`"),
        (vec!["upgrade", "head"], "`upgrade` needs a database"),
    ] {
        let err = fails(dir, &args, 1);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    assert_eq!(files(dir), before, "a failed command wrote a file");
    // Usage errors exit 2.
    fails(dir, &["revision"], 2);
    fails(dir, &["frobnicate"], 2);
}

#[test]
fn broken_directory_errors_name_file_and_line() {
    let d = Dir::new();
    d.rev("a1", "", "", "SELECT 1;", None)
        .rev("b2", "zz", "", "SELECT 2;", None)
        .write(
            "c3_bad.sql",
            "-- bad\n-- Revision ID: c3\n-- Revison: a1\n-- migrate:upgrade\nSELECT 3;\n",
        );
    let dir = d.path();
    let shown = dir.display().to_string();
    for cmd in [
        vec!["heads"],
        vec!["history"],
        vec!["check"],
        vec!["revision", "-m", "x"],
        vec!["upgrade", "head", "--sql"],
    ] {
        let err = fails(dir, &cmd, 1);
        assert!(
            err.contains(&format!(
                "{shown}/c3_bad.sql:3: unknown header key `Revison`"
            )),
            "{cmd:?}: {err}"
        );
    }
    std::fs::remove_file(dir.join("c3_bad.sql")).unwrap();
    let err = fails(dir, &["check"], 1);
    assert!(
        err.contains(&format!("{shown}/b2_rev.sql:4: revision `b2` revises `zz`")),
        "{err}"
    );
    let err = fails(&dir.join("missing"), &["heads"], 1);
    assert!(
        err.contains("the migrations directory does not exist"),
        "{err}"
    );
}

/// A header key without its colon is not a comment, and a misshapen or misspelt section
/// marker is one error (issue 13, item 10): `check` and the commands that read the graph
/// name the file, the line and the corrected line, instead of reading a second root.
#[test]
fn misshapen_key_and_marker_lines_are_errors_with_the_corrected_line() {
    let d = Dir::new();
    d.rev("a1", "", "", "SELECT 1;", None).write(
        "b2_child.sql",
        "-- child\n-- Revision ID: b2\n-- Revises a1\n--migrate:upgrade\nSELECT 2;\n-- migrate:downgarde\nSELECT 3;\n",
    );
    let dir = d.path();
    let shown = dir.display().to_string();
    for cmd in [vec!["check"], vec!["heads"], vec!["history"]] {
        let err = fails(dir, &cmd, 1);
        let problems: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("b2_child.sql:"))
            .collect();
        assert_eq!(problems.len(), 3, "{cmd:?}: {err}");
        assert!(
            problems[0].contains(&format!(
                "{shown}/b2_child.sql:3: `-- Revises a1` is read as the `Revises` header key"
            )) && problems[0].contains("write `-- Revises: a1`"),
            "{cmd:?}: {err}"
        );
        assert!(
            problems[1].contains("b2_child.sql:4: `--migrate:upgrade` is read as a section marker")
                && problems[1].contains("write `-- migrate:upgrade`"),
            "{cmd:?}: {err}"
        );
        assert!(
            problems[2].contains("b2_child.sql:6: unknown section marker `-- migrate:downgarde`")
                && problems[2].contains("did you mean `-- migrate:downgrade`"),
            "{cmd:?}: {err}"
        );
        assert!(
            !err.contains("heads"),
            "{cmd:?}: no graph error follows: {err}"
        );
    }
}

/// Runs revchain, killing it if it has not finished after `seconds`; `None` then.
fn revchain_within(dir: &Path, args: &[&str], seconds: u64) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running revchain");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().expect("waiting for revchain").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(child.wait_with_output().expect("revchain's output"))
}

/// A FIFO or a symlink to `/dev/zero` named `*.sql` in the migrations directory is an
/// error naming it, at once (issue 13, item 12): no command blocks on it or reads it
/// forever.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_in_the_directory_is_an_error_not_a_hang() {
    for (name, what) in [
        ("b2_fifo.sql", "a FIFO (named pipe)"),
        ("b2_zero.sql", "a character device"),
    ] {
        let d = Dir::new();
        d.creates_table("a1", "", "t");
        let path = d.path().join(name);
        if name.contains("fifo") {
            assert!(
                Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .unwrap()
                    .success()
            );
        } else {
            std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        }
        for cmd in [
            &["check"][..],
            &["history"],
            &["heads"],
            &["upgrade", "head", "--sql"],
        ] {
            let out = revchain_within(d.path(), cmd, 20)
                .unwrap_or_else(|| panic!("{cmd:?} with {what}: still running after 20 s"));
            assert_eq!(out.status.code(), Some(1), "{cmd:?} with {what}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!(
                    "{}: this is {what}, not a regular file",
                    path.display()
                )),
                "{cmd:?}: {err}"
            );
        }
    }
}

/// `COPY … FROM STDIN` is refused when the files are read (issue 13, item 12): `check`
/// names the file and line, and `upgrade` on PostgreSQL stops at once without touching the
/// database, instead of waiting forever for data.
#[tokio::test]
async fn copy_from_stdin_is_refused_before_it_can_block() {
    let d = Dir::new();
    d.creates_table("a1", "", "t").rev(
        "b2",
        "a1",
        "",
        "INSERT INTO t VALUES (1);\nCOPY t (id) FROM stdin;\n2\n\\.\n",
        Some("DELETE FROM t;"),
    );
    let dir = d.path();
    let file = format!("{}/b2_rev.sql:8", dir.display());
    let err = fails(dir, &["check"], 1);
    assert!(
        err.contains(&format!(
            "{file}: `COPY t (id) FROM stdin` uses the copy protocol"
        )),
        "{err}"
    );
    let db = TestDb::new(Kind::Postgres).await;
    let out = revchain_within(dir, &["upgrade", "head", "--database-url", &db.url], 30)
        .expect("upgrade with COPY FROM stdin: still running after 30 s");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&file), "{err}");
    let pool: sqlx::PgPool = db.pool().await;
    assert!(
        !revchain_tests::table_exists(&pool, "t").await,
        "nothing ran"
    );
}

/// Ids that differ only in case (`abc`, `ABC`) are one id to MariaDB's default collation
/// and to case-insensitive file systems: `check` refuses them, and so does every command,
/// before touching the database.
#[tokio::test]
async fn ids_that_differ_only_in_case_are_refused() {
    let d = Dir::new();
    d.rev(
        "abc",
        "",
        "",
        "CREATE TABLE t (id INT);",
        Some("DROP TABLE t;"),
    )
    .rev(
        "ABC",
        "abc",
        "",
        "CREATE TABLE u (id INT);",
        Some("DROP TABLE u;"),
    );
    let dir = d.path();
    let shown = dir.display().to_string();
    // The files are read in name order: `ABC_rev.sql` first.
    let expected = format!(
        "error: {shown}/abc_rev.sql:3: revision id `abc` differs only in letter case from `ABC` \
         ({shown}/ABC_rev.sql:3); MySQL/MariaDB and the macOS and Windows file systems cannot \
         tell such ids apart, so give one of them another id\n"
    );
    let err = fails(dir, &["check"], 1);
    assert_eq!(err, expected);
    let db = TestDb::new(Kind::MySql).await;
    let err = fails(dir, &["upgrade", "head", "--database-url", &db.url], 1);
    assert_eq!(err, expected);
    let pool: sqlx::MySqlPool = db.pool().await;
    assert_eq!(
        revchain_tests::scalar(
            &pool,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        .await,
        0
    );
}

#[test]
fn shop_fixture_checks_and_offline_sql_orders_revisions() {
    let shop = fixture("shop");
    assert!(ok(&shop, &["check"]).contains("6 revision(s), head 6f708192a3b4"));
    let sql = ok(&shop, &["upgrade", "base:head", "--sql"]);
    let order: Vec<&str> = sql
        .lines()
        .filter(|l| l.starts_with("-- Running upgrade"))
        .collect();
    assert_eq!(order.len(), 6);
    assert!(order[0].starts_with("-- Running upgrade  -> 1a2b3c4d5e6f, create users"));
    assert!(order[3].starts_with("-- Running upgrade 2b3c4d5e6f70, 3c4d5e6f7081 -> 4d5e6f708192"));
    assert!(order[5].contains("-> 6f708192a3b4") && order[5].ends_with("(outside a transaction)"));
    // The concurrent index is outside any transaction: after the last COMMIT, no BEGIN.
    let index = sql.find("CREATE INDEX CONCURRENTLY").unwrap();
    let before = &sql[..index];
    assert!(before.rfind("COMMIT;").unwrap() > before.rfind("BEGIN;").unwrap());
    assert!(!sql[index..].contains("BEGIN;"));
    assert_eq!(sql.matches("BEGIN;").count(), 5);
    // Downgrade needs a range and stops at the irreversible revision.
    let down = ok(&shop, &["downgrade", "6f708192a3b4:5e6f708192a3", "--sql"]);
    assert!(down.contains("DROP INDEX CONCURRENTLY ix_users_email;"));
    let err = fails(&shop, &["downgrade", "head:base", "--sql"], 1);
    assert!(
        err.contains("cannot downgrade through `5e6f708192a3`"),
        "{err}"
    );
    let my = ok(&shop, &["upgrade", "head", "--sql", "--dialect", "mysql"]);
    assert!(my.contains("CREATE TABLE IF NOT EXISTS `revchain_version`"));
}

#[test]
fn show_prints_the_revision_and_its_sql() {
    let shop = fixture("shop");
    let out = ok(&shop, &["show", "5e6f"]);
    assert!(
        out.starts_with("Rev: 5e6f708192a3\nParent: 4d5e6f708192\n"),
        "{out}"
    );
    assert!(out.contains("UPDATE orders SET status = 'active'"));
    assert!(out.contains("irreversible"));
}

#[tokio::test]
async fn database_commands_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    database_commands(&db).await;
}

#[tokio::test]
async fn database_commands_on_sqlite() {
    let db = TestDb::new(Kind::Sqlite).await;
    database_commands(&db).await;
}

#[tokio::test]
async fn database_commands_on_mariadb() {
    let db = TestDb::new(Kind::MySql).await;
    database_commands(&db).await;
}

async fn database_commands(db: &TestDb) {
    let d = Dir::new();
    d.creates_table("a1", "", "t")
        .creates_table("b2", "a1", "u")
        .creates_table("c3", "b2", "v");
    let dir = d.path();
    let url = db.url.as_str();
    let with = |args: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--database-url".to_owned(), url.to_owned()]);
        v
    };
    assert_eq!(ok(dir, &with(&["current"])), "");
    let err = fails(dir, &with(&["check"]), 3);
    assert!(
        err.contains("3 revision(s) not applied: a1, b2, c3"),
        "{err}"
    );
    ok(dir, &with(&["upgrade", "+2"]));
    assert_eq!(ok(dir, &with(&["current"])), "b2\n");
    assert_eq!(
        ok(dir, &with(&["history", "--indicate-current"])),
        "b2 -> c3 (head), revision c3\na1 -> b2 (current), revision b2\n<base> -> a1, revision a1\n"
    );
    ok(dir, &with(&["upgrade", "head"]));
    assert_eq!(ok(dir, &with(&["current"])), "c3 (head)\n");
    assert!(
        ok(dir, &with(&["check"])).contains("The database is up to date (3 revision(s) applied)")
    );
    ok(dir, &with(&["downgrade", "-1"]));
    assert_eq!(ok(dir, &with(&["current"])), "b2\n");
    ok(dir, &with(&["stamp", "c3"]));
    assert_eq!(ok(dir, &with(&["current"])), "c3 (head)\n");
    ok(dir, &with(&["stamp", "--purge", "a1"]));
    assert_eq!(ok(dir, &with(&["current"])), "a1\n");
    ok(dir, &with(&["downgrade", "base"]));
    assert_eq!(ok(dir, &with(&["current"])), "");
    let err = fails(dir, &with(&["downgrade", "c3"]), 1);
    assert!(
        err.contains("cannot downgrade to `c3`: it is not applied"),
        "{err}"
    );
    let verbose = ok(dir, &with(&["current", "--verbose"]));
    assert!(verbose.starts_with("Current revision(s) for "), "{verbose}");
}

/// Reading a SQLite database that does not exist is an error naming the file (a mistyped
/// path must not look like an empty database), and creates nothing; `upgrade` creates it.
#[test]
fn reading_a_missing_sqlite_file_names_it_and_creates_nothing() {
    let d = Dir::new();
    d.creates_table("a1", "", "t");
    let dir = d.path();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("missing.db");
    let url = format!("sqlite://{}", file.display());
    for command in [&["current"][..], &["downgrade", "base"], &["check"]] {
        let mut args: Vec<&str> = command.to_vec();
        args.extend(["--database-url", &url]);
        let err = fails(dir, &args, 1);
        assert!(
            err.contains(&format!("the file {} does not exist", file.display())),
            "{command:?}: {err}"
        );
        assert!(!file.exists(), "{command:?} created {}", file.display());
    }
    ok(dir, &["upgrade", "head", "--database-url", &url]);
    assert_eq!(ok(dir, &["current", "--database-url", &url]), "a1 (head)\n");
    // A URL that asks for creation gets it, as sqlx does.
    let other = tmp.path().join("asked.db");
    let rwc = format!("sqlite://{}?mode=rwc", other.display());
    assert_eq!(ok(dir, &["current", "--database-url", &rwc]), "");
    assert!(other.exists());
}

/// The example app's declarative schema is what its migrations produce: the check the
/// `make migrate-check` target (and CI) runs, on SQLite and PostgreSQL scratch databases.
#[tokio::test]
async fn example_app_migrations_produce_its_schema() {
    let root = revchain_tests::workspace_root();
    let migrations = root.join("example-app/migrations");
    let schema = root.join("example-app/schema.sql");
    let schema = schema.to_str().unwrap();
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/server.db", sqlite_dir.path().display());
    let postgres = format!("{}/postgres", revchain_tests::server_url(Kind::Postgres));
    for url in [sqlite.as_str(), postgres.as_str()] {
        let out = ok(
            &migrations,
            &["check", "--schema", schema, "--database-url", url],
        );
        assert!(
            out.contains("The migrations at head produce the schema of"),
            "{out}"
        );
    }
}
