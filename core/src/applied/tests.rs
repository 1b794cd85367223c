use super::*;
use crate::testutil::file;

/// a ← b ← c, and d on its own branch from a.
fn history() -> History {
    History::from_files(vec![
        file("a", &[]),
        file("b", &["a"]),
        file("c", &["b"]),
        file("d", &["a"]),
    ])
    .unwrap()
}

fn tables() -> TableNames {
    TableNames {
        version: "v".into(),
        log: "l".into(),
    }
}

fn index(h: &History, id: &str) -> usize {
    h.graph().find(id).unwrap()
}

/// The version row revchain writes for head `id`.
fn head(h: &History, id: &str) -> HeadRow {
    HeadRow {
        revision: id.into(),
        chain_digest: Some(h.chain_digest(index(h, id))),
        defect: None,
    }
}

/// The log row revchain writes for applied revision `id`.
fn logged(h: &History, id: &str) -> LogRow {
    let i = index(h, id);
    LogRow {
        revision: id.into(),
        checksum: Some(h.checksum(i)),
        chain_digest: Some(h.chain_digest(i)),
        dirty: false,
        defect: None,
    }
}

fn unknown_log(id: &str) -> LogRow {
    LogRow {
        revision: id.into(),
        checksum: Some(Digest::of(id.as_bytes())),
        chain_digest: Some(Digest::of(id.as_bytes())),
        dirty: false,
        defect: None,
    }
}

fn check(h: &History, heads: &[HeadRow], log: &[LogRow]) -> StateCheck {
    check_state(h, &tables(), heads, log)
}

fn texts(check: &StateCheck) -> Vec<String> {
    check.findings.iter().map(ToString::to_string).collect()
}

#[test]
fn a_consistent_state_is_not_refused() {
    let h = history();
    let c = check(
        &h,
        &[head(&h, "b"), head(&h, "d")],
        &[logged(&h, "a"), logged(&h, "b"), logged(&h, "d")],
    );
    assert_eq!(c.findings, []);
    assert_eq!(c.refusal(false), None);
    assert_eq!(c.current, [index(&h, "b"), index(&h, "d")]);
    let applied: Vec<&str> = (0..4)
        .filter(|&i| c.applied[i])
        .map(|i| h.graph().id(i))
        .collect();
    assert_eq!(applied, ["a", "b", "d"]);
    assert!(c.unknown.is_empty() && c.ahead.is_empty() && c.dirty.is_empty());
    let empty = check(&h, &[], &[]);
    assert_eq!((empty.findings, empty.dirty_mark), (vec![], None));
    assert_eq!(empty.applied, [false; 4]);
}

#[test]
fn damaged_rows_are_named_and_left_out() {
    let h = history();
    let mut bad_head = head(&h, "a");
    bad_head.chain_digest = None;
    bad_head.defect = Some("chain_digest `x` is not a digest".into());
    let mut bad_log = logged(&h, "a");
    bad_log.revision = String::new();
    bad_log.defect = Some("revision is NULL".into());
    let c = check(&h, &[bad_head], &[logged(&h, "a"), bad_log]);
    assert_eq!(
        texts(&c),
        [
            "revchain's tables hold rows it did not write (row 1 (revision `a`) of the v table: \
             chain_digest `x` is not a digest; row 2 of the l table: revision is NULL): they were \
             edited by hand; check the schema, then record the true state with `revchain stamp \
             --purge <revision>` (`base` for none), which rewrites both tables",
            // The damaged version row is left out: the log's `a` is covered by nothing.
            "the log records revision a as applied, but the version table does not include it \
             (one of the two was edited by hand); check the schema, then record the true state \
             with `revchain stamp --purge <revision>`",
        ]
    );
    assert!(c.current.is_empty());
}

#[test]
fn duplicate_rows_are_listed_per_table_in_quoted_order() {
    let h = history();
    let c = check(
        &h,
        &[head(&h, "b"), head(&h, "b")],
        &[logged(&h, "a"), logged(&h, "b"), logged(&h, "a")],
    );
    assert_eq!(
        texts(&c),
        [
            "the v table has several rows for `b`: it was edited by hand; record the true state \
             with `revchain stamp --purge <revision>`",
            "the l table has several rows for `a`: it was edited by hand; record the true state \
             with `revchain stamp --purge <revision>`",
        ]
    );
    // `a_` sorts before `a` once quoted (`_` < `` ` ``), as the message lists them.
    let heads: Vec<HeadRow> = ["a", "a_", "a", "a_"]
        .iter()
        .map(|id| HeadRow {
            revision: (*id).into(),
            chain_digest: None,
            defect: None,
        })
        .collect();
    let found = duplicate_rows(&tables(), &well_formed(h.graph(), &heads, &[]));
    assert_eq!(
        found,
        [Finding::DuplicateRows {
            table: "v".into(),
            revisions: vec!["a_".into(), "a".into()],
        }]
    );
}

#[test]
fn forged_heads_and_a_database_ahead() {
    let h = history();
    let forged = HeadRow {
        revision: "zz".into(),
        chain_digest: Some(Digest::of(b"zz")),
        defect: None,
    };
    let c = check(&h, std::slice::from_ref(&forged), &[logged(&h, "a")]);
    assert_eq!(
        texts(&c),
        [
            "the version table names `zz`, which this binary does not know and the log does not \
             record as applied: the version table was edited by hand; if the schema is right, \
             record the true state with `revchain stamp --purge <revision>`"
        ]
    );
    assert!(c.ahead.is_empty());
    assert_eq!(c.unknown, ["zz"]);
    // Recorded in the log: a newer binary's head, and the log says what is applied.
    let c = check(
        &h,
        &[forged],
        &[logged(&h, "a"), logged(&h, "b"), unknown_log("zz")],
    );
    assert_eq!(c.findings, []);
    assert_eq!(c.ahead, ["zz"]);
    assert_eq!(c.applied, [true, true, false, false]);
    assert_eq!(c.refusal(false), None);
}

#[test]
fn an_edited_revision_and_changed_ancestry() {
    let h = history();
    let mut edited = logged(&h, "b");
    edited.checksum = Some(Digest::of(b"other"));
    let c = check(&h, &[head(&h, "b")], &[logged(&h, "a"), edited]);
    assert_eq!(c.edited, ["b"]);
    assert_eq!(
        c.findings,
        [Finding::Edited {
            id: "b".into(),
            path: "m/b.sql".into(),
            applied: Digest::of(b"other"),
            embedded: h.checksum(index(&h, "b")),
        }]
    );
    assert!(texts(&c)[0].starts_with(&format!(
        "m/b.sql: revision b was applied with checksum {} but its upgrade section now hashes to",
        Digest::of(b"other")
    )));
    // Only the first revision whose chain changed is blamed, not those above it.
    let mut moved = logged(&h, "b");
    moved.chain_digest = Some(Digest::of(b"x"));
    let mut above = logged(&h, "c");
    above.chain_digest = Some(Digest::of(b"y"));
    let c = check(&h, &[head(&h, "c")], &[logged(&h, "a"), moved, above]);
    assert_eq!(
        texts(&c),
        [
            "m/b.sql: revision b now has other ancestors than when it was applied (its `Revises` \
             line, or one of an ancestor's, was changed); restore them"
        ]
    );
}

#[test]
fn removed_revisions() {
    let h = history();
    let c = check(
        &h,
        &[head(&h, "a")],
        &[logged(&h, "a"), unknown_log("gone1"), unknown_log("gone2")],
    );
    assert_eq!(
        texts(&c),
        [
            "the log records that revisions gone1, gone2 were applied, but this binary has no such \
             revision: its file was deleted or its id changed after it ran; restore it"
        ]
    );
    assert_eq!(c.unknown, ["gone1", "gone2"]);
}

#[test]
fn the_log_disagrees_with_the_version_rows() {
    let h = history();
    // The version row `b` covers a and b; the log has only b, and also d.
    let c = check(&h, &[head(&h, "c")], &[logged(&h, "d")]);
    assert_eq!(
        c.findings,
        [
            Finding::LogDisagrees {
                revisions: vec!["d".into()],
                in_log: true,
            },
            Finding::LogDisagrees {
                revisions: vec!["c".into()],
                in_log: false,
            },
            Finding::NeverApplied(vec!["a (m/a.sql)".into(), "b (m/b.sql)".into()]),
        ]
    );
    assert_eq!(
        texts(&c)[2],
        "revisions a (m/a.sql), b (m/b.sql) are an ancestor of the database's heads in this \
         binary, but the database never applied them: a revision's id (its file's `Revision` \
         line) or a `Revises` line was changed after the revisions ran; restore the original ids \
         and `Revises` lines"
    );
    assert_eq!(
        describe_findings(&c.findings[..1]),
        "the log records revision d as applied, but the version table does not include it (one \
         of the two was edited by hand); check the schema, then record the true state with \
         `revchain stamp --purge <revision>`"
    );
    assert!(describe_findings(&c.findings).starts_with("3 problems: the log records revision d"));
    assert!(log_disagrees(&["x", "y"], true).contains("records revisions x, y as applied"));
}

#[test]
fn covered_heads_and_wrong_head_digests() {
    let h = history();
    let all = [logged(&h, "a"), logged(&h, "b"), logged(&h, "c")];
    let c = check(&h, &[head(&h, "c"), head(&h, "a")], &all);
    assert_eq!(
        texts(&c),
        [
            "the v table names a (an ancestor of c) although it holds one row per head: it was \
             edited by hand; check the schema, then record the true state with `revchain stamp \
             --purge <revision>`"
        ]
    );
    let mut wrong = head(&h, "c");
    wrong.chain_digest = Some(Digest::of(b"wrong"));
    let c = check(&h, &[wrong], &all);
    assert_eq!(c.findings, [Finding::WrongHeadDigests(vec!["c".into()])]);
    assert!(texts(&c)[0].starts_with("the version table's digests for c do not match"));
}

#[test]
fn a_dirty_mark_being_applied_or_reverted() {
    let h = history();
    let mut running = logged(&h, "c");
    running.dirty = true;
    // c is not covered by the version rows: it was being applied.
    let c = check(
        &h,
        &[head(&h, "b")],
        &[logged(&h, "a"), logged(&h, "b"), running.clone()],
    );
    assert_eq!(c.findings, []);
    assert_eq!(c.dirty, ["c"]);
    let mark = DirtyMark {
        id: "c".into(),
        path: "m/c.sql".into(),
        direction: Direction::Upgrade,
        if_reverted: "b".into(),
    };
    assert_eq!(c.refusal(false), Some(Refusal::Dirty(&mark)));
    assert_eq!(c.refusal(true), None);
    // Covered by the version rows: it was being reverted; below it is its parent.
    let mut head_c = head(&h, "c");
    head_c.chain_digest = None;
    let c = check(&h, &[head_c], &[logged(&h, "a"), logged(&h, "b"), running]);
    assert_eq!(c.findings, []);
    let mark = c.dirty_mark.clone().unwrap();
    assert_eq!(
        (mark.direction, mark.if_reverted.as_str()),
        (Direction::Downgrade, "b")
    );
    // A base being reverted beside another head: the other head, purged.
    let mut base = logged(&h, "a");
    base.dirty = true;
    let rows = [head(&h, "a")];
    let mark = dirty_mark(&h, &rows, &[base.clone()]).unwrap();
    assert_eq!(mark.if_reverted, "base");
    let other = HeadRow {
        revision: "x".into(),
        ..head(&h, "a")
    };
    assert_eq!(
        state_below(h.graph(), index(&h, "a"), &["a", "x"]),
        "--purge x"
    );
    // Unknown to this binary: being applied, from the version rows' state.
    let mark = dirty_mark(
        &h,
        &[other],
        &[unknown_log("zz")].map(|mut l| {
            l.dirty = true;
            l
        }),
    )
    .unwrap();
    assert_eq!(
        (
            mark.path.as_str(),
            mark.direction,
            mark.if_reverted.as_str()
        ),
        ("?", Direction::Upgrade, "x")
    );
    let mark = dirty_mark(&h, &[], &[base]).unwrap();
    assert_eq!(
        (mark.direction, mark.if_reverted.as_str()),
        (Direction::Upgrade, "base")
    );
}

#[test]
fn findings_come_before_a_dirty_mark() {
    let h = history();
    let mut running = logged(&h, "b");
    running.dirty = true;
    let c = check(&h, &[head(&h, "a")], &[running, unknown_log("gone")]);
    assert!(matches!(
        c.refusal(false),
        Some(Refusal::Findings([Finding::RemovedRevisions(_), ..]))
    ));
    assert!(matches!(c.refusal(true), Some(Refusal::Findings(_))));
}

#[test]
fn embedded_heads_and_their_order() {
    let h = history();
    fn embedded(h: &History) -> Vec<(&str, Digest)> {
        h.graph()
            .heads()
            .iter()
            .map(|&i| (h.graph().id(i), h.chain_digest(i)))
            .collect()
    }
    assert!(at_embedded_heads(
        embedded(&h),
        &[head(&h, "d"), head(&h, "c")]
    ));
    assert!(!at_embedded_heads(embedded(&h), &[head(&h, "c")]));
    assert!(!at_embedded_heads(
        embedded(&h),
        &[head(&h, "c"), head(&h, "b")]
    ));
    let mut stale = head(&h, "d");
    stale.chain_digest = None;
    assert!(!at_embedded_heads(embedded(&h), &[head(&h, "c"), stale]));
    let unknown = HeadRow {
        revision: "0zz".into(),
        ..head(&h, "a")
    };
    let rows = [unknown, head(&h, "d"), head(&h, "b")];
    let order: Vec<(Option<usize>, &str)> = ordered_heads(h.graph(), &rows)
        .into_iter()
        .map(|(i, r)| (i, r.revision.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (Some(index(&h, "b")), "b"),
            (Some(index(&h, "d")), "d"),
            (None, "0zz"),
        ]
    );
    assert_eq!(
        known_heads(h.graph(), &rows),
        [index(&h, "b"), index(&h, "d")]
    );
}
