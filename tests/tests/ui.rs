//! Compile-fail tests of `revchain::migrations!`: one case per kind of error, each with its
//! checked-in `.stderr`, and one pass case (`allow_multiple_heads`).
//!
//! trybuild compiles every case inside a generated crate under
//! `<target>/tests/trybuild/revchain-tests/`, which is then the cases' `CARGO_MANIFEST_DIR`.
//! The cases name their fixtures as this crate sees them (`ui/migrations/<case>`), so
//! before running, the fixtures are copied to the same place relative to the generated
//! crate: paths in messages then read exactly as a user of this crate would see them.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p revchain-tests --test ui`
//! and read them: each message must name `file:line` and say what to do.

use std::path::{Path, PathBuf};

use revchain_tests::cargo;

#[test]
fn ui() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = target_directory(manifest_dir)
        .join("tests")
        .join("trybuild")
        .join(env!("CARGO_PKG_NAME"));
    let fixtures = Path::new("ui").join("migrations");
    let copy = generated.join(&fixtures);
    if copy.exists() {
        std::fs::remove_dir_all(&copy).expect("remove the previous copy of the UI fixtures");
    }
    copy_dir(&manifest_dir.join(&fixtures), &copy);

    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
    t.pass("ui/pass/*.rs");
}

/// The target directory, as trybuild finds it: from `cargo metadata`.
fn target_directory(manifest_dir: &Path) -> PathBuf {
    let output = cargo(
        manifest_dir,
        None,
        &["metadata", "--format-version=1", "--no-deps", "--offline"],
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let dir = metadata["target_directory"]
        .as_str()
        .expect("cargo metadata names the target directory");
    PathBuf::from(dir)
}

/// Copies `from` into `to`, byte for byte (the non-UTF-8 fixture must stay as it is).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the fixture copy");
    for entry in std::fs::read_dir(from).expect("read the UI fixtures") {
        let entry = entry.expect("read the UI fixtures");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a UI fixture");
        }
    }
}
