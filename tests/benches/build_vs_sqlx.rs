//! Build time of a crate that embeds 1,000 migrations with `revchain::migrations!`, against
//! the same crate with `sqlx::migrate!` (sqlx 0.9), as a ratio.
//!
//! Run with `cargo bench -p revchain-tests --bench build_vs_sqlx` (add `-- 10000` for another
//! count). Two scratch crates are generated under `<target>/bench-build/` with one shared
//! target directory; each is built once to compile its dependencies (that first time is
//! shown, but depends on what was already built), then rebuilt several times after an edit of
//! its last migration file: that rebuild, the crate's own compilation with its macro
//! expansion and the evaluation of the embedded table (which incremental compilation cannot
//! reuse after an edit), is what a developer waits for after each change, and is what the
//! ratio compares. The sqlx crate needs sqlx's `macros` feature, so it exists only here,
//! never in the test build.
//!
//! The same run also measures a clean build of each crate, its dependencies already built
//! (its incremental state removed). With `REVCHAIN_BENCH_BASE=<dir>`, the `runtime` crate of
//! another checkout of revchain in `<dir>` (e.g. `git archive` of an older commit) is
//! measured too, as `base`, in the same run: before and after figures on the same load.
//! `only=base,sqlx` measures some of the crates only.

use std::path::Path;
use std::time::{Duration, Instant};

use revchain_tests::{cargo, target_subdir, workspace_root};

const ROUNDS: usize = 3;

fn sql(i: usize) -> String {
    format!(
        "CREATE TABLE t{i} (\n    id BIGINT PRIMARY KEY,\n    name VARCHAR(100) NOT NULL,\n    \
         created_at TIMESTAMP NOT NULL DEFAULT now()\n);\nCREATE INDEX ix_t{i}_name ON t{i} (name);\n"
    )
}

/// A revchain revision file.
fn revchain_file(i: usize) -> (String, String) {
    let id = format!("{i:012x}");
    let parent = if i == 0 {
        String::new()
    } else {
        format!("{:012x}", i - 1)
    };
    let text = format!(
        "-- create table t{i}\n--\n-- Revision ID: {id}\n-- Revises: {parent}\n\
         -- Create Date: 2026-11-20 09:00:00.000000+00:00\n\n-- migrate:upgrade\n{}\n\
         -- migrate:downgrade\nDROP TABLE t{i};\n",
        sql(i)
    );
    (format!("{id}_create_t{i}.sql"), text)
}

/// A sqlx migration (reversible pairs would double the files; the SQL is the same).
fn sqlx_file(i: usize) -> (String, String) {
    (
        format!("{:06}_create_t{i}.sql", i + 1),
        format!("-- create table t{i}\n{}", sql(i)),
    )
}

struct Scratch {
    name: String,
    dependency: String,
    main_rs: &'static str,
    file: fn(usize) -> (String, String),
}

fn write_crate(dir: &Path, scratch: &Scratch, count: usize) {
    let migrations = dir.join("migrations");
    if migrations.exists() {
        std::fs::remove_dir_all(&migrations).expect("clear the old migrations");
    }
    std::fs::create_dir_all(&migrations).expect("create the migrations directory");
    std::fs::create_dir_all(dir.join("src")).expect("create src");
    for i in 0..count {
        let (name, text) = (scratch.file)(i);
        std::fs::write(migrations.join(name), text).expect("write a migration");
    }
    let manifest = format!(
        "[package]\nname = \"bench-{}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\n{}\n\n[workspace]\n",
        scratch.name, scratch.dependency
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::write(dir.join("src/main.rs"), scratch.main_rs).expect("write main.rs");
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        std::fs::copy(workspace_root().join("Cargo.lock"), lock).expect("copy Cargo.lock");
    }
}

fn cargo_build(dir: &Path, target: &Path) -> Duration {
    let start = Instant::now();
    cargo(dir, Some(target), &["build", "--quiet"]);
    start.elapsed()
}

/// A clean build of the crate itself, its dependencies already built: its incremental
/// state removed and its `main.rs` touched, so rustc compiles it from nothing.
fn clean_build(dir: &Path, target: &Path, name: &str) -> Duration {
    let incremental = target.join("debug").join("incremental");
    let prefix = format!("bench_{name}-");
    if let Ok(entries) = std::fs::read_dir(&incremental) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                std::fs::remove_dir_all(entry.path()).expect("remove the incremental state");
            }
        }
    }
    let main_rs = dir.join("src/main.rs");
    let text = std::fs::read(&main_rs).expect("read main.rs");
    std::fs::write(&main_rs, text).expect("touch main.rs");
    cargo_build(dir, target)
}

/// Appends a comment line to the file: an edit that changes the embedded table.
fn edit(path: &Path, round: usize) {
    use std::io::Write as _;
    let mut file = std::fs::File::options()
        .append(true)
        .open(path)
        .expect("open a migration to edit");
    writeln!(file, "-- edit {round}").expect("edit a migration");
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let count: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    let revchain = |name: &str, runtime: std::path::PathBuf| Scratch {
        name: name.to_owned(),
        dependency: format!(
            "revchain = {{ path = {:?}, default-features = false }}",
            runtime.to_str().expect("a UTF-8 workspace path")
        ),
        main_rs: "static MIGRATIONS: revchain::Migrations = revchain::migrations!(\"migrations\");\n\n\
                  fn main() {\n    println!(\"{}\", MIGRATIONS.len());\n}\n",
        file: revchain_file,
    };
    let mut scratches = vec![
        revchain("revchain", workspace_root().join("runtime")),
        Scratch {
            name: "sqlx".to_owned(),
            dependency: "sqlx = { version = \"0.9\", default-features = false, features = [\"migrate\", \"macros\", \"runtime-tokio\"] }".to_owned(),
            main_rs: "static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!(\"./migrations\");\n\n\
                      fn main() {\n    println!(\"{}\", MIGRATOR.iter().count());\n}\n",
            file: sqlx_file,
        },
    ];
    if let Some(base) = std::env::var_os("REVCHAIN_BENCH_BASE") {
        scratches.push(revchain(
            "base",
            std::path::PathBuf::from(base).join("runtime"),
        ));
    }
    // `only=base,sqlx`: some of the crates (the ratios need `sqlx`).
    if let Some(only) = args.iter().find_map(|a| a.strip_prefix("only=")) {
        let only: Vec<&str> = only.split(',').collect();
        scratches.retain(|s| only.contains(&s.name.as_str()));
    }
    let sqlx = scratches.iter().position(|s| s.name == "sqlx");
    let root = target_subdir("bench-build");
    let target = root.join("target");
    let mut medians = Vec::new();
    let mut clean_medians = Vec::new();
    for scratch in &scratches {
        let dir = root.join(format!("{}-{count}", scratch.name));
        write_crate(&dir, scratch, count);
        let first = cargo_build(&dir, &target);
        let last = dir.join("migrations").join((scratch.file)(count - 1).0);
        let mut times: Vec<Duration> = (0..ROUNDS)
            .map(|round| {
                edit(&last, round);
                cargo_build(&dir, &target)
            })
            .collect();
        times.sort();
        let median = times[ROUNDS / 2];
        let mut clean: Vec<Duration> = (0..ROUNDS)
            .map(|_| clean_build(&dir, &target, &scratch.name))
            .collect();
        clean.sort();
        println!(
            "{:>8}: {count} migrations, clean build of the crate (dependencies built): median \
             {:.2} s (min {:.2} s, max {:.2} s)",
            scratch.name,
            clean[ROUNDS / 2].as_secs_f64(),
            clean[0].as_secs_f64(),
            clean[ROUNDS - 1].as_secs_f64(),
        );
        clean_medians.push(clean[ROUNDS / 2]);
        println!(
            "{:>8}: {count} migrations, rebuild after editing one: median {:.2} s \
             (min {:.2} s, max {:.2} s; first build with dependencies {:.1} s)",
            scratch.name,
            median.as_secs_f64(),
            times[0].as_secs_f64(),
            times[ROUNDS - 1].as_secs_f64(),
            first.as_secs_f64()
        );
        medians.push(median);
    }
    let Some(sqlx) = sqlx else { return };
    for (i, scratch) in scratches
        .iter()
        .enumerate()
        .filter(|(_, s)| s.name != "sqlx")
    {
        println!(
            "ratio {} / sqlx::migrate!: rebuild after an edit {:.2}, clean build {:.2}",
            scratch.name,
            medians[i].as_secs_f64() / medians[sqlx].as_secs_f64(),
            clean_medians[i].as_secs_f64() / clean_medians[sqlx].as_secs_f64()
        );
    }
}
