//! [`TestDatabase`]: a migrated database per test, cloned from a template database that is
//! migrated once per chain digest of the embedded heads.

use std::time::{Duration, Instant};

use crate::embedded::Migrations;
use crate::migrator::Migrator;
use crate::pool::{AnyPool, on_any};
use crate::scratch::{self, Scratches, random_suffix};
use crate::url::{DatabaseKind, redact};

/// The prefix of every template database (`revchain_tpl_<12 hex of the digest>`; for
/// SQLite a file `revchain_tpl_<hex>.db` in the temporary directory).
pub const TEMPLATE_PREFIX: &str = "revchain_tpl_";

/// The prefix of every test database (`revchain_test_<12 random hex>`; for SQLite a
/// directory of that name in the temporary directory).
pub const TEST_PREFIX: &str = "revchain_test_";

/// Why a test database could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// [`TestDatabase::new`] found neither `TEST_DATABASE_URL` nor `DATABASE_URL`.
    #[error(
        "no database server for the test database: set TEST_DATABASE_URL (or DATABASE_URL) \
         to a server where tests may create and drop databases, e.g. \
         postgres://postgres@localhost, mysql://root@localhost or sqlite://test"
    )]
    NoUrl,
    /// The URL names a database this build cannot use.
    #[error(
        "`{url}` is not a database URL revchain can use: use postgres://, mysql:// (or \
         mariadb://) or sqlite:// (this build supports: {supported})"
    )]
    UnsupportedUrl {
        /// The URL, password removed.
        url: String,
        /// The kinds this build supports.
        supported: String,
    },
    /// The URL was refused before connecting.
    #[error(transparent)]
    Url(#[from] crate::url::UrlError),
    /// Connecting failed.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The driver's message.
        message: String,
    },
    /// A database (or SQLite file) could not be created, copied or locked.
    #[error(
        "cannot create the test database {name} on {server}: {message} (the URL's user must \
         be allowed to create and drop databases there)"
    )]
    Create {
        /// The database (or file) name.
        name: String,
        /// The server (password removed) or directory.
        server: String,
        /// The database's or system's message.
        message: String,
    },
    /// Migrating the template (or, without a template, the test database) failed.
    #[error("migrating the template database {template} to the heads failed: {source}")]
    Migrate {
        /// The database being migrated.
        template: String,
        /// The migration error (it names the revision and file).
        #[source]
        source: Box<crate::Error>,
    },
}

/// The cost of one [`TestDatabase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cost {
    /// The whole creation, template build included.
    pub total: Duration,
    /// How long building the template took, when this test database built it (the first
    /// use of a migration set on a server); `None` when it was already there.
    pub template_built: Option<Duration>,
}

/// How the test database gets its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Clone,
    Migrate,
}

/// A fresh database at the heads of a migration set, for one test; dropped when it goes
/// out of scope (also when the test fails or panics). See the [module docs](super).
///
/// Each backend's pool is reached with its own method ([`pg_pool`](Self::pg_pool),
/// [`mysql_pool`](Self::mysql_pool), [`sqlite_pool`](Self::sqlite_pool)), which returns
/// `None` for the other backends; [`url`](Self::url) is the database's URL for code that
/// connects by itself.
pub struct TestDatabase {
    pool: AnyPool,
    name: String,
    url: String,
    template: String,
    cost: Cost,
    /// Drops the database: last, after the pool.
    scratches: Scratches,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("url", &redact(&self.url))
            .field("template", &self.template)
            .field("cost", &self.cost)
            .finish()
    }
}

impl From<scratch::Error> for Error {
    fn from(e: scratch::Error) -> Error {
        match e {
            scratch::Error::UnsupportedUrl(url, supported) => {
                Error::UnsupportedUrl { url, supported }
            }
            scratch::Error::Url(e) => Error::Url(e),
            scratch::Error::Connect { url, message } => Error::Connect { url, message },
            scratch::Error::CreateScratch { server, message }
            | scratch::Error::Busy { server, message } => Error::Create {
                name: String::new(),
                server,
                message,
            },
        }
    }
}

/// Names the database in a creation error.
fn naming(name: &str) -> impl Fn(scratch::Error) -> Error + '_ {
    move |e| match Error::from(e) {
        Error::Create {
            server, message, ..
        } => Error::Create {
            name: name.to_owned(),
            server,
            message,
        },
        other => other,
    }
}

/// The digest a template is named after: the chain digests of the heads (each covers its
/// whole ancestry) and the checksums of the repeatable migrations.
pub(crate) fn template_digest(m: &Migrations) -> String {
    let mut parts: Vec<String> = m.heads().map(|h| h.chain_digest().to_hex()).collect();
    parts.sort();
    let mut text = parts.join(",");
    for r in m.repeatables() {
        text.push_str(&format!(";{}={}", r.id(), r.checksum().to_hex()));
    }
    revchain_core::Digest::of(text.as_bytes()).to_hex()
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (before_query, query) = match rest.find('?') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

async fn migrate(pool: &AnyPool, m: &Migrations, name: &str) -> Result<(), Error> {
    on_any!(pool, p => Migrator::new(m).upgrade(p, "heads").await)
        .map(|_| ())
        .map_err(|source| Error::Migrate {
            template: name.to_owned(),
            source: Box::new(source),
        })
}

impl TestDatabase {
    /// A test database on the server `TEST_DATABASE_URL` (or else `DATABASE_URL`) names,
    /// at the heads of `migrations`.
    pub async fn new(migrations: &Migrations) -> Result<TestDatabase, Error> {
        let url = std::env::var("TEST_DATABASE_URL")
            .or_else(|_| std::env::var("DATABASE_URL"))
            .map_err(|_| Error::NoUrl)?;
        TestDatabase::on(&url, migrations).await
    }

    /// A test database on the server `url` names (its database part is only used to
    /// connect; for SQLite only the scheme counts), cloned from the template of
    /// `migrations`, which is built first if this server does not have it yet.
    pub async fn on(url: &str, migrations: &Migrations) -> Result<TestDatabase, Error> {
        TestDatabase::create(url, migrations, Mode::Clone).await
    }

    /// A test database migrated from scratch, without a template: the slow way, for
    /// comparison (the benchmark) and for migrations whose result depends on the
    /// database's name.
    pub async fn migrated(url: &str, migrations: &Migrations) -> Result<TestDatabase, Error> {
        TestDatabase::create(url, migrations, Mode::Migrate).await
    }

    async fn create(url: &str, m: &Migrations, mode: Mode) -> Result<TestDatabase, Error> {
        let start = Instant::now();
        let scratches = Scratches::new(url)?;
        let template = format!("{TEMPLATE_PREFIX}{}", &template_digest(m)[..12]);
        let name = format!("{TEST_PREFIX}{}", random_suffix());
        let made = match (scratches.kind(), mode) {
            (DatabaseKind::Sqlite, _) => sqlite::make(&scratches, m, &template, &name, mode).await,
            (_, Mode::Migrate) => server_migrated(&scratches, m, &name).await,
            #[cfg(feature = "postgres")]
            (DatabaseKind::Postgres, Mode::Clone) => {
                postgres::make(&scratches, m, &template, &name).await
            }
            #[cfg(feature = "mysql")]
            (DatabaseKind::MySql, Mode::Clone) => {
                mysql::make(&scratches, m, &template, &name).await
            }
            #[allow(unreachable_patterns)]
            _ => Err(Error::UnsupportedUrl {
                url: redact(url),
                supported: crate::pool::supported(),
            }),
        };
        let (pool, db_url, template_built) = match made {
            Ok(x) => x,
            Err(e) => {
                scratches.cleanup().await;
                return Err(e);
            }
        };
        let cost = Cost {
            total: start.elapsed(),
            template_built,
        };
        log_cost(&name, &template, mode, cost);
        Ok(TestDatabase {
            pool,
            name,
            url: db_url,
            template,
            cost,
            scratches,
        })
    }

    /// The database's name, `revchain_test_<hex>` (for SQLite the name of the directory in
    /// the temporary directory that holds its file, `test.db`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL (with the password of the server URL, if any).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The template it was cloned from (`revchain_tpl_<hex>`; for SQLite the template's
    /// file name).
    pub fn template(&self) -> &str {
        &self.template
    }

    /// What it cost, and whether it built the template.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// The pool, when the database is PostgreSQL.
    #[cfg(feature = "postgres")]
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.pool {
            AnyPool::Postgres(p) => Some(p),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The pool, when the database is MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    pub fn mysql_pool(&self) -> Option<&sqlx::MySqlPool> {
        match &self.pool {
            AnyPool::MySql(p) => Some(p),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The pool, when the database is SQLite.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.pool {
            AnyPool::Sqlite(p) => Some(p),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Closes the pool and drops the database now, without the thread that `Drop` needs.
    pub async fn close(self) {
        self.pool.close().await;
        self.scratches.cleanup().await;
    }
}

fn log_cost(name: &str, template: &str, mode: Mode, cost: Cost) {
    let ms = cost.total.as_millis();
    match (mode, cost.template_built) {
        (Mode::Migrate, _) => tracing::info!(
            target: "revchain",
            "test database {name} migrated from scratch in {ms} ms"
        ),
        (Mode::Clone, Some(b)) => tracing::info!(
            target: "revchain",
            "test database {name} cloned from template {template} in {ms} ms (template built \
             in {} ms on first use)",
            b.as_millis()
        ),
        (Mode::Clone, None) => tracing::info!(
            target: "revchain",
            "test database {name} cloned from template {template} in {ms} ms (template reused)"
        ),
    }
}

type Made = (AnyPool, String, Option<Duration>);

/// A server database migrated from scratch.
async fn server_migrated(s: &Scratches, m: &Migrations, name: &str) -> Result<Made, Error> {
    let sql = format!("CREATE DATABASE {name}");
    s.create_database_with(name, &sql)
        .await
        .map_err(naming(name))?;
    let pool = s.open(Some(name), 2).await?;
    migrate(&pool, m, name).await?;
    Ok((pool, with_database(s.url(), name), None))
}

#[cfg(feature = "postgres")]
mod postgres {
    //! PostgreSQL: `CREATE DATABASE … TEMPLATE`, the template built under a temporary name
    //! and renamed once complete, under an advisory lock.

    use super::*;

    fn admin(pool: &AnyPool) -> Option<&sqlx::PgPool> {
        match pool {
            AnyPool::Postgres(p) => Some(p),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    fn db_error(s: &Scratches, name: &str) -> impl Fn(sqlx::Error) -> Error {
        let server = redact(s.url());
        let name = name.to_owned();
        move |e| Error::Create {
            name: name.clone(),
            server: server.clone(),
            message: crate::error::driver_message(&e),
        }
    }

    async fn exists(p: &sqlx::PgPool, name: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
        )
        .bind(name)
        .fetch_one(p)
        .await
    }

    /// The advisory lock key of a template: 60 bits of its digest.
    fn key(template: &str) -> i64 {
        let hex = &template[TEMPLATE_PREFIX.len()..];
        i64::from_str_radix(&hex[..hex.len().min(15)], 16).unwrap_or(0)
    }

    pub(super) async fn make(
        s: &Scratches,
        m: &Migrations,
        template: &str,
        name: &str,
    ) -> Result<Made, Error> {
        let built = ensure(s, m, template).await?;
        let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
        let deadline = Instant::now() + Duration::from_secs(60);
        // The template may be busy for a moment (another clone, autovacuum): retry.
        loop {
            match s.create_database_with(name, &sql).await {
                Err(scratch::Error::Busy { .. }) if Instant::now() < deadline => {
                    s.forget(name);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => break other.map_err(naming(name))?,
            }
        }
        let pool = s.open(Some(name), 5).await?;
        Ok((pool, with_database(s.url(), name), built))
    }

    /// Builds the template unless it exists; `Some(duration)` when this call built it.
    async fn ensure(
        s: &Scratches,
        m: &Migrations,
        template: &str,
    ) -> Result<Option<Duration>, Error> {
        let admin_pool = s.open(None, 1).await?;
        let p = admin(&admin_pool).ok_or(Error::NoUrl)?;
        let fail = db_error(s, template);
        if exists(p, template).await.map_err(&fail)? {
            admin_pool.close().await;
            return Ok(None);
        }
        let start = Instant::now();
        let locked = sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key(template))
            .execute(p)
            .await
            .map_err(&fail);
        let built = match locked {
            Ok(_) => build(s, p, m, template)
                .await
                .map(|b| b.then(|| start.elapsed())),
            Err(e) => Err(e),
        };
        // Closing the session releases the lock.
        admin_pool.close().await;
        built
    }

    /// Under the lock: builds the template under a temporary name, then renames it.
    async fn build(
        s: &Scratches,
        p: &sqlx::PgPool,
        m: &Migrations,
        template: &str,
    ) -> Result<bool, Error> {
        let fail = db_error(s, template);
        if exists(p, template).await.map_err(&fail)? {
            return Ok(false);
        }
        // Left by a process killed while building: never used, dropped here.
        let stale: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
                .bind(format!("{template}_b"))
                .fetch_all(p)
                .await
                .map_err(&fail)?;
        for n in stale {
            let _ = s.drop_database(&n).await;
        }
        let building = format!("{template}_b{}", &random_suffix()[..8]);
        let sql = format!("CREATE DATABASE {building}");
        s.create_database_with(&building, &sql)
            .await
            .map_err(naming(&building))?;
        let pool = s.open(Some(&building), 2).await?;
        let migrated = migrate(&pool, m, &building).await;
        pool.close().await;
        migrated?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {building} RENAME TO {template}"
        )))
        .execute(p)
        .await
        .map_err(&fail)?;
        s.forget(&building);
        Ok(true)
    }
}

#[cfg(feature = "mysql")]
mod mysql;

#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(not(feature = "sqlite"))]
mod sqlite {
    use super::*;
    pub(super) async fn make(
        s: &Scratches,
        _: &Migrations,
        _: &str,
        _: &str,
        _: Mode,
    ) -> Result<Made, Error> {
        Err(Error::UnsupportedUrl {
            url: redact(s.url()),
            supported: crate::pool::supported(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_part_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "t2"),
            "mysql://root@127.0.0.1:3306/t2"
        );
        assert_eq!(with_database("postgres://h/", "t3"), "postgres://h/t3");
    }
}
