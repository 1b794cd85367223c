//! What revchain migrates through: a pool, or a connection the caller holds (as sqlx's
//! `Migrator::run_direct` does).

// As in `backend`: the trait is public so that users can name it in bounds; its method and
// the crate-private type it returns live in a sealed supertrait.
#![allow(private_interfaces, private_bounds)]

use std::future::Future;
use std::ops::{Deref, DerefMut};

use sqlx::Pool;
use sqlx::pool::PoolConnection;

use crate::backend::Backend;
use crate::error::Error;

/// A pool (`&PgPool`, `&MySqlPool`, `&SqlitePool`) or a connection (`&mut PgConnection`,
/// `&mut MySqlConnection`, `&mut SqliteConnection`) that revchain can migrate through.
///
/// From a pool, revchain takes a connection for the run and hands it back. On a connection
/// the caller holds, it runs exactly as on a pool's: it takes the migration lock (and
/// releases it), and runs each revision in its own transaction with its bookkeeping.
///
/// On a connection inside the caller's transaction (`&mut *tx`), PostgreSQL and SQLite run
/// the whole operation in that transaction, and commit nothing: the migration lock is the
/// transaction's (PostgreSQL's `pg_advisory_xact_lock`; on SQLite the transaction's write
/// lock), every revision and its bookkeeping run with no transaction of their own, and the
/// caller's commit or rollback decides for all of them at once. A `Transactional: false`
/// revision is refused there ([`Error::Refused`]), and a failed revision leaves
/// [`Aftermath::InCallersTransaction`](crate::Aftermath::InCallersTransaction): roll back.
/// MySQL/MariaDB refuse a transaction ([`Error::InTransaction`]): their DDL commits
/// implicitly.
///
/// ```no_run
/// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
/// # async fn boot(url: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use sqlx::Connection as _;
/// let mut conn = sqlx::PgConnection::connect(url).await?;
/// MIGRATIONS.run(&mut conn).await?;
///
/// // Schema and data changes that commit, or not, together:
/// let mut tx = conn.begin().await?;
/// MIGRATIONS.upgrade(&mut *tx, "heads").await?;
/// sqlx::raw_sql("INSERT INTO settings VALUES ('migrated', 'yes')").execute(&mut *tx).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub trait PoolOrConnection: sealed::Lend {}

impl<T: sealed::Lend> PoolOrConnection for T {}

/// A connection for one operation: taken from a pool, or the caller's.
pub(crate) enum Lease<'c, DB: sqlx::Database> {
    Pooled(PoolConnection<DB>),
    Borrowed(&'c mut DB::Connection),
}

impl<DB: sqlx::Database> Lease<'_, DB> {
    /// After a failure that left the connection in an unknown state (the migration lock
    /// maybe still held): a pool's connection is closed instead of going back to the pool;
    /// the caller's stays theirs, and the warning says so.
    pub fn discard(self) {
        match self {
            Lease::Pooled(mut conn) => conn.close_on_drop(),
            Lease::Borrowed(_) => tracing::warn!(
                target: "revchain",
                "the migration lock stays held until this connection is closed"
            ),
        }
    }
}

impl<DB: sqlx::Database> Deref for Lease<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            Lease::Pooled(conn) => conn,
            Lease::Borrowed(conn) => conn,
        }
    }
}

impl<DB: sqlx::Database> DerefMut for Lease<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Lease::Pooled(conn) => conn,
            Lease::Borrowed(conn) => conn,
        }
    }
}

pub(crate) mod sealed {
    use super::*;

    /// How a pool or a connection lends revchain a connection. Internal: sealed.
    pub trait Lend: Send {
        /// The database.
        type Database: Backend;

        /// A connection for one operation.
        fn lease(
            &mut self,
        ) -> impl Future<Output = Result<Lease<'_, Self::Database>, Error>> + Send;

        /// The pool, when this is one: the lease lock's heartbeat and the pooler probe
        /// open connections of their own with its options.
        fn pool(&self) -> Option<Pool<Self::Database>> {
            None
        }
    }

    impl<DB: Backend> Lend for &Pool<DB> {
        type Database = DB;

        async fn lease(&mut self) -> Result<Lease<'_, DB>, Error> {
            self.acquire()
                .await
                .map(Lease::Pooled)
                .map_err(|e| Error::db("cannot connect to the database", &e))
        }

        fn pool(&self) -> Option<Pool<DB>> {
            Some((*self).clone())
        }
    }

    macro_rules! lend_connection {
        ($feature:literal, $conn:ty, $db:ty) => {
            #[cfg(feature = $feature)]
            impl Lend for &mut $conn {
                type Database = $db;

                async fn lease(&mut self) -> Result<Lease<'_, $db>, Error> {
                    Ok(Lease::Borrowed(&mut **self))
                }
            }
        };
    }

    lend_connection!("postgres", sqlx::PgConnection, sqlx::Postgres);
    lend_connection!("mysql", sqlx::MySqlConnection, sqlx::MySql);
    lend_connection!("sqlite", sqlx::SqliteConnection, sqlx::Sqlite);
}
