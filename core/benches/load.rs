//! Benchmark (not a test): parse and validate N generated revisions, from files on disk and
//! from memory. Target: 10,000 revisions in at most 100 ms.
//!
//! Run: `cargo bench -p revchain-core --bench load` (optionally `-- 10000 20`: revisions, runs).

use std::time::{Duration, Instant};

use revchain_core::history::{History, Mode};
use revchain_core::parse::parse;
use revchain_core::{Target, writer};

/// Text of revision `i`: a long chain with a branch and a merge every 100 revisions.
fn revision(i: usize) -> (String, String) {
    let id = format!("{:012x}", 0x1000_0000 + i * 7919);
    let parent = |k: usize| format!("{:012x}", 0x1000_0000 + k * 7919);
    let parents = match i {
        0 => Vec::new(),
        i if i % 100 == 2 && i >= 3 => vec![parent(i - 1), parent(i - 2)],
        i if i % 100 == 1 && i >= 2 => vec![parent(i - 2)],
        i => vec![parent(i - 1)],
    };
    let text = writer::render(&writer::NewRevision {
        id: id.clone(),
        message: format!("revision number {i}"),
        parents,
        create_date: "2026-11-25 00:00:00.000000+00:00".into(),
        transactional: true,
        upgrade: format!("CREATE TABLE t{i} (id BIGINT PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x;y');\nINSERT INTO t{i} VALUES (1, 'a');"),
        downgrade: Some(format!("DROP TABLE t{i};")),
        ..Default::default()
    })
    .expect("a valid revision");
    (writer::file_name(&id, &format!("revision {i}")), text)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(10_000);
    let runs = args.get(1).copied().unwrap_or(15);
    let files: Vec<(String, String)> = (0..n).map(revision).collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).expect("writing");
    }

    let mut from_disk = Vec::new();
    let mut from_memory = Vec::new();
    let mut resolve = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let h = History::load_as(dir.path(), "migrations", Mode::Strict).expect("valid");
        from_disk.push(t.elapsed());
        assert_eq!(h.revisions().len(), n);
        h.check_single_head().expect("one head");

        let t = Instant::now();
        let parsed: Vec<_> = files
            .iter()
            .map(|(name, text)| parse(name, text).expect("valid"))
            .collect();
        let h = History::from_files(parsed).expect("valid");
        from_memory.push(t.elapsed());

        let t = Instant::now();
        let plan = h.graph().plan_upgrade(&Target::Head, &[]).expect("plan");
        resolve.push(t.elapsed());
        assert_eq!(plan.steps.len(), n);
    }
    println!("revisions: {n}, runs: {runs} (median)");
    println!(
        "load + validate from disk:   {:>8.1?}  (target <= 100 ms at 10,000)",
        median(from_disk)
    );
    println!("parse + validate in memory:  {:>8.1?}", median(from_memory));
    println!("plan upgrade base -> head:   {:>8.1?}", median(resolve));
}
