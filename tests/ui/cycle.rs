static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/cycle");

fn main() {
    let _ = MIGRATIONS.len();
}
