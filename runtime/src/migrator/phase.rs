//! Expand and contract phases at run time (docs/design.md §4.14): [`Migrator::phase`] for
//! upgrades and the boot run, and [`Migrator::check_compatible`] for a start-up that does
//! not migrate.

use revchain_core::Phase;
use revchain_core::target::Compatibility;

use super::{Migrator, read_heads, read_log};
use crate::backend::{Backend, BookkeepingRow};
use crate::connection::PoolOrConnection;
use crate::embedded::{Migrations, Revision};
use crate::error::Error;
use crate::state::{check_state, refusal_error};

/// A database within a binary's compatibility window ([`Migrator::check_compatible`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compatible {
    /// Every revision of this binary is applied, and nothing else.
    AtHead,
    /// Every expand-phase revision of this binary is applied; these contract-phase ones
    /// (ids, in order) are not yet: the rolling deploy's middle, seen from the new release.
    ContractPending(Vec<String>),
    /// Every revision of this binary is applied, and these revisions of a newer release
    /// (ids), all expand-phase: the rolling deploy's middle, seen from the old release.
    NewerExpand(Vec<String>),
}

impl Migrator<'_> {
    /// The phase that [`upgrade`](Self::upgrade) and [`run`](Self::run) apply
    /// (docs/design.md §4.14). [`Phase::Expand`]: every revision that is not `Phase:
    /// contract` and has no contract ancestor, the part an old release still runs against;
    /// [`Phase::Contract`]: the rest. Without this call every revision is applied.
    ///
    /// ```no_run
    /// use revchain::{Migrator, Phase};
    ///
    /// static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    ///
    /// # async fn boot(pool: sqlx::PgPool) -> Result<(), revchain::Error> {
    /// // At boot during a rolling deploy: the contract revisions wait for the last old binary.
    /// Migrator::new(&MIGRATIONS).phase(Phase::Expand).run(&pool).await?;
    /// # Ok(()) }
    /// ```
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }

    /// The heads a boot run ends at: the embedded heads, or with
    /// [`phase(Phase::Expand)`](Self::phase) the heads of the expand-phase revisions.
    pub(super) fn boot_heads(&self) -> Vec<&'_ Revision> {
        if self.phase != Some(Phase::Expand) {
            return self.migrations.heads().collect();
        }
        let graph = self.migrations.graph();
        let late = graph.contract_phase(&self.migrations.contract_marks());
        let expand: Vec<bool> = late.iter().map(|l| !l).collect();
        graph
            .tips_of(&expand)
            .into_iter()
            .filter_map(|i| self.migrations.at(i))
            .collect()
    }

    /// Whether this binary can serve the database without migrating it (a `--no-migrate`
    /// start-up): at its head, at its expand head with contract-phase revisions pending, or
    /// at its head with expand-phase revisions of a newer release (which the log records
    /// with their phase). Anything else is [`Error::Incompatible`], naming what differs; a
    /// state that every command refuses (edited, dirty, damaged) is that refusal.
    pub async fn check_compatible<D: PoolOrConnection>(
        &self,
        mut db: D,
    ) -> Result<Compatible, Error> {
        let mut conn = db.lease().await?;
        let conn = &mut *conn;
        let rows = read_heads::<D::Database>(conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the version table", &e))?
            .unwrap_or_default();
        let log = read_log::<D::Database>(conn, &self.tables)
            .await
            .map_err(|e| Error::db("reading the log table", &e))?;
        let check = check_state(self.migrations, &self.tables, &rows, &log);
        if let Some(refusal) = check.refusal(false) {
            return Err(refusal_error(refusal));
        }
        let newer_contract = if check.unknown.is_empty() {
            Vec::new()
        } else {
            self.contract_among::<D::Database>(conn, &check.unknown)
                .await?
        };
        let graph = self.migrations.graph();
        let applied: Vec<usize> = (0..graph.len())
            .filter(|&i| check.applied.get(i).copied().unwrap_or(false))
            .collect();
        let ids = |v: Vec<usize>| -> Vec<String> {
            v.into_iter().map(|i| graph.id(i).to_owned()).collect()
        };
        let pending_expand = match graph.compatibility(&applied, &self.migrations.contract_marks())
        {
            Compatibility::ExpandPending(missing) => ids(missing),
            _ if !newer_contract.is_empty() => Vec::new(),
            Compatibility::ContractPending(missing) => {
                return Ok(Compatible::ContractPending(ids(missing)));
            }
            _ if check.unknown.is_empty() => return Ok(Compatible::AtHead),
            _ => return Ok(Compatible::NewerExpand(check.unknown)),
        };
        Err(Error::Incompatible {
            pending_expand,
            newer_contract,
        })
    }

    /// Those of `unknown` that the log records as `contract` phase. A log without the
    /// `phase` column (written before it existed) records none.
    async fn contract_among<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        unknown: &[String],
    ) -> Result<Vec<String>, Error> {
        let Ok(rows) = DB::fetch_all(conn, self.tables.select_phases(DB::DIALECT)).await else {
            return Ok(Vec::new());
        };
        let contract = Phase::Contract.as_str();
        Ok(rows
            .iter()
            .filter_map(|row| {
                let id = row.text(0).ok().flatten()?;
                let phase = row.text(1).ok().flatten()?;
                (phase == contract && unknown.contains(&id)).then_some(id)
            })
            .collect())
    }
}

impl Migrations {
    /// Which revisions say `Phase: contract`, by graph index (the table's order).
    pub(crate) fn contract_marks(&self) -> Vec<bool> {
        self.iter().map(|r| r.phase() == Phase::Contract).collect()
    }

    /// Whether this binary can serve the database without migrating it; see
    /// [`Migrator::check_compatible`].
    pub async fn check_compatible<D: PoolOrConnection>(&self, db: D) -> Result<Compatible, Error> {
        Migrator::new(self).check_compatible(db).await
    }
}
