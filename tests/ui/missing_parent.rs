static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/missing_parent");

fn main() {
    let _ = MIGRATIONS.len();
}
