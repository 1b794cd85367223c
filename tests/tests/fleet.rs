//! `revchain fleet`: many databases (PostgreSQL, MariaDB, SQLite) and many schemas of one
//! PostgreSQL database, driven through the `revchain` tool from mixed states; a target
//! broken on purpose, a failing canary wave, shards, kill -9 in the middle, and passwords
//! that appear nowhere.
//!
//! SQLite runs 200 files and PostgreSQL 200 schemas always; the PostgreSQL (200) and
//! MariaDB (50) database counts of issue 21 run with `REVCHAIN_FLEET_FULL=1` (smaller
//! counts otherwise: see [`size`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use revchain_tests::{Cli, Kind, admin, fixture, server_url, unique_name};
use serde_json::Value;
use sqlx::Connection as _;

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

const BASE: &str = "";
const PART: &str = "f1ee70000002";
const HEAD: &str = "f1ee70000004";
/// How many databases a server test creates: the sizes with
/// `REVCHAIN_FLEET_FULL=1`, else `small` (creating and dropping a database on a loaded CI
/// machine costs about a second each, far more than migrating it).
fn size(full: usize, small: usize) -> usize {
    if std::env::var("REVCHAIN_FLEET_FULL").is_ok_and(|v| v == "1") {
        full
    } else {
        small
    }
}

/// The exit code of a fleet command with a target not at the goal.
const INCOMPLETE: i32 = 8;

/// `revchain --dir tests/fixtures/fleet ARGS…`.
fn fleet(args: &[&str]) -> Output {
    CLI.run(&fixture("fleet"), args)
}

/// The JSON report on stdout.
fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Each target's (state, applied count) in a JSON report, by target.
fn outcomes(report: &Value) -> std::collections::BTreeMap<String, (String, usize)> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_owned(),
                (
                    t["state"].as_str().unwrap().to_owned(),
                    t["applied"].as_array().unwrap().len(),
                ),
            )
        })
        .collect()
}

fn write_targets(dir: &Path, name: &str, urls: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::from("# the fleet's targets\n\n");
    for u in urls {
        text.push_str(u);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Brings each target to its starting state: `i % 3` 0 at base, 1 part-way, 2 at head.
fn mixed_states(dir: &Path, urls: &[String], extra: &[&str]) -> Vec<&'static str> {
    let starts: Vec<&str> = (0..urls.len()).map(|i| [BASE, PART, HEAD][i % 3]).collect();
    for (goal, file) in [(PART, "part.txt"), (HEAD, "head.txt")] {
        let chosen: Vec<String> = urls
            .iter()
            .zip(&starts)
            .filter(|(_, s)| **s == goal)
            .map(|(u, _)| u.clone())
            .collect();
        let f = write_targets(dir, file, &chosen);
        let mut args = vec![
            "fleet",
            "upgrade",
            goal,
            "--targets-file",
            f.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = fleet(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    starts
}

/// How many revisions reach `HEAD` from `start`.
fn to_head(start: &str) -> usize {
    match start {
        BASE => 4,
        PART => 2,
        _ => 0,
    }
}

/// The log table's row count of each target URL (`schema` for schema targets), 16 at once.
async fn log_counts(urls: &[String]) -> Vec<i64> {
    let mut counts = Vec::new();
    for chunk in urls.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for (i, url) in chunk.iter().enumerate() {
            let url = url.clone();
            set.spawn(async move { (i, log_count(&url, "revchain_log").await) });
        }
        let mut part: Vec<(usize, i64)> = set.join_all().await;
        part.sort();
        counts.extend(part.into_iter().map(|(_, n)| n));
    }
    counts
}

async fn log_count(url: &str, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let sql = sqlx::AssertSqlSafe(sql);
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap_or(0)
    } else if url.starts_with("mysql") {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap_or(0)
    } else {
        let Ok(mut c) = sqlx::SqliteConnection::connect(url.trim_end_matches("?mode=rwc")).await
        else {
            return -1;
        };
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap_or(0)
    }
}

/// `n` databases on the server of `kind`, dropped with the value.
struct Databases {
    kind: Kind,
    names: Vec<String>,
}

impl Databases {
    async fn create(kind: Kind, n: usize) -> Databases {
        let prefix = unique_name("fleet");
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}_{i:03}")).collect();
        let dbs = Databases { kind, names };
        for chunk in dbs.names.chunks(8) {
            let mut set = tokio::task::JoinSet::new();
            for name in chunk {
                let sql = format!("CREATE DATABASE {name}");
                set.spawn(async move { admin(kind, &sql).await });
            }
            set.join_all().await;
        }
        dbs
    }

    /// The URLs, with `password` (ignored by PostgreSQL's trust; MariaDB checks it, so
    /// none there) in each.
    fn urls(&self, password: &str) -> Vec<String> {
        let server = server_url(self.kind);
        let (scheme, rest) = server.split_once("://").unwrap();
        let (user, host) = rest.split_once('@').unwrap();
        let user = user.split(':').next().unwrap();
        let secret = if password.is_empty() {
            String::new()
        } else {
            format!(":{password}")
        };
        self.names
            .iter()
            .map(|n| format!("{scheme}://{user}{secret}@{host}/{n}"))
            .collect()
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let kind = self.kind;
        let names = std::mem::take(&mut self.names);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                for chunk in names.chunks(8) {
                    let mut set = tokio::task::JoinSet::new();
                    for name in chunk {
                        let sql = match kind {
                            Kind::Postgres => {
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                            }
                            _ => format!("DROP DATABASE IF EXISTS {name}"),
                        };
                        set.spawn(async move { admin(kind, &sql).await });
                    }
                    set.join_all().await;
                }
            });
        })
        .join();
    }
}

/// No byte of `secret` in `out`'s streams nor in any file under `dir`.
fn assert_hidden(secret: &str, out: &Output, dir: Option<&Path>) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(secret), "the password leaked:\n{text}");
    }
    if let Some(dir) = dir {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains(secret), "{}:\n{text}", path.display());
        }
    }
}

/// The whole scenario on many databases: mixed states, one broken target (when `broken`),
/// every other one at head, then a re-run that touches nothing.
async fn mixed_fleet(urls: &[String], broken: Option<usize>, secret: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let starts = mixed_states(tmp.path(), urls, &["--jobs", "8"]);
    if let Some(b) = broken {
        assert_eq!(starts[b], BASE);
        break_target(&urls[b]).await;
    }
    let all = write_targets(tmp.path(), "all.txt", urls);
    let logs = tmp.path().join("logs");
    let args = [
        "fleet",
        "upgrade",
        "--targets-file",
        all.to_str().unwrap(),
        "--jobs",
        "16",
        "--max-failures",
        "5",
        "--format",
        "json",
        "--log-dir",
        logs.to_str().unwrap(),
    ];
    let out = fleet(&args);
    assert_hidden(secret, &out, Some(&logs));
    let json = report(&out);
    let got = outcomes(&json);
    assert_eq!(got.len(), urls.len());
    assert_eq!(std::fs::read_dir(&logs).unwrap().count(), urls.len());
    for (i, url) in urls.iter().enumerate() {
        let shown = revchain::url::redact(url);
        let (state, applied) = &got[&shown];
        if Some(i) == broken {
            assert_eq!(state, "failed", "{shown}");
            assert_eq!(*applied, 0, "{shown}");
        } else {
            assert_eq!(state, "at_goal", "{shown}");
            assert_eq!(*applied, to_head(starts[i]), "{shown}");
        }
    }
    if let Some(b) = broken {
        assert_eq!(out.status.code(), Some(INCOMPLETE));
        let first = &json["targets"].as_array().unwrap()[0];
        let text = fleet(&args[..6]);
        let summary = String::from_utf8_lossy(&text.stdout);
        let first_line = summary.lines().nth(1).unwrap_or_default();
        let shown = revchain::url::redact(&urls[b]);
        assert!(first_line.starts_with(&shown), "failures first:\n{summary}");
        assert!(first_line.contains("failed"), "{summary}");
        assert_eq!(first["target"].as_str(), Some(shown.as_str()));
        assert_eq!(
            first["error"]["kind"].as_str(),
            Some("statement"),
            "{first}"
        );
        assert_hidden(secret, &text, None);
    } else {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The re-run: nothing applied, no log row written anywhere.
    let before = log_counts(urls).await;
    let again = fleet(&args);
    let json = report(&again);
    assert!(
        outcomes(&json).values().all(|(_, applied)| *applied == 0),
        "{json}"
    );
    assert_eq!(log_counts(urls).await, before);
}

/// Creates the table `f1ee70000002` creates, so that it fails there.
async fn break_target(url: &str) {
    let sql = "CREATE TABLE fleet_notes (id INTEGER PRIMARY KEY)";
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else if url.starts_with("mysql") {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
}

fn sqlite_urls(dir: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("sqlite://{}/t{i:03}.db?mode=rwc", dir.display()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_databases_from_mixed_states_one_broken_and_no_password_shown() {
    let dbs = Databases::create(Kind::Postgres, size(200, 24)).await;
    let secret = "fleetS3cretPw";
    mixed_fleet(&dbs.urls(secret), Some(3), secret).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_databases_from_mixed_states() {
    let dbs = Databases::create(Kind::MySql, size(50, 15)).await;
    mixed_fleet(&dbs.urls(""), None, "no-password-here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_200_files_from_mixed_states_one_broken() {
    let dir = tempfile::tempdir().unwrap();
    mixed_fleet(&sqlite_urls(dir.path(), 200), Some(6), "no-password-here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_200_schemas_each_with_its_own_tables_and_search_path() {
    let dbs = Databases::create(Kind::Postgres, 1).await;
    let url = dbs.urls("schemaS3cret").remove(0);
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut sql = String::new();
    for i in 0..200 {
        sql.push_str(&format!(
            "CREATE SCHEMA {}_tenant_{i:03};",
            ["a", "b", "c"][i % 3]
        ));
    }
    sql.push_str("CREATE SCHEMA other;");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap();
    let db = ["--database-url", url.as_str()];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&db);
        fleet(&all)
    };
    for (goal, pattern) in [(PART, "b\\_%"), (HEAD, "c\\_%")] {
        let out = run(&[
            "fleet",
            "upgrade",
            goal,
            "--schemas",
            pattern,
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            report(&out)["targets"].as_array().unwrap().len(),
            67 - usize::from(goal == HEAD)
        );
    }
    let args = [
        "fleet",
        "upgrade",
        "--schemas",
        "%tenant%",
        "--jobs",
        "16",
        "--format",
        "json",
    ];
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_hidden("schemaS3cret", &out, None);
    let got = outcomes(&report(&out));
    assert_eq!(got.len(), 200);
    for (target, (state, applied)) in &got {
        let schema = target.rsplit('#').next().unwrap();
        assert_eq!(state, "at_goal", "{target}");
        let start = match &schema[..1] {
            "a" => BASE,
            "b" => PART,
            _ => HEAD,
        };
        assert_eq!(*applied, to_head(start), "{target}");
    }
    // Every schema holds its own tables; nothing landed in `public` or `other`.
    let per_schema: Vec<(String, i64)> = sqlx::query_as(
        "SELECT table_schema::text, count(*) FROM information_schema.tables \
         WHERE table_name IN ('fleet_accounts', 'fleet_notes', 'revchain_version', 'revchain_log') \
         GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(per_schema.len(), 200, "{per_schema:?}");
    assert!(
        per_schema
            .iter()
            .all(|(s, n)| s.contains("_tenant_") && *n == 4),
        "{per_schema:?}"
    );
    // The re-run: no log row written in any schema.
    let count_all = async |c: &mut sqlx::PgConnection| {
        let mut counts = Vec::new();
        for i in 0..200 {
            let t = format!("{}_tenant_{i:03}.revchain_log", ["a", "b", "c"][i % 3]);
            let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}"));
            counts.push(
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut *c)
                    .await
                    .unwrap(),
            );
        }
        counts
    };
    let before = count_all(&mut c).await;
    let again = run(&args);
    assert!(outcomes(&report(&again)).values().all(|(_, a)| *a == 0));
    assert_eq!(count_all(&mut c).await, before);
    let status = run(&["fleet", "status", "--schemas", "%tenant%"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_schemas_migrate_concurrently() {
    // Schema `a_locked`'s next revision waits on a table lock held here; `b_free`'s run
    // finishes meanwhile: the schemas' migration locks are their own.
    let dbs = Databases::create(Kind::Postgres, 1).await;
    let url = dbs.urls("x").remove(0);
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE SCHEMA a_locked; CREATE SCHEMA b_free;")
        .execute(&mut c)
        .await
        .unwrap();
    let db = ["--database-url", url.as_str()];
    let mut prep = vec!["fleet", "upgrade", PART, "--schemas", "%\\_%"];
    prep.extend_from_slice(&db);
    assert!(fleet(&prep).status.success());
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE a_locked.fleet_accounts IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let child = Command::new(CLI.0)
        .args(["--dir", fixture("fleet").to_str().unwrap()])
        .args(["fleet", "upgrade", "--schemas", "%\\_%", "--jobs", "2"])
        .args(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b_done = log_count(&url, "b_free.revchain_log").await == 4;
        let a_waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE '%fleet_accounts%'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        if b_done && a_waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b_free did not finish while a_locked waited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(log_count(&url, "a_locked.revchain_log").await, 2);
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(log_count(&url, "a_locked.revchain_log").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_stops_the_fleet_before_the_next_wave() {
    let dir = tempfile::tempdir().unwrap();
    let urls = sqlite_urls(dir.path(), 40);
    break_target(&urls[2]).await;
    let file = write_targets(dir.path(), "all.txt", &urls);
    let out = fleet(&[
        "fleet",
        "upgrade",
        "--targets-file",
        file.to_str().unwrap(),
        "--canary",
        "5",
        "--jobs",
        "5",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(INCOMPLETE));
    let json = report(&out);
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), urls.len());
    for t in targets {
        let i = urls
            .iter()
            .position(|u| revchain::url::redact(u) == t["target"].as_str().unwrap())
            .unwrap();
        match i {
            2 => assert_eq!(t["state"], "failed", "{t}"),
            0..5 => assert_eq!(t["state"], "at_goal", "{t}"),
            _ => {
                assert_eq!(t["state"], "behind", "{t}");
                assert_eq!(t["error"]["kind"], "skipped", "{t}");
            }
        }
    }
    // Nothing beyond the canary was touched: its files were not even created.
    for (i, url) in urls.iter().enumerate().skip(5) {
        assert_eq!(
            log_count(url, "revchain_log").await,
            -1,
            "target {i} was touched"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_migrate_each_target_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let urls = sqlite_urls(dir.path(), 200);
    let file = write_targets(dir.path(), "all.txt", &urls);
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..4 {
        let mut cmd = Command::new(CLI.0);
        cmd.args(["--dir", fixture("fleet").to_str().unwrap()])
            .args(["fleet", "upgrade", "--targets-file", file.to_str().unwrap()])
            .args(["--format", "json", "--jobs", "8"])
            .env("RUST_LOG", "warn");
        // Half the shards as an Indexed Job's pods see them.
        if i % 2 == 0 {
            cmd.args(["--shard", &format!("{i}/4")]);
        } else {
            cmd.args(["--shards", "4"])
                .env("JOB_COMPLETION_INDEX", i.to_string());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = report(&out);
        assert_eq!(json["shard"]["index"], i);
        for (target, (_, applied)) in outcomes(&json) {
            assert_eq!(applied, 4, "{target}");
            assert!(seen.insert(target, i).is_none(), "a target in two shards");
        }
    }
    assert_eq!(seen.len(), 200);
    assert!(log_counts(&urls).await.iter().all(|&n| n == 4));
    // Without --shard, status shows the whole fleet.
    let out = fleet(&[
        "fleet",
        "status",
        "--targets-file",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    assert_eq!(outcomes(&report(&out)).len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_then_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let urls = sqlite_urls(dir.path(), 200);
    let file = write_targets(dir.path(), "all.txt", &urls);
    let mut child = Command::new(CLI.0)
        .args(["--dir", fixture("fleet").to_str().unwrap()])
        .args([
            "fleet",
            "upgrade",
            "--targets-file",
            file.to_str().unwrap(),
            "--jobs",
            "1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once a few targets are done.
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_count(&urls[3], "revchain_log").await != 4 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let status = fleet(&["fleet", "status", "--targets-file", file.to_str().unwrap()]);
    assert_eq!(
        status.status.code(),
        Some(INCOMPLETE),
        "killed before the end"
    );
    let out = fleet(&[
        "fleet",
        "upgrade",
        "--targets-file",
        file.to_str().unwrap(),
        "--jobs",
        "8",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log_counts(&urls).await.iter().all(|&n| n == 4));
}

#[test]
fn a_bad_line_of_the_targets_file_is_named_and_its_password_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(&file, "# x\nsqlite://a.db\n\nredis://u:hunter22@h/0\n").unwrap();
    let out = fleet(&["fleet", "status", "--targets-file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4: ", file.display())), "{err}");
    assert_hidden("hunter22", &out, None);
}
