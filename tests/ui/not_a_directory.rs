static MIGRATIONS: revchain::Migrations =
    revchain::migrations!("ui/migrations/two_heads/0001_users.sql");

fn main() {
    let _ = MIGRATIONS.len();
}
