//! Running a Rust code revision's function where a revision's statements would run
//! (docs/design.md §4.11). Every backend's statement loop branches here for a code
//! revision; the transactions and the bookkeeping around it stay the backend's.

use tracing::Instrument as _;

use super::{Failure, sealed::Driver};
use crate::bookkeeping::Work;
use crate::code::{CodeDatabase, CodeFn, CodeFuture};
use crate::error::Aftermath;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use {super::Progress, crate::bookkeeping::Tables, crate::error::Stage, std::time::Instant};

/// A database whose connection a code revision's function can take.
pub(crate) trait RunsCode: sqlx::Database {
    /// The database, as code revisions name it.
    const CODE_DATABASE: CodeDatabase;

    /// `f` called on `conn`, or `None` when `f` takes another database's connection.
    fn call<'c>(f: CodeFn, conn: &'c mut Self::Connection) -> Option<CodeFuture<'c>>;
}

#[cfg(feature = "postgres")]
impl RunsCode for sqlx::Postgres {
    const CODE_DATABASE: CodeDatabase = CodeDatabase::Postgres;

    fn call<'c>(f: CodeFn, conn: &'c mut sqlx::PgConnection) -> Option<CodeFuture<'c>> {
        #[allow(unreachable_patterns)]
        match f {
            CodeFn::Postgres(f) => Some(f(conn)),
            CodeFn::Portable(f) => Some(f(crate::Connection::Postgres(conn))),
            _ => None,
        }
    }
}

#[cfg(feature = "mysql")]
impl RunsCode for sqlx::MySql {
    const CODE_DATABASE: CodeDatabase = CodeDatabase::MySql;

    fn call<'c>(f: CodeFn, conn: &'c mut sqlx::MySqlConnection) -> Option<CodeFuture<'c>> {
        #[allow(unreachable_patterns)]
        match f {
            CodeFn::MySql(f) => Some(f(conn)),
            CodeFn::Portable(f) => Some(f(crate::Connection::MySql(conn))),
            _ => None,
        }
    }
}

#[cfg(feature = "sqlite")]
impl RunsCode for sqlx::Sqlite {
    const CODE_DATABASE: CodeDatabase = CodeDatabase::Sqlite;

    fn call<'c>(f: CodeFn, conn: &'c mut sqlx::SqliteConnection) -> Option<CodeFuture<'c>> {
        #[allow(unreachable_patterns)]
        match f {
            CodeFn::Sqlite(f) => Some(f(conn)),
            CodeFn::Portable(f) => Some(f(crate::Connection::Sqlite(conn))),
            _ => None,
        }
    }
}

/// Runs the function of code revision `work` (step `index`) on `conn`, inside a `tracing`
/// span named `revchain_revision` that names the revision, its file and the direction. A
/// function that returns an error, or a revision whose function is not compiled in or
/// takes another database's connection (refused before the plan runs; checked again here),
/// is a [`Failure::Code`] that left `aftermath`.
pub(crate) async fn run_code<DB: Driver>(
    conn: &mut DB::Connection,
    work: &Work<'_>,
    index: usize,
    aftermath: Aftermath,
) -> Result<(), Failure> {
    let rev = work.revision;
    let (function, line) = code_function(work);
    let failure = |error: crate::code::BoxError| Failure::Code {
        index,
        line,
        error,
        aftermath,
    };
    let Some(future) = function.and_then(|f| DB::call(f, conn)) else {
        return Err(failure(
            format!(
                "revision {} has no compiled `{}` function for {}",
                rev.id(),
                work.direction,
                DB::CODE_DATABASE
            )
            .into(),
        ));
    };
    let span = tracing::info_span!(
        target: "revchain",
        "revchain_revision",
        revision = rev.id(),
        path = rev.path(),
        direction = %work.direction,
    );
    future.instrument(span).await.map_err(failure)
}

/// The function `work` runs and its file line.
fn code_function(work: &Work<'_>) -> (Option<CodeFn>, usize) {
    let Some(code) = work.revision.code() else {
        return (None, work.sql_line());
    };
    match work.direction {
        revchain_core::Direction::Upgrade => (code.upgrade, code.upgrade_line as usize),
        revchain_core::Direction::Downgrade => (code.downgrade, code.downgrade_line as usize),
    }
}

/// Applies a transactional code revision in one transaction with its bookkeeping (the
/// databases with a session lock; SQLite branches inside its own atomic path).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn apply_atomic<DB: Driver>(
    conn: &mut DB::Connection,
    tables: &Tables,
    work: &Work<'_>,
    index: usize,
    progress: Progress<'_>,
) -> Result<(), Failure>
where
    DB::Connection: sqlx::Connection<Database = DB>,
{
    use sqlx::Connection as _;
    let id = work.revision.id();
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| Failure::db(&format!("starting the transaction of revision {id}"), &e))?;
    let started = Instant::now();
    if let Err(f) = run_code::<DB>(&mut tx, work, index, Aftermath::RolledBack).await {
        let _ = tx.rollback().await;
        return Err(f);
    }
    let elapsed = started.elapsed();
    let bookkeeping = tables.step_bookkeeping(DB::DIALECT, work, &elapsed.as_millis().to_string());
    if let Err(e) = DB::execute(&mut tx, bookkeeping.join(";\n")).await {
        let _ = tx.rollback().await;
        return Err(Failure::db(&format!("recording revision {id}"), &e));
    }
    if let Err(error) = tx.commit().await {
        return Err(Failure::Step {
            index,
            line: code_function(work).1,
            error,
            aftermath: Aftermath::RolledBack,
            stage: Stage::Commit,
        });
    }
    progress(index..index + 1, elapsed);
    Ok(())
}
