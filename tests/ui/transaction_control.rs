static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/transaction_control");

fn main() {
    let _ = MIGRATIONS.len();
}
