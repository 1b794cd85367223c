// backfill
//
// Revision ID: 0002
// Revises: 0001
// Create Date: 2026-11-30 09:47:30.238951+00:00

use sqlx::SqliteConnection;

pub async fn upgrade(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    // Runs inside the revision's transaction: write ordinary sqlx queries on `conn`, e.g.
    // sqlx::query("UPDATE users SET email = lower(email)").execute(&mut *conn).await?;
    let _ = conn;
    Ok(())
}

pub async fn downgrade(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    // Reverts `upgrade`; delete this function to make the revision irreversible.
    let _ = conn;
    Ok(())
}
