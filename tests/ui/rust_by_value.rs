static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/rust_by_value");

fn main() {
    let _ = MIGRATIONS.len();
}
