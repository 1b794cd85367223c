//! Squash into a baseline (issue 17): a branched and merged history of 50 revisions with
//! one seed INSERT is squashed with the real `revchain squash` on PostgreSQL, MariaDB and
//! SQLite; databases at base, in the middle of the range (replaced files present, then
//! deleted), at END and past END are upgraded with the squashed directory, and their schemas
//! are compared with the unsquashed path's (introspection of revchain-schema).

use std::path::Path;

use revchain::autogen::snapshot;
use revchain_schema::Schema;
use revchain_tests::{Cli, Dir, Kind, TestDb, scalar, server_url};

const CLI: Cli = Cli(env!("CARGO_BIN_EXE_revchain-cli"));

/// The URL squash gets for its scratch database (SQLite: any `sqlite:` URL).
fn scratch(kind: Kind) -> String {
    match kind {
        Kind::Sqlite => "sqlite://scratch".to_owned(),
        other => server_url(other),
    }
}

fn id(i: usize) -> String {
    format!("a{i:02}")
}

/// Revision `i` of the history: a10 is a branch point (a11…a20 and a21…a30 both start
/// there), a31 merges them, a06 seeds a row; odd revisions create a table, even ones add a
/// column and an index to the previous table; a51 comes after END.
fn write_revision(dir: &Dir, i: usize) {
    let parents = match i {
        1 => String::new(),
        21 => id(10),
        31 => format!("{}, {}", id(20), id(30)),
        _ => id(i - 1),
    };
    let (up, down) = if i == 6 {
        (
            "INSERT INTO t05 (id, name) VALUES (1, 'seed');".to_owned(),
            "DELETE FROM t05 WHERE id = 1;".to_owned(),
        )
    } else if i % 2 == 1 {
        (
            format!("CREATE TABLE t{i:02} (id INT PRIMARY KEY, name VARCHAR(40));"),
            format!("DROP TABLE t{i:02};"),
        )
    } else {
        let t = i - 1;
        (
            format!(
                "ALTER TABLE t{t:02} ADD COLUMN c{i:02} INT;\nCREATE INDEX ix{i:02} ON t{t:02} (name);"
            ),
            format!("DROP INDEX ix{i:02};"),
        )
    };
    dir.rev(&id(i), &parents, "", &up, Some(&down));
}

fn history(dir: &Dir, last: usize) {
    for i in 1..=last {
        write_revision(dir, i);
    }
}

fn upgrade(dir: &Path, db: &TestDb, target: &str) -> String {
    CLI.ok(dir, &["upgrade", target, "--database-url", &db.url])
}

/// `SELECT COUNT(*) …` on `db`.
async fn count(db: &TestDb, sql: &str) -> i64 {
    match db.kind {
        Kind::Postgres => scalar(&db.pool::<sqlx::Postgres>().await, sql).await,
        Kind::MySql => scalar(&db.pool::<sqlx::MySql>().await, sql).await,
        Kind::Sqlite => scalar(&db.pool::<sqlx::Sqlite>().await, sql).await,
    }
}

/// How many log rows name `ids` (SQL list text).
async fn logged(db: &TestDb, ids: &str) -> i64 {
    count(
        db,
        &format!("SELECT COUNT(*) FROM revchain_log WHERE revision IN ({ids})"),
    )
    .await
}

async fn schema(db: &TestDb) -> Schema {
    snapshot(&db.url).await.expect("introspection")
}

/// The baseline file squash wrote into `dir`.
fn baseline_file(dir: &Path) -> (String, String) {
    std::fs::read_dir(dir)
        .expect("the directory")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("b00"))
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(&n)).expect("the baseline");
            (n, text)
        })
        .expect("squash wrote b00")
}

async fn squash_on(kind: Kind) {
    // The unsquashed path, to a51.
    let original = Dir::new();
    history(&original, 51);
    let reference = TestDb::new(kind).await;
    upgrade(original.path(), &reference, "heads");
    let expected = schema(&reference).await;

    // Squash 1..50 with the real binary.
    let squashed = Dir::new();
    history(&squashed, 50);
    let server = scratch(kind);
    let out = CLI.ok(
        squashed.path(),
        &[
            "squash",
            "a50",
            "-m",
            "baseline",
            "--rev-id",
            "b00",
            "--database-url",
            &server,
        ],
    );
    assert!(out.contains("a06 changes data"), "{out}");
    assert!(
        out.contains("Delete them once every database is at or past a50"),
        "{out}"
    );
    let (name, text) = baseline_file(squashed.path());
    assert!(text.contains("-- Replaces: a01, a02"), "{text}");
    assert!(text.contains("-- Replaces Digest: "), "{text}");
    assert!(
        text.contains("NOT CARRIED OVER, a06 changes data"),
        "{text}"
    );
    assert!(!text.contains("INSERT"), "{text}");
    write_revision(&squashed, 51);
    let heads = CLI.ok(squashed.path(), &["heads"]);
    assert!(heads.contains("a51"), "{heads}");
    // The replaced files deleted: only the baseline and a51.
    let deleted = Dir::new();
    deleted.write(&name, &text);
    write_revision(&deleted, 51);

    // A fresh database runs only the baseline, then a51.
    let fresh = TestDb::new(kind).await;
    upgrade(squashed.path(), &fresh, "heads");
    assert_eq!(schema(&fresh).await, expected, "fresh");
    assert_eq!(logged(&fresh, "'b00', 'a51'").await, 2);
    assert_eq!(count(&fresh, "SELECT COUNT(*) FROM revchain_log").await, 2);
    assert_eq!(
        count(&fresh, "SELECT COUNT(*) FROM t05").await,
        0,
        "no seed row"
    );

    // In the middle of the range (a25 is on the second branch), files present: caught up.
    let middle = TestDb::new(kind).await;
    upgrade(original.path(), &middle, "a25");
    upgrade(squashed.path(), &middle, "heads");
    assert_eq!(schema(&middle).await, expected, "middle");
    assert_eq!(
        count(&middle, "SELECT COUNT(*) FROM t05").await,
        1,
        "the seed ran once"
    );
    assert_eq!(logged(&middle, "'b00', 'a51'").await, 2);
    assert_eq!(
        logged(&middle, "'a01', 'a26', 'a50'").await,
        0,
        "re-recorded as b00"
    );
    assert_eq!(
        count(&middle, "SELECT COUNT(*) FROM revchain_version").await,
        1
    );

    // In the middle, files deleted: refused before anything changes.
    let stranded = TestDb::new(kind).await;
    upgrade(original.path(), &stranded, "a25");
    let before = schema(&stranded).await;
    let out = CLI.run(
        deleted.path(),
        &["upgrade", "heads", "--database-url", &stranded.url],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("with a release that still ships a26…a50 first")
            || err.contains("still ships"),
        "{err}"
    );
    assert_eq!(
        schema(&stranded).await,
        before,
        "the refusal changed nothing"
    );

    // At END, with the files present and with them deleted: a51 only.
    for dir in [squashed.path(), deleted.path()] {
        let at_end = TestDb::new(kind).await;
        upgrade(original.path(), &at_end, "a50");
        upgrade(dir, &at_end, "heads");
        assert_eq!(schema(&at_end).await, expected, "at END");
        assert_eq!(logged(&at_end, "'b00', 'a51'").await, 2);
        assert_eq!(logged(&at_end, "'a01', 'a50'").await, 0);
        let out = CLI.ok(dir, &["current", "--database-url", &at_end.url]);
        assert!(out.contains("a51"), "{out}");
    }

    // Past END: nothing to do, and the bookkeeping re-recorded as the baseline.
    let past = TestDb::new(kind).await;
    upgrade(original.path(), &past, "heads");
    upgrade(deleted.path(), &past, "heads");
    assert_eq!(schema(&past).await, expected, "past END");
    assert_eq!(logged(&past, "'b00', 'a51'").await, 2);
    assert_eq!(count(&past, "SELECT COUNT(*) FROM revchain_log").await, 2);
    let out = CLI.run(deleted.path(), &["check", "--database-url", &past.url]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The application binary over `tests/fixtures/squash_embedded` (`sb` replaces `s1`…`s5`,
/// `s6` comes after; `s2` seeds a row), run in `tests/`.
fn embedded(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_squash-embedded-cli"))
        .args(args)
        .current_dir(revchain_tests::tests_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running the embedded CLI")
}

/// The `migrations!` table embeds the replaced revisions while their files are present: a
/// boot-time binary catches a database in the middle up, re-records one at END, and runs
/// only the baseline on a fresh one.
#[tokio::test]
async fn the_embedded_table_catches_up_and_rerecords() {
    let fixture = revchain_tests::fixture("squash_embedded");
    let originals = Dir::new();
    for entry in std::fs::read_dir(&fixture).expect("the fixture") {
        let name = entry
            .expect("an entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('s') && !name.starts_with("sb") {
            let text = std::fs::read_to_string(fixture.join(&name)).expect("a revision");
            originals.write(&name, &text);
        }
    }
    let ok = |db: &TestDb| {
        let out = embedded(&["upgrade", "heads", "--database-url", &db.url]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let seeded = "SELECT COUNT(*) FROM t1";
    for (start, seed_rows) in [("s3", 1), ("s5", 1), ("s6", 1)] {
        let db = TestDb::new(Kind::Sqlite).await;
        upgrade(originals.path(), &db, start);
        ok(&db);
        assert_eq!(logged(&db, "'sb', 's6'").await, 2, "from {start}");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM revchain_log").await, 2);
        assert_eq!(count(&db, seeded).await, seed_rows, "the seed ran once");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM t6").await, 0);
    }
    let fresh = TestDb::new(Kind::Sqlite).await;
    ok(&fresh);
    assert_eq!(logged(&fresh, "'sb', 's6'").await, 2);
    assert_eq!(
        count(&fresh, seeded).await,
        0,
        "the baseline does not carry the seed"
    );
}

/// Inside the caller's transaction: a database at END is re-recorded in that transaction; one
/// in the middle is refused (its catch-up runs revisions in their own transactions).
#[tokio::test]
async fn inside_the_callers_transaction() {
    use sqlx::Connection as _;
    let fixture = revchain_tests::fixture("squash_embedded");
    let m = revchain_tests::load(&fixture);
    let originals = Dir::new();
    for i in 1..=6 {
        let name = format!("s{i}_rev.sql");
        let text = std::fs::read_to_string(fixture.join(&name)).expect("a revision");
        originals.write(&name, &text);
    }
    for (start, refused) in [("s5", false), ("s3", true)] {
        let db = TestDb::new(Kind::Sqlite).await;
        upgrade(originals.path(), &db, start);
        let mut conn = sqlx::SqliteConnection::connect(&db.url)
            .await
            .expect("connect");
        let mut tx = conn.begin().await.expect("begin");
        let result = m.upgrade(&mut *tx, "heads").await;
        if refused {
            let e = result.expect_err("refused");
            assert!(
                e.to_string().contains("catch it up outside a transaction"),
                "{e}"
            );
            continue;
        }
        result.expect("upgraded in the transaction");
        tx.commit().await.expect("commit");
        assert_eq!(logged(&db, "'sb', 's6'").await, 2);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM revchain_log").await, 2);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM revchain_version").await, 1);
    }
}

#[tokio::test]
async fn squash_postgres() {
    squash_on(Kind::Postgres).await;
}

#[tokio::test]
async fn squash_mariadb() {
    squash_on(Kind::MySql).await;
}

#[tokio::test]
async fn squash_sqlite() {
    squash_on(Kind::Sqlite).await;
}
