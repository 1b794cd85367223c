//! Autogenerate (issue 9): the corpus of schema changes on PostgreSQL, MariaDB and SQLite,
//! `revision --autogenerate`, `check --schema` and `test-roundtrip` through the `revchain`
//! tool, `revchain::testing::roundtrip`, and scratch databases that are gone afterwards
//! (success, failure, an invalid schema file, Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use revchain::autogen::Autogen;
use revchain::testing::{RoundtripError, roundtrip};
use revchain_core::writer::{NewRevision, render};
use revchain_schema::{Schema, changes};
use revchain_tests::{Dir, Kind, TestDb, fixture, load, server_url};

/// The URL autogenerate gets for `kind`: the server (SQLite: any `sqlite:` URL).
fn server(kind: Kind) -> String {
    match kind {
        Kind::Sqlite => "sqlite://scratch".to_owned(),
        other => server_url(other),
    }
}

fn db_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "postgres",
        Kind::MySql => "mysql",
        Kind::Sqlite => "sqlite",
    }
}

// ---------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------

/// One line of a case's `expect` file.
#[derive(Debug)]
struct Expectation {
    db: Option<String>,
    what: String,
    text: String,
}

fn expectations(case: &Path) -> Vec<Expectation> {
    let Ok(text) = std::fs::read_to_string(case.join("expect")) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (head, text) = l.split_once(": ").unwrap_or((l, ""));
            let mut words = head.split_whitespace();
            let (db, what) = match (words.next(), words.next()) {
                (Some(db), Some(what)) => (Some(db.to_owned()), what.to_owned()),
                (Some(what), None) => (None, what.to_owned()),
                _ => (None, String::new()),
            };
            Expectation {
                db,
                what,
                text: text.to_owned(),
            }
        })
        .collect()
}

/// `<base>.<db>.sql` if the case has one, else `<base>.sql`.
fn case_file(case: &Path, base: &str, kind: Kind) -> Option<PathBuf> {
    let specific = case.join(format!("{base}.{}.sql", db_name(kind)));
    if specific.exists() {
        return Some(specific);
    }
    let common = case.join(format!("{base}.sql"));
    common.exists().then_some(common)
}

fn write_revision(dir: &Path, id: &str, parent: Option<&str>, m: &revchain_schema::Migration) {
    let text = render(&NewRevision {
        id: id.to_owned(),
        message: format!("revision {id}"),
        parents: parent.map(|p| vec![p.to_owned()]).unwrap_or_default(),
        create_date: "2026-01-01 00:00:00.000000+00:00".to_owned(),
        transactional: m.transactional,
        upgrade: m.upgrade.clone(),
        downgrade: Some(m.downgrade.clone()),
        ..NewRevision::default()
    })
    .expect("a generated revision renders");
    std::fs::write(dir.join(format!("{id}_rev.sql")), text).expect("writing a revision");
}

fn differences(a: &Schema, b: &Schema, kind: Kind) -> Result<(), String> {
    let d = changes(a, b, kind.dialect());
    if d.is_empty() {
        Ok(())
    } else {
        Err(d.join("; "))
    }
}

/// Runs one case on one database; `Ok(false)` when the case does not apply to it.
async fn run_case(kind: Kind, case: PathBuf) -> Result<bool, String> {
    let db = db_name(kind);
    if let Ok(dbs) = std::fs::read_to_string(case.join("databases"))
        && !dbs.split_whitespace().any(|d| d == db)
    {
        return Ok(false);
    }
    let Some(schema) = case_file(&case, "schema", kind) else {
        return Ok(false);
    };
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let start = match case_file(&case, "start", kind) {
        Some(p) => p,
        None => {
            let p = tmp.path().join("empty.sql");
            std::fs::write(&p, "").map_err(|e| e.to_string())?;
            p
        }
    };
    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    let url = server(kind);
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");

    // Revision 1: from nothing to start.sql.
    let empty = load(&dir);
    let first = Autogen::new(&url, &empty)
        .compare(&[], &start)
        .await
        .map_err(|e| fail("comparing with start.sql", &e))?;
    if !first.current.is_empty() {
        return Err(format!(
            "an empty history has a schema: {:?}",
            first.current
        ));
    }
    let start_schema = first.declared.clone();
    let mut parent = None;
    if let Some(m) = first.migration() {
        write_revision(&dir, "a1", None, &m);
        parent = Some("a1");
    }

    // Revision 2: from start.sql to schema.sql.
    let m1 = load(&dir);
    let heads: Vec<&str> = m1.heads().map(|r| r.id()).collect();
    let second = Autogen::new(&url, &m1)
        .compare(&heads, &schema)
        .await
        .map_err(|e| fail("comparing with schema.sql", &e))?;
    differences(&second.current, &start_schema, kind)
        .map_err(|d| format!("revision 1 does not produce start.sql: {d}"))?;
    let expect = expectations(&case);
    let applies = |e: &Expectation| e.db.as_deref().is_none_or(|d| d == db);
    let generated = second.migration();
    if expect.iter().any(|e| e.what == "no-change") {
        return match generated {
            None => Ok(true),
            Some(m) => Err(format!("expected no change, got:\n{}", m.upgrade)),
        };
    }
    let Some(generated) = generated else {
        return Err("no change detected".to_owned());
    };
    for e in expect.iter().filter(|e| applies(e)) {
        let section = |name: &str| -> &str {
            if name.starts_with("upgrade") {
                &generated.upgrade
            } else {
                &generated.downgrade
            }
        };
        let ok = match e.what.as_str() {
            "upgrade" | "downgrade" => section(&e.what).contains(&e.text),
            "upgrade-not" | "downgrade-not" => !section(&e.what).contains(&e.text),
            "upgrade-order" | "downgrade-order" => {
                let sql = section(&e.what);
                let mut at = 0;
                e.text.split(" | ").all(|part| match sql[at..].find(part) {
                    Some(p) => {
                        at += p + part.len();
                        true
                    }
                    None => false,
                })
            }
            "transactional" => generated.transactional.to_string() == e.text,
            other => return Err(format!("unknown expectation `{other}`")),
        };
        if !ok {
            return Err(format!(
                "expectation `{} {}: {}` not met:\n-- upgrade\n{}\n-- downgrade\n{}",
                e.db.as_deref().unwrap_or(""),
                e.what,
                e.text,
                generated.upgrade,
                generated.downgrade
            ));
        }
    }
    write_revision(&dir, "b2", parent, &generated);

    // Both revisions, upgraded and downgraded one by one on a scratch database: revision 1
    // gives the start schema, revision 2 the wanted one, and each downgrade restores the
    // schema before its upgrade (revision 2's: the start schema).
    let m2 = load(&dir);
    let report = roundtrip(&url, &m2).await.map_err(|e| {
        format!(
            "{e}\n-- upgrade\n{}\n-- downgrade\n{}",
            generated.upgrade, generated.downgrade
        )
    })?;
    let last = report
        .revisions
        .last()
        .ok_or_else(|| "the roundtrip checked nothing".to_owned())?;
    differences(&last.schema_after, &second.declared, kind)
        .map_err(|d| format!("revision 2 does not produce schema.sql: {d}"))?;
    if parent.is_some() {
        differences(&report.revisions[0].schema_after, &start_schema, kind)
            .map_err(|d| format!("revision 1 does not produce start.sql in the roundtrip: {d}"))?;
    }
    Ok(true)
}

/// Runs every case on one database, a few at a time; the number of cases run, and the
/// failures.
async fn run_corpus(kind: Kind, cases: Vec<PathBuf>) -> (usize, Vec<String>) {
    const PARALLEL: usize = 4;
    let mut set = tokio::task::JoinSet::new();
    let mut queue = cases.into_iter();
    let mut ran = 0;
    let mut failures = Vec::new();
    loop {
        while set.len() < PARALLEL {
            let Some(case) = queue.next() else { break };
            set.spawn(async move {
                let name = case
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (name, run_case(kind, case).await)
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        match joined {
            Ok((_, Ok(true))) => ran += 1,
            Ok((_, Ok(false))) => {}
            Ok((name, Err(e))) => failures.push(format!("{name} on {}: {e}", db_name(kind))),
            Err(e) => failures.push(format!("a case on {} panicked: {e}", db_name(kind))),
        }
    }
    (ran, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_on_postgres_mariadb_and_sqlite() {
    let root = fixture("autogen");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let started = Instant::now();
    let tasks: Vec<_> = Kind::ALL
        .into_iter()
        .map(|kind| {
            let cases = cases.clone();
            tokio::spawn(async move { (kind, run_corpus(kind, cases).await) })
        })
        .collect();
    let mut failures = Vec::new();
    for t in tasks {
        let (kind, (ran, failed)) = t.await.expect("a corpus task");
        eprintln!(
            "{}: {ran} case(s) passed, {} failed",
            db_name(kind),
            failed.len()
        );
        assert!(
            ran + failed.len() >= 25,
            "{}: only {} cases",
            db_name(kind),
            ran + failed.len()
        );
        failures.extend(failed);
    }
    eprintln!("corpus: {:.1?}", started.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// The revchain tool
// ---------------------------------------------------------------------------------------

/// A project: `migrations/` with `schema.sql` next to it.
struct Project {
    tmp: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(tmp.path().join("migrations")).expect("migrations/");
        Project { tmp }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn dir(&self) -> PathBuf {
        self.root().join("migrations")
    }

    fn schema(&self, sql: &str) -> &Self {
        std::fs::write(self.root().join("schema.sql"), sql).expect("schema.sql");
        self
    }

    fn revisions(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir())
            .expect("migrations/")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    fn command(&self, kind: Kind, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_revchain-cli"));
        c.current_dir(self.root())
            .arg("--dir")
            .arg("migrations")
            .args(args)
            .arg("--database-url")
            .arg(server(kind))
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn,revchain=debug")
            .env("NO_COLOR", "1");
        c
    }

    fn run(&self, kind: Kind, args: &[&str]) -> Output {
        self.command(kind, args).output().expect("running revchain")
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Removes ANSI colour sequences (the log lines are coloured).
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The scratch databases a run logged as created.
fn scratch_names(stderr: &str) -> Vec<String> {
    plain(stderr)
        .lines()
        .filter_map(|l| l.split("created scratch database ").nth(1))
        .map(|n| n.trim().to_owned())
        .collect()
}

/// Asserts that none of `names` exists any more (and that there were some).
async fn assert_gone(kind: Kind, names: &[String]) {
    assert!(!names.is_empty(), "no scratch database was logged");
    for name in names {
        assert!(name.contains("revchain_scratch_"), "{name}");
        let exists = match kind {
            Kind::Sqlite => Path::new(name).parent().is_some_and(Path::exists),
            Kind::Postgres => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&format!("{}/postgres", server_url(kind)))
                    .await
                    .expect("PostgreSQL");
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
                        .bind(name)
                        .fetch_one(&mut c)
                        .await
                        .expect("pg_database");
                n > 0
            }
            Kind::MySql => {
                use sqlx::Connection;
                let mut c = sqlx::MySqlConnection::connect(&server_url(kind))
                    .await
                    .expect("MariaDB");
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                )
                .bind(name)
                .fetch_one(&mut c)
                .await
                .expect("SCHEMATA");
                n > 0
            }
        };
        assert!(!exists, "scratch database {name} was left behind");
    }
}

async fn ok(p: &Project, kind: Kind, args: &[&str]) -> String {
    let out = p.run(kind, args);
    let err = text(&out.stderr);
    assert!(
        out.status.success(),
        "revchain {args:?} failed ({:?}):\n{err}",
        out.status.code()
    );
    assert_gone(kind, &scratch_names(&err)).await;
    text(&out.stdout)
}

async fn fails(p: &Project, kind: Kind, args: &[&str]) -> String {
    let out = p.run(kind, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "revchain {args:?}:\n{err}");
    assert_gone(kind, &scratch_names(&err)).await;
    plain(&err)
}

const V1: &str =
    "CREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n    email VARCHAR(100) NOT NULL\n);\n";
const V2: &str = "CREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n    email VARCHAR(100) NOT NULL,\n    name VARCHAR(50)\n);\nCREATE INDEX ix_users_email ON users (email);\n";

async fn tool_end_to_end(kind: Kind) {
    let p = Project::new();
    p.schema(V1);
    let out = ok(
        &p,
        kind,
        &["revision", "--autogenerate", "-m", "create users"],
    )
    .await;
    assert!(out.starts_with("Generating "), "{out}");
    assert!(out.contains("Review the generated revision"), "{out}");
    let files = p.revisions();
    assert_eq!(files.len(), 1);
    let first = std::fs::read_to_string(p.dir().join(&files[0])).unwrap();
    assert!(
        first.contains("-- migrate:upgrade\nCREATE TABLE users ("),
        "{first}"
    );
    assert!(first.contains("DROP TABLE users;"), "{first}");
    // Nothing changed: no file, and a message.
    let out = ok(&p, kind, &["revision", "--autogenerate", "-m", "again"]).await;
    assert!(out.starts_with("No changes in schema detected"), "{out}");
    assert_eq!(p.revisions().len(), 1);
    // `check --schema` (default: schema.sql next to migrations/) passes, then catches a
    // forgotten revision.
    let out = ok(&p, kind, &["check", "--schema"]).await;
    assert!(
        out.contains("The migrations at head produce the schema of schema.sql"),
        "{out}"
    );
    p.schema(V2);
    let err = fails(&p, kind, &["check", "--schema", "schema.sql"]).await;
    assert!(
        err.contains("do not produce the schema of schema.sql; 2 difference(s)"),
        "{err}"
    );
    assert!(err.contains("  - added column users.name"), "{err}");
    assert!(
        err.contains("  - added index ix_users_email on users (email)"),
        "{err}"
    );
    let out = ok(&p, kind, &["revision", "--autogenerate", "-m", "add name"]).await;
    assert!(out.contains("_add_name.sql ...  done"), "{out}");
    assert_eq!(p.revisions().len(), 2);
    ok(&p, kind, &["check", "--schema", "schema.sql"]).await;
    let out = ok(&p, kind, &["test-roundtrip"]).await;
    assert!(
        out.ends_with("2 revision(s): every downgrade undoes its upgrade.\n"),
        "{out}"
    );
}

#[tokio::test]
async fn tool_autogenerates_checks_and_roundtrips_on_postgres() {
    tool_end_to_end(Kind::Postgres).await;
}

#[tokio::test]
async fn tool_autogenerates_checks_and_roundtrips_on_mariadb() {
    tool_end_to_end(Kind::MySql).await;
}

#[tokio::test]
async fn tool_autogenerates_checks_and_roundtrips_on_sqlite() {
    tool_end_to_end(Kind::Sqlite).await;
}

#[tokio::test]
async fn scratch_databases_are_gone_after_failures() {
    for kind in Kind::ALL {
        // A schema file the database rejects: the error names the file and line.
        let p = Project::new();
        p.schema(
            "CREATE TABLE fine (id INTEGER);\n\nCREATE TABLE broken (id INTEGER,, name TEXT);\n",
        );
        for args in [
            &["revision", "--autogenerate", "-m", "x"][..],
            &["check", "--schema"][..],
        ] {
            let err = fails(&p, kind, args).await;
            assert!(
                err.contains(
                    "error: schema.sql:3: the database rejected this statement of the schema file: "
                ),
                "{kind:?} {args:?}: {err}"
            );
        }
        assert!(p.revisions().is_empty());

        // A revision that fails in the scratch database: its file and line.
        p.schema(V1);
        std::fs::write(
            p.dir().join("a1_broken.sql"),
            "-- broken\n-- Revision ID: a1\n-- Revises:\n\n-- migrate:upgrade\nCREATE TABLE t (id INTEGER);\nSELECT * FROM no_such_table;\n\n-- migrate:downgrade\nDROP TABLE t;\n",
        )
        .unwrap();
        let err = fails(&p, kind, &["revision", "--autogenerate", "-m", "x"]).await;
        assert!(
            err.contains(
                "migrations/a1_broken.sql:7: upgrade of revision a1 failed in a scratch database: "
            ),
            "{kind:?}: {err}"
        );
        assert_eq!(p.revisions(), ["a1_broken.sql"]);
    }
}

#[tokio::test]
async fn usage_errors_name_the_problem() {
    let p = Project::new();
    let early = |args: &[&str]| {
        let out = p.run(Kind::Sqlite, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = plain(&text(&out.stderr));
        assert!(scratch_names(&err).is_empty(), "{err}");
        err
    };
    let err = early(&["revision", "--autogenerate", "-m", "x"]);
    assert!(
        err.contains("error: schema.sql: the schema file does not exist"),
        "{err}"
    );
    std::fs::write(p.dir().join("schema.sql"), V1).unwrap();
    let err = early(&[
        "revision",
        "--autogenerate",
        "-m",
        "x",
        "--schema",
        "migrations/schema.sql",
    ]);
    assert!(
        err.contains("must not be inside the migrations directory"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .current_dir(p.root())
        .args(["--dir", "migrations", "test-roundtrip"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`test-roundtrip` needs a database"));
    std::fs::remove_file(p.dir().join("schema.sql")).unwrap();
    p.schema(V1);
    let out = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .current_dir(p.root())
        .args(["--dir", "migrations", "check", "--schema", "schema.sql"])
        .args([
            "--database-url",
            "postgres://revchain:s3cret-pw@127.0.0.1:1/x",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: cannot connect to postgres://revchain:***@127.0.0.1:1/x: "),
        "{err}"
    );
    assert!(
        !err.contains("s3cret-pw"),
        "the password was printed: {err}"
    );
}

/// Ctrl-C while a statement of the schema file runs: exit 130, scratch databases gone.
async fn interrupted(kind: Kind) {
    let slow = match kind {
        Kind::Postgres => "SELECT pg_sleep(60);\n",
        Kind::MySql => "SELECT SLEEP(60);\n",
        Kind::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c;\n"
        }
    };
    let p = Project::new();
    p.schema(&format!("{V1}{slow}"));
    let tmp = tempfile::tempdir().unwrap();
    let mut child = p
        .command(kind, &["revision", "--autogenerate", "-m", "x"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting revchain");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while scratch_names(&lines.join("\n")).len() < 2 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => lines.push(l),
            Err(_) => panic!("{kind:?}: no scratch databases after 60 s: {lines:?}"),
        }
    }
    // Let the slow statement start.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("waiting for revchain");
    let _ = reader.join();
    lines.extend(rx.try_iter());
    let all = plain(&lines.join("\n"));
    assert_eq!(exit.code(), Some(130), "{kind:?}: {all}");
    assert!(
        all.contains("error: interrupted; the scratch databases were dropped"),
        "{all}"
    );
    assert_gone(kind, &scratch_names(&all)).await;
    assert!(p.revisions().is_empty());
}

#[tokio::test]
async fn ctrl_c_drops_the_scratch_databases() {
    for kind in Kind::ALL {
        interrupted(kind).await;
    }
}

// ---------------------------------------------------------------------------------------
// revchain::testing::roundtrip
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn roundtrip_names_the_revision_whose_downgrade_falls_short() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let d = Dir::new();
        d.rev(
            "a1",
            "",
            "",
            "CREATE TABLE t (id INTEGER PRIMARY KEY);",
            Some("DROP TABLE t;"),
        )
        .rev(
            "b2",
            "a1",
            "",
            "CREATE TABLE u (id INTEGER PRIMARY KEY, name VARCHAR(20));\nCREATE INDEX ix_u_name ON u (name);",
            Some("DROP INDEX ix_u_name;"),
        );
        let err = roundtrip(&server(kind), &d.load()).await.unwrap_err();
        match &err {
            RoundtripError::NotReversible {
                id, differences, ..
            } => {
                assert_eq!(id, "b2");
                assert_eq!(differences, &["added table u"], "{kind:?}");
            }
            other => panic!("{kind:?}: {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("b2_rev.sql: the downgrade of revision b2 does not undo"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn roundtrip_steps_over_irreversible_revisions_and_branches() {
    let d = Dir::new();
    d.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INTEGER);",
        Some("DROP TABLE t;"),
    )
    .rev(
        "b2",
        "a1",
        "-- Branch Labels: left",
        "CREATE TABLE l (id INTEGER);",
        Some("DROP TABLE l;"),
    )
    .rev(
        "c3",
        "a1",
        "-- Branch Labels: right",
        "CREATE TABLE r (id INTEGER);",
        Some("DROP TABLE r;"),
    )
    .rev("d4", "c3", "", "CREATE TABLE once (id INTEGER);", None)
    .rev(
        "e5",
        "d4",
        "",
        "CREATE TABLE later (id INTEGER);",
        Some("DROP TABLE later;"),
    );
    for kind in [Kind::Sqlite, Kind::MySql] {
        let report = roundtrip(&server(kind), &d.load())
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let ids: Vec<&str> = report.revisions.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a1", "b2", "c3", "d4", "e5"]);
        let skipped: Vec<&str> = report
            .irreversible()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(skipped, ["d4"]);
        let last = &report.revisions[4].schema_after;
        let names: Vec<&str> = last.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["l", "later", "once", "r", "t"]);
    }
}

#[tokio::test]
async fn portable_fixture_passes_the_roundtrip_through_the_embedded_cli() {
    let out = Command::new(env!("CARGO_BIN_EXE_embedded-cli"))
        .args(["test-roundtrip", "--database-url", "sqlite://scratch"])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("revision(s): every downgrade undoes its upgrade"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------
// SQLite's copy-and-swap keeps the rows that reference the rebuilt table
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_rebuild_keeps_rows_that_reference_the_table() {
    let p = Project::new();
    p.schema(
        "CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id) ON DELETE CASCADE);\n",
    );
    ok(
        &p,
        Kind::Sqlite,
        &["revision", "--autogenerate", "-m", "one", "--rev-id", "a1"],
    )
    .await;
    p.schema(
        "CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'unnamed', born DATE);\nCREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id) ON DELETE CASCADE);\n",
    );
    ok(
        &p,
        Kind::Sqlite,
        &["revision", "--autogenerate", "-m", "two", "--rev-id", "b2"],
    )
    .await;
    let second = std::fs::read_to_string(p.dir().join("b2_two.sql")).unwrap();
    assert!(second.contains("-- Transactional: false\n"), "{second}");

    let db = TestDb::new(Kind::Sqlite).await;
    let pool: sqlx::SqlitePool = db.pool().await;
    let m = load(&p.dir());
    m.upgrade(&pool, "a1").await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b');\nINSERT INTO children (id, parent_id) VALUES (10, 1), (20, 2), (30, 2);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM children")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    m.upgrade(&pool, "head").await.unwrap();
    assert_eq!(count().await, 3, "the rebuild deleted referencing rows");
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM parents ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(names, ["a", "b"]);
    m.downgrade(&pool, "a1").await.unwrap();
    assert_eq!(count().await, 3, "the downgrade deleted referencing rows");
    let violations: Vec<(String,)> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(violations.is_empty());
    pool.close().await;
}
