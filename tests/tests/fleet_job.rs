//! `deploy/kubernetes/fleet-job.yaml` (issue 21): an Indexed Job whose pods each take the
//! shard `JOB_COMPLETION_INDEX` of `--shards N`. The manifest is checked for the shape that
//! makes this work (N = `completions`), and the Job is simulated: the `revchain` binary runs
//! N times over one targets file, each with only `JOB_COMPLETION_INDEX=i` set, as the pods
//! would, and every target must be migrated by exactly one of them.

use std::path::Path;
use std::process::Command;

use revchain_tests::{Dir, workspace_root};

/// The manifest, as lines without comments, with their indentation.
fn manifest() -> Vec<(usize, String)> {
    let path = workspace_root().join("deploy/kubernetes/fleet-job.yaml");
    let text = std::fs::read_to_string(&path).expect("reading fleet-job.yaml");
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| (l.len() - l.trim_start().len(), l.trim().to_owned()))
        .collect()
}

/// The value of the first `key: value` line (quotes removed).
fn scalar(lines: &[(usize, String)], key: &str) -> Option<String> {
    lines.iter().find_map(|(_, l)| {
        let value = l.strip_prefix(key)?.strip_prefix(':')?;
        Some(value.trim().trim_matches('"').to_owned())
    })
}

/// The items of the block sequence under the `args:` key.
fn args(lines: &[(usize, String)]) -> Vec<String> {
    let start = lines
        .iter()
        .position(|(_, l)| l == "args:")
        .expect("the container has args");
    let indent = lines[start].0;
    lines[start + 1..]
        .iter()
        .take_while(|(i, l)| *i >= indent && l.starts_with("- "))
        .map(|(_, l)| l[2..].trim().trim_matches('"').to_owned())
        .collect()
}

#[test]
fn the_manifest_is_an_indexed_job_whose_shards_equal_its_completions() {
    let lines = manifest();
    assert_eq!(scalar(&lines, "kind").as_deref(), Some("Job"));
    assert_eq!(scalar(&lines, "completionMode").as_deref(), Some("Indexed"));
    let completions: u32 = scalar(&lines, "completions").unwrap().parse().unwrap();
    let parallelism: u32 = scalar(&lines, "parallelism").unwrap().parse().unwrap();
    assert!(completions >= 2 && (1..=completions).contains(&parallelism));
    let args = args(&lines);
    assert_eq!(
        &args[..4],
        ["migrate", "fleet", "upgrade", "head"],
        "{args:?}"
    );
    let after = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).cloned()
    };
    assert_eq!(after("--shards"), Some(completions.to_string()), "{args:?}");
    assert!(
        !args.iter().any(|a| a == "--shard"),
        "the index comes from the env"
    );
    let targets = after("--targets-file").expect("a targets file");
    let mount = scalar(&lines, "mountPath").expect("the targets volume is mounted");
    assert!(
        targets.starts_with(&format!("{mount}/")),
        "{targets} not under {mount}"
    );
    assert!(
        lines.iter().any(|(_, l)| l == "secret:"),
        "targets from a Secret"
    );
    assert!(lines.iter().any(|(_, l)| l == "- name: DATABASE_URL"));
    assert!(
        lines.iter().any(|(_, l)| l == "secretKeyRef:"),
        "DATABASE_URL from a Secret"
    );
}

/// Runs the `revchain` tool like one pod of the Job: `JOB_COMPLETION_INDEX=index`, no
/// `--shard`; its JSON report.
fn pod(dir: &Path, targets: &Path, shards: u32, index: u32) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(["fleet", "upgrade", "head", "--shards", &shards.to_string()])
        .arg("--targets-file")
        .arg(targets)
        .args(["--format", "json"])
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running revchain");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pod {index}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("pod {index}: {e}: {stdout}"))
}

#[test]
fn the_simulated_job_migrates_every_target_exactly_once() {
    let dir = Dir::new();
    dir.creates_table("a1", "", "t1")
        .creates_table("b2", "a1", "t2")
        .creates_table("c3", "b2", "t3");
    let files = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..24)
        .map(|i| format!("sqlite://{}/t{i}.db?mode=rwc", files.path().display()))
        .collect();
    let targets = files.path().join("targets.txt");
    std::fs::write(&targets, urls.join("\n") + "\n").unwrap();
    let shards = 4;
    let mut migrated: Vec<String> = Vec::new();
    for index in 0..shards {
        let report = pod(dir.path(), &targets, shards, index);
        assert_eq!(report["shard"]["index"], index, "{report}");
        assert_eq!(report["shard"]["count"], shards, "{report}");
        let rows = report["targets"].as_array().expect("targets");
        assert!(
            !rows.is_empty() && rows.len() < urls.len(),
            "shard {index}: {report}"
        );
        for t in rows {
            assert_eq!(t["state"], "at_goal", "{t}");
            assert_eq!(t["applied"].as_array().map(Vec::len), Some(3), "{t}");
            migrated.push(t["target"].as_str().unwrap().to_owned());
        }
    }
    migrated.sort();
    let mut expected: Vec<String> = urls.clone();
    expected.sort();
    assert_eq!(migrated, expected, "every target exactly once");
    // A pod re-run (a retried index) finds its share at the goal and applies nothing.
    let again = pod(dir.path(), &targets, shards, 2);
    for t in again["targets"].as_array().unwrap() {
        assert_eq!(t["applied"].as_array().map(Vec::len), Some(0), "{t}");
    }
}
