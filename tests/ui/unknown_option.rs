static MIGRATIONS: revchain::Migrations =
    revchain::migrations!("ui/migrations/two_heads", allow_many_heads);

fn main() {
    let _ = MIGRATIONS.len();
}
