//! Stage two: read the directory once, validate it with `revchain-core`, and keep what the
//! expansion needs.
//!
//! The steps are `History::load_as`'s (core's own file rule, decoder, parser and graph),
//! written out so that the macro also learns each file's absolute path for the
//! `include_bytes!` that ties it into the build.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use revchain_core::history::{self, LoadError, Mode};
use revchain_core::{History, RevisionFile, parse};

/// A validated directory, ready to expand.
pub(crate) struct Validated {
    /// The directory as written in the macro call (what messages and `Migrations::dir` show).
    pub(crate) display: String,
    /// The directory's absolute path (for `Migrations::warn_if_stale` in debug builds).
    pub(crate) abs_dir: String,
    /// The revisions, in core's stable topological order.
    pub(crate) history: History,
    /// For each revision of `history`, in the same order, then for each repeatable
    /// revision: its file.
    pub(crate) files: Vec<SourceFile>,
}

/// A migration file tied into the build.
pub(crate) struct SourceFile {
    /// The absolute path, for `include_bytes!` (and `#[path]` for a Rust revision).
    pub(crate) abs_path: String,
    /// For a Rust code revision (docs/design.md §1.7): its checked functions.
    pub(crate) code: Option<crate::code::CodeFile>,
}

/// Loads and validates the directory `written` (relative to `manifest_dir`, the calling
/// crate's `CARGO_MANIFEST_DIR`). Returns every problem found, each as one sentence that
/// starts with `file:line` where there is a file.
pub(crate) fn validate(
    manifest_dir: Option<OsString>,
    written: &str,
    allow_multiple_heads: bool,
) -> Result<Validated, Vec<String>> {
    let (display, dir, abs_dir) = locate_dir(manifest_dir, written)?;
    let (parsed, mut sources) = read_files(&dir, &display)?;
    let history = build_history(parsed, written, allow_multiple_heads)?;
    let files = files_in_order(&history, &mut sources)?;
    Ok(Validated {
        display,
        abs_dir,
        history,
        files,
    })
}

/// Step one: the directory as shown in messages, its path, and its absolute path as UTF-8
/// (what `include_bytes!` needs).
fn locate_dir(
    manifest_dir: Option<OsString>,
    written: &str,
) -> Result<(String, PathBuf, String), Vec<String>> {
    let Some(manifest_dir) = manifest_dir else {
        return Err(vec![
            "CARGO_MANIFEST_DIR is not set, so the migrations directory cannot be found: \
             `revchain::migrations!` reads its path relative to the crate's Cargo.toml and must \
             be compiled by cargo"
                .to_owned(),
        ]);
    };
    let display = display_dir(written);
    let dir = PathBuf::from(manifest_dir).join(written);
    let Some(abs_dir) = dir.to_str().map(str::to_owned) else {
        return Err(vec![format!(
            "{display}: the absolute path of the migrations directory ({}) is not valid UTF-8, \
             which `include_bytes!` needs; move the crate or the directory to a UTF-8 path",
            dir.display()
        )]);
    };
    Ok((display, dir, abs_dir))
}

/// The parsed revision files, and each one's source by the path messages show.
type ReadFiles = (Vec<RevisionFile>, HashMap<String, SourceFile>);

/// Step two: every revision file of the directory, read and parsed, each with its source;
/// or every problem of every file.
fn read_files(dir: &Path, display: &str) -> Result<ReadFiles, Vec<String>> {
    let names = history::revision_file_names(dir, display).map_err(|e| match e {
        // Core's message suits the CLI (`--dir`); the macro's path comes from the call.
        LoadError::MissingDir(shown) => vec![format!(
            "{shown}: the migrations directory does not exist; the path is relative to the \
             crate's Cargo.toml, so fix it or create the directory (`revchain init`)"
        )],
        e => vec![e.to_string()],
    })?;
    let mut parsed = Vec::with_capacity(names.len());
    let mut sources: HashMap<String, SourceFile> = HashMap::with_capacity(names.len());
    let mut errors: Vec<String> = Vec::new();
    for name in names {
        let shown = display_join(display, &name);
        match read_file(&dir.join(&name), &shown) {
            Ok((file, source)) => {
                sources.insert(shown, source);
                parsed.push(file);
            }
            Err(es) => errors.extend(es),
        }
    }
    if errors.is_empty() {
        Ok((parsed, sources))
    } else {
        Err(errors)
    }
}

/// One revision file, read (core's file rule), decoded and parsed strictly.
fn read_file(path: &Path, shown: &str) -> Result<(RevisionFile, SourceFile), Vec<String>> {
    let Some(abs_path) = path.to_str().map(str::to_owned) else {
        return Err(vec![format!(
            "{shown}: the file's absolute path is not valid UTF-8, which `include_bytes!` \
             needs; move the crate to a UTF-8 path"
        )]);
    };
    let bytes = history::read_file(path, shown).map_err(|e| vec![e.to_string()])?;
    let text = parse::decode(shown, &bytes).map_err(|e| vec![e.to_string()])?;
    let file = history::parse_any(shown, &text, Mode::Strict)
        .map_err(|es| es.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let code = if revchain_core::code::is_rust(&file) {
        Some(crate::code::check(shown, &text)?)
    } else {
        None
    };
    Ok((file, SourceFile { abs_path, code }))
}

/// Step three: the graph over the parsed files, with the single-head rule unless the call
/// allows several heads.
fn build_history(
    parsed: Vec<RevisionFile>,
    written: &str,
    allow_multiple_heads: bool,
) -> Result<History, Vec<String>> {
    let history = History::from_files(parsed)
        .map_err(|es| es.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    if !allow_multiple_heads && let Err(e) = history.check_single_head() {
        return Err(vec![format!(
            "{e}; to keep several unlabelled heads on purpose, write \
             `revchain::migrations!(\"{written}\", allow_multiple_heads)`"
        )]);
    }
    Ok(history)
}

/// Step four: each revision's source file, in the history's order, then the repeatables'.
fn files_in_order(
    history: &History,
    sources: &mut HashMap<String, SourceFile>,
) -> Result<Vec<SourceFile>, Vec<String>> {
    let mut files = Vec::with_capacity(history.revisions().len());
    for revision in history.revisions().iter().chain(history.repeatable_files()) {
        match sources.remove(&revision.path) {
            Some(source) => files.push(source),
            // Every parsed file has a source; this would be a bug, reported rather than
            // panicking the compiler.
            None => {
                return Err(vec![format!(
                    "{}: internal error in revchain: the file was parsed but not recorded; \
                     please report this",
                    revision.path
                )]);
            }
        }
    }
    Ok(files)
}

/// The directory as written, without trailing separators (`migrations/` shows as
/// `migrations`).
fn display_dir(written: &str) -> String {
    let trimmed = written.trim_end_matches(['/', '\\']);
    if trimmed.is_empty() {
        written.to_owned() // `/`: the root, as written
    } else {
        trimmed.to_owned()
    }
}

/// How core names a file of the directory in messages: `dir/name` with `/`, whatever the
/// platform, or the bare name for `.`.
fn display_join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_owned()
    } else {
        format!("{}/{name}", dir.trim_end_matches(['/', '\\']))
    }
}
