static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/invalid_id");

fn main() {
    let _ = MIGRATIONS.len();
}
