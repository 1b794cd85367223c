//! SQLite: the template is a file in the temporary directory, built under a temporary name
//! and renamed once complete, under an exclusive SQLite lock on a lock file
//! (`revchain_tpl_<hex>.lock`, released by the system when a builder dies); each test database is a copy of it.

use std::path::{Path, PathBuf};

use super::*;

fn io_error(name: &Path, what: &str) -> impl Fn(std::io::Error) -> Error {
    let name = name.display().to_string();
    let what = what.to_owned();
    move |e| Error::Create {
        name: name.clone(),
        server: std::env::temp_dir().display().to_string(),
        message: format!("{what}: {e}"),
    }
}

pub(super) async fn make(
    s: &Scratches,
    m: &Migrations,
    template: &str,
    name: &str,
    mode: Mode,
) -> Result<Made, Error> {
    let file = s.create_dir(name).map_err(naming(name))?.join("test.db");
    let built = match mode {
        Mode::Clone => {
            let (tpl, built) = ensure(s, m, template).await?;
            std::fs::copy(&tpl, &file).map_err(io_error(&file, "copying the template"))?;
            built
        }
        Mode::Migrate => None,
    };
    let pool = s.open_file(&file).await?;
    if mode == Mode::Migrate {
        migrate(&pool, m, name).await?;
    }
    Ok((pool, format!("sqlite://{}", file.display()), built))
}

/// The template file, built first unless it exists; `Some(duration)` when this call built it.
async fn ensure(
    s: &Scratches,
    m: &Migrations,
    template: &str,
) -> Result<(PathBuf, Option<Duration>), Error> {
    let dir = std::env::temp_dir();
    let tpl = dir.join(format!("{template}.db"));
    if tpl.exists() {
        return Ok((tpl, None));
    }
    let start = Instant::now();
    let lock_path = dir.join(format!("{template}.lock"));
    let held = lock(&lock_path).await?;
    let built = if tpl.exists() {
        None
    } else {
        build(s, m, &tpl).await?;
        Some(start.elapsed())
    };
    let _ = sqlx::Connection::close(held).await;
    Ok((tpl, built))
}

/// An exclusive lock on the SQLite file `path`: a connection in `BEGIN EXCLUSIVE`, waiting
/// up to 10 minutes for another holder. The system releases it if the process dies.
async fn lock(path: &Path) -> Result<sqlx::SqliteConnection, Error> {
    use sqlx::ConnectOptions;
    let fail = |e: sqlx::Error| {
        io_error(path, "locking")(std::io::Error::other(crate::error::driver_message(&e)))
    };
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(600))
        .connect()
        .await
        .map_err(fail)?;
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut conn)
        .await
        .map_err(fail)?;
    Ok(conn)
}

/// Under the lock: migrates a temporary file, then renames it to the template's name.
#[allow(irrefutable_let_patterns)] // a SQLite-only build
async fn build(s: &Scratches, m: &Migrations, tpl: &Path) -> Result<(), Error> {
    let building = tpl.with_extension(format!("db.{}.tmp", &random_suffix()[..8]));
    let pool = s.open_file(&building).await?;
    let migrated = migrate(&pool, m, &building.display().to_string()).await;
    if migrated.is_ok() {
        // Everything into the main file before copying it.
        if let AnyPool::Sqlite(p) = &pool {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(p)
                .await;
        }
    }
    pool.close().await;
    let renamed = migrated.and_then(|()| {
        std::fs::rename(&building, tpl).map_err(io_error(tpl, "renaming the built template"))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&building);
    }
    renamed
}
