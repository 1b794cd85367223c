//! The targets of a fleet: where they come from (a file of URLs, a catalog query, the
//! schemas of one PostgreSQL database), how they are shown (passwords redacted), and the
//! stable share of them a shard takes.

use std::path::Path;
use std::str::FromStr;

use super::Shard;
use crate::url::{DatabaseKind, redact};

/// One database (or one schema of a PostgreSQL database) that a fleet command works on.
///
/// ```
/// use revchain::fleet::Target;
///
/// let t = Target::Schema { url: "postgres://app:pw@db/main".into(), schema: "tenant_7".into() };
/// assert_eq!(t.shown(), "postgres://app:***@db/main#tenant_7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A whole database, by its URL.
    Database(String),
    /// One schema of a PostgreSQL database: its bookkeeping tables live in the schema and
    /// its revisions run with `search_path` set to it.
    Schema {
        /// The database's URL.
        url: String,
        /// The schema.
        schema: String,
    },
}

impl Target {
    /// The URL of the database the target lives in (with its password: never print it).
    pub fn url(&self) -> &str {
        match self {
            Target::Database(url) | Target::Schema { url, .. } => url,
        }
    }

    /// The target as every report, log and error shows it: its URL with the password
    /// redacted, `#schema` after it for a schema target.
    pub fn shown(&self) -> String {
        match self {
            Target::Database(url) => redact(url),
            Target::Schema { url, schema } => format!("{}#{schema}", redact(url)),
        }
    }

    /// Whether this target is in `shard`: a stable hash of [`shown`](Self::shown), so the
    /// share does not depend on the order or the number of the other targets.
    ///
    /// ```
    /// use revchain::fleet::{Shard, Target};
    ///
    /// let t = Target::Database("sqlite://tenant_1.db".into());
    /// let shards = (0..4).filter(|&i| t.in_shard(Shard { index: i, count: 4 })).count();
    /// assert_eq!(shards, 1);
    /// ```
    pub fn in_shard(&self, shard: Shard) -> bool {
        shard.count == 0
            || stable_hash(self.shown().as_bytes()) % u64::from(shard.count)
                == u64::from(shard.index)
    }
}

/// FNV-1a, 64 bits: stable across releases and platforms (the standard library's hasher
/// promises neither), which a shard of a Kubernetes Indexed Job relies on.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A shard that is not `I/N` with `I < N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a shard: write I/N with 0 <= I < N, as in `0/4` (the first of four)")]
#[non_exhaustive]
pub struct InvalidShard(pub String);

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard, InvalidShard> {
        if count == 0 || index >= count {
            return Err(InvalidShard(format!("{index}/{count}")));
        }
        Ok(Shard { index, count })
    }
}

impl FromStr for Shard {
    type Err = InvalidShard;

    /// `I/N`, as `--shard 0/4` writes it.
    ///
    /// ```
    /// let s: revchain::fleet::Shard = "1/4".parse().unwrap();
    /// assert_eq!((s.index, s.count), (1, 4));
    /// assert!("4/4".parse::<revchain::fleet::Shard>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Shard, InvalidShard> {
        let bad = || InvalidShard(text.to_owned());
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (i, n) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(i, n).map_err(|_| bad())
    }
}

/// Why a list of targets could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetsError {
    /// The targets file could not be read.
    #[error("cannot read the targets file {file}: {message}")]
    Read {
        /// The file.
        file: String,
        /// The system's message.
        message: String,
    },
    /// A line of the targets file is not a database URL this build supports.
    #[error("{file}:{line}: {message}")]
    BadLine {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
        /// What is wrong, with the line's URL redacted.
        message: String,
    },
    /// The catalog query or the schema listing failed, or returned a bad URL.
    #[error("{0}")]
    Catalog(String),
}

/// The targets of a targets file: one URL per line; blank lines and lines starting with
/// `#` are skipped. A line that is not a URL of a database this build supports is an
/// error naming `file:line`.
///
/// ```
/// let text = "# tenants\npostgres://app@db1/t1\n\nsqlite://t2.db\n";
/// let targets = revchain::fleet::parse_targets(text, "fleet.txt").unwrap();
/// assert_eq!(targets.len(), 2);
/// let err = revchain::fleet::parse_targets("oracle://x/y", "fleet.txt").unwrap_err();
/// assert!(err.to_string().starts_with("fleet.txt:1: "), "{err}");
/// ```
pub fn parse_targets(text: &str, file: &str) -> Result<Vec<Target>, TargetsError> {
    let mut targets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        check_url(line).map_err(|message| TargetsError::BadLine {
            file: file.to_owned(),
            line: n + 1,
            message,
        })?;
        targets.push(Target::Database(line.to_owned()));
    }
    Ok(targets)
}

/// [`parse_targets`] on the file at `path`.
pub fn read_targets_file(path: &Path) -> Result<Vec<Target>, TargetsError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| TargetsError::Read {
        file: file.clone(),
        message: e.to_string(),
    })?;
    parse_targets(&text, &file)
}

/// Whether `url` names a database this build can migrate; the message redacts it.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    crate::url::check(url).map_err(|e| crate::url::redact_urls_in(&e.to_string()))?;
    let supported = match DatabaseKind::of(url) {
        #[cfg(feature = "postgres")]
        Some(DatabaseKind::Postgres) => true,
        #[cfg(feature = "mysql")]
        Some(DatabaseKind::MySql) => true,
        #[cfg(feature = "sqlite")]
        Some(DatabaseKind::Sqlite) => !crate::url::is_sqlite_memory(url),
        _ => false,
    };
    if supported {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not the URL of a database this build migrates (postgres://…, mysql://…, \
             sqlite://path/to/file.db; not SQLite's in-memory database)",
            redact(url)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The good line is a PostgreSQL URL, which only a build with PostgreSQL accepts.
    #[cfg(feature = "postgres")]
    #[test]
    fn a_bad_line_is_named_and_its_password_is_not_shown() {
        let text = "# fleet\n\npostgres://u:pw1@h/a\nftp://u:hunter2@h/b\n";
        let err = parse_targets(text, "f.txt").unwrap_err().to_string();
        assert!(err.starts_with("f.txt:4: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn shards_split_the_targets_without_overlap() {
        let targets: Vec<Target> = (0..100)
            .map(|i| Target::Database(format!("postgres://h/t{i}")))
            .collect();
        let mut seen = 0;
        for i in 0..4 {
            let n = targets
                .iter()
                .filter(|t| t.in_shard(Shard::new(i, 4).unwrap()))
                .count();
            assert!(n > 10, "shard {i} has {n}");
            seen += n;
        }
        assert_eq!(seen, 100);
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
