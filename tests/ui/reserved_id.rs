static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/reserved_id");

fn main() {
    let _ = MIGRATIONS.len();
}
