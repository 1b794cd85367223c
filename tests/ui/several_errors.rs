static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/several_errors");

fn main() {
    let _ = MIGRATIONS.len();
}
