static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/does_not_exist");

fn main() {
    let _ = MIGRATIONS.len();
}
