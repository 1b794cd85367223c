// no upgrade
//
// Revision ID: 0002
// Revises: 0001

use sqlx::PgConnection;

pub async fn downgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let _ = conn;
    Ok(())
}
