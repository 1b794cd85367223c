//! Properties over everything revchain reads from outside, shared by the property tests
//! in CI (`tests/tests/reliability_fuzz.rs`: a few hundred cases) and the fuzz benchmark
//! (`tests/benches/fuzz.rs`: as many as a time budget allows, from the checked-in corpus
//! `tests/fixtures/fuzz/`). A panic anywhere is a failure; so is an error that does not
//! name the file and the line, a split statement that is not a piece of its input, or a
//! plan that does not respect the graph.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use revchain::Migrations;
use revchain_core::parse;
use revchain_core::{Dialect, Direction, Graph, History, Mode, Plan, Target, split_statements};

pub const DIALECTS: [Dialect; 4] = [
    Dialect::Generic,
    Dialect::Postgres,
    Dialect::MySql,
    Dialect::Sqlite,
];

/// The corpus directory.
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz")
}

/// Every file under `dir` (recursively), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// One file.

/// Parses `bytes` as a revision file in both modes: a revision, or errors that each name the
/// file and a line of it; the statements of its sections are pieces of them.
pub fn check_file(bytes: &[u8]) -> Result<(), TestCaseError> {
    const PATH: &str = "m/f.sql";
    let lines = bytes.split(|&b| b == b'\n').count().max(1);
    let text = match parse::decode(PATH, bytes) {
        Ok(text) => text,
        Err(e) => {
            let prefix = format!("{PATH}:{}: ", e.line);
            prop_assert!(e.to_string().starts_with(&prefix), "{e}");
            return Ok(());
        }
    };
    for mode in [Mode::Strict, Mode::Drafts] {
        match parse::parse_with(PATH, &text, mode) {
            Ok(rev) => {
                let _ = rev.checksum();
                prop_assert!(
                    revchain_core::id::validate_id(&rev.id).is_ok(),
                    "{:?}",
                    rev.id
                );
                for d in DIALECTS {
                    check_split(&rev.upgrade.sql, d)?;
                    if let Some(down) = &rev.downgrade {
                        check_split(&down.sql, d)?;
                    }
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(
                        e.line >= 1 && e.line <= lines + 1,
                        "line {} of {lines}: {e}",
                        e.line
                    );
                    let prefix = format!("{PATH}:{}: ", e.line);
                    prop_assert!(e.to_string().starts_with(&prefix), "{e}");
                }
            }
        }
    }
    Ok(())
}

/// The statements of `sql` are non-empty pieces of it, in order, with their lines.
pub fn check_split(sql: &str, d: Dialect) -> Result<(), TestCaseError> {
    let mut end = 0;
    for s in split_statements(sql, d) {
        prop_assert!(s.offset >= end, "{d:?}: overlapping statements in {sql:?}");
        let piece = sql.get(s.offset..s.offset + s.sql.len());
        prop_assert_eq!(piece, Some(s.sql), "{:?}: not a piece of {:?}", d, sql);
        prop_assert!(
            !s.sql.trim().is_empty(),
            "{d:?}: an empty statement in {sql:?}"
        );
        prop_assert_eq!(
            s.line,
            sql[..s.offset].matches('\n').count() + 1,
            "{:?}: the line of {:?}",
            d,
            s.sql
        );
        end = s.offset + s.sql.len();
    }
    Ok(())
}

/// Bytes that look like revision files, then damaged: valid files with random edits.
pub fn mutated_file(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let seeds = if seeds.is_empty() {
        vec![b"-- m\n-- Revision ID: a1\n-- Revises:\n\n-- migrate:upgrade\nSELECT 1;\n".to_vec()]
    } else {
        seeds
    };
    (
        0..seeds.len(),
        proptest::collection::vec((0u8..8, any::<u16>(), any::<u8>()), 0..12),
    )
        .prop_map(move |(pick, edits)| {
            let mut b = seeds[pick].clone();
            for (op, at, byte) in edits {
                let at = if b.is_empty() {
                    0
                } else {
                    usize::from(at) % b.len()
                };
                const PIECES: [&[u8]; 12] = [
                    b"-- migrate:upgrade\n",
                    b"-- migrate:downgrade\n",
                    b"-- Revision ID: ",
                    b"-- Revises: a1, ",
                    b"-- Depends On: ",
                    b"-- Branch Labels: x, head\n",
                    b"-- Transactional: false\n",
                    b"\r\n",
                    b"'",
                    b"$$",
                    b"/*",
                    b"\xff\xfe",
                ];
                match op {
                    0 => {
                        if !b.is_empty() {
                            b.remove(at);
                        }
                    }
                    1 => b.insert(at, byte),
                    2 => {
                        if !b.is_empty() {
                            b[at] = byte;
                        }
                    }
                    3 | 4 => {
                        let piece = PIECES[usize::from(byte) % PIECES.len()];
                        b.splice(at..at, piece.iter().copied());
                    }
                    5 => b.truncate(at),
                    6 => {
                        // Duplicate a line.
                        let start = b[..at]
                            .iter()
                            .rposition(|&c| c == b'\n')
                            .map_or(0, |p| p + 1);
                        let end = b[at..]
                            .iter()
                            .position(|&c| c == b'\n')
                            .map_or(b.len(), |p| at + p + 1);
                        let line = b[start..end].to_vec();
                        b.splice(end..end, line);
                    }
                    _ => {
                        // Swap two halves.
                        let tail = b.split_off(at);
                        b = [tail, b].concat();
                    }
                }
            }
            b
        })
}

// ---------------------------------------------------------------------------------------
// A directory: the graph.

const IDS: [&str; 9] = ["a1", "a2", "b1", "b12", "c", "Z_9", "head", "a1x", "x-y"];
const LABELS: [&str; 6] = ["lbl", "other", "a1", "heads", "x-y", "l@b"];

/// How one generated file looks.
#[derive(Debug, Clone)]
pub struct FileSpec {
    id: Option<usize>,
    parents: Vec<usize>,
    depends: Vec<usize>,
    labels: Vec<usize>,
    transactional: u8,
    upgrade: u8,
    downgrade: u8,
    quirk: u8,
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    (
        proptest::option::weighted(0.95, 0..IDS.len()),
        proptest::collection::vec(0..IDS.len() + 1, 0..3),
        proptest::collection::vec(0..IDS.len() + LABELS.len(), 0..2),
        proptest::collection::vec(0..LABELS.len(), 0..2),
        0u8..4,
        0u8..4,
        0u8..3,
        0u8..12,
    )
        .prop_map(
            |(id, parents, depends, labels, transactional, upgrade, downgrade, quirk)| FileSpec {
                id,
                parents,
                depends,
                labels,
                transactional,
                upgrade,
                downgrade,
                quirk,
            },
        )
}

/// Mostly chains and merges of the ids, sometimes broken (cycles, missing parents,
/// duplicates, bad labels, bad headers).
pub fn directory() -> impl Strategy<Value = Vec<FileSpec>> {
    proptest::collection::vec(file_spec(), 1..9)
}

/// The text of a generated file; `i` is its position (files often revise the one before).
pub fn render(spec: &FileSpec, i: usize) -> String {
    let name = |k: usize| {
        if k == IDS.len() {
            // "The one before".
            i.checked_sub(1).map_or("nope", |p| IDS[p % IDS.len()])
        } else {
            IDS[k]
        }
    };
    let mut s = format!("-- revision {i}\n--\n");
    if let Some(id) = spec.id {
        s.push_str(&format!("-- Revision ID: {}\n", IDS[id]));
    }
    let parents: Vec<&str> = spec.parents.iter().map(|&p| name(p)).collect();
    s.push_str(&format!("-- Revises: {}\n", parents.join(", ")));
    if !spec.depends.is_empty() {
        let deps: Vec<&str> = spec
            .depends
            .iter()
            .map(|&d| {
                if d < IDS.len() {
                    IDS[d]
                } else {
                    LABELS[d - IDS.len()]
                }
            })
            .collect();
        s.push_str(&format!("-- Depends On: {}\n", deps.join(", ")));
    }
    if !spec.labels.is_empty() {
        let labels: Vec<&str> = spec.labels.iter().map(|&l| LABELS[l]).collect();
        s.push_str(&format!("-- Branch Labels: {}\n", labels.join(", ")));
    }
    match spec.transactional {
        1 => s.push_str("-- Transactional: false\n"),
        2 => s.push_str("-- Transactional: perhaps\n"),
        _ => {}
    }
    match spec.quirk {
        0 => s.push_str("-- Revison ID: typo\n"),
        1 => s.push_str("-- Revises: a1\n"),
        2 => s.push_str("SELECT 'sql in the header';\n"),
        _ => {}
    }
    s.push('\n');
    match spec.upgrade {
        0 => {}
        1 => s.push_str("-- migrate:upgrade\n"),
        2 => s.push_str("-- migrate:upgrade\nCREATE TABLE t (a TEXT DEFAULT ';');\n"),
        _ => {
            s.push_str("-- migrate:upgrade\nDO $$ BEGIN PERFORM ';'; END $$;\n/* ; */ SELECT 1;\n")
        }
    }
    match spec.downgrade {
        0 => {}
        1 => s.push_str("\n-- migrate:downgrade\n"),
        _ => s.push_str("\n-- migrate:downgrade\nDROP TABLE t;\n"),
    }
    match spec.quirk {
        3 => s.push_str("-- migrate:upgrade\nSELECT 2;\n"),
        4 => s = s.replace('\n', "\r\n"),
        5 => s.insert(0, '\u{feff}'),
        _ => {}
    }
    s
}

/// Targets worth trying on the generated graphs, then anything at all.
pub fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..IDS.len(), 0usize..8).prop_map(|(i, form)| {
            let id = IDS[i];
            match form {
                0 => id.to_owned(),
                1 => id[..1].to_owned(),
                2 => format!("{id}+1"),
                3 => format!("{id}-2"),
                4 => format!("{id}@head"),
                5 => format!("{id}@base"),
                6 => format!("{id}+9223372036854775807"),
                _ => format!(" {id} "),
            }
        }),
        4 => prop::sample::select(vec![
            "head", "heads", "base", "current", "+1", "-1", "+3", "-99", "+0", "-0",
            "+9223372036854775807", "-9223372036854775807", "-9223372036854775808",
            "+99999999999999999999", "lbl@head", "lbl@base", "other@head", "@head", "@", "",
            " ", "a1:b1", "a1++1", "a1+-1", "💥", "HEAD", "a1@", "x-y-1",
        ])
        .prop_map(str::to_owned),
        2 => any::<String>(),
    ]
}

/// Parses the generated files, loads what parsed as a directory and, when it is a valid
/// graph, resolves `targets` from several current states: every plan respects the graph.
pub fn check_directory(files: &[FileSpec], targets: &[String]) -> Result<(), TestCaseError> {
    let mut parsed = Vec::new();
    for (i, spec) in files.iter().enumerate() {
        let text = render(spec, i);
        check_file(text.as_bytes())?;
        if let Ok(rev) = parse::parse_with(&format!("m/{i}.sql"), &text, Mode::Drafts) {
            parsed.push(rev);
        }
    }
    let history = match History::from_files(parsed) {
        Ok(h) => h,
        Err(errors) => {
            prop_assert!(!errors.0.is_empty());
            for e in &errors.0 {
                prop_assert!(!e.to_string().is_empty());
            }
            return Ok(());
        }
    };
    let _ = history.check_single_head().map_err(|e| e.to_string());
    let m = Migrations::from_history(history, "m");
    check_targets(m.graph(), targets)
}

/// Resolves each target from no revision, the heads, and each single revision.
pub fn check_targets(g: &Graph, targets: &[String]) -> Result<(), TestCaseError> {
    let mut states: Vec<Vec<usize>> = vec![Vec::new(), g.heads().to_vec()];
    states.extend((0..g.len()).map(|i| vec![i]));
    for text in targets {
        let _ = g.lookup(text).map_err(|e| e.to_string());
        let Ok(target) = text.parse::<Target>() else {
            continue;
        };
        prop_assert_eq!(
            target.to_string().parse::<Target>().ok(),
            Some(target.clone()),
            "{:?} does not read back",
            text
        );
        for current in &states {
            if let Ok(plan) = g.plan_upgrade(&target, current) {
                check_plan(g, &plan, current)?;
            }
            if let Ok(plan) = g.plan_downgrade(&target, current) {
                check_plan(g, &plan, current)?;
            }
            if let Ok(stamp) = g.plan_stamp(&target, current) {
                // The recorded state is one a run could reach: everything applied has what
                // it needs applied.
                let mut state = g.applied(current);
                for &r in &stamp.removed {
                    state[r] = false;
                }
                for &a in &stamp.added {
                    state[a] = true;
                }
                for i in (0..g.len()).filter(|&i| state[i]) {
                    let node = g.node(i);
                    prop_assert!(
                        node.parents
                            .iter()
                            .chain(&node.depends_on)
                            .all(|&p| state[p]),
                        "stamp {} from {:?} keeps {} without what it needs",
                        text,
                        current,
                        g.id(i)
                    );
                }
                prop_assert_eq!(g.heads_of(&state), stamp.heads_after.clone());
            }
        }
    }
    Ok(())
}

/// Each step is legal where it happens: an upgrade's parents and dependencies are applied
/// before it, a downgrade's children and dependents are reverted before it, nothing twice.
fn check_plan(g: &Graph, plan: &Plan, current: &[usize]) -> Result<(), TestCaseError> {
    let mut applied = g.applied(current);
    for step in &plan.steps {
        let r = step.revision;
        prop_assert!(r < g.len());
        let node = g.node(r);
        match plan.direction {
            Direction::Upgrade => {
                prop_assert!(!applied[r], "{} applied twice", g.id(r));
                prop_assert!(
                    node.parents
                        .iter()
                        .chain(&node.depends_on)
                        .all(|&p| applied[p]),
                    "{} before its parents",
                    g.id(r)
                );
                applied[r] = true;
            }
            Direction::Downgrade => {
                prop_assert!(applied[r], "{} reverted but not applied", g.id(r));
                prop_assert!(
                    !g.children(r)
                        .iter()
                        .chain(g.dependents(r))
                        .any(|&c| applied[c]),
                    "{} reverted before its children",
                    g.id(r)
                );
                applied[r] = false;
            }
        }
    }
    prop_assert_eq!(g.heads_of(&applied), plan.heads_after.clone());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The command line and the environment.

const WORDS: [&str; 44] = [
    "init",
    "revision",
    "merge",
    "heads",
    "branches",
    "history",
    "show",
    "check",
    "test-roundtrip",
    "upgrade",
    "downgrade",
    "current",
    "stamp",
    "help",
    "--dir",
    "--database-url",
    "--version-table",
    "--log-table",
    "--lock-timeout",
    "-m",
    "--rev-id",
    "--head",
    "--splice",
    "--branch-label",
    "--depends-on",
    "--autogenerate",
    "--schema",
    "--sql",
    "--dialect",
    "-r",
    "-v",
    "-i",
    "--purge",
    "--help",
    "--version",
    "--",
    "-",
    "-x",
    "--verbose",
    "--message",
    "--indicate-current",
    "--rev-range",
    "-h",
    "-V",
];

const VALUES: [&str; 30] = [
    "head",
    "heads",
    "base",
    "+1",
    "-1",
    "a1",
    "a1b2c3d4e5f6",
    "x:y",
    ":",
    "base:head",
    "sqlite::memory:",
    "sqlite://x.db",
    "sqlite:///nonexistent/dir/x.db",
    "postgres://u:p@127.0.0.1:1/x",
    "mysql://u@127.0.0.1:1/x",
    "mysql://",
    "redis://x",
    "0",
    "18446744073709551615",
    "99999999999999999999",
    "-5",
    "1.5",
    "💥",
    "",
    "postgres",
    "mysql",
    "sqlite",
    "migrations",
    "nonexistent",
    "a b; DROP TABLE x",
];

/// A command line: words, values and arbitrary strings.
pub fn command_line() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            5 => prop::sample::select(WORDS.to_vec()).prop_map(str::to_owned),
            4 => prop::sample::select(VALUES.to_vec()).prop_map(str::to_owned),
            1 => "[^\u{0}]{0,40}",
        ],
        0..7,
    )
}

/// An environment: `DATABASE_URL`, `REVCHAIN_DIR` and `RUST_LOG`, each maybe absent.
pub fn environment() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    let value = || {
        proptest::option::of(prop_oneof![
            prop::sample::select(VALUES.to_vec()).prop_map(str::to_owned),
            prop::sample::select(vec![
                "trace",
                "revchain=[",
                "{{{",
                "off",
                "=",
                "revchain=trace,sqlx=debug"
            ])
            .prop_map(str::to_owned),
            "[^\u{0}]{0,20}",
        ])
    };
    (value(), value(), value()).prop_map(|(url, dir, log)| {
        vec![
            ("DATABASE_URL".to_owned(), url),
            ("REVCHAIN_DIR".to_owned(), dir),
            ("RUST_LOG".to_owned(), log),
        ]
    })
}

/// Runs `bin` with `args` and `env` in `cwd` (which holds `migrations/`): it must end by
/// itself, never with exit code 101 (a panic) or a signal.
pub fn check_command(
    bin: &str,
    cwd: &Path,
    args: &[String],
    env: &[(String, Option<String>)],
) -> Result<(), TestCaseError> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| TestCaseError::fail(format!("spawn: {e}")))?;
    // Read stderr while the process runs (a trace log can fill the pipe).
    let reader = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
            text
        })
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| TestCaseError::fail(e.to_string()))?
        {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            return Err(TestCaseError::fail(format!(
                "{args:?} {env:?}: still running after 30 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stderr = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    prop_assert!(
        status.code().is_some() && status.code() != Some(101) && !stderr.contains("panicked"),
        "{bin} {args:?} with {env:?}: {status:?}\n{stderr}"
    );
    Ok(())
}

/// The `revchain` tool.
pub const REVCHAIN: &str = env!("CARGO_BIN_EXE_revchain-cli");
/// An application with the embedded CLI.
pub const EMBEDDED: &str = env!("CARGO_BIN_EXE_embedded-cli");

/// One case of the command-line property: `args` and `env` given to `revchain` (`which` 0
/// or 1) or to the embedded CLI (2 or 3), in a working directory with the portable fixture
/// (`which` even) or with the generated `files`, which may be broken (odd).
pub fn check_cli_case(
    args: &[String],
    env: &[(String, Option<String>)],
    which: u8,
    files: &[FileSpec],
) -> Result<(), TestCaseError> {
    let work = if which.is_multiple_of(2) {
        workdir(&revchain_tests::fixture("portable"))
    } else {
        let work = workdir(Path::new("/nonexistent"));
        for (i, spec) in files.iter().enumerate() {
            let _ = std::fs::write(
                work.path().join("migrations").join(format!("{i}_f.sql")),
                render(spec, i),
            );
        }
        work
    };
    let bin = if which < 2 { REVCHAIN } else { EMBEDDED };
    check_command(bin, work.path(), args, env)
}

/// A working directory for the CLI: `migrations/` holds a copy of `fixture`, and
/// `schema.sql` sits next to it.
pub fn workdir(fixture: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let m = tmp.path().join("migrations");
    std::fs::create_dir(&m).expect("migrations/");
    for f in files_under(fixture) {
        if let Some(name) = f.file_name() {
            let _ = std::fs::copy(&f, m.join(name));
        }
    }
    let _ = std::fs::write(tmp.path().join("schema.sql"), "CREATE TABLE t (id INT);\n");
    tmp
}
