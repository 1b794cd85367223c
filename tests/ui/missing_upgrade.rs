static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/missing_upgrade");

fn main() {
    let _ = MIGRATIONS.len();
}
