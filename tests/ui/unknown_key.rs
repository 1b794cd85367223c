static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/unknown_key");

fn main() {
    let _ = MIGRATIONS.len();
}
