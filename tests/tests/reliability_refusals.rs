//! Refusals (issue 8): tampered history and hand-edited tables get a precise refusal and
//! nothing runs; garbage in revchain's own tables gives errors, never a panic; passwords
//! never show.

mod reliability_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use reliability_support::{EMBEDDED, Probe, REVCHAIN};
use revchain_tests::{Dir, Kind, TestDb, tests_dir};

// ---------------------------------------------------------------------------------------
// Tampering and drift, through the `revchain` tool on a directory.

fn revchain(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(REVCHAIN)
        .arg("--dir")
        .arg(dir)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,revchain=info")
        .env("NO_COLOR", "1")
        .output()
        .expect("running revchain")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// a1 creates `t`, b2 inserts into it.
fn t_and_a_row(dir: &Dir) -> &Dir {
    dir.creates_table("a1", "", "t").rev(
        "b2",
        "a1",
        "",
        "INSERT INTO t VALUES (1);",
        Some("DELETE FROM t;"),
    )
}

/// a1 creates `t`, b2 inserts into it, c3 creates `u`.
fn history(dir: &Dir) {
    t_and_a_row(dir).creates_table("c3", "b2", "u");
}

/// What the database holds, to compare before and after a refused run.
async fn snapshot(p: &mut Probe) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    (
        p.tables().await,
        p.strings("SELECT revision FROM revchain_version ORDER BY revision")
            .await,
        p.strings("SELECT revision FROM revchain_log ORDER BY revision")
            .await,
        p.strings("SELECT CAST(id AS CHAR(8)) FROM t ORDER BY id")
            .await,
    )
}

#[derive(Debug, Clone, Copy)]
enum Tamper {
    EditedUpgrade,
    DeletedHead,
    DeletedMiddle,
    ReorderedRevises,
    UnknownToTheBinary,
    VersionRowToANonexistentId,
    VersionRowBackToAnOlderRevision,
    ExtraAncestorRow,
    RenamedMiddle,
}

async fn tampering(kind: Kind) {
    use Tamper::*;
    let db = TestDb::new(kind).await;
    let url = db.url.clone();
    let mut probe = Probe::connect(kind, &url).await;
    for case in [
        EditedUpgrade,
        DeletedHead,
        DeletedMiddle,
        ReorderedRevises,
        UnknownToTheBinary,
        VersionRowToANonexistentId,
        VersionRowBackToAnOlderRevision,
        ExtraAncestorRow,
        RenamedMiddle,
    ] {
        for t in ["t", "u", "w", "revchain_version", "revchain_log"] {
            probe.exec(&format!("DROP TABLE IF EXISTS {t}")).await;
        }
        let dir = Dir::new();
        history(&dir);
        let up = revchain(dir.path(), &url, &["upgrade", "head"]);
        assert!(up.status.success(), "{case:?}: {}", text(&up));
        // A new revision d4 (creates `w`): it must not run over a tampered history.
        let d4 = |parent: &str| {
            dir.creates_table("d4", parent, "w");
        };
        let path = |id: &str| dir.path().join(format!("{id}_rev.sql"));
        let expect: Vec<String> = match case {
            EditedUpgrade => {
                dir.rev(
                    "b2",
                    "a1",
                    "",
                    "INSERT INTO t VALUES (2);",
                    Some("DELETE FROM t;"),
                );
                d4("c3");
                vec![
                    "b2_rev.sql: revision b2 was applied with checksum ".into(),
                    "but its upgrade section now hashes to".into(),
                ]
            }
            DeletedHead => {
                std::fs::remove_file(path("c3")).unwrap();
                d4("b2");
                vec![
                    "its version table names c3, which is not in this binary's migrations".into(),
                    "or the revision's file was deleted after it ran (restore it)".into(),
                ]
            }
            DeletedMiddle => {
                std::fs::remove_file(path("b2")).unwrap();
                dir.creates_table("c3", "a1", "u");
                d4("c3");
                vec![
                    "the log records that revision b2 was applied, but this binary has no such \
                     revision: its file was deleted or its id changed after it ran; restore it"
                        .into(),
                ]
            }
            ReorderedRevises => {
                dir.creates_table("c3", "a1", "u").rev(
                    "b2",
                    "c3",
                    "",
                    "INSERT INTO t VALUES (1);",
                    Some("DELETE FROM t;"),
                );
                d4("b2");
                vec![
                    "c3_rev.sql: revision c3 now has other ancestors than when it was applied"
                        .into(),
                ]
            }
            UnknownToTheBinary => {
                // A newer release applied d4; this one does not have it.
                d4("c3");
                let newer = revchain(dir.path(), &url, &["upgrade", "head"]);
                assert!(newer.status.success(), "{}", text(&newer));
                std::fs::remove_file(path("d4")).unwrap();
                probe.exec("DROP TABLE w").await;
                vec!["the database is ahead of this binary: its version table names d4".into()]
            }
            VersionRowToANonexistentId => {
                probe
                    .exec("UPDATE revchain_version SET revision = 'zz9'")
                    .await;
                d4("c3");
                vec![
                    "the version table names `zz9`, which this binary does not know and the log \
                     does not record as applied: the version table was edited by hand"
                        .into(),
                ]
            }
            VersionRowBackToAnOlderRevision => {
                // Back to a1, with a1's own digest: the log still records b2 and c3.
                let a1 = dir.load().get("a1").unwrap().chain_digest().to_string();
                probe
                    .exec(&format!(
                        "UPDATE revchain_version SET revision = 'a1', chain_digest = '{a1}'"
                    ))
                    .await;
                d4("c3");
                vec![
                    "the log records revisions b2, c3 as applied, but the version table does \
                     not include them"
                        .into(),
                ]
            }
            ExtraAncestorRow => {
                // An extra row for a1, an ancestor of the head c3, with a1's own digest.
                let a1 = dir.load().get("a1").unwrap().chain_digest().to_string();
                probe
                    .exec(&format!(
                        "INSERT INTO revchain_version (revision, chain_digest) VALUES ('a1', '{a1}')"
                    ))
                    .await;
                d4("c3");
                vec![
                    "the revchain_version table names a1 (an ancestor of c3) although it holds \
                     one row per head"
                        .into(),
                ]
            }
            RenamedMiddle => {
                // b2's file is renamed to b9 (same SQL): the chain digests do not see ids.
                std::fs::remove_file(path("b2")).unwrap();
                dir.rev(
                    "b9",
                    "a1",
                    "",
                    "INSERT INTO t VALUES (1);",
                    Some("DELETE FROM t;"),
                )
                .creates_table("c3", "b9", "u");
                d4("c3");
                vec![
                    "the log records that revision b2 was applied, but this binary has no such \
                     revision"
                        .into(),
                    "b9_rev.sql) is an ancestor of the database's heads in this binary, but the \
                     database never applied it"
                        .into(),
                ]
            }
        };
        let before = snapshot(&mut probe).await;
        // Every command that changes the database refuses it alike (the one state check),
        // and `check` reports that refusal, with its own exit code.
        let ahead = matches!(case, DeletedHead | UnknownToTheBinary);
        for (args, code) in [
            (&["downgrade", "base"][..], 1),
            (&["stamp", "head"], 1),
            // DeletedHead: the binary has d4 (pending) and lacks c3: diverged.
            (
                &["check"],
                match case {
                    DeletedHead => 6,
                    UnknownToTheBinary => 5,
                    _ => 4,
                },
            ),
        ]
        .into_iter()
        // A downgrade of a database ahead reverts the unknown revisions from the SQL the
        // log stored (docs/design.md §4.13, tests/tests/rollback.rs): not a refusal.
        .filter(|(args, _)| !(ahead && args[0] == "downgrade"))
        {
            let out = revchain(dir.path(), &url, args);
            let shown = text(&out);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{kind:?} {case:?} {args:?}: {shown}"
            );
            for fragment in expect.iter().filter(|_| !ahead || args != ["check"]) {
                assert!(
                    shown.contains(fragment.as_str()),
                    "{kind:?} {case:?} {args:?}: expected `{fragment}` in\n{shown}"
                );
            }
            assert_eq!(
                snapshot(&mut probe).await,
                before,
                "{kind:?} {case:?} {args:?}: nothing may change"
            );
        }
        let out = revchain(dir.path(), &url, &["upgrade", "head"]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{kind:?} {case:?}: {shown}");
        for fragment in &expect {
            assert!(
                shown.contains(fragment.as_str()),
                "{kind:?} {case:?}: expected `{fragment}` in\n{shown}"
            );
        }
        assert!(
            shown.contains("nothing was run") || shown.contains("Nothing of the step ran"),
            "{kind:?} {case:?}: {shown}"
        );
        assert_eq!(
            snapshot(&mut probe).await,
            before,
            "{kind:?} {case:?}: nothing may change"
        );
        assert!(!probe.has_table("w").await, "{kind:?} {case:?}");
        println!(
            "{kind:?} {case:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

#[tokio::test]
async fn tampered_history_is_refused_precisely_on_postgres() {
    tampering(Kind::Postgres).await;
}

#[tokio::test]
async fn tampered_history_is_refused_precisely_on_mariadb() {
    tampering(Kind::MySql).await;
}

#[tokio::test]
async fn tampered_history_is_refused_precisely_on_sqlite() {
    tampering(Kind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------
// Garbage in revchain's own tables: errors, never a panic.

/// Tables with revchain's names but loose types (as a hand-made or damaged schema could
/// have them): every column nullable, SQLite's untyped.
fn loose_tables(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => {
            "CREATE TABLE revchain_version (revision TEXT, chain_digest TEXT); \
             CREATE TABLE revchain_log (revision TEXT, message TEXT, checksum TEXT, \
             chain_digest TEXT, applied_at TIMESTAMPTZ DEFAULT now(), execution_ms BIGINT, \
             dirty BOOLEAN, stamped BOOLEAN)"
        }
        Kind::MySql => {
            "CREATE TABLE revchain_version (revision LONGTEXT, chain_digest LONGTEXT); \
             CREATE TABLE revchain_log (revision LONGTEXT, message LONGTEXT, checksum LONGTEXT, \
             chain_digest LONGTEXT, applied_at TIMESTAMP(6) NULL DEFAULT CURRENT_TIMESTAMP(6), \
             execution_ms BIGINT, dirty BOOLEAN, stamped BOOLEAN)"
        }
        Kind::Sqlite => {
            "CREATE TABLE revchain_version (revision, chain_digest); \
             CREATE TABLE revchain_log (revision, message, checksum, chain_digest, applied_at, \
             execution_ms, dirty, stamped)"
        }
    }
}

/// Version rows and log rows (SQL value lists) of one damaged state.
fn garbage(kind: Kind, a1: &str, b2: &str) -> Vec<(&'static str, Vec<String>, Vec<String>)> {
    let huge = format!("'{}'", "x".repeat(1 << 20));
    let (t, f) = match kind {
        Kind::Postgres => ("TRUE", "FALSE"),
        _ => ("1", "0"),
    };
    let log = |rev: &str, checksum: &str, digest: &str, dirty: &str| {
        format!("({rev}, 'm', {checksum}, {digest}, 0, {dirty}, {t})")
    };
    let mut cases = vec![
        ("NULL head", vec!["(NULL, NULL)".into()], vec![]),
        ("empty head", vec!["('', '')".into()], vec![]),
        ("huge head", vec![format!("({huge}, 'y')")], vec![]),
        (
            "digest not hex",
            vec!["('a1', 'not a digest')".into()],
            vec![],
        ),
        (
            "wrong digest",
            vec![format!("('a1', '{}')", "0".repeat(64))],
            vec![log("'a1'", "'0'", "'0'", f)],
        ),
        (
            "head twice",
            vec![format!("('a1', '{a1}')"), format!("('a1', '{a1}')")],
            vec![],
        ),
        (
            "head and its ancestor",
            vec![format!("('a1', '{a1}')"), format!("('b2', '{b2}')")],
            vec![],
        ),
        (
            "NULL log columns",
            vec![format!("('b2', '{b2}')")],
            vec![log("'a1'", "NULL", "NULL", "NULL")],
        ),
        (
            "huge dirty log row",
            vec![],
            vec![log(&huge, "'c'", "'d'", t)],
        ),
        (
            "unknown unicode ids",
            vec!["('ß☃🦀', 'x')".into()],
            vec![log("'ß☃🦀'", "'x'", "'x'", f), log("'a1'", "'x'", "'x'", t)],
        ),
    ];
    if kind == Kind::Sqlite {
        cases.push((
            "wrong types",
            vec!["(1, 2.5)".into(), "(x'00ff', NULL)".into()],
            vec!["(x'61', 1, 2, 3, 4, 'five', 'yes', 'no')".into()],
        ));
    }
    cases
}

async fn garbage_rows(kind: Kind) {
    let db = TestDb::new(kind).await;
    let mut probe = Probe::connect(kind, &db.url).await;
    let dir = Dir::new();
    t_and_a_row(&dir);
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));
    let a1 = m.get("a1").unwrap().chain_digest().to_string();
    let b2 = m.get("b2").unwrap().chain_digest().to_string();
    let mut errors = 0;
    for (case, version, log) in garbage(kind, &a1, &b2) {
        for op in [
            "run",
            "upgrade",
            "downgrade",
            "stamp",
            "current",
            "status",
            "cli",
            "purge",
        ] {
            for t in ["t", "revchain_version", "revchain_log"] {
                probe.exec(&format!("DROP TABLE IF EXISTS {t}")).await;
            }
            probe.exec(loose_tables(kind)).await;
            for row in &version {
                probe
                    .exec(&format!("INSERT INTO revchain_version VALUES {row}"))
                    .await;
            }
            for row in &log {
                let sql = if kind == Kind::Sqlite && row.starts_with("(x'") {
                    format!("INSERT INTO revchain_log VALUES {row}")
                } else {
                    format!(
                        "INSERT INTO revchain_log (revision, message, checksum, chain_digest, \
                         execution_ms, dirty, stamped) VALUES {row}"
                    )
                };
                probe.exec(&sql).await;
            }
            if op == "cli" {
                // The tools never exit 101 (a panic) on it either.
                for args in [
                    &["current"][..],
                    &["check"],
                    &["--lock-timeout", "1", "upgrade", "head"],
                ] {
                    let out = revchain(dir.path(), &db.url, args);
                    assert_ne!(
                        out.status.code(),
                        Some(101),
                        "{case} {args:?}: {}",
                        text(&out)
                    );
                    assert!(
                        out.status.code().is_some(),
                        "{case} {args:?}: {}",
                        text(&out)
                    );
                }
                continue;
            }
            let url = db.url.clone();
            let outcome = tokio::spawn(async move {
                macro_rules! on {
                    ($db:ty) => {{
                        let pool: sqlx::Pool<$db> = sqlx::pool::PoolOptions::new()
                            .max_connections(2)
                            .connect(&url)
                            .await
                            .unwrap();
                        // Short: on SQLite a dirty mark of a revision this binary does not
                        // know is waited for (a newer binary may be running it).
                        let mg =
                            revchain::Migrator::new(m).lock_timeout(Duration::from_millis(300));
                        let r = match op {
                            "run" => mg.run(&pool).await.map(|r| format!("{r:?}")),
                            "upgrade" => mg.upgrade(&pool, "head").await.map(|r| format!("{r:?}")),
                            "downgrade" => {
                                mg.downgrade(&pool, "base").await.map(|r| format!("{r:?}"))
                            }
                            "stamp" => mg
                                .stamp(&pool, &["head"], false)
                                .await
                                .map(|r| format!("{r:?}")),
                            "current" => mg.current(&pool).await.map(|r| format!("{r:?}")),
                            "status" => mg.status(&pool).await.and_then(|status| {
                                // The refusal every writing command gives, named.
                                assert_eq!(
                                    status.state(),
                                    revchain::DatabaseState::Refused,
                                    "{status:?}"
                                );
                                Ok(format!("{status:?}"))
                            }),
                            // The repair works whatever the tables hold, and the database
                            // then migrates normally.
                            _ => {
                                let purged = mg.stamp(&pool, &["base"], true).await;
                                assert!(purged.is_ok(), "stamp --purge base: {purged:?}");
                                let run = mg.run(&pool).await;
                                assert!(run.is_ok(), "run after the purge: {run:?}");
                                let status = mg.status(&pool).await.unwrap();
                                assert!(status.is_up_to_date(), "{status:?}");
                                run.map(|r| format!("{r:?}"))
                            }
                        };
                        pool.close().await;
                        r
                    }};
                }
                match kind {
                    Kind::Postgres => on!(sqlx::Postgres),
                    Kind::MySql => on!(sqlx::MySql),
                    Kind::Sqlite => on!(sqlx::Sqlite),
                }
            })
            .await;
            let outcome = match outcome {
                Ok(r) => r,
                Err(e) => panic!("{kind:?} {case}: {op} panicked: {e}"),
            };
            match (&outcome, op) {
                (Err(e), "run" | "upgrade" | "downgrade" | "stamp") => {
                    errors += 1;
                    let text = e.to_string();
                    assert!(
                        text.len() < 4 << 20,
                        "{case} {op}: an error of {} bytes",
                        text.len()
                    );
                    // The state check's refusal, naming the repair; nothing changed.
                    assert!(
                        text.starts_with("the database's history differs from this binary's")
                            && text.contains("`revchain stamp --purge <revision>`"),
                        "{kind:?} {case} {op}: {text}"
                    );
                    assert!(!probe.has_table("t").await, "{kind:?} {case} {op}");
                }
                (Err(e), _) => panic!("{kind:?} {case}: {op} failed: {e}"),
                // The boot's one-query check: version rows equal to the embedded heads with
                // their chain digests prove the applied SQL; nothing is written.
                (Ok(r), "run") if r.contains("up_to_date: true") => {}
                (Ok(r), "run" | "upgrade" | "downgrade" | "stamp") => {
                    panic!("{kind:?} {case}: {op} went on over a damaged state: {r}")
                }
                (Ok(_), _) => {}
            }
            let shown: String = format!("{outcome:?}").chars().take(300).collect();
            println!("{kind:?} {case} {op}: {shown}");
        }
    }
    assert!(errors > 0);
}

#[tokio::test]
async fn garbage_in_the_tables_gives_errors_not_panics_on_postgres() {
    garbage_rows(Kind::Postgres).await;
}

#[tokio::test]
async fn garbage_in_the_tables_gives_errors_not_panics_on_mariadb() {
    garbage_rows(Kind::MySql).await;
}

#[tokio::test]
async fn garbage_in_the_tables_gives_errors_not_panics_on_sqlite() {
    garbage_rows(Kind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------
// Secrets: the password of the URL appears nowhere.

#[tokio::test]
async fn the_password_never_shows_whatever_the_command_and_the_failure() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    // The unique part, then a character that the URL must percent-encode: neither the
    // encoded nor the decoded form may show.
    let secret = format!("Rc{nanos:08x}Pw{}", std::process::id());
    let pw = format!("{secret}%21x");
    // A MariaDB user with that password, so that the login works and the database is wrong.
    let user = format!("rc_secret_{}", std::process::id());
    revchain_tests::admin(
        Kind::MySql,
        &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}!x'"),
    )
    .await;
    let urls = [
        (
            "PostgreSQL, dead port",
            format!("postgres://postgres:{pw}@127.0.0.1:1/rc_nodb"),
        ),
        (
            "PostgreSQL, wrong database",
            format!("postgres://postgres:{pw}@127.0.0.1:5432/rc_no_such_db"),
        ),
        (
            "PostgreSQL, refused login",
            format!("postgres://rc_nobody:{pw}@127.0.0.1:5432/postgres"),
        ),
        (
            "PostgreSQL, password parameter",
            format!("postgresql://rc_nobody@127.0.0.1:5432/postgres?password={pw}&sslmode=disable"),
        ),
        (
            "MariaDB, dead port",
            format!("mysql://root:{pw}@127.0.0.1:1/rc_nodb"),
        ),
        (
            "MariaDB, wrong database",
            format!("mysql://{user}:{pw}@127.0.0.1:3306/rc_no_such_db"),
        ),
        (
            "MariaDB, refused login",
            format!("mariadb://root:{pw}@127.0.0.1:3306/mysql"),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let migrations = tmp.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    let dir = Dir::new();
    history(&dir);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), migrations.join(e.file_name())).unwrap();
    }
    std::fs::write(tmp.path().join("schema.sql"), "CREATE TABLE t (id INT);\n").unwrap();
    let commands: &[&[&str]] = &[
        &["current"],
        &["current", "--verbose"],
        &["upgrade", "head"],
        &["downgrade", "base"],
        &["stamp", "head"],
        &["check"],
        &["history", "--indicate-current"],
        &["history", "-r", "current:"],
        &["upgrade", "head", "--sql"],
        &["heads"],
        &["--lock-timeout", "1", "upgrade", "+1"],
        &["revision", "-m", "next", "--autogenerate"],
        &["check", "--schema"],
        &["test-roundtrip"],
    ];
    let mut runs = 0;
    let check = |what: &str, out: &Output| {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains(&secret),
            "{what}: the password shows:\n{}",
            text(out)
        );
        assert_ne!(out.status.code(), Some(101), "{what}: {}", text(out));
    };
    for (name, url) in &urls {
        for args in commands {
            for via_env in [false, true] {
                if via_env
                    && (args.contains(&"--autogenerate")
                        || args.contains(&"--schema")
                        || args == &["test-roundtrip"])
                {
                    // Same code path as the flag; scratch databases are slow to drop.
                    continue;
                }
                let mut cmd = Command::new(REVCHAIN);
                cmd.arg("--dir").arg(&migrations);
                if via_env {
                    cmd.env("DATABASE_URL", url);
                } else {
                    cmd.arg("--database-url")
                        .arg(url)
                        .env_remove("DATABASE_URL");
                }
                let out = cmd
                    .args(*args)
                    .env("RUST_LOG", "trace")
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                check(&format!("{name}: revchain {args:?} (env: {via_env})"), &out);
                runs += 1;
            }
        }
        // The embedded CLI of an application, and the URL given where a target belongs.
        for (bin, args) in [
            (
                EMBEDDED,
                vec!["current".to_owned(), "--database-url".into(), url.clone()],
            ),
            (
                EMBEDDED,
                vec!["upgrade".into(), "--database-url".into(), url.clone()],
            ),
            (REVCHAIN, vec!["upgrade".into(), url.clone()]),
            (REVCHAIN, vec!["stamp".into(), url.clone()]),
            (REVCHAIN, vec!["history".into(), "-r".into(), url.clone()]),
            (REVCHAIN, vec!["show".into(), url.clone()]),
            (
                REVCHAIN,
                vec!["merge".into(), "-m".into(), "m".into(), url.clone()],
            ),
            (
                REVCHAIN,
                vec![
                    "revision".into(),
                    "-m".into(),
                    "r".into(),
                    "--head".into(),
                    url.clone(),
                ],
            ),
            (
                REVCHAIN,
                vec![
                    "revision".into(),
                    "-m".into(),
                    "r".into(),
                    "--depends-on".into(),
                    url.clone(),
                ],
            ),
            (
                REVCHAIN,
                vec!["upgrade".into(), "--sql".into(), format!("base:{url}")],
            ),
            (
                REVCHAIN,
                vec!["downgrade".into(), "--sql".into(), format!("{url}:base")],
            ),
            (
                REVCHAIN,
                vec![
                    "current".into(),
                    "--database-url".into(),
                    url.clone(),
                    "--lock-timeout".into(),
                    "soon".into(),
                ],
            ),
            (
                REVCHAIN,
                vec!["--database-url".into(), url.clone(), "frobnicate".into()],
            ),
        ] {
            let mut cmd = Command::new(bin);
            if bin == REVCHAIN {
                cmd.arg("--dir").arg(&migrations);
            }
            let out = cmd
                .args(&args)
                .current_dir(tests_dir())
                .env_remove("DATABASE_URL")
                .env("RUST_LOG", "trace")
                .output()
                .unwrap();
            check(&format!("{name}: {bin} {args:?}"), &out);
            runs += 1;
        }
    }
    revchain_tests::admin(Kind::MySql, &format!("DROP USER '{user}'@'%'")).await;
    println!("{runs} runs, the password never showed");
}

#[tokio::test]
async fn table_names_are_identifiers_not_sql() {
    let db = TestDb::new(Kind::Sqlite).await;
    let mut probe = Probe::connect(Kind::Sqlite, &db.url).await;
    probe.exec("CREATE TABLE victim (id INT)").await;
    let dir = Dir::new();
    history(&dir);
    for name in [
        "v; DROP TABLE victim",
        "victim\"; DROP TABLE victim; --",
        "a`b",
        "a.b.c",
        "1abc",
        "",
        "ok_name ",
        "é",
        &"x".repeat(64),
    ] {
        for flag in ["--version-table", "--log-table"] {
            for args in [
                &["upgrade", "head"][..],
                &["current"],
                &["upgrade", "head", "--sql"],
            ] {
                let mut all = vec![flag, name];
                all.extend_from_slice(args);
                let out = revchain(dir.path(), &db.url, &all);
                let shown = text(&out);
                assert_eq!(out.status.code(), Some(1), "{all:?}: {shown}");
                assert!(
                    shown.contains("is not a valid table name"),
                    "{all:?}: {shown}"
                );
            }
        }
    }
    assert_eq!(
        probe.tables().await,
        ["victim"],
        "nothing was created or dropped"
    );
}

// ---------------------------------------------------------------------------------------
// Status tells apart up to date, behind, ahead, diverged, edited and dirty (issue 13), and
// `check` says the same with its exit code.

async fn status_states<DB: revchain::Backend>(kind: Kind) {
    use revchain::DatabaseState::*;
    let db = TestDb::new(kind).await;
    let pool: sqlx::Pool<DB> = db.pool().await;
    let mut probe = Probe::connect(kind, &db.url).await;
    let leak = |dir: &Dir| -> &'static revchain::Migrations { Box::leak(Box::new(dir.load())) };
    let this = Dir::new();
    history(&this);
    let m = leak(&this);
    let status = || async { revchain::Migrator::new(m).status(&pool).await.unwrap() };
    let check = |dir: &Dir| {
        let out = revchain(dir.path(), &db.url, &["check"]);
        (out.status.code(), text(&out))
    };

    let s = status().await;
    assert_eq!((s.state(), s.pending.len()), (Behind, 3), "{s:?}");
    assert_eq!(check(&this).0, Some(3));
    m.upgrade(&pool, "head").await.unwrap();
    let s = status().await;
    assert_eq!(s.state(), UpToDate, "{s:?}");
    assert_eq!(check(&this).0, Some(0));

    // A newer release applied d4: this binary sees the database ahead, not behind.
    let newer = Dir::new();
    history(&newer);
    newer.creates_table("d4", "c3", "w");
    leak(&newer).upgrade(&pool, "head").await.unwrap();
    let s = status().await;
    assert_eq!(s.state(), Ahead, "{s:?}");
    assert_eq!(
        (s.ahead.clone(), s.pending.len()),
        (vec!["d4".to_owned()], 0)
    );
    let (code, shown) = check(&this);
    assert_eq!(code, Some(5), "{shown}");
    assert!(shown.contains("the database is ahead of"), "{shown}");
    // The boot path agrees: refused, or served when the app allows it.
    let refused = m.run(&pool).await.unwrap_err();
    assert!(
        matches!(refused, revchain::Error::DatabaseAhead { .. }),
        "{refused}"
    );
    let served = revchain::Migrator::new(m)
        .allow_database_ahead(true)
        .run(&pool)
        .await
        .unwrap();
    assert!(served.database_ahead && !served.changed(), "{served:?}");

    // Another branch of the history (e5 after c3) that the database does not have, while
    // the database has d4 that this binary does not: diverged.
    let other = Dir::new();
    history(&other);
    other.creates_table("e5", "c3", "x");
    let s = revchain::Migrator::new(leak(&other))
        .status(&pool)
        .await
        .unwrap();
    assert_eq!(s.state(), Diverged, "{s:?}");
    assert_eq!(
        (s.ahead.clone(), s.pending.clone()),
        (vec!["d4".into()], vec!["e5".into()])
    );
    assert_eq!(check(&other).0, Some(6));

    // Back to c3, then edit two applied revisions: edited, both named.
    leak(&newer).downgrade(&pool, "c3").await.unwrap();
    let edited = Dir::new();
    history(&edited);
    edited
        .rev(
            "b2",
            "a1",
            "",
            "INSERT INTO t VALUES (2);",
            Some("DELETE FROM t;"),
        )
        .rev(
            "c3",
            "b2",
            "",
            "CREATE TABLE u (id BIGINT);",
            Some("DROP TABLE u;"),
        );
    let s = revchain::Migrator::new(leak(&edited))
        .status(&pool)
        .await
        .unwrap();
    assert_eq!(s.state(), Edited, "{s:?}");
    assert_eq!(s.edited, ["b2", "c3"], "{s:?}");
    let (code, shown) = check(&edited);
    assert_eq!(code, Some(4), "{shown}");
    for id in ["revision b2 was applied", "revision c3 was applied"] {
        assert!(shown.contains(id), "{shown}");
    }

    // A dirty mark.
    probe
        .exec(&format!(
            "UPDATE revchain_log SET dirty = {} WHERE revision = 'c3'",
            if kind == Kind::Postgres { "TRUE" } else { "1" }
        ))
        .await;
    let s = status().await;
    assert_eq!(s.state(), Dirty, "{s:?}");
    let refused = m.upgrade(&pool, "head").await.unwrap_err();
    assert_eq!(s.refusal, Some(refused.to_string()));
    let (code, shown) = check(&this);
    assert_eq!(code, Some(4), "{shown}");
    assert!(shown.contains("revision c3"), "{shown}");
    pool.close().await;
}

#[tokio::test]
async fn status_tells_every_state_apart_on_postgres() {
    status_states::<sqlx::Postgres>(Kind::Postgres).await;
}

#[tokio::test]
async fn status_tells_every_state_apart_on_mariadb() {
    status_states::<sqlx::MySql>(Kind::MySql).await;
}

#[tokio::test]
async fn status_tells_every_state_apart_on_sqlite() {
    status_states::<sqlx::Sqlite>(Kind::Sqlite).await;
}
