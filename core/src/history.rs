//! A whole migrations directory, loaded and validated: the revision files in topological
//! order with their graph, checksums and chain digests.

use std::fmt;
use std::path::Path;

use crate::baseline::{self, BaselineError};
use crate::digest::Digest;
use crate::graph::{self, Graph, GraphError, Member};
use crate::parse::{self, ParseError, RevisionFile};
use crate::repeatable::{Repeatables, Spec};

/// How strictly to read revision files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every rule of docs/design.md §1 (what the macro, `check` and database commands use).
    #[default]
    Strict,
    /// Also accept revisions whose upgrade section is still empty: freshly created files
    /// that are being written. Used by commands that only read the graph (`heads`,
    /// `history`, `revision`, `merge`).
    Drafts,
}

/// A problem that stops a directory from loading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The directory does not exist.
    #[error(
        "{0}: the migrations directory does not exist; create it with `revchain init` or point \
         to the right one with `--dir`"
    )]
    MissingDir(String),
    /// The path is not a directory.
    #[error("{0}: this is not a directory; the migrations path must name a directory")]
    NotADirectory(String),
    /// The directory or a file could not be read.
    #[error("{path}: cannot read it: {message}")]
    Io {
        /// The path shown in messages.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A `.sql` entry that is not a regular file (a FIFO, a device, a socket), or a symlink
    /// to one: reading it could block forever or never end.
    #[error(
        "{path}: this is {what}, not a regular file; only regular files (or symlinks to them) \
         are read as revisions: remove it, or rename it so that its name does not end in `.sql`"
    )]
    NotARegularFile {
        /// The path shown in messages.
        path: String,
        /// What it is instead (`a FIFO`, `a character device`, …).
        what: &'static str,
    },
    /// A file larger than [`MAX_FILE_BYTES`].
    #[error(
        "{path}: the file holds {size} bytes, more than the {limit} bytes a revision file may \
         hold; split it into several revisions (or load bulk data with `COPY … FROM` a file on \
         the database server)"
    )]
    TooLarge {
        /// The path shown in messages.
        path: String,
        /// Its size in bytes (at least, when it grew while being read).
        size: u64,
        /// [`MAX_FILE_BYTES`].
        limit: u64,
    },
    /// A file is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The files do not form a valid graph.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A baseline and the revisions it replaces disagree (docs/design.md §2.3).
    #[error(transparent)]
    Baseline(Box<crate::baseline::BaselineError>),
}

/// Every problem found while loading, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

impl From<LoadError> for LoadErrors {
    fn from(e: LoadError) -> Self {
        LoadErrors(vec![e])
    }
}

/// The largest revision file revchain reads: 64 MiB. Larger files are refused with
/// [`LoadError::TooLarge`] instead of filling the memory of the build or of the tool.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads the file at `path` (named `shown` in messages) the way every revision file is
/// read, by the macro, the runtime loader and the CLI: only a regular file (a symlink is
/// followed only to a regular file), of at most [`MAX_FILE_BYTES`]. A FIFO, a device or a
/// socket is refused before it is opened, so that reading cannot block or run forever.
pub fn read_file(path: &Path, shown: &str) -> Result<Vec<u8>, LoadError> {
    use std::io::Read as _;
    let io = |e: std::io::Error| LoadError::Io {
        path: shown.to_owned(),
        message: e.to_string(),
    };
    let too_large = |size: u64| LoadError::TooLarge {
        path: shown.to_owned(),
        size,
        limit: MAX_FILE_BYTES,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(LoadError::NotARegularFile {
            path: shown.to_owned(),
            what: file_kind(&meta.file_type()),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // The file may have changed between the two looks: check what was opened, and read
    // one byte past the limit at most.
    if !file.metadata().map_err(io)?.is_file() {
        return Err(LoadError::NotARegularFile {
            path: shown.to_owned(),
            what: "not a regular file any more",
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_FILE_BYTES {
        return Err(too_large(read));
    }
    Ok(bytes)
}

/// What a file that is not a regular file is, for messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Joins a display directory and a file name with `/`, whatever the platform.
fn display_join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_owned()
    } else {
        format!("{}/{name}", dir.trim_end_matches(['/', '\\']))
    }
}

/// The names of the revision files in `dir`, sorted: entries ending in `.sql` or `.rs`
/// (Rust code revisions, docs/design.md §1.7) whose name
/// does not start with `.`, directories (and symlinks to them) excepted. Entries that are
/// not regular files (FIFOs, devices) are listed, so that [`read_file`] refuses them by
/// name instead of leaving them out unsaid.
pub fn revision_file_names(dir: &Path, display: &str) -> Result<Vec<String>, LoadError> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::MissingDir(display.to_owned()));
        }
        Err(e) => {
            return Err(LoadError::Io {
                path: display.to_owned(),
                message: e.to_string(),
            });
        }
    };
    if !meta.is_dir() {
        return Err(LoadError::NotADirectory(display.to_owned()));
    }
    let io = |e: std::io::Error| LoadError::Io {
        path: display.to_owned(),
        message: e.to_string(),
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // Not UTF-8, so it cannot end in `.sql` as written here.
        };
        if name.starts_with('.') || !(name.ends_with(".sql") || crate::code::is_rust_file(&name)) {
            continue;
        }
        // Skip directories named `*.sql` (following symlinks, which need a second look).
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        if is_dir {
            continue;
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// Reads and parses every revision file of `dir`; `display` is how the directory is named in
/// messages (e.g. `migrations`). All problems are returned together.
pub fn read_dir(dir: &Path, display: &str, mode: Mode) -> Result<Vec<RevisionFile>, LoadErrors> {
    let names = revision_file_names(dir, display)?;
    // Reading and parsing thousands of files is worth the machine's cores; the result keeps
    // the sorted order whatever the number of threads.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = names.len().div_ceil(threads).max(256);
    let results: Vec<Vec<Result<RevisionFile, Vec<LoadError>>>> = if names.len() <= chunk {
        vec![
            names
                .iter()
                .map(|n| read_one(dir, display, n, mode))
                .collect(),
        ]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|n| read_one(dir, display, n, mode))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![Err(vec![LoadError::Io {
                            path: display.to_owned(),
                            message: "a reader thread failed".to_owned(),
                        }])]
                    })
                })
                .collect()
        })
    };
    let mut files = Vec::with_capacity(names.len());
    let mut errors = Vec::new();
    for result in results.into_iter().flatten() {
        match result {
            Ok(f) => files.push(f),
            Err(es) => errors.extend(es),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Reads and parses one file.
fn read_one(
    dir: &Path,
    display: &str,
    name: &str,
    mode: Mode,
) -> Result<RevisionFile, Vec<LoadError>> {
    let shown = display_join(display, name);
    let bytes = read_file(&dir.join(name), &shown).map_err(|e| vec![e])?;
    parse::decode(&shown, &bytes)
        .map_err(|e| vec![e])
        .and_then(|text| parse_any(&shown, &text, mode))
        .map_err(|es| es.into_iter().map(LoadError::Parse).collect())
}

/// Parses a revision file's text by its kind: `*.rs` is a Rust code revision
/// (docs/design.md §1.7), anything else SQL. What the macro and every loader call.
pub fn parse_any(shown: &str, text: &str, mode: Mode) -> Result<RevisionFile, Vec<ParseError>> {
    if crate::code::is_rust_file(shown) {
        crate::code::parse_rust_with(shown, text, mode)
    } else {
        parse::parse_with(shown, text, mode)
    }
}

/// A validated migrations directory.
///
/// ```no_run
/// use revchain_core::History;
/// let history = History::load("migrations".as_ref())?;
/// for (i, rev) in history.revisions().iter().enumerate() {
///     println!("{} {} {}", rev.id, history.checksum(i), rev.message);
/// }
/// # Ok::<(), revchain_core::LoadErrors>(())
/// ```
#[derive(Debug, Clone)]
pub struct History {
    revisions: Vec<RevisionFile>,
    graph: Graph,
    checksums: Vec<Digest>,
    chain_digests: Vec<Digest>,
    repeatable_files: Vec<RevisionFile>,
    repeatables: Repeatables,
    /// The files that baselines replace, still present (docs/design.md §2.3).
    replaced: Vec<RevisionFile>,
}

impl History {
    /// Loads `dir` strictly, naming it in messages as given.
    pub fn load(dir: &Path) -> Result<History, LoadErrors> {
        History::load_as(dir, &dir.to_string_lossy(), Mode::Strict)
    }

    /// Loads `dir`, naming it `display` in messages.
    pub fn load_as(dir: &Path, display: &str, mode: Mode) -> Result<History, LoadErrors> {
        History::from_files(read_dir(dir, display, mode)?)
    }

    /// Validates parsed files as one graph (every graph error is reported) and computes
    /// checksums and chain digests. The one-head rule is separate: see
    /// [`check_single_head`](Self::check_single_head).
    ///
    /// Repeatable revisions (`Repeatable: true`) are kept out of the graph and resolved
    /// against it ([`Repeatables::resolve`]).
    pub fn from_files(files: Vec<RevisionFile>) -> Result<History, LoadErrors> {
        let (repeatable, files): (Vec<RevisionFile>, Vec<RevisionFile>) =
            files.into_iter().partition(|f| f.repeatable);
        let baseline_errors = |es: Vec<BaselineError>| {
            LoadErrors(
                es.into_iter()
                    .map(|e| LoadError::Baseline(Box::new(e)))
                    .collect(),
            )
        };
        let squashed = baseline::split(files).map_err(baseline_errors)?;
        let mut history = History::main(squashed.main)?;
        let errors = baseline::check_replaced(&history, &squashed.replaced);
        if !errors.is_empty() {
            return Err(baseline_errors(errors));
        }
        history.replaced = squashed.replaced;
        history.attach_repeatables(repeatable)?;
        Ok(history)
    }

    /// Resolves the repeatable revisions against the graph and keeps them in their order.
    fn attach_repeatables(&mut self, repeatable: Vec<RevisionFile>) -> Result<(), LoadErrors> {
        let graph_errors =
            |es: Vec<GraphError>| LoadErrors(es.into_iter().map(LoadError::Graph).collect());
        let specs: Vec<Spec<'_>> = repeatable.iter().map(Spec::of).collect();
        let repeatables = Repeatables::resolve(&specs, &self.graph).map_err(graph_errors)?;
        let mut slots: Vec<Option<RevisionFile>> = repeatable.into_iter().map(Some).collect();
        self.repeatable_files = (repeatables.order().iter())
            .filter_map(|item| slots[item.input].take())
            .collect();
        self.repeatables = repeatables;
        Ok(())
    }

    /// The main graph of `files` (no revision replaced): a baseline's chain digest is its
    /// `Replaces Digest`.
    fn main(files: Vec<RevisionFile>) -> Result<History, LoadErrors> {
        let (graph, order) = graph::build(&files)
            .map_err(|es| LoadErrors(es.into_iter().map(LoadError::Graph).collect()))?;
        let mut slots: Vec<Option<RevisionFile>> = files.into_iter().map(Some).collect();
        let revisions: Vec<RevisionFile> = order.iter().filter_map(|&i| slots[i].take()).collect();
        let checksums: Vec<Digest> = revisions.iter().map(RevisionFile::checksum).collect();
        let mut chain_digests: Vec<Digest> = Vec::with_capacity(revisions.len());
        for (k, node) in graph.nodes().iter().enumerate() {
            let digest = revisions[k].replaces_digest.unwrap_or_else(|| {
                Digest::chain(
                    &checksums[k],
                    node.parents.iter().map(|&p| &chain_digests[p]),
                )
            });
            chain_digests.push(digest);
        }
        Ok(History {
            revisions,
            graph,
            checksums,
            chain_digests,
            repeatable_files: Vec::new(),
            repeatables: Repeatables::default(),
            replaced: Vec::new(),
        })
    }

    /// The repeatable revisions, in the order they are applied (that of
    /// [`repeatables`](Self::repeatables)).
    pub fn repeatable_files(&self) -> &[RevisionFile] {
        &self.repeatable_files
    }

    /// The repeatable revisions resolved against the graph: their order and plans.
    pub fn repeatables(&self) -> &Repeatables {
        &self.repeatables
    }

    /// The files that baselines replace and that are still present, as written.
    pub fn replaced(&self) -> &[RevisionFile] {
        &self.replaced
    }

    /// The history of the revisions that baseline `index` replaces, when their files are
    /// present and the range starts at a base (the baseline revises nothing): what a
    /// database in the middle of the range is caught up with.
    pub fn catch_up(&self, index: usize) -> Option<History> {
        let baseline = self.revisions.get(index)?;
        if baseline.replaces.is_empty() || !baseline.parents.is_empty() {
            return None;
        }
        let files: Vec<RevisionFile> = (baseline.replaces.iter())
            .map(|id| self.replaced.iter().find(|r| &r.id == id).cloned())
            .collect::<Option<_>>()?;
        History::main(files).ok()
    }

    /// The revisions in topological order (the graph's indices).
    pub fn revisions(&self) -> &[RevisionFile] {
        &self.revisions
    }

    /// The revision graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The checksum of revision `index`.
    pub fn checksum(&self, index: usize) -> Digest {
        self.checksums[index]
    }

    /// The chain digest of revision `index`.
    pub fn chain_digest(&self, index: usize) -> Digest {
        self.chain_digests[index]
    }

    /// How revision `index` is named in graph errors.
    pub fn member(&self, index: usize) -> Member {
        let r = &self.revisions[index];
        Member {
            id: r.id.clone(),
            path: r.path.clone(),
            line: r.lines.id,
        }
    }

    /// The one-head rule (docs/design.md §2.1).
    pub fn check_single_head(&self) -> Result<(), GraphError> {
        graph::check_heads(&self.graph, |i| self.member(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn rev(id: &str, parents: &str, sql: &str) -> String {
        format!(
            "-- {id}\n-- Revision ID: {id}\n-- Revises: {parents}\n\n-- migrate:upgrade\n{sql}\n-- migrate:downgrade\nSELECT 0;\n"
        )
    }

    #[test]
    fn loads_filters_and_digests() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "b_second.sql", &rev("b", "a", "SELECT 2;"));
        write(d, "a_first.sql", &rev("a", "", "SELECT 1;"));
        write(d, ".hidden.sql", "garbage");
        write(d, "notes.txt", "garbage");
        std::fs::create_dir(d.join("sub.sql")).unwrap();
        let h = History::load_as(d, "migrations", Mode::Strict).unwrap();
        assert_eq!(h.revisions().len(), 2);
        assert_eq!(h.revisions()[0].path, "migrations/a_first.sql");
        let ca = Digest::checksum("SELECT 1;");
        assert_eq!(h.checksum(0), ca);
        let da = Digest::chain(&ca, []);
        assert_eq!(h.chain_digest(0), da);
        assert_eq!(
            h.chain_digest(1),
            Digest::chain(&Digest::checksum("SELECT 2;"), [&da])
        );
        assert!(h.check_single_head().is_ok());
    }

    #[test]
    fn reports_every_problem_of_every_file() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "a.sql", "-- a\n-- migrate:upgrade\nSELECT 1;");
        write(
            d,
            "b.sql",
            "-- b\n-- Revison ID: b\n-- Revision ID: b\n-- migrate:upgrade\nSELECT 1;",
        );
        std::fs::write(d.join("c.sql"), b"-- c\n\xff").unwrap();
        let errs = History::load_as(d, "m", Mode::Strict).unwrap_err();
        let text = errs.to_string();
        assert_eq!(errs.0.len(), 3, "{text}");
        assert!(text.contains("m/a.sql:1: the header has no `Revision ID:` line"));
        assert!(
            text.contains(
                "m/b.sql:2: unknown header key `Revison ID` (did you mean `Revision ID`?)"
            )
        );
        assert!(text.contains("m/c.sql:2: the file is not valid UTF-8"));
    }

    /// A FIFO, a symlink to `/dev/zero` and a file over the limit are refused by name,
    /// at once, instead of blocking, reading forever or filling the memory.
    #[cfg(unix)]
    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "a_first.sql", &rev("a", "", "SELECT 1;"));
        let fifo = std::process::Command::new("mkfifo")
            .arg(d.join("b_fifo.sql"))
            .status()
            .unwrap();
        assert!(fifo.success());
        std::os::unix::fs::symlink("/dev/zero", d.join("c_zero.sql")).unwrap();
        let big = std::fs::File::create(d.join("d_big.sql")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        std::os::unix::fs::symlink(d.join("a_first.sql"), d.join("e_link.sql")).unwrap();

        let started = std::time::Instant::now();
        let errs = History::load_as(d, "m", Mode::Strict).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(
            errs.0,
            vec![
                LoadError::NotARegularFile {
                    path: "m/b_fifo.sql".into(),
                    what: "a FIFO (named pipe)"
                },
                LoadError::NotARegularFile {
                    path: "m/c_zero.sql".into(),
                    what: "a character device"
                },
                LoadError::TooLarge {
                    path: "m/d_big.sql".into(),
                    size: MAX_FILE_BYTES + 1,
                    limit: MAX_FILE_BYTES
                },
            ],
            "the symlink to a regular file is read"
        );
        assert!(errs.to_string().contains(
            "m/b_fifo.sql: this is a FIFO (named pipe), not a regular file; only regular files"
        ));
        assert!(
            errs.to_string().contains(
                "m/d_big.sql: the file holds 67108865 bytes, more than the 67108864 bytes"
            )
        );
        // What the macro calls, file by file.
        assert!(matches!(
            read_file(&d.join("b_fifo.sql"), "b"),
            Err(LoadError::NotARegularFile { .. })
        ));
        assert_eq!(
            read_file(&d.join("e_link.sql"), "e").unwrap(),
            rev("a", "", "SELECT 1;").into_bytes()
        );
    }

    #[test]
    fn drafts_mode_accepts_an_empty_upgrade() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "a.sql",
            "-- a\n-- Revision ID: a\n-- Revises:\n\n-- migrate:upgrade\n\n-- migrate:downgrade\n",
        );
        assert!(History::load_as(tmp.path(), "m", Mode::Strict).is_err());
        assert!(History::load_as(tmp.path(), "m", Mode::Drafts).is_ok());
    }

    #[test]
    fn missing_dir_file_and_empty_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let e = History::load_as(&missing, "nope", Mode::Strict).unwrap_err();
        assert_eq!(e.0, vec![LoadError::MissingDir("nope".into())]);
        write(tmp.path(), "f", "x");
        let e = History::load_as(&tmp.path().join("f"), "f", Mode::Strict).unwrap_err();
        assert_eq!(e.0, vec![LoadError::NotADirectory("f".into())]);
        let h = History::load_as(tmp.path(), "m", Mode::Strict).unwrap();
        assert!(h.revisions().is_empty());
        assert!(h.graph().heads().is_empty());
    }
}
