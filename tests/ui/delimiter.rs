static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/delimiter");

fn main() {
    let _ = MIGRATIONS.len();
}
