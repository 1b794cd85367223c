use super::*;
use crate::applied::{Finding, TableNames, check_state};
use crate::parse::{ParseErrorKind, parse};
use crate::testutil::{file, file_with};
use crate::{LoadError, Target};

/// a ← b ← c ← d, squashed a…c into baseline `s`; `d` revises END (`c`).
fn originals() -> Vec<RevisionFile> {
    vec![
        file("a", &[]),
        file("b", &["a"]),
        file("c", &["b"]),
        file("d", &["c"]),
    ]
}

/// The chain digest of `c` computed from the full history.
fn end_digest() -> Digest {
    let h = History::from_files(originals()).unwrap();
    h.chain_digest(h.graph().find("c").unwrap())
}

fn baseline_with(replaces: &str, digest: Digest) -> RevisionFile {
    file_with(
        "s",
        &[],
        &format!("-- Replaces: {replaces}\n-- Replaces Digest: {digest}"),
    )
}

fn baseline() -> RevisionFile {
    baseline_with("a, b, c", end_digest())
}

/// The squashed directory: with the replaced files, or without them.
fn squashed(with_replaced: bool) -> History {
    let mut files = vec![baseline(), file("d", &["c"])];
    if with_replaced {
        files.extend(originals().into_iter().take(3));
    }
    History::from_files(files).unwrap()
}

fn tables() -> TableNames {
    TableNames {
        version: "v".into(),
        log: "l".into(),
    }
}

/// The rows of a database that ran `ids` of the original history, at head `head`.
fn rows(ids: &[&str], head: &str) -> (Vec<HeadRow>, Vec<LogRow>) {
    let h = History::from_files(originals()).unwrap();
    let at = |id: &str| h.graph().find(id).unwrap();
    let heads = vec![HeadRow {
        revision: head.into(),
        chain_digest: Some(h.chain_digest(at(head))),
        defect: None,
    }];
    let log = ids
        .iter()
        .map(|id| LogRow {
            revision: (*id).into(),
            checksum: Some(h.checksum(at(id))),
            chain_digest: Some(h.chain_digest(at(id))),
            dirty: false,
            defect: None,
        })
        .collect();
    (heads, log)
}

/// The baseline errors of loading `files`.
fn baseline_errors(files: Vec<RevisionFile>) -> Vec<BaselineError> {
    History::from_files(files)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| match e {
            LoadError::Baseline(b) => *b,
            other => panic!("{other}"),
        })
        .collect()
}

fn kinds(text: &str) -> Vec<ParseErrorKind> {
    parse("m/x.sql", text)
        .unwrap_err()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn replaces_parses_and_is_validated_like_revises() {
    let b = baseline();
    assert_eq!(b.replaces, ["a", "b", "c"]);
    assert_eq!(b.replaces_digest, Some(end_digest()));
    assert_eq!(b.lines.replaces, Some(4));
    let head = "-- m\n-- Revision ID: s\n-- Revises:\n";
    let body = "\n-- migrate:upgrade\nSELECT 1;\n";
    let digest = format!("-- Replaces Digest: {}\n", end_digest());
    assert_eq!(
        kinds(&format!("{head}-- Replaces: a, a\n{digest}{body}")),
        [ParseErrorKind::DuplicateReplaced("a".into())]
    );
    assert_eq!(
        kinds(&format!("{head}-- Replaces: a, s\n{digest}{body}")),
        [ParseErrorKind::SelfReference("s".into(), "Replaces")]
    );
    assert!(matches!(
        kinds(&format!("{head}-- Replaces: a, b-c\n{digest}{body}"))[..],
        [ParseErrorKind::Id(_)]
    ));
    let alone = parse("m/s.sql", &format!("{head}-- Replaces: a\n{body}")).unwrap();
    let errors = baseline_errors(vec![alone, file("a", &[])]);
    assert!(
        matches!(&errors[..], [BaselineError::KeysApart { line: 4, .. }]),
        "{errors:?}"
    );
    assert_eq!(
        kinds(&format!(
            "{head}-- Replaces: a\n-- Replaces Digest: 12zz\n{body}"
        )),
        [ParseErrorKind::InvalidReplacesDigest("12zz".into())]
    );
    // A misshapen key line is an error, never a comment.
    assert!(matches!(
        kinds(&format!("{head}-- replaces = a\n{digest}{body}"))[..],
        [ParseErrorKind::MalformedKey { .. }]
    ));
}

#[test]
fn the_main_graph_is_the_squashed_one() {
    for with_replaced in [true, false] {
        let h = squashed(with_replaced);
        let g = h.graph();
        let ids: Vec<&str> = (0..g.len()).map(|i| g.id(i)).collect();
        assert_eq!(ids, ["s", "d"], "with_replaced={with_replaced}");
        // `d` revised `c`: it is a child of the baseline, and its chain digest is unchanged.
        assert_eq!(h.revisions()[1].parents, ["s"]);
        let original = History::from_files(originals()).unwrap();
        assert_eq!(h.chain_digest(1), original.chain_digest(3));
        assert_eq!(h.chain_digest(0), end_digest());
        assert_eq!(h.replaced().len(), if with_replaced { 3 } else { 0 });
        assert_eq!(h.catch_up(0).is_some(), with_replaced);
        // A fresh database runs the baseline only.
        let plan = g.plan_upgrade(&Target::Heads, &[]).unwrap();
        assert_eq!(plan.revisions(), [0, 1]);
    }
}

#[test]
fn the_range_must_be_closed_and_the_digest_must_match() {
    // A child of the middle of the range outside it.
    let mut files = vec![baseline(), file("d", &["c"]), file("e", &["b"])];
    files.extend(originals().into_iter().take(3));
    let errors = baseline_errors(files);
    assert!(
        matches!(&errors[..], [BaselineError::IntoTheMiddle { id, replaced, .. }] if id == "e" && replaced == "b"),
        "{errors:?}"
    );
    // An edited replaced file: END's digest differs.
    let mut files = vec![baseline(), file("d", &["c"])];
    files.extend(originals().into_iter().take(2));
    files.push(file_with("c", &["b"], "-- edited"));
    let edited = parse(
        "m/c.sql",
        "-- rev c\n-- Revision ID: c\n-- Revises: b\n\n-- migrate:upgrade\nSELECT 'other';\n",
    )
    .unwrap();
    *files.last_mut().unwrap() = edited;
    let errors = baseline_errors(files);
    assert!(
        matches!(&errors[..], [BaselineError::DigestMismatch { end, .. }] if end == "c"),
        "{errors:?}"
    );
    assert!(
        errors[0].to_string().starts_with("m/s.sql:4: "),
        "{}",
        errors[0]
    );
    // Some replaced files present, others deleted.
    let files = vec![baseline(), file("d", &["c"]), file("a", &[])];
    let errors = baseline_errors(files);
    assert!(matches!(&errors[..], [BaselineError::PartlyPresent { .. }]));
    // A replaced revision whose parent is outside the range and not the baseline's.
    let files = vec![
        baseline(),
        file("d", &["c"]),
        file("a", &["z"]),
        file("b", &["a"]),
        file("c", &["b"]),
        file("z", &[]),
    ];
    let errors = baseline_errors(files);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, BaselineError::NotClosed { id, .. } if id == "a")),
        "{errors:?}"
    );
    // Two baselines replacing one id.
    let other = file_with(
        "t",
        &[],
        &format!("-- Replaces: c\n-- Replaces Digest: {}", end_digest()),
    );
    let errors = baseline_errors(vec![baseline(), other, file("d", &["c"])]);
    assert!(matches!(&errors[..], [BaselineError::ReplacedTwice { .. }]));
}

#[test]
fn state_fresh_at_end_past_end() {
    for with_replaced in [true, false] {
        let h = squashed(with_replaced);
        // Fresh: nothing recorded, nothing folded.
        let check = check_state(&h, &tables(), &[], &[]);
        assert!(check.findings.is_empty() && check.baselines.is_empty());
        assert!(check.current.is_empty());
        // At END: the database is at the baseline, with nothing to find.
        let (heads, log) = rows(&["a", "b", "c"], "c");
        let check = check_state(&h, &tables(), &heads, &log);
        assert!(check.findings.is_empty(), "{:?}", check.findings);
        assert_eq!(check.current, [0]);
        assert!(check.unknown.is_empty());
        assert_eq!(
            check.baselines,
            [Fold::Stands {
                baseline: 0,
                replaced_rows: vec!["a".into(), "b".into(), "c".into()],
                version_rows: vec!["c".into()],
            }]
        );
        let plan = h
            .graph()
            .plan_upgrade(&Target::Heads, &check.current)
            .unwrap();
        assert_eq!(plan.revisions(), [1]);
        // Past END: `d` is applied, nothing to do.
        let (heads, log) = rows(&["a", "b", "c", "d"], "d");
        let check = check_state(&h, &tables(), &heads, &log);
        assert!(check.findings.is_empty(), "{:?}", check.findings);
        assert_eq!(check.current, [1]);
        assert!(
            matches!(&check.baselines[..], [Fold::Stands { version_rows, .. }] if version_rows.is_empty())
        );
        let plan = h
            .graph()
            .plan_upgrade(&Target::Heads, &check.current)
            .unwrap();
        assert!(plan.is_empty());
    }
}

#[test]
fn state_in_the_middle() {
    let (heads, log) = rows(&["a"], "a");
    // With the files: a catch-up, no finding.
    let h = squashed(true);
    let check = check_state(&h, &tables(), &heads, &log);
    assert!(check.findings.is_empty(), "{:?}", check.findings);
    assert_eq!(
        check.baselines,
        [Fold::Partial {
            baseline: 0,
            applied: vec!["a".into()],
            missing: vec!["b".into(), "c".into()],
        }]
    );
    let sub = h.catch_up(0).unwrap();
    let current = crate::applied::known_heads(sub.graph(), &heads);
    let plan = sub.graph().plan_upgrade(&Target::Heads, &current).unwrap();
    let ids: Vec<&str> = plan
        .revisions()
        .iter()
        .map(|&i| sub.graph().id(i))
        .collect();
    assert_eq!(ids, ["b", "c"]);
    // Without them: refused, naming the release to use first.
    let h = squashed(false);
    let check = check_state(&h, &tables(), &heads, &log);
    let [Finding::InSquashedRange(text)] = &check.findings[..] else {
        panic!("{:?}", check.findings);
    };
    assert!(
        text.contains("it has 1 of them (a) but not 2 (b, c)"),
        "{text}"
    );
    assert!(
        text.contains(
            "upgrade to `c` with a release that still ships b…c first, then run this one"
        ),
        "{text}"
    );
}

#[test]
fn data_changing_revisions_are_found_by_the_splitter() {
    let with = |sql: &str| {
        let text = format!("-- m\n-- Revision ID: x\n-- Revises:\n\n-- migrate:upgrade\n{sql}\n");
        changes_data(&parse("m/x.sql", &text).unwrap())
    };
    assert!(with("INSERT INTO t VALUES (1);"));
    assert!(with("CREATE TABLE t (id INT);\nupdate t set id = 2;"));
    assert!(with("WITH x AS (SELECT 1) DELETE FROM t;"));
    assert!(!with(
        "CREATE TABLE t (id INT, note TEXT DEFAULT 'INSERT');"
    ));
    assert!(!with("-- INSERT INTO t\nCREATE INDEX i ON t (id);"));
    let mut code = file("y", &[]);
    code.path = "m/y.rs".into();
    assert!(changes_data(&code));
}

#[test]
fn baseline_keys_are_added_and_read_back() {
    let text = "-- squash\n--\n-- Revision ID: s\n-- Revises: \n\n-- migrate:upgrade\nCREATE TABLE t (id INT);\n";
    let notes = vec!["NOT CARRIED OVER, a changes data (m/a.sql); copy it".to_owned()];
    let replaces = vec!["a".to_owned(), "b".to_owned()];
    let out = add_baseline_keys(text, &replaces, end_digest(), &notes).unwrap();
    let parsed = parse("m/s.sql", &out).unwrap();
    assert_eq!(parsed.replaces, replaces);
    assert_eq!(parsed.message, "squash");
    assert!(out.contains("-- NOT CARRIED OVER, a changes data"));
}

#[test]
fn a_baseline_can_be_squashed_again() {
    // `t` replaces the first baseline `s` and `d`; `e` revises `d`.
    let d_digest = squashed(false).chain_digest(1);
    let t = file_with(
        "t",
        &[],
        &format!("-- Replaces: s, d\n-- Replaces Digest: {d_digest}"),
    );
    let h = History::from_files(vec![baseline(), file("d", &["c"]), t, file("e", &["d"])]).unwrap();
    let ids: Vec<&str> = (0..h.graph().len()).map(|i| h.graph().id(i)).collect();
    assert_eq!(ids, ["t", "e"]);
    assert_eq!(h.revisions()[1].parents, ["t"]);
    let mut full = originals();
    full.push(file("e", &["d"]));
    let full = History::from_files(full).unwrap();
    assert_eq!(
        h.chain_digest(1),
        full.chain_digest(4),
        "e's digest survives two squashes"
    );
}
