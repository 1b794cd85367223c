//! How a run takes the migration lock: the mode resolved ([`LockMode::Auto`] asks the
//! backend), the lock taken, and under a lease the heartbeat started and the lease handed to
//! the backends, which check it in each revision's transaction.

use std::borrow::Cow;

use super::{Migrator, Opening, Request};
use crate::backend::{Backend, Done, HeadRow, Heartbeat, Held, Lease, Lock, LockMode};
use crate::error::Error;

/// The migration lock a run holds, and the heartbeat that keeps its lease.
pub(super) struct Locked {
    pub held: Held,
    /// Stops when dropped.
    heartbeat: Option<Heartbeat>,
}

impl Locked {
    /// What to release, the heartbeat stopped first (so that it cannot find the lease gone
    /// once released, and say it was lost).
    pub fn into_held(self) -> Held {
        drop(self.heartbeat);
        self.held
    }
}

impl<'m> Migrator<'m> {
    /// The lock to take: [`LockMode::Auto`] takes the lease when the backend says it must.
    async fn resolve_lock<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        pool: Option<&sqlx::Pool<DB>>,
    ) -> Lock {
        let lease = || Lock::Lease(Lease::new(self.lease_ttl));
        match self.lock_mode {
            LockMode::Advisory => Lock::Advisory,
            LockMode::Lease => lease(),
            _ => match DB::lease_reason(conn, pool).await {
                Some(why) => {
                    tracing::info!(target: "revchain", "using the lease lock in {}: {why}", self.tables.lock);
                    lease()
                }
                None => Lock::Advisory,
            },
        }
    }

    /// Takes the migration lock (see [`Driver::lock`](crate::backend::sealed::Driver::lock))
    /// in the migrator's mode; under a lease with a pool, starts its heartbeat.
    pub(super) async fn take_lock<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        pool: Option<&sqlx::Pool<DB>>,
        done: Done<'_>,
    ) -> Result<Option<Locked>, Error> {
        let lock = self.resolve_lock::<DB>(conn, pool).await;
        let Some(held) = DB::lock(conn, &self.tables, self.lock_timeout, done, &lock).await? else {
            return Ok(None);
        };
        let heartbeat = match (&held.lease, pool) {
            (Some(lease), Some(pool)) => Some(Heartbeat::start(pool, &self.tables, lease)),
            _ => None,
        };
        Ok(Some(Locked { held, heartbeat }))
    }

    /// [`take_lock`](Self::take_lock) for a run: a boot run without repeatables gives up
    /// waiting (`None`) once the version rows show the embedded heads (another process's
    /// version rows are written before its repeatables run: with repeatables, it waits).
    pub(super) async fn take_lock_to_run<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        pool: Option<&sqlx::Pool<DB>>,
        boot: bool,
    ) -> Result<Option<Locked>, Error> {
        let done = |rows: &[HeadRow]| self.at_embedded_heads(rows);
        let done: Done<'_> = if boot && self.migrations.repeatables().is_empty() {
            Some(&done)
        } else {
            None
        };
        self.take_lock::<DB>(conn, pool, done).await
    }

    /// A first run's lock and tables in one round trip, where the backend can take the
    /// lock up front ([`Driver::lock_and_open`](crate::backend::sealed::Driver::lock_and_open)):
    /// the lock held, and the tables' outcome with the plan presumed meanwhile. `None`:
    /// the lock was not taken, and the run takes it the usual way.
    pub(super) async fn lock_and_open<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        pool: Option<&sqlx::Pool<DB>>,
        request: &Request,
    ) -> Option<(Locked, Opening<'m, DB>)> {
        let lock = DB::lock_up_front(pool, &self.tables, self.lock_mode)?;
        // The first poll sends the text; the plan is presumed while the server works.
        let (opened, presumed) = tokio::join!(
            DB::lock_and_open(conn, &self.tables, lock, self.lock_timeout),
            async { self.presume_first_run::<DB>(request) }
        );
        let opened = opened?;
        tracing::debug!(target: "revchain", "took the advisory lock with the tables' creation");
        let locked = Locked {
            held: Held::default(),
            heartbeat: None,
        };
        Some((locked, (opened, presumed)))
    }

    /// This migrator for the run under `held`: under a lease, its tables carry the lease,
    /// which each revision checks.
    pub(super) fn under(&self, held: &Held) -> Cow<'_, Migrator<'m>> {
        match &held.lease {
            Some(lease) => {
                let mut migrator = self.clone();
                migrator.tables.lease = Some(lease.clone());
                Cow::Owned(migrator)
            }
            None => Cow::Borrowed(self),
        }
    }
}
