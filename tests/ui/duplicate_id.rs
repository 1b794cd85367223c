static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/duplicate_id");

fn main() {
    let _ = MIGRATIONS.len();
}
