//! Reliability under concurrency and crashes (issue 8), with real processes: the `boot`
//! binary (`tests/src/bin/boot.rs`, `migrations!` over `tests/fixtures/reliability/<db>`)
//! started 32 times at once, killed with SIGKILL at random moments, made to wait for a lock
//! that another session holds, and its server session terminated mid-revision.
//!
//! `REVCHAIN_KILL_TRIALS` (default 50) sets the number of kill -9 trials per database and
//! `REVCHAIN_SEED` replays a run (each test prints its seed).

mod reliability_support;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reliability_support::{
    BOOT, CHAIN, Probe, REVCHAIN, Rng, State, boot, check_consistent, finish, fixture_dir,
    wait_connected,
};
use revchain_tests::{Db, Dir, Kind, TestDb, tests_dir};

// ---------------------------------------------------------------------------------------
// 32 processes booting at once.

async fn thirty_two_boots(kind: Kind) {
    let db = TestDb::new(kind).await;
    for round in ["fresh", "up to date"] {
        // Start all 32, wait until each is connected, then release them together.
        let mut children = Vec::new();
        for _ in 0..32 {
            let mut cmd = boot(&db.url, &["--wait"]);
            cmd.stdin(Stdio::piped());
            children.push(cmd.spawn().expect("starting boot"));
        }
        for child in &mut children {
            let (connected, seen) = wait_connected(child);
            assert!(connected, "{round}: a boot did not connect: {seen}");
        }
        let released = Instant::now();
        for child in &mut children {
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"go\n").expect("releasing a boot");
        }
        let results: Vec<_> = children.into_iter().map(finish).collect();
        let took = released.elapsed();
        let mut applied: Vec<String> = Vec::new();
        for r in &results {
            assert_eq!(r.code(), Some(0), "{round}: {r:?}");
            assert_eq!(r.field("heads").as_deref(), Some("rel06"), "{r:?}");
            applied.extend(r.applied());
        }
        applied.sort();
        let fresh = round == "fresh";
        if fresh {
            assert_eq!(
                applied, CHAIN,
                "each revision applied by exactly one process"
            );
        } else {
            assert!(applied.is_empty(), "{applied:?}");
            assert!(
                results
                    .iter()
                    .all(|r| r.field("up_to_date").as_deref() == Some("true")),
                "up to date: every boot answers from the fast path, without the lock"
            );
        }
        let mut probe = Probe::connect(kind, &db.url).await;
        assert_eq!(check_consistent(&mut probe, false).await, Ok(6));
        println!("{kind:?}: 32 boots ({round}) took {took:.0?} after release");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_processes_boot_at_once_on_postgres() {
    thirty_two_boots(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_processes_boot_at_once_on_mariadb() {
    thirty_two_boots(Kind::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_processes_boot_at_once_on_sqlite() {
    thirty_two_boots(Kind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------
// kill -9 at random moments, then run again.

/// What a trial saw.
#[derive(Default, Debug)]
struct Tally {
    trials: usize,
    /// Kills land uniformly in this window after the process has connected.
    window: Duration,
    /// Revisions in place after the kill (index k: k revisions), before the rerun.
    after_kill: [usize; 7],
    /// The killed process had already finished.
    finished_before_kill: usize,
    /// The rerun completed to head.
    completed: usize,
    /// The rerun stopped on a dirty revision (MariaDB DDL).
    dirty: usize,
}

fn trials() -> usize {
    std::env::var("REVCHAIN_KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
}

async fn kill_nine(kind: Kind) -> Tally {
    let db = TestDb::new(kind).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(&format!("kill -9 on {kind:?}"));
    // Kills land in the first 110% of a whole run, counted from the moment the process has
    // connected: measure a run first (the median of three) on this machine, now.
    let mut runs = Vec::new();
    for k in 0..3 {
        let url = match kind {
            Kind::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                tmp.path().join(format!("c{k}.db")).display()
            ),
            _ => {
                Probe::connect(kind, &db.url).await.reset().await;
                db.url.clone()
            }
        };
        let mut child = boot(&url, &[]).spawn().expect("starting boot");
        assert!(wait_connected(&mut child).0);
        let started = Instant::now();
        let done = finish(child);
        assert_eq!(done.code(), Some(0), "{done:?}");
        runs.push(started.elapsed());
    }
    runs.sort();
    let window_us = u64::try_from(runs[1].as_micros() * 11 / 10).unwrap_or(u64::MAX);
    let mut tally = Tally {
        window: Duration::from_micros(window_us),
        ..Tally::default()
    };
    let mut probe = match kind {
        Kind::Sqlite => None,
        _ => Some(Probe::connect(kind, &db.url).await),
    };
    for trial in 0..trials() {
        let mut url = db.url.clone();
        match kind {
            Kind::Sqlite => {
                let path = tmp.path().join(format!("t{trial}.db"));
                url = format!("sqlite://{}?mode=rwc", path.display());
                if trial % 2 == 1 {
                    // Half the files in WAL mode (a property of the file).
                    let mut p = Probe::connect(kind, &url).await;
                    p.exec("PRAGMA journal_mode = WAL").await;
                }
            }
            Kind::Postgres => {
                probe.as_mut().unwrap().reset().await;
                if trial % 2 == 1 {
                    // The server notices the dead client within 5 ms and aborts what it is
                    // running; otherwise it finishes the batch it was sent.
                    url.push_str("?options%5Bclient_connection_check_interval%5D=5");
                }
            }
            Kind::MySql => probe.as_mut().unwrap().reset().await,
        }
        let delay = Duration::from_micros(rng.below(window_us));
        let mut child = boot(&url, &[]).spawn().expect("starting boot");
        let (connected, seen) = wait_connected(&mut child);
        assert!(connected, "trial {trial}: {seen}");
        std::thread::sleep(delay);
        if child.try_wait().ok().flatten().is_some() {
            tally.finished_before_kill += 1;
        }
        let _ = child.kill();
        let killed = finish(child);

        let p = match kind {
            Kind::Sqlite => probe.insert(Probe::connect(kind, &url).await),
            _ => probe.as_mut().unwrap(),
        };
        p.wait_alone(Duration::from_secs(20)).await;
        let k0 = check_consistent(p, kind == Kind::MySql)
            .await
            .unwrap_or_else(|e| {
                panic!("trial {trial} (killed after {delay:?}): after the kill: {e}\n{killed:?}")
            });
        let before = State::read(p).await;
        tally.after_kill[k0] += 1;
        tally.trials += 1;

        let rerun = finish(
            boot(&url, &["--lock-timeout", "30"])
                .spawn()
                .expect("starting boot"),
        );
        match (rerun.code(), before.dirty()) {
            (Some(0), None) => {
                assert_eq!(
                    check_consistent(p, false).await,
                    Ok(6),
                    "trial {trial}: {rerun:?}"
                );
                assert_eq!(rerun.applied(), CHAIN[k0..], "trial {trial}: {rerun:?}");
                tally.completed += 1;
            }
            (Some(3), Some(d)) if kind == Kind::MySql => {
                // Never silently wrong: the refusal names the revision, its file and both
                // repairs, and nothing ran.
                let file = format!("{d}_");
                assert!(
                    rerun.stderr.contains(&format!("revision {d} ("))
                        && rerun.stderr.contains(&file)
                        && rerun.stderr.contains("is marked dirty")
                        && rerun.stderr.contains(&format!("`revchain stamp {d}`"))
                        && rerun.stderr.contains(&format!(
                            "`revchain stamp {}`",
                            if k0 == 0 { "base" } else { CHAIN[k0 - 1] }
                        ))
                        && rerun.stderr.contains("nothing was run"),
                    "trial {trial}: {rerun:?}"
                );
                assert_eq!(State::read(p).await, before, "trial {trial}: nothing ran");
                tally.dirty += 1;
            }
            _ => panic!(
                "trial {trial} (killed after {delay:?}, {k0} revision(s) in place, dirty {:?}): \
                 the rerun ended with {rerun:?}",
                before.dirty()
            ),
        }
        if kind == Kind::Sqlite {
            probe = None;
        }
    }
    println!(
        "{kind:?}: kills within {:?} of connecting: {tally:?}",
        tally.window
    );
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_random_moments_on_postgres() {
    let t = kill_nine(Kind::Postgres).await;
    assert_eq!(t.completed, t.trials, "PostgreSQL always ends at head");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_random_moments_on_mariadb() {
    let t = kill_nine(Kind::MySql).await;
    assert_eq!(t.completed + t.dirty, t.trials);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_random_moments_on_sqlite() {
    let t = kill_nine(Kind::Sqlite).await;
    assert_eq!(t.completed, t.trials, "SQLite always ends at head");
    // The revisions that only create and insert share a transaction
    // (runtime/src/backend/group.rs); the others end their groups, so kills land between.
    assert!(
        t.after_kill[1..6].iter().sum::<usize>() > 0 || t.trials < 20,
        "some kills land between revisions: {t:?}"
    );
}

// ---------------------------------------------------------------------------------------
// A session holds the migration lock.

async fn lock_holder(kind: Kind) {
    let db = TestDb::new(kind).await;
    let mut holder = Probe::connect(kind, &db.url).await;
    let expected_holder = match kind {
        Kind::Postgres => {
            holder.exec("SET application_name = 'stuck-deployer'").await;
            holder
                .exec(&format!(
                    "SELECT pg_advisory_lock({})",
                    revchain_tests::pg_lock_key()
                ))
                .await;
            let pid = holder.strings("SELECT pg_backend_pid()::text").await;
            format!(
                "held by PostgreSQL backend pid {} (stuck-deployer) from 127.0.0.1",
                pid[0]
            )
        }
        Kind::MySql => {
            holder
                .exec(&format!(
                    "DO GET_LOCK('revchain:{}.revchain_version', 0)",
                    db.name
                ))
                .await;
            let id = holder.strings("SELECT CAST(CONNECTION_ID() AS CHAR)").await;
            format!("held by connection {} (root@", id[0])
        }
        Kind::Sqlite => {
            holder.exec("BEGIN IMMEDIATE").await;
            "held by a write transaction of another connection to the SQLite database".to_owned()
        }
    };
    // The tool and the application both wait, log who holds the lock, and give up.
    for (what, mut cmd) in [
        ("revchain upgrade", {
            let mut c = std::process::Command::new(REVCHAIN);
            c.args(["--dir", fixture_dir(kind), "--lock-timeout", "1", "upgrade"])
                .arg("--database-url")
                .arg(&db.url);
            c
        }),
        ("boot", {
            let mut c = std::process::Command::new(BOOT);
            c.args(["--lock-timeout", "1"]).arg(&db.url);
            c
        }),
    ] {
        let started = Instant::now();
        let out = cmd
            .current_dir(tests_dir())
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(75), "{what} on {kind:?}: {stderr}");
        assert!(
            stderr.contains("waiting for the migration lock")
                && stderr.contains(&expected_holder)
                && stderr.contains("error: gave up after 1") // `1 s`, `1.02 s`
                && stderr.contains("another process is migrating this database (or is stuck)"),
            "{what} on {kind:?}: {stderr}"
        );
        assert!(
            took < Duration::from_secs(4),
            "{what} on {kind:?}: gave up after {took:?} with a 1 s lock timeout"
        );
        // Touching nothing: not even revchain's own tables.
        let mut probe = Probe::connect(kind, &db.url).await;
        assert_eq!(
            probe.tables().await,
            Vec::<String>::new(),
            "{what} on {kind:?}"
        );
    }
    // Once the holder lets go, the same command goes through.
    match kind {
        Kind::Postgres => holder.exec("SELECT pg_advisory_unlock_all()").await,
        Kind::MySql => holder.exec("DO RELEASE_ALL_LOCKS()").await,
        Kind::Sqlite => holder.exec("ROLLBACK").await,
    }
    let out = finish(boot(&db.url, &["--lock-timeout", "5"]).spawn().unwrap());
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert_eq!(out.applied(), CHAIN);
}

#[tokio::test]
async fn a_held_lock_makes_others_wait_log_the_holder_and_give_up_on_postgres() {
    lock_holder(Kind::Postgres).await;
}

#[tokio::test]
async fn a_held_lock_makes_others_wait_log_the_holder_and_give_up_on_mariadb() {
    lock_holder(Kind::MySql).await;
}

#[tokio::test]
async fn a_held_lock_makes_others_wait_log_the_holder_and_give_up_on_sqlite() {
    lock_holder(Kind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------
// The server ends the session in the middle of a revision.

/// Waits for a session other than `probe`'s that runs SQL mentioning `knob` (on PostgreSQL,
/// or sleeps: `pg_stat_activity` shows only the first kilobyte of a batch); its id.
async fn busy_session(probe: &mut Probe) -> String {
    let sql = match probe.kind() {
        Kind::Postgres => {
            "SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state = 'active' \
             AND (query LIKE '%FROM knob%' OR wait_event = 'PgSleep')"
        }
        _ => {
            "SELECT CAST(ID AS CHAR) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() \
             AND ID <> CONNECTION_ID() AND INFO LIKE '%FROM knob%'"
        }
    };
    let started = Instant::now();
    loop {
        if let Some(id) = probe.strings(sql).await.into_iter().next() {
            return id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no session ran the slow revision"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A run that the server ended in the middle of revision b2.
struct Interrupted<DB: sqlx::Database> {
    /// A session of its own on the database; `knob` says 30 s.
    probe: Probe,
    /// a1 creates `t` with row 1; b2 is the revision given, which sleeps as long as
    /// `knob` says; c3 creates `u`.
    m: &'static revchain::Migrations,
    pool: sqlx::Pool<DB>,
    /// What the run returned.
    err: revchain::Error,
}

/// Runs the revisions of [`Interrupted`] on `db` from a task and, once a session runs b2's
/// slow statement, ends that session with `end` (SQL, `{id}` standing for its id).
async fn interrupted<DB: Db>(db: &TestDb, b2: &str, end: &str) -> Interrupted<DB> {
    let mut probe = Probe::connect(DB::KIND, &db.url).await;
    let float = match DB::KIND {
        Kind::Postgres => "FLOAT8",
        _ => "DOUBLE",
    };
    probe
        .exec(&format!(
            "CREATE TABLE knob (s {float} NOT NULL); INSERT INTO knob VALUES (30)"
        ))
        .await;
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);",
        Some("DROP TABLE t;"),
    )
    .rev("b2", "a1", "", b2, Some("DELETE FROM t WHERE id > 1;"))
    .creates_table("c3", "b2", "u");
    let m: &'static revchain::Migrations = Box::leak(Box::new(dir.load()));
    let pool: sqlx::Pool<DB> = db.pool().await;
    let run = tokio::spawn({
        let pool = pool.clone();
        async move { m.run(&pool).await }
    });
    let id = busy_session(&mut probe).await;
    probe.exec(&end.replace("{id}", &id)).await;
    let err = run.await.unwrap().unwrap_err();
    Interrupted {
        probe,
        m,
        pool,
        err,
    }
}

#[tokio::test]
async fn a_terminated_session_rolls_back_the_revision_in_flight_on_postgres() {
    let db = TestDb::new(Kind::Postgres).await;
    let Interrupted {
        mut probe,
        m,
        pool,
        err,
    } = interrupted::<sqlx::Postgres>(
        &db,
        "INSERT INTO t VALUES (2);\nSELECT pg_sleep((SELECT s FROM knob));\nINSERT INTO t VALUES (3);",
        "SELECT pg_terminate_backend({id})",
    )
    .await;
    let text = err.to_string();
    println!("PostgreSQL, pg_terminate_backend: {text}");
    assert!(
        matches!(&err, revchain::Error::ConnectionLost { step, .. }
            if step.id == "b2" && step.aftermath == revchain::Aftermath::RolledBack)
            && text.contains("b2_rev.sql:8: the connection to the database was lost during the upgrade of revision b2")
            && text.contains("terminating connection due to administrator command (error code 57P01)")
            && text.contains("run again to finish"),
        "{text}"
    );
    // b2 reads a table, so it may take long and runs in a transaction of its own
    // (runtime/src/backend/group.rs, `quick`): a1 committed, b2 was rolled back as a whole,
    // c3 never started.
    assert_eq!(
        probe.strings("SELECT id::text FROM t ORDER BY id").await,
        ["1"]
    );
    assert!(!probe.has_table("u").await);
    assert_eq!(
        probe.strings("SELECT revision FROM revchain_log").await,
        ["a1"]
    );
    assert_eq!(
        probe.strings("SELECT revision FROM revchain_version").await,
        ["a1"]
    );
    // The next run completes.
    probe.exec("UPDATE knob SET s = 0").await;
    let r = m.run(&pool).await.unwrap();
    assert_eq!(
        r.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["b2", "c3"]
    );
    assert_eq!(
        probe.strings("SELECT id::text FROM t ORDER BY id").await,
        ["1", "2", "3"]
    );
}

#[tokio::test]
async fn a_killed_connection_rolls_back_a_data_revision_on_mariadb() {
    let db = TestDb::new(Kind::MySql).await;
    // Data statements only: one transaction with its bookkeeping.
    let Interrupted {
        mut probe,
        m,
        pool,
        err,
    } = interrupted::<sqlx::MySql>(
        &db,
        "INSERT INTO t VALUES (2);\nSELECT SLEEP((SELECT s FROM knob));\nINSERT INTO t VALUES (3);",
        "KILL {id}",
    )
    .await;
    let text = err.to_string();
    println!("MariaDB, KILL during a data revision: {text}");
    assert!(
        matches!(&err, revchain::Error::ConnectionLost { step, .. }
            if step.id == "b2" && step.aftermath == revchain::Aftermath::RolledBack)
            && text.contains("b2_rev.sql:8: the connection to the database was lost during the upgrade of revision b2")
            && text.contains("all of it or none of it"),
        "{text}"
    );
    assert_eq!(
        probe
            .strings("SELECT CAST(id AS CHAR) FROM t ORDER BY id")
            .await,
        ["1"]
    );
    assert_eq!(
        probe.strings("SELECT revision FROM revchain_log").await,
        ["a1"]
    );
    probe.exec("UPDATE knob SET s = 0").await;
    let r = m.run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 2, "{r:?}");
    assert_eq!(
        probe
            .strings("SELECT CAST(id AS CHAR) FROM t ORDER BY id")
            .await,
        ["1", "2", "3"]
    );
}

#[tokio::test]
async fn a_killed_connection_leaves_a_ddl_revision_dirty_on_mariadb() {
    let db = TestDb::new(Kind::MySql).await;
    // DDL commits implicitly: the revision cannot be atomic, and says so.
    let Interrupted {
        mut probe,
        m,
        pool,
        err,
    } = interrupted::<sqlx::MySql>(
        &db,
        "CREATE TABLE v (id INT);\nDO SLEEP((SELECT s FROM knob));\nINSERT INTO t VALUES (2);",
        "KILL {id}",
    )
    .await;
    let text = err.to_string();
    println!("MariaDB, KILL during a DDL revision: {text}");
    assert!(
        matches!(&err, revchain::Error::ConnectionLost { step, .. }
            if step.id == "b2" && step.aftermath == revchain::Aftermath::Dirty)
            && text.contains("b2_rev.sql:8: the connection to the database was lost during the upgrade of revision b2")
            && text.contains("so b2 is marked dirty"),
        "{text}"
    );
    // The next run refuses, naming the revision and the repair, and runs nothing.
    probe.exec("UPDATE knob SET s = 0").await;
    let err = m.run(&pool).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, revchain::Error::Dirty { id, .. } if id == "b2")
            && text.contains("`revchain stamp b2`")
            && text.contains("`revchain stamp a1`"),
        "{text}"
    );
    assert!(!probe.has_table("u").await);
    // Repaired by hand (the rest of b2), stamped, the run goes on.
    probe.exec("INSERT INTO t VALUES (2)").await;
    m.stamp(&pool, &["b2"], false).await.unwrap();
    let r = m.run(&pool).await.unwrap();
    assert_eq!(r.steps.len(), 1, "{r:?}");
    assert!(probe.has_table("u").await);
}
