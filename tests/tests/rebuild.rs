//! Cargo rebuilds a crate that embeds migrations when a file is added, edited or removed,
//! with no change to its source: `migrations!` ties each file into the build and
//! `revchain::build::track` (in `build.rs`) makes cargo watch the directory for new files.
//!
//! The test builds and runs a scratch crate in a temporary directory, against this
//! workspace's `runtime/` (without default features) and `Cargo.lock`, with its own target
//! directory under this workspace's target directory, so that later runs are incremental
//! and do not wait for the outer cargo's build lock.

use std::path::Path;

use revchain_tests::{cargo, target_subdir, workspace_root};

const MAIN_RS: &str = r#"static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");

fn main() {
    for revision in MIGRATIONS.iter() {
        println!("{} {}", revision.id(), revision.checksum());
    }
}
"#;

/// The build script watches `build.rs` too, as real ones do: without any
/// `rerun-if-changed` line cargo would rerun it on any change in the package, which would
/// hide a `track` that does not work.
const BUILD_RS: &str = r#"fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    revchain::build::track("migrations");
}
"#;

fn revision(id: &str, parent: &str, sql: &str) -> String {
    format!(
        "-- revision {id}\n--\n-- Revision ID: {id}\n-- Revises: {parent}\n\n-- migrate:upgrade\n{sql}\n\n-- migrate:downgrade\nSELECT 0;\n"
    )
}

/// Builds and runs the scratch crate; returns its lines (`id checksum`).
fn run(crate_dir: &Path) -> Vec<(String, String)> {
    // `<target>/scratch-rebuild`, beside the profile directory this test runs from.
    let target = target_subdir("scratch-rebuild");
    let output = cargo(crate_dir, Some(&target), &["run", "--offline", "--quiet"]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let (id, checksum) = line.split_once(' ').expect("`id checksum` lines");
            (id.to_owned(), checksum.to_owned())
        })
        .collect()
}

fn ids(lines: &[(String, String)]) -> Vec<&str> {
    lines.iter().map(|(id, _)| id.as_str()).collect()
}

#[test]
fn adding_editing_and_removing_a_file_rebuilds() {
    let root = workspace_root();
    let runtime = root.join("runtime");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    let manifest = format!(
        "[package]\nname = \"revchain-rebuild-scratch\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nrevchain = {{ path = {runtime:?}, default-features = false }}\n\n\
         [build-dependencies]\nrevchain = {{ path = {runtime:?}, default-features = false }}\n\n\
         [workspace]\n",
        runtime = runtime.to_str().expect("a UTF-8 workspace path"),
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("build.rs"), BUILD_RS).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN_RS).unwrap();
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("a_users.sql"),
        revision("a", "", "CREATE TABLE users (id BIGINT);"),
    )
    .unwrap();

    let first = run(dir);
    assert_eq!(ids(&first), ["a"]);

    // A new file, and nothing else changes: `build::track` makes cargo see it.
    std::fs::write(
        migrations.join("b_orders.sql"),
        revision("b", "a", "CREATE TABLE orders (id BIGINT);"),
    )
    .unwrap();
    let second = run(dir);
    assert_eq!(ids(&second), ["a", "b"]);
    assert_eq!(second[0], first[0]);

    // An edited file: its checksum changes, the other's does not.
    std::fs::write(
        migrations.join("b_orders.sql"),
        revision("b", "a", "CREATE TABLE orders (id BIGINT, total BIGINT);"),
    )
    .unwrap();
    let third = run(dir);
    assert_eq!(ids(&third), ["a", "b"]);
    assert_eq!(third[0], second[0]);
    assert_ne!(
        third[1].1, second[1].1,
        "the edited revision's checksum changes"
    );

    // A removed file.
    std::fs::remove_file(migrations.join("b_orders.sql")).unwrap();
    let fourth = run(dir);
    assert_eq!(fourth, first);
}
