//! Connecting the CLI to the database a URL names, and running the runtime on it.

use crate::error::Error;
use crate::migrator::Migrator;
use crate::pool::{AnyPool, ConnectError, on_any};
use crate::report::{CurrentHead, Report, RevisionsStatus, Status};

use super::CliError;

/// Connects to `url`; `create` allows creating a missing SQLite file. SQLite's in-memory
/// database is refused: it is gone when the command ends, so migrating it (or reading its
/// state) would report a success that nothing keeps.
pub(crate) async fn connect(url: &str, create: bool) -> Result<AnyPool, CliError> {
    if crate::url::is_sqlite_memory(url) {
        return Err(CliError::user(format!(
            "`{}` is SQLite's in-memory database, which is gone when this command ends: the CLI \
             refuses it (an application may migrate one through the library); write \
             sqlite://path/to/file.db, or sqlite://file.db?mode=rwc to create the file",
            crate::url::redact(url)
        ))
        .kind("connect"));
    }
    AnyPool::connect(url, create).await.map_err(|e| match e {
        ConnectError::Unsupported(url, supported) => {
            CliError::from_display(Error::UnsupportedUrl(url, supported)).kind("unsupported_url")
        }
        ConnectError::Failed(url, message) => {
            CliError::user(format!("cannot connect to {url}: {message}")).kind("connect")
        }
        ConnectError::Url(e) => CliError::from_display(e).kind("connect"),
    })
}

/// The runtime's operations on whichever database the pool is on.
impl AnyPool {
    pub async fn upgrade(&self, m: &Migrator<'_>, target: &str) -> Result<Report, Error> {
        on_any!(self, p => m.upgrade(p, target).await)
    }

    pub async fn downgrade(&self, m: &Migrator<'_>, target: &str) -> Result<Report, Error> {
        on_any!(self, p => m.downgrade(p, target).await)
    }

    pub async fn stamp(
        &self,
        m: &Migrator<'_>,
        targets: &[&str],
        purge: bool,
    ) -> Result<Report, Error> {
        on_any!(self, p => m.stamp(p, targets, purge).await)
    }

    pub async fn take_over(
        &self,
        m: &Migrator<'_>,
        tool: revchain_core::import::Tool,
        dry_run: bool,
    ) -> Result<Report, Error> {
        on_any!(self, p => m.take_over(p, tool, dry_run).await)
    }

    pub async fn current(&self, m: &Migrator<'_>) -> Result<Vec<CurrentHead>, Error> {
        on_any!(self, p => m.current(p).await)
    }

    pub async fn status(&self, m: &Migrator<'_>) -> Result<Status, Error> {
        on_any!(self, p => m.status(p).await)
    }

    pub async fn revisions_status(&self, m: &Migrator<'_>) -> Result<RevisionsStatus, Error> {
        on_any!(self, p => m.revisions_status(p).await)
    }
}
