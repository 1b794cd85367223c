//! Bad input never panics (issue 8): property tests over the file parser (arbitrary bytes,
//! damaged valid files), the statement splitter, whole directories (the graph), targets,
//! and the command line and environment of the `revchain` tool and of an application's
//! embedded CLI (never exit code 101), and random damage to revchain's version and log rows
//! before every command that writes, on PostgreSQL and SQLite. The checked-in corpus (`tests/fixtures/fuzz/`) is
//! replayed first. Few cases here, to keep CI fast; `cargo bench -p revchain-tests --bench
//! fuzz` runs the same properties for as long as it is given.

#[path = "reliability_support/fuzz.rs"]
mod fuzz;
mod reliability_support;

use std::sync::OnceLock;

use fuzz::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use revchain_core::{History, Mode};
use revchain_tests::{fixture, tests_dir};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // No regression files in the source tree: the corpus is where inputs are kept.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Valid files to damage: every fixture revision and the corpus's parser inputs.
fn seeds() -> Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS
        .get_or_init(|| {
            files_under(&tests_dir().join("fixtures"))
                .into_iter()
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "sql")
                        && !p.to_string_lossy().contains("huge_line")
                })
                .filter_map(|p| std::fs::read(p).ok())
                .collect()
        })
        .clone()
}

fn targets_from_corpus() -> Vec<String> {
    std::fs::read_to_string(corpus().join("targets.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_corpus_replays_without_a_failure() {
    let mut n = 0;
    for f in files_under(&corpus().join("parser")) {
        let bytes = std::fs::read(&f).unwrap();
        check_file(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        n += 1;
    }
    let targets = targets_from_corpus();
    let dirs = std::fs::read_dir(corpus().join("directories")).unwrap();
    for d in dirs.flatten() {
        let path = d.path();
        if let Ok(h) = History::load_as(&path, "m", Mode::Drafts) {
            let _ = h.check_single_head();
            let m = revchain::Migrations::from_history(h, "m");
            check_targets(m.graph(), &targets)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        n += 1;
    }
    let portable = revchain_tests::load(&fixture("portable"));
    check_targets(portable.graph(), &targets).unwrap();
    let lines = std::fs::read_to_string(corpus().join("cli.txt")).unwrap();
    let work = workdir(&fixture("portable"));
    for line in lines.lines().filter(|l| !l.is_empty()) {
        let args: Vec<String> = line.split('\t').map(str::to_owned).collect();
        let env = [
            ("DATABASE_URL".to_owned(), None),
            ("RUST_LOG".to_owned(), None),
        ];
        check_command(REVCHAIN, work.path(), &args, &env).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    assert!(n > 40, "the corpus has {n} entries");
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn any_bytes_parse_to_a_revision_or_to_located_errors(
        bytes in proptest::collection::vec(any::<u8>(), 0..400)
    ) {
        check_file(&bytes)?;
    }

    #[test]
    fn damaged_valid_files_parse_to_a_revision_or_to_located_errors(
        bytes in mutated_file(seeds())
    ) {
        check_file(&bytes)?;
    }

    #[test]
    fn any_text_splits_into_pieces_of_itself(sql in "(?s).{0,300}") {
        for d in DIALECTS {
            check_split(&sql, d)?;
        }
    }

    #[test]
    fn sql_like_text_splits_into_pieces_of_itself(
        parts in proptest::collection::vec(
            prop::sample::select(vec![
                "SELECT 1", ";", "'", "''", "\"", "`", "$$", "$a$", "--", "/*", "*/", "#", "\n",
                "\\", "E'", "\r\n", " ", "BEGIN", "END", "x", "🦀",
            ]),
            0..40,
        )
    ) {
        let sql: String = parts.concat();
        for d in DIALECTS {
            check_split(&sql, d)?;
        }
    }

    #[test]
    fn any_target_resolves_or_is_refused_on_the_portable_fixture(
        targets in proptest::collection::vec(target(), 1..4)
    ) {
        static M: OnceLock<revchain::Migrations> = OnceLock::new();
        let m = M.get_or_init(|| revchain_tests::load(&fixture("portable")));
        check_targets(m.graph(), &targets)?;
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn any_directory_loads_or_is_refused_and_its_plans_respect_the_graph(
        files in directory(),
        targets in proptest::collection::vec(target(), 1..5)
    ) {
        check_directory(&files, &targets)?;
    }
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn the_tools_never_panic_on_any_command_line_or_environment(
        args in command_line(),
        env in environment(),
        which in 0u8..4,
        files in directory(),
    ) {
        check_cli_case(&args, &env, which, &files)?;
    }
}

/// The damage fixture, loaded once (its directory kept for as long as the tests run).
fn damage_fixture() -> &'static revchain::Migrations {
    static M: OnceLock<(revchain_tests::Dir, revchain::Migrations)> = OnceLock::new();
    let (_, m) = M.get_or_init(|| {
        let dir = damage::fixture();
        let m = dir.load();
        (dir, m)
    });
    m
}

/// A runtime for the database cases (proptest bodies are synchronous).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

use reliability_support::damage;
use revchain_tests::{Kind, TestDb};

/// One case of damage on a fresh database of `kind`.
fn damage_case<DB: revchain::Backend>(
    kind: Kind,
    start: usize,
    damages: &[damage::Damage],
    cmd: damage::Command,
) -> Result<(), TestCaseError> {
    block_on(async {
        let db = TestDb::new(kind).await;
        damage::check_damage::<DB>(kind, &db.url, damage_fixture(), start, damages, cmd).await
    })
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn damaged_bookkeeping_is_refused_alike_or_harmless_on_postgres(
        start in 0usize..4,
        damages in proptest::collection::vec(damage::damage(), 1..4),
        cmd in damage::command(),
    ) {
        damage_case::<sqlx::Postgres>(Kind::Postgres, start, &damages, cmd)?;
    }

    #[test]
    fn damaged_bookkeeping_is_refused_alike_or_harmless_on_sqlite(
        start in 0usize..4,
        damages in proptest::collection::vec(damage::damage(), 1..4),
        cmd in damage::command(),
    ) {
        damage_case::<sqlx::Sqlite>(Kind::Sqlite, start, &damages, cmd)?;
    }
}
