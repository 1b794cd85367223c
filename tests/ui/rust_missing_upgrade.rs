static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/rust_missing_upgrade");

fn main() {
    let _ = MIGRATIONS.len();
}
