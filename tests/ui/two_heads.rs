static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/two_heads");

fn main() {
    let _ = MIGRATIONS.len();
}
