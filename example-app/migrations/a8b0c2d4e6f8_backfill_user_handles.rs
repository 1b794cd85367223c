// backfill user handles
//
// Revision ID: a8b0c2d4e6f8
// Revises: f3a5c7e9b1d3
// Create Date: 2026-11-30 10:30:00.000000+00:00

use revchain::{BoxError, Connection, Dialect};

// A portable Rust data migration (`revchain::Connection`): it runs on PostgreSQL, MariaDB
// and SQLite alike. Each existing user's handle is derived from its name in Rust
// (Unicode-aware lower-casing and word splitting, which the three databases' SQL has no
// common spelling for) and written back, a batch of users at a time, reporting progress.
//
// The rule is copied here, not called from the app: an applied revision must keep doing
// what it did, whatever the app's code becomes (the checksum covers this file only).

/// Users read and written per batch.
const BATCH: i64 = 500;
/// The longest handle the column holds (in characters).
const MAX_HANDLE: usize = 100;

/// Each user's handle, derived from its name (else its email), in batches by id.
pub async fn upgrade(mut db: Connection<'_>) -> Result<(), BoxError> {
    let (mut after, mut done) = (0_i64, 0_u64);
    loop {
        let users = batch_after(&mut db, after).await?;
        let Some(&(last, _, _)) = users.last() else {
            break;
        };
        for (id, name, email) in &users {
            set_handle(&mut db, *id, &handle(name, email)).await?;
        }
        (after, done) = (last, done + users.len() as u64);
        tracing::info!(done, last_id = last, "user handles backfilled");
    }
    tracing::info!(done, "user handles backfilled: all users");
    Ok(())
}

/// Forgets the handles: the previous revision's downgrade drops the column.
pub async fn downgrade(mut db: Connection<'_>) -> Result<(), BoxError> {
    let cleared = db.execute("UPDATE users SET handle = NULL").await?;
    tracing::info!(cleared, "user handles cleared");
    Ok(())
}

/// `ada-lovelace` for "Ada Lovelace": the words of the name (runs of letters and digits, of
/// any script), lower-cased, joined by `-`, at most [`MAX_HANDLE`] characters; the email's
/// local part when the name has no word, and `user` when neither has.
fn handle(name: &str, email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    [name, local]
        .into_iter()
        .map(slug)
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "user".to_owned())
}

fn slug(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().flat_map(char::to_lowercase).collect())
        .collect();
    let joined = words.join("-");
    let cut: String = joined.chars().take(MAX_HANDLE).collect();
    cut.trim_end_matches('-').to_owned()
}

type UserRow = (i64, String, String);

/// Up to [`BATCH`] users with an id above `after`, by id: ordinary sqlx on each database's
/// own connection (PostgreSQL's placeholders are `$n`, the others' `?`).
async fn batch_after(db: &mut Connection<'_>, after: i64) -> Result<Vec<UserRow>, BoxError> {
    const PG: &str = "SELECT id, name, email FROM users WHERE id > $1 ORDER BY id LIMIT $2";
    const OTHER: &str = "SELECT id, name, email FROM users WHERE id > ? ORDER BY id LIMIT ?";
    let dialect = db.dialect();
    Ok(match db.reborrow() {
        Connection::Postgres(c) => sqlx::query_as(PG).bind(after).bind(BATCH).fetch_all(c).await?,
        Connection::MySql(c) => sqlx::query_as(OTHER).bind(after).bind(BATCH).fetch_all(c).await?,
        Connection::Sqlite(c) => sqlx::query_as(OTHER).bind(after).bind(BATCH).fetch_all(c).await?,
        _ => return Err(unsupported(dialect)),
    })
}

async fn set_handle(db: &mut Connection<'_>, id: i64, handle: &str) -> Result<(), BoxError> {
    const PG: &str = "UPDATE users SET handle = $1 WHERE id = $2";
    const OTHER: &str = "UPDATE users SET handle = ? WHERE id = ?";
    let dialect = db.dialect();
    match db.reborrow() {
        Connection::Postgres(c) => {
            sqlx::query(PG).bind(handle).bind(id).execute(c).await?;
        }
        Connection::MySql(c) => {
            sqlx::query(OTHER).bind(handle).bind(id).execute(c).await?;
        }
        Connection::Sqlite(c) => {
            sqlx::query(OTHER).bind(handle).bind(id).execute(c).await?;
        }
        _ => return Err(unsupported(dialect)),
    }
    Ok(())
}

fn unsupported(dialect: Dialect) -> BoxError {
    format!("no handle backfill written for {dialect:?}").into()
}
