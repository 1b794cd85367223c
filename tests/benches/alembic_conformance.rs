//! The Alembic conformance harness of `tests/tests/alembic_conformance.rs` on thousands of
//! graphs (issue 14): random revision graphs and command sequences through the real Alembic
//! and the `revchain` binary, in batches of 100 graphs per Python process.
//!
//! ```text
//! cargo bench -p revchain-tests --bench alembic_conformance                 # 2000 graphs
//! cargo bench -p revchain-tests --bench alembic_conformance -- cases=10000 seed=42 revs=10
//! ```
//!
//! Exits 1 on the first batch with a disagreement that no known difference explains,
//! printing the graphs and commands.

#[path = "../tests/alembic_support/mod.rs"]
mod alembic_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use alembic_support::{alembic_python, case, run};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn arg(name: &str) -> Option<u64> {
    std::env::args()
        .filter_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .find_map(|v| v.parse().ok())
}

fn main() -> ExitCode {
    let Some(python) = alembic_python() else {
        eprintln!("no Alembic venv: set REVCHAIN_ALEMBIC_PYTHON or create target/alembic-venv");
        return ExitCode::FAILURE;
    };
    let total = arg("cases").unwrap_or(2000) as usize;
    let revs = arg("revs").unwrap_or(8) as usize;
    let seed = arg("seed").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = case(revs);
    let started = Instant::now();
    let (mut agreed, mut refused, mut known) = (0, 0, BTreeMap::new());
    let mut done = 0;
    while done < total {
        let batch: Vec<_> = (0..100.min(total - done))
            .map(|_| strategy.new_tree(&mut runner).expect("a case").current())
            .collect();
        let tally = run(
            &python,
            Path::new(env!("CARGO_BIN_EXE_revchain-cli")),
            &batch,
        );
        done += batch.len();
        agreed += tally.agreed;
        refused += tally.refused;
        for (name, n) in tally.known {
            *known.entry(name).or_insert(0) += n;
        }
        if !tally.failures.is_empty() {
            eprintln!(
                "seed {seed}: {} graph(s) of this batch disagree with Alembic:\n\n{}",
                tally.failures.len(),
                tally.failures.join("\n")
            );
            return ExitCode::FAILURE;
        }
        eprintln!("{done}/{total} graphs, {:.0?}", started.elapsed());
    }
    println!(
        "seed {seed}: {total} graphs of up to {revs} revisions agree with Alembic: {agreed} \
         commands agreed, {refused} refused by both, known differences {known:?}, in {:.1?}",
        started.elapsed()
    );
    ExitCode::SUCCESS
}
