static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/misshapen_key_and_marker");

fn main() {
    let _ = MIGRATIONS.len();
}
