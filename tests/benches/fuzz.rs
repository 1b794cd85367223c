//! Fuzzing on the stable toolchain (issue 8): the properties of
//! `tests/tests/reliability_support/fuzz.rs` (the parser on arbitrary and damaged bytes, the
//! statement splitter, whole directories and their plans, targets, the command line and
//! environment of the tools) run with proptest for as long as a time budget allows, after a
//! replay of the checked-in corpus `tests/fixtures/fuzz/`. A panic or a broken property is
//! shrunk to a small input, printed, written under `<target>/tmp/fuzz-failures/`, and the
//! run exits 1: add the input to the corpus once the bug is fixed.
//!
//! ```text
//! cargo bench -p revchain-tests --bench fuzz                      # 60 s in all
//! cargo bench -p revchain-tests --bench fuzz -- secs=600          # longer
//! cargo bench -p revchain-tests --bench fuzz -- only=directories secs=120
//! ```
//!
//! Arguments: `secs=N` (the whole budget, shared equally by the targets run), `only=NAME`
//! (one of parser-bytes, parser-mutated, split, directories, targets, cli).

#[path = "../tests/reliability_support/fuzz.rs"]
mod fuzz;

use std::fmt::Debug;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fuzz::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestError, TestRunner};
use revchain_core::{History, Mode};
use revchain_tests::{fixture, tests_dir};

/// What one target did.
struct Outcome {
    name: &'static str,
    cases: u64,
    took: Duration,
    failure: Option<String>,
}

/// Runs `check` on values of `strategy` until `budget` is spent or a case fails.
fn run<S>(
    name: &'static str,
    budget: Duration,
    strategy: S,
    check: impl Fn(S::Value) -> TestCaseResult,
) -> Outcome
where
    S: Strategy,
    S::Value: Debug,
{
    let started = Instant::now();
    let batch = 32;
    let mut cases = 0;
    let mut failure = None;
    while started.elapsed() < budget {
        // A runner runs its number of cases once: a new one (with a new random seed) for
        // each batch.
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            ..Config::default()
        });
        match runner.run(&strategy, &check) {
            Ok(()) => cases += u64::from(batch),
            Err(TestError::Fail(reason, value)) => {
                failure = Some(format!("{reason}\nminimal input: {value:#?}"));
                break;
            }
            Err(TestError::Abort(reason)) => {
                failure = Some(format!("aborted: {reason}"));
                break;
            }
        }
    }
    Outcome {
        name,
        cases,
        took: started.elapsed(),
        failure,
    }
}

/// Replays the corpus; the number of entries, or the first failure.
fn replay_corpus() -> Result<usize, String> {
    let mut n = 0;
    for f in files_under(&corpus().join("parser")) {
        let bytes = std::fs::read(&f).map_err(|e| e.to_string())?;
        check_file(&bytes).map_err(|e| format!("{}: {e}", f.display()))?;
        n += 1;
    }
    let targets: Vec<String> = std::fs::read_to_string(corpus().join("targets.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    for d in std::fs::read_dir(corpus().join("directories"))
        .map_err(|e| e.to_string())?
        .flatten()
    {
        if let Ok(h) = History::load_as(&d.path(), "m", Mode::Drafts) {
            let m = revchain::Migrations::from_history(h, "m");
            check_targets(m.graph(), &targets)
                .map_err(|e| format!("{}: {e}", d.path().display()))?;
        }
        n += 1;
    }
    let work = workdir(&fixture("portable"));
    let lines = std::fs::read_to_string(corpus().join("cli.txt")).unwrap_or_default();
    for line in lines.lines().filter(|l| !l.is_empty()) {
        let args: Vec<String> = line.split('\t').map(str::to_owned).collect();
        let env = [
            ("DATABASE_URL".to_owned(), None),
            ("RUST_LOG".to_owned(), None),
        ];
        check_command(REVCHAIN, work.path(), &args, &env).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

fn main() -> ExitCode {
    let mut secs = 60u64;
    let mut only: Option<String> = None;
    for arg in std::env::args().skip(1) {
        if let Some(v) = arg.strip_prefix("secs=") {
            secs = v.parse().unwrap_or(secs);
        } else if let Some(v) = arg.strip_prefix("only=") {
            only = Some(v.to_owned());
        }
        // Anything else (cargo's `--bench`) is ignored.
    }
    let started = Instant::now();
    match replay_corpus() {
        Ok(n) => println!("corpus: {n} entries replayed in {:.1?}", started.elapsed()),
        Err(e) => {
            println!("corpus: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    }
    let names = [
        "parser-bytes",
        "parser-mutated",
        "split",
        "directories",
        "targets",
        "cli",
    ];
    let selected: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| only.as_deref().is_none_or(|o| o == *n))
        .collect();
    if selected.is_empty() {
        println!("unknown target; use one of {}", names.join(", "));
        return ExitCode::FAILURE;
    }
    let budget = Duration::from_secs(secs) / selected.len() as u32;
    let seeds: Vec<Vec<u8>> = files_under(&tests_dir().join("fixtures"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() < 20_000)
        .collect();
    let graphs: Vec<revchain::Migrations> = std::fs::read_dir(corpus().join("directories"))
        .map(|rd| rd.flatten().map(|d| d.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([fixture("portable"), fixture("shop"), fixture("billing")])
        .filter_map(|p| History::load_as(&p, "m", Mode::Drafts).ok())
        .map(|h| revchain::Migrations::from_history(h, "m"))
        .collect();
    let mut outcomes = Vec::new();
    for name in selected {
        let o = match name {
            "parser-bytes" => run(
                name,
                budget,
                proptest::collection::vec(any::<u8>(), 0..2000),
                |b| check_file(&b),
            ),
            "parser-mutated" => run(name, budget, mutated_file(seeds.clone()), |b| {
                check_file(&b)
            }),
            "split" => run(name, budget, "(?s).{0,2000}", |s: String| {
                for d in DIALECTS {
                    check_split(&s, d)?;
                }
                Ok(())
            }),
            "directories" => run(
                name,
                budget,
                (directory(), proptest::collection::vec(target(), 1..8)),
                |(files, targets)| check_directory(&files, &targets),
            ),
            "targets" => run(
                name,
                budget,
                (
                    0..graphs.len().max(1),
                    proptest::collection::vec(target(), 1..8),
                ),
                |(g, targets)| match graphs.get(g) {
                    Some(m) => check_targets(m.graph(), &targets),
                    None => Ok(()),
                },
            ),
            _ => run(
                name,
                budget,
                (command_line(), environment(), 0u8..4, directory()),
                |(args, env, which, files)| check_cli_case(&args, &env, which, &files),
            ),
        };
        println!(
            "{:<15} {:>9} cases in {:>6.1?} ({:>8.0} cases/s){}",
            o.name,
            o.cases,
            o.took,
            o.cases as f64 / o.took.as_secs_f64().max(1e-9),
            if o.failure.is_some() { "  FAILED" } else { "" }
        );
        outcomes.push(o);
    }
    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    if failures.is_empty() {
        println!("no failure in {:.1?}", started.elapsed());
        return ExitCode::SUCCESS;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    for o in failures {
        let text = o.failure.as_deref().unwrap_or_default();
        let path = dir.join(format!("{}.txt", o.name));
        let _ = std::fs::write(&path, text);
        println!(
            "\n{} FAILED (written to {}):\n{text}",
            o.name,
            path.display()
        );
    }
    ExitCode::FAILURE
}
