//! Helpers for a crate's `build.rs`.
//!
//! `migrations!` ties every migration file into the build, so editing or deleting one
//! rebuilds the crate. A *new* file is invisible to cargo unless a build script asks cargo
//! to watch the directory:
//!
//! ```no_run
//! // In build.rs, inside `fn main`:
//! revchain::build::track("migrations");
//! ```
//!
//! With `revchain` as a build-dependency too:
//!
//! ```toml
//! [build-dependencies]
//! revchain = { version = "0.1", default-features = false }
//! ```

use std::path::Path;

/// Prints the `cargo:rerun-if-changed` lines that make cargo rebuild the crate when a file
/// is added to, changed in or removed from `dir` (relative to the crate's manifest
/// directory, as in `migrations!`).
pub fn track(dir: impl AsRef<Path>) {
    for line in rerun_lines(dir.as_ref()) {
        println!("{line}");
    }
}

/// The lines [`track`] prints: the directory itself (cargo scans a directory for any
/// modification, which catches new files) and each revision file in it.
pub fn rerun_lines(dir: &Path) -> Vec<String> {
    let mut lines = vec![format!("cargo:rerun-if-changed={}", dir.display())];
    for name in revision_files(dir) {
        lines.push(format!(
            "cargo:rerun-if-changed={}",
            dir.join(name).display()
        ));
    }
    lines
}

/// The names of the revision files in `dir` (the same rule as the macro: `*.sql` and `*.rs`, not
/// hidden), or none when the directory cannot be read.
pub fn revision_files(dir: &Path) -> Vec<String> {
    revchain_core::history::revision_file_names(dir, &dir.to_string_lossy()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_directory_and_each_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a_x.sql"), "").unwrap();
        std::fs::write(tmp.path().join(".hidden.sql"), "").unwrap();
        std::fs::write(tmp.path().join("notes.md"), "").unwrap();
        let lines = rerun_lines(tmp.path());
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(&tmp.path().display().to_string()));
        assert!(lines[1].ends_with("a_x.sql"));
        assert!(rerun_lines(&tmp.path().join("missing")).len() == 1);
    }
}
