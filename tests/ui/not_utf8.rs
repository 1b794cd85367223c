static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/not_utf8");

fn main() {
    let _ = MIGRATIONS.len();
}
