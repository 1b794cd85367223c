//! Expansion time of `migrations!` on generated directories of 1,000 and 10,000 revisions:
//! argument parsing, reading and validating every file with revchain-core, and writing the
//! table's tokens (rendered to text, as the compiler would receive them).
//!
//! Run with `cargo bench -p revchain-macros --bench expand`. The target is at most 100 ms
//! for 1,000 files. `-- once=1000` expands once (for callgrind, see [`once`]).
//!
//! The macro's stages are compiled into this benchmark from their source files, because a
//! proc-macro crate exports nothing but its macros; outside the compiler `proc_macro2` uses
//! its own token implementation and lexer, which are slower than the compiler's. The
//! benchmark profile is optimised; in a `cargo build` (dev profile) the macro and
//! revchain-core run unoptimised unless the crate sets
//! `[profile.dev.package.revchain-macros] opt-level = 3` (and the same for revchain-core and
//! sha2), as with sqlx's macros.

// The stages' unit tests come along with their files but do not run here.
#![allow(dead_code, unused_imports)]

#[path = "../src/args.rs"]
mod args;
#[path = "../src/code.rs"]
mod code;
#[path = "../src/expand.rs"]
mod expand;
#[path = "../src/validate.rs"]
mod validate;

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `count` revisions forming one chain, with a realistic amount of SQL each.
fn generate(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).expect("create the migrations directory");
    for i in 0..count {
        let id = format!("{i:012x}");
        let parent = if i == 0 {
            String::new()
        } else {
            format!("{:012x}", i - 1)
        };
        let text = format!(
            "-- create table t{i}\n--\n-- Revision ID: {id}\n-- Revises: {parent}\n\
             -- Create Date: 2026-11-20 09:00:00.000000+00:00\n\n\
             -- migrate:upgrade\nCREATE TABLE t{i} (\n    id BIGINT PRIMARY KEY,\n    \
             name VARCHAR(100) NOT NULL,\n    created_at TIMESTAMP NOT NULL DEFAULT now()\n);\n\
             CREATE INDEX ix_t{i}_name ON t{i} (name);\n\n\
             -- migrate:downgrade\nDROP TABLE t{i};\n"
        );
        std::fs::write(dir.join(format!("{id}_create_t{i}.sql")), text).expect("write a revision");
    }
}

/// Time spent in each stage of one expansion.
#[derive(Default, Clone, Copy)]
struct Stages {
    /// Parsing the arguments, reading, parsing and validating every file, digests.
    validate: Duration,
    /// Building the table's tokens.
    expand: Duration,
    /// Rendering the tokens to text.
    render: Duration,
    /// The rendered size.
    bytes: usize,
}

impl Stages {
    fn total(&self) -> Duration {
        self.validate + self.expand + self.render
    }
}

/// One expansion, as the macro does it.
fn expand_once(manifest_dir: &Path) -> Stages {
    let start = Instant::now();
    let args: args::Args = syn::parse2(quote::quote!("migrations")).expect("the arguments parse");
    let validated = validate::validate(
        Some(OsString::from(manifest_dir)),
        &args.dir.value(),
        args.allow_multiple_heads,
    )
    .unwrap_or_else(|errors| panic!("the generated directory is valid: {errors:?}"));
    let validate = start.elapsed();
    let start = Instant::now();
    let tokens = expand::expand(&validated, args.allow_multiple_heads, |src| {
        src.parse().ok()
    });
    let expand = start.elapsed();
    let start = Instant::now();
    let bytes = tokens.to_string().len();
    let render = start.elapsed();
    Stages {
        validate,
        expand,
        render,
        bytes,
    }
}

/// `-- once=N`: one expansion of `N` files, e.g. under
/// `valgrind --tool=callgrind --toggle-collect='*expand_once*'`, whose instruction count
/// does not move with the machine's load.
fn once(count: usize) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    generate(&tmp.path().join("migrations"), count);
    let stages = expand_once(tmp.path());
    println!(
        "migrations! expansion, {count} files, once: {:.1} ms, {:.1} MB of tokens",
        stages.total().as_secs_f64() * 1e3,
        stages.bytes as f64 / 1e6
    );
}

fn main() {
    let once_count = std::env::args().find_map(|a| a.strip_prefix("once=")?.parse().ok());
    if let Some(count) = once_count {
        return once(count);
    }
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if quick { &[100] } else { &[1_000, 10_000] };
    for &count in sizes {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        generate(&tmp.path().join("migrations"), count);
        let rounds = if quick {
            1
        } else if count >= 10_000 {
            5
        } else {
            15
        };
        let mut runs: Vec<Stages> = Vec::with_capacity(rounds);
        expand_once(tmp.path()); // warm the file cache
        for _ in 0..rounds {
            runs.push(expand_once(tmp.path()));
        }
        runs.sort_by_key(Stages::total);
        let median = runs[runs.len() / 2];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "migrations! expansion, {count:>6} files: median {:>7.1} ms (validate {:.1} ms, \
             tokens {:.1} ms, render {:.1} ms; min {:.1} ms, max {:.1} ms over {rounds} rounds), \
             {:.1} MB of tokens",
            ms(median.total()),
            ms(median.validate),
            ms(median.expand),
            ms(median.render),
            ms(runs[0].total()),
            ms(runs[runs.len() - 1].total()),
            median.bytes as f64 / 1e6,
        );
    }
}
