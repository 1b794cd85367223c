// sync
//
// Revision ID: 0002
// Revises: 0001

use sqlx::PgConnection;

pub async fn upgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let _ = conn;
    Ok(())
}

pub fn downgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let _ = conn;
    Ok(())
}
