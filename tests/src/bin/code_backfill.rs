//! Applies a fixture whose Rust code revision is a slow backfill (30 rows, 100 ms apart),
//! for `tests/tests/code_revisions.rs`, which kills it with SIGKILL part-way.
//!
//! `code-backfill <postgres|mysql|sqlite> <URL>`; with `REVCHAIN_READY=<file>`, the
//! backfill writes that file after its first row.

static SLOW_PG: revchain::Migrations = revchain::migrations!("fixtures/code_slow_pg");
static SLOW_MYSQL: revchain::Migrations = revchain::migrations!("fixtures/code_slow_mysql");
static SLOW_SQLITE: revchain::Migrations = revchain::migrations!("fixtures/code_slow_sqlite");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(url)) = (args.get(1), args.get(2)) else {
        return Err("usage: code-backfill <postgres|mysql|sqlite> <URL>".into());
    };
    match kind.as_str() {
        "postgres" => {
            let pool = sqlx::PgPool::connect(url).await?;
            SLOW_PG.run(&pool).await?;
        }
        "mysql" => {
            let pool = sqlx::MySqlPool::connect(url).await?;
            SLOW_MYSQL.run(&pool).await?;
        }
        "sqlite" => {
            let pool = sqlx::SqlitePool::connect(url).await?;
            SLOW_SQLITE.run(&pool).await?;
        }
        other => return Err(format!("unknown database `{other}`").into()),
    }
    Ok(())
}
