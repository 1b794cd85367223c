// by value
//
// Revision ID: 0002
// Revises: 0001

use sqlx::PgConnection;

pub async fn upgrade(conn: PgConnection) -> Result<(), sqlx::Error> {
    drop(conn);
    Ok(())
}
