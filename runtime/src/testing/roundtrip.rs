//! [`roundtrip`] (also named [`stairway`]): see the [module documentation](super).

use revchain_schema::{Schema, changes};

use crate::autogen::db::{AnyPool, on_any};
use crate::autogen::{Error, guarded};
use crate::bookkeeping::TableName;
use crate::embedded::Migrations;
use crate::migrator::Migrator;
use crate::scratch::Scratches;

/// What the roundtrip found for one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// The revision id.
    pub id: String,
    /// Its message.
    pub message: String,
    /// Its file.
    pub path: String,
    /// `false` for an irreversible revision, which was applied but not downgraded.
    pub reversible: bool,
    /// The schema once the revision (and everything before it) is applied.
    pub schema_after: Schema,
}

/// The outcome of a successful roundtrip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Every revision, in the order they were checked (the table order).
    pub revisions: Vec<Checked>,
}

impl Report {
    /// The revisions that were stepped over because they are irreversible.
    pub fn irreversible(&self) -> Vec<&Checked> {
        self.revisions.iter().filter(|c| !c.reversible).collect()
    }
}

/// Why a roundtrip failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoundtripError {
    /// A downgrade does not undo its upgrade.
    #[error(
        "{path}: the downgrade of revision {id} does not undo its upgrade: after upgrading to \
         it and downgrading it again, the schema differs from the one before the upgrade \
         (`added` = left behind by the downgrade, `removed` = removed too much):\n{}",
        .differences.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n")
    )]
    NotReversible {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// How the schema after the downgrade differs from the one before the upgrade
        /// (`added table t`: the downgrade leaves `t` behind).
        differences: Vec<String>,
    },
    /// Upgrading again after the downgrade gives another schema than the first upgrade.
    #[error(
        "{path}: upgrading to revision {id} again after its downgrade gives another schema \
         than the first time:\n{}",
        .differences.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n")
    )]
    NotRepeatable {
        /// The revision.
        id: String,
        /// Its file.
        path: String,
        /// How the second result differs from the first.
        differences: Vec<String>,
    },
    /// A step failed (a revision's SQL, the scratch database, a signal).
    #[error("{context}: {source}")]
    Failed {
        /// What the roundtrip was doing.
        context: String,
        /// The error.
        source: Error,
    },
}

/// Runs the roundtrip test of `migrations` on a scratch database of the server `url`
/// names, with the default table names. See the [module documentation](super).
pub async fn roundtrip(url: &str, migrations: &Migrations) -> Result<Report, RoundtripError> {
    Roundtrip::new(url, migrations).run().await
}

/// The stairway test (pytest-alembic's `test_up_down_consistency`): every revision up,
/// down and up again, one by one, on a scratch database of the server `url` names; each
/// downgrade must restore the schema before its upgrade, and each upgrade again must give
/// the schema of the first. The error names the first revision that fails (its id and
/// file). The same test as [`roundtrip`]; see the [module documentation](super).
pub async fn stairway(url: &str, migrations: &Migrations) -> Result<Report, RoundtripError> {
    roundtrip(url, migrations).await
}

/// The roundtrip test with options.
#[derive(Debug, Clone)]
pub struct Roundtrip<'m> {
    server: String,
    migrations: &'m Migrations,
    version_table: TableName,
    log_table: TableName,
    signals: bool,
}

fn failed(context: impl Into<String>) -> impl FnOnce(Error) -> RoundtripError {
    let context = context.into();
    move |source| RoundtripError::Failed { context, source }
}

impl<'m> Roundtrip<'m> {
    /// The test of `migrations` on a scratch database of the server `url` names.
    pub fn new(url: &str, migrations: &'m Migrations) -> Roundtrip<'m> {
        let d = crate::bookkeeping::Tables::default();
        Roundtrip {
            server: url.to_owned(),
            migrations,
            version_table: d.version,
            log_table: d.log,
            signals: false,
        }
    }

    /// revchain's table names (left out of the comparison).
    pub fn tables(mut self, version: TableName, log: TableName) -> Self {
        self.version_table = version;
        self.log_table = log;
        self
    }

    /// Whether Ctrl-C and SIGTERM stop the test (dropping the scratch database) instead
    /// of the process; for command-line tools.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Runs the test; `progress` is told about each revision once it is checked.
    pub async fn run(&self) -> Result<Report, RoundtripError> {
        self.run_with(|_| {}).await
    }

    /// Runs the test, calling `progress` after each revision.
    pub async fn run_with(&self, progress: impl Fn(&Checked)) -> Result<Report, RoundtripError> {
        let scratches = Scratches::new(&self.server)
            .map_err(|e| failed("preparing the roundtrip")(e.into()))?;
        let work = async {
            let pool = scratches
                .create()
                .await
                .map_err(|e| failed("creating the scratch database")(e.into()))?;
            let r = self.walk(&pool, &progress).await;
            pool.close().await;
            r
        };
        let result = match guarded(self.signals, async { Ok(work.await) }).await {
            Ok(r) => r,
            Err(e) => Err(failed("running the roundtrip")(e)),
        };
        scratches.cleanup().await;
        result
    }

    fn exclude(&self) -> Vec<String> {
        vec![
            self.version_table.name().to_owned(),
            self.log_table.name().to_owned(),
        ]
    }

    async fn snapshot(&self, pool: &AnyPool, context: &str) -> Result<Schema, RoundtripError> {
        pool.snapshot(&self.exclude())
            .await
            .map_err(failed(context))
    }

    async fn walk(
        &self,
        pool: &AnyPool,
        progress: &impl Fn(&Checked),
    ) -> Result<Report, RoundtripError> {
        let m = self.migrations;
        let migrator = Migrator::new(m)
            .version_table(self.version_table.clone())
            .log_table(self.log_table.clone());
        let dialect = pool.dialect();
        let mut report = Report::default();
        let mut before = self.snapshot(pool, "reading the empty schema").await?;
        for rev in m.iter() {
            let id = rev.id();
            let step = |what: &str| format!("{}: {what} revision {id}", rev.path());
            let heads_before: Vec<String> = on_any!(pool, p => migrator.current(p).await)
                .map_err(|e| failed(step("reading the heads before"))(e.into()))?
                .into_iter()
                .map(|h| h.id)
                .collect();
            on_any!(pool, p => migrator.upgrade(p, id).await)
                .map_err(|e| failed(step("upgrading to"))(e.into()))?;
            let after = self
                .snapshot(pool, &step("reading the schema after"))
                .await?;
            let mut checked = Checked {
                id: id.to_owned(),
                message: rev.message().to_owned(),
                path: rev.path().to_owned(),
                reversible: rev.is_reversible(),
                schema_after: after.clone(),
            };
            if !rev.is_reversible() {
                progress(&checked);
                report.revisions.push(checked);
                before = after;
                continue;
            }
            // Revert this revision: downgrading to its first parent (or to base) also
            // reverts revisions of other branches applied before it; they are applied
            // again so that the state equals the one before the upgrade.
            let target = rev.parents().next().unwrap_or("base").to_owned();
            on_any!(pool, p => migrator.downgrade(p, &target).await)
                .map_err(|e| failed(step("downgrading"))(e.into()))?;
            for h in &heads_before {
                on_any!(pool, p => migrator.upgrade(p, h).await).map_err(|e| {
                    failed(step("re-applying the other branches after downgrading"))(e.into())
                })?;
            }
            let back = self
                .snapshot(pool, &step("reading the schema after downgrading"))
                .await?;
            let differences = changes(&before, &back, dialect);
            if !differences.is_empty() {
                return Err(RoundtripError::NotReversible {
                    id: id.to_owned(),
                    path: rev.path().to_owned(),
                    differences,
                });
            }
            on_any!(pool, p => migrator.upgrade(p, id).await)
                .map_err(|e| failed(step("upgrading again to"))(e.into()))?;
            let again = self
                .snapshot(pool, &step("reading the schema after upgrading again"))
                .await?;
            let differences = changes(&after, &again, dialect);
            if !differences.is_empty() {
                return Err(RoundtripError::NotRepeatable {
                    id: id.to_owned(),
                    path: rev.path().to_owned(),
                    differences,
                });
            }
            checked.schema_after = again.clone();
            progress(&checked);
            report.revisions.push(checked);
            before = again;
        }
        Ok(report)
    }
}
