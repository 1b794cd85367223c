//! What every command runs on, resolved once from the global options: the source of the
//! revisions, the database URL, the bookkeeping tables and the lock timeout.

use std::path::Path;
use std::time::Duration;

use revchain_core::{History, Mode};

use super::{CliError, Format, Options};
use crate::LockMode;
use crate::bookkeeping::{TableName, Tables};
use crate::embedded::Migrations;
use crate::migrator::Migrator;

/// Where the revisions come from.
pub(crate) enum Source<'a> {
    /// The table compiled into the binary.
    Embedded(&'a Migrations),
    /// A directory read at run time.
    Dir(&'a Path),
}

/// A loaded table, borrowed or owned.
pub(crate) enum Loaded<'a> {
    Borrowed(&'a Migrations),
    Owned(Box<Migrations>),
}

impl std::ops::Deref for Loaded<'_> {
    type Target = Migrations;
    fn deref(&self) -> &Migrations {
        match self {
            Loaded::Borrowed(m) => m,
            Loaded::Owned(m) => m,
        }
    }
}

/// The resolved global options of one run.
pub(crate) struct Context<'a> {
    /// Where the revisions come from.
    pub source: Source<'a>,
    /// `--dir` as given (`migrations` for an embedded run): the default schema file sits
    /// next to it.
    #[cfg_attr(not(feature = "autogen"), allow(dead_code))]
    pub dir: &'a Path,
    /// `--database-url`, when given.
    pub database_url: Option<&'a str>,
    /// `--version-table` and `--log-table`.
    pub tables: Tables,
    /// `--migration-lock-timeout`.
    pub lock_timeout: Duration,
    /// `--lock`.
    pub lock_mode: LockMode,
    /// `--lease-ttl`.
    pub lease_ttl: Duration,
    /// `--format`.
    pub format: Format,
}

impl<'a> Context<'a> {
    /// Resolves `options` for a run on `source`; fails on a table name that is not one.
    pub fn new(
        source: Source<'a>,
        dir: &'a Path,
        options: &'a Options,
    ) -> Result<Context<'a>, CliError> {
        let table = |text: &str| TableName::parse(text).map_err(CliError::from_display);
        Ok(Context {
            source,
            dir,
            database_url: options.database_url.as_deref(),
            tables: Tables {
                version: table(&options.version_table)?,
                log: table(&options.log_table)?,
                repeatable: table(&options.repeatable_table)?,
                lock: table(&options.lock_table)?,
                lease: None,
                timeouts: crate::backend::timeouts::Timeouts {
                    lock: options.default_lock_timeout,
                    statement: options.default_statement_timeout,
                    lock_retries: options.lock_retries,
                },
            },
            lock_timeout: Duration::from_secs(options.migration_lock_timeout),
            lock_mode: options.lock,
            lease_ttl: Duration::from_secs(options.lease_ttl),
            format: options.format,
        })
    }

    /// Whether `--format json` was given.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// A usage error (exit code 2) unless `--format` is `text`: `what` prints text only.
    pub fn text_only(&self, what: &str) -> Result<(), CliError> {
        match self.format {
            Format::Text => Ok(()),
            Format::Json => Err(CliError::new(
                2,
                "usage",
                format!("{what} prints text only: `--format json` is not available for it"),
            )),
            other => Err(other_commands_format(other)),
        }
    }

    /// A usage error (exit code 2) unless `--format` is `text` or `json`, the formats of
    /// every reading command (`github` is `lint`'s, `html` `fleet`'s, `dot` and `mermaid`
    /// `graph`'s).
    pub fn no_github(&self) -> Result<(), CliError> {
        match self.format {
            Format::Text | Format::Json => Ok(()),
            other => Err(other_commands_format(other)),
        }
    }

    /// A usage error (exit code 2) unless `--format` is one of `lint`'s: text, json, github.
    pub fn lint_formats(&self) -> Result<(), CliError> {
        match self.format {
            Format::Text | Format::Json | Format::Github => Ok(()),
            other => Err(other_commands_format(other)),
        }
    }

    /// A usage error (exit code 2) unless `--format` is one of `fleet`'s: text, json, html.
    pub fn fleet_formats(&self) -> Result<(), CliError> {
        match self.format {
            Format::Text | Format::Json | Format::Html => Ok(()),
            other => Err(other_commands_format(other)),
        }
    }

    /// A usage error (exit code 2) unless `--format` is one of `graph`'s: dot (also the
    /// default, `text`) or mermaid.
    pub fn graph_formats(&self) -> Result<(), CliError> {
        match self.format {
            Format::Text | Format::Dot | Format::Mermaid => Ok(()),
            Format::Json => Err(CliError::new(
                2,
                "usage",
                "`graph` draws DOT or Mermaid: use `--format dot` or `--format mermaid`",
            )),
            other => Err(other_commands_format(other)),
        }
    }

    /// The revisions, read in `mode` from a directory (the embedded table is already read).
    pub fn load(&self, mode: Mode) -> Result<Loaded<'a>, CliError> {
        match self.source {
            Source::Embedded(m) => Ok(Loaded::Borrowed(m)),
            Source::Dir(dir) => {
                let display = dir.display().to_string();
                let history = History::load_as(dir, &display, mode)
                    .map_err(|e| CliError::from_display(e).kind("revisions"))?;
                Ok(Loaded::Owned(Box::new(Migrations::from_history(
                    history, &display,
                ))))
            }
        }
    }

    /// The database URL, which `command` needs.
    pub fn url(&self, command: &str) -> Result<&'a str, CliError> {
        self.database_url.ok_or_else(|| {
            CliError::user(format!(
                "`{command}` needs a database: pass --database-url or set DATABASE_URL \
                 (postgres://…, mysql://…, sqlite://…)"
            ))
            .kind("no_database")
        })
    }

    /// A migrator of `m` with the run's tables and lock timeout.
    pub fn migrator<'m>(&self, m: &'m Migrations) -> Migrator<'m> {
        Migrator::new(m)
            .version_table(self.tables.version.clone())
            .log_table(self.tables.log.clone())
            .repeatable_table(self.tables.repeatable.clone())
            .migration_lock_timeout(self.lock_timeout)
            .lock_table(self.tables.lock.clone())
            .lock_mode(self.lock_mode)
            .lease_ttl(self.lease_ttl)
            .timeouts(self.tables.timeouts)
    }
}

/// The usage error of a `--format` that belongs to another command.
fn other_commands_format(format: Format) -> CliError {
    match format {
        Format::Html => CliError::new(
            2,
            "usage",
            "`--format html` is for `fleet` only (`fleet status --format html`)",
        ),
        Format::Dot | Format::Mermaid => CliError::new(
            2,
            "usage",
            "`--format dot` and `--format mermaid` are for `graph` only",
        ),
        _ => github_is_lints(),
    }
}

fn github_is_lints() -> CliError {
    CliError::new(
        2,
        "usage",
        "`--format github` (workflow annotations) is only for `lint`: use text or json",
    )
}
