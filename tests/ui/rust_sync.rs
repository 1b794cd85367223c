static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/rust_sync");

fn main() {
    let _ = MIGRATIONS.len();
}
