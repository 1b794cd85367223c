//! The connection a portable Rust code revision takes (docs/design.md §1.7): one revision
//! that runs on every database revchain supports.

use revchain_core::Dialect;
use sqlx::SqlSafeStr;

/// The connection a portable Rust code revision's functions take:
/// `pub async fn upgrade(db: revchain::Connection<'_>) -> Result<(), E>` runs on any
/// database, where `&mut sqlx::PgConnection` (and its kin) ties the revision to one.
///
/// One variant per backend (those of revchain's enabled features): `match` it and write
/// ordinary sqlx queries on the backend's connection, or use the helpers
/// ([`execute`](Self::execute), [`dialect`](Self::dialect)) for SQL that every database
/// understands. Inside a transactional revision the connection is inside the revision's
/// transaction.
///
/// ```no_run
/// use revchain::Connection;
///
/// pub async fn upgrade(db: Connection<'_>) -> Result<(), sqlx::Error> {
///     let sql = "UPDATE users SET email = lower(email) WHERE id = ";
///     match db {
///         Connection::Postgres(conn) => {
///             sqlx::query(sqlx::AssertSqlSafe(format!("{sql}$1"))).bind(1_i64).execute(conn).await?;
///         }
///         Connection::MySql(conn) => {
///             sqlx::query(sqlx::AssertSqlSafe(format!("{sql}?"))).bind(1_i64).execute(conn).await?;
///         }
///         Connection::Sqlite(conn) => {
///             sqlx::query(sqlx::AssertSqlSafe(format!("{sql}?"))).bind(1_i64).execute(conn).await?;
///         }
///         // A database a later revchain adds.
///         _ => return Err(sqlx::Error::Protocol("unsupported database".into())),
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Connection<'c> {
    /// A PostgreSQL connection.
    #[cfg(feature = "postgres")]
    Postgres(&'c mut sqlx::PgConnection),
    /// A MySQL or MariaDB connection.
    #[cfg(feature = "mysql")]
    MySql(&'c mut sqlx::MySqlConnection),
    /// A SQLite connection.
    #[cfg(feature = "sqlite")]
    Sqlite(&'c mut sqlx::SqliteConnection),
}

impl Connection<'_> {
    /// The SQL dialect of the database, to choose SQL where the databases differ.
    ///
    /// ```no_run
    /// # async fn f(mut db: revchain::Connection<'_>) -> Result<(), sqlx::Error> {
    /// let now = match db.dialect() {
    ///     revchain::Dialect::Sqlite => "datetime('now')",
    ///     _ => "CURRENT_TIMESTAMP",
    /// };
    /// db.execute(sqlx::AssertSqlSafe(format!("UPDATE users SET seen_at = {now}"))).await?;
    /// # Ok(()) }
    /// ```
    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "postgres")]
            Connection::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Connection::MySql(_) => Dialect::MySql,
            #[cfg(feature = "sqlite")]
            Connection::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Runs `sql` (one or more statements, without parameters) and returns the number of
    /// rows it affected.
    ///
    /// ```no_run
    /// # async fn f(mut db: revchain::Connection<'_>) -> Result<(), sqlx::Error> {
    /// let fixed = db.execute("UPDATE users SET email = lower(email)").await?;
    /// tracing::info!(fixed, "emails lower-cased");
    /// # Ok(()) }
    /// ```
    pub async fn execute(&mut self, sql: impl SqlSafeStr) -> Result<u64, sqlx::Error> {
        let sql = sqlx::raw_sql(sql);
        Ok(match self {
            #[cfg(feature = "postgres")]
            Connection::Postgres(conn) => sql.execute(&mut **conn).await?.rows_affected(),
            #[cfg(feature = "mysql")]
            Connection::MySql(conn) => sql.execute(&mut **conn).await?.rows_affected(),
            #[cfg(feature = "sqlite")]
            Connection::Sqlite(conn) => sql.execute(&mut **conn).await?.rows_affected(),
        })
    }

    /// The same connection, borrowed again: to `match` it (or pass it to a helper that
    /// takes a `Connection`) and still use it afterwards.
    ///
    /// ```no_run
    /// # async fn f(mut db: revchain::Connection<'_>) -> Result<(), sqlx::Error> {
    /// if let revchain::Connection::Postgres(conn) = db.reborrow() {
    ///     sqlx::query("SET LOCAL work_mem = '64MB'").execute(conn).await?;
    /// }
    /// db.execute("UPDATE users SET email = lower(email)").await?;
    /// # Ok(()) }
    /// ```
    pub fn reborrow(&mut self) -> Connection<'_> {
        match self {
            #[cfg(feature = "postgres")]
            Connection::Postgres(conn) => Connection::Postgres(conn),
            #[cfg(feature = "mysql")]
            Connection::MySql(conn) => Connection::MySql(conn),
            #[cfg(feature = "sqlite")]
            Connection::Sqlite(conn) => Connection::Sqlite(conn),
        }
    }
}
