//! MariaDB tables whose engine ignores transactions (MyISAM, MEMORY, Aria…): a data-only
//! revision that writes to one cannot be rolled back, so it must run the dirty-mark way. A
//! failure part-way leaves a dirty mark and says so, and the next run refuses instead of
//! running the revision a second time.

use revchain::{Aftermath, Direction, Error};
use revchain_tests::{Dir, Kind, TestDb, heads, scalar};

/// `a1` creates a MyISAM table `m` (no key: a second run would add its rows again), a MyISAM
/// table `u` with a key, and an InnoDB table `i`; `b2` (data only) is `b2_up`.
fn history(b2_up: &str) -> Dir {
    let dir = Dir::new();
    dir.rev(
        "a1",
        "",
        "",
        "CREATE TABLE m (id INT) ENGINE=MyISAM;\n\
         CREATE TABLE u (id INT PRIMARY KEY) ENGINE=MyISAM;\n\
         CREATE TABLE i (id INT PRIMARY KEY) ENGINE=InnoDB;",
        Some("DROP TABLE m;\nDROP TABLE u;\nDROP TABLE i;"),
    );
    dir.rev("b2", "a1", "", b2_up, None);
    dir
}

fn assert_dirty_failure(err: &Error, line: usize) {
    assert!(
        matches!(err, Error::Statement { step, .. }
            if step.id == "b2" && step.aftermath == Aftermath::Dirty && step.line == line),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("b2 is marked dirty") && !text.contains("the revision was rolled back"),
        "{text}"
    );
}

#[tokio::test]
async fn a_failed_data_revision_on_myisam_is_marked_dirty_and_not_run_twice() {
    let db = TestDb::new(Kind::MySql).await;
    let pool = db.pool::<sqlx::MySql>().await;
    // The second INSERT stores its first row, then fails on the duplicate key.
    let dir = history("INSERT INTO m VALUES (1);\nINSERT INTO u VALUES (2), (2);");
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_dirty_failure(&err, 8);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM m").await, 1);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM u").await, 1);
    assert_eq!(heads(&m, &pool).await, ["a1"]);
    assert_eq!(m.status(&pool).await.unwrap().dirty, ["b2"]);

    // The next run refuses: `m` keeps its one row.
    let err = m.run(&pool).await.unwrap_err();
    assert!(
        matches!(&err, Error::Dirty { id, direction: Direction::Upgrade, .. } if id == "b2"),
        "{err}"
    );
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM m").await, 1);
}

/// A single multi-row `INSERT` that fails at its second row keeps the first on MyISAM:
/// even a failed first statement leaves the mark.
#[tokio::test]
async fn a_failed_first_statement_on_myisam_keeps_the_mark() {
    let db = TestDb::new(Kind::MySql).await;
    let pool = db.pool::<sqlx::MySql>().await;
    let dir = history("INSERT INTO `u` (id) VALUES (5), (5);");
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert_dirty_failure(&err, 7);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM u").await, 1);
    assert_eq!(m.status(&pool).await.unwrap().dirty, ["b2"]);
}

/// Other engines without transactions (MEMORY, Aria) and a multi-table `UPDATE` are seen
/// too; a data revision on InnoDB alone stays atomic (rolled back, no mark).
#[tokio::test]
async fn other_engines_and_innodb() {
    let db = TestDb::new(Kind::MySql).await;
    let pool = db.pool::<sqlx::MySql>().await;
    let dir = history("INSERT INTO i VALUES (1);\nINSERT INTO i VALUES (1);");
    let m = dir.load();
    let err = m.run(&pool).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Statement { step, .. } if step.aftermath == Aftermath::RolledBack
        ),
        "{err}"
    );
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM i").await, 0);
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());

    for engine in ["MEMORY", "Aria"] {
        let db = TestDb::new(Kind::MySql).await;
        let pool = db.pool::<sqlx::MySql>().await;
        let dir = Dir::new();
        dir.rev(
            "a1",
            "",
            "",
            &format!(
                "CREATE TABLE n (id INT) ENGINE={engine};\nCREATE TABLE k (id INT PRIMARY KEY);"
            ),
            None,
        );
        dir.rev(
            "b2",
            "a1",
            "",
            "INSERT INTO k VALUES (1);\nUPDATE k JOIN n ON n.id = k.id SET n.id = 2;\nINSERT INTO k VALUES (1);",
            None,
        );
        let m = dir.load();
        let err = m.run(&pool).await.unwrap_err();
        assert_dirty_failure(&err, 9);
        assert_eq!(m.status(&pool).await.unwrap().dirty, ["b2"], "{engine}");
    }
}

/// A group of data revisions of which one writes to a MyISAM table cannot share a
/// transaction: its revisions are applied one by one (the MyISAM one marked dirty while it
/// runs), and all of them end up applied.
#[tokio::test]
async fn a_group_that_writes_myisam_applies_one_by_one() {
    let db = TestDb::new(Kind::MySql).await;
    let pool = db.pool::<sqlx::MySql>().await;
    let dir = history("INSERT INTO i VALUES (1);");
    dir.rev("c3", "b2", "", "INSERT INTO m VALUES (2);", None);
    dir.rev("d4", "c3", "", "INSERT INTO i VALUES (3);", None);
    let m = dir.load();
    assert_eq!(m.run(&pool).await.unwrap().steps.len(), 4);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM i").await, 2);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM m").await, 1);
    assert_eq!(heads(&m, &pool).await, ["d4"]);
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM revchain_version").await,
        1
    );
    assert!(m.status(&pool).await.unwrap().dirty.is_empty());
    // Each was logged by its own transaction.
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(DISTINCT applied_at) FROM revchain_log WHERE revision IN ('b2', 'c3', 'd4')"
        )
        .await,
        3
    );
}
