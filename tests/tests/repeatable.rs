//! Repeatable revisions (`Repeatable: true`, docs/design.md §4.10) on PostgreSQL,
//! MariaDB/MySQL and SQLite, through the library (`Migrations::from_history`, `Migrator`,
//! the `migrations!` macro) and the `revchain` CLI.
//!
//! Three releases (`tests/fixtures/repeatable_r{1,2,3}`, copied into a temporary directory
//! with one repeatable particular to the database: a function on PostgreSQL and MariaDB, a
//! trigger on SQLite): release 1 creates `users` and the view `v_active_users`; release 2
//! changes the view's and the function's (trigger's) text; release 3 adds a column (`b2`) and
//! the view `v_user_emails` that depends on it.

use std::path::Path;
use std::time::{Duration, Instant};

use revchain::{Aftermath, Error, Migrations, Migrator};
use revchain_tests::{Cli, Db, Dir, Kind, TestDb, exec, fixture, heads, load, scalar};
use sqlx::Pool;

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

static R3: Migrations = revchain::migrations!("fixtures/repeatable_r3");

/// The repeatable particular to `kind` in `release`: its file name and text, and the query
/// that tells which text is applied with what it returns for that release.
fn extra(kind: Kind, release: u32) -> (&'static str, String, &'static str, i64) {
    let changed = release >= 2;
    match kind {
        Kind::Postgres => (
            "f_active_count.sql",
            format!(
                "-- counts users\n--\n-- Revision ID: f_active_count\n-- Repeatable: true\n-- Depends On: a1\n\n-- migrate:upgrade\nCREATE OR REPLACE FUNCTION active_count() RETURNS bigint LANGUAGE sql AS $$\n    SELECT count(*) FROM users{}\n$$;\n\n-- migrate:downgrade\nDROP FUNCTION IF EXISTS active_count();\n",
                if changed { "" } else { " WHERE active = 1" }
            ),
            "SELECT active_count()",
            if changed { 3 } else { 1 },
        ),
        Kind::MySql => (
            "f_active_count.sql",
            format!(
                "-- counts users\n--\n-- Revision ID: f_active_count\n-- Repeatable: true\n-- Depends On: a1\n\n-- migrate:upgrade\nDROP FUNCTION IF EXISTS active_count;\nCREATE FUNCTION active_count() RETURNS BIGINT READS SQL DATA\n    RETURN (SELECT COUNT(*) FROM users{});\n\n-- migrate:downgrade\nDROP FUNCTION IF EXISTS active_count;\n",
                if changed { "" } else { " WHERE active = 1" }
            ),
            "SELECT active_count()",
            if changed { 3 } else { 1 },
        ),
        Kind::Sqlite => (
            "t_users_seven.sql",
            format!(
                "-- a trigger\n--\n-- Revision ID: t_users_seven\n-- Repeatable: true\n-- Depends On: a1\n\n-- migrate:upgrade\nDROP TRIGGER IF EXISTS t_users_seven;\nCREATE TRIGGER t_users_seven AFTER INSERT ON users WHEN NEW.active = 7\nBEGIN\n    UPDATE users SET active = {} WHERE id = NEW.id;\nEND;\n\n-- migrate:downgrade\nDROP TRIGGER IF EXISTS t_users_seven;\n",
                if changed { 0 } else { 1 }
            ),
            "SELECT count(*) FROM sqlite_master WHERE name = 't_users_seven' AND sql LIKE '%SET active = 0%'",
            i64::from(changed),
        ),
    }
}

/// The id of the repeatable particular to `kind`.
fn extra_id(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "t_users_seven",
        _ => "f_active_count",
    }
}

/// Rewrites `dir` as release `release` for `kind`.
fn release(dir: &Path, kind: Kind, release: u32) {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let source = fixture(&format!("repeatable_r{release}"));
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let (name, text, ..) = extra(kind, release);
    std::fs::write(dir.join(name), text).unwrap();
}

fn ids(steps: &[revchain::StepReport]) -> Vec<&str> {
    steps.iter().map(|s| s.id.as_str()).collect()
}

async fn view_rows<DB: Db>(pool: &Pool<DB>, view: &str) -> i64 {
    scalar(pool, &format!("SELECT count(*) FROM {view}")).await
}

async fn extra_state<DB: Db>(pool: &Pool<DB>) -> i64 {
    scalar(pool, extra(DB::KIND, 1).2).await
}

/// Marks every repeatable row, so that a later check sees whether a run rewrote one.
async fn mark_rows<DB: Db>(pool: &Pool<DB>) {
    exec(pool, "UPDATE revchain_repeatable SET execution_ms = 987654").await;
}

async fn marked_rows<DB: Db>(pool: &Pool<DB>) -> i64 {
    scalar(
        pool,
        "SELECT count(*) FROM revchain_repeatable WHERE execution_ms = 987654",
    )
    .await
}

/// Holds the migration lock from another session until dropped (PostgreSQL, MariaDB), or
/// the SQLite write lock.
async fn hold_lock<DB: Db>(db: &TestDb) -> sqlx::pool::PoolConnection<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let pool: Pool<DB> = db.pool().await;
    let mut conn = pool.acquire().await.unwrap();
    let sql = match DB::KIND {
        Kind::Postgres => {
            let d = revchain::Digest::of(b"revchain:revchain_version");
            let b = d.as_bytes();
            let hi = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
            let lo = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            format!(
                "SELECT pg_advisory_lock({})",
                (i64::from(hi) << 32) | i64::from(lo)
            )
        }
        Kind::MySql => format!("DO GET_LOCK('revchain:{}.revchain_version', 0)", db.name),
        Kind::Sqlite => "BEGIN IMMEDIATE".to_owned(),
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .unwrap();
    conn
}

/// Three releases through the library, a downgrade back to release 2's head, and a failing
/// repeatable.
async fn three_releases<DB: Db>()
where
    for<'p> &'p Pool<DB>: revchain::PoolOrConnection,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let db = TestDb::new(DB::KIND).await;
    let pool: Pool<DB> = db.pool().await;
    let dir = Dir::new();
    let extra_id = extra_id(DB::KIND);

    // Release 1: the table, then both repeatables (by id).
    release(dir.path(), DB::KIND, 1);
    let m = load(dir.path());
    assert_eq!(m.repeatables().len(), 2);
    assert_eq!(m.len(), 1, "repeatables are not versioned revisions");
    let r = m.run(&pool).await.unwrap();
    assert_eq!(ids(&r.steps), ["a1"]);
    assert_eq!(ids(&r.repeatables_applied), [extra_id, "v_active_users"]);
    assert_eq!(view_rows(&pool, "v_active_users").await, 1);
    assert_eq!(extra_state(&pool).await, extra(DB::KIND, 1).3);
    let status = m.status(&pool).await.unwrap();
    assert!(status.is_up_to_date(), "{status:?}");
    assert_eq!(status.repeatables_applied, [extra_id, "v_active_users"]);

    // Nothing changed: the boot path answers with one query, without the lock (held by
    // another session), and rewrites no row.
    mark_rows(&pool).await;
    let holder = hold_lock::<DB>(&db).await;
    let started = Instant::now();
    let again = Migrator::new(&m)
        .lock_timeout(Duration::from_secs(1))
        .run(&pool)
        .await
        .unwrap();
    assert!(again.up_to_date, "{again:?}");
    assert!(!again.changed());
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(holder);
    assert_eq!(marked_rows(&pool).await, 2);

    // Release 2: both texts changed, applied once; the next run applies nothing.
    release(dir.path(), DB::KIND, 2);
    let m = load(dir.path());
    let status = m.status(&pool).await.unwrap();
    assert_eq!(status.repeatables_pending, [extra_id, "v_active_users"]);
    assert_eq!(status.state(), revchain::DatabaseState::Behind);
    let r = m.run(&pool).await.unwrap();
    assert!(r.steps.is_empty());
    assert!(!r.up_to_date);
    assert_eq!(ids(&r.repeatables_applied), [extra_id, "v_active_users"]);
    assert_eq!(view_rows(&pool, "v_active_users").await, 2);
    assert_eq!(extra_state(&pool).await, extra(DB::KIND, 2).3);
    mark_rows(&pool).await;
    let again = m.run(&pool).await.unwrap();
    assert!(again.up_to_date && again.repeatables_applied.is_empty());
    assert_eq!(marked_rows(&pool).await, 2);

    // Release 3: the column, then the changed view and the new one that depends on it.
    release(dir.path(), DB::KIND, 3);
    let m = load(dir.path());
    let r = m.run(&pool).await.unwrap();
    assert_eq!(ids(&r.steps), ["b2"]);
    assert_eq!(
        ids(&r.repeatables_applied),
        ["v_active_users", "v_user_emails"]
    );
    assert_eq!(view_rows(&pool, "v_active_users").await, 3);
    assert_eq!(view_rows(&pool, "v_user_emails").await, 1);
    assert!(m.run(&pool).await.unwrap().up_to_date);

    // Downgrade to release 2's head: the view on the column goes first (else dropping
    // the column fails), the view text recorded at a1 comes back, the unchanged function
    // (trigger) is left alone.
    let r = m.downgrade(&pool, "a1").await.unwrap();
    assert_eq!(ids(&r.steps), ["b2"]);
    assert_eq!(r.repeatables_removed, ["v_user_emails"]);
    assert_eq!(ids(&r.repeatables_applied), ["v_active_users"]);
    assert_eq!(view_rows(&pool, "v_active_users").await, 2);
    assert_eq!(extra_state(&pool).await, extra(DB::KIND, 2).3);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_repeatable WHERE heads = 'a1'"
        )
        .await,
        2
    );
    // Release 2's binary sees an up-to-date database.
    release(dir.path(), DB::KIND, 2);
    let m2 = load(dir.path());
    assert!(m2.status(&pool).await.unwrap().is_up_to_date());
    assert!(m2.run(&pool).await.unwrap().up_to_date);

    // Release 3 again, then a release 4 whose new repeatable fails: the versioned revision
    // before it stays applied, the error names the file and line, nothing is recorded.
    release(dir.path(), DB::KIND, 3);
    let r = load(dir.path()).run(&pool).await.unwrap();
    assert_eq!(
        ids(&r.repeatables_applied),
        ["v_active_users", "v_user_emails"]
    );
    dir.rev(
        "c3",
        "b2",
        "",
        "CREATE TABLE audit (id INT);",
        Some("DROP TABLE audit;"),
    );
    dir.write(
        "v_broken.sql",
        "-- broken\n--\n-- Revision ID: v_broken\n-- Repeatable: true\n\n-- migrate:upgrade\nDROP VIEW IF EXISTS v_broken;\nINSERT INTO no_such_table (id) VALUES (1);\n",
    );
    let m4 = load(dir.path());
    let err = m4.run(&pool).await.unwrap_err();
    let Error::Statement { step, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(step.id, "v_broken");
    assert!(step.path.ends_with("v_broken.sql"), "{}", step.path);
    assert_eq!(step.line, 8);
    assert_eq!(step.aftermath, Aftermath::RepeatableNotRecorded);
    assert_eq!(ids(&err.applied_before().unwrap().steps), ["c3"]);
    let text = err.to_string();
    assert!(text.contains("v_broken.sql:8"), "{text}");
    assert_eq!(heads(&m4, &pool).await, ["c3"]);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM audit").await, 0);
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_repeatable WHERE revision = 'v_broken'"
        )
        .await,
        0
    );
    let status = m4.status(&pool).await.unwrap();
    assert_eq!(status.repeatables_pending, ["v_broken"]);
}

#[tokio::test]
async fn three_releases_postgres() {
    three_releases::<sqlx::Postgres>().await;
}

#[tokio::test]
async fn three_releases_mysql() {
    three_releases::<sqlx::MySql>().await;
}

#[tokio::test]
async fn three_releases_sqlite() {
    three_releases::<sqlx::Sqlite>().await;
}

/// The `revchain` CLI on releases 1 and 2: `upgrade`, and repeatables in `check`,
/// `current` and `history`.
async fn cli_releases(kind: Kind) {
    let db = TestDb::new(kind).await;
    let dir = Dir::new();
    let url = ["--database-url", db.url.as_str()];
    let with_url = |args: &[&'static str]| -> Vec<String> {
        args.iter().copied().chain(url).map(str::to_owned).collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        CLI.run(dir.path(), &args)
    };
    let extra_id = extra_id(kind);

    release(dir.path(), kind, 1);
    let history = CLI.ok(dir.path(), &["history"]);
    assert_eq!(
        history,
        format!(
            "<repeatable> -> v_active_users (repeatable), active users (portable: DROP then CREATE, which SQLite needs)\n<repeatable> (a1) -> {extra_id} (repeatable), {}\n<base> -> a1 (head), users\n",
            if kind == Kind::Sqlite {
                "a trigger"
            } else {
                "counts users"
            }
        )
    );
    let out = run(with_url(&["upgrade", "heads"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = run(with_url(&["check"]));
    let stdout = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        stdout.contains("1 revision(s) and 2 repeatable revision(s), head a1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("up to date (1 revision(s) and 2 repeatable revision(s) applied)"),
        "{stdout}"
    );
    let current = run(with_url(&["current"]));
    assert_eq!(
        String::from_utf8_lossy(&current.stdout),
        format!("a1 (head)\n{extra_id} (repeatable)\nv_active_users (repeatable)\n")
    );

    // Release 2: both changed, pending until `upgrade`.
    release(dir.path(), kind, 2);
    let check = run(with_url(&["check"]));
    assert_eq!(check.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&check.stderr).into_owned();
    assert!(
        stderr.contains(&format!("2 repeatable revision(s) new or changed: {extra_id}, v_active_users (run `upgrade heads`)")),
        "{stderr}"
    );
    let current = run(with_url(&["current"]));
    assert_eq!(
        String::from_utf8_lossy(&current.stdout),
        format!(
            "a1 (head)\n{extra_id} (repeatable, pending)\nv_active_users (repeatable, pending)\n"
        )
    );
    let out = run(with_url(&["upgrade"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run(with_url(&["check"])).status.code(), Some(0));
    let m = load(dir.path());
    match kind {
        Kind::Postgres => {
            let pool: Pool<sqlx::Postgres> = db.pool().await;
            assert_eq!(view_rows(&pool, "v_active_users").await, 2);
            assert_eq!(extra_state(&pool).await, 3);
            assert!(m.status(&pool).await.unwrap().is_up_to_date());
        }
        Kind::MySql => {
            let pool: Pool<sqlx::MySql> = db.pool().await;
            assert_eq!(view_rows(&pool, "v_active_users").await, 2);
            assert_eq!(extra_state(&pool).await, 3);
            assert!(m.status(&pool).await.unwrap().is_up_to_date());
        }
        Kind::Sqlite => {
            let pool: Pool<sqlx::Sqlite> = db.pool().await;
            assert_eq!(view_rows(&pool, "v_active_users").await, 2);
            assert_eq!(extra_state(&pool).await, 1);
            assert!(m.status(&pool).await.unwrap().is_up_to_date());
        }
    }
}

#[tokio::test]
async fn cli_releases_postgres() {
    cli_releases(Kind::Postgres).await;
}

#[tokio::test]
async fn cli_releases_mysql() {
    cli_releases(Kind::MySql).await;
}

#[tokio::test]
async fn cli_releases_sqlite() {
    cli_releases(Kind::Sqlite).await;
}

/// The macro embeds the repeatables apart from the versioned revisions, in their order;
/// the embedded table applies them like the one loaded at run time.
#[tokio::test]
async fn macro_embeds_repeatables() {
    let embedded: Vec<&str> = R3.repeatables().iter().map(|r| r.id()).collect();
    assert_eq!(embedded, ["v_active_users", "v_user_emails"]);
    assert_eq!(R3.len(), 2);
    assert_eq!(R3.heads().map(|h| h.id()).collect::<Vec<_>>(), ["b2"]);
    assert_eq!(R3.repeatables()[1].depends_on().collect::<Vec<_>>(), ["b2"]);
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: Pool<sqlx::Sqlite> = db.pool().await;
    let r = R3.run(&pool).await.unwrap();
    assert_eq!(
        ids(&r.repeatables_applied),
        ["v_active_users", "v_user_emails"]
    );
    assert_eq!(view_rows(&pool, "v_user_emails").await, 1);
    assert!(R3.run(&pool).await.unwrap().up_to_date);
}

/// `upgrade --sql` writes the repeatables after the versioned part; the script, run by
/// the database, leaves a database that `run` finds up to date.
#[tokio::test]
async fn offline_script_applies_repeatables_after_the_versioned_part() {
    let dir = Dir::new();
    release(dir.path(), Kind::Sqlite, 3);
    let script = CLI.ok(
        dir.path(),
        &["upgrade", "base:heads", "--sql", "--dialect", "sqlite"],
    );
    let b2 = script
        .find("-- Running upgrade a1 -> b2")
        .expect("b2 in the script");
    let view = script
        .find("-- Running apply repeatable v_user_emails")
        .expect("the view in the script");
    assert!(b2 < view, "{script}");
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: Pool<sqlx::Sqlite> = db.pool().await;
    exec(&pool, &script).await;
    assert_eq!(view_rows(&pool, "v_user_emails").await, 1);
    let r = load(dir.path()).run(&pool).await.unwrap();
    assert!(r.up_to_date, "{r:?}");
}

/// Replicas booting at once: every run succeeds, and each repeatable ends up recorded
/// once at the heads, with its text applied.
async fn concurrent_boots<DB: Db>()
where
    for<'p> &'p Pool<DB>: revchain::PoolOrConnection,
{
    let db = TestDb::new(DB::KIND).await;
    let dir = Dir::new();
    release(dir.path(), DB::KIND, 3);
    let m = load(dir.path());
    let mut runs = Vec::new();
    for _ in 0..4 {
        let pool: Pool<DB> = db.pool().await;
        let m = &m;
        runs.push(async move { m.run(&pool).await });
    }
    for result in futures_join(runs).await {
        result.unwrap();
    }
    let pool: Pool<DB> = db.pool().await;
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM revchain_repeatable WHERE heads = 'b2'"
        )
        .await,
        3
    );
    assert_eq!(view_rows(&pool, "v_user_emails").await, 1);
    assert!(m.status(&pool).await.unwrap().is_up_to_date());
}

/// Polls the futures together on this task (no `'static` bound needed).
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[tokio::test]
async fn concurrent_boots_postgres() {
    concurrent_boots::<sqlx::Postgres>().await;
}

#[tokio::test]
async fn concurrent_boots_mysql() {
    concurrent_boots::<sqlx::MySql>().await;
}

#[tokio::test]
async fn concurrent_boots_sqlite() {
    concurrent_boots::<sqlx::Sqlite>().await;
}
