//! A Rust code revision in the shape `revchain revision --rust sqlite` writes compiles,
//! and runs on SQLite between SQL revisions.

static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/rust_pass");

fn main() {
    let rev = MIGRATIONS.get("0002").unwrap();
    assert!(rev.is_rust());
    assert!(rev.is_reversible());
    assert_eq!(rev.code_database(), Some(revchain::CodeDatabase::Sqlite));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let report = MIGRATIONS.run(&pool).await.unwrap();
        assert_eq!(report.steps.len(), 2);
        MIGRATIONS.downgrade(&pool, "base").await.unwrap();
    });
}
