static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/ids_differ_in_case");

fn main() {
    let _ = MIGRATIONS.len();
}
