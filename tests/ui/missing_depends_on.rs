static MIGRATIONS: revchain::Migrations = revchain::migrations!("ui/migrations/missing_depends_on");

fn main() {
    let _ = MIGRATIONS.len();
}
